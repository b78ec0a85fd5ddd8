//! whatsapp-rust's storage (`wacore::store::Backend`) in the bridge's own
//! database, on SQLite or PostgreSQL like everything else.
//!
//! The library's state is one login's encrypted key-value rows (the core's
//! `LoginData`): a namespace per kind of state, so that a scan for one kind
//! (the pre-keys, one group's sender-key devices, the rows due to expire)
//! reads only that kind. Every value is sealed with the login-data purpose
//! key and bound to its row, and all of it goes when the login is deleted.
//! Rows are keyed by bridge and login, so many accounts share one database.
//!
//! The reference for behaviour is `wacore::store::InMemoryBackend`: the
//! contract tests in `tests.rs` run the same checks against both.

mod app_sync;
#[cfg(test)]
mod database_tests;
mod device;
mod protocol;
mod signal;
#[cfg(test)]
mod tests;

use causeway_core::ids::LoginId;
use causeway_core::store::{LoginData, SecretBox, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use wacore::store::error::{Result, StoreError};

/// The kinds of state, each a `LoginData` namespace of its own.
const KINDS: [&str; 18] = [
    DEVICE,
    IDENTITY,
    SESSION,
    PREKEY,
    SIGNED_PREKEY,
    SENDER_KEY,
    APP_STATE_KEY,
    APP_STATE_VERSION,
    MUTATION_MAC,
    SENDER_KEY_DEVICE,
    LID_PN,
    BASE_KEY,
    DEVICE_LIST,
    GROUP_METADATA,
    TC_TOKEN,
    SENT_MESSAGE,
    PENDING_INBOUND,
    MSG_SECRET,
];
const DEVICE: &str = "whatsapp/device";
const IDENTITY: &str = "whatsapp/identity";
const SESSION: &str = "whatsapp/session";
const PREKEY: &str = "whatsapp/prekey";
const SIGNED_PREKEY: &str = "whatsapp/signed-prekey";
const SENDER_KEY: &str = "whatsapp/sender-key";
const APP_STATE_KEY: &str = "whatsapp/app-state-key";
const APP_STATE_VERSION: &str = "whatsapp/app-state-version";
const MUTATION_MAC: &str = "whatsapp/mutation-mac";
const SENDER_KEY_DEVICE: &str = "whatsapp/sender-key-device";
const LID_PN: &str = "whatsapp/lid-pn";
const BASE_KEY: &str = "whatsapp/base-key";
const DEVICE_LIST: &str = "whatsapp/device-list";
const GROUP_METADATA: &str = "whatsapp/group-metadata";
const TC_TOKEN: &str = "whatsapp/tc-token";
const SENT_MESSAGE: &str = "whatsapp/sent-message";
const PENDING_INBOUND: &str = "whatsapp/pending-inbound";
const MSG_SECRET: &str = "whatsapp/msg-secret";
/// Set once the phone unlinked the device. Not among [`KINDS`]: it outlives
/// [`WaStore::forget`], because a client still stopping may save its device
/// again after the rows went.
const UNLINKED: &str = "whatsapp/unlinked";

/// One login's WhatsApp state. Give it to whatsapp-rust as its backend.
pub struct WaStore {
    store: Store,
    secrets: SecretBox,
    login: LoginId,
    /// Held across a read-modify-write (a token's timestamps, a message
    /// secret's expiry, a LID's phone number), which the library expects to
    /// be atomic. One process serves a login, so a lock here is enough.
    rmw: tokio::sync::Mutex<()>,
}

impl WaStore {
    pub fn new(store: Store, secrets: SecretBox, login: LoginId) -> Self {
        Self {
            store,
            secrets,
            login,
            rmw: tokio::sync::Mutex::new(()),
        }
    }

    pub fn login_id(&self) -> &LoginId {
        &self.login
    }

    /// The rows of one kind of state.
    fn rows(&self, kind: &str) -> LoginData {
        LoginData::new(
            self.store.clone(),
            self.secrets.clone(),
            self.login.clone(),
            kind,
        )
    }

    /// Whether this login's device is linked to a phone: paired, and not
    /// unlinked since.
    pub async fn is_linked(&self) -> anyhow::Result<bool> {
        use wacore::store::traits::DeviceStore;
        if self.rows(UNLINKED).get("").await?.is_some() {
            return Ok(false);
        }
        Ok(self.load().await?.is_some_and(|device| device.pn.is_some()))
    }

    /// Records that the phone unlinked this device, so that no restart
    /// connects it again (which would start linking a new one, unasked).
    /// One write, made before anyone is told: a crash right after still
    /// finds the login unlinked.
    pub async fn mark_unlinked(&self) -> anyhow::Result<()> {
        self.rows(UNLINKED).put("", b"").await
    }

    /// Deletes all of this login's WhatsApp state.
    pub async fn forget(&self) -> anyhow::Result<()> {
        for kind in KINDS {
            self.rows(kind).delete_prefix("").await?;
        }
        Ok(())
    }
}

/// A database error, as whatsapp-rust wants it.
fn db(err: anyhow::Error) -> StoreError {
    StoreError::Database(err.into())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Validation(format!("a stored WhatsApp {what} is unreadable"))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|err| StoreError::Serialization(Box::new(err)))
}

fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Serialization(Box::new(err)))
}

/// A row key made of parts. Each part has `%`, `/` and NUL escaped, so that
/// `/` only ever separates parts and a prefix of whole parts selects exactly
/// the rows under it (PostgreSQL text cannot hold NUL at all).
fn key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|part| escape(part))
        .collect::<Vec<_>>()
        .join("/")
}

/// The prefix that selects every key whose leading parts are `parts`.
fn under(parts: &[&str]) -> String {
    let mut prefix = key(parts);
    prefix.push('/');
    prefix
}

fn escape(part: &str) -> Cow<'_, str> {
    if part.contains(['%', '/', '\0']) {
        Cow::Owned(
            part.replace('%', "%25")
                .replace('/', "%2F")
                .replace('\0', "%00"),
        )
    } else {
        Cow::Borrowed(part)
    }
}

/// The parts of a key, unescaped.
fn parts(key: &str) -> Vec<String> {
    key.split('/')
        .map(|part| {
            part.replace("%2F", "/")
                .replace("%00", "\0")
                .replace("%25", "%")
        })
        .collect()
}

/// A number as a key part that sorts in numeric order.
fn numbered(id: u32) -> String {
    format!("{id:010}")
}

/// A value with the Unix time (seconds) it was written or expires at in
/// front, for the sweeps that delete old rows.
fn stamped(seconds: i64, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + bytes.len());
    value.extend_from_slice(&seconds.to_be_bytes());
    value.extend_from_slice(bytes);
    value
}

fn unstamped(value: &[u8]) -> Result<(i64, &[u8])> {
    let (seconds, bytes) = value
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("stamped value"))?;
    Ok((i64::from_be_bytes(*seconds), bytes))
}

fn now_secs() -> i64 {
    wacore::time::now_secs()
}

/// Writes several rows of one kind in one commit.
async fn put_each<K: AsRef<str>, V: AsRef<[u8]>>(
    rows: &LoginData,
    values: &[(K, V)],
) -> Result<()> {
    let values: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    rows.put_all(&values).await.map_err(db)
}

/// Deletes several rows of one kind in one commit.
async fn delete_each<K: AsRef<str>>(rows: &LoginData, keys: &[K]) -> Result<()> {
    let keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    rows.delete_all(&keys).await.map_err(db)
}

/// Deletes the rows of `rows` whose value `expired` says has expired,
/// returning how many went.
async fn sweep(rows: &LoginData, expired: impl Fn(&[u8]) -> Result<bool>) -> Result<u32> {
    let mut gone = Vec::new();
    for (key, value) in rows.entries("").await.map_err(db)? {
        if expired(&value)? {
            gone.push(key);
        }
    }
    delete_each(rows, &gone).await?;
    Ok(u32::try_from(gone.len()).unwrap_or(u32::MAX))
}
