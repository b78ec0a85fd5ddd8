//! Mappings a busy portal made and has not committed yet.
//!
//! A portal that sends a burst to Matrix records its deliveries once a
//! second (see `PortalLog::hold`), so a message can be on Matrix for up to
//! a second before its mapping is in the database. A reply, a reaction, an
//! edit or a redaction from Matrix in that second must still find what it
//! targets: [`Store::message_by_event`] looks here first.
//!
//! A redaction from Matrix in that second marks the held mapping redacted.
//! The portal's commit leaves out what is marked by the time it queues;
//! what is marked between then and the commit, the portal deletes again
//! once the commit is done, so a redacted message's mapping never stays.

use super::{MessageRow, Store, Write};
use ruma::{EventId, OwnedEventId};

/// The held mappings, by their Matrix event.
#[derive(Default)]
pub(super) struct HeldMessages(dashmap::DashMap<OwnedEventId, Held>);

/// What became of a held mapping.
enum Held {
    /// Still to be committed.
    Mapping(MessageRow),
    /// Deleted before its portal committed it: left out of the commit, or
    /// deleted again after it.
    Redacted,
}

impl HeldMessages {
    pub(super) fn get(&self, event_id: &str) -> Option<MessageRow> {
        match &*self.0.get(parse(event_id)?)? {
            Held::Mapping(row) => Some(row.clone()),
            Held::Redacted => None,
        }
    }

    /// Marks the held mappings that `writes` delete as redacted: messages
    /// redacted on Matrix in the second before their portal commits them.
    /// Called before the deletion is queued, so that a portal releasing
    /// its mapping afterwards sees the mark.
    pub(super) fn mark_deleted(&self, writes: &[Write]) {
        let deleted = writes.iter().filter_map(|write| match write {
            Write::DeleteMessage(event_id) => parse(event_id),
            _ => None,
        });
        for event_id in deleted {
            if let Some(mut held) = self.0.get_mut(event_id) {
                *held = Held::Redacted;
            }
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
            let held = Held::Mapping(row.clone());
            self.held_messages.0.insert(event_id.to_owned(), held);
        }
    }

    /// The writes of a held batch, less the mappings redacted while they
    /// were held, which it forgets: committing those would bring a
    /// redacted message's mapping back.
    pub(crate) fn still_held(&self, mut writes: Vec<Write>) -> Vec<Write> {
        let held = &self.held_messages.0;
        writes.retain(|write| match write {
            // One whose event does not parse was never held, so never
            // redacted meanwhile.
            Write::Message(row) => parse(&row.event_id).is_none_or(|event_id| {
                held.remove_if(event_id, |_, held| matches!(held, Held::Redacted))
                    .is_none()
            }),
            _ => true,
        });
        writes
    }

    /// Forgets the held mappings among `writes`, now committed (or never
    /// to be). Returns the deletions of those redacted since
    /// [`still_held`](Self::still_held) let them through: their commit
    /// wrote them back, and these deletions, applied next, take them out.
    #[must_use = "the deletions undo mappings redacted while they committed"]
    pub(crate) fn release_messages(&self, writes: &[Write]) -> Vec<Write> {
        // A deletion in the batch itself already took its mapping out.
        let deleted_with = |event_id: &EventId| {
            writes.iter().any(|write| {
                matches!(write, Write::DeleteMessage(deleted) if deleted == event_id.as_str())
            })
        };
        mappings(writes)
            .filter_map(|(event_id, _)| self.held_messages.0.remove(event_id))
            .filter_map(|(event_id, held)| match held {
                Held::Redacted if !deleted_with(&event_id) => {
                    Some(Write::DeleteMessage(event_id.into()))
                }
                _ => None,
            })
            .collect()
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

    async fn is_mapped(store: &Store, event_id: &str) -> bool {
        store.message_by_event(event_id).await.unwrap().is_some()
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
        assert!(store.release_messages(&committed).is_empty());
        assert!(store.release_messages(&dropped).is_empty());
        assert!(is_mapped(&store, "$kept:x").await);
        assert!(!is_mapped(&store, "$lost:x").await);
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
        assert!(!is_mapped(&store, "$redacted:x").await);
    }

    #[tokio::test]
    async fn a_mapping_redacted_while_it_commits_is_deleted_after_the_commit() {
        let (store, _dir) = test_store().await;
        let redacted = mapping("$redacted:x");
        store.hold_messages(std::slice::from_ref(&redacted));
        let batch = store.still_held(vec![redacted]);
        assert_eq!(batch.len(), 1, "not redacted yet when the portal checks");
        // The redaction commits between the portal's check and its commit.
        store.delete_message("$redacted:x").await.unwrap();
        store.apply(batch.clone()).await.unwrap();
        let again = store.release_messages(&batch);
        assert!(matches!(&again[..], [Write::DeleteMessage(id)] if id == "$redacted:x"));
        store.apply(again).await.unwrap();
        assert!(!is_mapped(&store, "$redacted:x").await);
    }

    #[tokio::test]
    async fn a_mapping_deleted_later_in_the_same_commit_is_not_inserted() {
        let (store, _dir) = test_store().await;
        let batch = vec![mapping("$gone:x"), Write::DeleteMessage("$gone:x".into())];
        store.hold_messages(&batch);
        store.apply(batch.clone()).await.unwrap();
        assert!(!is_mapped(&store, "$gone:x").await);
        assert!(
            store.release_messages(&batch).is_empty(),
            "its own batch deleted it: nothing to delete again"
        );
    }
}
