//! Mappings a busy portal made and has not committed yet.
//!
//! A portal that sends a burst to Matrix records its deliveries once a
//! second (see `PortalLog::hold`), so a message can be on Matrix for up to
//! a second before its mapping is in the database. A reply, a reaction, an
//! edit or a redaction from Matrix in that second must still find what it
//! targets: [`Store::message_by_event`] looks here first. A redaction
//! from Matrix in that second deletes the held mapping, and the portal's
//! commit then leaves it out.

use super::{MessageRow, Store, Write};
use ruma::{EventId, OwnedEventId};

/// The held mappings, by their Matrix event.
#[derive(Default)]
pub(super) struct HeldMessages(dashmap::DashMap<OwnedEventId, MessageRow>);

impl HeldMessages {
    pub(super) fn get(&self, event_id: &str) -> Option<MessageRow> {
        self.0.get(parse(event_id)?).map(|row| row.clone())
    }

    /// Forgets the held mappings that `writes` delete: a message redacted
    /// on Matrix in the second before its portal commits its mapping.
    pub(super) fn forget_deleted(&self, writes: &[Write]) {
        let deleted = writes.iter().filter_map(|write| match write {
            Write::DeleteMessage(event_id) => parse(event_id),
            _ => None,
        });
        for event_id in deleted {
            self.0.remove(event_id);
        }
    }
}

/// An event ID as the map keys it; `None` for one that never reached it.
fn parse(event_id: &str) -> Option<&EventId> {
    <&EventId>::try_from(event_id).ok()
}

/// The new mappings among `writes`, with their events.
fn mappings(writes: &[Write]) -> impl Iterator<Item = (&EventId, &MessageRow)> {
    writes.iter().filter_map(|write| match write {
        Write::Message(row) => Some((parse(&row.event_id)?, row)),
        _ => None,
    })
}

impl Store {
    /// Makes the new mappings among `writes` findable by their event until
    /// [`release_messages`](Self::release_messages), for a caller that
    /// commits them later.
    pub(crate) fn hold_messages(&self, writes: &[Write]) {
        for (event_id, row) in mappings(writes) {
            self.held_messages
                .0
                .insert(event_id.to_owned(), row.clone());
        }
    }

    /// The writes of a held batch, less the mappings deleted while they
    /// were held: committing those would bring a redacted message's
    /// mapping back.
    pub(crate) fn still_held(&self, mut writes: Vec<Write>) -> Vec<Write> {
        writes.retain(|write| match write {
            // One whose event does not parse was never held, so never
            // deleted meanwhile.
            Write::Message(row) => parse(&row.event_id)
                .is_none_or(|event_id| self.held_messages.0.contains_key(event_id)),
            _ => true,
        });
        writes
    }

    /// Forgets the held mappings among `writes`: they are committed, or
    /// will never be.
    pub(crate) fn release_messages(&self, writes: &[Write]) {
        for (event_id, _) in mappings(writes) {
            self.held_messages.0.remove(event_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortalKey;
    use crate::store::test_store;

    fn mapping(event_id: &str) -> Write {
        Write::Message(MessageRow {
            portal: PortalKey::shared("#c"),
            remote_id: "m1".into(),
            part: "0".into(),
            event_id: event_id.into(),
            room_id: "!r:x".into(),
            sender: "@s:x".into(),
            timestamp: 5,
        })
    }

    #[tokio::test]
    async fn a_held_mapping_is_found_by_its_event_before_it_is_committed() {
        let (store, _dir) = test_store().await;
        let writes = vec![mapping("$held:x")];
        store.hold_messages(&writes);
        let found = store.message_by_event("$held:x").await.unwrap();
        assert_eq!(found.map(|row| row.remote_id), Some("m1".into()));
    }

    #[tokio::test]
    async fn a_released_mapping_is_found_only_if_it_was_committed() {
        let (store, _dir) = test_store().await;
        let (committed, dropped) = (vec![mapping("$kept:x")], vec![mapping("$lost:x")]);
        store.hold_messages(&committed);
        store.hold_messages(&dropped);
        store.apply(committed.clone()).await.unwrap();
        store.release_messages(&committed);
        store.release_messages(&dropped);
        assert!(store.message_by_event("$kept:x").await.unwrap().is_some());
        assert!(store.message_by_event("$lost:x").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_mapping_deleted_while_held_is_left_out_of_its_commit() {
        let (store, _dir) = test_store().await;
        let (redacted, kept) = (mapping("$redacted:x"), mapping("$kept:x"));
        store.hold_messages(&[redacted.clone(), kept.clone()]);
        let delete = Write::DeleteMessage("$redacted:x".into());
        store.apply(vec![delete]).await.unwrap();
        let batch = store.still_held(vec![redacted, kept, Write::OutboxDone(1)]);
        let mapped: Vec<&str> = batch
            .iter()
            .filter_map(|write| match write {
                Write::Message(row) => Some(row.event_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(mapped, ["$kept:x"]);
        assert_eq!(batch.len(), 2, "the outbox's own write stays");
        assert!(store
            .message_by_event("$redacted:x")
            .await
            .unwrap()
            .is_none());
    }
}
