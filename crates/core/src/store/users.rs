//! Matrix users of the bridge, with their management room and settings.

use super::Store;
use anyhow::Result;
use sqlx::Row;

#[derive(Clone, Debug, Default)]
pub struct UserRow {
    pub mxid: String,
    pub management_room: Option<String>,
    /// Free-form JSON the network uses for per-user features.
    pub settings: serde_json::Value,
}

impl Store {
    pub async fn get_user(&self, mxid: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT management_room, settings FROM matrix_user WHERE bridge_id = $1 AND mxid = $2",
        )
        .bind(&self.bridge_id)
        .bind(mxid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let settings: String = row.try_get("settings")?;
            Ok(UserRow {
                mxid: mxid.to_owned(),
                management_room: row.try_get("management_room")?,
                settings: serde_json::from_str(&settings).unwrap_or_default(),
            })
        })
        .transpose()
    }

    pub async fn put_user(&self, user: &UserRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO matrix_user (bridge_id, mxid, management_room, settings) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (bridge_id, mxid) DO UPDATE SET management_room = excluded.management_room, settings = excluded.settings",
        )
        .bind(&self.bridge_id)
        .bind(&user.mxid)
        .bind(user.management_room.as_deref())
        .bind(user.settings.to_string())
        .execute(&mut *self.writer.acquire().await?)
        .await?;
        Ok(())
    }

    /// The user whose management room this is, if any.
    pub async fn user_by_management_room(&self, room_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT mxid FROM matrix_user WHERE bridge_id = $1 AND management_room = $2",
        )
        .bind(&self.bridge_id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn users_keep_their_management_room_and_settings() {
        let (store, _dir) = test_store().await;
        let user = UserRow {
            mxid: "@a:x".into(),
            management_room: Some("!m".into()),
            settings: serde_json::json!({"f": true}),
        };
        store.put_user(&user).await.unwrap();
        let back = store.get_user("@a:x").await.unwrap().unwrap();
        assert_eq!(back.management_room.as_deref(), Some("!m"));
        assert_eq!(back.settings["f"], true);
        assert_eq!(
            store
                .user_by_management_room("!m")
                .await
                .unwrap()
                .as_deref(),
            Some("@a:x")
        );
        assert!(store.get_user("@b:x").await.unwrap().is_none());
    }
}
