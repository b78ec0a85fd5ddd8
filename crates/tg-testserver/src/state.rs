//! What the server knows: accounts, the auth keys it accepts and whom each
//! is logged in as, login codes, each user's message box and update log,
//! and the connections to push to.

use crate::crypto::AuthKey;
use grammers_tl_types as tl;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// An account as a test describes it.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    /// Digits only, as grammers sends them: `15550001`.
    pub phone: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// A 2FA password, asked after the code.
    pub password: Option<String>,
}

pub struct Account {
    pub id: i64,
    pub access_hash: i64,
    pub spec: AccountSpec,
}

/// A code sent by `auth.sendCode`, as tests read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCode {
    pub phone: String,
    pub code: String,
}

pub(crate) struct PendingCode {
    pub hash: String,
    pub code: String,
    pub issued: Instant,
}

/// How long a login code works.
pub const CODE_LIFETIME: Duration = Duration::from_secs(120);

pub(crate) struct KeyEntry {
    pub key: AuthKey,
    pub user: Option<i64>,
    /// Code accepted, 2FA password still to check.
    pub password_pending: Option<i64>,
    /// The password challenge last handed out on this key.
    pub challenge: Option<crate::two_factor::Challenge>,
}

/// One user's private-chat box: its own message IDs and its pts log.
#[derive(Default)]
pub(crate) struct UserBox {
    pub pts: i32,
    pub next_id: i32,
    /// Each new message with the pts it was given, oldest first.
    pub log: Vec<(i32, tl::enums::Message)>,
}

/// A connection's push channel: encoded `Updates` objects.
pub(crate) struct Pusher {
    pub conn: u64,
    pub tx: UnboundedSender<Vec<u8>>,
}

#[derive(Default)]
pub(crate) struct State {
    pub accounts: Vec<Account>,
    pub keys: HashMap<[u8; 8], KeyEntry>,
    pub codes: HashMap<String, PendingCode>,
    pub sent_codes: Vec<SentCode>,
    pub boxes: HashMap<i64, UserBox>,
    pub pushers: HashMap<i64, Vec<Pusher>>,
    /// `FLOOD_WAIT_N` answered to every call of a method, by constructor.
    pub flood_waits: HashMap<u32, i32>,
    /// While set, pushes are withheld: the client must find the gap.
    pub withhold_pushes: bool,
}

impl State {
    pub fn account(&self, id: i64) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn account_by_phone(&self, phone: &str) -> Option<&Account> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        self.accounts.iter().find(|a| a.spec.phone == digits)
    }

    /// Appends a message to a user's box under the next pts.
    pub fn log_message(
        &mut self,
        user: i64,
        make: impl FnOnce(i32) -> tl::enums::Message,
    ) -> (i32, tl::enums::Message) {
        let user_box = self.boxes.entry(user).or_default();
        user_box.next_id += 1;
        user_box.pts += 1;
        let message = make(user_box.next_id);
        user_box.log.push((user_box.pts, message.clone()));
        (user_box.pts, message)
    }

    pub fn pts(&self, user: i64) -> i32 {
        self.boxes.get(&user).map_or(0, |b| b.pts)
    }

    /// Sends an encoded `Updates` to every connection of `user` but one.
    pub fn push(&mut self, user: i64, except_conn: Option<u64>, updates: Vec<u8>) {
        if self.withhold_pushes {
            return;
        }
        if let Some(pushers) = self.pushers.get_mut(&user) {
            pushers.retain(|p| Some(p.conn) == except_conn || p.tx.send(updates.clone()).is_ok());
        }
    }
}
