//! The database: embedded SQLite by default, PostgreSQL for large installs.
//!
//! One `sqlx::AnyPool` serves both, with `$N` placeholders that both accept.
//! Each table gets its own module; every row carries the bridge ID so that
//! several bridges can share one PostgreSQL database.

mod checkpoint;
mod exec;
mod ghosts;
mod held_messages;
mod ingress;
mod ingress_feed;
mod ingress_log;
mod inline_sqlite;
mod kv;
mod login_data;
mod logins;
mod messages;
mod outbox;
#[cfg(test)]
mod plans;
mod portal_logins;
mod portals;
mod read_cache;
mod script;
mod secrets;
mod users;
mod write_conn;
mod writer;

pub use ghosts::GhostRow;
pub use ingress::{IngressBody, IngressEvent, IngressKind, NewIngressEvent, TxnOutcome};
pub use ingress_feed::{Handed, IngressFeed};
pub use login_data::LoginData;
pub use logins::LoginRow;
pub use messages::{MessageRow, ReactionRow};
pub use outbox::OutboxWaiter;
pub use portals::PortalRow;
pub use secrets::{Purpose, SecretBox};
pub use users::UserRow;
pub use writer::Write;

use anyhow::{Context, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::time::{SystemTime, UNIX_EPOCH};

/// Pages of write-ahead log past which a commit copies the log into the
/// database itself, as SQLite does by default (at 1,000). The checkpointer
/// task ([`checkpoint`]) does it first, off the writer's path; this is in
/// case it cannot.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4 * checkpoint::RESTART_PAGES;

/// How long a connection waits for SQLite's locks before it gives up.
const BUSY_TIMEOUT_MS: u32 = 10_000;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The bridge's handle on its database, scoped to one bridge ID.
#[derive(Clone)]
pub struct Store {
    /// For reads; SQLite in WAL mode serves these in parallel with a write.
    pool: AnyPool,
    /// For writes (see [`write_conn`]).
    writer: write_conn::WriteConn,
    /// SQLite's checkpointer's own connection (see [`checkpoint`]).
    checkpointer: Option<AnyPool>,
    /// Jobs for the group-commit task, which writes through `writer`.
    write_queue: tokio::sync::mpsc::Sender<(
        writer::Job,
        tokio::sync::oneshot::Sender<Result<writer::Done>>,
    )>,
    /// Portal rows by room ID, including "no portal"; every portal write goes
    /// through this store, which keeps it current.
    portal_by_room: std::sync::Arc<read_cache::ReadCache<String, Option<PortalRow>>>,
    /// Portal rows by key, kept the same way: every remote event asks this.
    portal_by_key: std::sync::Arc<read_cache::ReadCache<crate::ids::PortalKey, Option<PortalRow>>>,
    /// Each user's logins by MXID, kept like the portals: every Matrix
    /// message on an account network asks whose login sends it.
    logins_by_mxid: std::sync::Arc<read_cache::ReadCache<String, Vec<LoginRow>>>,
    bridge_id: String,
    dialect: Dialect,
    /// Who waits for which outbox event; registered by the writer.
    outbox_waiters: outbox::OutboxWaiters,
    /// Ingress events as the writer commits them, for the dispatcher.
    ingress_feed: std::sync::Arc<IngressFeed>,
    /// (portal, login) pairs recorded since start, so that a busy chat does
    /// not write its login again with every message.
    known_portal_logins:
        std::sync::Arc<dashmap::DashSet<(crate::ids::PortalKey, crate::ids::LoginId)>>,
    /// Mappings made and not committed yet (see [`held_messages`]).
    held_messages: std::sync::Arc<held_messages::HeldMessages>,
}

impl Store {
    /// Connects, turns on WAL for SQLite, and runs the migrations.
    pub async fn connect(uri: &str, bridge_id: &str, max_conns: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            Dialect::Postgres
        } else if uri.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            anyhow::bail!("database.uri must start with sqlite: or postgres://, got {uri:?}");
        };
        let (uri, max_conns) = match dialect {
            Dialect::Sqlite if uri.contains(":memory:") => (uri.to_owned(), 1),
            Dialect::Sqlite if !uri.contains('?') => (format!("{uri}?mode=rwc"), max_conns),
            _ => (uri.to_owned(), max_conns),
        };
        let pool = open_pool(&uri, dialect, max_conns).await?;
        let writer = match dialect {
            Dialect::Sqlite if max_conns > 1 => {
                write_conn::WriteConn::hold(&open_pool(&uri, dialect, 1).await?).await?
            }
            _ => write_conn::WriteConn::pooled(pool.clone()),
        };
        let checkpointer = match dialect {
            Dialect::Sqlite if !uri.contains(":memory:") => {
                Some(open_pool(&uri, dialect, 1).await?)
            }
            _ => None,
        };
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .context("database migrations failed")?;
        if let Some(pool) = &checkpointer {
            checkpoint::spawn(pool.clone(), writer.log());
        }
        let outbox_waiters = outbox::OutboxWaiters::default();
        let ingress_feed = std::sync::Arc::<IngressFeed>::default();
        Ok(Self {
            checkpointer,
            write_queue: writer::spawn(
                writer.clone(),
                bridge_id.to_owned(),
                outbox_waiters.clone(),
                ingress_feed.clone(),
            ),
            outbox_waiters,
            ingress_feed,
            pool,
            writer,
            bridge_id: bridge_id.to_owned(),
            dialect,
            portal_by_room: Default::default(),
            portal_by_key: Default::default(),
            known_portal_logins: Default::default(),
            logins_by_mxid: Default::default(),
            held_messages: Default::default(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn bridge_id(&self) -> &str {
        &self.bridge_id
    }

    /// The ingress events this run committed, for the dispatcher.
    pub fn ingress_feed(&self) -> &IngressFeed {
        &self.ingress_feed
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
    }
}

async fn open_pool(uri: &str, dialect: Dialect, max_conns: u32) -> Result<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(max_conns.max(1))
        // sqlx pings a connection each time the pool hands it out. For
        // SQLite that is one more round trip to the connection's thread per
        // statement, about a tenth of a transaction's cost from Synapse, to
        // check a file that cannot hang up. PostgreSQL keeps the check: its
        // connections can break while idle.
        .test_before_acquire(dialect == Dialect::Postgres)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    // WAL with synchronous=NORMAL survives a process crash after
                    // commit, which is what acknowledging a transaction needs.
                    // temp_store=MEMORY keeps statement journals off disk: a
                    // multi-row INSERT inside the writer's group commit keeps
                    // one, to undo itself alone if a row fails, and past
                    // 64 KiB SQLite spilled it to a temporary file; those
                    // writes took a seventh of the SQLite thread's time in
                    // ingress.
                    conn.execute(format!(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={BUSY_TIMEOUT_MS}; PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}; PRAGMA temp_store=MEMORY;"
                    ).as_str()).await?;
                }
                Ok(())
            })
        })
        .connect(uri)
        .await
        .with_context(|| format!("cannot open the database {}", redact_uri(uri)))
}

/// Most bind parameters in one multi-row statement, under SQLite's limit
/// of 32,766 and PostgreSQL's of 65,535.
pub(crate) const MAX_BINDS: usize = 4096;

/// Rows of `columns` binds each in one statement.
pub(crate) const fn rows_per_statement(columns: usize) -> usize {
    MAX_BINDS / columns
}

/// `($1, $2), ($3, $4)` for 2 rows of 2 columns. Numbered placeholders work
/// on both SQLite and PostgreSQL, unlike the `?` that `QueryBuilder<Any>` emits.
pub(crate) fn numbered_rows(rows: usize, columns: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=columns {
            let sep = if c == 1 { "" } else { ", " };
            let _ = write!(out, "{sep}${}", r * columns + c);
        }
        out.push(')');
    }
    out
}

/// `sql` with each numbered placeholder made an anonymous `?`.
fn anonymous_binds(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Retries a write every second until the database takes it: what it
/// records (an event handled, delivered or dispatched) must not be lost, and
/// a database that fails now is expected back.
pub(crate) async fn until_stored<F, Fut>(what: &str, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    while let Err(err) = write().await {
        tracing::error!("cannot record {what}, retrying: {err:#}");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Milliseconds since the Unix epoch, the unit Matrix timestamps use.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The URI without its password, for error messages.
fn redact_uri(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &uri[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***{}", &uri[..scheme_end], user, &uri[at..])
        }
        _ => uri.to_owned(),
    }
}

/// A fresh store for a unit test: a new PostgreSQL database when
/// `CAUSEWAY_TEST_POSTGRES` holds a server URI, SQLite in a temp dir otherwise.
#[cfg(any(test, feature = "test-util"))]
pub async fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = match std::env::var("CAUSEWAY_TEST_POSTGRES") {
        Ok(server) => {
            sqlx::any::install_default_drivers();
            let name = format!("causeway_unit_{:016x}", rand::random::<u64>());
            let admin = sqlx::AnyPool::connect(&format!("{server}/postgres"))
                .await
                .expect("postgres server");
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create database");
            admin.close().await;
            format!("{server}/{name}")
        }
        Err(_) => format!("sqlite:{}", dir.path().join("test.db").display()),
    };
    let store = Store::connect(&uri, "test", 4).await.expect("store");
    (store, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_hidden_in_errors() {
        assert_eq!(
            redact_uri("postgres://bob:hunter2@db/x"),
            "postgres://bob:***@db/x"
        );
        assert_eq!(redact_uri("sqlite:x.db"), "sqlite:x.db");
    }

    #[tokio::test]
    async fn unknown_database_scheme_is_refused_clearly() {
        let err = Store::connect("mysql://x", "b", 1)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sqlite: or postgres://"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_binds_multi_row_statements_in_order_without_names() {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let exec = exec::Exec::Sqlx(&mut conn);
        let sql = exec.in_order_binds(format!("SELECT {}", numbered_rows(1, 3)));
        assert_eq!(sql, "SELECT (?, ?, ?)");
        let sql = exec.in_order_binds("SELECT $1 || $2, $3".into());
        let (joined, last): (String, i64) = sqlx::query_as(&sql)
            .bind("a")
            .bind("b")
            .bind(3i64)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!((joined.as_str(), last), ("ab", 3));
    }

    #[tokio::test]
    async fn sqlite_store_runs_migrations_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(
            &format!("sqlite:{}", dir.path().join("w.db").display()),
            "test",
            2,
        )
        .await
        .unwrap();
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(sync, 1, "synchronous=NORMAL");
        let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(pages, WAL_AUTOCHECKPOINT_PAGES);
        let (temp_store,): (i64,) = sqlx::query_as("PRAGMA temp_store")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(temp_store, 2, "temp_store=MEMORY");
    }
}
