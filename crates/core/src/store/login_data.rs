//! Per-login storage for networks: a namespace of encrypted key-value rows
//! per login, in the bridge's own database. This is where a network client
//! keeps what its library persists (a Telegram session, a WhatsApp device
//! store), so a login lives in one database, backed up and encrypted with
//! the rest, and goes with the login when it is deleted.

use super::{Purpose, SecretBox, Store};
use crate::ids::LoginId;
use anyhow::Result;
use sqlx::Row;

/// One login's rows under one namespace, such as `"session"`. Values are
/// sealed under their own purpose key and bound to their place (bridge,
/// login, namespace, key): a value copied to another row does not open.
#[derive(Clone)]
pub struct LoginData {
    store: Store,
    secrets: SecretBox,
    login_id: LoginId,
    namespace: String,
}

impl LoginData {
    pub fn new(store: Store, secrets: SecretBox, login_id: LoginId, namespace: &str) -> Self {
        Self {
            store,
            secrets,
            login_id,
            namespace: namespace.to_owned(),
        }
    }

    pub fn login_id(&self) -> &LoginId {
        &self.login_id
    }

    /// What a value is bound to: its bridge, login, namespace and key.
    fn row(&self, key: &str) -> Vec<u8> {
        [
            self.store.bridge_id.as_str(),
            self.login_id.as_str(),
            &self.namespace,
            key,
        ]
        .join("\0")
        .into_bytes()
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT value FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND key = $4",
        )
        .bind(&self.store.bridge_id)
        .bind(self.login_id.as_str())
        .bind(&self.namespace)
        .bind(key)
        .fetch_optional(&self.store.pool)
        .await?;
        sealed
            .map(|sealed| {
                self.secrets
                    .open(Purpose::LoginData, &self.row(key), &sealed)
            })
            .transpose()
    }

    /// Writes several values in one commit: a library's state that must
    /// change together (keys and their counters) never half-lands.
    pub async fn put_all(&self, values: &[(&str, &[u8])]) -> Result<()> {
        let mut conn = self.store.writer.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for (key, value) in values {
            let sealed = self
                .secrets
                .seal(Purpose::LoginData, &self.row(key), value)?;
            sqlx::query(
                "INSERT INTO login_data (bridge_id, login_id, namespace, key, value) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (bridge_id, login_id, namespace, key) DO UPDATE SET value = excluded.value",
            )
            .bind(&self.store.bridge_id)
            .bind(self.login_id.as_str())
            .bind(&self.namespace)
            .bind(*key)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.put_all(&[(key, value)]).await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.delete_all(&[key]).await
    }

    /// Deletes several keys in one commit.
    pub async fn delete_all(&self, keys: &[&str]) -> Result<()> {
        let mut conn = self.store.writer.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for key in keys {
            sqlx::query(
                "DELETE FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND key = $4",
            )
            .bind(&self.store.bridge_id)
            .bind(self.login_id.as_str())
            .bind(&self.namespace)
            .bind(*key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every key under `prefix`, returning how many went.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let done = sqlx::query(&format!(
            "DELETE FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND {UNDER_PREFIX}"
        ))
        .bind(&self.store.bridge_id)
        .bind(self.login_id.as_str())
        .bind(&self.namespace)
        .bind(prefix)
        .execute(&mut *self.store.writer.acquire().await?)
        .await?;
        Ok(done.rows_affected())
    }

    /// Reads and deletes a value in one statement, so that of two callers
    /// taking the same key only one gets it.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = sqlx::query_scalar(
            "DELETE FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND key = $4 RETURNING value",
        )
        .bind(&self.store.bridge_id)
        .bind(self.login_id.as_str())
        .bind(&self.namespace)
        .bind(key)
        .fetch_optional(&mut *self.store.writer.acquire().await?)
        .await?;
        sealed
            .map(|sealed| {
                self.secrets
                    .open(Purpose::LoginData, &self.row(key), &sealed)
            })
            .transpose()
    }

    /// Every key under `prefix` with its value, in key order: one query,
    /// for a library that loads its whole state at start.
    pub async fn entries(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query(&format!(
            "SELECT key, value FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND {UNDER_PREFIX} ORDER BY key"
        ))
        .bind(&self.store.bridge_id)
        .bind(self.login_id.as_str())
        .bind(&self.namespace)
        .bind(prefix)
        .fetch_all(&self.store.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let key: String = row.get(0);
                let value = self.secrets.open(
                    Purpose::LoginData,
                    &self.row(&key),
                    &row.get::<Vec<u8>, _>(1),
                )?;
                Ok((key, value))
            })
            .collect()
    }

    /// The keys under `prefix`, in order.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(&format!(
            "SELECT key FROM login_data WHERE bridge_id = $1 AND login_id = $2 AND namespace = $3 AND {UNDER_PREFIX} ORDER BY key"
        ))
        .bind(&self.store.bridge_id)
        .bind(self.login_id.as_str())
        .bind(&self.namespace)
        .bind(prefix)
        .fetch_all(&self.store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| row.get::<String, _>(0))
            .collect())
    }
}

/// Keys that start with `$4`. Not `LIKE`, which would need `%` and `_`
/// escaped; both SQLite and PostgreSQL count `substr` and `length` in
/// characters.
const UNDER_PREFIX: &str = "substr(key, 1, length($4)) = $4";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    fn data(store: &Store, login: &str, namespace: &str) -> LoginData {
        LoginData::new(
            store.clone(),
            SecretBox::from_key(&[3; 32]),
            LoginId::from(login),
            namespace,
        )
    }

    #[tokio::test]
    async fn values_are_kept_per_login_and_namespace() {
        let (store, _dir) = test_store().await;
        let a = data(&store, "a", "session");
        let b = data(&store, "b", "session");
        let a_keys = data(&store, "a", "keys");
        a.put("dc", b"2").await.unwrap();
        a.put("dc", b"4").await.unwrap();
        assert_eq!(a.get("dc").await.unwrap().as_deref(), Some(&b"4"[..]));
        assert_eq!(b.get("dc").await.unwrap(), None);
        assert_eq!(a_keys.get("dc").await.unwrap(), None);
    }

    #[tokio::test]
    async fn several_values_land_together_and_list_by_prefix() {
        let (store, _dir) = test_store().await;
        let d = data(&store, "a", "signal");
        d.put_all(&[("pre/1", b"x"), ("pre/2", b"y"), ("other", b"z")])
            .await
            .unwrap();
        assert_eq!(d.keys("pre/").await.unwrap(), ["pre/1", "pre/2"]);
        d.delete("pre/1").await.unwrap();
        assert_eq!(d.keys("pre/").await.unwrap(), ["pre/2"]);
    }

    #[tokio::test]
    async fn a_prefix_is_deleted_and_a_taken_value_is_gone() {
        let (store, _dir) = test_store().await;
        let d = data(&store, "a", "signal");
        d.put_all(&[
            ("pre/1", b"x"),
            ("pre/2", b"y"),
            ("prefix", b"z"),
            ("q", b"w"),
        ])
        .await
        .unwrap();
        assert_eq!(d.delete_prefix("pre/").await.unwrap(), 2);
        assert_eq!(d.keys("").await.unwrap(), ["prefix", "q"]);
        assert_eq!(d.take("q").await.unwrap().as_deref(), Some(&b"w"[..]));
        assert_eq!(d.take("q").await.unwrap(), None);
        d.delete_all(&["prefix", "missing"]).await.unwrap();
        assert!(d.keys("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn values_are_sealed_and_bound_to_their_row() {
        let (store, _dir) = test_store().await;
        let d = data(&store, "a", "session");
        d.put("auth_key", b"very secret").await.unwrap();
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT value FROM login_data WHERE key = 'auth_key'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(!stored.windows(11).any(|w| w == b"very secret"));
        // Moved to another key, it no longer opens.
        sqlx::query("UPDATE login_data SET key = 'moved' WHERE key = 'auth_key'")
            .execute(&mut *store.writer.acquire().await.unwrap())
            .await
            .unwrap();
        assert!(d.get("moved").await.is_err());
    }

    #[tokio::test]
    async fn deleting_a_login_forgets_its_data() {
        let (store, _dir) = test_store().await;
        let d = data(&store, "a", "session");
        d.put("k", b"v").await.unwrap();
        store.delete_login(d.login_id()).await.unwrap();
        assert_eq!(d.get("k").await.unwrap(), None);
    }
}
