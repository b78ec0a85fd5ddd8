//! The WhatsApp network: a whatsapp-rust client per login, and what the
//! core asks of an account network.

use crate::client::WaClient;
use crate::config::WhatsAppConfig;
use crate::login::WhatsAppLogin;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::{LoginId, RemoteMessageId};
use causeway_core::login::{LoginFlow, LoginProcess};
use causeway_core::login_state::LoginState;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{
    BackfillHandling, ContactHandling, Network, NetworkInfo, ReceiptHandling, TypingHandling,
};
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const INFO: NetworkInfo = NetworkInfo {
    name: "WhatsApp",
    id: "whatsapp",
    version: env!("CARGO_PKG_VERSION"),
    default_username_template: "whatsapp_{id}",
    default_alias_template: "whatsapp_{id}",
    default_command_prefix: "",
    default_bot_username: "whatsappbot",
    default_displayname_template: "{name} (WA)",
    default_port: 29318,
    example_config: crate::config::EXAMPLE,
    icon: include_bytes!("../icon.png"),
    single_threaded: false,
};

#[derive(Clone)]
pub struct WhatsAppNetwork {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: WhatsAppConfig,
    bridge: OnceCell<Bridge>,
    /// Each connected login's client.
    clients: DashMap<LoginId, Arc<WaClient>>,
    /// Clients of logins that just paired, for `connect_login` to take
    /// over instead of connecting a second time.
    paired: DashMap<LoginId, (WaClient, crate::client::Events)>,
}

pub fn build(config: &causeway_core::config::Config) -> Result<Arc<dyn Network>> {
    let config: WhatsAppConfig = config.network_section()?;
    config.validate()?;
    Ok(Arc::new(WhatsAppNetwork {
        inner: Arc::new(Inner {
            config,
            bridge: OnceCell::new(),
            clients: DashMap::new(),
            paired: DashMap::new(),
        }),
    }))
}

impl WhatsAppNetwork {
    pub(crate) fn bridge(&self) -> Result<&Bridge> {
        self.inner
            .bridge
            .get()
            .context("the bridge has not started")
    }

    pub(crate) fn config(&self) -> &WhatsAppConfig {
        &self.inner.config
    }

    pub(crate) fn client(&self, login: &LoginId) -> Result<Arc<WaClient>> {
        self.inner
            .clients
            .get(login)
            .map(|c| c.clone())
            .with_context(|| format!("the WhatsApp login {login} is not connected"))
    }

    /// A login finished pairing on this client: `connect_login` uses it.
    pub(crate) fn paired(&self, login: LoginId, client: WaClient, events: crate::client::Events) {
        self.inner.paired.insert(login, (client, events));
    }

    /// A login ended on WhatsApp's side: its client stops, and has saved
    /// what it was saving when this returns.
    pub(crate) async fn stop_client(&self, login: &LoginId) {
        if let Some((_, client)) = self.inner.clients.remove(login) {
            client.stop().await;
        }
    }
}

#[async_trait]
impl Network for WhatsAppNetwork {
    fn info(&self) -> NetworkInfo {
        INFO
    }

    async fn start(&self, bridge: Bridge) -> Result<()> {
        if self.config().test_server.is_some() {
            tracing::warn!(
                "network.test_server is set: this bridge talks to a WhatsApp test server, not WhatsApp"
            );
        }
        let _ = self.inner.bridge.set(bridge);
        Ok(())
    }

    fn account_shaped(&self) -> bool {
        true
    }

    fn contacts(&self) -> Option<&dyn ContactHandling> {
        Some(self)
    }

    fn backfill(&self) -> Option<&dyn BackfillHandling> {
        Some(self)
    }

    fn edits(&self) -> Option<&dyn causeway_core::network::EditHandling> {
        Some(self)
    }

    fn redactions(&self) -> Option<&dyn causeway_core::network::RedactionHandling> {
        Some(self)
    }

    fn reactions(&self) -> Option<&dyn causeway_core::network::ReactionHandling> {
        Some(self)
    }

    fn names(&self) -> Option<&dyn causeway_core::network::NameHandling> {
        Some(self)
    }

    fn topics(&self) -> Option<&dyn causeway_core::network::TopicHandling> {
        Some(self)
    }

    fn membership(&self) -> Option<&dyn causeway_core::network::MembershipHandling> {
        Some(self)
    }

    fn avatars(&self) -> Option<&dyn causeway_core::network::AvatarFetching> {
        Some(self)
    }

    fn chat_info(&self) -> Option<&dyn causeway_core::network::ChatInfoFetching> {
        Some(self)
    }

    fn typing(&self) -> Option<&dyn TypingHandling> {
        Some(self)
    }

    fn receipts(&self) -> Option<&dyn ReceiptHandling> {
        Some(self)
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow {
                id: "qr",
                name: "QR code",
                description: "Scan a QR code with WhatsApp on your phone (Linked devices → Link a device).",
            },
            LoginFlow {
                id: "phone",
                name: "Phone number",
                description: "Type a pairing code into WhatsApp on your phone (Link with phone number instead).",
            },
        ]
    }

    async fn create_login(&self, user: &str, flow_id: &str) -> Result<Box<dyn LoginProcess>> {
        let phone = match flow_id {
            "qr" => false,
            "phone" => true,
            other => anyhow::bail!("there is no login flow {other:?}"),
        };
        Ok(Box::new(WhatsAppLogin::new(self.clone(), user, phone)))
    }

    async fn connect_login(&self, bridge: &Bridge, login: &LoginRow) -> Result<()> {
        bridge
            .report_login_state(login, LoginState::Connecting, None)
            .await;
        let store = self.store_of(&login.login_id)?;
        let (client, events) = match self.inner.paired.remove(&login.login_id) {
            Some((_, paired)) => paired,
            // A device the phone unlinked is not connected again: that would
            // start linking a new one, unasked. What its client saved while
            // stopping goes too.
            None if !store.is_linked().await? => {
                store.forget().await?;
                bridge
                    .report_login_state(
                        login,
                        LoginState::LoggedOut,
                        Some("This WhatsApp login is no longer linked to the phone. Send `login` to link the bridge again.".into()),
                    )
                    .await;
                return Ok(());
            }
            None => crate::client::start(self, &login.login_id, None).await?,
        };
        client.serve(login);
        let client = Arc::new(client);
        self.inner
            .clients
            .insert(login.login_id.clone(), client.clone());
        crate::handle_remote::spawn(self.clone(), login.clone(), Arc::downgrade(&client), events);
        Ok(())
    }

    async fn logout(&self, login: &LoginRow) -> Result<()> {
        if let Some((_, client)) = self.inner.clients.remove(&login.login_id) {
            client.client.logout().await;
            client.stop().await;
        }
        self.store_of(&login.login_id)?.forget().await
    }

    async fn disconnect_login(&self, login: &LoginRow) {
        if let Some((_, client)) = self.inner.clients.remove(&login.login_id) {
            client.stop().await;
        }
    }

    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        crate::handle_matrix::message(self, portal, message).await
    }
}

impl WhatsAppNetwork {
    /// A login's whatsapp-rust state in our database.
    pub(crate) fn store_of(&self, login: &LoginId) -> Result<crate::store::WaStore> {
        let bridge = self.bridge()?;
        Ok(crate::store::WaStore::new(
            bridge.store().clone(),
            bridge.secrets().clone(),
            login.clone(),
        ))
    }
}
