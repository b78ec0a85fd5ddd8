//! History: a new room gets its chat's latest messages, and a login that
//! comes back catches up from the last message the room has, through
//! `messages.getHistory`, oldest first.

use crate::network::TelegramNetwork;
use anyhow::Result;
use async_trait::async_trait;
use causeway_core::ids::{RemoteMessageId, RemoteUserId};
use causeway_core::network::{BackfillHandling, GhostInfo, HistoryMessage};
use causeway_core::store::{LoginRow, PortalRow};

#[async_trait]
impl BackfillHandling for TelegramNetwork {
    async fn fetch_history(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
        after: Option<&RemoteMessageId>,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>> {
        let client = self.client(&login.login_id)?;
        let bridge = self.bridge()?;
        let peer = crate::chat_info::peer_of(portal)?;
        let chat = crate::chat_info::chat_key(peer.id);
        // Remote IDs are `<chat>:<message>`.
        let after_id: i32 = after
            .and_then(|a| a.0.rsplit(':').next())
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        let mut messages = client.client.iter_messages(peer);
        let mut page = Vec::new();
        while page.len() < limit {
            let Some(message) = messages.next().await? else {
                break;
            };
            if message.id() <= after_id {
                break;
            }
            let sender = match message.sender() {
                Some(sender) => crate::contacts::ghost_of_peer(login, sender),
                None => GhostInfo {
                    id: RemoteUserId(chat.clone()),
                    ..Default::default()
                },
            };
            if peer.id.kind() != grammers_session::types::PeerKind::Channel {
                let box_key = crate::handle_remote::box_key(login, message.id());
                bridge.store().kv_set(&box_key, &chat).await?;
            }
            let max = self.config().max_file_bytes;
            let parts = crate::msgconv::message_parts(bridge, &client.client, &message, max).await;
            if parts.is_empty() {
                continue;
            }
            page.push(HistoryMessage {
                id: RemoteMessageId(format!("{chat}:{}", message.id())),
                sender,
                parts,
                timestamp: message.date().as_millisecond(),
                reply_to: crate::handle_remote::reply_target(&chat, &message),
            });
        }
        page.reverse();
        Ok(page)
    }
}
