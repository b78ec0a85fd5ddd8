//! History. WhatsApp has no "fetch this chat's history" call: the phone
//! sends a new device its recent chats once, as history-sync blobs. They
//! are kept per login (chat list and messages), rooms are made for the
//! chats active in the last `bridge.sync_active_days`, and each new room
//! is backfilled from what was kept.

use crate::chat_info::{self, message_id, own_ghost, own_jid};
use crate::network::WhatsAppNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteMessageId;
use causeway_core::network::{BackfillHandling, HistoryMessage};
use causeway_core::store::{LoginRow, PortalRow};
use whatsapp_rust::types::events::LazyHistorySync;
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::waproto::buffa::Message as _;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

const HISTORY: &str = "whatsapp-bridge/history";

/// A kept message's key: its chat, then its time (zero-padded, so keys
/// sort in time order), then its ID.
fn history_key(chat: &str, seconds: u64, id: &str) -> String {
    format!("{chat}/{seconds:020}/{id}")
}

/// Keeps a history-sync blob's chats and messages, then makes rooms for
/// the recent chats.
pub async fn store_history(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    history: &LazyHistorySync,
) -> Result<()> {
    let bytes = history
        .decompress()
        .context("a history blob does not inflate")?;
    let history = wa::HistorySync::decode_from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("a history blob does not parse: {e}"))?;
    let bridge = network.bridge()?;
    let rows = bridge.login_data(&login.login_id, HISTORY);
    for pushname in &history.pushnames {
        if let (Some(id), Some(name)) = (&pushname.id, &pushname.pushname) {
            if let Ok(jid) = id.parse::<Jid>() {
                crate::contacts::remember_name(network, login, &jid, name).await?;
            }
        }
    }
    let max = bridge.config().bridge.backfill.initial_messages;
    for conversation in &history.conversations {
        let Ok(chat) = conversation.id.parse::<Jid>() else {
            continue;
        };
        let chat_key = chat_info::chat_key(&chat);
        let mut latest = conversation.conversation_timestamp.unwrap_or_default();
        let mut kept = Vec::new();
        for message in conversation.messages.iter().rev().take(max) {
            let Some(info) = message.message.as_option() else {
                continue;
            };
            let seconds = info.message_timestamp.unwrap_or_default();
            latest = latest.max(seconds);
            let id = info
                .key
                .as_option()
                .and_then(|k| k.id.clone())
                .unwrap_or_default();
            kept.push((history_key(&chat_key, seconds, &id), info.encode_to_vec()));
        }
        let values: Vec<(&str, &[u8])> = kept
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        rows.put_all(&values).await?;
        let name = conversation
            .name
            .clone()
            .or_else(|| conversation.display_name.clone());
        // A person's chat is named as the phone knows them.
        if let (false, Some(name)) = (chat.is_group(), &name) {
            crate::contacts::remember_name(network, login, &chat, name).await?;
        }
        let at = i64::try_from(latest).unwrap_or_default() * 1000;
        crate::contacts::remember_chat(network, login, &chat, name, at).await?;
    }
    let opened = bridge.sync_chats(login).await?;
    tracing::info!(login = %login.login_id, chats = history.conversations.len(), opened, "history kept");
    Ok(())
}

/// A kept message as history for its room.
async fn history_message(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    chat: &Jid,
    info: &wa::WebMessageInfo,
) -> Option<HistoryMessage> {
    let bridge = network.bridge().ok()?;
    let key = info.key.as_option()?;
    let from_me = key.from_me.unwrap_or_default();
    let author = if from_me {
        own_jid(login)
    } else {
        match info.participant.as_deref().or(key.participant.as_deref()) {
            Some(participant) => participant.parse::<Jid>().ok()?.to_non_ad(),
            None => chat.clone(),
        }
    };
    let sender = if from_me {
        own_ghost(login)
    } else {
        chat_info::ghost(&author, info.push_name.clone())
    };
    let message = info.message.as_option()?;
    let client = network.client(&login.login_id).ok()?;
    let max = network.config().max_file_bytes;
    let parts = crate::msgconv::message_parts(bridge, &client.client, login, message, max).await;
    if parts.is_empty() {
        return None;
    }
    Some(HistoryMessage {
        id: message_id(chat, &author, key.id.as_deref()?),
        sender,
        parts,
        timestamp: i64::try_from(info.message_timestamp.unwrap_or_default()).ok()? * 1000,
        reply_to: None,
    })
}

#[async_trait]
impl BackfillHandling for WhatsAppNetwork {
    async fn fetch_history(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
        after: Option<&RemoteMessageId>,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>> {
        let chat = chat_info::jid_of(portal)?;
        let rows = self.bridge()?.login_data(&login.login_id, HISTORY);
        let entries = rows
            .entries(&format!("{}/", chat_info::chat_key(&chat)))
            .await?;
        let mut messages = Vec::new();
        for (_, bytes) in &entries {
            let Ok(info) = wa::WebMessageInfo::decode_from_slice(bytes) else {
                continue;
            };
            messages.extend(history_message(self, login, &chat, &info).await);
        }
        if let Some(after) = after {
            match messages.iter().position(|m| &m.id == after) {
                Some(at) => {
                    messages.drain(..=at);
                }
                None => return Ok(Vec::new()),
            }
        }
        let skip = messages.len().saturating_sub(limit);
        Ok(messages.split_off(skip))
    }
}
