//! Where the writer's statements run: on sqlx's connection, or, for a
//! SQLite file, on the writer's own thread ([`super::inline_sqlite`]).
//! The statements and their binds are the same either way.

use super::anonymous_binds;
use super::inline_sqlite::InlineDb;
use anyhow::Result;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{AnyConnection, Arguments, Row};

pub(super) enum Exec<'c> {
    Sqlx(&'c mut AnyConnection),
    Inline(&'c mut InlineDb),
}

/// A value the writer binds: text or an integer, either of which may be
/// NULL, typed so that PostgreSQL knows a NULL's type.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'q> {
    Text(Option<&'q str>),
    Int(Option<i64>),
}

impl<'q> From<&'q str> for Value<'q> {
    fn from(text: &'q str) -> Self {
        Self::Text(Some(text))
    }
}

impl<'q> From<&'q String> for Value<'q> {
    fn from(text: &'q String) -> Self {
        Self::Text(Some(text))
    }
}

impl<'q> From<Option<&'q str>> for Value<'q> {
    fn from(text: Option<&'q str>) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Text(text) => text.to_sql(),
            Self::Int(n) => n.to_sql(),
        }
    }
}

/// A statement's binds, in order.
#[derive(Default)]
pub(super) struct Binds<'q>(Vec<Value<'q>>);

impl<'q> Binds<'q> {
    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Into<Value<'q>>) -> Self {
        self.push(value);
        self
    }

    /// Binds the next placeholder, in place.
    pub fn push(&mut self, value: impl Into<Value<'q>>) {
        self.0.push(value.into());
    }

    /// The binds of `other` after these.
    pub fn append(&mut self, other: Binds<'q>) {
        self.0.extend(other.0);
    }

    pub(super) fn values(&self) -> &[Value<'q>] {
        &self.0
    }

    /// As sqlx binds them.
    fn args(&self) -> Result<AnyArguments<'q>> {
        let mut args = AnyArguments::default();
        for value in &self.0 {
            match *value {
                Value::Text(text) => args.add(text),
                Value::Int(n) => args.add(n),
            }
            .map_err(|err| anyhow::anyhow!(err))?;
        }
        Ok(args)
    }
}

/// A row the writer reads back, from either connection: by column position.
pub(super) trait Fetched: Sized {
    fn from_any(row: &AnyRow) -> Result<Self, sqlx::Error>;
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl Fetched for i64 {
    fn from_any(row: &AnyRow) -> Result<Self, sqlx::Error> {
        row.try_get(0)
    }
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        row.get(0)
    }
}

impl Fetched for String {
    fn from_any(row: &AnyRow) -> Result<Self, sqlx::Error> {
        row.try_get(0)
    }
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        row.get(0)
    }
}

impl Fetched for (i64, Option<String>) {
    fn from_any(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
    fn from_inline(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl Exec<'_> {
    pub fn is_sqlite(&self) -> bool {
        match self {
            Self::Inline(_) => true,
            Self::Sqlx(conn) => conn.backend_name() == "SQLite",
        }
    }

    /// Runs a statement that returns no rows.
    pub async fn execute(&mut self, sql: &str, binds: Binds<'_>) -> Result<()> {
        match self {
            Self::Inline(db) => db.execute(sql, &binds),
            Self::Sqlx(conn) => {
                sqlx::query_with(sql, binds.args()?)
                    .execute(&mut **conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Runs a statement and reads every row it returns.
    pub async fn fetch_all<T: Fetched>(&mut self, sql: &str, binds: Binds<'_>) -> Result<Vec<T>> {
        match self {
            Self::Inline(db) => db.query(sql, &binds, T::from_inline),
            Self::Sqlx(conn) => sqlx::query_with(sql, binds.args()?)
                .fetch_all(&mut **conn)
                .await?
                .iter()
                .map(|row| T::from_any(row).map_err(Into::into))
                .collect(),
        }
    }

    /// SQLite: the last rowid inserted, and how many rows the last statement
    /// changed. A multi-row INSERT in which every row is new gave them
    /// consecutive rowids, in the order of its VALUES, ending at the first
    /// number (with AUTOINCREMENT, a row skipped by ON CONFLICT may use one
    /// up). Through sqlx, asking is one small round trip; RETURNING sends
    /// each row back from the connection's thread as a message of its own,
    /// which cost a third of the ingress rate.
    pub async fn last_insert(&mut self) -> Result<(i64, i64)> {
        match self {
            Self::Inline(db) => Ok(db.last_insert()),
            Self::Sqlx(conn) => Ok(sqlx::query_as("SELECT last_insert_rowid(), changes()")
                .fetch_one(&mut **conn)
                .await?),
        }
    }

    /// A statement whose numbered placeholders appear in order, each once,
    /// as this database binds it fastest. SQLite finds each numbered
    /// parameter by walking the statement's list of names, which is
    /// quadratic in a multi-row statement (at 4,500 binds it took a fifth of
    /// the processing time); its anonymous `?` binds in order with no
    /// lookup. PostgreSQL needs the numbers.
    pub fn in_order_binds(&self, sql: String) -> String {
        match self.is_sqlite() {
            true => anonymous_binds(&sql),
            false => sql,
        }
    }

    /// Whether an insert of `rows` rows returns them with RETURNING, or asks
    /// [`Self::last_insert`] afterwards: SQLite with more than one row. A
    /// single row comes back as one message, where asking is a round trip of
    /// its own; as Synapse sends a bridge that keeps up one event at a time,
    /// that is the common case.
    pub fn returns_rows(&self, rows: usize) -> bool {
        !self.is_sqlite() || rows == 1
    }
}
