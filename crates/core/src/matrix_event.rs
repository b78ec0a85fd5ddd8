//! Matrix events as the network sees them: parsed, with their targets
//! already resolved to remote IDs through the message table.

use crate::ids::{LoginId, RemoteUserId};
use crate::store::{MessageRow, ReactionRow};
use ruma::events::room::message::{MessageType, RoomMessageEventContent};

/// Who sent an event and where.
#[derive(Clone, Debug, Default)]
pub struct MatrixEventMeta {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub timestamp: i64,
    /// On an account network, the login the event goes out through.
    pub login: Option<SenderLogin>,
}

/// The login a Matrix event goes out through on an account network.
#[derive(Clone, Debug)]
pub struct SenderLogin {
    pub login_id: LoginId,
    pub remote_name: String,
    /// The portal's relay login, sending for a user with none in the chat;
    /// the message then carries the sender's name (`bridge.relay`).
    pub relay: bool,
}

#[derive(Clone, Debug)]
pub struct MatrixMessage {
    pub meta: MatrixEventMeta,
    /// `m.text`, `m.emote`, `m.notice`, `m.image`, `m.file`, …
    pub msgtype: String,
    pub body: String,
    /// `formatted_body` when `format` is `org.matrix.custom.html`.
    pub html: Option<String>,
    /// The `mxc://` URI of an attachment.
    pub url: Option<String>,
    /// The message this replies to, if it is bridged.
    pub reply_to: Option<MessageRow>,
    /// The whole typed content, for what the fields above leave out.
    pub content: RoomMessageEventContent,
    /// The sender may only relay (`bridge.permissions`): body and HTML are
    /// already prefixed with their name, and the network sends the message
    /// as its own bot, never through an account of the sender's.
    pub relayed: bool,
}

impl MatrixMessage {
    /// An attachment's file name (else its body) and size, when known.
    pub fn file_name_and_size(&self) -> (&str, Option<u64>) {
        let (filename, size) = match &self.content.msgtype {
            MessageType::Image(m) => (&m.filename, m.info.as_ref().and_then(|i| i.size)),
            MessageType::File(m) => (&m.filename, m.info.as_ref().and_then(|i| i.size)),
            MessageType::Audio(m) => (&m.filename, m.info.as_ref().and_then(|i| i.size)),
            MessageType::Video(m) => (&m.filename, m.info.as_ref().and_then(|i| i.size)),
            _ => (&None, None),
        };
        (
            filename.as_deref().unwrap_or(&self.body),
            size.map(u64::from),
        )
    }
}

#[derive(Clone, Debug)]
pub struct MatrixEdit {
    pub meta: MatrixEventMeta,
    pub target: MessageRow,
    /// The new content, from `m.new_content`.
    pub new_body: String,
    pub new_html: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MatrixReaction {
    pub meta: MatrixEventMeta,
    pub target: MessageRow,
    pub key: String,
}

#[derive(Clone, Debug)]
pub enum RedactionTarget {
    Message(MessageRow),
    Reaction(ReactionRow),
}

#[derive(Clone, Debug)]
pub struct MatrixRedaction {
    pub meta: MatrixEventMeta,
    pub target: RedactionTarget,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    Join,
    Leave,
    Invite,
    Ban,
    /// Someone else removed the user.
    Kick,
}

#[derive(Clone, Debug)]
pub struct MatrixMembership {
    pub meta: MatrixEventMeta,
    /// The user whose membership changed.
    pub target: String,
    /// Set when that user is one of our ghosts.
    pub target_ghost: Option<RemoteUserId>,
    pub membership: Membership,
    pub reason: Option<String>,
    pub displayname: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MatrixTyping {
    pub room_id: String,
    /// Matrix users (not ghosts) typing now.
    pub typing: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct MatrixReceipt {
    pub room_id: String,
    pub user: String,
    pub target: MessageRow,
}
