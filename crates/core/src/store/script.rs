//! Writes that return nothing, sent to the database together.
//!
//! With sqlx each statement is a round trip to the SQLite connection's
//! thread, and BEGIN and COMMIT are two more; each round trip wakes that
//! thread and then the runtime's. At Synapse's pace a line from IRC took
//! five (its outbox push; then BEGIN, its mapping, its removal from the
//! outbox, COMMIT), and a profile showed the switches between threads as
//! the largest share of the bridge's CPU per line. SQLite runs several
//! statements from one string, binding `?` placeholders across them in
//! order, so through sqlx a script of writes is one round trip, BEGIN and
//! COMMIT included. On the writer's own thread
//! ([`super::inline_sqlite`]) there is no round trip: each statement runs
//! prepared from the cache. PostgreSQL's extended protocol takes one
//! statement at a time: there each statement goes on its own.

use super::anonymous_binds;
use super::exec::{Binds, Exec, Value};
use anyhow::Result;

/// Statements with their binds, to run as one script on SQLite.
pub(super) struct Script<'q> {
    sqlite: bool,
    /// Each statement with its binds; on SQLite with anonymous `?`.
    statements: Vec<(String, Binds<'q>)>,
}

impl<'q> Script<'q> {
    /// An empty script for `conn`'s database.
    pub fn new(conn: &Exec<'_>) -> Self {
        Self {
            sqlite: conn.is_sqlite(),
            statements: Vec::new(),
        }
    }

    /// Adds a statement written with numbered placeholders (`$1`), each
    /// once and in order; the binds that follow are its own.
    pub fn statement(&mut self, sql: &str) -> &mut Self {
        let sql = match self.sqlite {
            true => anonymous_binds(sql),
            false => sql.to_owned(),
        };
        self.statements.push((sql, Binds::default()));
        self
    }

    /// Binds the next placeholder of the last statement added.
    pub fn bind(&mut self, value: impl Into<Value<'q>>) -> &mut Self {
        if let Some((_, binds)) = self.statements.last_mut() {
            binds.push(value);
        }
        self
    }

    /// Runs the statements in order, inside the caller's transaction if
    /// there is one.
    pub async fn run(self, conn: &mut Exec<'_>) -> Result<()> {
        if let (Exec::Sqlx(_), true) = (&conn, self.sqlite) {
            let (script, binds) = self.joined("", "");
            return conn.execute(&script, binds).await;
        }
        for (sql, binds) in self.statements {
            conn.execute(&sql, binds).await?;
        }
        Ok(())
    }

    /// Runs the statements and commits them, all or none.
    pub async fn commit(self, conn: &mut Exec<'_>) -> Result<()> {
        // A single statement commits on its own, atomically.
        if self.statements.len() <= 1 {
            return self.run(conn).await;
        }
        let result = match conn {
            Exec::Sqlx(sqlx_conn) if !self.sqlite => {
                let mut tx = sqlx::Connection::begin(&mut **sqlx_conn).await?;
                self.run(&mut Exec::Sqlx(&mut tx)).await?;
                return Ok(tx.commit().await?);
            }
            Exec::Sqlx(_) => {
                let (script, binds) = self.joined("BEGIN;\n", ";\nCOMMIT");
                conn.execute(&script, binds).await
            }
            Exec::Inline(_) => {
                conn.execute("BEGIN", Binds::default()).await?;
                match self.run(conn).await {
                    Ok(()) => conn.execute("COMMIT", Binds::default()).await,
                    Err(err) => Err(err),
                }
            }
        };
        if result.is_err() {
            // The statement that failed left the transaction open, unless
            // SQLite rolled it back itself; then this one fails, harmlessly.
            let _ = conn.execute("ROLLBACK", Binds::default()).await;
        }
        result
    }

    /// SQLite through sqlx: the statements as one string, between `before`
    /// and `after`, with their binds in order.
    fn joined(self, before: &str, after: &str) -> (String, Binds<'q>) {
        let mut script = before.to_owned();
        let mut all = Binds::default();
        for (index, (sql, binds)) in self.statements.into_iter().enumerate() {
            if index > 0 {
                script.push_str(";\n");
            }
            script.push_str(&sql);
            all.append(binds);
        }
        script.push_str(after);
        (script, all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    fn put<'q>(script: &mut Script<'q>, key: &'q str) {
        script
            .statement("INSERT INTO kv (bridge_id, key, value) VALUES ($1, $2, $3)")
            .bind("b")
            .bind(key)
            .bind("v");
    }

    /// Runs `test` on a fresh store's writer connection, on the writer's
    /// thread (`inline`) or through sqlx; the keys `kv` holds afterwards.
    async fn keys_after(inline: bool, test: impl AsyncFnOnce(&mut Exec<'_>)) -> Vec<String> {
        let (store, _dir) = test_store().await;
        let mut guard = store.writer.acquire().await.unwrap();
        match inline {
            true => test(&mut guard.exec()).await,
            false => test(&mut guard.through_sqlx()).await,
        }
        sqlx::query_scalar("SELECT key FROM kv ORDER BY key")
            .fetch_all(&mut *guard)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_script_binds_each_statements_placeholders_in_turn() {
        for inline in [true, false] {
            let keys = keys_after(inline, async |conn| {
                let mut script = Script::new(conn);
                put(&mut script, "one");
                put(&mut script, "two");
                script
                    .statement("DELETE FROM kv WHERE bridge_id = $1 AND key = $2")
                    .bind("b")
                    .bind("one");
                script.commit(conn).await.unwrap();
            })
            .await;
            assert_eq!(keys, ["two"], "inline: {inline}");
        }
    }

    #[tokio::test]
    async fn a_failed_script_commits_none_of_its_statements() {
        for inline in [true, false] {
            let keys = keys_after(inline, async |conn| {
                let mut script = Script::new(conn);
                put(&mut script, "one");
                put(&mut script, "one");
                assert!(script.commit(conn).await.is_err());
                // The connection is out of the failed transaction.
                let mut script = Script::new(conn);
                put(&mut script, "two");
                put(&mut script, "three");
                script.commit(conn).await.unwrap();
            })
            .await;
            assert_eq!(keys, ["three", "two"], "inline: {inline}");
        }
    }
}
