//! The ingress log: homeserver transactions, stored before they are answered.

use super::script::Script;
use super::{Store, MAX_BINDS};
use anyhow::Result;
use sqlx::Row;

/// Whether an event came in the timeline or the ephemeral list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressKind {
    Timeline,
    Ephemeral,
}

impl IngressKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Timeline => "event",
            Self::Ephemeral => "ephemeral",
        }
    }
}

/// An event in the log.
#[derive(Clone, Debug)]
pub struct IngressEvent {
    pub seq: i64,
    pub event_id: Option<String>,
    pub room_id: Option<String>,
    pub kind: IngressKind,
    pub body: IngressBody,
    /// Read back from the log at startup: it may have been handled before a
    /// crash, so its handler checks the message table first.
    pub recovered: bool,
}

/// The JSON of an event as the homeserver sent it.
#[derive(Clone, Debug)]
pub enum IngressBody {
    /// As the log keeps it: sealed, read back from the log.
    Sealed(String),
    /// Handed over by the writer as it committed the event (see
    /// [`super::IngressFeed`]): never stored this way.
    Clear(String),
}

/// An event about to be logged; `seq` is assigned by the database.
pub struct NewIngressEvent {
    pub event_id: Option<String>,
    pub room_id: Option<String>,
    pub kind: IngressKind,
    /// What the log keeps: the JSON, sealed.
    pub body: String,
    /// The JSON in the clear, handed to the dispatcher once the event is
    /// committed; `None` hands `body` over as it is stored.
    pub clear: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// A retry of a transaction already stored: nothing new was written.
    Replayed,
    /// Stored; `inserted` counts the events that were not already known.
    Stored { inserted: u64 },
}

impl TxnOutcome {
    /// How many new events the transaction brought.
    pub fn inserted(&self) -> u64 {
        match self {
            Self::Replayed => 0,
            Self::Stored { inserted } => *inserted,
        }
    }
}

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<IngressEvent> {
    let kind: String = row.try_get("kind")?;
    Ok(IngressEvent {
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        room_id: row.try_get("room_id")?,
        kind: if kind == "ephemeral" {
            IngressKind::Ephemeral
        } else {
            IngressKind::Timeline
        },
        body: IngressBody::Sealed(row.try_get("body")?),
        recovered: false,
    })
}

// The statements of the hot path, named so that `super::plans` checks how
// the database runs each.

/// Unprocessed events after a sequence number, oldest first.
pub(super) const PENDING: &str = "SELECT e.seq, e.event_id, e.room_id, e.kind, e.body \
     FROM ingress_pending p JOIN ingress_event e ON e.seq = p.seq \
     WHERE p.bridge_id = $1 AND p.seq > $2 ORDER BY p.seq LIMIT $3";

/// One room's unprocessed events in a range of sequence numbers; with
/// `in_a_room` false, those of no room (and `$2` is NULL).
pub(super) fn pending_in_room_sql(in_a_room: bool) -> String {
    let room = if in_a_room {
        "p.room_id = $2"
    } else {
        "p.room_id IS NULL AND $2 IS NULL"
    };
    format!(
        "SELECT e.seq, e.event_id, e.room_id, e.kind, e.body \
         FROM ingress_pending p JOIN ingress_event e ON e.seq = p.seq \
         WHERE p.bridge_id = $1 AND {room} AND p.seq > $3 AND p.seq <= $4 \
         ORDER BY p.seq LIMIT $5"
    )
}

/// Marks `seqs` events processed: they leave `ingress_pending`, and their
/// rows of the log stay as they are (see that table's migration).
pub(super) fn mark_processed_sql(seqs: usize) -> String {
    let list: Vec<String> = (2..seqs + 2).map(|n| format!("${n}")).collect();
    format!(
        "DELETE FROM ingress_pending WHERE bridge_id = $1 AND seq IN ({})",
        list.join(", ")
    )
}

impl Store {
    /// Stores one transaction, committed when this returns.
    ///
    /// A txnId seen before with the same digest is a retry and a no-op. The
    /// same txnId with another digest is a homeserver that started counting
    /// from 1 again, so it is stored; events already known by ID are skipped.
    pub async fn record_transaction(
        &self,
        txn_id: &str,
        digest: &str,
        events: Vec<NewIngressEvent>,
    ) -> Result<TxnOutcome> {
        let job = super::writer::Job::Transaction {
            txn_id: txn_id.to_owned(),
            digest: digest.to_owned(),
            events,
        };
        match self.write(job).await? {
            super::writer::Done::Transaction(outcome, _) => Ok(outcome),
            _ => anyhow::bail!("the writer answered a transaction with something else"),
        }
    }

    /// Unprocessed events after `after_seq`, oldest first. The writer commits
    /// ingress in sequence order, so a reader's cursor never skips a row.
    pub async fn pending_ingress(&self, after_seq: i64, limit: i64) -> Result<Vec<IngressEvent>> {
        let rows = sqlx::query(PENDING)
            .bind(&self.bridge_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Unprocessed events of one room after `after_seq` and up to `up_to`,
    /// oldest first: how a room whose queue overflowed catches up. `None` is
    /// the events that belong to no room.
    pub async fn pending_ingress_in_room(
        &self,
        room_id: Option<&str>,
        after_seq: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<IngressEvent>> {
        let rows = sqlx::query(&pending_in_room_sql(room_id.is_some()))
            .bind(&self.bridge_id)
            .bind(room_id)
            .bind(after_seq)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The highest sequence number logged so far, 0 if none.
    pub async fn last_ingress_seq(&self) -> Result<i64> {
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM ingress_event WHERE bridge_id = $1")
                .bind(&self.bridge_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(max.unwrap_or(0))
    }

    pub async fn mark_processed(&self, seqs: &[i64]) -> Result<()> {
        self.apply(
            seqs.iter()
                .map(|seq| super::Write::Processed(*seq))
                .collect(),
        )
        .await
    }

    /// Forgets processed events and transactions older than the cutoff. Their
    /// IDs no longer deduplicate after that, which no homeserver retry needs.
    pub async fn prune_ingress(&self, older_than_ms: i64) -> Result<u64> {
        let events = sqlx::query(
            "DELETE FROM ingress_event WHERE bridge_id = $1 AND received_at < $2 AND NOT EXISTS \
             (SELECT 1 FROM ingress_pending p WHERE p.bridge_id = ingress_event.bridge_id AND p.seq = ingress_event.seq)",
        )
            .bind(&self.bridge_id)
            .bind(older_than_ms)
            .execute(&mut *self.writer.acquire().await?)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM ingress_txn WHERE bridge_id = $1 AND received_at < $2")
            .bind(&self.bridge_id)
            .bind(older_than_ms)
            .execute(&mut *self.writer.acquire().await?)
            .await?;
        Ok(events)
    }
}

/// Marks events processed.
pub(super) fn mark_processed<'q>(script: &mut Script<'q>, bridge_id: &'q str, seqs: &[i64]) {
    for chunk in seqs.chunks(MAX_BINDS - 1) {
        script
            .statement(&mark_processed_sql(chunk.len()))
            .bind(bridge_id);
        for seq in chunk {
            script.bind(*seq);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::test_store;

    /// A timeline event of room `!r` whose body names it.
    pub(in crate::store) fn event(id: &str) -> NewIngressEvent {
        NewIngressEvent {
            event_id: Some(id.into()),
            room_id: Some("!r".into()),
            kind: IngressKind::Timeline,
            body: format!("{{\"event_id\":\"{id}\"}}"),
            clear: None,
        }
    }

    #[tokio::test]
    async fn a_rooms_pending_events_are_read_back_alone_and_in_order() {
        let (store, _dir) = test_store().await;
        let mut other = event("$other");
        other.room_id = Some("!elsewhere".into());
        let mut roomless = event("$roomless");
        roomless.room_id = None;
        let events = vec![event("$a"), other, roomless, event("$b"), event("$c")];
        store.record_transaction("1", "d1", events).await.unwrap();
        let ids = |events: Vec<IngressEvent>| -> Vec<String> {
            events.into_iter().filter_map(|e| e.event_id).collect()
        };
        let room = store
            .pending_ingress_in_room(Some("!r"), 0, i64::MAX, 10)
            .await
            .unwrap();
        let (first, last) = (room[0].seq, room[2].seq);
        assert_eq!(ids(room), ["$a", "$b", "$c"]);
        let after = store
            .pending_ingress_in_room(Some("!r"), first, i64::MAX, 1)
            .await
            .unwrap();
        assert_eq!(ids(after), ["$b"]);
        let before_last = store
            .pending_ingress_in_room(Some("!r"), 0, last - 1, 10)
            .await
            .unwrap();
        assert_eq!(ids(before_last), ["$a", "$b"]);
        let none = store
            .pending_ingress_in_room(None, 0, i64::MAX, 10)
            .await
            .unwrap();
        assert_eq!(ids(none), ["$roomless"]);
    }

    #[tokio::test]
    async fn a_retried_transaction_is_a_no_op() {
        let (store, _dir) = test_store().await;
        let first = store
            .record_transaction("1", "d1", vec![event("$a")])
            .await
            .unwrap();
        assert_eq!(first.inserted(), 1);
        let retry = store
            .record_transaction("1", "d1", vec![event("$a")])
            .await
            .unwrap();
        assert!(matches!(retry, TxnOutcome::Replayed));
        assert_eq!(store.pending_ingress(0, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_reused_txn_id_with_new_events_is_stored() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("1", "d1", vec![event("$a")])
            .await
            .unwrap();
        let outcome = store
            .record_transaction("1", "d2", vec![event("$b")])
            .await
            .unwrap();
        assert_eq!(outcome.inserted(), 1);
        let ids: Vec<_> = store
            .pending_ingress(0, 10)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.event_id)
            .collect();
        assert_eq!(ids, ["$a", "$b"]);
    }

    #[tokio::test]
    async fn events_are_deduplicated_by_id_across_transactions() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("1", "d1", vec![event("$a")])
            .await
            .unwrap();
        let outcome = store
            .record_transaction("2", "d2", vec![event("$a"), event("$b")])
            .await
            .unwrap();
        assert_eq!(outcome, TxnOutcome::Stored { inserted: 1 });
    }

    #[tokio::test]
    async fn processed_events_leave_the_pending_list_but_still_deduplicate() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("1", "d1", vec![event("$a"), event("$b")])
            .await
            .unwrap();
        let pending = store.pending_ingress(0, 10).await.unwrap();
        store.mark_processed(&[pending[0].seq]).await.unwrap();
        let left = store.pending_ingress(0, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event_id.as_deref(), Some("$b"));
        let again = store
            .record_transaction("9", "d9", vec![event("$a")])
            .await
            .unwrap();
        assert_eq!(again.inserted(), 0);
    }

    #[tokio::test]
    async fn a_retried_transaction_with_an_ephemeral_event_is_a_no_op() {
        let (store, _dir) = test_store().await;
        let receipt = || NewIngressEvent {
            event_id: None,
            room_id: Some("!r".into()),
            kind: IngressKind::Ephemeral,
            body: "{}".into(),
            clear: None,
        };
        let events = || vec![event("$a"), receipt()];
        store.record_transaction("1", "d1", events()).await.unwrap();
        let retry = store.record_transaction("1", "d1", events()).await.unwrap();
        assert_eq!(retry, TxnOutcome::Replayed);
        assert_eq!(store.pending_ingress(0, 10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn committed_events_are_handed_over_in_the_clear_with_their_seq() {
        let (store, _dir) = test_store().await;
        let clear = |mut event: NewIngressEvent, json: &str| {
            event.clear = Some(json.into());
            event
        };
        let receipt = NewIngressEvent {
            event_id: None,
            room_id: Some("!r".into()),
            kind: IngressKind::Ephemeral,
            body: "sealed receipt".into(),
            clear: Some("receipt".into()),
        };
        store
            .record_transaction("1", "d1", vec![clear(event("$a"), "a")])
            .await
            .unwrap();
        let events = vec![
            clear(event("$b"), "b"),
            receipt,
            clear(event("$a"), "a again"),
            clear(event("$c"), "c"),
        ];
        store.record_transaction("2", "d2", events).await.unwrap();
        let handed = store.ingress_feed().take();
        let got: Vec<_> = handed
            .events
            .iter()
            .map(|e| match &e.body {
                IngressBody::Clear(body) => (e.seq, body.as_str()),
                IngressBody::Sealed(_) => panic!("handed over sealed"),
            })
            .collect();
        let logged: Vec<i64> = store
            .pending_ingress(0, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        let seqs: Vec<i64> = got.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, logged, "each with the seq the log gave it");
        let bodies: Vec<&str> = got.iter().map(|(_, body)| *body).collect();
        assert_eq!(
            bodies,
            ["a", "b", "receipt", "c"],
            "a known event is not handed over again"
        );
        assert!(!handed.overflowed);
    }

    #[tokio::test]
    async fn ephemeral_events_without_ids_are_all_kept() {
        let (store, _dir) = test_store().await;
        let typing = |n: u8| NewIngressEvent {
            event_id: None,
            room_id: Some("!r".into()),
            kind: IngressKind::Ephemeral,
            body: format!("{n}"),
            clear: None,
        };
        store
            .record_transaction("1", "d1", vec![typing(1), typing(2)])
            .await
            .unwrap();
        let pending = store.pending_ingress(0, 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|e| e.kind == IngressKind::Ephemeral));
    }

    #[tokio::test]
    async fn pruning_forgets_only_old_processed_events() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("1", "d1", vec![event("$a"), event("$b")])
            .await
            .unwrap();
        let pending = store.pending_ingress(0, 10).await.unwrap();
        store.mark_processed(&[pending[0].seq]).await.unwrap();
        assert_eq!(
            store
                .prune_ingress(crate::store::now_ms() + 1)
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.pending_ingress(0, 10).await.unwrap().len(), 1);
    }

    #[test]
    fn the_pending_table_migration_keeps_exactly_the_unprocessed_events() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for sql in [
            include_str!("../../../../migrations/sqlite/0001_core.sql"),
            include_str!("../../../../migrations/sqlite/0002_room_pending.sql"),
            include_str!("../../../../migrations/sqlite/0003_remote_outbox.sql"),
            include_str!("../../../../migrations/sqlite/0004_login_data.sql"),
            include_str!("../../../../migrations/sqlite/0005_portal_login.sql"),
        ] {
            db.execute_batch(sql).unwrap();
        }
        db.execute_batch(
            "INSERT INTO ingress_event (bridge_id, event_id, room_id, kind, body, received_at, processed_at) \
             VALUES ('test', '$done', '!r', 'event', '{}', 1, 2), ('test', '$todo', '!r', 'event', '{}', 1, NULL)",
        )
        .unwrap();
        db.execute_batch(include_str!(
            "../../../../migrations/sqlite/0006_ingress_pending.sql"
        ))
        .unwrap();
        db.execute_batch(
            "INSERT INTO ingress_event (bridge_id, event_id, room_id, kind, body, received_at) \
             VALUES ('test', '$new', NULL, 'event', '{}', 3)",
        )
        .unwrap();
        let mut pending = db
            .prepare(
                "SELECT e.event_id, p.room_id FROM ingress_pending p \
                 JOIN ingress_event e ON e.seq = p.seq ORDER BY p.seq",
            )
            .unwrap();
        let pending: Vec<(String, Option<String>)> = pending
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            pending,
            [
                ("$todo".to_owned(), Some("!r".to_owned())),
                ("$new".to_owned(), None)
            ]
        );
    }
}
