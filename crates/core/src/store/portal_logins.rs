//! Which logins are in which portal's chat: the logins a Matrix user may
//! send through there, and the portal's relay login, which sends for users
//! who have none there.

use super::Store;
use crate::ids::{LoginId, PortalKey};
use anyhow::Result;
use sqlx::Row;

impl Store {
    /// Records that a login is in a portal's chat; idempotent.
    /// Records that a login is in a portal's chat; returns whether that is
    /// news to this process (a pair recorded since start is not written
    /// again).
    pub async fn add_portal_login(&self, portal: &PortalKey, login: &LoginId) -> Result<bool> {
        let pair = (portal.clone(), login.clone());
        if self.known_portal_logins.contains(&pair) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO portal_login (bridge_id, portal_id, receiver, login_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (bridge_id, portal_id, receiver, login_id) DO NOTHING",
        )
        .bind(&self.bridge_id)
        .bind(portal.id.as_str())
        .bind(portal.receiver_str())
        .bind(login.as_str())
        .execute(&mut *self.writer.acquire().await?)
        .await?;
        self.known_portal_logins.insert(pair);
        Ok(true)
    }

    /// The logins in a portal's chat.
    pub async fn portal_logins(&self, portal: &PortalKey) -> Result<Vec<LoginId>> {
        let rows = sqlx::query(
            "SELECT login_id FROM portal_login WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3 ORDER BY login_id",
        )
        .bind(&self.bridge_id)
        .bind(portal.id.as_str())
        .bind(portal.receiver_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(LoginId(row.try_get("login_id")?)))
            .collect()
    }

    /// The portals whose chats a login is in.
    pub async fn portals_of_login(&self, login: &LoginId) -> Result<Vec<PortalKey>> {
        let rows = sqlx::query(
            "SELECT portal_id, receiver FROM portal_login WHERE bridge_id = $1 AND login_id = $2 ORDER BY portal_id",
        )
        .bind(&self.bridge_id)
        .bind(login.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(super::portals::portal_key_from_row)
            .collect()
    }

    /// Takes a login out of a portal's chat (and out of its relay).
    pub async fn remove_portal_login(&self, portal: &PortalKey, login: &LoginId) -> Result<()> {
        sqlx::query(
            "DELETE FROM portal_login WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3 AND login_id = $4",
        )
        .bind(&self.bridge_id)
        .bind(portal.id.as_str())
        .bind(portal.receiver_str())
        .bind(login.as_str())
        .execute(&mut *self.writer.acquire().await?)
        .await?;
        self.known_portal_logins
            .remove(&(portal.clone(), login.clone()));
        Ok(())
    }

    /// The portal's relay login, if one is set.
    pub async fn relay_login(&self, portal: &PortalKey) -> Result<Option<LoginId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT login_id FROM portal_login WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3 AND relay = 1",
        )
        .bind(&self.bridge_id)
        .bind(portal.id.as_str())
        .bind(portal.receiver_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(LoginId))
    }

    /// Makes `login` the portal's relay, or clears the relay with `None`.
    pub async fn set_relay_login(&self, portal: &PortalKey, login: Option<&LoginId>) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "UPDATE portal_login SET relay = 0 WHERE bridge_id = $1 AND portal_id = $2 AND receiver = $3",
        )
        .bind(&self.bridge_id)
        .bind(portal.id.as_str())
        .bind(portal.receiver_str())
        .execute(&mut *tx)
        .await?;
        if let Some(login) = login {
            sqlx::query(
                "INSERT INTO portal_login (bridge_id, portal_id, receiver, login_id, relay) VALUES ($1, $2, $3, $4, 1) \
                 ON CONFLICT (bridge_id, portal_id, receiver, login_id) DO UPDATE SET relay = 1",
            )
            .bind(&self.bridge_id)
            .bind(portal.id.as_str())
            .bind(portal.receiver_str())
            .bind(login.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{LoginId, PortalKey};
    use crate::store::test_store;

    #[tokio::test]
    async fn logins_are_recorded_once_per_portal() {
        let (store, _dir) = test_store().await;
        let group = PortalKey::shared("g1");
        store.add_portal_login(&group, &"b".into()).await.unwrap();
        store.add_portal_login(&group, &"a".into()).await.unwrap();
        store.add_portal_login(&group, &"a".into()).await.unwrap();
        let logins = store.portal_logins(&group).await.unwrap();
        assert_eq!(logins, [LoginId::from("a"), LoginId::from("b")]);
        assert!(store
            .portal_logins(&PortalKey::shared("g2"))
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_logins_portals_are_found_and_it_can_leave_one() {
        let (store, _dir) = test_store().await;
        let (g1, g2) = (PortalKey::shared("g1"), PortalKey::shared("g2"));
        store.add_portal_login(&g1, &"a".into()).await.unwrap();
        store.add_portal_login(&g2, &"a".into()).await.unwrap();
        store.add_portal_login(&g2, &"b".into()).await.unwrap();
        assert_eq!(
            store.portals_of_login(&"a".into()).await.unwrap(),
            [g1.clone(), g2.clone()]
        );
        store.remove_portal_login(&g2, &"a".into()).await.unwrap();
        assert_eq!(store.portals_of_login(&"a".into()).await.unwrap(), [g1]);
        assert_eq!(
            store.portal_logins(&g2).await.unwrap(),
            [LoginId::from("b")]
        );
    }

    #[tokio::test]
    async fn a_portal_has_at_most_one_relay_login() {
        let (store, _dir) = test_store().await;
        let group = PortalKey::shared("g1");
        store.add_portal_login(&group, &"a".into()).await.unwrap();
        store
            .set_relay_login(&group, Some(&"a".into()))
            .await
            .unwrap();
        store
            .set_relay_login(&group, Some(&"b".into()))
            .await
            .unwrap();
        assert_eq!(store.relay_login(&group).await.unwrap(), Some("b".into()));
        store.set_relay_login(&group, None).await.unwrap();
        assert_eq!(store.relay_login(&group).await.unwrap(), None);
        assert_eq!(store.portal_logins(&group).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn deleting_a_login_takes_it_out_of_its_portals() {
        let (store, _dir) = test_store().await;
        let group = PortalKey::shared("g1");
        store
            .set_relay_login(&group, Some(&"a".into()))
            .await
            .unwrap();
        store.delete_login(&"a".into()).await.unwrap();
        assert_eq!(store.relay_login(&group).await.unwrap(), None);
        assert!(store.portal_logins(&group).await.unwrap().is_empty());
    }
}
