//! App-state sync: the keys the phone shares, each collection's version and
//! hash, and the MAC of every mutation the hash was built from.

use super::*;
use async_trait::async_trait;
use wacore::appstate::hash::HashState;
use wacore::appstate::processor::AppStateMutationMAC;
use wacore::store::traits::{AppStateSyncKey, AppSyncStore};

/// The key under which the latest key's ID is kept, beside the keys
/// (`key/<hex ID>`), so that both change in one commit.
const LATEST_KEY: &str = "latest";

fn sync_key(id: &[u8]) -> String {
    key(&["key", &hex::encode(id)])
}

fn mac_key(collection: &str, index_mac: &[u8]) -> String {
    key(&[collection, &hex::encode(index_mac)])
}

#[async_trait]
impl AppSyncStore for WaStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        let value = self
            .rows(APP_STATE_KEY)
            .get(&sync_key(key_id))
            .await
            .map_err(db)?;
        value.map(|v| from_json(&v)).transpose()
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        put_each(
            &self.rows(APP_STATE_KEY),
            &[
                (sync_key(key_id), to_json(&key)?),
                (LATEST_KEY.into(), key_id.to_vec()),
            ],
        )
        .await
    }

    async fn get_version(&self, name: &str) -> Result<HashState> {
        let value = self
            .rows(APP_STATE_VERSION)
            .get(&escape(name))
            .await
            .map_err(db)?;
        value.map_or_else(|| Ok(HashState::default()), |v| from_json(&v))
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        self.rows(APP_STATE_VERSION)
            .put(&escape(name), &to_json(&state)?)
            .await
            .map_err(db)
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        _version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        let values: Vec<_> = mutations
            .iter()
            .map(|m| (mac_key(name, &m.index_mac), &m.value_mac))
            .collect();
        put_each(&self.rows(MUTATION_MAC), &values).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        self.rows(MUTATION_MAC)
            .get(&mac_key(name, index_mac))
            .await
            .map_err(db)
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let keys: Vec<_> = index_macs.iter().map(|m| mac_key(name, m)).collect();
        delete_each(&self.rows(MUTATION_MAC), &keys).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        self.rows(MUTATION_MAC)
            .delete_prefix(&under(&[name]))
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        self.rows(APP_STATE_KEY).get(LATEST_KEY).await.map_err(db)
    }
}
