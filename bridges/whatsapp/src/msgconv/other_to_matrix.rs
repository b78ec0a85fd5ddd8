//! WhatsApp messages Matrix has no like of, shown readably: locations (as
//! `m.location`), contact cards, polls and calls as text, and anything
//! else as a notice that says what it was, so nothing vanishes.

use causeway_core::format::escape_html;
use causeway_core::remote::text_content;
use serde_json::{json, Value};
use whatsapp_rust::waproto::whatsapp as wa;

/// The content of a message that is not text; `None` for messages that
/// are not for the room.
pub fn content(message: &wa::Message) -> Option<Value> {
    if let Some(location) = message.location_message.as_option() {
        return Some(location_content(location));
    }
    if let Some(contact) = message.contact_message.as_option() {
        return Some(contact_content(contact));
    }
    if let Some(poll) = message.poll_creation_message.as_option() {
        let question = poll.name.as_deref().unwrap_or("a poll");
        let options: Vec<String> = poll
            .options
            .iter()
            .filter_map(|o| o.option_name.clone())
            .collect();
        return Some(poll_content(question, &options));
    }
    if message.call.is_set() || message.call_log_messsage.is_set() {
        return Some(text_content(
            "m.notice",
            "📞 A call. Answer it on your phone.",
            None,
        ));
    }
    if message.protocol_message.is_set()
        || message.reaction_message.is_set()
        || message.sender_key_distribution_message.is_set()
        || message.message_context_info.is_set() && is_only_context(message)
    {
        return None;
    }
    let kind = kind_name(message);
    Some(text_content(
        "m.notice",
        &format!(
            "A WhatsApp {kind} the bridge cannot show. Open WhatsApp on your phone to see it."
        ),
        None,
    ))
}

/// A message that carries nothing but its context (a key distribution).
fn is_only_context(message: &wa::Message) -> bool {
    let bare = wa::Message {
        message_context_info: Default::default(),
        ..message.clone()
    };
    bare == wa::Message::default()
}

/// What to call a kind of message the bridge cannot show (media are
/// converted before this is asked).
fn kind_name(message: &wa::Message) -> &'static str {
    if message.live_location_message.is_set() {
        "live location"
    } else if message.group_invite_message.is_set() {
        "group invitation"
    } else if message.event_message.is_set() {
        "event"
    } else {
        "message"
    }
}

fn location_content(location: &wa::message::LocationMessage) -> Value {
    let (lat, lon) = (
        location.degrees_latitude.unwrap_or_default(),
        location.degrees_longitude.unwrap_or_default(),
    );
    let place = [location.name.as_deref(), location.address.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let body = if place.is_empty() {
        format!("Location: {lat:.6}, {lon:.6}")
    } else {
        format!("Location: {place} ({lat:.6}, {lon:.6})")
    };
    json!({ "msgtype": "m.location", "body": body, "geo_uri": format!("geo:{lat:.6},{lon:.6}") })
}

/// A contact card: its name and phone numbers, read from the vCard's
/// `FN` and `TEL` lines. A card that does not parse still shows its name.
fn contact_content(contact: &wa::message::ContactMessage) -> Value {
    let vcard = contact.vcard.as_deref().unwrap_or_default();
    let field = |line: &str, name: &str| -> Option<String> {
        let (key, value) = line.split_once(':')?;
        let key = key.split(';').next()?.trim();
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let name = contact
        .display_name
        .clone()
        .or_else(|| vcard.lines().find_map(|l| field(l, "FN")))
        .unwrap_or_else(|| "someone".into());
    let numbers: Vec<String> = vcard
        .lines()
        .filter_map(|l| field(l, "TEL"))
        .take(10)
        .collect();
    let body = match numbers.as_slice() {
        [] => format!("Contact card: {name}"),
        _ => format!("Contact card: {name}, {}", numbers.join(", ")),
    };
    let html = format!(
        "Contact card: <b>{}</b>{}",
        escape_html(&name),
        numbers
            .iter()
            .map(|n| format!(", <a href=\"tel:{0}\">{0}</a>", escape_html(n)))
            .collect::<String>()
    );
    text_content("m.text", &body, Some(&html))
}

fn poll_content(question: &str, options: &[String]) -> Value {
    let body = format!(
        "Poll: {question}\n{}",
        options
            .iter()
            .enumerate()
            .map(|(n, o)| format!("{}. {o}", n + 1))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let html = format!(
        "Poll: <b>{}</b><ol>{}</ol>",
        escape_html(question),
        options
            .iter()
            .map(|o| format!("<li>{}</li>", escape_html(o)))
            .collect::<String>()
    );
    text_content("m.text", &body, Some(&html))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(vcard: &str, name: Option<&str>) -> wa::Message {
        wa::Message {
            contact_message: whatsapp_rust::waproto::buffa::MessageField::some(
                wa::message::ContactMessage {
                    display_name: name.map(str::to_owned),
                    vcard: Some(vcard.into()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_contact_card_shows_its_name_and_numbers_escaped() {
        let card = "BEGIN:VCARD\nVERSION:3.0\nFN:<b>Ann</b>\nTEL;type=CELL:+44 1234\nEND:VCARD";
        let got = content(&contact(card, None)).unwrap();
        assert_eq!(got["body"], "Contact card: <b>Ann</b>, +44 1234");
        assert!(got["formatted_body"]
            .as_str()
            .unwrap()
            .contains("&lt;b&gt;Ann&lt;/b&gt;"));
    }

    #[test]
    fn a_malformed_contact_card_still_shows_a_name() {
        let got = content(&contact("\u{0}garbage;;;:\n:::", Some("Bo"))).unwrap();
        assert_eq!(got["body"], "Contact card: Bo");
    }

    #[test]
    fn a_location_becomes_m_location_with_a_geo_uri() {
        let message = wa::Message {
            location_message: whatsapp_rust::waproto::buffa::MessageField::some(
                wa::message::LocationMessage {
                    degrees_latitude: Some(51.5),
                    degrees_longitude: Some(-0.12),
                    name: Some("Here".into()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        let got = content(&message).unwrap();
        assert_eq!(got["msgtype"], "m.location");
        assert_eq!(got["geo_uri"], "geo:51.500000,-0.120000");
    }

    #[test]
    fn a_kind_the_bridge_cannot_show_is_named_not_dropped() {
        let message = wa::Message {
            live_location_message: whatsapp_rust::waproto::buffa::MessageField::some(
                Default::default(),
            ),
            ..Default::default()
        };
        let got = content(&message).unwrap();
        assert_eq!(got["msgtype"], "m.notice");
        assert!(got["body"].as_str().unwrap().contains("live location"));
    }
}
