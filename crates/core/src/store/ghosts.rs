//! Ghosts: the Matrix users that stand for remote users, with a profile cache
//! so that the profile is only set on the homeserver when it changes.

use super::Store;
use crate::ids::RemoteUserId;
use anyhow::Result;
use sqlx::Row;

#[derive(Clone, Debug)]
pub struct GhostRow {
    pub remote_id: RemoteUserId,
    pub mxid: String,
    pub displayname: Option<String>,
    pub avatar_mxc: Option<String>,
    pub registered: bool,
}

impl Store {
    pub async fn get_ghost(&self, remote_id: &RemoteUserId) -> Result<Option<GhostRow>> {
        let row = sqlx::query("SELECT mxid, displayname, avatar_mxc, registered FROM ghost WHERE bridge_id = $1 AND remote_id = $2")
            .bind(&self.bridge_id)
            .bind(remote_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let registered: i64 = row.try_get("registered")?;
            Ok(GhostRow {
                remote_id: remote_id.clone(),
                mxid: row.try_get("mxid")?,
                displayname: row.try_get("displayname")?,
                avatar_mxc: row.try_get("avatar_mxc")?,
                registered: registered != 0,
            })
        })
        .transpose()
    }

    pub async fn put_ghost(&self, ghost: &GhostRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO ghost (bridge_id, remote_id, mxid, displayname, avatar_mxc, registered) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (bridge_id, remote_id) DO UPDATE SET mxid = excluded.mxid, displayname = excluded.displayname, \
             avatar_mxc = excluded.avatar_mxc, registered = excluded.registered",
        )
        .bind(&self.bridge_id)
        .bind(ghost.remote_id.as_str())
        .bind(&ghost.mxid)
        .bind(ghost.displayname.as_deref())
        .bind(ghost.avatar_mxc.as_deref())
        .bind(i64::from(ghost.registered))
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn ghost_profile_cache_round_trips() {
        let (store, _dir) = test_store().await;
        let ghost = GhostRow {
            remote_id: "bob".into(),
            mxid: "@_t_bob:x".into(),
            displayname: Some("Bob".into()),
            avatar_mxc: None,
            registered: true,
        };
        store.put_ghost(&ghost).await.unwrap();
        let back = store.get_ghost(&"bob".into()).await.unwrap().unwrap();
        assert_eq!(back.displayname.as_deref(), Some("Bob"));
        assert!(back.registered);
    }
}
