//! Portals: remote chats and the Matrix rooms that show them.

use super::Store;
use crate::ids::{LoginId, PortalId, PortalKey};
use anyhow::Result;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct PortalRow {
    pub key: PortalKey,
    pub room_id: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    /// Bridged into an existing room by an admin, rather than created by us.
    pub plumbed: bool,
    pub metadata: serde_json::Value,
}

impl PortalRow {
    /// Whether this is a private chat with one remote user.
    pub fn is_direct(&self) -> bool {
        self.metadata.get("direct_with").is_some()
    }
}

const COLUMNS: &str = "portal_id, receiver, room_id, name, topic, plumbed, metadata";

impl Store {
    /// A portal by its key, cached: every remote event asks this.
    pub async fn get_portal(&self, key: &PortalKey) -> Result<Option<PortalRow>> {
        self.portal_by_key
            .get_or_read(key, || async {
                let sql = format!(
                    "SELECT {COLUMNS} FROM portal WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3"
                );
                let row = sqlx::query(&sql)
                    .bind(&self.bridge_id)
                    .bind(key.id.as_str())
                    .bind(key.receiver_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(portal_from_row).transpose()
            })
            .await
    }

    /// The portal of a room, cached: every Matrix event asks this.
    pub async fn portal_by_room(&self, room_id: &str) -> Result<Option<PortalRow>> {
        self.portal_by_room
            .get_or_read(room_id, || async {
                let sql =
                    format!("SELECT {COLUMNS} FROM portal WHERE bridge_id = $1 AND room_id = $2");
                let row = sqlx::query(&sql)
                    .bind(&self.bridge_id)
                    .bind(room_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(portal_from_row).transpose()
            })
            .await
    }

    /// Forgets cached portal lookups after a portal write.
    fn portals_changed(&self) {
        self.portal_by_room.clear();
        self.portal_by_key.clear();
    }

    pub async fn all_portals(&self) -> Result<Vec<PortalRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM portal WHERE bridge_id = $1 ORDER BY portal_id"
        ))
        .bind(&self.bridge_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(portal_from_row).collect()
    }

    pub async fn put_portal(&self, portal: &PortalRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal (bridge_id, portal_id, receiver, room_id, name, topic, plumbed, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (bridge_id, portal_id, receiver) DO UPDATE SET room_id = excluded.room_id, name = excluded.name, \
             topic = excluded.topic, plumbed = excluded.plumbed, metadata = excluded.metadata",
        )
        .bind(&self.bridge_id)
        .bind(portal.key.id.as_str())
        .bind(portal.key.receiver_str())
        .bind(portal.room_id.as_deref())
        .bind(portal.name.as_deref())
        .bind(portal.topic.as_deref())
        .bind(i64::from(portal.plumbed))
        .bind(portal.metadata.to_string())
        .execute(&mut *self.writer.acquire().await?)
        .await?;
        self.portals_changed();
        Ok(())
    }

    pub async fn delete_portal(&self, key: &PortalKey) -> Result<()> {
        self.known_portal_logins.retain(|(portal, _)| portal != key);
        let mut conn = self.writer.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // Its message mappings go too: a new room for the chat starts afresh.
        for table in ["message", "reaction", "portal_login", "portal"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3"
            ))
            .bind(&self.bridge_id)
            .bind(key.id.as_str())
            .bind(key.receiver_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.portals_changed();
        Ok(())
    }
}

/// A portal key from a row's `portal_id` and `receiver` columns, where the
/// empty receiver marks a shared portal (the inverse of `receiver_str`).
pub(super) fn portal_key_from_row(row: &sqlx::any::AnyRow) -> Result<PortalKey> {
    let receiver: String = row.try_get("receiver")?;
    Ok(PortalKey {
        id: PortalId(row.try_get("portal_id")?),
        receiver: (!receiver.is_empty()).then_some(LoginId(receiver)),
    })
}

fn portal_from_row(row: sqlx::any::AnyRow) -> Result<PortalRow> {
    let plumbed: i64 = row.try_get("plumbed")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(PortalRow {
        key: portal_key_from_row(&row)?,
        room_id: row.try_get("room_id")?,
        name: row.try_get("name")?,
        topic: row.try_get("topic")?,
        plumbed: plumbed != 0,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn portals_are_found_by_key_and_by_room() {
        let (store, _dir) = test_store().await;
        let portal = PortalRow {
            key: PortalKey::for_login("dm", "l1".into()),
            room_id: Some("!room".into()),
            name: Some("DM".into()),
            topic: None,
            plumbed: true,
            metadata: serde_json::json!({"k": 1}),
        };
        store.put_portal(&portal).await.unwrap();
        let by_room = store.portal_by_room("!room").await.unwrap().unwrap();
        assert_eq!(by_room.key, portal.key);
        assert!(by_room.plumbed);
        assert!(store
            .get_portal(&PortalKey::shared("dm"))
            .await
            .unwrap()
            .is_none());
        store.delete_portal(&portal.key).await.unwrap();
        assert!(store.all_portals().await.unwrap().is_empty());
        assert!(
            store.portal_by_room("!room").await.unwrap().is_none(),
            "the cache follows deletes"
        );
        store.put_portal(&portal).await.unwrap();
        assert!(
            store.portal_by_room("!room").await.unwrap().is_some(),
            "the cache follows inserts"
        );
    }
}
