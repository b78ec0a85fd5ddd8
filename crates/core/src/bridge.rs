//! The bridge handle: the core's state, shared by every task, cheap to clone.

use crate::commands::CommandRegistry;
use crate::config::Config;
use crate::homeserver::{Homeserver, Retry};
use crate::ids::{LoginId, RemoteUserId};
use crate::network::{GhostInfo, Network};
use crate::permissions::Level;
use crate::store::{LoginData, SecretBox, Store};
use anyhow::{Context, Result};
use dashmap::{DashMap, DashSet};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub store: Store,
    pub hs: Homeserver,
    /// Acts as local users themselves (`bridge.double_puppet`), if set up.
    pub double_puppet: Option<Homeserver>,
    pub secrets: SecretBox,
    pub network: Arc<dyn Network>,
    pub commands: CommandRegistry,
    pub bot: OwnedUserId,
    /// Room actors for Matrix→remote events, one per room.
    pub room_queues: DashMap<String, crate::lane::Lane<crate::store::IngressEvent>>,
    /// Public media requests, per client IP address.
    pub media_rate: crate::rate_limit::RateLimiter<std::net::IpAddr>,
    /// Portal actors for remote→Matrix events, one per portal.
    pub portal_queues:
        DashMap<crate::ids::PortalKey, crate::lane::Lane<crate::remote::RemoteEvent>>,
    /// One lock per portal key, so that a portal's room is created once.
    pub portal_locks: DashMap<crate::ids::PortalKey, Arc<Mutex<()>>>,
    /// Ghost profiles already pushed to the homeserver.
    pub ghosts: DashMap<RemoteUserId, crate::ghost::KnownGhost>,
    /// The users known to be joined to each room.
    pub joined: crate::joined::JoinedMembers,
    /// Events the bridge is redacting for the network, until their mapping
    /// is deleted. A redaction sent as a double-puppeted user comes back
    /// like the user's own, with no content to mark it by, and could
    /// otherwise find the mapping and go back to the network.
    pub redacting: DashSet<String>,
    pub logins: crate::login_runner::ActiveLogins,
    pub room_version: OnceCell<String>,
    /// Held while a management room is created, so a user gets one.
    pub management_rooms: Mutex<()>,
    pub login_states: crate::login_state::LoginStates,
    /// Login processes started through the provisioning API.
    pub provisioned: crate::provisioning::LoginProcesses,
    /// The network's icon, once uploaded.
    pub network_icon: OnceCell<String>,
}

impl Bridge {
    pub fn new(config: Config, store: Store, network: Arc<dyn Network>) -> Result<Self> {
        let media_per_minute = config.bridge.public_media_requests_per_minute;
        let hs = Homeserver::new(
            &config.homeserver.address,
            &config.appservice.as_token,
            &config.homeserver.domain,
        );
        // The second registration's client, acting as users themselves.
        let double_puppet = config.bridge.double_puppet.as_token.as_ref().map(|token| {
            Homeserver::new(&config.homeserver.address, token, &config.homeserver.domain)
        });
        let secrets = SecretBox::load_or_create(&config.bridge.secret_key_file)?;
        let bot = UserId::parse(config.bot_mxid())
            .context("appservice.bot.username and homeserver.domain do not form a valid user ID")?;
        let commands = crate::builtin_commands::all_commands(network.as_ref());
        Ok(Self {
            inner: Arc::new(Inner {
                hs,
                double_puppet,
                store,
                secrets,
                commands: CommandRegistry::new(commands),
                bot,
                network,
                config,
                room_queues: DashMap::new(),
                media_rate: crate::rate_limit::RateLimiter::new(media_per_minute),
                portal_queues: DashMap::new(),
                portal_locks: DashMap::new(),
                ghosts: DashMap::new(),
                joined: Default::default(),
                redacting: DashSet::new(),
                logins: Default::default(),
                room_version: OnceCell::new(),
                management_rooms: Mutex::new(()),
                login_states: Default::default(),
                provisioned: Default::default(),
                network_icon: OnceCell::new(),
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn homeserver(&self) -> &Homeserver {
        &self.inner.hs
    }
    pub fn secrets(&self) -> &SecretBox {
        &self.inner.secrets
    }
    /// A login's own storage under `namespace`, for the network's client
    /// library (a session, a device store); deleted with the login.
    pub fn login_data(&self, login_id: &LoginId, namespace: &str) -> LoginData {
        LoginData::new(
            self.inner.store.clone(),
            self.inner.secrets.clone(),
            login_id.clone(),
            namespace,
        )
    }
    pub fn network(&self) -> &Arc<dyn Network> {
        &self.inner.network
    }
    pub fn commands(&self) -> &CommandRegistry {
        &self.inner.commands
    }
    pub fn bot(&self) -> &UserId {
        &self.inner.bot
    }
    pub fn command_prefix(&self) -> &str {
        &self.inner.config.bridge.command_prefix
    }
    /// How a command starts outside a management room, where bare words
    /// are conversation: the configured prefix, or `!<network id> ` when
    /// that is empty (`!xmpp bridge …`).
    pub fn room_command_prefix(&self) -> String {
        match self.command_prefix() {
            "" => format!("!{} ", self.network().info().id),
            prefix => prefix.to_owned(),
        }
    }

    pub fn permission_of(&self, mxid: &str) -> Level {
        self.inner.config.bridge.permissions.level_of(mxid)
    }

    /// The MXID of the ghost for a remote user.
    pub fn ghost_mxid(&self, remote: &RemoteUserId) -> Result<OwnedUserId> {
        let localpart = self
            .inner
            .config
            .bridge
            .username_template
            .replace("{id}", &self.inner.network.ghost_localpart(remote));
        UserId::parse(format!(
            "@{localpart}:{}",
            self.inner.config.homeserver.domain
        ))
        .with_context(|| format!("cannot make a user ID for remote user {remote}"))
    }

    /// The remote user a ghost MXID stands for, or `None` if it is not a ghost.
    pub fn ghost_remote_id(&self, mxid: &str) -> Option<RemoteUserId> {
        let (localpart, server) = mxid.strip_prefix('@')?.split_once(':')?;
        if server != self.inner.config.homeserver.domain {
            return None;
        }
        template_id(&self.inner.config.bridge.username_template, localpart)
            .and_then(|id| self.inner.network.ghost_id(id))
    }

    /// Whether a user is the bot or one of its ghosts, whose events are our own echoes.
    pub fn is_bridge_user(&self, mxid: &str) -> bool {
        mxid == self.inner.bot.as_str() || self.ghost_remote_id(mxid).is_some()
    }

    /// The alias localpart for a portal alias ID.
    pub fn alias_localpart(&self, id: &str) -> String {
        self.inner.config.bridge.alias_template.replace("{id}", id)
    }

    /// The `{id}` of one of our aliases, such as `#_irc_#rust:example.com`.
    pub fn alias_id<'a>(&self, alias: &'a str) -> Option<&'a str> {
        let (localpart, server) = alias.strip_prefix('#')?.split_once(':')?;
        (server == self.inner.config.homeserver.domain).then_some(())?;
        template_id(&self.inner.config.bridge.alias_template, localpart)
    }

    /// Sends a notice from the bot, rendered from markdown.
    pub async fn bot_notice(&self, room_id: &str, markdown: &str) -> Result<()> {
        // Event content as sent.
        let content = json!({
            "msgtype": "m.notice",
            "body": crate::format::unescape_markdown(markdown),
            "format": "org.matrix.custom.html",
            "formatted_body": crate::format::markdown_to_html(markdown),
        });
        self.bot_send(room_id, &content).await.map(drop)
    }

    /// Sends a message event from the bot. Bot messages answer Matrix events,
    /// which are deduplicated on the way in, so a random txnId is enough.
    pub async fn bot_send(
        &self,
        room_id: &str,
        content: &serde_json::Value,
    ) -> Result<ruma::OwnedEventId> {
        let room = RoomId::parse(room_id)?;
        let txn = format!("cwbot{}", crate::registration::random_token());
        Ok(self
            .inner
            .hs
            .send(
                &self.inner.bot,
                &room,
                "m.room.message",
                &txn,
                content,
                None,
                Retry::SHORT,
            )
            .await?)
    }

    /// Makes sure a ghost exists with the given profile; cheap when nothing changed.
    pub async fn ensure_ghost(&self, info: &GhostInfo) -> Result<OwnedUserId> {
        crate::ghost::ensure(self, info).await
    }

    /// Makes sure `user` is joined to `room`, inviting it with the bot if needed.
    pub async fn ensure_joined(&self, room: &RoomId, user: &UserId) -> Result<()> {
        if self.inner.joined.contains(room, user) {
            return Ok(());
        }
        if let Err(first) = self.inner.hs.join(user, room.as_str()).await {
            if user == self.bot() {
                return Err(first).with_context(|| format!("the bot cannot join {room}"));
            }
            self.inner
                .hs
                .invite(&self.inner.bot, room, user)
                .await
                .with_context(|| format!("cannot invite {user} to {room} after: {first}"))?;
            self.inner.hs.join(user, room.as_str()).await?;
        }
        self.inner.joined.insert(room, user);
        Ok(())
    }

    /// Forgets a cached membership after a leave or kick.
    pub(crate) fn forget_joined(&self, room: &RoomId, user: &UserId) {
        self.inner.joined.remove(room, user);
    }

    /// The room version the homeserver creates rooms with, asked once.
    pub(crate) async fn room_version(&self) -> String {
        self.inner
            .room_version
            .get_or_init(|| async {
                self.inner
                    .hs
                    .default_room_version()
                    .await
                    .unwrap_or_else(|_| "10".into())
            })
            .await
            .clone()
    }

    /// Parses a room ID, with an error that names it.
    pub fn parse_room(room: &str) -> Result<OwnedRoomId> {
        RoomId::parse(room).with_context(|| format!("not a room ID: {room:?}"))
    }

    /// How `mxid` is called in a room: their member display name there,
    /// else their profile's, else the ID itself. Never fails: a name is for
    /// reading, and the ID always serves.
    pub async fn room_displayname(&self, room_id: &str, mxid: &str) -> String {
        let hs = self.homeserver();
        if let Ok(room) = Self::parse_room(room_id) {
            if let Ok(Some(member)) = hs
                .state_event(self.bot(), &room, "m.room.member", mxid)
                .await
            {
                if let Some(name) = member.get("displayname").and_then(|n| n.as_str()) {
                    return name.to_owned();
                }
            }
        }
        match crate::ruma_user_id(mxid) {
            Ok(user) => hs.get_displayname(&user).await.ok().flatten(),
            Err(_) => None,
        }
        .unwrap_or_else(|| mxid.to_owned())
    }
}

/// The `{id}` part of `text` for a template like `_irc_{id}`.
fn template_id<'a>(template: &str, text: &'a str) -> Option<&'a str> {
    let (prefix, suffix) = template.split_once("{id}")?;
    let id = text.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_are_extracted_only_from_matching_text() {
        assert_eq!(template_id("_irc_{id}", "_irc_bob"), Some("bob"));
        assert_eq!(template_id("_xmpp_{id}.x", "_xmpp_room.x"), Some("room"));
        assert_eq!(template_id("_irc_{id}", "_irc_"), None);
        assert_eq!(template_id("_irc_{id}", "bob"), None);
    }
}
