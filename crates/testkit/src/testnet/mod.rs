//! The test network: a `Network` whose remote side is played by a test.
//!
//! What the bridge delivers to the "remote" is appended, durably, to a JSON
//! lines file that the test reads. The test sends remote events through a
//! small HTTP control API. Built for tests only, never shipped.

mod control;
mod directory;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::commands::{Command, CommandContext, CommandResult};
use causeway_core::config::Config;
use causeway_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use causeway_core::login::{FieldKind, InputField, LoginFlow, LoginProcess, LoginStep, NewLogin};
use causeway_core::matrix_event::*;
use causeway_core::network::*;
use causeway_core::permissions::Level;
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use ruma::RoomId;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OnceCell};

#[derive(Debug, Deserialize)]
pub struct TestNetConfig {
    /// Where the control API listens.
    pub control_port: u16,
    /// The JSON lines file of everything delivered to the remote side.
    pub outbox_file: PathBuf,
    /// Plays an account network: chats belong to logins, and portal events
    /// go out through the sender's login or the relay login.
    #[serde(default)]
    pub account: bool,
}

pub const INFO: NetworkInfo = NetworkInfo {
    name: "Test",
    id: "testnet",
    version: env!("CARGO_PKG_VERSION"),
    default_username_template: "_testnet_{id}",
    default_alias_template: "_testnet_{id}",
    default_command_prefix: "",
    default_bot_username: "testbot",
    default_displayname_template: "{name}",
    default_port: 29399,
    example_config: "  # Port of the control API through which tests play the remote side.\n  control_port: 29398\n  # File receiving everything the bridge delivers to the remote side.\n  outbox_file: testnet-outbox.jsonl\n  # Play an account network: portal events go out through the sender's\n  # login in the chat, or the portal's relay login.\n  account: false\n",
    icon: include_bytes!("../../icon.png"),
    single_threaded: false,
};

pub struct TestNet {
    config: TestNetConfig,
    outbox: Mutex<std::fs::File>,
    /// Matrix messages wait before delivery while held (for crash and
    /// stall tests).
    hold: watch::Sender<Hold>,
    /// Each chat's history on the "remote server", as the test sets it.
    history: History,
    /// The contacts and chats every login has, as the test sets them.
    directory: Directory,
    bridge: OnceCell<Bridge>,
}

/// Contacts and chats, as the test sets them.
type Directory = Arc<Mutex<control::DirectoryItems>>;

/// Chats' histories by chat ID.
type History = Arc<Mutex<BTreeMap<String, control::ChatHistory>>>;

/// Which portals' Matrix messages are held back, and whether the network
/// holds back its confirmations of what it took.
#[derive(Clone, Debug, Default)]
struct Hold {
    all: bool,
    portals: std::collections::BTreeSet<String>,
    confirmations: bool,
}

impl Hold {
    fn holds(&self, portal: &str) -> bool {
        self.all || self.portals.contains(portal)
    }
}

pub fn build(config: &Config) -> Result<Arc<dyn Network>> {
    let config: TestNetConfig = config.network_section()?;
    let outbox = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.outbox_file)
        .context("cannot open the outbox file")?;
    Ok(Arc::new(TestNet {
        config,
        outbox: Mutex::new(outbox),
        hold: watch::channel(Hold::default()).0,
        history: History::default(),
        directory: Directory::default(),
        bridge: OnceCell::new(),
    }))
}

impl TestNet {
    fn deliver(&self, record: Value) -> Result<()> {
        let mut file = self
            .outbox
            .lock()
            .map_err(|_| anyhow::anyhow!("outbox lock poisoned"))?;
        writeln!(file, "{record}")?;
        file.sync_data()?;
        Ok(())
    }
}

/// Confirms at once what it was sent, unless the test holds confirmations
/// back: the bridge must then count those messages as not yet delivered.
impl DeliveryConfirmation for TestNet {
    fn taken(&self, _room: &RoomId) -> Taken {
        let mut hold = self.hold.subscribe();
        Box::pin(async move {
            while hold.borrow_and_update().confirmations {
                if hold.changed().await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

#[async_trait]
impl Network for TestNet {
    fn info(&self) -> NetworkInfo {
        INFO
    }

    async fn start(&self, bridge: Bridge) -> Result<()> {
        let _ = self.bridge.set(bridge.clone());
        let listener =
            tokio::net::TcpListener::bind(("127.0.0.1", self.config.control_port)).await?;
        let app = control::router(
            bridge,
            self.hold.clone(),
            self.history.clone(),
            self.directory.clone(),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(())
    }

    fn commands(&self) -> Vec<Command> {
        vec![Command::new(
            "create",
            "Chats",
            "<chat id>",
            "Create a test chat and invite you to it.",
            Level::User,
            create_command,
        )]
    }

    fn account_shaped(&self) -> bool {
        self.config.account
    }

    fn avatars(&self) -> Option<&dyn AvatarFetching> {
        Some(self)
    }

    fn backfill(&self) -> Option<&dyn BackfillHandling> {
        self.config.account.then_some(self as &dyn BackfillHandling)
    }

    fn contacts(&self) -> Option<&dyn ContactHandling> {
        self.config.account.then_some(self as &dyn ContactHandling)
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        vec![
            LoginFlow {
                id: "password",
                name: "Password",
                description: "Log in with a username and password.",
            },
            LoginFlow {
                id: "qr",
                name: "QR code",
                description: "Log in by scanning a QR code.",
            },
        ]
    }

    async fn create_login(&self, _user: &str, flow_id: &str) -> Result<Box<dyn LoginProcess>> {
        match flow_id {
            "password" => Ok(Box::new(PasswordLogin)),
            "qr" => Ok(Box::new(QrLogin { refreshed: 0 })),
            other => bail!("unknown flow {other}"),
        }
    }

    async fn connect_login(&self, _bridge: &Bridge, login: &LoginRow) -> Result<()> {
        self.deliver(json!({ "kind": "connect", "login": login.login_id, "user": login.mxid }))
    }

    async fn logout(&self, login: &LoginRow) -> Result<()> {
        self.deliver(json!({ "kind": "logout", "login": login.login_id }))
    }

    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        let mut hold = self.hold.subscribe();
        while hold.borrow_and_update().holds(portal.key.id.as_str()) {
            hold.changed().await?;
        }
        if message.body.contains("undeliverable") {
            bail!("the remote side refused this message");
        }
        // For supervision tests: a network that breaks on one message.
        if message.body == "panic in the network" {
            panic!("the test network was asked to panic");
        }
        self.deliver(json!({
            "kind": "message", "portal": portal.key.id, "event_id": message.meta.event_id, "sender": message.meta.sender,
            "msgtype": message.msgtype, "body": message.body, "reply_to": message.reply_to.as_ref().map(|m| &m.remote_id),
            "relayed": message.relayed,
            "login": message.meta.login.as_ref().map(|l| l.login_id.as_str()),
        }))?;
        Ok(Some(RemoteMessageId(format!("r{}", message.meta.event_id))))
    }

    fn delivery(&self) -> Option<&dyn DeliveryConfirmation> {
        Some(self)
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
    fn queries(&self) -> Option<&dyn QueryHandling> {
        Some(self)
    }
    fn third_party(&self) -> Option<&dyn ThirdPartyHandling> {
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
}

/// History comes from what the test set for the chat.
#[async_trait]
impl BackfillHandling for TestNet {
    async fn fetch_history(
        &self,
        portal: &PortalRow,
        _login: &LoginRow,
        after: Option<&RemoteMessageId>,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>> {
        let history = self
            .history
            .lock()
            .map_err(|_| anyhow::anyhow!("history lock poisoned"))?;
        let Some(chat) = history.get(portal.key.id.as_str()) else {
            return Ok(Vec::new());
        };
        // An overlapping network answers with its latest messages whatever
        // was seen, as WhatsApp's history sync may.
        let after = after.filter(|_| !chat.overlapping);
        let chat = chat.messages.as_slice();
        let page = match after.and_then(|a| chat.iter().position(|m| m.id == a.0)) {
            Some(seen) => &chat[seen + 1..(seen + 1 + limit).min(chat.len())],
            None => &chat[chat.len().saturating_sub(limit)..],
        };
        Ok(page.iter().map(control::HistoryItem::message).collect())
    }
}

/// Avatars are generated from their ID: a QR code of it, so each ID has
/// its own image.
#[async_trait]
impl AvatarFetching for TestNet {
    async fn fetch_avatar(&self, avatar_id: &str) -> Result<(Vec<u8>, String)> {
        Ok((causeway_core::login::qr_png(avatar_id)?, "image/png".into()))
    }
}

#[async_trait]
impl TypingHandling for TestNet {
    async fn handle_matrix_typing(&self, portal: &PortalRow, typing: &MatrixTyping) -> Result<()> {
        self.deliver(json!({ "kind": "typing", "portal": portal.key.id, "users": typing.typing }))
    }
}

#[async_trait]
impl ReceiptHandling for TestNet {
    async fn handle_matrix_receipt(
        &self,
        portal: &PortalRow,
        receipt: &MatrixReceipt,
    ) -> Result<()> {
        self.deliver(json!({ "kind": "receipt", "portal": portal.key.id, "user": receipt.user, "target": receipt.target.remote_id }))
    }
}

#[async_trait]
impl EditHandling for TestNet {
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()> {
        self.deliver(json!({ "kind": "edit", "portal": portal.key.id, "target": edit.target.remote_id, "body": edit.new_body }))
    }
}

#[async_trait]
impl RedactionHandling for TestNet {
    async fn handle_matrix_redaction(
        &self,
        portal: &PortalRow,
        redaction: &MatrixRedaction,
    ) -> Result<()> {
        let target = match &redaction.target {
            RedactionTarget::Message(m) => json!({ "message": m.remote_id }),
            RedactionTarget::Reaction(r) => {
                json!({ "reaction": r.emoji, "message": r.remote_message_id })
            }
        };
        self.deliver(json!({ "kind": "redaction", "portal": portal.key.id, "target": target }))
    }
}

#[async_trait]
impl ReactionHandling for TestNet {
    async fn handle_matrix_reaction(
        &self,
        portal: &PortalRow,
        reaction: &MatrixReaction,
    ) -> Result<RemoteUserId> {
        self.deliver(json!({ "kind": "reaction", "portal": portal.key.id, "target": reaction.target.remote_id, "key": reaction.key }))?;
        Ok(RemoteUserId(reaction.meta.sender.clone()))
    }
}

#[async_trait]
impl MembershipHandling for TestNet {
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()> {
        self.deliver(json!({ "kind": "membership", "portal": portal.key.id, "user": change.target, "membership": format!("{:?}", change.membership) }))
    }

    async fn handle_ghost_invite(
        &self,
        inviter: &str,
        ghost: &RemoteUserId,
        _room_id: &str,
    ) -> Result<Option<PortalInfo>> {
        Ok(Some(PortalInfo {
            key: PortalKey::shared(format!("dm-{ghost}-{inviter}")),
            name: None,
            ..Default::default()
        }))
    }
}

#[async_trait]
impl QueryHandling for TestNet {
    async fn portal_for_alias(&self, id: &str) -> Result<Option<PortalInfo>> {
        if id.starts_with("missing") {
            return Ok(None);
        }
        Ok(Some(PortalInfo {
            key: PortalKey::shared(id),
            name: Some(format!("Test chat {id}")),
            topic: Some("made on demand".into()),
            ..Default::default()
        }))
    }

    async fn ghost_for_user(&self, id: &RemoteUserId) -> Result<Option<GhostInfo>> {
        if id.as_str().starts_with("missing") {
            return Ok(None);
        }
        Ok(Some(GhostInfo {
            id: id.clone(),
            displayname: Some(format!("{id} (Test)")),
            avatar_mxc: None,
            avatar_id: None,
            own_login: None,
        }))
    }
}

#[async_trait]
impl ThirdPartyHandling for TestNet {
    async fn protocol(&self) -> Result<Value> {
        Ok(json!({
            "user_fields": ["name"], "location_fields": ["chat"], "icon": "mxc://localhost/testnet",
            "field_types": { "name": { "regexp": ".+", "placeholder": "bob" }, "chat": { "regexp": ".+", "placeholder": "general" } },
            "instances": [{ "desc": "Test network", "fields": {}, "network_id": "testnet" }],
        }))
    }

    async fn locations(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>> {
        let Some(chat) = fields.get("chat") else {
            return Ok(vec![]);
        };
        let bridge = self.bridge.get().context("not started")?;
        let alias = format!(
            "#{}:{}",
            bridge.alias_localpart(chat),
            bridge.config().homeserver.domain
        );
        Ok(vec![
            json!({ "alias": alias, "protocol": "testnet", "fields": { "chat": chat } }),
        ])
    }

    async fn users(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>> {
        let Some(name) = fields.get("name") else {
            return Ok(vec![]);
        };
        let bridge = self.bridge.get().context("not started")?;
        Ok(vec![
            json!({ "userid": bridge.ghost_mxid(&name.as_str().into())?, "protocol": "testnet", "fields": { "name": name } }),
        ])
    }
}

async fn create_command(ctx: CommandContext) -> CommandResult {
    let Some(id) = ctx.args.first() else {
        return Err(ctx.usage_error("Say which chat to create."));
    };
    // The chat is seen through the user's first login, if they have one.
    let login = ctx
        .bridge
        .store()
        .logins_of(ctx.bridge.secrets(), &ctx.sender)
        .await?
        .into_iter()
        .next()
        .map(|l| l.login_id);
    let key = match &login {
        Some(login) => ctx.bridge.chat_portal_key(id, login, false),
        None => PortalKey::shared(id.as_str()),
    };
    let info = PortalInfo {
        key,
        name: Some(format!("Test chat {id}")),
        invite: vec![ctx.sender.clone()],
        login,
        ..Default::default()
    };
    let portal = ctx.bridge.ensure_portal_room(&info).await?;
    ctx.reply(&format!(
        "Invited you to `{id}` ({}).",
        portal.room_id.unwrap_or_default()
    ))
    .await?;
    Ok(())
}

struct PasswordLogin;

#[async_trait]
impl LoginProcess for PasswordLogin {
    async fn start(&mut self) -> Result<LoginStep> {
        Ok(LoginStep::UserInput {
            instructions: "Log in to the test network.".into(),
            fields: vec![
                InputField {
                    id: "username",
                    name: "username",
                    kind: FieldKind::Text,
                },
                InputField {
                    id: "password",
                    name: "password",
                    kind: FieldKind::Password,
                },
            ],
        })
    }

    async fn submit(&mut self, input: HashMap<String, String>) -> Result<LoginStep> {
        let user = input.get("username").cloned().unwrap_or_default();
        if input.get("password").map(String::as_str) != Some("correct horse") {
            bail!("wrong password for {user}");
        }
        Ok(LoginStep::Complete {
            login: NewLogin {
                login_id: format!("test-{user}").into(),
                remote_name: user.clone(),
                secret: Some(b"session-token".to_vec()),
                metadata: json!({}),
            },
            message: format!("Logged in as {user}."),
        })
    }

    async fn wait(&mut self) -> Result<LoginStep> {
        bail!("nothing to wait for")
    }

    async fn cancel(&mut self) {}
}

struct QrLogin {
    refreshed: u32,
}

#[async_trait]
impl LoginProcess for QrLogin {
    async fn start(&mut self) -> Result<LoginStep> {
        Ok(LoginStep::DisplayQr {
            instructions: "Scan this code with the test app.".into(),
            data: "testnet-qr-0".into(),
        })
    }

    async fn submit(&mut self, _input: HashMap<String, String>) -> Result<LoginStep> {
        bail!("this flow takes no input")
    }

    async fn wait(&mut self) -> Result<LoginStep> {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        self.refreshed += 1;
        if self.refreshed < 2 {
            return Ok(LoginStep::DisplayQr {
                instructions: String::new(),
                data: format!("testnet-qr-{}", self.refreshed),
            });
        }
        Ok(LoginStep::Complete {
            login: NewLogin {
                login_id: "test-qr".into(),
                remote_name: "qr user".into(),
                secret: None,
                metadata: json!({}),
            },
            message: "Logged in by QR code.".into(),
        })
    }

    async fn cancel(&mut self) {}
}
