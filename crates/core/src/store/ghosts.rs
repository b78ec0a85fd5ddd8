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

    /// Saves a ghost. On PostgreSQL, ON CONFLICT checks only its target,
    /// the primary key: two tasks saving the same new ghost at once could
    /// both miss it, and the second then failed on the index of Matrix IDs
    /// (an event from the network was lost with it). Its second try finds
    /// the row and updates it.
    pub async fn put_ghost(&self, ghost: &GhostRow) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        match self.upsert_ghost(&mut conn, ghost).await {
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                Ok(self.upsert_ghost(&mut conn, ghost).await?)
            }
            other => Ok(other?),
        }
    }

    async fn upsert_ghost(
        &self,
        conn: &mut sqlx::AnyConnection,
        ghost: &GhostRow,
    ) -> sqlx::Result<()> {
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
        .execute(conn)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_saving_the_same_new_ghost_at_once_all_succeed() {
        let (store, _dir) = test_store().await;
        let store = std::sync::Arc::new(store);
        for n in 0..20 {
            let ghost = GhostRow {
                remote_id: format!("bob{n}").as_str().into(),
                mxid: format!("@_t_bob{n}:x"),
                displayname: None,
                avatar_mxc: None,
                registered: false,
            };
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (store, ghost) = (store.clone(), ghost.clone());
                    tokio::spawn(async move { store.put_ghost(&ghost).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
        }
    }
}
