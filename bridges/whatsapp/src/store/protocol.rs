//! Protocol bookkeeping: which group devices hold our sender key, LID and
//! phone-number mappings, base keys for retries, device lists, group
//! metadata, trusted-contact tokens, sent messages kept for retries, and
//! decrypted messages waiting for the bridge to commit them.

use super::*;
use async_trait::async_trait;
use wacore::store::traits::{
    DeviceListRecord, LidPnMappingEntry, PendingInboundKey, PendingInboundRow, ProtocolStore,
    TcTokenEntry,
};

/// In `LID_PN`, a mapping is kept by LID, and its LID by phone number, so
/// that both lookups are one read and both rows change in one commit.
fn by_lid(lid: &str) -> String {
    key(&["lid", lid])
}

fn by_phone(phone: &str) -> String {
    key(&["pn", phone])
}

fn has_key_value(has_key: bool) -> [u8; 1] {
    [u8::from(has_key)]
}

impl WaStore {
    async fn tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        let value = self.rows(TC_TOKEN).get(&escape(jid)).await.map_err(db)?;
        value.map(|v| from_json(&v)).transpose()
    }

    async fn put_tc_token_row(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        self.rows(TC_TOKEN)
            .put(&escape(jid), &to_json(entry)?)
            .await
            .map_err(db)
    }
}

#[async_trait]
impl ProtocolStore for WaStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let entries = self
            .rows(SENDER_KEY_DEVICE)
            .entries(&under(&[group_jid]))
            .await
            .map_err(db)?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let device = parts(&key).pop().ok_or_else(|| corrupt("device key"))?;
                Ok((device, value.first() == Some(&1)))
            })
            .collect()
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        let values: Vec<_> = entries
            .iter()
            .map(|(device, has_key)| (key(&[group_jid, device]), has_key_value(*has_key)))
            .collect();
        put_each(&self.rows(SENDER_KEY_DEVICE), &values).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.rows(SENDER_KEY_DEVICE)
            .delete_prefix(&under(&[group_jid]))
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        let rows = self.rows(SENDER_KEY_DEVICE);
        let keys = rows.keys("").await.map_err(db)?;
        let gone: Vec<&String> = keys
            .iter()
            .filter(|key| {
                parts(key)
                    .last()
                    .is_some_and(|device| device_jids.contains(&device.as_str()))
            })
            .collect();
        delete_each(&rows, &gone).await
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        self.rows(SENDER_KEY_DEVICE)
            .delete_prefix("")
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        let value = self.rows(LID_PN).get(&by_lid(lid)).await.map_err(db)?;
        value.map(|v| from_json(&v)).transpose()
    }

    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        let lid = self.rows(LID_PN).get(&by_phone(phone)).await.map_err(db)?;
        match lid {
            Some(lid) => {
                let lid = String::from_utf8(lid).map_err(|_| corrupt("LID"))?;
                self.get_lid_mapping(&lid).await
            }
            None => Ok(None),
        }
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        self.put_lid_mappings(std::slice::from_ref(entry)).await
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let rows = self.rows(LID_PN);
        for entry in entries {
            // A LID that moved to another number no longer answers for the old one.
            if let Some(old) = self.get_lid_mapping(&entry.lid).await? {
                if old.phone_number != entry.phone_number {
                    rows.delete(&by_phone(&old.phone_number))
                        .await
                        .map_err(db)?;
                }
            }
            put_each(
                &rows,
                &[
                    (by_lid(&entry.lid), to_json(entry)?),
                    (
                        by_phone(&entry.phone_number),
                        entry.lid.clone().into_bytes(),
                    ),
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let entries = self
            .rows(LID_PN)
            .entries(&under(&["lid"]))
            .await
            .map_err(db)?;
        entries.iter().map(|(_, v)| from_json(v)).collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        self.rows(BASE_KEY)
            .put(&key(&[address, message_id]), base_key)
            .await
            .map_err(db)
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        let stored = self
            .rows(BASE_KEY)
            .get(&key(&[address, message_id]))
            .await
            .map_err(db)?;
        Ok(stored.is_some_and(|stored| stored == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        self.rows(BASE_KEY)
            .delete(&key(&[address, message_id]))
            .await
            .map_err(db)
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.update_device_lists(vec![record]).await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let values = records
            .iter()
            .map(|record| Ok((escape(&record.user), to_json(record)?)))
            .collect::<Result<Vec<_>>>()?;
        put_each(&self.rows(DEVICE_LIST), &values).await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        let value = self
            .rows(DEVICE_LIST)
            .get(&escape(user))
            .await
            .map_err(db)?;
        value.map(|v| from_json(&v)).transpose()
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.rows(DEVICE_LIST)
            .delete(&escape(user))
            .await
            .map_err(db)
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.rows(GROUP_METADATA)
            .get(&escape(group_jid))
            .await
            .map_err(db)
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        self.rows(GROUP_METADATA)
            .put(&escape(group_jid), blob)
            .await
            .map_err(db)
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.rows(GROUP_METADATA)
            .delete(&escape(group_jid))
            .await
            .map_err(db)
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        self.tc_token(jid).await
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        let _guard = self.rmw.lock().await;
        self.put_tc_token_row(jid, entry).await
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        self.rows(TC_TOKEN).delete(&escape(jid)).await.map_err(db)
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        let keys = self.rows(TC_TOKEN).keys("").await.map_err(db)?;
        Ok(keys.iter().flat_map(|key| parts(key)).collect())
    }

    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        let _guard = self.rmw.lock().await;
        sweep(&self.rows(TC_TOKEN), |value| {
            let entry: TcTokenEntry = from_json(value)?;
            // A row stays while either its token or our sender bucket is live.
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            Ok(!token_live && !sender_live)
        })
        .await
    }

    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let entry = match self.tc_token(jid).await? {
            Some(existing) => TcTokenEntry {
                sender_timestamp: Some(
                    existing
                        .sender_timestamp
                        .map_or(sender_timestamp, |ts| ts.max(sender_timestamp)),
                ),
                ..existing
            },
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.put_tc_token_row(jid, &entry).await
    }

    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let existing = self.tc_token(jid).await?;
        // Newer wins, but a byte-less placeholder never blocks a real token.
        if let Some(existing) = &existing {
            if !existing.token.is_empty() && token_timestamp < existing.token_timestamp {
                return Ok(());
            }
        }
        let entry = TcTokenEntry {
            token: token.to_vec(),
            token_timestamp,
            sender_timestamp: existing.and_then(|e| e.sender_timestamp),
        };
        self.put_tc_token_row(jid, &entry).await
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        self.rows(SENT_MESSAGE)
            .put(&key(&[chat_jid, message_id]), &stamped(now_secs(), payload))
            .await
            .map_err(db)
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        let value = self
            .rows(SENT_MESSAGE)
            .take(&key(&[chat_jid, message_id]))
            .await
            .map_err(db)?;
        value.map(|v| Ok(unstamped(&v)?.1.to_vec())).transpose()
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        sweep(&self.rows(SENT_MESSAGE), |value| {
            Ok(unstamped(value)?.0 < cutoff_timestamp)
        })
        .await
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> Result<()> {
        self.rows(PENDING_INBOUND)
            .put(&key(&[chat, sender, id]), &stamped(now_secs(), message))
            .await
            .map_err(db)
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>> {
        let value = self
            .rows(PENDING_INBOUND)
            .get(&key(&[chat, sender, id]))
            .await
            .map_err(db)?;
        value.map(|v| Ok(unstamped(&v)?.1.to_vec())).transpose()
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        self.rows(PENDING_INBOUND)
            .delete(&key(&[chat, sender, id]))
            .await
            .map_err(db)
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        sweep(&self.rows(PENDING_INBOUND), |value| {
            Ok(unstamped(value)?.0 < cutoff_timestamp)
        })
        .await
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        let now = now_secs();
        let values: Vec<(String, Vec<u8>)> = rows
            .iter()
            .map(|row| {
                (
                    key(&[row.chat, row.sender, row.id]),
                    stamped(now, row.message),
                )
            })
            .collect();
        put_each(&self.rows(PENDING_INBOUND), &values).await
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> Result<()> {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| key(&[k.chat, k.sender, k.id]))
            .collect();
        delete_each(&self.rows(PENDING_INBOUND), &keys).await
    }
}
