//! The events the writer commits to the ingress log, handed straight to the
//! dispatcher in commit order, their bodies still in the clear.
//!
//! Without it the dispatcher read back each transaction it was told of: one
//! more round trip to the database's thread, and a decryption, per
//! transaction. The log stays the record: what the feed cannot hold is left
//! out, the dispatcher is told so, and reads those events back.

use super::ingress::{IngressBody, IngressEvent, NewIngressEvent};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Events held for a dispatcher that does not take them, as during a
/// backlog or before it starts. Beyond this, they wait in the log.
const CAPACITY: usize = 8192;

#[derive(Default)]
pub struct IngressFeed {
    state: Mutex<Handed>,
    notify: Notify,
}

/// What the writer handed over since the dispatcher last took.
#[derive(Debug, Default)]
pub struct Handed {
    /// Oldest first, with no gap between them.
    pub events: Vec<IngressEvent>,
    /// Some committed events after `events` were left out: read the log.
    pub overflowed: bool,
}

impl IngressFeed {
    /// Called by the writer with the events of each commit, in commit order.
    /// Once one is left out, so is every later one until the dispatcher
    /// takes, so that what it is given never skips an event.
    pub(super) fn push(&self, events: Vec<IngressEvent>) {
        if events.is_empty() {
            return;
        }
        {
            let mut state = self.lock();
            if !state.overflowed && state.events.len() + events.len() <= CAPACITY {
                state.events.extend(events);
            } else {
                state.overflowed = true;
            }
        }
        self.notify.notify_one();
    }

    /// Says that committed events may be missing from the feed: a batch of
    /// the writer failed, maybe after its insert committed, so that what it
    /// logged was never handed over. The dispatcher then reads the log.
    pub(super) fn left_out(&self) {
        self.lock().overflowed = true;
        self.notify.notify_one();
    }

    /// Everything handed over since the last call.
    pub fn take(&self) -> Handed {
        std::mem::take(&mut *self.lock())
    }

    /// Waits until something is handed over after the last [`Self::take`],
    /// or `timeout`; false on the timeout.
    pub async fn wait(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.notify.notified())
            .await
            .is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, Handed> {
        // A panic while holding it leaves plain data, still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The events a transaction added to the log: each one's index in the
/// transaction and its seq, in seq order.
pub(super) type Logged = Vec<(usize, i64)>;

/// Pairs the rows inserts returned with the events of `transactions` they
/// are: by event ID (an ID twice is the first, which the insert kept), and
/// events without one (ephemeral, never skipped as known) in the order they
/// were inserted, which is seq order. One [`Logged`] per transaction.
pub(super) fn index_rows(
    transactions: &[&[NewIngressEvent]],
    mut rows: Vec<(i64, Option<String>)>,
) -> Vec<Logged> {
    rows.sort_unstable_by_key(|(seq, _)| *seq);
    let positions = || {
        transactions
            .iter()
            .enumerate()
            .flat_map(|(txn, events)| events.iter().enumerate().map(move |(i, e)| (txn, i, e)))
    };
    let mut by_id = std::collections::HashMap::new();
    for (txn, index, event) in positions() {
        if let Some(id) = event.event_id.as_deref() {
            by_id.entry(id).or_insert((txn, index));
        }
    }
    let mut without_id = positions()
        .filter(|(_, _, event)| event.event_id.is_none())
        .map(|(txn, index, _)| (txn, index));
    let mut logged = vec![Logged::new(); transactions.len()];
    for (seq, event_id) in rows {
        let position = match event_id {
            Some(id) => by_id.get(id.as_str()).copied(),
            None => without_id.next(),
        };
        if let Some((txn, index)) = position {
            logged[txn].push((index, seq));
        }
    }
    logged
}

/// The events of a committed transaction, as the dispatcher is handed them.
pub(super) fn handed_over(events: Vec<NewIngressEvent>, logged: &Logged) -> Vec<IngressEvent> {
    let mut events: Vec<Option<NewIngressEvent>> = events.into_iter().map(Some).collect();
    logged
        .iter()
        .filter_map(|&(index, seq)| Some(events.get_mut(index)?.take()?.committed(seq)))
        .collect()
}

impl NewIngressEvent {
    /// The event as the dispatcher is handed it once committed as `seq`.
    pub(super) fn committed(self, seq: i64) -> IngressEvent {
        IngressEvent {
            seq,
            event_id: self.event_id,
            room_id: self.room_id,
            kind: self.kind,
            body: match self.clear {
                Some(clear) => IngressBody::Clear(clear),
                None => IngressBody::Sealed(self.body),
            },
            recovered: false,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IngressBody, IngressKind};

    fn event(seq: i64) -> IngressEvent {
        IngressEvent {
            seq,
            event_id: Some(format!("${seq}")),
            room_id: None,
            kind: IngressKind::Timeline,
            body: IngressBody::Clear("{}".into()),
            recovered: false,
        }
    }

    fn seqs(handed: &Handed) -> Vec<i64> {
        handed.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_are_taken_in_the_order_they_were_handed_over() {
        let feed = IngressFeed::default();
        feed.push(vec![event(1), event(2)]);
        feed.push(vec![event(3)]);
        let handed = feed.take();
        assert_eq!(seqs(&handed), [1, 2, 3]);
        assert!(!handed.overflowed);
        assert!(feed.take().events.is_empty());
    }

    #[test]
    fn a_full_feed_leaves_out_every_later_event_and_says_so() {
        let feed = IngressFeed::default();
        feed.push((1..=CAPACITY as i64).map(event).collect());
        feed.push(vec![event(CAPACITY as i64 + 1)]);
        feed.push(vec![]);
        let handed = feed.take();
        assert_eq!(handed.events.len(), CAPACITY);
        assert!(handed.overflowed);
        feed.push(vec![event(CAPACITY as i64 + 2)]);
        let after = feed.take();
        assert_eq!(seqs(&after), [CAPACITY as i64 + 2]);
        assert!(!after.overflowed, "taking starts afresh");
    }

    #[test]
    fn events_left_out_send_the_dispatcher_to_the_log_and_nothing_after_them_is_handed() {
        let feed = IngressFeed::default();
        feed.push(vec![event(1)]);
        feed.left_out();
        feed.push(vec![event(3)]);
        let handed = feed.take();
        assert_eq!(seqs(&handed), [1]);
        assert!(handed.overflowed);
    }

    #[tokio::test]
    async fn a_push_before_the_wait_is_not_missed() {
        let feed = IngressFeed::default();
        feed.push(vec![event(1)]);
        assert!(feed.wait(Duration::from_secs(5)).await);
        assert!(!feed.wait(Duration::from_millis(10)).await);
    }
}
