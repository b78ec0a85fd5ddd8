//! A WhatsApp server in miniature, on 127.0.0.1, that the real
//! whatsapp-rust client pairs with and logs in to. Tests (and the demo's
//! sandbox) drive it through [`WaTestServer`]: they create accounts, "scan"
//! the QR code a client shows, and watch what it does.
//!
//! It speaks the protocol, not a stand-in for it: the websocket at
//! `/ws/chat`, the Noise XX handshake, encrypted frames of binary nodes, and
//! pairing with ADV identities signed by the account's key.

mod conn;
pub mod control;
mod devices;
mod faults;
mod from_phone;
mod groups;
mod iq;
mod media;
mod noise;
mod pair_code;
mod pairing;
mod phone;
mod pictures;
mod presence;
mod relay;

use anyhow::Result;

pub use from_phone::{HistoryChat, HistoryMessage};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use wacore::libsignal::protocol::KeyPair;
use wacore_binary::node::Node;

/// The server's JID, which every IQ it sends names as `from`.
pub const SERVER: &str = "s.whatsapp.net";

/// A running server. Dropping it stops accepting connections.
pub struct WaTestServer {
    addr: SocketAddr,
    state: Arc<State>,
    /// The accept loop: replaced when the server restarts.
    accept: Mutex<tokio::task::JoinHandle<()>>,
    media: tokio::task::JoinHandle<()>,
}

impl Drop for WaTestServer {
    fn drop(&mut self) {
        self.accept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort();
        self.media.abort();
    }
}

/// A WhatsApp account: a number, a LID, a push name, the key its phone signs
/// companions with, and the companion devices linked so far.
struct Account {
    lid: String,
    push_name: String,
    key: KeyPair,
    /// The ADV raw ID and creation time, which key-index lists carry.
    raw_id: u32,
    created: i64,
    /// Companions by device number; the phone itself is device 0.
    devices: HashMap<u32, Companion>,
    /// How many companions were ever linked: the last device number.
    linked_ever: u32,
    /// The phone's Signal state, for what it sends its companions.
    phone: phone::Phone,
    /// A scripted contact: its phone is online (device 0 is listed and
    /// served), reads what it is sent, and answers.
    answers: bool,
}

/// A linked device, known by the Noise key it logs in with.
struct Companion {
    noise_key: [u8; 32],
    /// Its ADV identity with both signatures, served with its pre-keys.
    identity: Vec<u8>,
    bundle: Option<devices::Bundle>,
    /// Set at pairing: the phone shares its app-state keys once the
    /// companion has uploaded keys to start a session with.
    awaits_keys: bool,
}

/// A connection waiting to pair, under each QR ref it was given.
struct Unpaired {
    connection: ConnectionId,
    noise_key: [u8; 32],
    /// When the code stops being scannable, as the client's rotation has it.
    expires: std::time::Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ConnectionId(u64);

/// Something to send to one connection.
enum Outgoing {
    Node(Node),
    /// A `stream:error`, after which the server closes the connection.
    Close(Node),
    /// Closes the socket with no word, as a network fault would.
    Drop,
}

/// One device of an account: the account's phone number and the device's
/// number (0 is the phone itself). The server queues stanzas, and presence
/// reaches listeners, per device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DeviceAddress {
    phone: String,
    device: u32,
}

impl DeviceAddress {
    fn new(phone: &str, device: u32) -> Self {
        Self {
            phone: phone.to_owned(),
            device,
        }
    }

    fn is(&self, phone: &str, device: u32) -> bool {
        self.phone == phone && self.device == device
    }
}

#[derive(Default)]
struct Registry {
    accounts: HashMap<String, Account>,
    unpaired: HashMap<String, Unpaired>,
    approved: HashMap<ConnectionId, pairing::Approved>,
    pair_codes: HashMap<ConnectionId, pair_code::PairCodeFlow>,
    connections: HashMap<ConnectionId, mpsc::UnboundedSender<Outgoing>>,
    /// Which account and device each logged-in connection is.
    logged_in: HashMap<ConnectionId, DeviceAddress>,
    /// Stanzas sent to each device and not yet acknowledged by it: sent
    /// again when it logs in, so that nothing is lost on a dropped link.
    pending: HashMap<DeviceAddress, Vec<relay::Pending>>,
    /// Groups by the user part of their JID.
    groups: HashMap<String, groups::Group>,
    /// What each account last said of its presence, and who listens.
    seen: HashMap<String, presence::Seen>,
    subscribers: HashMap<String, std::collections::HashSet<DeviceAddress>>,
    /// Each account's or group's profile picture, by JID: its ID on the
    /// media host.
    pictures: HashMap<String, String>,
    /// While set, every login fails as from a client too old to serve.
    outdated: bool,
    /// How many QR refs a new connection gets (`None`: as many as
    /// WhatsApp gives).
    qr_refs: Option<usize>,
    /// Accounts banned until a Unix time.
    banned: HashMap<String, i64>,
    /// While set, the server takes messages without acknowledging them.
    withhold_acks: bool,
    /// How long the server waits before acknowledging a message.
    ack_delay: std::time::Duration,
    next_connection: u64,
    next_lid: u64,
}

struct State {
    identity: noise::ServerIdentity,
    media: media::MediaHost,
    registry: Mutex<Registry>,
}

impl State {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WaTestServer {
    /// Starts a server on a free loopback port.
    pub async fn start() -> Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a server on `addr`, for the demo's fixed port.
    pub async fn start_on(addr: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (media, media_task) = media::MediaHost::start().await?;
        let state = Arc::new(State {
            identity: noise::ServerIdentity::generate(),
            media,
            registry: Mutex::new(Registry::default()),
        });
        let accept = tokio::spawn(conn::accept_loop(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            accept: Mutex::new(accept),
            media: media_task,
        })
    }

    /// The websocket URL a client is pointed at.
    pub fn url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    /// The media host's address, which `media_conn` names.
    pub fn media_addr(&self) -> SocketAddr {
        self.state.media.addr
    }

    /// How many media blobs have been uploaded.
    pub fn media_count(&self) -> usize {
        self.state.media.blob_count()
    }

    /// Creates an account with a phone number (digits, no `+`) and a push name.
    pub fn add_account(&self, phone: &str, push_name: &str) {
        self.create_account(phone, push_name, false);
    }

    /// Creates a scripted contact: an account whose phone answers each
    /// text it gets with "<name> here. You said: <text>".
    pub fn add_scripted_contact(&self, phone: &str, push_name: &str) {
        self.create_account(phone, push_name, true);
    }

    fn create_account(&self, phone: &str, push_name: &str, answers: bool) {
        let mut registry = self.state.registry();
        registry.next_lid += 1;
        let lid = format!("{}", 100_000_000_000_000 + registry.next_lid);
        let key = KeyPair::generate(&mut rand10::rng());
        registry.accounts.insert(
            phone.to_owned(),
            Account {
                lid,
                push_name: push_name.to_owned(),
                phone: phone::Phone::new(&key),
                answers,
                key,
                raw_id: rand10::random(),
                created: wacore::time::now_secs(),
                devices: HashMap::new(),
                linked_ever: 0,
            },
        );
    }

    /// The account's LID user part.
    pub fn lid_of(&self, phone: &str) -> Option<String> {
        self.state
            .registry()
            .accounts
            .get(phone)
            .map(|account| account.lid.clone())
    }

    /// The account's phone "scans" a QR code a client shows: the client is
    /// linked to the account as its next device.
    pub fn scan_qr(&self, code: &str, phone: &str) -> Result<()> {
        pairing::scan(&self.state, code, phone)
    }

    /// The companion device numbers linked to an account.
    pub fn devices_of(&self, phone: &str) -> Vec<u32> {
        self.state.registry().devices_of(phone)
    }

    /// Every account: number, push name, linked devices, and whether it
    /// is a scripted contact.
    pub fn accounts(&self) -> serde_json::Value {
        let registry = self.state.registry();
        let mut accounts: Vec<_> = registry
            .accounts
            .iter()
            .map(|(phone, account)| {
                let devices = registry.devices_of(phone);
                serde_json::json!({
                    "phone": phone,
                    "name": account.push_name,
                    "devices": devices,
                    "scripted": account.answers,
                })
            })
            .collect();
        accounts.sort_by_key(|a| a["phone"].as_str().unwrap_or_default().to_owned());
        serde_json::Value::Array(accounts)
    }

    /// How many connections are logged in as `phone`.
    pub fn logged_in_count(&self, phone: &str) -> usize {
        self.state
            .registry()
            .logged_in
            .values()
            .filter(|who| who.phone == phone)
            .count()
    }
}
