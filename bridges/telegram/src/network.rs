//! The Telegram network: a grammers client per login, and what the core
//! asks of an account network.

use crate::client::TgClient;
use crate::config::TelegramConfig;
use crate::login::TelegramLogin;
use crate::send::Sent;
use crate::session::{LoginSession, NAMESPACE};
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::{LoginId, RemoteMessageId};
use causeway_core::login::{LoginFlow, LoginProcess, LoginStep};
use causeway_core::login_state::LoginState;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{
    BackfillHandling, ContactHandling, EditHandling, Network, NetworkInfo, ReactionHandling,
    ReceiptHandling, RedactionHandling, TypingHandling,
};
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const INFO: NetworkInfo = NetworkInfo {
    name: "Telegram",
    id: "telegram",
    version: env!("CARGO_PKG_VERSION"),
    default_username_template: "telegram_{id}",
    default_alias_template: "telegram_{id}",
    default_command_prefix: "",
    default_bot_username: "telegram",
    default_displayname_template: "{name}",
    default_port: 29317,
    example_config: crate::config::EXAMPLE,
    icon: include_bytes!("../icon.png"),
    single_threaded: false,
};

#[derive(Clone)]
pub struct TelegramNetwork {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: TelegramConfig,
    bridge: OnceCell<Bridge>,
    /// Each connected login's client.
    pub clients: DashMap<LoginId, Arc<TgClient>>,
    /// Messages each login sent from Matrix, by (chat, message ID): their
    /// own updates are not bridged back.
    sent: DashMap<LoginId, SentSet>,
}

/// Messages a login sent from Matrix, by (chat key, message ID).
type SentSet = Arc<tokio::sync::Mutex<std::collections::HashSet<(String, i32)>>>;

pub fn build(config: &causeway_core::config::Config) -> Result<Arc<dyn Network>> {
    let config: TelegramConfig = config.network_section()?;
    config.validate()?;
    Ok(Arc::new(TelegramNetwork {
        inner: Arc::new(Inner {
            config,
            bridge: OnceCell::new(),
            clients: DashMap::new(),
            sent: DashMap::new(),
        }),
    }))
}

impl TelegramNetwork {
    pub(crate) fn bridge(&self) -> Result<&Bridge> {
        self.inner
            .bridge
            .get()
            .context("the bridge has not started")
    }

    pub(crate) fn config(&self) -> &TelegramConfig {
        &self.inner.config
    }

    fn sent_set(&self, login: &LoginId) -> SentSet {
        self.inner.sent.entry(login.clone()).or_default().clone()
    }

    /// Sends under the login's sent-set lock and records the new message,
    /// so that its update, which may arrive before the send returns, is
    /// recognised.
    pub(crate) async fn sending<F, Fut>(&self, login: &LoginId, chat: &str, send: F) -> Result<Sent>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Sent, grammers_client::InvocationError>>,
    {
        let set = self.sent_set(login);
        let mut sent = set.lock().await;
        let result = send().await.map_err(crate::flood::explain)?;
        if let Sent::Id(id) = result {
            sent.insert((chat.to_owned(), id));
        }
        Ok(result)
    }

    /// Whether the bridge itself sent this message from Matrix.
    pub(crate) async fn was_sent_by_bridge(&self, login: &LoginId, chat: &str, id: i32) -> bool {
        self.sent_set(login)
            .lock()
            .await
            .remove(&(chat.to_owned(), id))
    }

    /// A login's updates stopped. Telegram ending the session (terminated
    /// from another device, or its key used twice) ends the login here
    /// too, told once; anything else is a disconnect. Returns whether the
    /// login ended.
    pub(crate) async fn connection_lost(
        &self,
        login: &LoginRow,
        err: &grammers_client::InvocationError,
    ) -> bool {
        let Ok(bridge) = self.bridge() else {
            return false;
        };
        let (state, message) = match err {
            grammers_client::InvocationError::Rpc(rpc) if rpc.code == 401 => (
                LoginState::LoggedOut,
                "Telegram ended this session (it was terminated from another device); send `login` to log in again".to_owned(),
            ),
            grammers_client::InvocationError::Rpc(rpc) if rpc.code == 406 => (
                LoginState::BadCredentials,
                format!("Telegram refused this session ({}); send `login` to log in again", rpc.name),
            ),
            other => (LoginState::TransientDisconnect, other.to_string()),
        };
        let ended = state != LoginState::TransientDisconnect;
        if ended {
            self.inner.clients.remove(&login.login_id);
        }
        bridge.report_login_state(login, state, Some(message)).await;
        ended
    }

    /// A login's connection works again.
    pub(crate) async fn connection_back(&self, login: &LoginRow) {
        if let Ok(bridge) = self.bridge() {
            bridge
                .report_login_state(login, LoginState::Connected, None)
                .await;
        }
    }

    pub(crate) fn client(&self, login: &LoginId) -> Result<Arc<TgClient>> {
        self.inner
            .clients
            .get(login)
            .map(|c| c.clone())
            .with_context(|| format!("the Telegram login {login} is not connected"))
    }
}

#[async_trait]
impl Network for TelegramNetwork {
    fn info(&self) -> NetworkInfo {
        INFO
    }

    async fn start(&self, bridge: Bridge) -> Result<()> {
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

    fn edits(&self) -> Option<&dyn EditHandling> {
        Some(self)
    }

    fn redactions(&self) -> Option<&dyn RedactionHandling> {
        Some(self)
    }

    fn chat_info(&self) -> Option<&dyn causeway_core::network::ChatInfoFetching> {
        Some(self)
    }

    fn avatars(&self) -> Option<&dyn causeway_core::network::AvatarFetching> {
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

    fn reactions(&self) -> Option<&dyn ReactionHandling> {
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
                id: "phone",
                name: "Phone number",
                description: "Log in with your phone number, the code Telegram sends, and your 2FA password if you have one.",
            },
            LoginFlow {
                id: "qr",
                name: "QR code",
                description: "Scan a QR code with the Telegram app on a phone that is logged in.",
            },
            LoginFlow {
                id: "bot",
                name: "Bot token",
                description: "Log in a Telegram bot by the token @BotFather gave; with `set-relay` it sends for users without an account.",
            },
        ]
    }

    async fn create_login(&self, _user: &str, flow_id: &str) -> Result<Box<dyn LoginProcess>> {
        let login = TelegramLogin::new(self.clone()).await?;
        Ok(match flow_id {
            "phone" => Box::new(login),
            "qr" => Box::new(Opened(login, Opening::Qr)),
            "bot" => Box::new(Opened(login, Opening::Bot)),
            other => anyhow::bail!("there is no login flow {other:?}"),
        })
    }

    async fn connect_login(&self, bridge: &Bridge, login: &LoginRow) -> Result<()> {
        bridge
            .report_login_state(login, LoginState::Connecting, None)
            .await;
        let session =
            Arc::new(LoginSession::load(bridge.login_data(&login.login_id, NAMESPACE)).await?);
        crate::client::prepare(&session, self.config()).await?;
        let (client, updates) = crate::client::connect(session, self.config());
        let client = Arc::new(client);
        match client.client.is_authorized().await {
            Ok(true) => {}
            Ok(false) => {
                bridge
                    .report_login_state(
                        login,
                        LoginState::BadCredentials,
                        Some("Telegram ended this session: log in again.".into()),
                    )
                    .await;
                return Ok(());
            }
            Err(err) => {
                bridge
                    .report_login_state(
                        login,
                        LoginState::TransientDisconnect,
                        Some(err.to_string()),
                    )
                    .await;
                return Err(err.into());
            }
        }
        self.inner
            .clients
            .insert(login.login_id.clone(), client.clone());
        bridge
            .report_login_state(login, LoginState::Connected, None)
            .await;
        crate::handle_remote::spawn(self.clone(), login.clone(), client, updates);
        Ok(())
    }

    async fn logout(&self, login: &LoginRow) -> Result<()> {
        if let Some((_, client)) = self.inner.clients.remove(&login.login_id) {
            client.client.sign_out().await?;
            client.session.forget().await?;
        }
        Ok(())
    }

    /// Dropping the client ends its connection; the session stays valid
    /// on Telegram, as `delete-session` promises.
    async fn disconnect_login(&self, login: &LoginRow) {
        self.inner.clients.remove(&login.login_id);
    }

    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        crate::handle_matrix::message(self, portal, message).await
    }
}

/// The QR flow starts by showing a code and the bot flow by asking for a
/// token, where the phone flow asks for a number; the rest is the same
/// login.
enum Opening {
    Qr,
    Bot,
}

struct Opened(TelegramLogin, Opening);

#[async_trait]
impl LoginProcess for Opened {
    async fn start(&mut self) -> Result<LoginStep> {
        match self.1 {
            Opening::Qr => self.0.export_qr().await,
            Opening::Bot => Ok(self
                .0
                .ask_bot_token("Send the bot's token from @BotFather (/mybots → API Token).")),
        }
    }
    async fn submit(
        &mut self,
        input: std::collections::HashMap<String, String>,
    ) -> Result<LoginStep> {
        self.0.submit(input).await
    }
    async fn wait(&mut self) -> Result<LoginStep> {
        self.0.wait().await
    }
    async fn cancel(&mut self) {
        self.0.cancel().await
    }
}
