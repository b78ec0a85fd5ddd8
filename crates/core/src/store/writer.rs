//! Group commit: one task makes every write of the bridge's hot path, and
//! commits all the writes waiting at once in one database transaction.
//!
//! With sqlx each statement is a round trip to the connection's thread, and
//! each commit a WAL write; batching makes both per batch instead of per
//! event. Every caller still waits for its own commit, so nothing is
//! acknowledged or marked done before it is durable.

use super::exec::{Binds, Exec};
use super::ingress::{mark_processed, NewIngressEvent, TxnOutcome};
use super::ingress_feed::{handed_over, IngressFeed, Logged};
use super::ingress_log::{
    exec_timeline_transactions, exec_transaction, needs_txn_row, transaction_statements,
};
use super::inline_sqlite::is_busy;
use super::messages::{delete_message, delete_reaction, put_messages, put_reaction};
use super::outbox::{exec_push, outbox_done, push_statements, OutboxWaiter, OutboxWaiters};
use super::script::Script;
use super::write_conn::WriteConn;
use super::{MessageRow, ReactionRow, Store};
use crate::ids::PortalKey;
use anyhow::{Context, Result};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One write of the message mapping or the ingress log.
#[derive(Clone, Debug)]
pub enum Write {
    Message(MessageRow),
    Reaction(ReactionRow),
    DeleteMessage(String),
    DeleteReaction(String),
    /// The ingress event with this sequence number has been handled.
    Processed(i64),
    /// The outbox event with this sequence number is on the homeserver.
    OutboxDone(i64),
}

pub(super) enum Job {
    Transaction {
        txn_id: String,
        digest: String,
        events: Vec<NewIngressEvent>,
    },
    Writes(Vec<Write>),
    Outbox {
        portal: PortalKey,
        event: String,
        /// Registered under the event's seq before the commit, so that the
        /// portal task, which can read the event only after it, finds it.
        waiter: std::sync::Mutex<Option<OutboxWaiter>>,
        /// Called with the event's seq once it is committed.
        committed: std::sync::Mutex<Option<OnCommit>>,
    },
}

/// What an outbox push does once committed. The writer calls it in the
/// order it commits, which is seq order: events pushed to one portal from
/// several tasks at once reach its lane in order, as the lane needs.
pub type OnCommit = Box<dyn FnOnce(i64) + Send>;

pub(super) enum Done {
    /// The outcome, and the events added to the log, which the writer
    /// hands to the dispatcher.
    Transaction(TxnOutcome, Logged),
    Writes,
    Outboxed(i64),
}

type Request = (Job, oneshot::Sender<Result<Done>>);

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

pub(super) fn spawn(
    conn: WriteConn,
    bridge_id: String,
    waiters: OutboxWaiters,
    feed: Arc<IngressFeed>,
) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(
        Writer {
            conn,
            bridge_id,
            waiters,
            feed,
        },
        rx,
    ));
    tx
}

/// What the writer task writes with.
struct Writer {
    conn: WriteConn,
    bridge_id: String,
    waiters: OutboxWaiters,
    /// Where committed ingress events go, in commit order.
    feed: Arc<IngressFeed>,
}

async fn run(writer: Writer, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        metrics::histogram!("causeway_db_batch_jobs").record(batch.len() as f64);
        let jobs: Vec<&Job> = batch.iter().map(|(job, _)| job).collect();
        let committed = crate::health::guard("database writer", commit(&writer, &jobs))
            .await
            .unwrap_or_else(|| Err(anyhow::anyhow!("the database writer failed on this batch")));
        // A failed batch may have committed its transactions' events before
        // it failed (see `one_statement`): nobody would hand them over.
        if committed.is_err()
            && jobs
                .iter()
                .any(|job| matches!(job, Job::Transaction { .. }))
        {
            writer.feed.left_out();
        }
        match committed {
            Ok(results) => {
                for ((job, reply), result) in batch.into_iter().zip(results) {
                    after_commit(&writer, job, &result);
                    let _ = reply.send(Ok(result));
                }
            }
            // One bad job must not fail the others: retry each on its own.
            Err(err) if batch.len() > 1 => {
                tracing::warn!("a batched write failed, retrying its jobs one by one: {err:#}");
                for (job, reply) in batch {
                    let result = commit(&writer, &[&job]).await.map(|mut r| r.remove(0));
                    if let Ok(done) = &result {
                        after_commit(&writer, job, done);
                    }
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(anyhow::anyhow!("{err:#}")));
                }
            }
        }
    }
}

/// Hands a committed job's events on, in commit order: outbox events to
/// their portal's lane, ingress events to the dispatcher.
fn after_commit(writer: &Writer, job: Job, done: &Done) {
    match (job, done) {
        (Job::Outbox { committed, .. }, Done::Outboxed(seq)) => {
            if let Some(then) = committed.lock().ok().and_then(|mut c| c.take()) {
                then(*seq);
            }
        }
        (Job::Transaction { events, .. }, Done::Transaction(_, logged)) => {
            writer.feed.push(handed_over(events, logged));
        }
        _ => {}
    }
}

/// Runs jobs in one database transaction; one result per job. Outbox
/// waiters taken out of their jobs go back in when the commit fails, so a
/// retry registers them again. A batch that finds SQLite locked on the
/// writer's thread runs again through sqlx, which waits for the lock.
async fn commit(writer: &Writer, jobs: &[&Job]) -> Result<Vec<Done>> {
    let mut conn = writer.conn.acquire().await?;
    let mut result = try_commit(writer, &mut conn.exec(), jobs).await;
    if matches!(&result, Err(err) if is_busy(err)) {
        result = try_commit(writer, &mut conn.through_sqlx(), jobs).await;
    }
    result
}

async fn try_commit(writer: &Writer, conn: &mut Exec<'_>, jobs: &[&Job]) -> Result<Vec<Done>> {
    let mut registered = Vec::new();
    let result = commit_on(writer, conn, jobs, &mut registered).await;
    if result.is_err() {
        if let Exec::Inline(db) = conn {
            db.roll_back();
        }
        for (seq, job) in registered {
            if let (Some((_, waiter)), Job::Outbox { waiter: slot, .. }) =
                (writer.waiters.remove(&seq), job)
            {
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(waiter);
                }
            }
        }
    }
    result
}

async fn commit_on<'a>(
    writer: &Writer,
    conn: &mut Exec<'_>,
    jobs: &[&'a Job],
    registered: &mut Vec<(i64, &'a Job)>,
) -> Result<Vec<Done>> {
    // Writes alone return nothing: on SQLite they go as one script, with
    // BEGIN and COMMIT, in a single round trip.
    if jobs.iter().all(|job| matches!(job, Job::Writes(_))) {
        let mut script = Script::new(conn);
        add_writes(&mut script, &writer.bridge_id, jobs);
        script.commit(conn).await?;
        return Ok(jobs.iter().map(|_| Done::Writes).collect());
    }
    if one_statement(jobs, conn) {
        return run_jobs(writer, conn, jobs, registered).await;
    }
    if let Exec::Sqlx(sqlx_conn) = conn {
        let mut tx = sqlx::Connection::begin(&mut **sqlx_conn).await?;
        let results = run_jobs(writer, &mut Exec::Sqlx(&mut tx), jobs, registered).await?;
        tx.commit().await?;
        return Ok(results);
    }
    conn.execute("BEGIN", Binds::default()).await?;
    let results = run_jobs(writer, conn, jobs, registered).await?;
    conn.execute("COMMIT", Binds::default()).await?;
    Ok(results)
}

/// Whether `jobs` are one statement, which commits on its own, atomically,
/// where BEGIN and COMMIT would be two more round trips to the connection's
/// thread. It is the common case when events come one at a time (an IRC
/// line into the outbox, a transaction from Synapse); with transactions in
/// flight at once, the round trips cost ingress a sixth of its rate.
///
/// SQLite learns the seqs of a multi-row insert with a question after it
/// (see [`Exec::returns_rows`]), which could fail once the insert has
/// committed. Transactions may still take this path: a retry finds their
/// events known, and the feed sends the dispatcher to the log for them.
/// Outbox pushes may not: a retry would queue their events again.
fn one_statement(jobs: &[&Job], conn: &Exec<'_>) -> bool {
    let transactions: Option<Vec<&[NewIngressEvent]>> = jobs
        .iter()
        .map(|job| match job {
            Job::Transaction { events, .. } => Some(events.as_slice()),
            _ => None,
        })
        .collect();
    if let Some(transactions) = transactions {
        // Their events go in one multi-row INSERT.
        return transaction_statements(&transactions) == 1;
    }
    // Pushes alone are one multi-row INSERT.
    jobs.iter().all(|job| matches!(job, Job::Outbox { .. }))
        && push_statements(jobs.len()) == 1
        && conn.returns_rows(jobs.len())
}

/// Runs jobs' statements on `conn`; the caller commits.
async fn run_jobs<'a>(
    writer: &Writer,
    conn: &mut Exec<'_>,
    jobs: &[&'a Job],
    registered: &mut Vec<(i64, &'a Job)>,
) -> Result<Vec<Done>> {
    let bridge_id = writer.bridge_id.as_str();
    let mut results = Vec::with_capacity(jobs.len());
    // Outbox pushes, with where their result goes: one statement for all.
    let mut pushes = Vec::new();
    // Transactions of timeline events in a row, logged together; with where
    // their results go. Logged before the next one with a txnId row, so
    // that seqs follow commit order.
    let mut timeline = TimelineRun::default();
    for job in jobs {
        match job {
            Job::Transaction { events, .. } if !needs_txn_row(events) => {
                timeline.add(results.len(), events);
                results.push(Done::Writes);
            }
            Job::Transaction {
                txn_id,
                digest,
                events,
            } => {
                timeline.log(conn, bridge_id, &mut results).await?;
                let (outcome, logged) =
                    exec_transaction(conn, bridge_id, txn_id, digest, events).await?;
                results.push(Done::Transaction(outcome, logged));
            }
            Job::Writes(_) => results.push(Done::Writes),
            Job::Outbox { portal, event, .. } => {
                pushes.push((results.len(), *job, (portal, event.as_str())));
                results.push(Done::Outboxed(0));
            }
        }
    }
    timeline.log(conn, bridge_id, &mut results).await?;
    let events: Vec<_> = pushes.iter().map(|(_, _, event)| *event).collect();
    let seqs = exec_push(conn, bridge_id, &events).await?;
    for ((index, job, _), seq) in pushes.into_iter().zip(seqs) {
        results[index] = Done::Outboxed(seq);
        if let Job::Outbox { waiter, .. } = job {
            if let Some(waiter) = waiter.lock().ok().and_then(|mut w| w.take()) {
                writer.waiters.insert(seq, waiter);
                registered.push((seq, job));
            }
        }
    }
    let mut script = Script::new(conn);
    add_writes(&mut script, bridge_id, jobs);
    script.run(conn).await?;
    Ok(results)
}

/// Adds the writes among `jobs` to `script`: reactions and removals in
/// order, then the new messages, the events processed and the outbox events
/// delivered, each kind in as few statements as it takes.
fn add_writes<'q>(script: &mut Script<'q>, bridge_id: &'q str, jobs: &[&'q Job]) {
    let mut messages = Vec::new();
    let mut processed = Vec::new();
    let mut delivered = Vec::new();
    let writes = jobs.iter().flat_map(|job| match job {
        Job::Writes(writes) => writes.as_slice(),
        _ => &[],
    });
    for write in writes {
        match write {
            Write::Message(row) => messages.push(row),
            Write::Processed(seq) => processed.push(*seq),
            Write::OutboxDone(seq) => delivered.push(*seq),
            Write::Reaction(row) => put_reaction(script, bridge_id, row),
            Write::DeleteMessage(event_id) => {
                // Inserted after the removals, so one deleted later in the
                // batch must not be inserted at all.
                messages.retain(|row: &&MessageRow| row.event_id != *event_id);
                delete_message(script, bridge_id, event_id)
            }
            Write::DeleteReaction(event_id) => delete_reaction(script, bridge_id, event_id),
        }
    }
    put_messages(script, bridge_id, &messages);
    mark_processed(script, bridge_id, &processed);
    outbox_done(script, bridge_id, &delivered);
}

/// Transactions of timeline events waiting to be logged in one go.
#[derive(Default)]
struct TimelineRun<'a> {
    /// Each one's index among the batch's results.
    results: Vec<usize>,
    transactions: Vec<&'a [NewIngressEvent]>,
}

impl<'a> TimelineRun<'a> {
    fn add(&mut self, result: usize, events: &'a [NewIngressEvent]) {
        self.results.push(result);
        self.transactions.push(events);
    }

    /// Logs the transactions added since the last call.
    async fn log(
        &mut self,
        conn: &mut Exec<'_>,
        bridge_id: &str,
        results: &mut [Done],
    ) -> Result<()> {
        if self.transactions.is_empty() {
            return Ok(());
        }
        let logged = exec_timeline_transactions(conn, bridge_id, &self.transactions).await?;
        for (index, (outcome, logged)) in self.results.drain(..).zip(logged) {
            results[index] = Done::Transaction(outcome, logged);
        }
        self.transactions.clear();
        Ok(())
    }
}

impl Store {
    /// Commits writes; returns once they are durable.
    pub async fn apply(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.held_messages.mark_deleted(&writes);
        self.write(Job::Writes(writes)).await.map(drop)
    }

    pub(super) async fn write(&self, job: Job) -> Result<Done> {
        self.enqueue(job).await?.await
    }

    /// Queues a job behind the ones queued before it, and returns once it
    /// is queued: the future it gives resolves when the job is committed.
    /// Jobs commit in the order they were queued, so a caller with nothing
    /// to acknowledge can queue its next job without waiting for this one.
    pub(super) async fn enqueue(
        &self,
        job: Job,
    ) -> Result<impl Future<Output = Result<Done>> + Send + 'static> {
        let (reply, done) = oneshot::channel();
        self.write_queue
            .send((job, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the database writer stopped"))?;
        Ok(async move { done.await.context("the database writer stopped")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{test_store, Dialect};
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn a_write_that_finds_sqlite_locked_waits_without_holding_up_the_runtime() {
        let (store, _dir) = test_store().await;
        if store.dialect() == Dialect::Postgres {
            return;
        }
        let mut locker = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *locker)
            .await
            .unwrap();
        let writing = tokio::spawn({
            let store = store.clone();
            async move { store.apply(vec![Write::Processed(1)]).await }
        });
        // The test's runtime has one thread: a writer waiting for the lock
        // on it would hold this sleep up for the busy timeout (10 s).
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(!writing.is_finished(), "the write waits for the lock");
        sqlx::query("COMMIT").execute(&mut *locker).await.unwrap();
        writing.await.unwrap().unwrap();
    }
}
