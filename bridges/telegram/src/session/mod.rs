//! grammers' session for one login, kept in the bridge's own database: the
//! login's encrypted rows (`LoginData`, namespace `telegram-session`), on
//! SQLite or PostgreSQL like everything else. Auth keys, the peer cache and
//! the update state are sealed at rest with the login-data purpose key and
//! go when the login is deleted.
//!
//! grammers asks `home_dc_id` and `dc_option` on every request and expects
//! them synchronous and cheap, so the whole session is loaded once into
//! grammers' own `SessionData` and every change is written through: first
//! to that cache, then to the database, and the call returns only once the
//! row is committed.

use anyhow::Context;
use causeway_core::store::LoginData;
use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use std::sync::{Mutex, MutexGuard};

/// The `LoginData` namespace of a login's Telegram session.
pub const NAMESPACE: &str = "telegram-session";

const HOME_DC: &str = "home-dc";
const UPDATES: &str = "updates";
const DC: &str = "dc/";
const PEER: &str = "peer/";
const CHANNEL: &str = "channel/";

/// A database error, for grammers, which wants `std::error::Error`.
#[derive(Debug)]
pub struct SessionError(String);

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the Telegram session store failed: {}", self.0)
    }
}

impl std::error::Error for SessionError {}

impl From<anyhow::Error> for SessionError {
    fn from(err: anyhow::Error) -> Self {
        Self(format!("{err:#}"))
    }
}

/// One login's session: the database rows and their in-memory copy.
pub struct LoginSession {
    rows: LoginData,
    cache: Mutex<SessionData>,
}

/// The scalar part of the update state; each channel's pts is a row of its
/// own, so one busy channel does not rewrite them all.
#[derive(serde::Serialize, serde::Deserialize)]
struct Primary {
    pts: i32,
    qts: i32,
    date: i32,
    seq: i32,
}

impl LoginSession {
    /// Loads what the login has stored, over grammers' defaults (its known
    /// data centres, DC 2 as home), as a new session would start.
    pub async fn load(rows: LoginData) -> anyhow::Result<Self> {
        let mut data = SessionData::default();
        for (key, value) in rows.entries("").await? {
            let what = || format!("the stored session row {key:?} is unreadable");
            if key == HOME_DC {
                data.home_dc = serde_json::from_slice(&value).with_context(what)?;
            } else if key == UPDATES {
                let primary: Primary = serde_json::from_slice(&value).with_context(what)?;
                let channels = std::mem::take(&mut data.updates_state.channels);
                data.updates_state = UpdatesState {
                    pts: primary.pts,
                    qts: primary.qts,
                    date: primary.date,
                    seq: primary.seq,
                    channels,
                };
            } else if key.starts_with(DC) {
                let option: DcOption = serde_json::from_slice(&value).with_context(what)?;
                data.dc_options.insert(option.id, option);
            } else if key.starts_with(PEER) {
                let peer: PeerInfo = serde_json::from_slice(&value).with_context(what)?;
                data.peer_infos.insert(peer.id(), peer);
            } else if key.starts_with(CHANNEL) {
                let channel: ChannelState = serde_json::from_slice(&value).with_context(what)?;
                data.updates_state.channels.push(channel);
            }
        }
        Ok(Self {
            rows,
            cache: Mutex::new(data),
        })
    }

    /// Moves this session to another login's rows: a login runs on
    /// provisional rows until Telegram says whose account it is.
    pub async fn move_to(&self, rows: LoginData) -> anyhow::Result<LoginSession> {
        let data = {
            let cache = self.cache()?;
            SessionData {
                home_dc: cache.home_dc,
                dc_options: cache.dc_options.clone(),
                peer_infos: cache.peer_infos.clone(),
                updates_state: cache.updates_state.clone(),
            }
        };
        let moved = LoginSession::load(rows).await?;
        data.import_to(&moved).await?;
        self.forget().await?;
        Ok(moved)
    }

    /// Deletes this session's rows.
    pub async fn forget(&self) -> anyhow::Result<()> {
        for key in self.rows.keys("").await? {
            self.rows.delete(&key).await?;
        }
        Ok(())
    }

    fn cache(&self) -> Result<MutexGuard<'_, SessionData>, SessionError> {
        self.cache
            .lock()
            .map_err(|_| SessionError("the session cache lock is poisoned".into()))
    }

    async fn put(&self, key: &str, value: &impl serde::Serialize) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(value).map_err(anyhow::Error::from)?;
        Ok(self.rows.put(key, &bytes).await?)
    }

    fn peer_key(peer: PeerId) -> Result<String, SessionError> {
        let id = serde_json::to_string(&peer).map_err(anyhow::Error::from)?;
        Ok(format!("{PEER}{id}"))
    }

    /// Merges a peer into the cache as grammers' memory session does, and
    /// returns the merged entry to store, or `None` if nothing changed.
    ///
    /// grammers caches every user and chat of every update it reads, so a
    /// busy chat names the same peers again and again: storing only what
    /// changed saves a sealed row write per peer per message.
    fn merge_peer(&self, peer: PeerInfo) -> Result<Option<PeerInfo>, SessionError> {
        let mut cache = self.cache()?;
        let known = cache.peer_infos.get(&peer.id()).cloned();
        let entry = cache
            .peer_infos
            .entry(peer.id())
            .or_insert_with(|| peer.clone());
        entry.extend_info(&peer);
        Ok((known.as_ref() != Some(entry)).then(|| entry.clone()))
    }

    fn primary(state: &UpdatesState) -> Primary {
        Primary {
            pts: state.pts,
            qts: state.qts,
            date: state.date,
            seq: state.seq,
        }
    }
}

impl Session for LoginSession {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.cache()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            self.cache()?.home_dc = dc_id;
            self.put(HOME_DC, &dc_id).await
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        Ok(self.cache()?.dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            self.cache()?
                .dc_options
                .insert(dc_option.id, dc_option.clone());
            self.put(&format!("{DC}{}", dc_option.id), &dc_option).await
        })
    }

    /// `PeerId::self_user()` finds the account's own user, as grammers'
    /// SQLite session does: the update stream asks for it to know that it
    /// is logged in and should fetch its starting state.
    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        Box::pin(async move {
            let cache = self.cache()?;
            if peer == PeerId::self_user() {
                let own = cache.peer_infos.values().find(|info| {
                    matches!(
                        info,
                        PeerInfo::User {
                            is_self: Some(true),
                            ..
                        }
                    )
                });
                return Ok(own.cloned());
            }
            Ok(cache.peer_infos.get(&peer).cloned())
        })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            match self.merge_peer(peer)? {
                Some(merged) => self.put(&Self::peer_key(merged.id())?, &merged).await,
                None => Ok(()),
            }
        })
    }

    /// All peers of one answer (a dialog list, a contact list) in one commit.
    fn cache_peers(&self, peers: Vec<PeerInfo>) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            let mut rows = Vec::with_capacity(peers.len());
            for merged in peers
                .into_iter()
                .filter_map(|p| self.merge_peer(p).transpose())
            {
                let merged = merged?;
                let bytes = serde_json::to_vec(&merged).map_err(anyhow::Error::from)?;
                rows.push((Self::peer_key(merged.id())?, bytes));
            }
            if rows.is_empty() {
                return Ok(());
            }
            let rows: Vec<(&str, &[u8])> = rows
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_slice()))
                .collect();
            Ok(self.rows.put_all(&rows).await?)
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        Box::pin(async move { Ok(self.cache()?.updates_state.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            match update {
                UpdateState::All(state) => {
                    let stale: Vec<String> = {
                        let mut cache = self.cache()?;
                        let stale = cache
                            .updates_state
                            .channels
                            .iter()
                            .filter(|old| !state.channels.iter().any(|c| c.id == old.id))
                            .map(|old| format!("{CHANNEL}{}", old.id))
                            .collect();
                        cache.updates_state = state.clone();
                        stale
                    };
                    let mut rows = vec![(
                        UPDATES.to_owned(),
                        serde_json::to_vec(&Self::primary(&state)).map_err(anyhow::Error::from)?,
                    )];
                    for channel in &state.channels {
                        rows.push((
                            format!("{CHANNEL}{}", channel.id),
                            serde_json::to_vec(channel).map_err(anyhow::Error::from)?,
                        ));
                    }
                    let rows: Vec<(&str, &[u8])> = rows
                        .iter()
                        .map(|(key, value)| (key.as_str(), value.as_slice()))
                        .collect();
                    self.rows.put_all(&rows).await?;
                    for key in stale {
                        self.rows.delete(&key).await?;
                    }
                    Ok(())
                }
                UpdateState::Primary { pts, date, seq } => {
                    let primary = {
                        let mut cache = self.cache()?;
                        let state = &mut cache.updates_state;
                        (state.pts, state.date, state.seq) = (pts, date, seq);
                        Self::primary(state)
                    };
                    self.put(UPDATES, &primary).await
                }
                UpdateState::Secondary { qts } => {
                    let primary = {
                        let mut cache = self.cache()?;
                        cache.updates_state.qts = qts;
                        Self::primary(&cache.updates_state)
                    };
                    self.put(UPDATES, &primary).await
                }
                UpdateState::Channel { id, pts } => {
                    let channel = ChannelState { id, pts };
                    {
                        let mut cache = self.cache()?;
                        let channels = &mut cache.updates_state.channels;
                        channels.retain(|c| c.id != id);
                        channels.push(channel.clone());
                    }
                    self.put(&format!("{CHANNEL}{id}"), &channel).await
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
