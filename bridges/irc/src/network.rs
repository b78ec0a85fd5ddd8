//! The IRC network: one relay bot connection per IRC network, and one
//! connection per Matrix user who talks in a bridged channel.

use crate::cap::SaslLogin;
use crate::config::{IrcConfig, NetworkConfig};
use crate::connection::{
    connect, ConnectParams, Connection, EventReceiver, EventSender, Unconfirmed,
};
use crate::nick;
use crate::params::is_channel;
use crate::state::NetworkState;
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::commands::Command;
use causeway_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{
    EditHandling, GhostInfo, MembershipHandling, Network, NetworkInfo, PortalInfo, QueryHandling,
};
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use dashmap::DashSet;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, OnceCell, SemaphorePermit};

pub const INFO: NetworkInfo = NetworkInfo {
    name: "IRC",
    id: "irc",
    version: env!("CARGO_PKG_VERSION"),
    default_username_template: "_{id}",
    default_alias_template: "_{id}",
    default_command_prefix: "!",
    default_bot_username: "ircbot",
    default_displayname_template: "{name}",
    default_port: 29330,
    example_config: crate::config::EXAMPLE,
    icon: include_bytes!("../icon.png"),
    single_threaded: true,
};

/// Cheap to clone: commands and tasks hold their own handle.
#[derive(Clone)]
pub struct IrcNetwork {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: IrcConfig,
    pub bridge: OnceCell<Bridge>,
    /// Run-time state per IRC network, by network ID; fixed at start.
    pub networks: HashMap<String, NetworkState>,
    /// Matrix users who turned `mentions` off.
    pub mentions_off: DashSet<String>,
    /// First connections whose welcome waits for the user's first message,
    /// as the guide has the status room come then.
    pub welcomes: dashmap::DashMap<crate::status::UserOnNetwork, String>,
    pub events: EventSender,
    event_queue: std::sync::Mutex<Option<EventReceiver>>,
    next_id: AtomicU64,
    /// What each room's messages wait for before they count as delivered.
    pub awaited: crate::delivery::Awaited,
}

pub fn build(config: &causeway_core::config::Config) -> Result<Arc<dyn Network>> {
    let irc: IrcConfig = config.network_section()?;
    irc.validate()?;
    let (events, queue) = mpsc::unbounded_channel();
    let networks = irc
        .networks
        .keys()
        .map(|id| (id.clone(), NetworkState::new(irc.concurrent_connects)))
        .collect();
    Ok(Arc::new(IrcNetwork {
        inner: Arc::new(Inner {
            config: irc,
            bridge: OnceCell::new(),
            networks,
            mentions_off: DashSet::new(),
            welcomes: dashmap::DashMap::new(),
            events,
            event_queue: std::sync::Mutex::new(Some(queue)),
            next_id: AtomicU64::new(causeway_core::store::now_ms() as u64 * 1000),
            awaited: Default::default(),
        }),
    }))
}

/// The portal ID of a channel: `<network>/<folded channel>`.
pub fn channel_portal(network: &str, channel: &str) -> PortalKey {
    PortalKey::shared(format!("{network}/{}", nick::fold_for_id(channel)))
}

/// The portal ID of a private chat: `<network>/pm/<folded nick>/<Matrix user>`.
pub fn private_portal(network: &str, irc_nick: &str, owner: &str) -> PortalKey {
    PortalKey::shared(format!(
        "{network}/pm/{}/{owner}",
        nick::fold_for_id(irc_nick)
    ))
}

/// Where a portal's messages go on IRC.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Channel {
        network: String,
        channel: String,
    },
    Private {
        network: String,
        nick: String,
        owner: String,
    },
}

impl Target {
    pub fn of(portal: &PortalRow) -> Option<Self> {
        let (network, rest) = portal.key.id.as_str().split_once('/')?;
        if let Some(private) = rest.strip_prefix("pm/") {
            let (nick, owner) = private.split_once('/')?;
            return Some(Self::Private {
                network: network.to_owned(),
                nick: nick.to_owned(),
                owner: owner.to_owned(),
            });
        }
        let channel = portal.name.clone().unwrap_or_else(|| rest.to_owned());
        Some(Self::Channel {
            network: network.to_owned(),
            channel,
        })
    }

    pub(crate) fn network(&self) -> &str {
        match self {
            Self::Channel { network, .. } | Self::Private { network, .. } => network,
        }
    }
}

impl IrcNetwork {
    pub(crate) fn bridge(&self) -> Result<&Bridge> {
        self.inner
            .bridge
            .get()
            .context("the IRC bridge has not started yet")
    }

    pub(crate) fn network(&self, id: &str) -> Result<&NetworkConfig> {
        self.inner.config.networks.get(id).with_context(|| {
            let known: Vec<&str> = self
                .inner
                .config
                .networks
                .keys()
                .map(String::as_str)
                .collect();
            format!(
                "there is no IRC network {id:?}; the networks are: {}",
                known.join(", ")
            )
        })
    }

    /// The only network, for commands that may leave it out.
    pub(crate) fn default_network(&self) -> Option<&str> {
        let mut ids = self.inner.config.networks.keys();
        match (ids.next(), ids.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    pub(crate) fn next_message_id(&self, network: &str) -> RemoteMessageId {
        RemoteMessageId(format!(
            "{network}:{}",
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The ghost of IRC user `nick`: ID `<network>/<nick>`, named by the nick.
    pub(crate) fn ghost_info(network: &str, nick: &str) -> GhostInfo {
        GhostInfo {
            id: RemoteUserId(format!("{network}/{nick}")),
            displayname: Some(nick.to_owned()),
            avatar_mxc: None,
            avatar_id: None,
            own_login: None,
        }
    }

    /// Folds a nick or channel by the network's casemapping, as the relay
    /// bot learnt it from the server.
    pub(crate) fn fold(&self, network: &str, name: &str) -> String {
        let mapping = self
            .state(network)
            .and_then(NetworkState::bot)
            .map(|b| b.casemapping());
        nick::fold(name, mapping.unwrap_or_default())
    }

    /// The relay bot's connection to a network.
    /// The run-time state of a configured network.
    pub(crate) fn state(&self, network: &str) -> Option<&NetworkState> {
        self.inner.networks.get(network)
    }

    /// The run-time state of a network that must be configured.
    pub(crate) fn state_of(&self, network: &str) -> Result<&NetworkState> {
        self.state(network)
            .with_context(|| format!("there is no IRC network {network}"))
    }

    /// Waits for a free connection attempt on `network`.
    pub(crate) async fn connect_slot(&self, network: &str) -> Result<SemaphorePermit<'_>> {
        self.state_of(network)?.connect_slot().await
    }

    pub(crate) fn bot(&self, network: &str) -> Result<Arc<Connection>> {
        self.state(network)
            .and_then(NetworkState::bot)
            .with_context(|| {
                format!(
                    "the bridge is not connected to {} right now",
                    self.network(network)
                        .map(|n| n.name.as_str())
                        .unwrap_or(network)
                )
            })
    }

    async fn connect_bot(
        &self,
        id: &str,
        unconfirmed: &mut Vec<Unconfirmed>,
    ) -> Result<Arc<Connection>> {
        let net = self.network(id)?;
        let params = ConnectParams {
            network_id: id,
            network: net,
            nick: net.bot_nick.clone(),
            username: "causeway".into(),
            realname: "Causeway Matrix bridge".into(),
            owner: None,
            sasl: net
                .bot_password
                .clone()
                .filter(|_| net.sasl)
                .map(|password| SaslLogin {
                    account: net.bot_nick.clone(),
                    password,
                }),
        };
        let bot = {
            let _slot = self.connect_slot(id).await?;
            connect(params, self.inner.events.clone()).await?
        };
        if let Some(password) = &net.bot_password {
            crate::puppets::identify_unless_logged_in(&bot, password).await?;
        }
        // Before anyone else can send through it.
        let unconfirmed = std::mem::take(unconfirmed);
        self.resend_unconfirmed(&bot, id, unconfirmed).await;
        self.state_of(id)?.set_bot(Some(bot.clone()));
        // Rejoin every bridged channel of this network, one after another.
        let bridge = self.bridge()?;
        for portal in bridge.store().all_portals().await? {
            let Some(id_part) = portal.key.id.as_str().strip_prefix(&format!("{id}/")) else {
                continue;
            };
            let channel = portal.name.as_deref().unwrap_or(id_part);
            if !is_channel(id_part) || portal.room_id.is_none() {
                continue;
            }
            if let Some(key) = portal.metadata["key"].as_str() {
                self.remember_key(id, channel, key);
            }
            if let Err(err) = self.join_channel(&bot, id, channel).await {
                tracing::warn!(network = id, channel, "cannot rejoin: {err:#}");
            }
            if let Some(room) = &portal.room_id {
                self.join_room_members(id, channel, room);
            }
        }
        let this = self.clone();
        let network = id.to_owned();
        tokio::spawn(async move { this.apply_mappings(&network).await });
        tracing::info!(
            network = id,
            capabilities = ?bot.capabilities(),
            account = ?bot.account(),
            "relay bot connected"
        );
        Ok(bot)
    }

    /// Keeps the relay bot connected, backing off between attempts. The
    /// lines its last connection wrote but never saw confirmed go out first.
    pub(crate) fn keep_bot_connected(&self, id: String, mut unconfirmed: Vec<Unconfirmed>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                match this.connect_bot(&id, &mut unconfirmed).await {
                    Ok(_) => return,
                    Err(err) => {
                        let wait = causeway_core::homeserver::Retry::FOREVER.backoff(attempt);
                        tracing::warn!(network = id, ?wait, "relay bot cannot connect: {err:#}");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                }
            }
        });
    }

    /// Creates or finds a channel's portal, with the relay bot in the channel.
    pub(crate) async fn channel_portal(
        &self,
        network: &str,
        channel: &str,
        key: Option<&str>,
        invite: Vec<String>,
    ) -> Result<PortalRow> {
        if !is_channel(channel) {
            bail!("{channel:?} is not a channel name: channels start with # or &");
        }
        if let Some(key) = key {
            self.remember_key(network, channel, key);
        }
        let bot = self.bot(network)?;
        self.join_channel(&bot, network, channel).await?;
        let info = PortalInfo {
            key: channel_portal(network, channel),
            name: Some(channel.to_owned()),
            invite,
            alias_id: Some(format!("{network}_{}", nick::fold_for_id(channel))),
            metadata: serde_json::json!({ "network": network, "key": key }),
            ..Default::default()
        };
        let portal = self.bridge()?.ensure_portal_room(&info).await?;
        self.sync_members_when_bridged(network, channel);
        Ok(portal)
    }
}

#[async_trait]
impl Network for IrcNetwork {
    fn info(&self) -> NetworkInfo {
        INFO
    }

    /// Every ghost and alias ID is `<network>_…`.
    fn id_prefixes(&self) -> Vec<String> {
        self.inner
            .config
            .networks
            .keys()
            .map(|network| format!("{network}_"))
            .collect()
    }

    fn ghost_localpart(&self, id: &RemoteUserId) -> String {
        nick::ghost_localpart(id.as_str())
    }

    fn ghost_id(&self, localpart_id: &str) -> Option<RemoteUserId> {
        nick::ghost_remote_id(localpart_id).map(RemoteUserId)
    }

    async fn start(&self, bridge: Bridge) -> Result<()> {
        let _ = self.inner.bridge.set(bridge);
        let queue = self
            .inner
            .event_queue
            .lock()
            .ok()
            .and_then(|mut q| q.take())
            .context("the IRC network was started twice")?;
        tokio::spawn(self.clone().run_events(queue));
        for id in self.inner.config.networks.keys() {
            self.keep_bot_connected(id.clone(), Vec::new());
        }
        self.watch_idle_users();
        Ok(())
    }

    fn commands(&self) -> Vec<Command> {
        let mut commands = crate::commands::all(self);
        commands.extend(crate::auth_commands::all(self));
        commands.extend(crate::plumbing::all(self));
        commands.extend(crate::idle::all(self));
        commands.extend(crate::mentions::all(self));
        commands
    }

    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        self.deliver_matrix_message(portal, message).await
    }

    fn queries(&self) -> Option<&dyn QueryHandling> {
        Some(self)
    }

    fn membership(&self) -> Option<&dyn MembershipHandling> {
        Some(self)
    }

    fn edits(&self) -> Option<&dyn EditHandling> {
        Some(self)
    }

    fn third_party(&self) -> Option<&dyn causeway_core::network::ThirdPartyHandling> {
        Some(self)
    }

    fn topics(&self) -> Option<&dyn causeway_core::network::TopicHandling> {
        Some(self)
    }

    fn delivery(&self) -> Option<&dyn causeway_core::network::DeliveryConfirmation> {
        Some(self)
    }
}

#[async_trait]
impl QueryHandling for IrcNetwork {
    async fn portal_for_alias(&self, id: &str) -> Result<Option<PortalInfo>> {
        let Some((network, channel)) = id.split_once('_') else {
            return Ok(None);
        };
        let Ok(net) = self.network(network) else {
            return Ok(None);
        };
        if !is_channel(channel) {
            return Ok(None);
        }
        if let Err(why) = net.dynamic_channels.permits(channel) {
            tracing::info!(network, channel, "no portal on an alias query: {why}");
            return Ok(None);
        }
        let bot = self.bot(network)?;
        self.join_channel(&bot, network, channel).await?;
        self.sync_members_when_bridged(network, channel);
        Ok(Some(PortalInfo {
            key: channel_portal(network, channel),
            name: Some(channel.to_owned()),
            alias_id: Some(id.to_owned()),
            metadata: serde_json::json!({ "network": network }),
            ..Default::default()
        }))
    }

    async fn ghost_for_user(&self, id: &RemoteUserId) -> Result<Option<GhostInfo>> {
        let Some((network, nick)) = id.as_str().split_once('/') else {
            return Ok(None);
        };
        if self.network(network).is_err() {
            return Ok(None);
        }
        Ok(Some(Self::ghost_info(network, nick)))
    }
}
