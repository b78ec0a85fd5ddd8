//! Typing, read receipts and undecryptable messages from WhatsApp. A
//! message that cannot be decrypted yet shows a placeholder, which is
//! edited into the message once WhatsApp delivers it again decryptably.

use crate::chat_info::{self, message_id};
use crate::handle_remote::Origin;
use crate::network::WhatsAppNetwork;
use anyhow::Result;
use causeway_core::ids::PartId;
use causeway_core::remote::{text_content, RemoteEvent};
use causeway_core::store::LoginRow;
use causeway_core::Bridge;
use whatsapp_rust::types::events::{ChatPresenceUpdate, Receipt, UndecryptableMessage};
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};
use whatsapp_rust::wacore_binary::JidExt as _;

const PLACEHOLDER: &str = "Waiting for this message: WhatsApp is asking the sender's phone for it again. It will appear here.";

fn placeholder_key(id: &causeway_core::ids::RemoteMessageId) -> String {
    format!("wa-placeholder|{id}")
}

/// Someone is typing in a chat, or stopped; only chats with a room.
pub async fn typing(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    presence: &ChatPresenceUpdate,
) -> Result<()> {
    let origin = Origin::of(&presence.source);
    if origin.from_me {
        return Ok(());
    }
    let event = RemoteEvent::Typing {
        sender: chat_info::ghost(&origin.sender, None),
        typing: presence.state == ChatPresence::Composing,
    };
    send_if_room(network.bridge()?, login, &origin, event).await
}

/// Someone read messages (the latest of those named is what counts).
pub async fn receipt(network: &WhatsAppNetwork, login: &LoginRow, receipt: &Receipt) -> Result<()> {
    if !matches!(receipt.r#type, ReceiptType::Read | ReceiptType::ReadSelf) {
        return Ok(());
    }
    let origin = Origin::of(&receipt.source);
    let Some(last) = receipt.message_ids.last() else {
        return Ok(());
    };
    // Read receipts name messages the login's own account sent; a read on
    // another of the user's own devices is the user's.
    let (reader, author) = if origin.from_me {
        (chat_info::own_ghost(login), origin.chat.clone())
    } else {
        (
            chat_info::ghost(&origin.sender, None),
            chat_info::own_jid(login),
        )
    };
    let event = RemoteEvent::Receipt {
        target: message_id(&origin.chat, &author, last),
        sender: reader,
    };
    send_if_room(network.bridge()?, login, &origin, event).await
}

async fn send_if_room(
    bridge: &Bridge,
    login: &LoginRow,
    origin: &Origin,
    event: RemoteEvent,
) -> Result<()> {
    let key = bridge.chat_portal_key(
        &chat_info::chat_key(&origin.chat),
        &login.login_id,
        !origin.chat.is_group(),
    );
    if !bridge.has_room(&key).await? {
        return Ok(());
    }
    bridge.send_remote(&key, event).await
}

/// A message WhatsApp delivered but the bridge cannot decrypt (yet): a
/// placeholder in its place, so the room shows that something came.
pub async fn undecryptable(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    undecryptable: &UndecryptableMessage,
) -> Result<()> {
    let bridge = network.bridge()?;
    let info = &undecryptable.info;
    let origin = Origin::of(&info.source);
    let id = message_id(&origin.chat, &origin.sender, &info.id);
    let sender = if origin.from_me {
        chat_info::own_ghost(login)
    } else {
        chat_info::ghost(&origin.sender, Some(info.push_name.clone()))
    };
    let portal = chat_info::portal_info(bridge, login, &origin.chat, None);
    bridge.ensure_portal_room(&portal).await?;
    bridge.store().kv_set(&placeholder_key(&id), "1").await?;
    bridge
        .queue_remote(
            &portal.key,
            RemoteEvent::Message {
                id,
                sender,
                parts: vec![(
                    PartId::default(),
                    text_content("m.notice", PLACEHOLDER, None),
                )],
                timestamp: Some(info.timestamp.timestamp_millis()),
                reply_to: None,
            },
        )
        .await
}

/// A message whose placeholder is already in the room replaces it.
pub async fn replacing_placeholder(bridge: &Bridge, event: RemoteEvent) -> Result<RemoteEvent> {
    let RemoteEvent::Message {
        id,
        sender,
        parts,
        timestamp,
        reply_to,
    } = event
    else {
        return Ok(event);
    };
    let key = placeholder_key(&id);
    match (bridge.store().kv_get(&key).await?, parts.first()) {
        // The mark stays: a repeat of this message is the same edit again,
        // which the core recognises by its ID.
        (Some(_), Some((_, content))) => Ok(RemoteEvent::Edit {
            target: id.clone(),
            edit_id: causeway_core::ids::RemoteMessageId(format!("{id}|decrypted")),
            sender,
            content: content.clone(),
            timestamp,
        }),
        _ => Ok(RemoteEvent::Message {
            id,
            sender,
            parts,
            timestamp,
            reply_to,
        }),
    }
}
