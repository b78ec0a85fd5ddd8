//! What the server knows: accounts, the auth keys it accepts and whom each
//! is logged in as, login codes, each user's message box and update log,
//! and the connections to push to.

use crate::crypto::AuthKey;
use grammers_tl_types::{self as tl, Serializable};
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
    /// The DC the account lives in (2 or 4); logging in elsewhere answers
    /// `PHONE_MIGRATE_<dc>`.
    pub home_dc: i32,
    /// A scripted user: answers every private message with `echo: <text>`.
    pub echo: bool,
    /// The profile's bio.
    pub about: Option<String>,
    /// A bot account, logged in by this token (`importBotAuthorization`)
    /// rather than by phone.
    pub bot_token: Option<String>,
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

/// A basic group.
pub(crate) struct Group {
    pub id: i64,
    pub title: String,
    pub about: String,
    pub creator: i64,
    pub members: Vec<i64>,
    pub date: i32,
}

/// A supergroup or a broadcast channel: one message list and one pts for
/// all its members, as Telegram keeps channels.
pub(crate) struct Channel {
    pub id: i64,
    pub access_hash: i64,
    pub title: String,
    pub about: String,
    /// The stored photo shown as the channel's picture.
    pub photo: Option<i64>,
    /// A broadcast channel: only its creator posts.
    pub broadcast: bool,
    pub creator: i64,
    pub members: Vec<i64>,
    pub date: i32,
    pub pts: i32,
    pub next_id: i32,
    pub messages: std::collections::BTreeMap<i32, tl::types::Message>,
    pub log: Vec<LoggedUpdate>,
}

/// A stored photo or document.
pub(crate) struct StoredFile {
    pub access_hash: i64,
    pub bytes: Vec<u8>,
}

pub(crate) struct KeyEntry {
    pub key: AuthKey,
    pub user: Option<i64>,
    /// Code accepted, 2FA password still to check.
    pub password_pending: Option<i64>,
    /// The password challenge last handed out on this key.
    pub challenge: Option<crate::two_factor::Challenge>,
    /// The QR login token this key waits on, and whom it was accepted by.
    pub login_token: Option<(Vec<u8>, Option<i64>)>,
    /// Used from two places at once: every call is refused.
    pub duplicated: bool,
}

/// One user's box: its message IDs, its pts log and its qts log.
pub(crate) struct UserBox {
    pub pts: i32,
    pub next_id: i32,
    /// Every update that moved pts, oldest first, for `getDifference`.
    pub log: Vec<LoggedUpdate>,
    /// The secondary sequence: updates for bots (participant changes),
    /// which Telegram numbers apart from pts.
    pub qts: i32,
    pub qts_log: Vec<LoggedUpdate>,
}

impl Default for UserBox {
    /// A new account's pts is 1, as on Telegram, where no account has 0:
    /// grammers reads a stored pts (or qts) of 0 as no state at all.
    fn default() -> Self {
        Self {
            pts: 1,
            next_id: 0,
            log: Vec::new(),
            qts: 1,
            qts_log: Vec::new(),
        }
    }
}

pub(crate) struct LoggedUpdate {
    /// The pts it moved to, or the qts in the qts log.
    pub pts: i32,
    pub update: tl::enums::Update,
}

/// A message in one user's box. Every recipient has a copy in their own
/// box, with its own ID there; `copies` names the others.
#[derive(Clone)]
pub(crate) struct StoredMessage {
    pub message: tl::types::Message,
    pub copies: Vec<(i64, i32)>,
    /// Each reactor's reactions.
    pub reactions: Vec<(i64, tl::enums::Reaction, i32)>,
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
    pub groups: Vec<Group>,
    /// Upload parts by (user, file ID), then part number.
    pub uploads: HashMap<(i64, i64), std::collections::BTreeMap<i32, Vec<u8>>>,
    /// Stored photos and documents by ID.
    pub files: HashMap<i64, StoredFile>,
    pub channels: Vec<Channel>,
    /// Random IDs of the messages each user sent.
    pub random_ids: std::collections::HashSet<(i64, i64)>,
    /// Each user's contacts.
    pub contacts: HashMap<i64, Vec<i64>>,
    /// Messages by (box owner, message ID).
    pub messages: HashMap<(i64, i32), StoredMessage>,
    pub pushers: HashMap<i64, Vec<Pusher>>,
    /// Every connection by its key, logged in or not: a QR login's
    /// `updateLoginToken` goes to a key that has no user yet.
    pub key_pushers: HashMap<[u8; 8], Vec<Pusher>>,
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

    /// The next message ID in a user's box.
    pub fn next_message_id(&mut self, user: i64) -> i32 {
        let user_box = self.boxes.entry(user).or_default();
        user_box.next_id += 1;
        user_box.next_id
    }

    /// Logs an update that moves the user's pts by `count`; `make` gets
    /// the new pts.
    pub fn log(
        &mut self,
        user: i64,
        count: i32,
        make: impl FnOnce(i32) -> tl::enums::Update,
    ) -> tl::enums::Update {
        let user_box = self.boxes.entry(user).or_default();
        user_box.pts += count;
        let update = make(user_box.pts);
        user_box.log.push(LoggedUpdate {
            pts: user_box.pts,
            update: update.clone(),
        });
        update
    }

    /// Every account as `viewer` sees it, for answers that name users.
    pub fn users_for(&self, viewer: i64) -> Vec<tl::enums::User> {
        self.accounts
            .iter()
            .map(|a| crate::tl_build::user(a, viewer))
            .collect()
    }

    /// The groups and channels `user` is in, as they see them.
    pub fn chats_of(&self, user: i64) -> Vec<tl::enums::Chat> {
        let groups = self
            .groups
            .iter()
            .filter(|g| g.members.contains(&user))
            .map(|g| crate::tl_build::chat(g, user));
        let channels = self
            .channels
            .iter()
            .filter(|c| c.members.contains(&user))
            .map(|c| crate::tl_build::channel(c, user));
        groups.chain(channels).collect()
    }

    pub fn channel(&self, id: i64) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn group(&self, id: i64) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn pts(&self, user: i64) -> i32 {
        self.boxes.get(&user).map_or(1, |b| b.pts)
    }

    pub fn qts(&self, user: i64) -> i32 {
        self.boxes.get(&user).map_or(1, |b| b.qts)
    }

    /// Moves `user`'s qts on by one and logs the update made for it.
    pub fn log_qts(
        &mut self,
        user: i64,
        make: impl FnOnce(i32) -> tl::enums::Update,
    ) -> tl::enums::Update {
        let user_box = self.boxes.entry(user).or_default();
        user_box.qts += 1;
        let update = make(user_box.qts);
        user_box.qts_log.push(LoggedUpdate {
            pts: user_box.qts,
            update: update.clone(),
        });
        update
    }

    /// The update state `getState` and the difference report.
    pub fn update_state(&self, user: i64) -> tl::enums::updates::State {
        crate::tl_build::updates_state(self.pts(user), self.qts(user))
    }

    /// Sends updates to every connection of `user` but one, with every
    /// account they may mention.
    pub fn push(&mut self, user: i64, except_conn: Option<u64>, updates: Vec<tl::enums::Update>) {
        let updates = self.updates(user, updates).to_bytes();
        self.push_raw(user, except_conn, updates);
    }

    /// An `Updates` for `viewer`: the updates, the accounts, the time.
    pub fn updates(&self, viewer: i64, updates: Vec<tl::enums::Update>) -> tl::enums::Updates {
        tl::enums::Updates::Updates(tl::types::Updates {
            updates,
            users: self.users_for(viewer),
            chats: self.chats_of(viewer),
            date: crate::tl_build::now(),
            seq: 0,
        })
    }

    fn push_raw(&mut self, user: i64, except_conn: Option<u64>, updates: Vec<u8>) {
        if self.withhold_pushes {
            return;
        }
        if let Some(pushers) = self.pushers.get_mut(&user) {
            pushers.retain(|p| Some(p.conn) == except_conn || p.tx.send(updates.clone()).is_ok());
        }
    }
}
