//! Signal state: identities, sessions, pre-keys, signed pre-keys and group
//! sender keys. Sessions change with every message, so their batch write is
//! one commit.

use super::*;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use wacore::store::traits::SignalStore;

/// A pre-key row: whether it was uploaded, then the record.
fn prekey_value(record: &[u8], uploaded: bool) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + record.len());
    value.push(u8::from(uploaded));
    value.extend_from_slice(record);
    value
}

fn prekey_record(value: &[u8]) -> Result<Bytes> {
    value
        .split_first()
        .map(|(_, record)| Bytes::copy_from_slice(record))
        .ok_or_else(|| corrupt("pre-key"))
}

fn parse_id(key: &str) -> Result<u32> {
    key.parse().map_err(|_| corrupt("pre-key ID"))
}

impl WaStore {
    /// Whether a key in `kind` addresses `user`, on any device: addresses
    /// are `user@server` or `user:device@server`.
    async fn has_rows_for_user(&self, kind: &str, user: &str) -> Result<bool> {
        let user = escape(user);
        let keys = self.rows(kind).keys(&user).await.map_err(db)?;
        Ok(keys
            .iter()
            .any(|key| key[user.len()..].starts_with(['@', ':'])))
    }
}

#[async_trait]
impl SignalStore for WaStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.rows(IDENTITY)
            .put(&escape(address), &key)
            .await
            .map_err(db)
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let values: Vec<_> = identities.iter().map(|(a, k)| (escape(a), k)).collect();
        put_each(&self.rows(IDENTITY), &values).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        let value = self
            .rows(IDENTITY)
            .get(&escape(address))
            .await
            .map_err(db)?;
        value
            .map(|v| v.try_into().map_err(|_| corrupt("identity key")))
            .transpose()
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.rows(IDENTITY)
            .delete(&escape(address))
            .await
            .map_err(db)
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        let value = self.rows(SESSION).get(&escape(address)).await.map_err(db)?;
        Ok(value.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.rows(SESSION)
            .put(&escape(address), session)
            .await
            .map_err(db)
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        let values: Vec<_> = sessions.iter().map(|(a, s)| (escape(a), s)).collect();
        put_each(&self.rows(SESSION), &values).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        self.rows(SESSION)
            .delete(&escape(address))
            .await
            .map_err(db)
    }

    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        Ok(self.has_rows_for_user(SESSION, user).await?
            || self.has_rows_for_user(IDENTITY, user).await?)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        self.rows(PREKEY)
            .put(&numbered(id), &prekey_value(record, uploaded))
            .await
            .map_err(db)
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        let values: Vec<_> = keys
            .iter()
            .map(|(id, record)| (numbered(*id), prekey_value(record, uploaded)))
            .collect();
        put_each(&self.rows(PREKEY), &values).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        let value = self.rows(PREKEY).get(&numbered(id)).await.map_err(db)?;
        value.map(|v| prekey_record(&v)).transpose()
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let rows = self.rows(PREKEY);
        let mut marked = Vec::new();
        for id in ids {
            // Only rows still there: a key used up since the upload stays gone.
            if let Some(mut value) = rows.get(&numbered(*id)).await.map_err(db)? {
                value[0] = 1;
                marked.push((numbered(*id), value));
            }
        }
        put_each(&rows, &marked).await
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        self.rows(PREKEY).delete(&numbered(id)).await.map_err(db)
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        let keys = self.rows(PREKEY).keys("").await.map_err(db)?;
        keys.last().map_or(Ok(0), |key| parse_id(key))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        self.rows(SIGNED_PREKEY)
            .put(&numbered(id), record)
            .await
            .map_err(db)
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.rows(SIGNED_PREKEY)
            .get(&numbered(id))
            .await
            .map_err(db)
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let entries = self.rows(SIGNED_PREKEY).entries("").await.map_err(db)?;
        entries
            .into_iter()
            .map(|(key, value)| Ok((parse_id(&key)?, value)))
            .collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.rows(SIGNED_PREKEY)
            .delete(&numbered(id))
            .await
            .map_err(db)
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.rows(SENDER_KEY)
            .put(&escape(address), record)
            .await
            .map_err(db)
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        let values: Vec<_> = sender_keys.iter().map(|(a, r)| (escape(a), r)).collect();
        put_each(&self.rows(SENDER_KEY), &values).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.rows(SENDER_KEY)
            .get(&escape(address))
            .await
            .map_err(db)
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.rows(SENDER_KEY)
            .delete(&escape(address))
            .await
            .map_err(db)
    }
}
