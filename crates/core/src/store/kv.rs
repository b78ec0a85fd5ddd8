//! A key-value table for small bits of bridge state.

use super::Store;
use anyhow::Result;

impl Store {
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM kv WHERE bridge_id = $1 AND key = $2")
                .bind(&self.bridge_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn kv_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT INTO kv (bridge_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (bridge_id, key) DO UPDATE SET value = excluded.value")
            .bind(&self.bridge_id)
            .bind(key)
            .bind(value)
            .execute(&mut *self.writer.acquire().await?)
            .await?;
        Ok(())
    }

    pub async fn kv_delete(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM kv WHERE bridge_id = $1 AND key = $2")
            .bind(&self.bridge_id)
            .bind(key)
            .execute(&mut *self.writer.acquire().await?)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_store;

    #[tokio::test]
    async fn kv_values_are_set_replaced_and_deleted() {
        let (store, _dir) = test_store().await;
        assert_eq!(store.kv_get("k").await.unwrap(), None);
        store.kv_set("k", "1").await.unwrap();
        store.kv_set("k", "2").await.unwrap();
        assert_eq!(store.kv_get("k").await.unwrap().as_deref(), Some("2"));
        store.kv_delete("k").await.unwrap();
        assert_eq!(store.kv_get("k").await.unwrap(), None);
    }
}
