//! The remote outbox: events from the network on their way to Matrix,
//! durable from the moment the network hands them over until the
//! homeserver has them. Event bodies are sealed: they hold messages.

use super::exec::{Binds, Exec};
use super::script::Script;
use super::writer::OnCommit;
use super::{now_ms, numbered_rows, rows_per_statement, Store, MAX_BINDS};
use crate::ids::PortalKey;
use anyhow::Result;
use sqlx::Row;
use std::future::Future;

/// Who waits for an outbox event to reach the homeserver.
pub type OutboxWaiter = tokio::sync::oneshot::Sender<Result<()>>;
pub(super) type OutboxWaiters = std::sync::Arc<dashmap::DashMap<i64, OutboxWaiter>>;

impl Store {
    /// Adds an event to a portal's outbox. It returns once the event's place
    /// in the commit order is fixed; the future it gives resolves with the
    /// event's sequence number once it is committed. A `waiter` hears how
    /// its delivery ended from [`Store::outbox_tell`]; `committed` runs once
    /// the event is committed, in commit order.
    pub async fn outbox_enqueue(
        &self,
        portal: &PortalKey,
        event: String,
        waiter: Option<OutboxWaiter>,
        committed: Option<OnCommit>,
    ) -> Result<impl Future<Output = Result<i64>> + Send + 'static> {
        let job = super::writer::Job::Outbox {
            portal: portal.clone(),
            event,
            waiter: std::sync::Mutex::new(waiter),
            committed: std::sync::Mutex::new(committed),
        };
        let done = self.enqueue(job).await?;
        Ok(async move {
            match done.await? {
                super::writer::Done::Outboxed(seq) => Ok(seq),
                _ => anyhow::bail!("the writer answered an outbox push with something else"),
            }
        })
    }

    /// Takes a delivered (or failed) event out of the outbox.
    pub async fn outbox_done(&self, seq: i64) -> Result<()> {
        self.apply(vec![super::Write::OutboxDone(seq)]).await
    }

    /// Tells an event's waiter, if it has one, how its delivery ended.
    pub fn outbox_tell(&self, seq: i64, result: Result<()>) {
        if let Some((_, waiter)) = self.outbox_waiters.remove(&seq) {
            let _ = waiter.send(result);
        }
    }

    /// A portal's events after `after`, oldest first.
    pub async fn outbox_pending(
        &self,
        portal: &PortalKey,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(OUTBOX_PENDING)
            .bind(&self.bridge_id)
            .bind(portal.id.as_str())
            .bind(portal.receiver_str())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("event")?)))
            .collect()
    }

    /// Portals with events still in the outbox.
    pub async fn outbox_portals(&self) -> Result<Vec<PortalKey>> {
        let rows = sqlx::query(
            "SELECT DISTINCT portal_id, receiver FROM remote_outbox WHERE bridge_id = $1",
        )
        .bind(&self.bridge_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(super::portals::portal_key_from_row)
            .collect()
    }
}

// The statements of the hot path, named so that `super::plans` checks how
// the database runs each.

/// A portal's events after a sequence number, oldest first.
pub(super) const OUTBOX_PENDING: &str =
    "SELECT seq, event FROM remote_outbox WHERE bridge_id = $1 AND portal_id = $2 \
     AND receiver = $3 AND seq > $4 ORDER BY seq LIMIT $5";
/// Binds per queued event.
const PUSH_COLUMNS: usize = 5;

/// Queues `rows` events; with `returning`, returns their seqs (see
/// [`super::returns_rows`] for when not).
pub(super) fn outbox_push_sql(rows: usize, returning: bool) -> String {
    format!(
        "INSERT INTO remote_outbox (bridge_id, portal_id, receiver, event, queued_at) \
         VALUES {}{}",
        numbered_rows(rows, PUSH_COLUMNS),
        if returning { " RETURNING seq" } else { "" }
    )
}
/// Deletes `seqs` delivered events, each looked up by its key. Comparing
/// `bridge_id || ''` keeps SQLite, which has no statistics, from choosing
/// the portal index for a plain `bridge_id =` and walking all the bridge's
/// rows.
pub(super) fn outbox_done_sql(seqs: usize) -> String {
    let list: Vec<String> = (1..=seqs).map(|n| format!("${n}")).collect();
    format!(
        "DELETE FROM remote_outbox WHERE seq IN ({}) AND bridge_id || '' = ${}",
        list.join(", "),
        seqs + 1
    )
}

/// Statements that [`exec_push`] runs for `pushes` events.
pub(super) fn push_statements(pushes: usize) -> usize {
    pushes.div_ceil(rows_per_statement(PUSH_COLUMNS))
}

/// Queues events on `conn`, a statement per batch of them; returns their
/// seqs in the order given. Rows are numbered in the order they are listed,
/// so the smallest seq a statement returns is its first row's.
pub(super) async fn exec_push(
    conn: &mut Exec<'_>,
    bridge_id: &str,
    events: &[(&PortalKey, &str)],
) -> Result<Vec<i64>> {
    let now = now_ms();
    let mut seqs = Vec::with_capacity(events.len());
    for chunk in events.chunks(rows_per_statement(PUSH_COLUMNS)) {
        let returning = conn.returns_rows(chunk.len());
        let sql = conn.in_order_binds(outbox_push_sql(chunk.len(), returning));
        let mut binds = Binds::default();
        for (portal, event) in chunk {
            binds.push(bridge_id);
            binds.push(portal.id.as_str());
            binds.push(portal.receiver_str());
            binds.push(*event);
            binds.push(now);
        }
        let mut returned: Vec<i64> = if !returning {
            // Every row is new (nothing conflicts): consecutive seqs.
            conn.execute(&sql, binds).await?;
            let (last, added) = conn.last_insert().await?;
            (last - added + 1..=last).collect()
        } else {
            conn.fetch_all(&sql, binds).await?
        };
        anyhow::ensure!(
            returned.len() == chunk.len(),
            "the outbox took {} of {} events",
            returned.len(),
            chunk.len()
        );
        returned.sort_unstable();
        seqs.extend(returned);
    }
    Ok(seqs)
}

/// Deletes delivered events, one statement per batch of them.
pub(super) fn outbox_done<'q>(script: &mut Script<'q>, bridge_id: &'q str, seqs: &[i64]) {
    for chunk in seqs.chunks(MAX_BINDS - 1) {
        script.statement(&outbox_done_sql(chunk.len()));
        for seq in chunk {
            script.bind(*seq);
        }
        script.bind(bridge_id);
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::PortalKey;
    use crate::store::writer::OnCommit;
    use crate::store::{test_store, OutboxWaiter, Store};

    /// Adds an event and waits for its commit; returns its seq.
    async fn push(
        store: &Store,
        portal: &PortalKey,
        event: &str,
        waiter: Option<OutboxWaiter>,
        committed: Option<OnCommit>,
    ) -> i64 {
        let committing = store.outbox_enqueue(portal, event.into(), waiter, committed);
        committing.await.unwrap().await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_pushed_at_once_are_handed_on_in_seq_order() {
        let (store, _dir) = test_store().await;
        let store = std::sync::Arc::new(store);
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let pushes = (0..50).map(|n| {
            let (store, order) = (store.clone(), order.clone());
            tokio::spawn(async move {
                let record = Box::new(move |seq| order.lock().unwrap().push(seq));
                let event = format!("e{n}");
                let seq = push(&store, &PortalKey::shared("p"), &event, None, Some(record)).await;
                (seq, event)
            })
        });
        let mut pushed = Vec::new();
        for push in pushes.collect::<Vec<_>>() {
            pushed.push(push.await.unwrap());
        }
        pushed.sort_unstable();
        let seqs: Vec<i64> = pushed.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(*order.lock().unwrap(), seqs);
        let stored = store
            .outbox_pending(&PortalKey::shared("p"), 0, 100)
            .await
            .unwrap();
        assert_eq!(stored, pushed, "each push is told its own event's seq");
    }

    #[tokio::test]
    async fn events_queued_without_waiting_commit_in_the_order_queued() {
        let (store, _dir) = test_store().await;
        let portal = PortalKey::shared("p");
        let mut commits = Vec::new();
        for n in 0..20 {
            let committed = store
                .outbox_enqueue(&portal, format!("e{n}"), None, None)
                .await
                .unwrap();
            commits.push(committed);
        }
        let mut seqs = Vec::new();
        for committed in commits {
            seqs.push(committed.await.unwrap());
        }
        let stored = store.outbox_pending(&portal, 0, 100).await.unwrap();
        let expected: Vec<(i64, String)> = seqs
            .into_iter()
            .zip((0..20).map(|n| format!("e{n}")))
            .collect();
        assert_eq!(stored, expected);
    }

    #[tokio::test]
    async fn outbox_events_stay_until_done_in_order_per_portal() {
        let (store, _dir) = test_store().await;
        let (a, b) = (PortalKey::shared("a"), PortalKey::shared("b"));
        let (done, heard) = tokio::sync::oneshot::channel();
        let first = [
            push(&store, &a, "a1", Some(done), None).await,
            push(&store, &a, "a2", None, None).await,
        ];
        push(&store, &b, "b1", None, None).await;
        assert!(first[0] < first[1]);
        let pending = store.outbox_pending(&a, 0, 10).await.unwrap();
        assert_eq!(
            pending.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
            ["a1", "a2"]
        );
        store.outbox_done(first[0]).await.unwrap();
        store.outbox_tell(first[0], Ok(()));
        assert!(heard.await.unwrap().is_ok());
        let pending = store.outbox_pending(&a, 0, 10).await.unwrap();
        assert_eq!(pending, [(first[1], "a2".to_owned())]);
        let mut portals = store.outbox_portals().await.unwrap();
        portals.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(portals, [a, b]);
    }
}
