//! What a network reports about a portal, as the core queues it.

use crate::ids::{PartId, RemoteMessageId};
use crate::network::GhostInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Something that happened on the remote side of a portal. Serialised into
/// the outbox, so a variant's fields can be added to but not renamed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RemoteEvent {
    /// A message; each part becomes one Matrix event (text, then files…).
    Message {
        id: RemoteMessageId,
        sender: GhostInfo,
        parts: Vec<(PartId, Value)>,
        timestamp: Option<i64>,
        reply_to: Option<RemoteMessageId>,
    },
    /// An edit of an earlier message; `edit_id` names the edit itself.
    Edit {
        target: RemoteMessageId,
        edit_id: RemoteMessageId,
        sender: GhostInfo,
        content: Value,
        timestamp: Option<i64>,
    },
    Reaction {
        target: RemoteMessageId,
        sender: GhostInfo,
        emoji: String,
        timestamp: Option<i64>,
    },
    ReactionRemove {
        target: RemoteMessageId,
        sender: GhostInfo,
        emoji: String,
    },
    /// Every reaction a message has now, for networks that report them as
    /// a whole (Telegram): the room gains the new ones and loses the rest.
    /// It is worked out in the portal's queue, after the reactions queued
    /// before it are in the room and recorded, so none is missed. `own` is
    /// the login's own account, whose reactions are removed as the user.
    ReactionSet {
        target: RemoteMessageId,
        reactions: Vec<(GhostInfo, String)>,
        own: Option<GhostInfo>,
    },
    /// A message removed by its own sender.
    MessageRemove {
        target: RemoteMessageId,
        sender: GhostInfo,
    },
    /// A message removed by a moderator of a group chat (XEP-0425 on
    /// XMPP), whoever sent it. Refused in a DM, where nobody moderates.
    /// Without a known moderator, the bot redacts.
    ModeratedRemove {
        target: RemoteMessageId,
        moderator: Option<GhostInfo>,
        reason: Option<String>,
    },
    Typing {
        sender: GhostInfo,
        typing: bool,
    },
    /// The chat's topic is now this; the room follows if it differs.
    Topic {
        topic: String,
    },
    /// A remote user joined or left the chat; their ghost follows.
    Membership {
        sender: GhostInfo,
        change: RemoteMembership,
    },
    Receipt {
        target: RemoteMessageId,
        sender: GhostInfo,
    },
    /// The remote chat removed a Matrix user (a kick or a ban there): they
    /// are removed from the room too, by the bot, with the reason.
    RemoveMatrixUser {
        mxid: String,
        reason: Option<String>,
        ban: bool,
    },
    /// Someone's rank in the remote chat changed: their power level in the
    /// room follows.
    PowerLevel {
        target: PowerTarget,
        level: i64,
    },
    /// The remote chat became invite-only (or open again).
    JoinRule {
        invite_only: bool,
    },
    /// What the chat is called, its topic, avatar and members, as the
    /// network reports it on creation and on every change.
    ChatInfo(crate::chat_info::ChatInfo),
}

/// Whose power level changes: a remote user's ghost, or a Matrix user whose
/// remote account was given the rank.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PowerTarget {
    Ghost(GhostInfo),
    MatrixUser(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteMembership {
    Join,
    /// Removed by another remote user; a kick in the room when that user's
    /// ghost may kick, else a leave that names them.
    Kicked {
        by: GhostInfo,
        reason: Option<String>,
    },
    /// Left, or was removed: the reason says which, for the room to read.
    Leave {
        reason: Option<String>,
    },
}
