//! Who reaches the remote network through a portal: `bridge.permissions`
//! applied to every event in a portal room, not only to commands. Without
//! this, anyone in a portal, federated or not, would get a remote account
//! or connection of their own just by joining or writing.

use crate::bridge::Bridge;
use crate::format::escape_markdown;
use crate::matrix_event::MatrixEventMeta;
use crate::permissions::Level;
use ruma::events::room::member::MembershipState;
use ruma::events::room::message::{Relation, RoomMessageEvent};
use ruma::events::{AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent};

/// What the network may do with one portal event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Through the sender's own remote identity.
    Full,
    /// Through the network's bot, under the sender's name.
    Relay,
    /// Not at all.
    Refused,
}

/// Why a portal event was not bridged; the room hears each once per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    NoPermission,
    RelayOnlyMessages,
    /// On an account network: no login of the sender's is in the chat, and
    /// the portal has no relay login.
    NotLoggedIn,
}

impl Refusal {
    fn key(self) -> &'static str {
        match self {
            Self::NoPermission => "no-permission",
            Self::RelayOnlyMessages => "relay-only-messages",
            Self::NotLoggedIn => "not-logged-in",
        }
    }

    fn notice(self, sender: &str, network: &str) -> String {
        let who = escape_markdown(sender);
        match self {
            Self::NoPermission => format!(
                "⚠️ {who} is not allowed to use this bridge, so nothing they send here reaches {network}."
            ),
            Self::RelayOnlyMessages => format!(
                "⚠️ {who}'s messages reach {network} through the bridge bot, under their name; their reactions, edits, deletions and topic changes do not."
            ),
            Self::NotLoggedIn => format!(
                "⚠️ {who} has no {network} login in this chat and no relay is set here, so nothing they send reaches {network}. Send `login` to the bridge bot to log in, or ask a room admin to `set-relay`."
            ),
        }
    }
}

/// Decides what happens to a portal event, and tells the room (once per
/// user) when it goes nowhere.
pub(crate) async fn check(
    bridge: &Bridge,
    event: &AnyTimelineEvent,
    meta: &MatrixEventMeta,
) -> Access {
    // The bot and ghosts act for the bridge itself.
    let level_of = |mxid: &str| {
        if bridge.is_bridge_user(mxid) {
            Level::Admin
        } else {
            bridge.permission_of(mxid)
        }
    };
    let level = level_of(&meta.sender);
    let refusal = match event {
        // A membership change is mirrored by the remote identity of whoever
        // it concerns: only users with one of their own have any.
        AnyTimelineEvent::State(AnyStateEvent::RoomMember(member)) => {
            let target = member.state_key().as_str();
            if level.min(level_of(target)) >= Level::User {
                return Access::Full;
            }
            let joined = *member.membership() == MembershipState::Join;
            if !(joined && target == meta.sender && level == Level::None) {
                return Access::Refused;
            }
            Refusal::NoPermission
        }
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(message)) => match level {
            Level::User | Level::Admin => return Access::Full,
            Level::Relay if !is_edit(message) => return Access::Relay,
            Level::Relay => Refusal::RelayOnlyMessages,
            Level::None => Refusal::NoPermission,
        },
        AnyTimelineEvent::MessageLike(
            AnyMessageLikeEvent::Reaction(_) | AnyMessageLikeEvent::RoomRedaction(_),
        )
        | AnyTimelineEvent::State(AnyStateEvent::RoomTopic(_)) => match level {
            Level::User | Level::Admin => return Access::Full,
            Level::Relay => Refusal::RelayOnlyMessages,
            Level::None => Refusal::NoPermission,
        },
        _ => return Access::Full,
    };
    refuse(bridge, meta, refusal).await
}

/// Counts a refused event and tells the room why, once per user.
pub(crate) async fn refuse(bridge: &Bridge, meta: &MatrixEventMeta, refusal: Refusal) -> Access {
    metrics::counter!("causeway_portal_events_refused_total", "reason" => refusal.key())
        .increment(1);
    if let Err(err) = notice_once(bridge, meta, refusal).await {
        tracing::warn!(
            room = meta.room_id,
            "cannot tell a room why an event was not bridged: {err:#}"
        );
    }
    Access::Refused
}

/// Whether a Matrix user has a remote identity of their own for their
/// typing and read receipts to show on: a real user allowed `user` or more.
pub(crate) fn has_own_identity(bridge: &Bridge, mxid: &str) -> bool {
    !bridge.is_bridge_user(mxid) && bridge.permission_of(mxid) >= Level::User
}

pub(crate) fn is_edit(message: &RoomMessageEvent) -> bool {
    message
        .as_original()
        .is_some_and(|m| matches!(m.content.relates_to, Some(Relation::Replacement(_))))
}

/// The first refusal of its kind for this user in this room is told; the
/// rest are only counted. Remembered in the store, so a restart is quiet.
async fn notice_once(
    bridge: &Bridge,
    meta: &MatrixEventMeta,
    refusal: Refusal,
) -> anyhow::Result<()> {
    // No NUL in the key: PostgreSQL text cannot hold it.
    let key = format!(
        "access-notice|{}|{}|{}",
        refusal.key(),
        meta.room_id,
        meta.sender
    );
    if bridge.store().kv_get(&key).await?.is_some() {
        return Ok(());
    }
    bridge.store().kv_set(&key, "1").await?;
    let network = bridge.network().info().name;
    bridge
        .bot_notice(&meta.room_id, &refusal.notice(&meta.sender, network))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_notices_escape_the_sender() {
        let notice = Refusal::NoPermission.notice("@[x](https://evil.example):hs", "IRC");
        assert!(
            notice.contains(r"@\[x\](https://evil.example):hs"),
            "{notice}"
        );
        assert!(notice.ends_with("reaches IRC."));
    }
}
