//! Message conversion, one file per kind and direction: WhatsApp text and
//! its formatting to Matrix and back, media both ways, and the kinds
//! WhatsApp has that Matrix shows as text (locations, contact cards, polls,
//! calls).

pub mod media_to_matrix;
pub mod media_to_whatsapp;
pub mod other_to_matrix;
pub mod text_to_matrix;
pub mod text_to_whatsapp;

use crate::chat_info::own_jid;
use causeway_core::ids::{PartId, RemoteUserId};
use causeway_core::store::LoginRow;
use causeway_core::Bridge;
use serde_json::Value;
use text_to_matrix::Mention;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, Jid};

/// The text of a message and what it quotes and mentions, wherever its
/// kind keeps them.
pub(crate) fn text_and_context(message: &wa::Message) -> (Option<&str>, Option<&wa::ContextInfo>) {
    if let Some(text) = &message.conversation {
        return (Some(text), None);
    }
    if let Some(extended) = message.extended_text_message.as_option() {
        return (extended.text.as_deref(), extended.context_info.as_option());
    }
    (None, None)
}

/// Matrix content for a WhatsApp text: the body as typed, and HTML for
/// its formatting, with mentions as pills.
pub fn text_content(
    bridge: &Bridge,
    login: &LoginRow,
    text: &str,
    context: Option<&wa::ContextInfo>,
) -> Value {
    let own = own_jid(login);
    let mentions: Vec<Mention> = context
        .map(|c| c.mentioned_jid.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|jid| jid.parse::<Jid>().ok())
        .filter_map(|jid| {
            let number = jid.user.to_string();
            let (mxid, name) = if number == own.user.as_str() {
                (login.mxid.clone(), login.remote_name.clone())
            } else {
                let mxid = bridge.ghost_mxid(&RemoteUserId(number.clone())).ok()?;
                (mxid.to_string(), format!("+{number}"))
            };
            Some(Mention { number, mxid, name })
        })
        .collect();
    let html = text_to_matrix::convert(text, &mentions);
    causeway_core::remote::text_content("m.text", text, html.as_deref())
}

/// The Matrix events of a WhatsApp message, in order; each kind WhatsApp
/// has and Matrix lacks is described in words, so nothing is dropped.
/// Empty for messages that are not for the room (protocol messages).
pub async fn message_parts(
    bridge: &Bridge,
    client: &Client,
    login: &LoginRow,
    message: &wa::Message,
    max_file_bytes: u64,
) -> Vec<(PartId, Value)> {
    use whatsapp_rust::wacore::proto_helpers::MessageExt;
    let message = message.get_base_message();
    let content = match (text_and_context(message), media_to_matrix::file_of(message)) {
        ((Some(text), context), _) => Some(text_content(bridge, login, text, context)),
        (_, Some(file)) => {
            Some(media_to_matrix::content(bridge, client, &file, max_file_bytes).await)
        }
        _ => other_to_matrix::content(message),
    };
    content
        .map(|c| (PartId::default(), c))
        .into_iter()
        .collect()
}
