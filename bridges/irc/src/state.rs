//! What the bridge holds about one IRC network while it runs: the relay bot,
//! each Matrix user's connection, who is in each channel, and per-user
//! bookkeeping. Every map is keyed within its network, and each file reaches
//! the part it owns through the methods here.
//!
//! Nicks and channels are keyed folded by the network's casemapping (the
//! caller folds, with [`Connection::fold`] or `IrcNetwork::fold`); Matrix
//! users by their user ID.

use crate::connection::{Connection, Unconfirmed};
use dashmap::{DashMap, DashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};

pub(crate) struct NetworkState {
    /// The relay bot's connection, while it is up.
    bot: RwLock<Option<Arc<Connection>>>,
    /// Each Matrix user's own connection.
    puppets: DashMap<String, Arc<Connection>>,
    /// Message lines of each Matrix user's closed connection that its
    /// server never confirmed, for the next one to send first.
    carried: DashMap<String, Vec<Unconfirmed>>,
    /// Our puppets' folded nicks, to drop their echoes.
    puppet_nicks: DashSet<String>,
    /// When each Matrix user last did something here.
    activity: DashMap<String, Activity>,
    /// Bounds connection attempts in flight (`concurrent_connects`), so a
    /// network that never answers holds up only itself.
    connect_slots: Semaphore,
    /// One connection attempt at a time per Matrix user.
    connecting: DashMap<String, Arc<Mutex<()>>>,
    /// Users gone in a netsplit, by folded nick: the channels whose leave is
    /// held back.
    split_away: DashMap<String, Vec<String>>,
    /// Channel keys learnt from `!join`, by folded channel.
    channel_keys: DashMap<String, String>,
    /// Which of `i` and `k` each folded channel has set.
    channel_locks: DashMap<String, Vec<char>>,
    /// The connection problem last told to each Matrix user.
    reported: DashMap<String, String>,
    /// Who is in each bridged channel, as the relay bot sees it: folded
    /// channel, then folded nick → nick.
    members: DashMap<String, DashMap<String, String>>,
}

/// A user's idle clock.
struct Activity {
    since: Instant,
    warned: bool,
}

impl NetworkState {
    pub(crate) fn new(concurrent_connects: usize) -> Self {
        Self {
            bot: RwLock::new(None),
            puppets: DashMap::new(),
            carried: DashMap::new(),
            puppet_nicks: DashSet::new(),
            activity: DashMap::new(),
            connect_slots: Semaphore::new(concurrent_connects),
            connecting: DashMap::new(),
            split_away: DashMap::new(),
            channel_keys: DashMap::new(),
            channel_locks: DashMap::new(),
            reported: DashMap::new(),
            members: DashMap::new(),
        }
    }

    // The relay bot.

    pub(crate) fn bot(&self) -> Option<Arc<Connection>> {
        self.bot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_bot(&self, bot: Option<Arc<Connection>>) {
        *self.bot.write().unwrap_or_else(|e| e.into_inner()) = bot;
    }

    // Users' connections.

    pub(crate) fn puppet(&self, mxid: &str) -> Option<Arc<Connection>> {
        self.puppets.get(mxid).map(|c| c.clone())
    }

    /// What the user's closed connections wrote that their server never
    /// confirmed, oldest first, for the connection that replaces them.
    pub(crate) fn unconfirmed_of(&self, mxid: &str) -> Vec<Unconfirmed> {
        let mut lines = self
            .puppet(mxid)
            .filter(|c| !c.is_alive())
            .map(|c| c.take_unconfirmed())
            .unwrap_or_default();
        if let Some((_, kept)) = self.carried.remove(mxid) {
            lines.splice(0..0, kept);
        }
        lines
    }

    /// The user's connection, unless it has closed.
    pub(crate) fn live_puppet(&self, mxid: &str) -> Option<Arc<Connection>> {
        self.puppet(mxid).filter(|c| c.is_alive())
    }

    /// Every connected Matrix user with their connection.
    pub(crate) fn puppets(&self) -> Vec<(String, Arc<Connection>)> {
        self.puppets
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    pub(crate) fn puppet_count(&self) -> usize {
        self.puppets.len()
    }

    /// Registers a user's new connection and its nick.
    pub(crate) fn add_puppet(&self, mxid: &str, conn: Arc<Connection>) {
        self.puppet_nicks.insert(conn.fold(&conn.nick()));
        self.puppets.insert(mxid.to_owned(), conn);
    }

    /// Deregisters a user's connection and its nick.
    pub(crate) fn remove_puppet(&self, mxid: &str) -> Option<Arc<Connection>> {
        let (_, conn) = self.puppets.remove(mxid)?;
        self.puppet_nicks.remove(&conn.fold(&conn.nick()));
        Some(conn)
    }

    /// A connection closed: keeps what its server never confirmed for the
    /// user's next connection, forgets its nick, and the connection itself
    /// if it is still the user's. Returns whether it was (nobody asked for
    /// the disconnect: `!quit` and idleness deregister first).
    pub(crate) fn connection_closed(&self, mxid: &str, conn: &Arc<Connection>) -> bool {
        // Kept before the connection leaves the map: `unconfirmed_of` looks
        // in the map, then here, and so finds the lines wherever they are.
        let lines = conn.take_unconfirmed();
        if !lines.is_empty() {
            self.carried
                .entry(mxid.to_owned())
                .or_default()
                .extend(lines);
        }
        let was_current = self
            .puppets
            .remove_if(mxid, |_, current| Arc::ptr_eq(current, conn))
            .is_some();
        self.puppet_nicks.remove(&conn.fold(&conn.nick()));
        was_current
    }

    pub(crate) fn is_puppet_nick(&self, folded: &str) -> bool {
        self.puppet_nicks.contains(folded)
    }

    pub(crate) fn puppet_renamed(&self, old_folded: &str, new_folded: String) {
        self.puppet_nicks.remove(old_folded);
        self.puppet_nicks.insert(new_folded);
    }

    /// Waits for a free connection attempt on this network.
    pub(crate) async fn connect_slot(&self) -> anyhow::Result<SemaphorePermit<'_>> {
        Ok(self.connect_slots.acquire().await?)
    }

    /// The lock that makes a user's connection attempts take turns.
    pub(crate) fn connect_turn(&self, mxid: &str) -> Arc<Mutex<()>> {
        self.connecting.entry(mxid.to_owned()).or_default().clone()
    }

    // Idleness.

    /// The user did something: the idle clock restarts.
    pub(crate) fn mark_active(&self, mxid: &str) {
        self.activity.insert(
            mxid.to_owned(),
            Activity {
                since: Instant::now(),
                warned: false,
            },
        );
    }

    /// How long the user has been idle, if the clock runs for them.
    pub(crate) fn idle_for(&self, mxid: &str) -> Option<Duration> {
        self.activity.get(mxid).map(|a| a.since.elapsed())
    }

    /// Marks the user warned; true only the first time since they were active.
    pub(crate) fn warn_once(&self, mxid: &str) -> bool {
        match self.activity.get_mut(mxid) {
            Some(mut activity) if !activity.warned => {
                activity.warned = true;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn forget_activity(&self, mxid: &str) {
        self.activity.remove(mxid);
    }

    // Netsplits.

    /// Holds back the leaves of someone lost in a netsplit.
    pub(crate) fn hold_split(&self, folded_nick: String, channels: Vec<String>) {
        self.split_away.insert(folded_nick, channels);
    }

    /// The channels still held back for someone, once the grace is over.
    pub(crate) fn take_split(&self, folded_nick: &str) -> Option<Vec<String>> {
        self.split_away.remove(folded_nick).map(|(_, c)| c)
    }

    /// Someone split away rejoined `channel`: its leave is no longer held.
    /// Returns whether they were held back there.
    pub(crate) fn rejoined_after_split(
        &self,
        folded_nick: &str,
        channel: &str,
        fold: impl Fn(&str) -> String,
    ) -> bool {
        let Some(mut channels) = self.split_away.get_mut(folded_nick) else {
            return false;
        };
        let folded = fold(channel);
        let before = channels.len();
        channels.retain(|c| fold(c) != folded);
        before != channels.len()
    }

    // Channels.

    pub(crate) fn channel_key(&self, folded_channel: &str) -> Option<String> {
        self.channel_keys.get(folded_channel).map(|k| k.clone())
    }

    pub(crate) fn remember_key(&self, folded_channel: String, key: &str) {
        self.channel_keys.insert(folded_channel, key.to_owned());
    }

    /// Records `+i`/`+k` (or their removal) on a channel; returns whether
    /// the channel is now locked by either.
    pub(crate) fn set_lock(&self, folded_channel: String, mode: char, adding: bool) -> bool {
        let mut flags = self.channel_locks.entry(folded_channel).or_default();
        flags.retain(|m| *m != mode);
        if adding {
            flags.push(mode);
        }
        !flags.is_empty()
    }

    pub(crate) fn add_member(&self, folded_channel: String, folded_nick: String, nick: &str) {
        self.members
            .entry(folded_channel)
            .or_default()
            .insert(folded_nick, nick.to_owned());
    }

    pub(crate) fn remove_member(&self, folded_channel: &str, folded_nick: &str) {
        if let Some(members) = self.members.get(folded_channel) {
            members.remove(folded_nick);
        }
    }

    /// The folded channels in which the model has someone.
    pub(crate) fn channels_of(&self, folded_nick: &str) -> Vec<String> {
        self.members
            .iter()
            .filter(|e| e.value().contains_key(folded_nick))
            .map(|e| e.key().clone())
            .collect()
    }

    // Connection problems told.

    /// Forgets the problem told to a user; returns whether there was one.
    pub(crate) fn clear_report(&self, mxid: &str) -> bool {
        self.reported.remove(mxid).is_some()
    }

    /// Records advice for a user; false when it is what they were last told.
    pub(crate) fn report_once(&self, mxid: &str, advice: &str) -> bool {
        if self.reported.get(mxid).is_some_and(|told| *told == advice) {
            return false;
        }
        self.reported.insert(mxid.to_owned(), advice.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> NetworkState {
        NetworkState::new(1)
    }

    #[test]
    fn an_idle_user_is_warned_once_until_active_again() {
        let s = state();
        assert!(!s.warn_once("@a:x"), "no clock runs before any activity");
        s.mark_active("@a:x");
        assert!(s.warn_once("@a:x"));
        assert!(!s.warn_once("@a:x"));
        s.mark_active("@a:x");
        assert!(s.warn_once("@a:x"));
    }

    #[test]
    fn a_channel_is_locked_while_either_i_or_k_is_set() {
        let s = state();
        assert!(s.set_lock("#c".into(), 'i', true));
        assert!(s.set_lock("#c".into(), 'k', true));
        assert!(s.set_lock("#c".into(), 'i', false));
        assert!(!s.set_lock("#c".into(), 'k', false));
    }

    #[test]
    fn a_rejoin_after_a_netsplit_releases_only_that_channel() {
        let s = state();
        s.hold_split("bob".into(), vec!["#A".into(), "#b".into()]);
        let fold = |c: &str| c.to_ascii_lowercase();
        assert!(s.rejoined_after_split("bob", "#a", fold));
        assert!(!s.rejoined_after_split("bob", "#a", fold));
        assert_eq!(s.take_split("bob"), Some(vec!["#b".to_owned()]));
    }

    #[test]
    fn the_same_advice_is_told_once() {
        let s = state();
        assert!(s.report_once("@a:x", "check your password"));
        assert!(!s.report_once("@a:x", "check your password"));
        assert!(s.clear_report("@a:x"));
        assert!(s.report_once("@a:x", "check your password"));
    }

    #[test]
    fn the_member_model_knows_which_channels_someone_is_in() {
        let s = state();
        s.add_member("#a".into(), "bob".into(), "Bob");
        s.add_member("#b".into(), "bob".into(), "Bob");
        s.remove_member("#a", "bob");
        assert_eq!(s.channels_of("bob"), ["#b"]);
    }
}
