//! Message conversion, one file per kind and direction.

pub mod text_to_matrix;
pub mod text_to_telegram;

use causeway_core::Bridge;
use grammers_client::message::Message;
use serde_json::Value;

/// The Matrix content of a Telegram message's text, with its formatting;
/// mentioned Telegram users link to their ghosts.
pub fn text_content(bridge: &Bridge, message: &Message) -> Value {
    let entities = message
        .fmt_entities()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mention = |user_id: i64| {
        bridge
            .ghost_mxid(&causeway_core::ids::RemoteUserId(user_id.to_string()))
            .ok()
            .map(|m| m.to_string())
    };
    let (body, html) = text_to_matrix::convert(message.text(), entities, &mention);
    causeway_core::remote::text_content("m.text", &body, html.as_deref())
}
