//! Reading a stored timeline event in as few passes over its JSON as it
//! takes.
//!
//! ruma's [`AnyTimelineEvent`] reads an event several times before the
//! parse that builds it: it copies the JSON and reads it for `state_key`,
//! copies it again for `type`, and for a message once more for
//! `unsigned.redacted_because`. Nearly everything a bridge hears is a new
//! message, so one pass here reads those keys together with the mark of a
//! double-puppeted echo, and a new message is parsed straight into its type.
//! Anything else, or anything that pass cannot read, takes ruma's way, so
//! the result and its errors are ruma's.

use ruma::events::room::message::RoomMessageEventContent;
use ruma::events::{
    AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent, OriginalMessageLikeEvent,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// A stored timeline event, read.
pub(crate) enum Timeline {
    Event(Box<AnyTimelineEvent>),
    /// Sent as a user by a bridge (double puppeting): it came from the
    /// remote side, and must not go back there.
    PuppetEcho,
}

/// Reads a timeline event from its JSON.
pub(crate) fn read(json: &str) -> serde_json::Result<Timeline> {
    let shape = serde_json::from_str::<Shape<'_>>(json).ok();
    let marked = match &shape {
        Some(shape) => shape.content.marked,
        // An event of another shape (no `type`, say) may still be marked.
        None => serde_json::from_str::<Marked>(json).is_ok_and(|e| e.content.marked),
    };
    if marked {
        return Ok(Timeline::PuppetEcho);
    }
    if shape.is_some_and(|s| s.is_new_message()) {
        if let Ok(message) =
            serde_json::from_str::<OriginalMessageLikeEvent<RoomMessageEventContent>>(json)
        {
            return Ok(Timeline::Event(Box::new(AnyTimelineEvent::MessageLike(
                AnyMessageLikeEvent::RoomMessage(MessageLikeEvent::Original(message)),
            ))));
        }
    }
    serde_json::from_str::<AnyTimelineEvent>(json).map(|event| Timeline::Event(Box::new(event)))
}

/// The keys that decide how an event is parsed; the rest is skipped over.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, deserialize_with = "present")]
    state_key: bool,
    #[serde(default)]
    unsigned: Unsigned,
    #[serde(default)]
    content: Content,
}

/// An event's double-puppet mark alone.
#[derive(Deserialize)]
struct Marked {
    content: Content,
}

#[derive(Default, Deserialize)]
struct Unsigned {
    #[serde(default, deserialize_with = "present")]
    redacted_because: bool,
}

#[derive(Default, Deserialize)]
struct Content {
    // The same key as `SOURCE_FIELD`; serde takes only a literal.
    #[serde(
        default,
        rename = "fi.mau.double_puppet_source",
        deserialize_with = "present"
    )]
    marked: bool,
}

impl Shape<'_> {
    /// What ruma would read as an original `m.room.message`: no state key
    /// (even a null one: this pass does not tell them apart), not redacted.
    fn is_new_message(&self) -> bool {
        self.kind == "m.room.message" && !self.state_key && !self.unsigned.redacted_because
    }
}

/// The key is there, whatever its value.
fn present<'de, D: Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(value).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::double_puppet::SOURCE_FIELD;

    const MESSAGE: &str =
        r#""event_id":"$e","sender":"@a:hs","room_id":"!r:hs","origin_server_ts":1"#;

    fn read_ok(json: &str) -> Timeline {
        read(json).unwrap_or_else(|err| panic!("{json} does not read: {err}"))
    }

    fn ruma(json: &str) -> AnyTimelineEvent {
        serde_json::from_str(json).unwrap()
    }

    fn event(timeline: Timeline) -> AnyTimelineEvent {
        match timeline {
            Timeline::Event(event) => *event,
            Timeline::PuppetEcho => panic!("read as a puppet echo"),
        }
    }

    #[test]
    fn events_sent_as_a_user_by_a_bridge_are_puppet_echoes() {
        let marked = format!(
            r#"{{"type":"m.room.message",{MESSAGE},"content":{{"msgtype":"m.text","body":"x","{SOURCE_FIELD}":"causeway"}}}}"#
        );
        assert!(matches!(read_ok(&marked), Timeline::PuppetEcho));
        let null_mark = format!(r#"{{"type":"m.reaction","content":{{"{SOURCE_FIELD}":null}}}}"#);
        assert!(matches!(read_ok(&null_mark), Timeline::PuppetEcho));
        let odd_shape = format!(r#"{{"unsigned":null,"content":{{"{SOURCE_FIELD}":"x"}}}}"#);
        assert!(matches!(read_ok(&odd_shape), Timeline::PuppetEcho));
    }

    #[test]
    fn a_new_message_reads_as_ruma_reads_it() {
        let json = format!(
            r#"{{"type":"m.room.message",{MESSAGE},"content":{{"msgtype":"m.text","body":"hi","format":"org.matrix.custom.html","formatted_body":"<b>hi</b>"}}}}"#
        );
        assert_eq!(
            format!("{:?}", event(read_ok(&json))),
            format!("{:?}", ruma(&json))
        );
    }

    #[test]
    fn a_redacted_message_and_a_message_with_a_state_key_take_rumas_way() {
        for json in [
            format!(
                r#"{{"type":"m.room.message",{MESSAGE},"content":{{}},"unsigned":{{"redacted_because":{{"type":"m.room.redaction",{MESSAGE},"redacts":"$x","content":{{}}}}}}}}"#
            ),
            format!(
                r#"{{"type":"m.room.message",{MESSAGE},"state_key":"","content":{{"msgtype":"m.text","body":"x"}}}}"#
            ),
            format!(
                r#"{{"type":"m.room.message",{MESSAGE},"state_key":null,"content":{{"msgtype":"m.text","body":"x"}}}}"#
            ),
        ] {
            assert_eq!(
                format!("{:?}", event(read_ok(&json))),
                format!("{:?}", ruma(&json)),
                "{json}"
            );
        }
    }

    #[test]
    fn a_member_event_reads_as_ruma_reads_it() {
        let json = format!(
            r#"{{"type":"m.room.member",{MESSAGE},"state_key":"@a:hs","content":{{"membership":"join"}}}}"#
        );
        assert_eq!(
            format!("{:?}", event(read_ok(&json))),
            format!("{:?}", ruma(&json))
        );
    }

    #[test]
    fn what_ruma_cannot_read_fails_with_rumas_error() {
        let json = format!(r#"{{"type":"m.room.message",{MESSAGE},"content":{{"msgtype":3}}}}"#);
        let ruma_err = serde_json::from_str::<AnyTimelineEvent>(&json).err();
        assert!(ruma_err.is_some());
        assert_eq!(
            read(&json).err().map(|e| e.to_string()),
            ruma_err.map(|e| e.to_string())
        );
        assert!(read(r#"{"content": 3}"#).is_err());
    }
}
