//! Writes that return nothing, sent to the database together.
//!
//! With sqlx each statement is a round trip to the SQLite connection's
//! thread, and BEGIN and COMMIT are two more; each round trip wakes that
//! thread and then the runtime's. At Synapse's pace a line from IRC took
//! five (its outbox push; then BEGIN, its mapping, its removal from the
//! outbox, COMMIT), and a profile showed the switches between threads as
//! the largest share of the bridge's CPU per line. SQLite runs several statements from one string, binding `?`
//! placeholders across them in order, so a script of writes is one round
//! trip, BEGIN and COMMIT included. PostgreSQL's extended protocol takes one
//! statement at a time: there each statement goes on its own.

use super::anonymous_binds;
use anyhow::Result;
use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyConnection, Arguments, Encode, Type};

/// Statements with their binds, to run as one script on SQLite.
pub(super) struct Script<'q> {
    sqlite: bool,
    /// On SQLite, a single entry: the statements joined. On PostgreSQL, one
    /// entry per statement.
    statements: Vec<(String, AnyArguments<'q>)>,
    /// How many statements were added.
    count: usize,
    /// The first bind that could not be encoded.
    error: Option<BoxDynError>,
}

impl<'q> Script<'q> {
    /// An empty script for `conn`'s database.
    pub fn new(conn: &AnyConnection) -> Self {
        Self {
            sqlite: conn.backend_name() == "SQLite",
            statements: Vec::new(),
            count: 0,
            error: None,
        }
    }

    /// Adds a statement written with numbered placeholders (`$1`), each
    /// once and in order; the binds that follow are its own.
    pub fn statement(&mut self, sql: &str) -> &mut Self {
        self.count += 1;
        match self.statements.first_mut() {
            Some((script, _)) if self.sqlite => {
                script.push_str(";\n");
                script.push_str(&anonymous_binds(sql));
            }
            _ if self.sqlite => self
                .statements
                .push((anonymous_binds(sql), AnyArguments::default())),
            _ => self
                .statements
                .push((sql.to_owned(), AnyArguments::default())),
        }
        self
    }

    /// Binds the next placeholder of the last statement added.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        if let Some((_, args)) = self.statements.last_mut() {
            if let Err(err) = args.add(value) {
                self.error.get_or_insert(err);
            }
        }
        self
    }

    /// Runs the statements in order, inside the caller's transaction if
    /// there is one.
    pub async fn run(self, conn: &mut AnyConnection) -> Result<()> {
        if let Some(err) = self.error {
            return Err(anyhow::anyhow!(err));
        }
        for (sql, args) in self.statements {
            sqlx::query_with(&sql, args).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Runs the statements and commits them, all or none.
    pub async fn commit(mut self, conn: &mut AnyConnection) -> Result<()> {
        // A single statement commits on its own, atomically.
        if self.count <= 1 {
            return self.run(conn).await;
        }
        if !self.sqlite {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            self.run(&mut tx).await?;
            return Ok(tx.commit().await?);
        }
        if let Some((script, _)) = self.statements.first_mut() {
            *script = format!("BEGIN;\n{script};\nCOMMIT");
        }
        let result = self.run(conn).await;
        if result.is_err() {
            // The statement that failed left the transaction open, unless
            // SQLite rolled it back itself; then this one fails, harmlessly.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    async fn count(conn: &mut AnyConnection) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kv")
            .fetch_one(conn)
            .await
            .unwrap();
        n
    }

    fn put<'q>(script: &mut Script<'q>, key: &'q str) {
        script
            .statement("INSERT INTO kv (bridge_id, key, value) VALUES ($1, $2, $3)")
            .bind("b")
            .bind(key)
            .bind("v");
    }

    #[tokio::test]
    async fn a_script_binds_each_statements_placeholders_in_turn() {
        let (store, _dir) = test_store().await;
        let mut conn = store.pool.acquire().await.unwrap();
        let mut script = Script::new(&conn);
        put(&mut script, "one");
        put(&mut script, "two");
        script
            .statement("DELETE FROM kv WHERE bridge_id = $1 AND key = $2")
            .bind("b")
            .bind("one");
        script.commit(&mut conn).await.unwrap();
        let (key,): (String,) = sqlx::query_as("SELECT key FROM kv")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(key, "two");
    }

    #[tokio::test]
    async fn a_failed_script_commits_none_of_its_statements() {
        let (store, _dir) = test_store().await;
        let mut conn = store.pool.acquire().await.unwrap();
        let mut script = Script::new(&conn);
        put(&mut script, "one");
        put(&mut script, "one");
        assert!(script.commit(&mut conn).await.is_err());
        assert_eq!(count(&mut conn).await, 0);
        // The connection is out of the failed transaction.
        let mut script = Script::new(&conn);
        put(&mut script, "one");
        put(&mut script, "two");
        script.commit(&mut conn).await.unwrap();
        assert_eq!(count(&mut conn).await, 2);
    }
}
