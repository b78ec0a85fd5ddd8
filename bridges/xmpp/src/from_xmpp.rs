//! XMPP→Matrix: what an incoming message stanza means, as remote events.
//!
//! One stanza can carry several things (a chat state beside a body, a
//! receipt request), so this returns a list. References to other messages
//! are resolved through [`crate::refs`].

use crate::format;
use crate::refs;
use crate::stanza::{self, ns, NS};
use anyhow::{bail, Result};
use causeway_core::ids::{PartId, RemoteMessageId};
use causeway_core::network::GhostInfo;
use causeway_core::remote::RemoteEvent;
use causeway_core::Bridge;
use serde_json::json;
use std::collections::BTreeSet;
use xmpp_parsers::minidom::Element;

/// Where a message was said, which decides how references resolve.
pub struct Context<'a> {
    pub bridge: &'a Bridge,
    /// The MUC's bare JID, for stanza-id references; `None` in a chat.
    pub room: Option<&'a str>,
    pub sender: GhostInfo,
    pub max_message_bytes: usize,
    pub fetch: crate::media::FetchPolicy,
    /// Matrix messages just sent, whose mapping may not be stored yet.
    pub in_flight: &'a refs::InFlight,
}

impl<'a> Context<'a> {
    pub fn new(
        net: &'a crate::network::XmppNetwork,
        room: Option<&'a str>,
        sender: GhostInfo,
    ) -> Result<Self> {
        Ok(Self {
            bridge: net.bridge()?,
            room,
            sender,
            max_message_bytes: net.config().max_message_bytes,
            fetch: net.fetch_policy(),
            in_flight: &net.inner.in_flight,
        })
    }
}

/// A message's own ID: `id`, else its origin-id, else one made from its
/// content and time, so that a replayed history line is still recognised.
pub fn own_id(message: &Element) -> String {
    if let Some(id) = message.attr("id").filter(|id| !id.is_empty()) {
        return id.to_owned();
    }
    if let Some(origin) = message
        .get_child("origin-id", ns::SID)
        .and_then(|o| o.attr("id"))
    {
        return origin.to_owned();
    }
    use sha1::Digest;
    let mut hash = sha1::Sha1::new();
    hash.update(message.attr("from").unwrap_or_default());
    hash.update(stanza::body(message).unwrap_or_default());
    match delay_ms(message) {
        Some(stamp) => hash.update(stamp.to_string()),
        None => hash.update(causeway_core::store::now_ms().to_string()),
    }
    format!("h{}", hex::encode(&hash.finalize()[..10]))
}

/// The stanza-id a room stamped on a message.
pub fn room_stanza_id(message: &Element, room: &str) -> Option<String> {
    message
        .children()
        .find(|c| c.is("stanza-id", ns::SID) && c.attr("by") == Some(room))
        .and_then(|c| c.attr("id"))
        .map(str::to_owned)
}

/// The time of a delayed (history or offline) message, in ms.
pub fn delay_ms(message: &Element) -> Option<i64> {
    let stamp = message.get_child("delay", ns::DELAY)?.attr("stamp")?;
    let parsed: xmpp_parsers::date::DateTime = stamp.parse().ok()?;
    Some(parsed.0.timestamp_millis())
}

/// The remote events of one message stanza.
pub async fn events(cx: &Context<'_>, message: &Element) -> Result<Vec<RemoteEvent>> {
    let sender_id = cx.sender.id.as_str();
    let mut events = Vec::new();
    let resolve = |id: String| async move {
        refs::resolve(cx.bridge, cx.in_flight, cx.room, sender_id, &id).await
    };

    if let Some(state) = message.children().find(|c| c.ns() == ns::CHAT_STATES) {
        if stanza::body(message).is_none() {
            events.push(RemoteEvent::Typing {
                sender: cx.sender.clone(),
                typing: state.name() == "composing",
            });
        }
    }
    for marker in message.children() {
        let is_marker = marker.is("displayed", ns::MARKERS) || marker.is("received", ns::RECEIPTS);
        if let (true, Some(id)) = (is_marker, marker.attr("id")) {
            events.push(RemoteEvent::Receipt {
                target: resolve(id.to_owned()).await?,
                sender: cx.sender.clone(),
            });
        }
    }
    if let Some(retract) = message.get_child("retract", ns::RETRACT) {
        if let Some(id) = retract.attr("id") {
            events.push(RemoteEvent::MessageRemove {
                target: resolve(id.to_owned()).await?,
                sender: cx.sender.clone(),
            });
            return Ok(events);
        }
    }
    if let Some(reactions) = message.get_child("reactions", ns::REACTIONS) {
        if let Some(id) = reactions.attr("id") {
            let target = resolve(id.to_owned()).await?;
            let now: BTreeSet<String> = reactions
                .children()
                .filter(|r| r.is("reaction", ns::REACTIONS))
                .map(|r| r.text())
                .filter(|r| !r.is_empty() && r.len() <= 64)
                .collect();
            events.extend(reaction_changes(cx, &target, now).await?);
            return Ok(events);
        }
    }
    let Some(body) = stanza::body(message) else {
        return Ok(events);
    };
    if body.len() > cx.max_message_bytes {
        bail!(
            "the message is {} bytes long; this bridge takes at most {}",
            body.len(),
            cx.max_message_bytes
        );
    }
    let own = own_id(message);
    if let Some(replace) = message.get_child("replace", ns::CORRECT) {
        if let Some(id) = replace.attr("id") {
            events.push(RemoteEvent::Edit {
                target: refs::message_id(sender_id, id),
                edit_id: refs::message_id(sender_id, &own),
                sender: cx.sender.clone(),
                content: format::matrix_content(&body, message),
                timestamp: delay_ms(message),
            });
            return Ok(events);
        }
    }
    let reply = message.get_child("reply", ns::REPLY);
    let reply_to = match reply.and_then(|r| r.attr("id")) {
        Some(id) => Some(resolve(id.to_owned()).await?),
        None => None,
    };
    let text = match reply_to {
        Some(_) => strip_reply_fallback(message, &body),
        None => body.clone(),
    };
    let mut parts = Vec::new();
    let oob = message
        .get_child("x", ns::OOB)
        .and_then(|x| x.get_child("url", ns::OOB))
        .map(|u| u.text());
    match oob {
        Some(url) if text.trim() == url.trim() => {
            parts.push((
                PartId::new(""),
                crate::media::from_oob(cx.bridge, &cx.fetch, &url).await,
            ));
        }
        _ if !text.is_empty() => {
            parts.push((PartId::new(""), format::matrix_content(&text, message)))
        }
        _ => {}
    }
    if parts.is_empty() {
        return Ok(events);
    }
    events.push(RemoteEvent::Message {
        id: refs::message_id(sender_id, &own),
        sender: cx.sender.clone(),
        parts,
        timestamp: delay_ms(message),
        reply_to,
    });
    Ok(events)
}

/// The events of a message, or `None` once it was refused to its sender
/// with the reason (too long, say): a chat or gateway message that cannot
/// be bridged is answered, never dropped in silence.
pub async fn events_or_refuse(
    net: &crate::network::XmppNetwork,
    cx: &Context<'_>,
    message: &Element,
) -> Option<Vec<RemoteEvent>> {
    match events(cx, message).await {
        Ok(events) => Some(events),
        Err(err) => {
            let text = format!("{err:#}");
            net.send(stanza::error_reply(
                message,
                "modify",
                "not-acceptable",
                Some(&text),
            ));
            None
        }
    }
}

/// A body without the quoted part XEP-0428 marks as the reply fallback.
fn strip_reply_fallback(message: &Element, body: &str) -> String {
    let range = message
        .children()
        .find(|c| c.is("fallback", ns::FALLBACK) && c.attr("for") == Some(ns::REPLY))
        .and_then(|f| f.get_child("body", ns::FALLBACK))
        .and_then(|b| {
            Some((
                b.attr("start")?.parse::<usize>().ok()?,
                b.attr("end")?.parse::<usize>().ok()?,
            ))
        });
    let Some((start, end)) = range else {
        return body.to_owned();
    };
    // The offsets count code points.
    let chars: Vec<char> = body.chars().collect();
    if start > end || end > chars.len() {
        return body.to_owned();
    }
    chars[..start]
        .iter()
        .chain(&chars[end..])
        .collect::<String>()
        .trim_start()
        .to_owned()
}

/// XEP-0444 sends the whole set each time: this turns it into added and
/// removed reactions against the set we saw last.
async fn reaction_changes(
    cx: &Context<'_>,
    target: &RemoteMessageId,
    now: BTreeSet<String>,
) -> Result<Vec<RemoteEvent>> {
    let key = format!("xmpp:react:{}:{}", target.as_str(), cx.sender.id.as_str());
    let store = cx.bridge.store();
    let before: BTreeSet<String> = store
        .kv_get(&key)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    let mut events = Vec::new();
    for emoji in now.difference(&before) {
        events.push(RemoteEvent::Reaction {
            target: target.clone(),
            sender: cx.sender.clone(),
            emoji: emoji.clone(),
            timestamp: None,
        });
    }
    for emoji in before.difference(&now) {
        events.push(RemoteEvent::ReactionRemove {
            target: target.clone(),
            sender: cx.sender.clone(),
            emoji: emoji.clone(),
        });
    }
    store.kv_set(&key, &json!(now).to_string()).await?;
    Ok(events)
}

/// Whether a message is an error bounce.
pub fn is_error(message: &Element) -> bool {
    message.attr("type") == Some("error") || message.get_child("error", NS).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(xml: &str) -> Element {
        format!("<message xmlns='jabber:component:accept' from='a@x/r'>{xml}</message>")
            .parse()
            .unwrap()
    }

    #[test]
    fn the_reply_fallback_is_cut_by_code_points() {
        let m = message("<body>&gt; é quoted\nanswer</body><reply xmlns='urn:xmpp:reply:0' id='1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='11'/></fallback>");
        assert_eq!(
            strip_reply_fallback(&m, &stanza::body(&m).unwrap()),
            "answer"
        );
        let bad = message("<body>short</body><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='3' end='99'/></fallback>");
        assert_eq!(strip_reply_fallback(&bad, "short"), "short");
    }

    #[test]
    fn id_less_history_lines_get_a_stable_id() {
        let m =
            message("<body>hi</body><delay xmlns='urn:xmpp:delay' stamp='2026-01-02T03:04:05Z'/>");
        assert_eq!(own_id(&m), own_id(&m));
        assert_eq!(delay_ms(&m), Some(1767323045000));
        let with_id = message("<body>hi</body>");
        assert!(own_id(&with_id).starts_with('h'));
    }
}
