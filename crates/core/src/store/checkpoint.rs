//! SQLite: a task of its own copies the write-ahead log into the database,
//! off the writer's path.
//!
//! Left to SQLite, the commit that fills the log copies it and syncs the
//! database file before it returns, and every write queued behind it waits:
//! those pauses were the ingress p99 (47–53 ms in `causeway-bench`; 9–13 ms
//! with this task). Here a separate connection copies what is committed
//! while the writer goes on. The log starts over only once it is copied whole,
//! between two commits; under writes that never pause that moment may not
//! come, so past [`RESTART_PAGES`] the copy also waits for the writer, as
//! SQLite's own would have, and the log starts over.

use super::write_conn::LogShare;
use sqlx::AnyPool;
use std::time::{Duration, Instant};

/// How often the checkpointer looks whether to copy. Copying less often
/// copies a page that many commits dirtied once instead of many times: with
/// a million events of backlog, copying every 1,000 pages (SQLite's
/// default) halved the processing rate. Every 250 ms, the copies that wait
/// for the writer came four times as often and doubled the p99 again.
const INTERVAL: Duration = Duration::from_secs(1);

/// Writes since the last copy that make the next turn copy. Below it, a
/// turn copies only once [`LIGHT_INTERVAL`] has passed. At Synapse's pace,
/// a few dozen commits a second, copying every second rewrote the same few
/// pages each time and synced both files: 0.15 fsyncs per Matrix message,
/// and 2.6% of the bridge's CPU in a profile of them. Ten times fewer
/// copies synced ten times less. The log stays under about 2,000 pages
/// (8 MiB) either way.
const BUSY_WRITES: u64 = 256;

/// Longest the checkpointer waits between copies of a lightly written log.
const LIGHT_INTERVAL: Duration = Duration::from_secs(10);

/// Pages of log (40 MiB) beyond which a copy waits for the writer so that
/// the log can start over.
pub(super) const RESTART_PAGES: i64 = 10_000;

/// How long a copy that waits for the writer waits at most; then it gives
/// up until the next turn rather than hold up the writes behind it.
const RESTART_WAIT_MS: u32 = 200;

/// Looks every [`INTERVAL`] whether to copy the log, on a connection of
/// `pool` (the checkpointer's own); `log` counts the writer's writes, and
/// tells the writer when the log was copied whole. Stops when the pool is
/// closed.
pub(super) fn spawn(pool: AnyPool, log: LogShare) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is now, with nothing to copy yet.
        tick.tick().await;
        let mut copied = Copied::now(&log);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            if !copied.due(log.writes(), Instant::now()) {
                continue;
            }
            copied = Copied::now(&log);
            if let Err(err) = checkpoint(&pool, &log, RESTART_PAGES).await {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!("cannot copy the SQLite write-ahead log into the database: {err:#}");
            }
        }
    });
}

/// When the log was last copied, and how many writes there were by then.
struct Copied {
    writes: u64,
    at: Instant,
}

impl Copied {
    /// A copy made now, after the writes counted so far.
    fn now(log: &LogShare) -> Self {
        Self {
            writes: log.writes(),
            at: Instant::now(),
        }
    }

    /// Whether a turn with `writes` so far, at `now`, copies the log.
    fn due(&self, writes: u64, now: Instant) -> bool {
        writes.saturating_sub(self.writes) >= BUSY_WRITES
            || now.saturating_duration_since(self.at) >= LIGHT_INTERVAL
    }
}

/// One turn: copies what no reader still needs; if the log is past
/// `restart_pages`, waits for the writer so that the log starts over. Tells
/// `log` when every page of the log is copied.
async fn checkpoint(pool: &AnyPool, log: &LogShare, restart_pages: i64) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let (busy, log_pages, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await?;
    if busy == 0 && log_pages > 0 && copied == log_pages {
        log.copied_whole();
    }
    if log_pages > restart_pages {
        sqlx::query(&format!("PRAGMA busy_timeout={RESTART_WAIT_MS}"))
            .execute(&mut *conn)
            .await?;
        let restarted = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&mut *conn)
            .await;
        sqlx::query(&format!("PRAGMA busy_timeout={}", super::BUSY_TIMEOUT_MS))
            .execute(&mut *conn)
            .await?;
        let (busy, _, _) = restarted?;
        if busy != 0 {
            tracing::debug!(log_pages, "the write-ahead log could not start over yet");
        } else {
            log.copied_whole();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IngressKind, NewIngressEvent, Store};

    async fn log_events(store: &Store, txn: usize, count: usize) {
        let events = (0..count)
            .map(|n| NewIngressEvent {
                event_id: Some(format!("${txn}-{n}")),
                room_id: Some("!r".into()),
                kind: IngressKind::Timeline,
                body: "x".repeat(500),
                clear: None,
            })
            .collect();
        store
            .record_transaction(&txn.to_string(), "d", events)
            .await
            .unwrap();
    }

    async fn sqlite_store() -> (Store, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let uri = format!("sqlite:{}?mode=rwc", path.display());
        (Store::connect(&uri, "test", 2).await.unwrap(), path, dir)
    }

    /// A copy made at `start`, after 100 writes.
    fn copied_at(start: Instant) -> Copied {
        Copied {
            writes: 100,
            at: start,
        }
    }

    #[test]
    fn a_lightly_written_log_waits_for_the_light_interval() {
        let start = Instant::now();
        let copied = copied_at(start);
        let light = 100 + BUSY_WRITES - 1;
        assert!(!copied.due(light, start + INTERVAL));
        assert!(!copied.due(light, start + LIGHT_INTERVAL - INTERVAL));
        assert!(copied.due(light, start + LIGHT_INTERVAL));
        assert!(copied.due(100, start + LIGHT_INTERVAL));
    }

    #[test]
    fn a_busily_written_log_is_copied_at_the_next_turn() {
        let start = Instant::now();
        let copied = copied_at(start);
        assert!(copied.due(100 + BUSY_WRITES, start + INTERVAL));
    }

    #[tokio::test]
    async fn committed_pages_of_a_busy_log_reach_the_database_file_within_a_turn() {
        let (store, path, _dir) = sqlite_store().await;
        // 500 KB of bodies, in more writes than make the log busy (the
        // task counts from when it starts); SQLite's own copy would wait
        // for 160 MiB of log.
        for txn in 0..BUSY_WRITES as usize + 16 {
            log_events(&store, txn, 4).await;
        }
        let deadline = std::time::Instant::now() + 4 * INTERVAL;
        while std::fs::metadata(&path).unwrap().len() < 500_000 {
            assert!(std::time::Instant::now() < deadline, "nothing was copied");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_copy_of_the_whole_log_tells_the_writer_once() {
        let (store, _path, _dir) = sqlite_store().await;
        log_events(&store, 0, 50).await;
        let log = LogShare::default();
        checkpoint(store.checkpointer.as_ref().unwrap(), &log, RESTART_PAGES)
            .await
            .unwrap();
        assert!(log.take_copied_whole());
        assert!(!log.take_copied_whole());
    }

    #[tokio::test]
    async fn a_copy_that_cannot_start_the_log_over_gives_up_soon() {
        let (store, _path, _dir) = sqlite_store().await;
        log_events(&store, 0, 50).await;
        // A reader in the middle of a read keeps the log from starting over.
        let mut reader = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM ingress_event")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        log_events(&store, 1, 50).await;
        let checkpointer = store.checkpointer.clone().unwrap();
        let started = std::time::Instant::now();
        let log = LogShare::default();
        checkpoint(&checkpointer, &log, 1).await.unwrap();
        assert!(
            !log.take_copied_whole(),
            "the reader's pages of the log are not copied"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} for the reader",
            started.elapsed()
        );
        let (timeout,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&checkpointer)
            .await
            .unwrap();
        assert_eq!(timeout, i64::from(crate::store::BUSY_TIMEOUT_MS));
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
    }
}
