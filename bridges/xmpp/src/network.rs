//! The XMPP network: one component connection, and the state of the MUCs
//! and gateway rooms the bridge takes part in.

use crate::addressing::{Addresses, ComponentAddress};
use crate::component::{Component, ConnectTarget, Inbound};
use crate::config::XmppConfig;
use crate::muc::MucRoom;
use crate::stanza::{self, Kind};
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{
    DeliveryConfirmation, EditHandling, MembershipHandling, Network, NetworkInfo, PlumbHandling,
    QueryHandling, ReactionHandling, ReceiptHandling, RedactionHandling, Taken, TopicHandling,
    TypingHandling,
};
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use dashmap::DashMap;
use ruma::RoomId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OnceCell};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

pub const INFO: NetworkInfo = NetworkInfo {
    name: "XMPP",
    id: "xmpp",
    version: env!("CARGO_PKG_VERSION"),
    default_username_template: "xmpp_{id}",
    default_alias_template: "_xmpp_{id}",
    default_command_prefix: "",
    default_bot_username: "xmppbot",
    default_displayname_template: "{name}",
    default_port: 29340,
    example_config: crate::config::EXAMPLE,
    icon: include_bytes!("../icon.png"),
    single_threaded: false,
};

/// Cheap to clone: tasks hold their own handle.
#[derive(Clone)]
pub struct XmppNetwork {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: XmppConfig,
    pub addresses: Addresses,
    pub bridge: OnceCell<Bridge>,
    pub component: OnceCell<Component>,
    /// MUCs with a portal, by bare room JID.
    pub mucs: DashMap<String, MucRoom>,
    /// Gateway rooms XMPP users are in, by Matrix room ID.
    pub gateway: DashMap<String, crate::gateway::GatewayRoom>,
    /// Matrix messages just sent, for references that outrun the store.
    pub in_flight: crate::refs::InFlight,
    /// XMPP users' vCard profiles, by bare JID; `None` while fetching.
    pub profiles: DashMap<String, Option<crate::profiles::Profile>>,
    /// Matrix users typing in each room, as last told, by room ID.
    pub typing: DashMap<String, std::collections::HashSet<String>>,
    /// Each chat's inbound queue (see [`crate::inbound`]).
    pub chats: crate::inbound::Chats,
    inbound: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Inbound>>>,
    inbound_tx: mpsc::UnboundedSender<Inbound>,
}

pub fn build(config: &causeway_core::config::Config) -> Result<Arc<dyn Network>> {
    let xmpp: XmppConfig = config.network_section()?;
    xmpp.validate()?;
    let (inbound_tx, inbound) = mpsc::unbounded_channel();
    Ok(Arc::new(XmppNetwork {
        inner: Arc::new(Inner {
            addresses: Addresses::new(&xmpp),
            config: xmpp,
            bridge: OnceCell::new(),
            component: OnceCell::new(),
            mucs: DashMap::new(),
            gateway: DashMap::new(),
            chats: DashMap::new(),
            typing: DashMap::new(),
            profiles: DashMap::new(),
            in_flight: DashMap::new(),
            inbound: std::sync::Mutex::new(Some(inbound)),
            inbound_tx,
        }),
    }))
}

impl XmppNetwork {
    pub(crate) fn bridge(&self) -> Result<&Bridge> {
        self.inner
            .bridge
            .get()
            .context("the bridge has not started")
    }

    pub(crate) fn component(&self) -> Result<&Component> {
        self.inner
            .component
            .get()
            .context("the XMPP connection has not started")
    }

    pub(crate) fn addresses(&self) -> &Addresses {
        &self.inner.addresses
    }

    pub(crate) fn fetch_policy(&self) -> crate::media::FetchPolicy {
        crate::media::FetchPolicy {
            max_bytes: self.config().max_media_bytes,
            allow_private: self.config().fetch_private_addresses,
        }
    }

    pub(crate) fn config(&self) -> &XmppConfig {
        &self.inner.config
    }

    /// Queues a stanza for the server.
    pub(crate) fn send(&self, stanza: Element) {
        match self.inner.component.get() {
            Some(component) => component.send(stanza),
            None => tracing::error!("a stanza was built before the connection started"),
        }
    }

    /// The stanzas that must precede everything after a (re)connect: every
    /// puppet rejoins its MUCs, and gateway occupants hear we are back.
    fn rejoin_stanzas(&self) -> Vec<Element> {
        let mut out = Vec::new();
        for room in self.inner.mucs.iter() {
            out.extend(room.rejoin_presences(
                &self.inner.addresses,
                room.key(),
                self.config().backfill_messages,
            ));
        }
        out
    }

    /// Sends each stanza to what it is for: the MUC code, the gateway, a
    /// private chat, or the component's services.
    pub(crate) async fn route(&self, stanza: &Element) -> Result<()> {
        let Some(kind) = stanza::kind(stanza) else {
            return Ok(());
        };
        let from = stanza.attr("from").and_then(|f| Jid::new(f).ok());
        let to = stanza.attr("to").and_then(|t| Jid::new(t).ok());
        let (Some(from), Some(to)) = (from, to) else {
            tracing::warn!(stanza = %abbreviate(stanza), "a stanza with a missing or invalid address was refused");
            if kind == Kind::Iq
                && stanza
                    .attr("type")
                    .is_some_and(|t| t == "get" || t == "set")
            {
                self.send(stanza::error_reply(stanza, "modify", "jid-malformed", None));
            }
            return Ok(());
        };
        let target = self.addresses().classify(&to);
        if kind == Kind::Iq {
            return crate::services::handle_iq(self, stanza, &from, &target).await;
        }
        let from_bare = from.to_bare();
        if self.inner.mucs.contains_key(from_bare.as_str()) {
            // A private message through the room goes to a DM of its own.
            let private = kind == Kind::Message && stanza.attr("type") == Some("chat");
            if let (true, ComponentAddress::MatrixUser(mxid)) = (private, &target) {
                return crate::direct::handle_message(self, stanza, &from, mxid).await;
            }
            return match kind {
                Kind::Presence => crate::muc::handle_presence(self, stanza, &from, &target).await,
                _ => crate::muc::handle_message(self, stanza, &from, &target).await,
            };
        }
        match (&target, kind) {
            (ComponentAddress::GatewayRoom(alias), Kind::Presence) => {
                crate::gateway::handle_presence(self, stanza, &from, &to, alias).await
            }
            (ComponentAddress::GatewayRoom(alias), Kind::Message) => {
                crate::gateway::handle_message(self, stanza, &from, alias).await
            }
            (ComponentAddress::MatrixUser(mxid), Kind::Message) => {
                crate::direct::handle_message(self, stanza, &from, mxid).await
            }
            (ComponentAddress::MatrixUser(_), Kind::Presence) => {
                crate::services::handle_user_presence(self, stanza, &from);
                Ok(())
            }
            (_, Kind::Message) if stanza.attr("type") != Some("error") => {
                self.send(stanza::error_reply(
                    stanza,
                    "cancel",
                    "item-not-found",
                    Some("No such Matrix user or room here"),
                ));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A stanza for a log line: at most 300 characters of it.
pub(crate) fn abbreviate(stanza: &Element) -> String {
    let text = stanza::to_string(stanza);
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[async_trait]
impl Network for XmppNetwork {
    fn info(&self) -> NetworkInfo {
        INFO
    }

    async fn start(&self, bridge: Bridge) -> Result<()> {
        let _ = self.inner.bridge.set(bridge.clone());
        let config = self.config();
        let server_domain = config
            .component_jid
            .split_once('.')
            .map(|(_, parent)| parent.to_owned())
            .unwrap_or_else(|| config.component_jid.clone());
        let target = ConnectTarget {
            jid: config.component_jid.clone(),
            secret: config.component_secret.clone(),
            address: format!("{}:{}", config.server_host, config.server_port),
            server_domain,
            keepalive: Duration::from_secs(config.keepalive_seconds),
        };
        // Known rooms first: the connection's first act is to rejoin them.
        crate::muc::restore(self, &bridge).await?;
        crate::gateway::restore(self, &bridge).await;
        let this = self.clone();
        let component = Component::spawn(
            target,
            self.inner.inbound_tx.clone(),
            Arc::new(move || this.rejoin_stanzas()),
        );
        let _ = self.inner.component.set(component);
        let inbound = self
            .inner
            .inbound
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .take();
        if let Some(inbound) = inbound {
            tokio::spawn(self.clone().run_inbound(inbound));
        }
        Ok(())
    }

    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        crate::outbound::message(self, portal, message)
            .await
            .map(Some)
    }

    fn edits(&self) -> Option<&dyn EditHandling> {
        Some(self)
    }
    fn redactions(&self) -> Option<&dyn RedactionHandling> {
        Some(self)
    }
    fn reactions(&self) -> Option<&dyn ReactionHandling> {
        Some(self)
    }
    fn membership(&self) -> Option<&dyn MembershipHandling> {
        Some(self)
    }
    fn typing(&self) -> Option<&dyn TypingHandling> {
        Some(self)
    }
    fn receipts(&self) -> Option<&dyn ReceiptHandling> {
        Some(self)
    }
    fn delivery(&self) -> Option<&dyn DeliveryConfirmation> {
        Some(self)
    }
    fn queries(&self) -> Option<&dyn QueryHandling> {
        Some(self)
    }
    fn topics(&self) -> Option<&dyn TopicHandling> {
        Some(self)
    }
    fn plumbing(&self) -> Option<&dyn PlumbHandling> {
        Some(self)
    }
}

/// XEP-0114 acknowledges nothing: a Matrix event counts as delivered once
/// the server answered a ping sent after its stanzas.
impl DeliveryConfirmation for XmppNetwork {
    fn taken(&self, _room: &RoomId) -> Taken {
        // Before the connection starts, nothing was sent through it. One
        // stream carries every room, and is resent until taken.
        let taken = self.inner.component.get().map(Component::taken);
        Box::pin(async move {
            if let Some(taken) = taken {
                taken.await;
            }
            Ok(())
        })
    }
}
