//! What a login's Telegram account receives, into Matrix. Each login runs
//! one update stream, caught up from its stored state on connect; private
//! messages get their DM portal and go through the durable outbox.

use crate::client::TgClient;
use crate::network::TelegramNetwork;
use anyhow::Result;
use causeway_core::ids::{RemoteMessageId, RemoteUserId};
use causeway_core::network::GhostInfo;
use causeway_core::remote::RemoteEvent;
use causeway_core::store::LoginRow;
use grammers_client::message::Message;
use grammers_client::sender::UpdatesConfiguration;
use grammers_client::update::Update;
use grammers_session::types::UpdateState;
use grammers_session::updates::{MessageBox, State, UpdatesLike};
use grammers_session::Session;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Checks the login's session every `keepalive_seconds` until it ends: a
/// call is what makes grammers reconnect after a broken connection, and
/// what finds a session terminated from another device.
fn keepalive(network: TelegramNetwork, login: LoginRow, client: std::sync::Weak<TgClient>) {
    let every = std::time::Duration::from_secs(network.config().keepalive_seconds.max(1));
    tokio::spawn(async move {
        let mut down = false;
        loop {
            tokio::time::sleep(every).await;
            let Some(client) = client.upgrade() else {
                return;
            };
            match client
                .client
                .invoke(&grammers_client::tl::functions::updates::GetState {})
                .await
            {
                Ok(_) if down => {
                    down = false;
                    network.connection_back(&login).await;
                }
                Ok(_) => {}
                Err(err) => {
                    let ended = network.connection_lost(&login, &err).await;
                    if ended {
                        return;
                    }
                    down = true;
                }
            }
        }
    });
}

/// Runs a login's updates until its client goes away.
pub fn spawn(
    network: TelegramNetwork,
    login: LoginRow,
    client: Arc<TgClient>,
    updates: mpsc::Receiver<UpdatesLike>,
) {
    keepalive(network.clone(), login.clone(), Arc::downgrade(&client));
    tokio::spawn(async move {
        // Catching up needs a stored state; a new login starts from now.
        let stored = client
            .session
            .updates_state()
            .await
            .map(|s| s.pts > 0 || s.date > 0)
            .unwrap_or(false);
        let config = UpdatesConfiguration { catch_up: stored };
        let mut stream = match client.client.stream_updates(updates, config).await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(login = %login.login_id, "cannot follow Telegram updates: {err}");
                return;
            }
        };
        loop {
            match stream.next_raw().await {
                Ok((raw, state, peers)) => {
                    let update = Update::from_raw(&client.client, raw, state.clone(), peers);
                    match handle(&network, &login, update).await {
                        Ok(()) => commit_state(&client.session, &state).await,
                        Err(err) => {
                            tracing::warn!(login = %login.login_id, "a Telegram update was not bridged: {err:#}")
                        }
                    }
                }
                Err(err) => {
                    network.connection_lost(&login, &err).await;
                    return;
                }
            }
        }
    });
}

/// Stores how far the login's updates are bridged, once an update's events
/// are committed to the outbox (grammers itself stores it only when told).
/// A restart catches up from exactly here: nothing lost, nothing repeated.
async fn commit_state(session: &crate::session::LoginSession, state: &State) {
    let update = match state.message_box {
        Some(MessageBox::Common { pts }) => UpdateState::Primary {
            pts,
            date: state.date,
            seq: state.seq,
        },
        Some(MessageBox::Channel { channel_id, pts }) => UpdateState::Channel {
            id: channel_id,
            pts,
        },
        Some(MessageBox::Secondary { qts }) => UpdateState::Secondary { qts },
        None => return,
    };
    if let Err(err) = session.set_update_state(update).await {
        tracing::warn!("cannot store how far updates are bridged: {err}");
    }
}

async fn handle(network: &TelegramNetwork, login: &LoginRow, update: Update) -> Result<()> {
    match update {
        Update::NewMessage(message) => new_message(network, login, &message).await,
        Update::MessageEdited(message) => edited(network, login, &message).await,
        Update::Raw(raw) => match &raw.raw {
            grammers_client::tl::enums::Update::MessageReactions(reactions) => {
                crate::reactions::update(network, login, reactions).await
            }
            grammers_client::tl::enums::Update::Channel(channel) => {
                match grammers_session::types::PeerId::channel(channel.channel_id) {
                    Some(chat) => crate::chat_info::refresh(network, login, chat).await,
                    None => Ok(()),
                }
            }
            other => raw_update(network, login, other).await,
        },
        Update::MessageDeleted(deletion) => {
            deleted(network, login, deletion.channel_id(), deletion.messages()).await
        }
        _ => Ok(()),
    }
}

/// The login's own Telegram user ID.
pub(crate) fn own_id(login: &LoginRow) -> i64 {
    login
        .metadata
        .get("user_id")
        .and_then(|v| v.as_i64())
        .unwrap_or_default()
}

/// The login's own account as a sender: shown as its Matrix user.
pub(crate) fn own_ghost(login: &LoginRow) -> GhostInfo {
    GhostInfo {
        id: RemoteUserId(own_id(login).to_string()),
        own_login: Some(login.login_id.clone()),
        ..Default::default()
    }
}

async fn new_message(network: &TelegramNetwork, login: &LoginRow, message: &Message) -> Result<()> {
    let chat = message.peer_id();
    let chat_key = crate::chat_info::chat_key(chat);
    if network
        .was_sent_by_bridge(&login.login_id, &chat_key, message.id())
        .await
    {
        return Ok(());
    }
    let bridge = network.bridge()?;
    let Some(peer) = message.peer() else {
        anyhow::bail!("a message from a chat the session does not know");
    };
    let peer_ref = peer.to_ref().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let peer_ref = peer_ref.unwrap_or(grammers_session::types::PeerRef {
        id: chat,
        auth: Default::default(),
    });
    let broadcast = matches!(peer, grammers_client::peer::Peer::Channel(c) if c.kind() == Some(grammers_session::types::ChannelKind::Broadcast));
    let info = crate::chat_info::portal_info(
        bridge,
        login,
        peer_ref,
        peer.name().map(str::to_owned),
        broadcast,
    );
    if let Some(person) = &info.direct_with {
        bridge
            .ensure_ghost(&GhostInfo {
                id: person.clone(),
                displayname: info.name.clone(),
                ..Default::default()
            })
            .await?;
    }
    let key = info.key.clone();
    bridge.ensure_portal_room(&info).await?;
    if message.action().is_some_and(crate::chat_info::changes_chat) {
        crate::chat_info::refresh(network, login, chat).await?;
    }
    // The user's own message, from their phone or the bridge, is shown as
    // them; a channel post as the channel's ghost.
    let sender = if message.outgoing() {
        own_ghost(login)
    } else {
        match message.sender() {
            Some(sender) => crate::contacts::ghost_of_peer(login, sender),
            None => GhostInfo {
                id: RemoteUserId(chat_key.clone()),
                displayname: info.name.clone(),
                ..Default::default()
            },
        }
    };
    if chat.kind() != grammers_session::types::PeerKind::Channel {
        bridge
            .store()
            .kv_set(&box_key(login, message.id()), &chat_key)
            .await?;
    }
    let client = network.client(&login.login_id)?;
    let max = network.config().max_file_bytes;
    let parts = crate::msgconv::message_parts(bridge, &client.client, message, max).await;
    if parts.is_empty() {
        return Ok(());
    }
    bridge
        .queue_remote(
            &key,
            RemoteEvent::Message {
                id: RemoteMessageId(format!("{chat_key}:{}", message.id())),
                sender,
                parts,
                timestamp: Some(message.date().as_millisecond()),
                reply_to: reply_target(&chat_key, message),
            },
        )
        .await
}

/// The message a Telegram message replies to, in the same chat.
pub(crate) fn reply_target(chat_key: &str, message: &Message) -> Option<RemoteMessageId> {
    message
        .reply_to_message_id()
        .map(|id| RemoteMessageId(format!("{chat_key}:{id}")))
}

/// Where a message ID of a login's own box belongs: deletions of private
/// and basic-group messages do not say which chat they were in.
pub(crate) fn box_key(login: &LoginRow, id: i32) -> String {
    format!("tg-box|{}|{id}", login.login_id)
}

async fn edited(network: &TelegramNetwork, login: &LoginRow, message: &Message) -> Result<()> {
    let bridge = network.bridge()?;
    let chat_key = crate::chat_info::chat_key(message.peer_id());
    let direct = message.peer_id().kind() == grammers_session::types::PeerKind::User;
    let key = bridge.chat_portal_key(&chat_key, &login.login_id, direct);
    let sender = match message.sender() {
        Some(sender) if !message.outgoing() => crate::contacts::ghost_of_peer(login, sender),
        _ => own_ghost(login),
    };
    let edit_date = message
        .edit_date()
        .map(|d| d.as_second())
        .unwrap_or_default();
    bridge
        .queue_remote(
            &key,
            RemoteEvent::Edit {
                target: RemoteMessageId(format!("{chat_key}:{}", message.id())),
                edit_id: RemoteMessageId(format!("{chat_key}:{}:edit{edit_date}", message.id())),
                sender,
                content: crate::msgconv::text_content(bridge, message),
                timestamp: None,
            },
        )
        .await
}

/// Telegram removed messages (their sender did, or the other side of a
/// private chat, which Telegram allows): their rooms' events go too.
async fn deleted(
    network: &TelegramNetwork,
    login: &LoginRow,
    channel: Option<i64>,
    ids: &[i32],
) -> Result<()> {
    tracing::debug!(login = %login.login_id, ?ids, "messages deleted on Telegram");
    let bridge = network.bridge()?;
    for id in ids {
        let chat_key = match channel {
            Some(channel) => {
                grammers_session::types::PeerId::channel(channel).map(crate::chat_info::chat_key)
            }
            None => bridge.store().kv_get(&box_key(login, *id)).await?,
        };
        let Some(chat_key) = chat_key else { continue };
        let chat = chat_key
            .parse::<i64>()
            .ok()
            .and_then(grammers_session::types::PeerId::from_bot_api_dialog_id);
        let direct = chat.is_some_and(|c| c.kind() == grammers_session::types::PeerKind::User);
        let key = bridge.chat_portal_key(&chat_key, &login.login_id, direct);
        let target = RemoteMessageId(format!("{chat_key}:{id}"));
        // The removal is Telegram's word; it is shown as the sender's own.
        let Some(original) = bridge
            .store()
            .message_parts(&key, &target)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        let sender = if original.sender == login.mxid {
            own_ghost(login)
        } else {
            let Some(ghost) = bridge.ghost_remote_id(&original.sender) else {
                continue;
            };
            GhostInfo {
                id: ghost,
                ..Default::default()
            }
        };
        bridge
            .queue_remote(&key, RemoteEvent::MessageRemove { target, sender })
            .await?;
    }
    Ok(())
}

/// Typing and read receipts, which grammers hands over raw.
async fn raw_update(
    network: &TelegramNetwork,
    login: &LoginRow,
    update: &grammers_client::tl::enums::Update,
) -> Result<()> {
    use grammers_client::tl::enums::{Peer, Update as U};
    use grammers_session::types::PeerId;
    let bridge = network.bridge()?;
    let ghost = |user_id: i64| GhostInfo {
        id: RemoteUserId(user_id.to_string()),
        ..Default::default()
    };
    let (chat, event) = match update {
        U::UserTyping(typing) => (
            PeerId::user(typing.user_id),
            RemoteEvent::Typing {
                sender: ghost(typing.user_id),
                typing: is_typing(&typing.action),
            },
        ),
        U::ChatUserTyping(typing) => {
            let Peer::User(from) = &typing.from_id else {
                return Ok(());
            };
            (
                PeerId::chat(typing.chat_id),
                RemoteEvent::Typing {
                    sender: ghost(from.user_id),
                    typing: is_typing(&typing.action),
                },
            )
        }
        // In a private chat, the other side read up to here.
        U::ReadHistoryOutbox(read) => {
            let Peer::User(reader) = &read.peer else {
                return Ok(());
            };
            let chat = crate::chat_info::chat_key(PeerId::user_unchecked(reader.user_id));
            (
                PeerId::user(reader.user_id),
                RemoteEvent::Receipt {
                    target: RemoteMessageId(format!("{chat}:{}", read.max_id)),
                    sender: ghost(reader.user_id),
                },
            )
        }
        _ => return Ok(()),
    };
    let Some(chat) = chat else { return Ok(()) };
    let key = bridge.chat_portal_key(
        &crate::chat_info::chat_key(chat),
        &login.login_id,
        chat.kind() == grammers_session::types::PeerKind::User,
    );
    // Only chats that have a room: typing alone opens none.
    if !bridge.has_room(&key).await? {
        return Ok(());
    }
    bridge.send_remote(&key, event).await
}

fn is_typing(action: &grammers_client::tl::enums::SendMessageAction) -> bool {
    !matches!(
        action,
        grammers_client::tl::enums::SendMessageAction::SendMessageCancelAction
    )
}
