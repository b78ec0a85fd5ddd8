//! `PUT /_matrix/app/v1/transactions/{txnId}`: store first, answer second.

use super::errors::MatrixError;
use crate::store::{IngressKind, NewIngressEvent, Purpose, SecretBox, Store, TxnOutcome};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use ruma::api::appservice::event::push_events::v1::EphemeralData;
use ruma::events::AnyTimelineEvent;
use ruma::serde::Raw;
use ruma::OwnedEventId;
use serde_json::value::RawValue as RawJsonValue;
use sha2::{Digest, Sha256};

/// A transaction body, split into what the ingress log stores.
pub struct ParsedTransaction {
    pub events: Vec<NewIngressEvent>,
    pub digest: String,
}

/// Reads at most `limit` bytes; a bigger body is 413 M_TOO_LARGE.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, MatrixError> {
    let too_large = || {
        MatrixError::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", format!("the transaction is larger than the configured limit of {limit} bytes (appservice.max_body_bytes)"))
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let err = err.into_inner();
        if err.is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                format!("cannot read the request body: {err}"),
            )
        }
    })
}

/// A transaction body: ruma's event types for each list. Ephemeral events
/// come under the stable name or under MSC2409's, which Synapse still sends;
/// both are read (a serde alias would refuse a body that has both).
#[derive(serde::Deserialize)]
struct TransactionBody {
    #[serde(default)]
    events: Vec<Raw<AnyTimelineEvent>>,
    #[serde(default)]
    ephemeral: Vec<Raw<EphemeralData>>,
    #[serde(default, rename = "de.sorunome.msc2409.ephemeral")]
    unstable_ephemeral: Vec<Raw<EphemeralData>>,
}

/// Parses a transaction. Not JSON is M_NOT_JSON; JSON of the wrong shape is
/// M_BAD_JSON. Each event is checked for the fields the log keys it by; its
/// content is parsed when it is handled, so one odd event never refuses the
/// rest of a transaction.
///
/// The bridge's own echoes are left out: timeline events whose sender
/// `is_own` (the bot or a ghost), except membership changes, which portals
/// follow. Handling would skip them anyway; every message the bridge sends
/// to Matrix comes back as one, and leaving them out of the log spares a
/// commit, a read and a mark for each. So are the ephemeral events handling
/// skips: all but typing and read receipts (presence), and receipts only
/// the bridge's own users sent, which are the echoes of the receipts it
/// bridged from the network.
pub fn parse_transaction(
    bytes: &[u8],
    is_own: impl Fn(&str) -> bool,
) -> Result<ParsedTransaction, MatrixError> {
    let bad = |msg: String| MatrixError::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", msg);
    let body: TransactionBody = serde_json::from_slice(bytes).map_err(|e| {
        // Told apart only on failure, so that a good body is read once.
        match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(e) => MatrixError::new(
                StatusCode::BAD_REQUEST,
                "M_NOT_JSON",
                format!("the transaction body is not JSON: {e}"),
            ),
            Ok(_) => bad(format!("the transaction body has the wrong shape: {e}")),
        }
    })?;
    let ephemeral = if body.ephemeral.is_empty() {
        body.unstable_ephemeral
    } else {
        body.ephemeral
    };
    let mut kept_ephemeral = Vec::new();
    for raw in &ephemeral {
        let mut keys = EventKeys::of(raw.json())?;
        keys.kind
            .as_deref()
            .ok_or_else(|| bad("every event must have a string `type`".into()))?;
        if !keys.is_handled(&is_own) {
            continue;
        }
        kept_ephemeral.push(NewIngressEvent {
            event_id: None,
            room_id: keys.room_id.take(),
            kind: IngressKind::Ephemeral,
            body: keys.body(),
            clear: None,
        });
    }
    // Only a transaction with an ephemeral event keeps a row for its txnId,
    // and so uses its digest (see `needs_txn_row`): then its timeline events
    // are parsed whole, for their canonical form; otherwise they are kept
    // as sent.
    let canonical = !kept_ephemeral.is_empty();
    let mut events = Vec::with_capacity(body.events.len() + kept_ephemeral.len());
    for raw in &body.events {
        let top_level = if canonical {
            None
        } else {
            EventKeys::top_level(raw.json())
        };
        let mut keys = match top_level {
            Some(keys) => keys,
            None => EventKeys::of(raw.json())?,
        };
        let kind = keys
            .kind
            .take()
            .ok_or_else(|| bad("every event must have a string `type`".into()))?;
        let event_id: OwnedEventId = keys
            .event_id
            .take()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| bad("a timeline event has no valid `event_id`".into()))?;
        if kind != "m.room.member" && keys.sender.as_deref().is_some_and(&is_own) {
            continue;
        }
        events.push(NewIngressEvent {
            event_id: Some(event_id.to_string()),
            room_id: keys.room_id.take(),
            kind: IngressKind::Timeline,
            body: keys.body(),
            clear: None,
        });
    }
    events.append(&mut kept_ephemeral);
    let mut digest = Sha256::new();
    for event in &events {
        digest.update((event.body.len() as u64).to_be_bytes());
        digest.update(event.body.as_bytes());
    }
    Ok(ParsedTransaction {
        digest: hex::encode(digest.finalize()),
        events,
    })
}

/// What the log keys an event by, read from the event's JSON in one pass,
/// with the JSON it keeps. A key of the wrong JSON type reads as missing,
/// as `Raw::get_field` read it.
struct EventKeys {
    kind: Option<String>,
    event_id: Option<String>,
    sender: Option<String>,
    /// The room, which orders the event in the log with its room.
    room_id: Option<String>,
    /// Who read something, for a read receipt (`m.read` only: handling
    /// ignores the rest).
    readers: Vec<String>,
    json: EventJson,
}

/// An event's JSON, as the log keeps it.
enum EventJson {
    /// Parsed, to be written back with sorted keys.
    Parsed(serde_json::Map<String, serde_json::Value>),
    /// As the homeserver sent it.
    Sent(String),
}

impl EventKeys {
    fn of(json: &RawJsonValue) -> Result<Self, MatrixError> {
        let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json.get())
            .map_err(|e| {
                MatrixError::new(
                    StatusCode::BAD_REQUEST,
                    "M_BAD_JSON",
                    format!("every event must be a JSON object: {e}"),
                )
            })?;
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let kind = text("type");
        let readers = match kind.as_deref() {
            Some("m.receipt") => readers(&value),
            _ => Vec::new(),
        };
        Ok(Self {
            kind,
            event_id: text("event_id"),
            sender: text("sender"),
            room_id: text("room_id"),
            readers,
            json: EventJson::Parsed(value),
        })
    }

    /// A timeline event's keys, read without parsing the rest, its JSON
    /// kept as sent: most events of a busy bridge are its own echoes, which
    /// are left out, and the canonical form matters only to a transaction's
    /// digest, which a transaction of timeline events alone does not use.
    /// `None` when this reading cannot tell (not an object, a key twice):
    /// [`EventKeys::of`] decides then.
    fn top_level(json: &RawJsonValue) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Keys {
            #[serde(rename = "type", default)]
            kind: Option<serde_json::Value>,
            #[serde(default)]
            event_id: Option<serde_json::Value>,
            #[serde(default)]
            sender: Option<serde_json::Value>,
            #[serde(default)]
            room_id: Option<serde_json::Value>,
        }
        /// A key of another JSON type than a string reads as missing.
        fn text(value: Option<serde_json::Value>) -> Option<String> {
            match value {
                Some(serde_json::Value::String(text)) => Some(text),
                _ => None,
            }
        }
        // serde reads a struct from an array too.
        if !json.get().starts_with('{') {
            return None;
        }
        let keys = serde_json::from_str::<Keys>(json.get()).ok()?;
        Some(Self {
            kind: text(keys.kind),
            event_id: text(keys.event_id),
            sender: text(keys.sender),
            room_id: text(keys.room_id),
            readers: Vec::new(),
            json: EventJson::Sent(json.get().to_owned()),
        })
    }

    /// The JSON the log keeps: as sent, or for a parsed event with sorted
    /// keys (serde_json's map is ordered), so that a retried transaction
    /// has the same digest however the homeserver ordered its keys. Made
    /// only for the events kept: the bridge's echoes are most of what it
    /// hears.
    fn body(self) -> String {
        match self.json {
            EventJson::Parsed(value) => serde_json::Value::Object(value).to_string(),
            EventJson::Sent(text) => text,
        }
    }

    /// Whether handling an ephemeral event would reach the network: typing
    /// always (it carries who stopped typing too), a read receipt when
    /// someone other than the bridge's own users read, nothing else.
    fn is_handled(&self, is_own: impl Fn(&str) -> bool) -> bool {
        match self.kind.as_deref() {
            Some("m.typing") => true,
            Some("m.receipt") => self.readers.iter().any(|user| !is_own(user)),
            _ => false,
        }
    }
}

/// The users of an `m.receipt` event's `m.read` receipts, over all its
/// events: `{"content": {"$event": {"m.read": {"@user": {...}}}}}`.
fn readers(event: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let Some(content) = event.get("content").and_then(|c| c.as_object()) else {
        return Vec::new();
    };
    content
        .values()
        .filter_map(|receipts| receipts.get("m.read")?.as_object())
        .flat_map(|readers| readers.keys().cloned())
        .collect()
}

/// Encrypts the event bodies for the ingress log. Events hold whatever users
/// send the bot, passwords included, and the log outlives their redaction.
/// Each keeps its JSON in the clear beside, for the dispatcher it is handed
/// to once committed.
pub fn seal_bodies(parsed: &mut ParsedTransaction, secrets: &SecretBox) -> Result<(), MatrixError> {
    use base64::Engine;
    for event in &mut parsed.events {
        let sealed = secrets
            .seal(
                Purpose::Ingress,
                ingress_row(event.event_id.as_deref()),
                event.body.as_bytes(),
            )
            .map_err(MatrixError::internal)?;
        let sealed = base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed);
        event.clear = Some(std::mem::replace(&mut event.body, sealed));
    }
    Ok(())
}

/// Decrypts a body sealed by [`seal_bodies`] for the event `event_id`.
pub fn open_body(
    stored: &str,
    event_id: Option<&str>,
    secrets: &SecretBox,
) -> anyhow::Result<String> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::STANDARD_NO_PAD.decode(stored)?;
    let body = secrets.open(Purpose::Ingress, ingress_row(event_id), &sealed)?;
    Ok(String::from_utf8(body)?)
}

/// What an ingress body is bound to: its event ID (none for ephemeral
/// events, which have no ID).
fn ingress_row(event_id: Option<&str>) -> &[u8] {
    event_id.unwrap_or_default().as_bytes()
}

/// Stores a parsed transaction; returns once it is committed.
pub async fn store_transaction(
    store: &Store,
    txn_id: &str,
    parsed: ParsedTransaction,
) -> Result<TxnOutcome, MatrixError> {
    let count = parsed.events.len() as u64;
    let outcome = store
        .record_transaction(txn_id, &parsed.digest, parsed.events)
        .await
        .map_err(|e| {
            MatrixError::internal(format!(
                "cannot store transaction {txn_id}, the homeserver will retry it: {e:#}"
            ))
        })?;
    match outcome {
        TxnOutcome::Replayed => {
            metrics::counter!("causeway_transactions_total", "outcome" => "replayed").increment(1);
            tracing::debug!(txn_id, "transaction replayed, already stored");
        }
        TxnOutcome::Stored { inserted } => {
            metrics::counter!("causeway_transactions_total", "outcome" => "stored").increment(1);
            metrics::counter!("causeway_events_received_total").increment(inserted);
            metrics::counter!("causeway_events_duplicate_total").increment(count - inserted);
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction as a bridge whose only own user is `@bot:hs` reads it.
    fn parse_transaction_of(bytes: &[u8]) -> Result<ParsedTransaction, MatrixError> {
        parse_transaction(bytes, |sender| sender == "@bot:hs")
    }

    #[test]
    fn the_bridges_own_echoes_are_left_out_but_not_its_membership_changes() {
        let parsed = parse_transaction_of(
            br#"{"events": [
                {"type": "m.room.message", "event_id": "$echo", "sender": "@bot:hs", "room_id": "!r"},
                {"type": "m.room.member", "event_id": "$join", "sender": "@bot:hs", "state_key": "@bot:hs", "room_id": "!r"},
                {"type": "m.room.message", "event_id": "$user", "sender": "@alice:hs", "room_id": "!r"}
            ]}"#,
        )
        .unwrap();
        let kept: Vec<_> = parsed
            .events
            .iter()
            .map(|e| e.event_id.as_deref())
            .collect();
        assert_eq!(kept, [Some("$join"), Some("$user")]);
    }

    #[test]
    fn an_invalid_echo_still_refuses_its_transaction() {
        for event in [
            r#"{"type": "m.room.message", "sender": "@bot:hs", "room_id": "!r"}"#,
            r#"{"type": "m.room.message", "event_id": "no", "sender": "@bot:hs"}"#,
            r#"{"event_id": "$e", "sender": "@bot:hs"}"#,
            r#"["m.room.message", "$e", "@bot:hs"]"#,
        ] {
            let body = format!(r#"{{"events": [{event}]}}"#);
            let err = parse_transaction_of(body.as_bytes()).err();
            assert_eq!(err.map(|e| e.errcode), Some("M_BAD_JSON"), "{event}");
        }
    }

    #[test]
    fn not_json_and_bad_json_are_told_apart() {
        assert_eq!(
            parse_transaction_of(b"{nope").err().unwrap().errcode,
            "M_NOT_JSON"
        );
        assert_eq!(
            parse_transaction_of(b"[1]").err().unwrap().errcode,
            "M_BAD_JSON"
        );
        assert_eq!(
            parse_transaction_of(br#"{"events": 3}"#)
                .err()
                .unwrap()
                .errcode,
            "M_BAD_JSON"
        );
        assert_eq!(
            parse_transaction_of(br#"{"events": [{"type": "m.room.message"}]}"#)
                .err()
                .unwrap()
                .errcode,
            "M_BAD_JSON"
        );
    }

    #[test]
    fn ephemeral_events_are_read_under_both_names_and_to_device_is_ignored() {
        let stable = parse_transaction_of(
            br#"{"events": [], "ephemeral": [{"type": "m.typing", "room_id": "!r"}]}"#,
        )
        .unwrap();
        assert_eq!(stable.events.len(), 1);
        let unstable = parse_transaction_of(
            br#"{"events": [], "de.sorunome.msc2409.ephemeral": [{"type": "m.receipt", "room_id": "!r", "content": {"$e": {"m.read": {"@alice:hs": {"ts": 1}}}}}], "de.sorunome.msc2409.to_device": [{"type": "x"}]}"#,
        )
        .unwrap();
        assert_eq!(unstable.events.len(), 1);
        assert_eq!(unstable.events[0].kind, IngressKind::Ephemeral);
    }

    #[test]
    fn presence_and_receipts_only_the_bridge_sent_are_left_out() {
        let parsed = parse_transaction_of(
            br#"{"events": [], "ephemeral": [
                {"type": "m.presence", "sender": "@alice:hs", "content": {"presence": "online"}},
                {"type": "m.receipt", "room_id": "!echo", "content": {"$e": {"m.read": {"@bot:hs": {"ts": 1}}}}},
                {"type": "m.receipt", "room_id": "!private", "content": {"$e": {"m.read.private": {"@alice:hs": {"ts": 1}}}}},
                {"type": "m.receipt", "room_id": "!mixed", "content": {"$e": {"m.read": {"@bot:hs": {"ts": 1}}}, "$f": {"m.read": {"@alice:hs": {"ts": 2}}}}},
                {"type": "m.typing", "room_id": "!typing", "content": {"user_ids": []}}
            ]}"#,
        )
        .unwrap();
        let kept: Vec<_> = parsed.events.iter().map(|e| e.room_id.as_deref()).collect();
        assert_eq!(kept, [Some("!mixed"), Some("!typing")]);
    }

    #[test]
    fn sealed_bodies_hide_their_content_and_open_again() {
        let secrets = SecretBox::from_key(&[9; 32]);
        let mut parsed = parse_transaction_of(br#"{"events": [{"type": "m.room.message", "event_id": "$1", "content": {"body": "!storepass hunter2"}}]}"#).unwrap();
        let digest = parsed.digest.clone();
        seal_bodies(&mut parsed, &secrets).unwrap();
        assert!(!parsed.events[0].body.contains("hunter2"));
        assert!(parsed.events[0].clear.as_ref().unwrap().contains("hunter2"));
        assert_eq!(parsed.digest, digest, "retries must still match");
        let stored = &parsed.events[0].body;
        assert!(open_body(stored, Some("$1"), &secrets)
            .unwrap()
            .contains("hunter2"));
        assert!(
            open_body(stored, Some("$2"), &secrets).is_err(),
            "bound to its event"
        );
    }

    /// A transaction whose digest the log keeps: it has an ephemeral event.
    fn with_typing(event: &str) -> ParsedTransaction {
        let body = format!(
            r#"{{"events": [{event}], "ephemeral": [{{"type": "m.typing", "room_id": "!r", "content": {{"user_ids": []}}}}]}}"#
        );
        parse_transaction_of(body.as_bytes()).unwrap()
    }

    #[test]
    fn digest_ignores_key_order_but_not_content() {
        let a = with_typing(r#"{"type": "t", "event_id": "$1", "room_id": "!r"}"#);
        let b = with_typing(r#"{"room_id": "!r", "event_id": "$1", "type": "t"}"#);
        let c = with_typing(r#"{"type": "t", "event_id": "$2", "room_id": "!r"}"#);
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn timeline_events_alone_are_kept_as_sent() {
        let sent = r#"{"type":"t","event_id":"$1","room_id":"!r","content":{"b":1,"a":2}}"#;
        let parsed = parse_transaction_of(format!(r#"{{"events": [{sent}]}}"#).as_bytes()).unwrap();
        assert_eq!(parsed.events[0].body, sent);
        assert_eq!(parsed.events[0].room_id.as_deref(), Some("!r"));
    }

    #[test]
    fn a_key_of_another_type_than_a_string_reads_as_missing() {
        let parsed = parse_transaction_of(
            br#"{"events": [{"type": "t", "event_id": "$1", "room_id": 3, "sender": ["@bot:hs"]}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].room_id, None);
    }
}
