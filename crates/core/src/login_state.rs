//! Each login's connection state ("bridge state", as mautrix bridges call
//! it). Networks report changes; the core keeps the current state in memory,
//! shows it in `ping`, counts it in metrics, and tells the user in their
//! management room when a login goes wrong and when it recovers. A transient
//! disconnect is told only if it lasts: a flapping connection is not news.

use crate::bridge::Bridge;
use crate::ids::LoginId;
use crate::store::LoginRow;
use dashmap::DashMap;
use std::time::{Duration, Instant};

/// A login's state, named as mautrix's bridge states are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginState {
    Connecting,
    Connected,
    /// Lost the connection; the network is trying again.
    TransientDisconnect,
    /// The remote side refused the login's credentials: log in again.
    BadCredentials,
    /// The login was ended, here or on the remote side.
    LoggedOut,
    UnknownError,
}

impl LoginState {
    pub const ALL: [LoginState; 6] = [
        Self::Connecting,
        Self::Connected,
        Self::TransientDisconnect,
        Self::BadCredentials,
        Self::LoggedOut,
        Self::UnknownError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "CONNECTING",
            Self::Connected => "CONNECTED",
            Self::TransientDisconnect => "TRANSIENT_DISCONNECT",
            Self::BadCredentials => "BAD_CREDENTIALS",
            Self::LoggedOut => "LOGGED_OUT",
            Self::UnknownError => "UNKNOWN_ERROR",
        }
    }

    /// What the user is told when a login enters this state, if anything.
    fn news(self) -> Option<&'static str> {
        match self {
            Self::Connecting => None,
            Self::Connected => Some("is connected again"),
            Self::TransientDisconnect => Some("lost its connection; the bridge keeps trying"),
            Self::BadCredentials => Some("was refused: log in again"),
            Self::LoggedOut => Some("was logged out"),
            Self::UnknownError => Some("failed"),
        }
    }
}

/// A login's current state and since when.
#[derive(Clone, Debug)]
pub struct LoginStatus {
    pub state: LoginState,
    pub message: Option<String>,
    pub since: Instant,
    /// A problem the user was told about, until the login recovers.
    told_problem: bool,
    /// Counts changes, so a delayed notice knows whether it is still true.
    generation: u64,
}

/// Every login's status, by login ID.
#[derive(Default)]
pub(crate) struct LoginStates(DashMap<LoginId, LoginStatus>);

impl LoginStates {
    pub(crate) fn get(&self, login: &LoginId) -> Option<LoginStatus> {
        self.0.get(login).map(|s| s.clone())
    }

    pub(crate) fn forget(&self, login: &LoginId) {
        self.0.remove(login);
        self.publish();
    }

    /// Records a state; returns the status it replaced and the new
    /// generation, or `None` when nothing changed.
    fn record(
        &self,
        login: &LoginId,
        state: LoginState,
        message: Option<String>,
    ) -> Option<(Option<LoginStatus>, u64)> {
        let mut entry = self.0.entry(login.clone()).or_insert_with(|| LoginStatus {
            state,
            message: None,
            since: Instant::now(),
            told_problem: false,
            generation: 0,
        });
        let before = (entry.generation > 0).then(|| entry.clone());
        if before
            .as_ref()
            .is_some_and(|b| b.state == state && b.message == message)
        {
            return None;
        }
        if before.as_ref().is_some_and(|b| b.state != state) {
            entry.since = Instant::now();
        }
        entry.state = state;
        entry.message = message;
        entry.generation += 1;
        let generation = entry.generation;
        drop(entry);
        self.publish();
        Some((before, generation))
    }

    /// Marks the told problem; false when the status changed meanwhile.
    fn mark_told(&self, login: &LoginId, generation: u64, problem: bool) -> bool {
        match self.0.get_mut(login) {
            Some(mut status) if status.generation == generation => {
                status.told_problem = problem;
                true
            }
            _ => false,
        }
    }

    /// `causeway_logins{state}`: how many logins are in each state.
    fn publish(&self) {
        for state in LoginState::ALL {
            let count = self.0.iter().filter(|s| s.state == state).count();
            metrics::gauge!("causeway_logins", "state" => state.as_str()).set(count as f64);
        }
    }
}

impl Bridge {
    /// A network reports a login's state. Problems are told to the user
    /// once (a transient disconnect only if it outlasts
    /// `bridge.login_state_debounce_seconds`), and so is the recovery.
    pub async fn report_login_state(
        &self,
        login: &LoginRow,
        state: LoginState,
        message: Option<String>,
    ) {
        let states = &self.inner().login_states;
        let Some((before, generation)) = states.record(&login.login_id, state, message) else {
            return;
        };
        tracing::info!(login = %login.login_id, state = state.as_str(), "login state");
        // Back after being away: the chats catch up on what they missed.
        let was_away = before
            .as_ref()
            .is_some_and(|b| !matches!(b.state, LoginState::Connecting | LoginState::Connected));
        if state == LoginState::Connected && was_away {
            if let Err(err) = self.catch_up(login).await {
                tracing::warn!(login = %login.login_id, "cannot catch up: {err:#}");
            }
        }
        let told_problem = before.is_some_and(|b| b.told_problem);
        let tell_now = match state {
            LoginState::Connecting => false,
            LoginState::Connected => told_problem,
            LoginState::TransientDisconnect => {
                let debounce = self.config().bridge.login_state_debounce_seconds;
                let (bridge, login) = (self.clone(), login.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(debounce)).await;
                    bridge.tell_login_state(&login, generation, true).await;
                });
                false
            }
            LoginState::BadCredentials | LoginState::LoggedOut | LoginState::UnknownError => true,
        };
        if tell_now {
            self.tell_login_state(login, generation, state != LoginState::Connected)
                .await;
        }
    }

    /// Tells the user about a login's state, unless it changed since.
    async fn tell_login_state(&self, login: &LoginRow, generation: u64, problem: bool) {
        let states = &self.inner().login_states;
        let Some(status) = states.get(&login.login_id) else {
            return;
        };
        if !states.mark_told(&login.login_id, generation, problem) {
            return;
        }
        let Some(news) = status.state.news() else {
            return;
        };
        let mut text = format!(
            "Your login `{}` ({}) {news}.",
            login.login_id,
            crate::format::escape_markdown(&login.remote_name)
        );
        if let Some(message) = &status.message {
            text.push_str(&format!(" {}", crate::format::escape_markdown(message)));
        }
        let room = self
            .ensure_management_room(&login.mxid, "Bridge status")
            .await;
        let sent = match room {
            Ok(room) => self.bot_notice(&room, &text).await,
            Err(err) => Err(err),
        };
        if let Err(err) = sent {
            tracing::warn!(login = %login.login_id, "cannot tell a user their login's state: {err:#}");
        }
    }

    /// Connects a stored login through the network, reporting its state:
    /// connecting, then connected unless the network reported otherwise
    /// meanwhile, or the error.
    pub(crate) async fn connect_login(&self, login: &LoginRow) {
        self.report_login_state(login, LoginState::Connecting, None)
            .await;
        match self.network().connect_login(self, login).await {
            Ok(()) => {
                let still_connecting = self
                    .login_status(&login.login_id)
                    .is_some_and(|s| s.state == LoginState::Connecting);
                if still_connecting {
                    self.report_login_state(login, LoginState::Connected, None)
                        .await;
                }
                if let Err(err) = self.catch_up(login).await {
                    tracing::warn!(login = %login.login_id, "cannot catch up: {err:#}");
                }
            }
            Err(err) => {
                tracing::warn!(login = %login.login_id, "cannot connect a login: {err:#}");
                self.report_login_state(login, LoginState::UnknownError, Some(format!("{err:#}")))
                    .await;
            }
        }
    }

    /// Forgets a deleted login's state.
    pub(crate) fn forget_login_state(&self, login: &LoginId) {
        self.inner().login_states.forget(login);
    }

    /// A login's current state, if it was ever reported.
    pub fn login_status(&self, login: &LoginId) -> Option<LoginStatus> {
        self.inner().login_states.get(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_state_is_no_change_and_a_new_one_restarts_the_clock() {
        let states = LoginStates::default();
        let login = LoginId::from("l1");
        let (before, first) = states.record(&login, LoginState::Connecting, None).unwrap();
        assert!(before.is_none());
        assert!(states
            .record(&login, LoginState::Connecting, None)
            .is_none());
        let (before, second) = states.record(&login, LoginState::Connected, None).unwrap();
        assert_eq!(before.map(|b| b.state), Some(LoginState::Connecting));
        assert!(second > first);
    }

    #[test]
    fn a_notice_for_a_state_that_changed_since_is_not_sent() {
        let states = LoginStates::default();
        let login = LoginId::from("l1");
        let (_, flapped) = states
            .record(&login, LoginState::TransientDisconnect, None)
            .unwrap();
        states.record(&login, LoginState::Connected, None).unwrap();
        assert!(!states.mark_told(&login, flapped, true));
    }
}
