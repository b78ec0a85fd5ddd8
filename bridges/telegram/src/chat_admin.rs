//! Matrix changes to a chat itself, acted on Telegram through the sender's
//! own account: a room's new name becomes the chat's title, its topic the
//! chat's about, and a kicked ghost is removed from the chat. Telegram
//! decides whether that account may; a refusal reaches the room as the
//! core's "not bridged" notice.

use crate::network::TelegramNetwork;
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::matrix_event::{MatrixMembership, Membership};
use causeway_core::network::{MembershipHandling, NameHandling, TopicHandling};
use causeway_core::store::PortalRow;
use grammers_client::tl;
use grammers_session::types::{PeerId, PeerKind, PeerRef};
use grammers_session::Session;

/// The Telegram client of the sender's login in a portal.
async fn client_of(
    network: &TelegramNetwork,
    portal: &PortalRow,
    sender: &str,
) -> Result<std::sync::Arc<crate::client::TgClient>> {
    let login = network
        .bridge()?
        .login_in_portal(portal, sender)
        .await?
        .context("you have no Telegram login in this chat")?;
    network.client(&login.login_id)
}

/// What Telegram answered, worded for the room.
fn refused(err: grammers_client::InvocationError) -> anyhow::Error {
    match &err {
        grammers_client::InvocationError::Rpc(rpc)
            if rpc.name.starts_with("CHAT_ADMIN_REQUIRED") || rpc.code == 403 =>
        {
            anyhow::anyhow!(
                "your Telegram account may not do that in this chat ({})",
                rpc.name
            )
        }
        _ => err.into(),
    }
}

#[async_trait]
impl NameHandling for TelegramNetwork {
    async fn handle_matrix_name(&self, portal: &PortalRow, sender: &str, name: &str) -> Result<()> {
        let peer = crate::chat_info::peer_of(portal)?;
        let client = client_of(self, portal, sender).await?;
        let title = name.trim();
        if title.is_empty() || title.chars().count() > 128 {
            bail!("a Telegram chat title has 1 to 128 characters");
        }
        let result = match peer.id.kind() {
            PeerKind::User => return Ok(()),
            PeerKind::Chat => client
                .client
                .invoke(&tl::functions::messages::EditChatTitle {
                    chat_id: peer.id.bare_id().unwrap_or_default(),
                    title: title.to_owned(),
                })
                .await
                .map(drop),
            PeerKind::Channel => client
                .client
                .invoke(&tl::functions::channels::EditTitle {
                    channel: peer.into(),
                    title: title.to_owned(),
                })
                .await
                .map(drop),
        };
        result.map_err(refused)
    }
}

#[async_trait]
impl TopicHandling for TelegramNetwork {
    async fn handle_matrix_topic(
        &self,
        portal: &PortalRow,
        sender: &str,
        topic: &str,
    ) -> Result<()> {
        let peer = crate::chat_info::peer_of(portal)?;
        if peer.id.kind() == PeerKind::User {
            return Ok(());
        }
        if topic.chars().count() > 255 {
            bail!("a Telegram chat's description has at most 255 characters");
        }
        let client = client_of(self, portal, sender).await?;
        client
            .client
            .invoke(&tl::functions::messages::EditChatAbout {
                peer: peer.into(),
                about: topic.to_owned(),
            })
            .await
            .map_err(refused)?;
        Ok(())
    }
}

#[async_trait]
impl MembershipHandling for TelegramNetwork {
    /// A ghost kicked or banned from a group's room is removed from the
    /// group; other membership changes stay in Matrix.
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()> {
        let (Some(ghost), Membership::Kick | Membership::Ban) =
            (&change.target_ghost, &change.membership)
        else {
            return Ok(());
        };
        let peer = crate::chat_info::peer_of(portal)?;
        let user_id: i64 = ghost.as_str().parse().context("not a Telegram user")?;
        let client = client_of(self, portal, &change.meta.sender).await?;
        let user = PeerId::user(user_id).context("not a Telegram user")?;
        let auth = client
            .session
            .peer_ref(user)
            .await?
            .map(|r| r.auth)
            .unwrap_or_default();
        let user = PeerRef { id: user, auth };
        let result = match peer.id.kind() {
            PeerKind::User => return Ok(()),
            PeerKind::Chat => client
                .client
                .invoke(&tl::functions::messages::DeleteChatUser {
                    revoke_history: false,
                    chat_id: peer.id.bare_id().unwrap_or_default(),
                    user_id: user.into(),
                })
                .await
                .map(drop),
            PeerKind::Channel => client
                .client
                .invoke(&tl::functions::channels::EditBanned {
                    channel: peer.into(),
                    participant: user.into(),
                    banned_rights: tl::types::ChatBannedRights {
                        view_messages: true,
                        send_messages: true,
                        send_media: true,
                        send_stickers: true,
                        send_gifs: true,
                        send_games: true,
                        send_inline: true,
                        embed_links: true,
                        send_polls: true,
                        change_info: true,
                        invite_users: true,
                        pin_messages: true,
                        manage_topics: true,
                        send_photos: true,
                        send_videos: true,
                        send_roundvideos: true,
                        send_audios: true,
                        send_voices: true,
                        send_docs: true,
                        send_plain: true,
                        edit_rank: true,
                        send_reactions: true,
                        manage_linked_peers: true,
                        until_date: 0,
                    }
                    .into(),
                })
                .await
                .map(drop),
        };
        result.map_err(refused)
    }
}
