//! Message references: how the bridge names an XMPP message, and how a
//! correction, retraction, reaction, reply or marker finds it again.
//!
//! An XMPP message `id` is only unique per sender, so our remote message ID
//! is `<sender>|<id>`, where the sender is a ghost's remote ID or a Matrix
//! user. A MUC also stamps each message with its own stanza-id (XEP-0359),
//! which reactions, replies and retractions in rooms refer to; those are
//! kept in the store in both directions, so references work after a
//! restart.

use anyhow::Result;
use causeway_core::ids::RemoteMessageId;
use causeway_core::Bridge;
use dashmap::DashMap;
use std::time::{Duration, Instant};

/// The remote message ID of message `id` sent by `sender`.
pub fn message_id(sender: &str, id: &str) -> RemoteMessageId {
    RemoteMessageId::new(format!("{sender}|{id}"))
}

/// The sender's own `id` of a message, from its remote message ID.
pub fn own_id(remote: &RemoteMessageId) -> &str {
    remote
        .as_str()
        .rsplit_once('|')
        .map_or(remote.as_str(), |(_, id)| id)
}

/// The sender part of a remote message ID.
pub fn sender_of(remote: &RemoteMessageId) -> &str {
    remote
        .as_str()
        .rsplit_once('|')
        .map_or("", |(sender, _)| sender)
}

/// Event IDs of Matrix messages sent to XMPP lately, and when.
pub type InFlight = DashMap<String, Instant>;

/// How long a reference waits for a sent message's mapping.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(3);

/// Notes a Matrix message as sent; entries older than a minute go once
/// there are many.
pub fn sent(in_flight: &InFlight, event_id: &str) {
    if in_flight.len() > 10_000 {
        in_flight.retain(|_, at| at.elapsed() < Duration::from_secs(60));
    }
    in_flight.insert(event_id.to_owned(), Instant::now());
}

fn by_stanza_id_key(room: &str, stanza_id: &str) -> String {
    format!("xmpp:sid:{room}:{stanza_id}")
}

fn stanza_id_key(remote: &RemoteMessageId) -> String {
    format!("xmpp:rid:{}", remote.as_str())
}

/// Records the stanza-id a room gave a message.
pub async fn remember_stanza_id(
    bridge: &Bridge,
    room: &str,
    stanza_id: &str,
    remote: &RemoteMessageId,
) -> Result<()> {
    let store = bridge.store();
    store
        .kv_set(&by_stanza_id_key(room, stanza_id), remote.as_str())
        .await?;
    store.kv_set(&stanza_id_key(remote), stanza_id).await
}

/// Whether a room's stanza-id belongs to a message bridged already.
pub async fn is_known_stanza_id(bridge: &Bridge, room: &str, stanza_id: &str) -> Result<bool> {
    Ok(bridge
        .store()
        .kv_get(&by_stanza_id_key(room, stanza_id))
        .await?
        .is_some())
}

/// The stanza-id a room gave one of its messages, if known.
pub async fn stanza_id_of(bridge: &Bridge, remote: &RemoteMessageId) -> Result<Option<String>> {
    bridge.store().kv_get(&stanza_id_key(remote)).await
}

/// What a reference `id` in a message from `sender` points at: in a room,
/// a stanza-id; a Matrix message by its event ID; else a message of the
/// same sender (corrections, and retractions by `id`).
pub async fn resolve(
    bridge: &Bridge,
    in_flight: &InFlight,
    room: Option<&str>,
    sender: &str,
    id: &str,
) -> Result<RemoteMessageId> {
    if let Some(room) = room {
        if let Some(remote) = bridge.store().kv_get(&by_stanza_id_key(room, id)).await? {
            return Ok(RemoteMessageId::new(remote));
        }
    }
    // Messages from Matrix carry their event ID as their `id`. A fast
    // client can answer one before the core has stored its mapping, so a
    // message of ours still in flight is waited for, briefly.
    if id.starts_with('$') {
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        loop {
            if let Some(row) = bridge.store().message_by_event(id).await? {
                return Ok(row.remote_id);
            }
            if !in_flight.contains_key(id) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(message_id(sender, id))
}

/// How to refer to a message in an outgoing stanza: by the room's
/// stanza-id in a MUC when we know it, else by the sender's own `id`.
pub async fn reference(bridge: &Bridge, remote: &RemoteMessageId, in_room: bool) -> Result<String> {
    if in_room {
        if let Some(sid) = stanza_id_of(bridge, remote).await? {
            return Ok(sid);
        }
    }
    Ok(own_id(remote).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_ids_split_back_into_sender_and_id() {
        let remote = message_id("room@conference.x/nick|with|bars", "abc");
        assert_eq!(own_id(&remote), "abc");
        assert_eq!(sender_of(&remote), "room@conference.x/nick|with|bars");
    }
}
