//! The device itself (its keys, its account identity, its counters) and
//! the secrets of our own messages, which later reactions, poll votes and
//! edits are encrypted against.

use super::*;
use async_trait::async_trait;
use std::sync::Arc;
use wacore::client_profile::ClientProfile;
use wacore::store::device::DEVICE_PROPS;
use wacore::store::traits::{
    merge_msg_secret_expiry, merge_msg_secret_message_ts, DeviceStore, MessageSecret,
    MsgSecretEntry, MsgSecretStore,
};
use wacore::store::Device;

/// The one device of a login, in `DEVICE`.
const THE_DEVICE: &str = "device";

/// A message secret row: the secret, its expiry and its message's time.
fn secret_value(secret: &MessageSecret, expires_at: i64, message_ts: i64) -> Vec<u8> {
    let mut value = secret.to_vec();
    value.extend_from_slice(&expires_at.to_be_bytes());
    value.extend_from_slice(&message_ts.to_be_bytes());
    value
}

fn secret_parts(value: &[u8]) -> Result<(MessageSecret, i64, i64)> {
    let (secret, times) = value
        .split_first_chunk::<32>()
        .ok_or_else(|| corrupt("message secret"))?;
    let (expires_at, message_ts) = unstamped(times)?;
    let message_ts = message_ts
        .try_into()
        .map_err(|_| corrupt("message secret"))?;
    Ok((*secret, expires_at, i64::from_be_bytes(message_ts)))
}

fn secret_key(chat: &str, sender: &str, msg_id: &str) -> String {
    key(&[chat, sender, msg_id])
}

#[async_trait]
impl DeviceStore for WaStore {
    async fn save(&self, device: &Device) -> Result<()> {
        self.rows(DEVICE)
            .put(THE_DEVICE, &to_json(device)?)
            .await
            .map_err(db)
    }

    async fn load(&self) -> Result<Option<Device>> {
        let value = self.rows(DEVICE).get(THE_DEVICE).await.map_err(db)?;
        let Some(value) = value else {
            return Ok(None);
        };
        let mut device: Device = from_json(&value)?;
        // What the library keeps only in memory, as a new device has it.
        device.device_props = Arc::new(DEVICE_PROPS.clone());
        device.client_profile = ClientProfile::web();
        Ok(Some(device))
    }

    async fn exists(&self) -> Result<bool> {
        let keys = self.rows(DEVICE).keys(THE_DEVICE).await.map_err(db)?;
        Ok(!keys.is_empty())
    }

    /// A login has one device: creating it twice keeps the first.
    async fn create(&self) -> Result<i32> {
        if !self.exists().await? {
            self.save(&Device::new()).await?;
        }
        Ok(1)
    }
}

#[async_trait]
impl MsgSecretStore for WaStore {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let _guard = self.rmw.lock().await;
        let rows = self.rows(MSG_SECRET);
        let mut values = Vec::with_capacity(entries.len());
        for entry in &entries {
            let key = secret_key(&entry.chat, &entry.sender, &entry.msg_id);
            // A redelivery or an edit never shortens a window or forgets a time.
            let (expires_at, message_ts) = match rows.get(&key).await.map_err(db)? {
                Some(old) => {
                    let (_, old_expiry, old_ts) = secret_parts(&old)?;
                    (
                        merge_msg_secret_expiry(old_expiry, entry.expires_at),
                        merge_msg_secret_message_ts(old_ts, entry.message_ts),
                    )
                }
                None => (entry.expires_at, entry.message_ts),
            };
            values.push((key, secret_value(&entry.secret, expires_at, message_ts)));
        }
        put_each(&rows, &values).await?;
        Ok(entries.len())
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        let found = self.get_msg_secret_with_ts(chat, sender, msg_id).await?;
        Ok(found.map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        let value = self
            .rows(MSG_SECRET)
            .get(&secret_key(chat, sender, msg_id))
            .await
            .map_err(db)?;
        value
            .map(|v| {
                let (secret, _, message_ts) = secret_parts(&v)?;
                Ok((secret.to_vec(), message_ts))
            })
            .transpose()
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        let _guard = self.rmw.lock().await;
        sweep(&self.rows(MSG_SECRET), |value| {
            let (_, expires_at, _) = secret_parts(value)?;
            Ok(expires_at != 0 && expires_at <= cutoff_timestamp)
        })
        .await
    }
}
