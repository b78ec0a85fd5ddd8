//! A user's remote accounts. Secrets are sealed before they reach the table.

use super::{now_ms, Purpose, SecretBox, Store};
use crate::ids::LoginId;
use anyhow::Result;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct LoginRow {
    pub login_id: LoginId,
    pub mxid: String,
    /// How the remote network names the account: a nick, a phone number.
    pub remote_name: String,
    /// The decrypted secret, if the login keeps one.
    pub secret: Option<Vec<u8>>,
    pub metadata: serde_json::Value,
}

impl Store {
    pub async fn put_login(&self, secrets: &SecretBox, login: &LoginRow) -> Result<()> {
        let sealed = login
            .secret
            .as_deref()
            .map(|s| {
                secrets.seal(
                    Purpose::Logins,
                    &login_row(&self.bridge_id, &login.login_id),
                    s,
                )
            })
            .transpose()?;
        sqlx::query(
            "INSERT INTO login (bridge_id, login_id, mxid, remote_name, secret, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (bridge_id, login_id) DO UPDATE SET mxid = excluded.mxid, remote_name = excluded.remote_name, \
             secret = excluded.secret, metadata = excluded.metadata",
        )
        .bind(&self.bridge_id)
        .bind(login.login_id.as_str())
        .bind(&login.mxid)
        .bind(&login.remote_name)
        .bind(sealed)
        .bind(login.metadata.to_string())
        .bind(now_ms())
        .execute(&mut *self.writer.acquire().await?)
        .await?;
        self.logins_by_mxid.clear();
        Ok(())
    }

    /// A user's logins, oldest first; cached until a login is written.
    pub async fn logins_of(&self, secrets: &SecretBox, mxid: &str) -> Result<Vec<LoginRow>> {
        self.logins_by_mxid
            .get_or_read(mxid, || async {
                let rows = sqlx::query("SELECT login_id, mxid, remote_name, secret, metadata FROM login WHERE bridge_id = $1 AND mxid = $2 ORDER BY created_at")
                    .bind(&self.bridge_id)
                    .bind(mxid)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|row| login_from_row(&self.bridge_id, secrets, row))
                    .collect()
            })
            .await
    }

    pub async fn get_login(
        &self,
        secrets: &SecretBox,
        login_id: &LoginId,
    ) -> Result<Option<LoginRow>> {
        let row = sqlx::query("SELECT login_id, mxid, remote_name, secret, metadata FROM login WHERE bridge_id = $1 AND login_id = $2")
            .bind(&self.bridge_id)
            .bind(login_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| login_from_row(&self.bridge_id, secrets, row))
            .transpose()
    }

    pub async fn all_logins(&self, secrets: &SecretBox) -> Result<Vec<LoginRow>> {
        let rows = sqlx::query("SELECT login_id, mxid, remote_name, secret, metadata FROM login WHERE bridge_id = $1 ORDER BY created_at")
            .bind(&self.bridge_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| login_from_row(&self.bridge_id, secrets, row))
            .collect()
    }

    /// Deletes a login, everything its network kept for it, and its place
    /// in portals, together.
    pub async fn delete_login(&self, login_id: &LoginId) -> Result<bool> {
        self.known_portal_logins
            .retain(|(_, login)| login != login_id);
        let mut conn = self.writer.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for table in ["login_data", "portal_login"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE bridge_id = $1 AND login_id = $2"
            ))
            .bind(&self.bridge_id)
            .bind(login_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM login WHERE bridge_id = $1 AND login_id = $2")
            .bind(&self.bridge_id)
            .bind(login_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.logins_by_mxid.clear();
        Ok(done.rows_affected() > 0)
    }
}

/// What a login's sealed secret is bound to: its bridge and login ID.
fn login_row(bridge_id: &str, login_id: &LoginId) -> Vec<u8> {
    format!("{bridge_id}\0{}", login_id.as_str()).into_bytes()
}

fn login_from_row(
    bridge_id: &str,
    secrets: &SecretBox,
    row: sqlx::any::AnyRow,
) -> Result<LoginRow> {
    let sealed: Option<Vec<u8>> = row.try_get("secret")?;
    let metadata: String = row.try_get("metadata")?;
    let login_id = LoginId(row.try_get("login_id")?);
    let bound = login_row(bridge_id, &login_id);
    Ok(LoginRow {
        secret: sealed
            .map(|s| secrets.open(Purpose::Logins, &bound, &s))
            .transpose()?,
        login_id,
        mxid: row.try_get("mxid")?,
        remote_name: row.try_get("remote_name")?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn login_secrets_are_encrypted_in_the_table() {
        let (store, _dir) = test_store().await;
        let secrets = SecretBox::from_key(&[3; 32]);
        let login = LoginRow {
            login_id: "l1".into(),
            mxid: "@a:x".into(),
            remote_name: "alice".into(),
            secret: Some(b"s3cret-pass".to_vec()),
            metadata: serde_json::json!({}),
        };
        store.put_login(&secrets, &login).await.unwrap();
        let raw: Vec<u8> = sqlx::query_scalar("SELECT secret FROM login")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(!raw.windows(11).any(|w| w == b"s3cret-pass"));
        let back = store.logins_of(&secrets, "@a:x").await.unwrap();
        assert_eq!(back[0].secret.as_deref(), Some(&b"s3cret-pass"[..]));
        assert!(store.delete_login(&"l1".into()).await.unwrap());
        assert!(store.all_logins(&secrets).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_users_cached_logins_follow_every_login_write() {
        let (store, _dir) = test_store().await;
        let secrets = SecretBox::from_key(&[3; 32]);
        let login = |id: &str, name: &str| LoginRow {
            login_id: id.into(),
            mxid: "@a:x".into(),
            remote_name: name.into(),
            secret: None,
            metadata: serde_json::json!({}),
        };
        let names = |logins: Vec<LoginRow>| -> Vec<String> {
            logins.into_iter().map(|l| l.remote_name).collect()
        };
        assert!(store.logins_of(&secrets, "@a:x").await.unwrap().is_empty());
        store
            .put_login(&secrets, &login("l1", "alice"))
            .await
            .unwrap();
        assert_eq!(
            names(store.logins_of(&secrets, "@a:x").await.unwrap()),
            ["alice"]
        );
        store
            .put_login(&secrets, &login("l1", "alice2"))
            .await
            .unwrap();
        store
            .put_login(&secrets, &login("l2", "bob"))
            .await
            .unwrap();
        assert_eq!(
            names(store.logins_of(&secrets, "@a:x").await.unwrap()),
            ["alice2", "bob"]
        );
        store.delete_login(&"l1".into()).await.unwrap();
        assert_eq!(
            names(store.logins_of(&secrets, "@a:x").await.unwrap()),
            ["bob"]
        );
    }
}
