//! Chat info from an account network: what a chat is called, its topic and
//! avatar, and who is in it with what rank. The network reports it when a
//! portal is created and whenever it changes (`RemoteEvent::ChatInfo`,
//! through the portal's outbox, so it keeps its place among the messages);
//! the core brings the room in line and touches only what differs.

use crate::bridge::Bridge;
use crate::ids::PortalKey;
use crate::network::GhostInfo;
use crate::store::{LoginRow, PortalRow};
use anyhow::{Context, Result};
use ruma::{OwnedUserId, RoomId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashSet;

/// What a network knows about a chat. A field left `None` leaves the room's
/// as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatInfo {
    pub name: Option<String>,
    pub topic: Option<String>,
    /// The remote avatar's ID; the image is fetched once per ID.
    pub avatar_id: Option<String>,
    /// Everyone in the chat, when the network knows; ghosts not listed
    /// leave the room.
    pub members: Option<Vec<ChatMember>>,
    /// A DM, a group or a broadcast channel.
    #[serde(default)]
    pub kind: Option<ChatKind>,
}

/// What kind of chat a portal is, for clients that show them apart; in
/// `m.bridge` as mautrix bridges put it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    #[serde(rename = "dm")]
    Direct,
    Group,
    Channel,
}

/// One member of a remote chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMember {
    pub ghost: GhostInfo,
    /// Their power level in the room, from their rank in the chat.
    pub power: Option<i64>,
}

impl Bridge {
    /// Asks the network for a new portal's chat info, in the background,
    /// and queues it to the portal like any remote event.
    pub(crate) fn spawn_chat_info(&self, portal: PortalRow, login: LoginRow) {
        if self.network().chat_info().is_none() {
            return;
        }
        let bridge = self.clone();
        tokio::spawn(async move {
            let Some(fetcher) = bridge.network().chat_info() else {
                return;
            };
            let info = match fetcher.fetch_chat_info(&portal, &login).await {
                Ok(Some(info)) => info,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(portal = %portal.key, "cannot fetch the chat's info: {err:#}");
                    return;
                }
            };
            let event = crate::remote::RemoteEvent::ChatInfo(info);
            if let Err(err) = bridge.queue_remote(&portal.key, event).await {
                tracing::warn!(portal = %portal.key, "cannot queue the chat's info: {err:#}");
            }
        });
    }
}

/// Brings a portal's room in line with the chat's info.
pub(crate) async fn apply(
    bridge: &Bridge,
    key: &PortalKey,
    room: &RoomId,
    info: &ChatInfo,
) -> Result<()> {
    if let Some(name) = &info.name {
        set_name(bridge, key, room, name).await?;
    }
    if let Some(topic) = &info.topic {
        set_topic(bridge, key, room, topic).await?;
    }
    if let Some(avatar_id) = &info.avatar_id {
        set_avatar(bridge, room, avatar_id).await?;
    }
    if let Some(kind) = info.kind {
        set_kind(bridge, key, room, kind).await?;
    }
    if let Some(members) = &info.members {
        sync_members(bridge, room, members).await?;
    }
    Ok(())
}

/// The room's name, and the chat's name in its bridge info.
async fn set_name(bridge: &Bridge, key: &PortalKey, room: &RoomId, name: &str) -> Result<()> {
    let changed = set_text_state(bridge, key, room, "m.room.name", "name", name, |row| {
        &mut row.name
    })
    .await?;
    if let Some(row) = changed {
        bridge.update_bridge_info(&row, room).await?;
    }
    Ok(())
}

/// The chat's kind in the portal row and its bridge info, when it differs.
async fn set_kind(bridge: &Bridge, key: &PortalKey, room: &RoomId, kind: ChatKind) -> Result<()> {
    let mut row = bridge
        .store()
        .get_portal(key)
        .await?
        .context("the portal vanished")?;
    if crate::portal::chat_kind(&row.metadata) != Some(kind) {
        if !row.metadata.is_object() {
            row.metadata = json!({});
        }
        row.metadata["chat_kind"] = json!(kind);
        bridge.store().put_portal(&row).await?;
        bridge.update_bridge_info(&row, room).await?;
    }
    // A broadcast channel is read-only for its readers: posting needs the
    // level its admins get.
    let events_default = if kind == ChatKind::Channel {
        ADMIN_LEVEL
    } else {
        0
    };
    set_events_default(bridge, room, events_default).await
}

/// The power level remote admins get, which posting in a broadcast
/// channel's room needs.
pub const ADMIN_LEVEL: i64 = 50;

/// The level sending messages needs in a room, when it differs.
async fn set_events_default(bridge: &Bridge, room: &RoomId, level: i64) -> Result<()> {
    let hs = bridge.homeserver();
    let mut levels = hs
        .state_event(bridge.bot(), room, "m.room.power_levels", "")
        .await?
        // Power levels stay JSON: every field the room has is sent back unchanged.
        .unwrap_or_else(|| json!({}));
    if levels["events_default"].as_i64().unwrap_or(0) == level {
        return Ok(());
    }
    levels["events_default"] = json!(level);
    hs.send_state(bridge.bot(), room, "m.room.power_levels", "", &levels, None)
        .await?;
    Ok(())
}

/// The room's topic, when it differs.
pub(crate) async fn set_topic(
    bridge: &Bridge,
    key: &PortalKey,
    room: &RoomId,
    topic: &str,
) -> Result<()> {
    set_text_state(bridge, key, room, "m.room.topic", "topic", topic, |row| {
        &mut row.topic
    })
    .await
    .map(drop)
}

/// Sets a text state event (name, topic) that the portal row remembers,
/// when it differs; returns the updated row if it changed.
async fn set_text_state(
    bridge: &Bridge,
    key: &PortalKey,
    room: &RoomId,
    event_type: &str,
    field: &str,
    value: &str,
    remembered: impl Fn(&mut PortalRow) -> &mut Option<String>,
) -> Result<Option<PortalRow>> {
    let mut row = bridge
        .store()
        .get_portal(key)
        .await?
        .context("the portal vanished")?;
    if remembered(&mut row).as_deref() == Some(value) {
        return Ok(None);
    }
    let actor = bridge.room_actor(&row).await?;
    // State content as sent.
    let content = json!({ field: value });
    bridge
        .homeserver()
        .send_state(&actor, room, event_type, "", &content, None)
        .await?;
    *remembered(&mut row) = Some(value.to_owned());
    bridge.store().put_portal(&row).await?;
    Ok(Some(row))
}

/// The room's avatar, from the remote avatar's ID.
async fn set_avatar(bridge: &Bridge, room: &RoomId, avatar_id: &str) -> Result<()> {
    let shown = format!("room-avatar|{room}");
    if bridge.store().kv_get(&shown).await?.as_deref() == Some(avatar_id) {
        return Ok(());
    }
    let Some(mxc) = crate::avatars::mxc_for(bridge, avatar_id).await? else {
        return Ok(());
    };
    // State content as sent.
    let content = json!({ "url": mxc });
    bridge
        .homeserver()
        .send_state(bridge.bot(), room, "m.room.avatar", "", &content, None)
        .await?;
    bridge.store().kv_set(&shown, avatar_id).await
}

/// Ghosts of the members joined with their power levels; ghosts no longer
/// in the chat leave. Matrix users are never joined or removed here; a
/// login's own account only lends its rank to its Matrix user.
async fn sync_members(bridge: &Bridge, room: &RoomId, members: &[ChatMember]) -> Result<()> {
    let mut wanted: HashSet<OwnedUserId> = HashSet::new();
    for member in members {
        if let Some(login) = &member.ghost.own_login {
            // A login's own account: its Matrix user is the member, and
            // only its rank carries over (never lowering a higher one).
            let row = bridge.store().get_login(bridge.secrets(), login).await?;
            if let (Some(level), Some(row)) = (member.power, row) {
                crate::portal::set_power_level(bridge, room, &row.mxid, level, Some(level)).await?;
            }
            continue;
        }
        let ghost = bridge.ensure_ghost(&member.ghost).await?;
        bridge.ensure_joined(room, &ghost).await?;
        if let Some(level) = member.power {
            crate::portal::set_power_level(bridge, room, ghost.as_str(), level, None).await?;
        }
        wanted.insert(ghost);
    }
    let hs = bridge.homeserver();
    for joined in hs.joined_members(bridge.bot(), room).await? {
        let is_ghost = bridge.ghost_remote_id(joined.as_str()).is_some();
        if is_ghost && !wanted.contains(&joined) {
            bridge.forget_joined(room, &joined);
            hs.leave(&joined, room, None).await?;
        }
    }
    Ok(())
}
