//! SQLite's writes on the writer task's own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every
//! statement is a round trip: the runtime wakes that thread, sleeps, and is
//! woken with the result. At a homeserver's pace, a message at a time,
//! both threads have gone cold by then. A Matrix message to IRC, 35 ms
//! apart, cost that thread 300 µs and two wake-ups for two small commits,
//! where the statements themselves take a few dozen µs on a warm thread.
//!
//! So the writer's SQLite file has a second connection, through rusqlite,
//! that runs the writer's statements where the writer is. It links the
//! SQLite sqlx builds (one `libsqlite3-sys`). A commit in WAL mode with
//! `synchronous=NORMAL` writes the log without syncing it, so a statement
//! holds the thread for microseconds; the one commit that syncs, the first
//! after the checkpointer copied the whole log, goes through sqlx
//! ([`super::write_conn`]). It never waits for a lock: its busy
//! timeout is 0, and a batch that finds the database locked (the
//! checkpointer restarting the log, or another process) goes through sqlx's
//! connection instead, which waits on its own thread.

use super::exec::Binds;
use super::WAL_AUTOCHECKPOINT_PAGES;
use anyhow::{Context, Result};
use rusqlite::{CachedStatement, ErrorCode, OpenFlags};
use sqlx::AnyConnection;
use std::time::Duration;

/// The writer's connection on its own thread.
pub(crate) struct InlineDb(rusqlite::Connection);

/// Statements of the writer kept prepared; a multi-row statement differs by
/// its row count, so a few sizes stay warm.
const STATEMENT_CACHE: usize = 64;

impl InlineDb {
    /// Opens the file `conn` has open, or `None` for an in-memory database,
    /// which a second connection would not share.
    pub(super) async fn beside(conn: &mut AnyConnection) -> Result<Option<Self>> {
        let (file,): (String,) =
            sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(conn)
                .await?;
        if file.is_empty() {
            return Ok(None);
        }
        let db = rusqlite::Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {file} for the writer"))?;
        db.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}; PRAGMA temp_store=MEMORY;"
        ))?;
        db.busy_timeout(Duration::ZERO)?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Some(Self(db)))
    }

    /// Runs one statement that returns no rows.
    pub(super) fn execute(&self, sql: &str, binds: &Binds<'_>) -> Result<()> {
        self.prepare(sql, binds)?.raw_execute()?;
        Ok(())
    }

    /// Runs one statement and reads its rows with `read`.
    pub(super) fn query<T>(
        &self,
        sql: &str,
        binds: &Binds<'_>,
        mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.prepare(sql, binds)?;
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read(row)?);
        }
        Ok(out)
    }

    /// The last rowid inserted, and how many rows the last statement changed.
    pub(super) fn last_insert(&self) -> (i64, i64) {
        let changes = i64::try_from(self.0.changes()).unwrap_or(i64::MAX);
        (self.0.last_insert_rowid(), changes)
    }

    /// Rolls back the transaction a failed batch left open, if any.
    pub(super) fn roll_back(&self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }

    /// `sql` prepared (from the cache when it ran before), with `binds`
    /// bound in order; it goes back to the cache when dropped.
    fn prepare(&self, sql: &str, binds: &Binds<'_>) -> Result<CachedStatement<'_>> {
        let mut statement = self.0.prepare_cached(sql)?;
        for (index, value) in binds.values().iter().enumerate() {
            statement.raw_bind_parameter(index + 1, value)?;
        }
        Ok(statement)
    }
}

/// Whether `err` is SQLite finding the database locked, which the busy
/// timeout of 0 reports at once instead of waiting.
pub(super) fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy
        )
    })
}
