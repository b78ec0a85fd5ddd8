//! Logging transactions: the statements the writer runs to store a
//! homeserver transaction, inside its group commit.

use super::exec::{Binds, Exec};
use super::ingress::{NewIngressEvent, TxnOutcome};
use super::ingress_feed::{index_rows, Logged};
use super::{now_ms, numbered_rows, rows_per_statement};
use anyhow::Result;

/// Records a transaction unless its txnId is known with this digest.
pub(super) const INSERT_TXN: &str = "INSERT INTO ingress_txn (bridge_id, txn_id, digest, received_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (bridge_id, txn_id) DO UPDATE SET digest = excluded.digest, received_at = excluded.received_at \
     WHERE ingress_txn.digest <> excluded.digest RETURNING txn_id";

/// Binds per logged event.
const EVENT_COLUMNS: usize = 6;

/// Logs `rows` events; with `returning`, returns the new ones (see
/// [`super::returns_rows`] for when not).
pub(super) fn insert_events_sql(rows: usize, returning: bool) -> String {
    format!(
        "INSERT INTO ingress_event (bridge_id, event_id, room_id, kind, body, received_at) VALUES {} \
         ON CONFLICT DO NOTHING{}",
        numbered_rows(rows, EVENT_COLUMNS),
        if returning { " RETURNING seq, event_id" } else { "" }
    )
}

/// SQLite: the newest `$2` events up to seq `$1`. Those an insert just
/// added are the newest up to its last: it held the write lock throughout,
/// so no other row, of this bridge or another, came between them.
pub(super) const NEWEST_LOGGED: &str =
    "SELECT seq, event_id FROM ingress_event WHERE seq <= $1 ORDER BY seq DESC LIMIT $2";

/// Stores one transaction on `conn`, inside the writer's database
/// transaction. One of timeline events only goes through
/// [`exec_timeline_transactions`] instead, with the others of its batch.
pub(super) async fn exec_transaction(
    conn: &mut Exec<'_>,
    bridge_id: &str,
    txn_id: &str,
    digest: &str,
    events: &[NewIngressEvent],
) -> Result<(TxnOutcome, Logged)> {
    // Writing first takes SQLite's write lock at once; reading first
    // would fail with BUSY_SNAPSHOT when another write lands in between.
    // The upsert returns a row unless the txnId is known with this digest.
    let binds = Binds::default()
        .bind(bridge_id)
        .bind(txn_id)
        .bind(digest)
        .bind(now_ms());
    let sql = conn.in_order_binds(INSERT_TXN.to_owned());
    let fresh: Vec<String> = conn.fetch_all(&sql, binds).await?;
    if fresh.is_empty() {
        return Ok((TxnOutcome::Replayed, Vec::new()));
    }
    let logged = insert_events(conn, bridge_id, &[events]).await?.remove(0);
    let inserted = logged.len() as u64;
    Ok((TxnOutcome::Stored { inserted }, logged))
}

/// Stores transactions of timeline events only (see [`needs_txn_row`]),
/// their events in as few multi-row statements as the bind limit allows: a
/// group commit of several transactions is then one statement, where each
/// used to be a round trip to the connection's thread of its own.
pub(super) async fn exec_timeline_transactions(
    conn: &mut Exec<'_>,
    bridge_id: &str,
    transactions: &[&[NewIngressEvent]],
) -> Result<Vec<(TxnOutcome, Logged)>> {
    let logged = insert_events(conn, bridge_id, transactions).await?;
    Ok(logged
        .into_iter()
        .map(|logged| {
            // Known events, each of them: a retry.
            let outcome = match logged.len() as u64 {
                0 => TxnOutcome::Replayed,
                inserted => TxnOutcome::Stored { inserted },
            };
            (outcome, logged)
        })
        .collect())
}

/// Logs the events of `transactions`, in order; returns what each added.
async fn insert_events(
    conn: &mut Exec<'_>,
    bridge_id: &str,
    transactions: &[&[NewIngressEvent]],
) -> Result<Vec<Logged>> {
    let now = now_ms();
    let events: Vec<&NewIngressEvent> = transactions.iter().copied().flatten().collect();
    let mut rows = Vec::with_capacity(events.len());
    for chunk in events.chunks(rows_per_statement(EVENT_COLUMNS)) {
        let returning = conn.returns_rows(chunk.len());
        let sql = conn.in_order_binds(insert_events_sql(chunk.len(), returning));
        let mut binds = Binds::default();
        for event in chunk {
            binds.push(bridge_id);
            binds.push(event.event_id.as_deref());
            binds.push(event.room_id.as_deref());
            binds.push(event.kind.as_str());
            binds.push(event.body.as_str());
            binds.push(now);
        }
        if !returning {
            conn.execute(&sql, binds).await?;
            rows.extend(sqlite_logged_rows(conn, chunk).await?);
            continue;
        }
        rows.extend(conn.fetch_all::<(i64, Option<String>)>(&sql, binds).await?);
    }
    Ok(index_rows(transactions, rows))
}

/// SQLite: the seq and event ID of each row the insert of `chunk` just
/// added on `conn`, without RETURNING (see [`Exec::last_insert`];
/// `causeway-bench` ingress went from 60,000–64,000 events/s to
/// 84,000–88,000). When every event was new, they took consecutive seqs in
/// the order given. When some were known, skipped rows may have used up
/// seqs, so the rows added are read back.
async fn sqlite_logged_rows(
    conn: &mut Exec<'_>,
    chunk: &[&NewIngressEvent],
) -> Result<Vec<(i64, Option<String>)>> {
    let (last, added) = conn.last_insert().await?;
    if usize::try_from(added) == Ok(chunk.len()) {
        let first = last - added + 1;
        return Ok(chunk
            .iter()
            .zip(first..)
            .map(|(event, seq)| (seq, event.event_id.clone()))
            .collect());
    }
    if added == 0 {
        return Ok(Vec::new());
    }
    let sql = conn.in_order_binds(NEWEST_LOGGED.to_owned());
    conn.fetch_all(&sql, Binds::default().bind(last).bind(added))
        .await
}

/// Whether a transaction is remembered by its txnId. One of timeline events
/// only is remembered by their event IDs, which deduplicate a retry on
/// their own: it is stored in one statement, with no row for the txnId.
/// Ephemeral events have no ID, so a transaction with one needs the row.
pub(super) fn needs_txn_row(events: &[NewIngressEvent]) -> bool {
    events.iter().any(|event| event.event_id.is_none())
}

/// Statements that storing `transactions` in one batch runs: one for each
/// txnId row, and the multi-row INSERTs of all their events.
pub(super) fn transaction_statements(transactions: &[&[NewIngressEvent]]) -> usize {
    let rows: usize = transactions.iter().map(|events| events.len()).sum();
    let txn_rows = transactions.iter().filter(|events| needs_txn_row(events));
    txn_rows.count() + rows.div_ceil(rows_per_statement(EVENT_COLUMNS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ingress::tests::event;
    use crate::store::{test_store, Store};

    #[test]
    fn numbered_rows_count_placeholders_across_rows() {
        assert_eq!(numbered_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[tokio::test]
    async fn transactions_logged_together_each_get_their_own_new_events() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("0", "d0", vec![event("$known")])
            .await
            .unwrap();
        let first = [event("$a"), event("$known"), event("$b")];
        let second = [event("$b"), event("$c")];
        let retry = [event("$known")];
        let mut conn = store.writer.acquire().await.unwrap();
        let logged =
            exec_timeline_transactions(&mut conn.exec(), "test", &[&first, &second, &retry])
                .await
                .unwrap();
        let outcomes: Vec<_> = logged.iter().map(|(outcome, _)| outcome).collect();
        assert_eq!(
            outcomes,
            [
                &TxnOutcome::Stored { inserted: 2 },
                &TxnOutcome::Stored { inserted: 1 },
                &TxnOutcome::Replayed
            ]
        );
        let indexes = |n: usize| -> Vec<usize> { logged[n].1.iter().map(|(i, _)| *i).collect() };
        assert_eq!(indexes(0), [0, 2], "$b is the first transaction's");
        assert_eq!(indexes(1), [1]);
        let seqs: Vec<i64> = logged
            .iter()
            .flat_map(|(_, l)| l.iter().map(|(_, seq)| *seq))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "seqs follow the transactions' order"
        );
        drop(conn);
        let mut expected = logged_seqs(&store).await;
        expected.remove("$known");
        assert_eq!(handed_seqs(&[&first, &second], &logged), expected);
    }

    #[tokio::test]
    async fn new_events_are_handed_over_with_the_seqs_the_log_gave_them() {
        let (store, _dir) = test_store().await;
        store
            .record_transaction("0", "d0", vec![event("$before")])
            .await
            .unwrap();
        let first = [event("$a"), event("$b")];
        let second = [event("$c")];
        let mut conn = store.writer.acquire().await.unwrap();
        let logged = exec_timeline_transactions(&mut conn.exec(), "test", &[&first, &second])
            .await
            .unwrap();
        drop(conn);
        let mut expected = logged_seqs(&store).await;
        expected.remove("$before");
        assert_eq!(handed_seqs(&[&first, &second], &logged), expected);
    }

    /// Each event's seq as the log holds it.
    async fn logged_seqs(store: &Store) -> std::collections::HashMap<String, i64> {
        store
            .pending_ingress(0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| Some((e.event_id?, e.seq)))
            .collect()
    }

    /// Each event's seq as the insert reported it.
    fn handed_seqs(
        transactions: &[&[NewIngressEvent]],
        logged: &[(TxnOutcome, Logged)],
    ) -> std::collections::HashMap<String, i64> {
        let mut seqs = std::collections::HashMap::new();
        for (events, (_, logged)) in transactions.iter().zip(logged) {
            for (index, seq) in logged {
                seqs.insert(events[*index].event_id.clone().unwrap(), *seq);
            }
        }
        seqs
    }
}
