//! The connection every write goes through.
//!
//! With SQLite it is one connection, held for the bridge's lifetime, so that
//! writers queue for it instead of sleeping in SQLite's busy handler. It is
//! held outside sqlx's pool because the pool pings a connection each time
//! it takes it back: a round trip to the connection's thread, which wakes
//! it and then the runtime. Each commit paid it, and at Synapse's pace a
//! message is two commits; without it, a message through Synapse cost about
//! 6% less CPU (0.77 to 0.73 CPU-s per 1,000, in alternating runs). A file
//! cannot hang up, so the ping finds nothing there. PostgreSQL's
//! connections can break while idle: there, writes take a connection from
//! the pool, which checks it.
//!
//! A SQLite file's held connection has a second one beside it, which runs
//! the writer's statements on the writer's own thread
//! ([`super::inline_sqlite`]); whoever holds the guard holds both. The one
//! write that syncs a file goes through sqlx's connection instead: once the
//! checkpointer has copied the whole log, the next write starts the log
//! over, and SQLite syncs the log's new header before it goes on, even with
//! `synchronous=NORMAL`. On the writer's thread that sync would hold up the
//! runtime for as long as the disk takes. (A reader still in the log at that
//! moment keeps it from starting over; a later write then starts it, on the
//! writer's thread, which is rare: reads are short.)

use super::exec::Exec;
use super::inline_sqlite::InlineDb;
use anyhow::Result;
use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone)]
pub(crate) struct WriteConn {
    conn: Conn,
    log: LogShare,
}

#[derive(Clone)]
enum Conn {
    /// SQLite's writer connection.
    Held(Arc<Mutex<Held>>),
    /// PostgreSQL's pool, or an in-memory SQLite database, whose one
    /// connection reads as well.
    Pooled(AnyPool),
}

/// What the writer and SQLite's checkpointer tell each other about the log.
#[derive(Clone, Default)]
pub(crate) struct LogShare {
    /// How many writes have taken the connection so far: the checkpointer
    /// copies the log as often as there is much to copy.
    writes: Arc<AtomicU64>,
    /// Whether the checkpointer copied the whole log since the last write.
    copied_whole: Arc<AtomicBool>,
}

impl LogShare {
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The checkpointer copied every page of the log: the next write
    /// starts it over.
    pub(crate) fn copied_whole(&self) {
        self.copied_whole.store(true, Ordering::Relaxed);
    }

    /// Whether the log was copied whole since this was last asked.
    pub(super) fn take_copied_whole(&self) -> bool {
        self.copied_whole.swap(false, Ordering::Relaxed)
    }
}

pub(crate) struct Held {
    /// `None` once the store is closed.
    conn: Option<AnyConnection>,
    /// The same file on the writer's thread, for the writer's hot path;
    /// `None` for an in-memory database, or once the store is closed.
    inline: Option<InlineDb>,
    /// Set when a write panicked while it held the connection: it may have
    /// left a transaction open, which the next write rolls back.
    suspect: bool,
    log: LogShare,
}

/// A write's hold on the connection, until dropped.
pub(crate) enum WriteGuard {
    Held(OwnedMutexGuard<Held>),
    Pooled(PoolConnection<Any>),
}

impl WriteConn {
    /// Holds `pool`'s connection outside it from now on.
    pub(crate) async fn hold(pool: &AnyPool) -> Result<Self> {
        let mut conn = pool.acquire().await?.detach();
        let inline = InlineDb::beside(&mut conn).await?;
        let log = LogShare::default();
        Ok(Self {
            conn: Conn::Held(Arc::new(Mutex::new(Held {
                conn: Some(conn),
                inline,
                suspect: false,
                log: log.clone(),
            }))),
            log,
        })
    }

    /// Writes through connections taken from `pool`.
    pub(crate) fn pooled(pool: AnyPool) -> Self {
        Self {
            conn: Conn::Pooled(pool),
            log: LogShare::default(),
        }
    }

    /// What the checkpointer shares with the writes through this.
    pub(crate) fn log(&self) -> LogShare {
        self.log.clone()
    }

    /// Waits for the connection.
    pub(crate) async fn acquire(&self) -> Result<WriteGuard> {
        self.log.writes.fetch_add(1, Ordering::Relaxed);
        match &self.conn {
            Conn::Held(held) => {
                let mut held = held.clone().lock_owned().await;
                let suspect = std::mem::take(&mut held.suspect);
                let Some(conn) = held.conn.as_mut() else {
                    anyhow::bail!("the database is closed");
                };
                if suspect {
                    // Fails harmlessly when no transaction is open.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    if let Some(inline) = &held.inline {
                        inline.roll_back();
                    }
                }
                Ok(WriteGuard::Held(held))
            }
            Conn::Pooled(pool) => Ok(WriteGuard::Pooled(pool.acquire().await?)),
        }
    }

    /// Closes a held connection; later writes fail.
    pub(crate) async fn close(&self) {
        if let Conn::Held(held) = &self.conn {
            let mut held = held.lock().await;
            held.inline = None;
            if let Some(conn) = held.conn.take() {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
    }
}

impl WriteGuard {
    /// Where the writer's statements run: on its own thread when it can,
    /// and through sqlx when they start the log over (see the module's
    /// doc). Asked once per attempt at a commit.
    pub(super) fn exec(&mut self) -> Exec<'_> {
        match self {
            Self::Held(held) => {
                let Held {
                    conn, inline, log, ..
                } = &mut **held;
                // Inline, unless this write starts the log over.
                match (inline.as_mut().filter(|_| !log.take_copied_whole()), conn) {
                    (Some(db), _) => Exec::Inline(db),
                    (None, Some(conn)) => Exec::Sqlx(conn),
                    // `acquire` hands out a guard only over a connection.
                    (None, None) => unreachable!("a held connection"),
                }
            }
            Self::Pooled(conn) => Exec::Sqlx(conn),
        }
    }

    /// The statements through sqlx's connection, which waits for SQLite's
    /// locks on its own thread.
    pub(super) fn through_sqlx(&mut self) -> Exec<'_> {
        Exec::Sqlx(self)
    }
}

impl Deref for WriteGuard {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            // `acquire` hands out a guard only over a connection.
            Self::Held(held) => held.conn.as_ref().expect("a held connection"),
            Self::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for WriteGuard {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Held(held) => held.conn.as_mut().expect("a held connection"),
            Self::Pooled(conn) => conn,
        }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if let Self::Held(held) = self {
            if std::thread::panicking() {
                held.suspect = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    async fn kv_rows(conn: &mut AnyConnection) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kv")
            .fetch_one(conn)
            .await
            .unwrap();
        n
    }

    #[tokio::test]
    async fn a_transaction_a_panicking_write_left_open_is_rolled_back_before_the_next_write() {
        let (store, _dir) = test_store().await;
        // PostgreSQL's writes take pooled connections, as sqlx handles them.
        if store.dialect() == crate::store::Dialect::Postgres {
            return;
        }
        let writer = store.writer.clone();
        let panicked = tokio::spawn(async move {
            let mut conn = writer.acquire().await.unwrap();
            sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
            sqlx::query("INSERT INTO kv (bridge_id, key, value) VALUES ('test', 'k', 'v')")
                .execute(&mut *conn)
                .await
                .unwrap();
            panic!("a bug while the transaction is open");
        })
        .await;
        assert!(panicked.is_err());
        store.kv_set("other", "v").await.unwrap();
        let mut conn = store.writer.acquire().await.unwrap();
        assert_eq!(
            kv_rows(&mut conn).await,
            1,
            "the panicked write's row is gone and the next write committed"
        );
    }

    #[tokio::test]
    async fn the_write_after_the_log_was_copied_whole_runs_through_sqlx() {
        let (store, _dir) = test_store().await;
        if store.dialect() == crate::store::Dialect::Postgres {
            return;
        }
        let on_sqlx = |guard: &mut WriteGuard| matches!(guard.exec(), Exec::Sqlx(_));
        let mut guard = store.writer.acquire().await.unwrap();
        assert!(!on_sqlx(&mut guard), "writes run on the writer's thread");
        drop(guard);
        store.writer.log().copied_whole();
        let mut guard = store.writer.acquire().await.unwrap();
        assert!(on_sqlx(&mut guard), "the write that starts the log over");
        assert!(!on_sqlx(&mut guard), "and only that one");
    }

    #[tokio::test]
    async fn writes_after_the_store_closes_fail_clearly() {
        let (store, _dir) = test_store().await;
        store.close().await;
        let err = store.kv_set("k", "v").await.unwrap_err().to_string();
        assert!(err.contains("closed"), "{err}");
    }
}
