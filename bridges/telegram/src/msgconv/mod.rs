//! Message conversion, one file per kind and direction.

pub mod media_to_matrix;
pub mod media_to_telegram;
pub mod other_to_matrix;
pub mod text_to_matrix;
pub mod text_to_telegram;

use causeway_core::ids::PartId;
use causeway_core::Bridge;
use grammers_client::message::Message;
use grammers_client::Client;
use serde_json::Value;

/// A Telegram message's text as Matrix body and HTML, with its formatting;
/// mentioned Telegram users link to their ghosts.
fn text_and_html(bridge: &Bridge, message: &Message) -> (String, Option<String>) {
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
    text_to_matrix::convert(message.text(), entities, &mention)
}

/// The Matrix content of a Telegram message's text.
pub fn text_content(bridge: &Bridge, message: &Message) -> Value {
    let (body, html) = text_and_html(bridge, message);
    causeway_core::remote::text_content("m.text", &body, html.as_deref())
}

/// The Matrix events of a Telegram message, in order: a file with its
/// caption, or the text and then a location, poll or contact. A file that
/// cannot be fetched leaves a notice after the caption, so nothing the
/// sender wrote is lost. Empty for service messages the room does not show.
pub async fn message_parts(
    bridge: &Bridge,
    client: &Client,
    message: &Message,
    max_file_bytes: u64,
) -> Vec<(PartId, Value)> {
    let contents = match message.action() {
        Some(action) => other_to_matrix::action_content(action)
            .into_iter()
            .collect(),
        None => contents(bridge, client, message, max_file_bytes).await,
    };
    // The first part carries the message's own ID: replies, edits and
    // removals point at it.
    contents
        .into_iter()
        .enumerate()
        .map(|(n, content)| match n {
            0 => (PartId::default(), content),
            n => (PartId::new(n.to_string()), content),
        })
        .collect()
}

async fn contents(
    bridge: &Bridge,
    client: &Client,
    message: &Message,
    max_file_bytes: u64,
) -> Vec<Value> {
    let (body, html) = text_and_html(bridge, message);
    let text = causeway_core::remote::text_content("m.text", &body, html.as_deref());
    let Some(media) = message.media() else {
        return vec![text];
    };
    if media_to_matrix::kind(&media).is_none() {
        let other = other_to_matrix::media_content(&media);
        return match (body.is_empty(), other) {
            (true, Some(other)) => vec![other],
            (false, Some(other)) => vec![text, other],
            (_, None) => vec![text],
        };
    }
    let file = media_to_matrix::content(
        bridge,
        client,
        &media,
        &body,
        html.as_deref(),
        max_file_bytes,
    )
    .await;
    match file {
        Ok(Some(content)) => vec![content],
        failed => {
            if let Err(err) = failed {
                tracing::warn!("a Telegram file was not bridged: {err:#}");
            }
            let notice = causeway_core::remote::text_content(
                "m.notice",
                "A file was sent on Telegram, but the bridge could not fetch it.",
                None,
            );
            if body.is_empty() {
                vec![notice]
            } else {
                vec![text, notice]
            }
        }
    }
}
