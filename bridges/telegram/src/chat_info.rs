//! Which portal a Telegram chat is: a private chat belongs to its login; a
//! group, supergroup or channel is shared by every login in it. The
//! portal's metadata keeps what sending there needs (the peer's ID and
//! access hash).

use anyhow::{Context, Result};
use causeway_core::chat_info::{ChatInfo, ChatKind, ChatMember};
use causeway_core::ids::RemoteUserId;
use causeway_core::network::PortalInfo;
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use grammers_client::tl;
use grammers_session::types::{PeerAuth, PeerId, PeerKind, PeerRef};
use serde_json::json;

/// A chat's ID in portal keys and message IDs: Telegram's "dialog ID",
/// unique across users, groups and channels.
pub(crate) fn chat_key(peer: PeerId) -> String {
    peer.bot_api_dialog_id_unchecked().to_string()
}

/// The portal of a chat, as `login` sees it; `name` is the chat's title
/// (or the person's name), `auth` its access hash when it needs one.
pub(crate) fn portal_info(
    bridge: &Bridge,
    login: &LoginRow,
    peer: PeerRef,
    name: Option<String>,
    broadcast: bool,
) -> PortalInfo {
    let kind = peer.id.kind();
    let direct = kind == PeerKind::User;
    let bare = peer.id.bare_id().unwrap_or_default();
    PortalInfo {
        key: bridge.chat_portal_key(&chat_key(peer.id), &login.login_id, direct),
        name,
        invite: vec![login.mxid.clone()],
        direct_with: direct.then(|| RemoteUserId(bare.to_string())),
        login: Some(login.login_id.clone()),
        metadata: json!({ "peer": { "dialog_id": peer.id.bot_api_dialog_id_unchecked(), "access_hash": peer.auth.hash() } }),
        kind: Some(match kind {
            PeerKind::User => ChatKind::Direct,
            PeerKind::Channel if broadcast => ChatKind::Channel,
            _ => ChatKind::Group,
        }),
        ..Default::default()
    }
}

/// The Telegram chat of a portal, from its metadata.
pub(crate) fn peer_of(portal: &PortalRow) -> Result<PeerRef> {
    let peer = &portal.metadata["peer"];
    let dialog = peer["dialog_id"]
        .as_i64()
        .context("the portal names no Telegram chat")?;
    let id = PeerId::from_bot_api_dialog_id(dialog).context("not a Telegram chat ID")?;
    let auth = peer["access_hash"]
        .as_i64()
        .map(PeerAuth::from_hash)
        .unwrap_or_default();
    Ok(PeerRef { id, auth })
}

/// Power levels of a chat's ranks: its creator, and its admins.
const CREATOR_LEVEL: i64 = 75;
use causeway_core::chat_info::ADMIN_LEVEL;

#[async_trait::async_trait]
impl causeway_core::network::ChatInfoFetching for crate::network::TelegramNetwork {
    async fn fetch_chat_info(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
    ) -> Result<Option<ChatInfo>> {
        let peer = peer_of(portal)?;
        let client = self.client(&login.login_id)?;
        let bare = peer.id.bare_id().unwrap_or_default();
        let own = crate::handle_remote::own_id(login);
        let info = match peer.id.kind() {
            PeerKind::User => return Ok(None),
            PeerKind::Chat => {
                let request = tl::functions::messages::GetFullChat { chat_id: bare };
                let tl::enums::messages::ChatFull::Full(full) =
                    client.client.invoke(&request).await?;
                let tl::enums::ChatFull::Full(chat) = full.full_chat else {
                    anyhow::bail!("Telegram sent a channel's info for a basic group");
                };
                let ranks: Vec<(i64, Option<i64>)> = match chat.participants {
                    tl::enums::ChatParticipants::Participants(p) => p
                        .participants
                        .iter()
                        .map(|p| match p {
                            tl::enums::ChatParticipant::Creator(c) => {
                                (c.user_id, Some(CREATOR_LEVEL))
                            }
                            tl::enums::ChatParticipant::Admin(a) => (a.user_id, Some(ADMIN_LEVEL)),
                            tl::enums::ChatParticipant::Participant(p) => (p.user_id, None),
                        })
                        .collect(),
                    tl::enums::ChatParticipants::Forbidden(_) => Vec::new(),
                };
                let title = full.chats.iter().find_map(|c| match c {
                    tl::enums::Chat::Chat(c) if c.id == bare => {
                        Some((c.title.clone(), photo_id(&c.photo)))
                    }
                    _ => None,
                });
                ChatInfo {
                    name: title.as_ref().map(|(t, _)| t.clone()),
                    topic: Some(chat.about),
                    avatar_id: title
                        .and_then(|(_, p)| p)
                        .map(|p| avatar_id(login, peer, p)),
                    members: Some(members(login, own, &ranks, &full.users)),
                    kind: Some(ChatKind::Group),
                }
            }
            PeerKind::Channel => {
                let channel: tl::enums::InputChannel = peer.into();
                let request = tl::functions::channels::GetFullChannel {
                    channel: channel.clone(),
                };
                let tl::enums::messages::ChatFull::Full(full) =
                    client.client.invoke(&request).await?;
                let about = match full.full_chat {
                    tl::enums::ChatFull::ChannelFull(c) => c.about,
                    tl::enums::ChatFull::Full(c) => c.about,
                    tl::enums::ChatFull::CommunityFull(_) => String::new(),
                };
                let (title, photo, broadcast) = full
                    .chats
                    .iter()
                    .find_map(|c| match c {
                        tl::enums::Chat::Channel(c) if c.id == bare => {
                            Some((c.title.clone(), photo_id(&c.photo), c.broadcast))
                        }
                        _ => None,
                    })
                    .context("Telegram did not describe the channel")?;
                // A broadcast channel's readers are not listed; its posts
                // come from the channel itself, which may post.
                let members = match broadcast {
                    true => vec![ChatMember {
                        ghost: causeway_core::network::GhostInfo {
                            id: RemoteUserId(chat_key(peer.id)),
                            displayname: Some(title.clone()),
                            ..Default::default()
                        },
                        power: Some(ADMIN_LEVEL),
                    }],
                    false => channel_members(&client.client, channel, login, own).await?,
                };
                ChatInfo {
                    name: Some(title),
                    topic: Some(about),
                    avatar_id: photo.map(|p| avatar_id(login, peer, p)),
                    members: Some(members),
                    kind: Some(if broadcast {
                        ChatKind::Channel
                    } else {
                        ChatKind::Group
                    }),
                }
            }
        };
        Ok(Some(info))
    }
}

/// A supergroup's members with their ranks (the first 200, as Telegram
/// lists them to anyone).
async fn channel_members(
    client: &grammers_client::Client,
    channel: tl::enums::InputChannel,
    login: &LoginRow,
    own: i64,
) -> Result<Vec<ChatMember>> {
    let request = tl::functions::channels::GetParticipants {
        channel,
        filter: tl::enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
        offset: 0,
        limit: 200,
        hash: 0,
    };
    let tl::enums::channels::ChannelParticipants::Participants(list) =
        client.invoke(&request).await?
    else {
        return Ok(Vec::new());
    };
    let ranks: Vec<(i64, Option<i64>)> = list
        .participants
        .iter()
        .filter_map(|p| match p {
            tl::enums::ChannelParticipant::Creator(c) => Some((c.user_id, Some(CREATOR_LEVEL))),
            tl::enums::ChannelParticipant::Admin(a) => Some((a.user_id, Some(ADMIN_LEVEL))),
            tl::enums::ChannelParticipant::Participant(p) => Some((p.user_id, None)),
            tl::enums::ChannelParticipant::ParticipantSelf(p) => Some((p.user_id, None)),
            _ => None,
        })
        .collect();
    Ok(members(login, own, &ranks, &list.users))
}

/// Members as ghosts, named from the users Telegram sent along. The
/// login's own account stands for its Matrix user, whose rank it gives.
fn members(
    login: &LoginRow,
    own: i64,
    ranks: &[(i64, Option<i64>)],
    users: &[tl::enums::User],
) -> Vec<ChatMember> {
    ranks
        .iter()
        .map(|&(id, power)| {
            if id == own {
                let ghost = crate::handle_remote::own_ghost(login);
                return ChatMember { ghost, power };
            }
            let user = users.iter().find_map(|u| match u {
                tl::enums::User::User(u) if u.id == id => Some(u),
                _ => None,
            });
            let ghost = match user {
                Some(user) => crate::contacts::ghost_of(login, user),
                None => causeway_core::network::GhostInfo {
                    id: RemoteUserId(id.to_string()),
                    ..Default::default()
                },
            };
            ChatMember { ghost, power }
        })
        .collect()
}

fn photo_id(photo: &tl::enums::ChatPhoto) -> Option<i64> {
    match photo {
        tl::enums::ChatPhoto::Photo(p) => Some(p.photo_id),
        tl::enums::ChatPhoto::Empty => None,
    }
}

/// The avatar ID of a chat's or user's photo: what the core caches the
/// upload by, and all [`crate::avatars`] needs to fetch it again.
pub(crate) fn avatar_id(login: &LoginRow, peer: PeerRef, photo_id: i64) -> String {
    format!(
        "{photo_id}:{}:{}:{}",
        peer.id.bot_api_dialog_id_unchecked(),
        peer.auth.hash(),
        login.login_id
    )
}

/// A chat's title, photo, about or members changed on Telegram: its room,
/// if it has one, gets the chat's info again, in order with its messages.
pub(crate) async fn refresh(
    network: &crate::network::TelegramNetwork,
    login: &LoginRow,
    chat: PeerId,
) -> Result<()> {
    use causeway_core::network::ChatInfoFetching;
    let bridge = network.bridge()?;
    let key = bridge.chat_portal_key(&chat_key(chat), &login.login_id, false);
    let Some(portal) = bridge.store().get_portal(&key).await? else {
        return Ok(());
    };
    if portal.room_id.is_none() {
        return Ok(());
    }
    if let Some(info) = network.fetch_chat_info(&portal, login).await? {
        let event = causeway_core::remote::RemoteEvent::ChatInfo(info);
        bridge.queue_remote(&key, event).await?;
    }
    Ok(())
}

/// Whether a service message changes what a room shows of its chat.
pub(crate) fn changes_chat(action: &tl::enums::MessageAction) -> bool {
    use tl::enums::MessageAction as A;
    matches!(
        action,
        A::ChatEditTitle(_)
            | A::ChatEditPhoto(_)
            | A::ChatDeletePhoto
            | A::ChatAddUser(_)
            | A::ChatDeleteUser(_)
            | A::ChatJoinedByLink(_)
            | A::ChatJoinedByRequest
    )
}
