//! An MTProto 2.0 server on 127.0.0.1 for tests: the real grammers client,
//! unchanged, logs in to it and chats through it. Only the session tells
//! the client where to go (`SessionData` with DC 2 at this server's port
//! and a pre-registered auth key), since the key exchange accepts only
//! Telegram's own RSA keys.
//!
//! So far it speaks the `Full` transport, MTProto 2.0 encryption,
//! containers, gzip and pings; it answers the login by code
//! (`auth.sendCode`, `auth.signIn`, with wrong and expired codes) and the
//! 2FA password by SRP (`account.getPassword`, `auth.checkPassword`), the
//! QR login (`auth.exportLoginToken`, accepted by another logged-in client
//! with `auth.acceptLoginToken`, then `updateLoginToken`),
//! `auth.logOut`, `help.getConfig`, `users.getUsers`,
//! `contacts.resolveUsername`, private text messages with their pushed
//! updates, `updates.getState` and `updates.getDifference`; and it can
//! answer `FLOOD_WAIT`, revoke a login, withhold pushes (a gap) and drop
//! connections.

mod connection;
mod control;
mod crypto;
pub mod layer;
mod rpc;
mod service;
mod state;
mod tl_build;
mod tl_full;
mod transport;
mod two_factor;

pub use control::router as control_router;
pub use state::{AccountSpec, SentCode};

use anyhow::Result;
use state::{Account, KeyEntry, State};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The layer this server speaks: grammers-tl-types'.
pub const LAYER: i32 = grammers_tl_types::LAYER;

/// The data centres the server plays: DC 2, where clients start, and DC 4,
/// where an account may live so that logging in must migrate.
pub const DCS: [i32; 2] = [2, 4];

pub(crate) struct Inner {
    pub state: Mutex<State>,
    pub msg_ids: service::MsgIds,
    /// Each DC's port, in `DCS` order.
    pub ports: [u16; 2],
    /// Every pending code counts as expired.
    pub expire_codes: AtomicBool,
    /// Bumped to close every open connection.
    pub drop_connections: tokio::sync::watch::Sender<u64>,
}

impl Inner {
    pub fn expired_codes(&self) -> bool {
        self.expire_codes.load(Ordering::Relaxed)
    }
}

/// A running server; it stops when dropped.
pub struct TestServer {
    inner: Arc<Inner>,
    accepts: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for accept in &self.accepts {
            accept.abort();
        }
    }
}

impl TestServer {
    /// Starts a server on free loopback ports, one per DC, with these
    /// accounts.
    pub async fn start(accounts: Vec<AccountSpec>) -> Result<Self> {
        Self::start_on(accounts, [0, 0]).await
    }

    /// Starts a server on these loopback ports (0 picks one), DC 2's first.
    pub async fn start_on(accounts: Vec<AccountSpec>, ports: [u16; 2]) -> Result<Self> {
        let listeners = [
            TcpListener::bind(("127.0.0.1", ports[0])).await?,
            TcpListener::bind(("127.0.0.1", ports[1])).await?,
        ];
        let ports = [
            listeners[0].local_addr()?.port(),
            listeners[1].local_addr()?.port(),
        ];
        let state = State {
            accounts: accounts
                .into_iter()
                .enumerate()
                .map(|(i, spec)| Account {
                    id: 1_000 + i as i64,
                    access_hash: rand::random::<i64>() | 1,
                    spec,
                })
                .collect(),
            ..Default::default()
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            msg_ids: service::MsgIds::default(),
            ports,
            expire_codes: AtomicBool::new(false),
            drop_connections: tokio::sync::watch::Sender::new(0),
        });
        let next = Arc::new(AtomicU64::new(1));
        let mut accepts = Vec::new();
        for (listener, dc) in listeners.into_iter().zip(DCS) {
            let (accepting, next) = (inner.clone(), next.clone());
            accepts.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    // MTProto packets are small: sent at once, not batched.
                    let _ = stream.set_nodelay(true);
                    let server = accepting.clone();
                    let conn = next.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        if let Err(err) = connection::serve(server, stream, conn, dc).await {
                            tracing::debug!("connection {conn} ended: {err:#}");
                        }
                    });
                }
            }));
        }
        Ok(Self { inner, accepts })
    }

    /// The port of DC 2, where clients start.
    pub fn port(&self) -> u16 {
        self.inner.ports[0]
    }

    /// The port of a DC the server plays.
    pub fn port_of(&self, dc: i32) -> Option<u16> {
        DCS.iter()
            .position(|d| *d == dc)
            .map(|i| self.inner.ports[i])
    }

    /// A new auth key the server accepts, for a client's session.
    pub fn register_key(&self) -> [u8; 256] {
        let data: [u8; 256] = std::array::from_fn(|_| rand::random());
        let key = crypto::AuthKey::new(data);
        if let Ok(mut state) = self.inner.state.lock() {
            state.keys.insert(
                key.id,
                KeyEntry {
                    key,
                    user: None,
                    password_pending: None,
                    challenge: None,
                    login_token: None,
                    duplicated: false,
                },
            );
        }
        data
    }

    /// The user ID of the account with this phone number.
    pub fn user_id(&self, phone: &str) -> Option<i64> {
        let state = self.inner.state.lock().ok()?;
        state.account_by_phone(phone).map(|a| a.id)
    }

    /// The login codes sent so far, oldest first.
    pub fn sent_codes(&self) -> Vec<SentCode> {
        self.inner
            .state
            .lock()
            .map(|s| s.sent_codes.clone())
            .unwrap_or_default()
    }

    /// Makes every pending login code expired (or not).
    pub fn expire_codes(&self, expired: bool) {
        self.inner.expire_codes.store(expired, Ordering::Relaxed);
    }

    /// Answers every call of the method with this constructor ID with
    /// `FLOOD_WAIT_<seconds>`; `None` lifts it.
    pub fn flood_wait(&self, constructor: u32, seconds: Option<i32>) {
        if let Ok(mut state) = self.inner.state.lock() {
            match seconds {
                Some(seconds) => state.flood_waits.insert(constructor, seconds),
                None => state.flood_waits.remove(&constructor),
            };
        }
    }

    /// Ends every login of the account elsewhere, as "terminate all
    /// sessions" does: their next call gets `AUTH_KEY_UNREGISTERED`.
    pub fn revoke_logins(&self, user: i64) {
        if let Ok(mut state) = self.inner.state.lock() {
            for entry in state.keys.values_mut() {
                if entry.user == Some(user) {
                    entry.user = None;
                }
            }
            state.pushers.remove(&user);
        }
    }

    /// While set, updates are not pushed: the client has to notice the gap
    /// and fetch them with `getDifference`.
    pub fn withhold_pushes(&self, withhold: bool) {
        if let Ok(mut state) = self.inner.state.lock() {
            state.withhold_pushes = withhold;
        }
    }

    /// Closes every open connection, as a network failure would; clients
    /// connect again and must find what they missed.
    pub fn drop_connections(&self) {
        self.inner
            .drop_connections
            .send_modify(|generation| *generation += 1);
    }

    /// Answers the account's next calls with `AUTH_KEY_DUPLICATED` (406):
    /// its key was used from two places at once, and is void.
    pub fn duplicate_keys(&self, user: i64) {
        if let Ok(mut state) = self.inner.state.lock() {
            for entry in state.keys.values_mut() {
                if entry.user == Some(user) {
                    entry.user = None;
                    entry.duplicated = true;
                }
            }
        }
    }
}

impl TestServer {
    /// Sends a private text message between two accounts, as if from the
    /// sender's phone.
    pub fn send_as(&self, from_phone: &str, to_phone: &str, text: &str) -> Result<()> {
        let mut state = self
            .inner
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("state lock poisoned"))?;
        let from = state.account_by_phone(from_phone).map(|a| a.id);
        let to = state.account_by_phone(to_phone).map(|a| a.id);
        let (Some(from), Some(to)) = (from, to) else {
            anyhow::bail!("no account has {from_phone} or {to_phone}");
        };
        rpc::messages::send_as(&mut state, from, to, text);
        Ok(())
    }
}

impl TestServer {
    /// Scans every QR login code on show with the phone of the account
    /// with this number, which accepts it; returns how many there were.
    pub fn scan_qr_codes(&self, phone: &str) -> usize {
        let Ok(mut state) = self.inner.state.lock() else {
            return 0;
        };
        let Some(user) = state.account_by_phone(phone).map(|a| a.id) else {
            return 0;
        };
        rpc::auth::accept_pending_tokens(&mut state, user)
    }
}
