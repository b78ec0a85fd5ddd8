//! Matrix users' own IRC connections ("puppets"): made on first use with
//! the user's chosen nick and stored credentials, brought back when the
//! server drops them, and closed on request.

use crate::cap::SaslLogin;
use crate::connection::{connect, ConnectParams, Connection};
use crate::network::IrcNetwork;
use crate::nick;
use anyhow::{bail, Result};
use std::sync::Arc;

impl IrcNetwork {
    /// Brings a Matrix user's connection back after the server dropped it,
    /// backing off with jitter, and rejoins its channels one by one. Gives
    /// up after a while: the user's next message connects again anyway.
    pub(crate) fn reconnect_puppet(&self, network: String, mxid: String, channels: Vec<String>) {
        let this = self.clone();
        tokio::spawn(async move {
            for attempt in 0..8 {
                let wait = causeway_core::homeserver::Retry::FOREVER.backoff(attempt);
                tokio::time::sleep(wait).await;
                if this
                    .state(&network)
                    .is_some_and(|s| s.puppet(&mxid).is_some())
                {
                    return; // Something else connected it meanwhile.
                }
                match this.puppet(&network, &mxid).await {
                    Ok(conn) => {
                        for channel in &channels {
                            if let Err(err) = this.join_channel(&conn, &network, channel).await {
                                tracing::warn!(network, channel, "cannot rejoin: {err:#}");
                            }
                        }
                        return;
                    }
                    Err(err) => {
                        tracing::info!(network, mxid, attempt, "cannot reconnect yet: {err:#}")
                    }
                }
            }
        });
    }

    /// The Matrix user's own connection to a network, made on first use.
    pub(crate) async fn puppet(&self, network: &str, mxid: &str) -> Result<Arc<Connection>> {
        let state = self.state_of(network)?;
        if let Some(conn) = state.live_puppet(mxid) {
            return Ok(conn);
        }
        let turn = state.connect_turn(mxid);
        let _turn = turn.lock().await;
        if let Some(conn) = state.live_puppet(mxid) {
            return Ok(conn);
        }
        let net = self.network(network)?;
        let user = causeway_core::ruma_user_id(mxid)?;
        let displayname = self
            .bridge()?
            .homeserver()
            .get_displayname(&user)
            .await?
            .unwrap_or_else(|| user.localpart().to_owned());
        let chosen = self.stored_nick(network, mxid).await?;
        let nick = chosen.unwrap_or_else(|| {
            nick::matrix_nick(&net.nick_template, &displayname, net.max_nick_length)
        });
        let credentials = self.credentials(network, mxid).await?;
        let derived: String = user
            .localpart()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(10)
            .collect();
        let username = credentials
            .username
            .clone()
            .unwrap_or(if derived.is_empty() {
                "matrix".into()
            } else {
                derived
            });
        let params = ConnectParams {
            network_id: network,
            network: net,
            nick: nick.clone(),
            username,
            realname: mxid.to_owned(),
            owner: Some(mxid.to_owned()),
            sasl: credentials
                .password
                .clone()
                .filter(|_| net.sasl)
                .map(|password| SaslLogin {
                    account: credentials.username.clone().unwrap_or_else(|| nick.clone()),
                    password,
                }),
        };
        let in_use = state.puppet_count() + 1;
        if in_use >= net.max_connections {
            bail!(
                "the bridge already has {in_use} connections to {}, its limit: try again when someone disconnects",
                net.name
            );
        }
        let slot = state.connect_slot().await?;
        let connected = connect(params, self.inner.events.clone()).await;
        drop(slot);
        let conn = match connected {
            Ok(conn) => conn,
            Err(err) => {
                self.report_connect_failure(network, mxid, &err).await;
                return Err(err.context(format!("cannot connect you to {} as {nick}", net.name)));
            }
        };
        if let Some(password) = &credentials.password {
            identify_unless_logged_in(&conn, password).await?;
        }
        // What the last connection wrote but its server never confirmed
        // goes first, before anyone else can send through this one.
        let unconfirmed = state.unconfirmed_of(mxid);
        self.resend_unconfirmed(&conn, network, unconfirmed).await;
        state.add_puppet(mxid, conn.clone());
        self.mark_active(network, mxid);
        self.load_features(mxid).await?;
        self.report_connected(network, mxid, &conn).await;
        Ok(conn)
    }

    /// The nick a user chose with `!nick`, kept in their settings.
    pub(crate) async fn stored_nick(&self, network: &str, mxid: &str) -> Result<Option<String>> {
        let user = self.bridge()?.store().get_user(mxid).await?;
        Ok(user.and_then(|u| {
            u.settings
                .pointer(&format!("/irc_nicks/{network}"))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        }))
    }

    /// Remembers a user's nick for their next connection.
    pub(crate) async fn store_nick(&self, network: &str, mxid: &str, chosen: &str) -> Result<()> {
        self.put_user_setting(mxid, "irc_nicks", network, Some(chosen.into()))
            .await
    }

    /// Sets `settings[section][key]` for a user, or removes it with `None`.
    pub(crate) async fn put_user_setting(
        &self,
        mxid: &str,
        section: &str,
        key: &str,
        value: Option<serde_json::Value>,
    ) -> Result<()> {
        let store = self.bridge()?.store();
        let mut user = store
            .get_user(mxid)
            .await?
            .unwrap_or(causeway_core::store::UserRow {
                mxid: mxid.to_owned(),
                ..Default::default()
            });
        if !user.settings.is_object() {
            user.settings = serde_json::json!({});
        }
        if !user.settings[section].is_object() {
            user.settings[section] = serde_json::json!({});
        }
        if let Some(entries) = user.settings[section].as_object_mut() {
            match value {
                Some(value) => entries.insert(key.to_owned(), value),
                None => entries.remove(key),
            };
        }
        store.put_user(&user).await
    }

    /// Notes a puppet's new nick, so its echoes are still recognised.
    pub(crate) fn puppet_renamed(&self, network: &str, old: &str, new: &str) {
        if let Some(state) = self.state(network) {
            state.puppet_renamed(&self.fold(network, old), self.fold(network, new));
        }
    }

    /// Disconnects a user's puppet from a network, if connected; returns
    /// the channels it was in. They are read before the QUIT goes out: once
    /// it is written, the server may close the connection, which forgets
    /// them.
    pub(crate) async fn drop_puppet(
        &self,
        network: &str,
        mxid: &str,
        reason: &str,
    ) -> Option<Vec<String>> {
        let conn = self.state(network)?.remove_puppet(mxid)?;
        let channels = conn.channels();
        if let Err(err) = conn.quit(reason).await {
            tracing::debug!("quit on a closed connection: {err:#}");
        }
        Some(channels)
    }
}

/// Sends the password to NickServ when SASL did not log the connection in:
/// the server offered no SASL, or it is turned off.
pub(crate) async fn identify_unless_logged_in(conn: &Connection, password: &str) -> Result<()> {
    if conn.account().is_some() {
        return Ok(());
    }
    let identify = irc::proto::Command::PRIVMSG("NickServ".into(), format!("IDENTIFY {password}"));
    conn.send(identify.into()).await
}
