//! What a bridge writes: one `Network`, plus the optional capability traits
//! for what its protocol supports. The core owns everything else.
//!
//! Capabilities are found through accessor methods that return `None` by
//! default, the Rust form of bridgev2's optional interfaces.

use crate::bridge::Bridge;
use crate::commands::Command;
use crate::ids::{LoginId, PortalKey, RemoteMessageId, RemoteUserId};
use crate::login::{LoginFlow, LoginProcess};
use crate::matrix_event::{
    MatrixEdit, MatrixMembership, MatrixMessage, MatrixReaction, MatrixReceipt, MatrixRedaction,
    MatrixTyping,
};
use crate::store::{LoginRow, PortalRow};
use anyhow::Result;
use async_trait::async_trait;
use ruma::RoomId;
use serde_json::Value;
use std::collections::BTreeMap;

/// Fixed facts about a network, used for defaults, registration and help.
#[derive(Clone, Debug)]
pub struct NetworkInfo {
    /// Human name, such as "IRC".
    pub name: &'static str,
    /// Protocol ID, such as "irc": for `m.bridge` and third-party lookups.
    pub id: &'static str,
    pub version: &'static str,
    pub default_username_template: &'static str,
    pub default_alias_template: &'static str,
    /// `!` for IRC; empty for bare words in the management room.
    pub default_command_prefix: &'static str,
    pub default_bot_username: &'static str,
    /// How ghosts are named, `{name}` being the remote name: "{name} (WA)".
    pub default_displayname_template: &'static str,
    pub default_port: u16,
    /// The commented YAML of the network section, indented by two spaces.
    pub example_config: &'static str,
    /// The network's icon, a PNG: uploaded once, it is the bot's avatar and
    /// the network's in every room's `m.bridge`.
    pub icon: &'static [u8],
    /// Whether the bridge runs its tasks on one thread. At a homeserver's
    /// pace, where each message wakes the bridge from idle, a runtime with
    /// a thread per core wakes its other threads for work one thread does,
    /// which was about a third of the IRC bridge's CPU per line through
    /// Synapse; one thread keeps up with a hundred times that pace. XMPP
    /// keeps every core: on one thread, a MUC's join storm was read faster
    /// than its chat task routed it, and the queued stanzas took the RSS
    /// with 1,000 occupants from 56 to 360 MiB. WhatsApp and Telegram
    /// decrypt every message of every login.
    pub single_threaded: bool,
}

/// Everything needed to create or find a portal's room.
#[derive(Clone, Debug, Default)]
pub struct PortalInfo {
    pub key: PortalKey,
    pub name: Option<String>,
    pub topic: Option<String>,
    /// Matrix users to invite when the room is created.
    pub invite: Vec<String>,
    /// A one-to-one chat: created as a DM with the other side's ghost.
    pub direct_with: Option<RemoteUserId>,
    /// The alias localpart's `{id}` to publish, if the portal has one.
    pub alias_id: Option<String>,
    pub metadata: Value,
    /// On an account network, the login this chat was seen through: its
    /// user may send there through it.
    pub login: Option<LoginId>,
    /// A DM, a group or a broadcast channel; DMs are known by `direct_with`.
    pub kind: Option<crate::chat_info::ChatKind>,
}

/// A remote user's profile, for their ghost.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GhostInfo {
    pub id: RemoteUserId,
    pub displayname: Option<String>,
    /// An `mxc://` URI already uploaded by the network.
    pub avatar_mxc: Option<String>,
    /// Or the remote avatar's ID, for the core to fetch once and upload.
    #[serde(default)]
    pub avatar_id: Option<String>,
    /// This remote user is the account of one of our logins: what they do
    /// appears as the login's Matrix user, with double puppeting.
    #[serde(default)]
    pub own_login: Option<LoginId>,
}

#[async_trait]
pub trait Network: Send + Sync + 'static {
    fn info(&self) -> NetworkInfo;

    /// The `{id}` of the ghost localpart for a remote user. The default is the
    /// spec's reversible escaping; a network whose IDs read better another way
    /// (IRC's `_<net>_<nick>`) may map them itself, if `ghost_id` reverses it.
    fn ghost_localpart(&self, id: &RemoteUserId) -> String {
        crate::ids::escape_localpart(id.as_str())
    }

    /// The remote user behind a ghost localpart's `{id}`, or `None` if it
    /// cannot be one of ours.
    fn ghost_id(&self, localpart_id: &str) -> Option<RemoteUserId> {
        crate::ids::unescape_localpart(localpart_id).map(RemoteUserId)
    }

    /// Called once the bridge is running and can send; connect saved logins here.
    /// What every `{id}` of this bridge's ghosts and aliases starts with,
    /// when the network knows (IRC: each configured network's ID and `_`):
    /// the registration then claims only those, and does not overlap
    /// another bridge's with a similar template.
    fn id_prefixes(&self) -> Vec<String> {
        Vec::new()
    }

    async fn start(&self, bridge: Bridge) -> Result<()>;

    /// Network-specific bot commands, added to the core's.
    fn commands(&self) -> Vec<Command> {
        Vec::new()
    }

    /// Core commands this network does not offer, by name: left out of
    /// the bot and its help.
    fn hidden_commands(&self) -> &'static [&'static str] {
        &[]
    }

    /// Account-shaped networks (WhatsApp, Telegram) send every portal event
    /// through a login of its sender's in that chat, or the portal's relay
    /// login. Room-shaped ones (IRC, XMPP) connect users their own way.
    fn account_shaped(&self) -> bool {
        false
    }

    /// Login flows; the core offers `login`, `logout` and `cancel` only if any.
    fn login_flows(&self) -> Vec<LoginFlow> {
        Vec::new()
    }

    async fn create_login(&self, _user: &str, flow_id: &str) -> Result<Box<dyn LoginProcess>> {
        anyhow::bail!("this bridge has no login flow {flow_id:?}")
    }

    /// Connects a stored login to the remote network: after a login completes,
    /// and for every saved login when the bridge starts.
    async fn connect_login(&self, _bridge: &Bridge, _login: &LoginRow) -> Result<()> {
        Ok(())
    }

    /// Disconnects and forgets a login on the remote side.
    async fn logout(&self, _login: &LoginRow) -> Result<()> {
        Ok(())
    }

    /// Disconnects a login that is forgotten here only (`delete-session`),
    /// leaving the remote session as it is.
    async fn disconnect_login(&self, _login: &LoginRow) {}

    /// Delivers a Matrix message; returns the remote ID it got, if any, so
    /// that edits, replies and redactions can find it later.
    async fn handle_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>>;

    fn edits(&self) -> Option<&dyn EditHandling> {
        None
    }
    fn redactions(&self) -> Option<&dyn RedactionHandling> {
        None
    }
    fn reactions(&self) -> Option<&dyn ReactionHandling> {
        None
    }
    fn membership(&self) -> Option<&dyn MembershipHandling> {
        None
    }
    fn typing(&self) -> Option<&dyn TypingHandling> {
        None
    }
    fn receipts(&self) -> Option<&dyn ReceiptHandling> {
        None
    }
    /// For a network whose writes acknowledge nothing: a Matrix event then
    /// counts as delivered only once this confirms the network took it.
    fn delivery(&self) -> Option<&dyn DeliveryConfirmation> {
        None
    }
    fn queries(&self) -> Option<&dyn QueryHandling> {
        None
    }
    fn third_party(&self) -> Option<&dyn ThirdPartyHandling> {
        None
    }
    fn chat_info(&self) -> Option<&dyn ChatInfoFetching> {
        None
    }
    fn avatars(&self) -> Option<&dyn AvatarFetching> {
        None
    }
    fn backfill(&self) -> Option<&dyn BackfillHandling> {
        None
    }
    fn contacts(&self) -> Option<&dyn ContactHandling> {
        None
    }
    fn names(&self) -> Option<&dyn NameHandling> {
        None
    }
    fn topics(&self) -> Option<&dyn TopicHandling> {
        None
    }
    /// For `bridge` and `unbridge` on a room-shaped network; account
    /// networks get them from `contacts` without this.
    fn plumbing(&self) -> Option<&dyn PlumbHandling> {
        None
    }
}

/// Room-shaped networks whose chats (an XMPP MUC) can be bridged into an
/// existing room with `bridge <chat id>`. The core checks the room and the
/// caller's power first.
#[async_trait]
pub trait PlumbHandling: Send + Sync {
    /// The portal of `chat_id` for `user`, or why they cannot bridge it,
    /// in words for them.
    async fn plumb_target(
        &self,
        user: &str,
        chat_id: &str,
    ) -> Result<std::result::Result<PortalInfo, String>>;
    /// The room is bound to the chat: join it and bring its members.
    async fn bridged(&self, portal: &PortalRow) -> Result<()>;
    /// The room is about to be unbound: leave the chat.
    async fn unbridged(&self, portal: &PortalRow) -> Result<()>;
}

/// A remote user a login can reach.
#[derive(Clone, Debug)]
pub struct Contact {
    pub ghost: GhostInfo,
    /// How the user would name them: a phone number, a username.
    pub identifier: String,
}

/// A chat of a login's, as the chat list shows it.
#[derive(Clone, Debug)]
pub struct ChatSummary {
    pub id: String,
    pub name: String,
    pub direct: bool,
    /// When something last happened there, in milliseconds.
    pub last_activity: Option<i64>,
}

/// Account networks' contacts and chat lists, behind `pm`, `search`,
/// `list`, `open` and `sync`.
#[async_trait]
pub trait ContactHandling: Send + Sync {
    /// A phone number, username or contact name, as the user typed it;
    /// `None` when nobody has it.
    async fn resolve_identifier(
        &self,
        login: &LoginRow,
        identifier: &str,
    ) -> Result<Option<Contact>>;
    async fn search_contacts(&self, login: &LoginRow, query: &str) -> Result<Vec<Contact>>;
    async fn list_contacts(&self, login: &LoginRow) -> Result<Vec<Contact>>;
    async fn list_chats(&self, login: &LoginRow) -> Result<Vec<ChatSummary>>;
    /// The portal of one of the login's chats, to make its room; `None`
    /// when the login has no such chat.
    async fn chat_portal(&self, login: &LoginRow, chat_id: &str) -> Result<Option<PortalInfo>>;
    /// The portal of a direct chat with a contact.
    async fn dm_portal(&self, login: &LoginRow, contact: &Contact) -> Result<PortalInfo>;
}

/// One message of a chat's history.
#[derive(Clone, Debug)]
pub struct HistoryMessage {
    pub id: RemoteMessageId,
    pub sender: GhostInfo,
    /// As in `RemoteEvent::Message`: each part becomes one Matrix event.
    pub parts: Vec<(crate::ids::PartId, Value)>,
    /// When it was sent, in milliseconds: the Matrix events carry it.
    pub timestamp: i64,
    pub reply_to: Option<RemoteMessageId>,
}

/// Networks that can fetch a chat's history, for backfill and catch-up.
#[async_trait]
pub trait BackfillHandling: Send + Sync {
    /// Up to `limit` messages of the chat seen through `login` that came
    /// after `after`, or its latest `limit` when `after` is `None`; oldest
    /// first.
    async fn fetch_history(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
        after: Option<&RemoteMessageId>,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>>;
}

/// Networks whose avatars the core fetches itself, once per avatar ID
/// (`ChatInfo::avatar_id`, `GhostInfo::avatar_id`).
#[async_trait]
pub trait ChatInfoFetching: Send + Sync {
    /// A chat's full info as `login` sees it: its title, topic, avatar and
    /// members with their ranks. Asked once when the chat's room is made;
    /// later changes the network reports itself (`RemoteEvent::ChatInfo`).
    async fn fetch_chat_info(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
    ) -> Result<Option<crate::chat_info::ChatInfo>>;
}

#[async_trait]
pub trait AvatarFetching: Send + Sync {
    /// The image behind a remote avatar ID: its bytes and MIME type.
    async fn fetch_avatar(&self, avatar_id: &str) -> Result<(Vec<u8>, String)>;
}

#[async_trait]
pub trait NameHandling: Send + Sync {
    /// A Matrix user renamed a portal room: the chat is renamed too, when
    /// their account may.
    async fn handle_matrix_name(&self, portal: &PortalRow, sender: &str, name: &str) -> Result<()>;
}

#[async_trait]
pub trait TopicHandling: Send + Sync {
    /// A Matrix user changed a portal room's topic.
    async fn handle_matrix_topic(
        &self,
        portal: &PortalRow,
        sender: &str,
        topic: &str,
    ) -> Result<()>;
}

#[async_trait]
pub trait EditHandling: Send + Sync {
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()>;
}

#[async_trait]
pub trait RedactionHandling: Send + Sync {
    async fn handle_matrix_redaction(
        &self,
        portal: &PortalRow,
        redaction: &MatrixRedaction,
    ) -> Result<()>;
}

#[async_trait]
pub trait ReactionHandling: Send + Sync {
    /// Returns the remote sender ID the reaction is stored under.
    async fn handle_matrix_reaction(
        &self,
        portal: &PortalRow,
        reaction: &MatrixReaction,
    ) -> Result<RemoteUserId>;
}

#[async_trait]
pub trait MembershipHandling: Send + Sync {
    /// A Matrix user joined, left, was kicked or banned in a portal.
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()>;

    /// A Matrix user invited a ghost into a room that is no portal yet: return
    /// the portal (usually a DM) the room should become, or `None` to refuse.
    async fn handle_ghost_invite(
        &self,
        _inviter: &str,
        _ghost: &RemoteUserId,
        _room_id: &str,
    ) -> Result<Option<PortalInfo>> {
        Ok(None)
    }
}

/// Delivery for a network whose writes acknowledge nothing, like an XMPP
/// component stream or an IRC connection: a line written to the socket can
/// die unread with its server.
pub trait DeliveryConfirmation: Send + Sync {
    /// Resolves once the network has taken everything the bridge handed it
    /// for `room` before the call, after reconnecting and sending it again
    /// if need be. What the call covers is fixed when it is made, not when
    /// the future first runs: the room goes on sending meanwhile.
    fn taken(&self, room: &RoomId) -> Taken;
}

/// What [`DeliveryConfirmation::taken`] returns. An error says some of it
/// is lost for good in this run: the room's events handled since the last
/// confirmation then stay unprocessed, and go out again at the next start.
pub type Taken = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

#[async_trait]
pub trait TypingHandling: Send + Sync {
    async fn handle_matrix_typing(&self, portal: &PortalRow, typing: &MatrixTyping) -> Result<()>;
}

#[async_trait]
pub trait ReceiptHandling: Send + Sync {
    async fn handle_matrix_receipt(
        &self,
        portal: &PortalRow,
        receipt: &MatrixReceipt,
    ) -> Result<()>;
}

/// Creation on demand, from the homeserver's user and alias queries.
#[async_trait]
pub trait QueryHandling: Send + Sync {
    /// `id` is the `{id}` part of the queried alias. Return the portal to
    /// create for it, or `None` if no such chat exists.
    async fn portal_for_alias(&self, id: &str) -> Result<Option<PortalInfo>>;
    /// `id` is the `{id}` part of the queried user. Return the profile if the
    /// remote user exists.
    async fn ghost_for_user(&self, id: &RemoteUserId) -> Result<Option<GhostInfo>>;
}

/// The `/_matrix/app/v1/thirdparty/*` lookups.
#[async_trait]
pub trait ThirdPartyHandling: Send + Sync {
    async fn protocol(&self) -> Result<Value>;
    async fn locations(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>>;
    async fn users(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>>;
    async fn location_by_alias(&self, _alias: &str) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
    async fn user_by_id(&self, _user_id: &str) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
}
