//! MUC portals: an XMPP room shown as a Matrix room. Each Matrix member
//! joins the MUC as its own occupant (a puppet), and each occupant appears
//! in Matrix as a ghost.
//!
//! Every puppet receives every groupchat message and presence of its room.
//! One of them, the listener, is the one whose copies are bridged; the
//! others' copies are dropped unread.

use crate::addressing::{self, Addresses, ComponentAddress};
use crate::from_xmpp::{self, Context};
use crate::network::XmppNetwork;
use crate::refs;
use crate::stanza::{self, ns};
use anyhow::Result;
use causeway_core::format::escape_markdown;
use causeway_core::ids::PortalKey;
use causeway_core::network::{GhostInfo, PortalInfo};
use causeway_core::remote::RemoteEvent;
use causeway_core::Bridge;
use serde_json::json;
use std::collections::HashMap;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

mod moderation;
mod plumbing;
mod presence;
pub use presence::handle_presence;
use presence::occupant_ghost;

/// What the bridge knows of one MUC with a portal.
pub struct MucRoom {
    pub portal: PortalKey,
    /// Matrix users in the room, by MXID.
    pub puppets: HashMap<String, Puppet>,
    /// Other occupants, by nick.
    pub occupants: HashMap<String, GhostInfo>,
    /// The puppet whose copies of room traffic are bridged.
    pub listener: Option<String>,
    /// Power levels given for MUC roles, by nick (ghosts) or
    /// `matrix:<mxid>` (puppets), so that only changes are sent.
    pub levels: HashMap<String, i64>,
}

pub struct Puppet {
    pub nick: String,
    pub joined: bool,
    /// Nick conflicts met so far on this join.
    pub conflicts: u8,
}

impl MucRoom {
    fn new(portal: PortalKey) -> Self {
        Self {
            portal,
            puppets: HashMap::new(),
            occupants: HashMap::new(),
            listener: None,
            levels: HashMap::new(),
        }
    }

    /// After a reconnect the server has forgotten every occupant: all
    /// puppets join again, before anything else is sent.
    pub fn rejoin_presences(
        &self,
        addresses: &Addresses,
        room: &str,
        backfill: u32,
    ) -> Vec<Element> {
        // The listener asks for recent history: what was said while we
        // were away. Lines already bridged are recognised and skipped.
        let listener = self
            .listener
            .as_ref()
            .or_else(|| self.puppets.keys().next());
        self.puppets
            .iter()
            .filter_map(|(mxid, puppet)| {
                let history = if Some(mxid) == listener { backfill } else { 0 };
                join_presence(addresses, room, mxid, &puppet.nick, history)
            })
            .collect()
    }

    fn is_puppet_nick(&self, nick: &str) -> bool {
        self.puppets.values().any(|p| p.nick == nick)
    }
}

pub(super) fn join_presence(
    addresses: &Addresses,
    room: &str,
    mxid: &str,
    nick: &str,
    history: u32,
) -> Option<Element> {
    let from = addresses.matrix_user_full_jid(mxid)?;
    let mut presence = stanza::new("presence", &from, &format!("{room}/{nick}"), None, None);
    let mut x = stanza::empty("x", ns::MUC, &[]);
    x.append_child(stanza::empty(
        "history",
        ns::MUC,
        &[("maxstanzas", &history.to_string())],
    ));
    presence.append_child(x);
    Some(presence)
}

/// A nick for a Matrix user: their display name, else their localpart.
pub fn nick_for(mxid: &str, displayname: Option<&str>) -> String {
    let name = displayname
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            mxid.trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or(mxid)
        });
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The alias query: a portal for an existing MUC of a bridged service.
pub async fn portal_for_alias(net: &XmppNetwork, alias_id: &str) -> Result<Option<PortalInfo>> {
    let Some(room) = net.addresses().muc_of_alias_id(alias_id) else {
        return Ok(None);
    };
    if let Err(why) = net.config().dynamic_mucs.permits(room.as_str()) {
        tracing::info!(%room, "no portal on an alias query: {why}");
        return Ok(None);
    }
    let info = match disco_room(net, &room).await {
        Ok(info) => info,
        Err(why) => {
            tracing::info!(%room, "no portal on an alias query: {why}");
            return Ok(None);
        }
    };
    track(net, &room);
    Ok(Some(PortalInfo {
        alias_id: Some(net.addresses().alias_id_of_muc(&room)),
        ..portal_info(&room, &info.name)
    }))
}

/// What disco#info says of a MUC.
pub(crate) struct RoomDisco {
    pub name: String,
    /// Features such as `muc_membersonly` and `muc_passwordprotected`.
    pub features: Vec<String>,
}

/// Asks the MUC what it is. Only rooms that exist: creating one by joining
/// would leave it locked or half configured. The error says why not, in
/// words for the user.
pub(crate) async fn disco_room(net: &XmppNetwork, room: &BareJid) -> Result<RoomDisco, String> {
    let mut query = stanza::new(
        "iq",
        &net.config().component_jid,
        room.as_str(),
        Some("get"),
        None,
    );
    query.append_child(stanza::empty("query", ns::DISCO_INFO, &[]));
    let component = net.component().map_err(|e| format!("{e:#}"))?;
    let info = component
        .request(query)
        .await
        .map_err(|err| format!("{room} does not answer as a room ({err:#})."))?;
    let query = info.get_child("query", ns::DISCO_INFO);
    let identity = query.and_then(|q| {
        q.children()
            .find(|c| c.name() == "identity" && c.attr("category") == Some("conference"))
    });
    let Some(identity) = identity else {
        return Err(format!("{room} is not a group chat."));
    };
    let name = identity
        .attr("name")
        .filter(|n| !n.is_empty())
        .unwrap_or(room.as_str())
        .to_owned();
    let features = query
        .into_iter()
        .flat_map(|q| q.children())
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect();
    Ok(RoomDisco { name, features })
}

/// A MUC's portal.
pub(crate) fn portal_info(room: &BareJid, name: &str) -> PortalInfo {
    PortalInfo {
        key: addressing::muc_portal(room),
        name: Some(name.to_owned()),
        metadata: json!({ "muc": room.as_str() }),
        ..Default::default()
    }
}

/// From now on, the router gives this MUC's stanzas to the MUC code.
pub(crate) fn track(net: &XmppNetwork, room: &BareJid) {
    net.inner
        .mucs
        .entry(room.to_string())
        .or_insert_with(|| MucRoom::new(addressing::muc_portal(room)));
}

/// After a restart: every MUC portal's Matrix members join again.
pub async fn restore(net: &XmppNetwork, bridge: &Bridge) -> Result<()> {
    for portal in bridge.store().all_portals().await? {
        let (Some(room), Some(room_id)) = (
            addressing::muc_of_portal(&portal.key),
            portal.room_id.as_deref(),
        ) else {
            continue;
        };
        track(net, &room);
        let room_id = Bridge::parse_room(room_id)?;
        let members = match bridge
            .homeserver()
            .joined_members_named(bridge.bot(), &room_id)
            .await
        {
            Ok(members) => members,
            Err(err) => {
                tracing::warn!(%room, "cannot list the portal's members: {err}");
                continue;
            }
        };
        for (mxid, name) in members {
            if !bridge.is_bridge_user(mxid.as_str()) {
                // Not sent now: the connection's first act is to rejoin.
                ensure_puppet(net, &room, mxid.as_str(), name.as_deref(), false);
            }
        }
    }
    Ok(())
}

/// Makes a Matrix user an occupant of a MUC, if not one already; returns
/// the nick they use there.
pub fn ensure_puppet(
    net: &XmppNetwork,
    room: &BareJid,
    mxid: &str,
    displayname: Option<&str>,
    announce: bool,
) -> Option<String> {
    let mut state = net.inner.mucs.get_mut(room.as_str())?;
    if let Some(puppet) = state.puppets.get(mxid) {
        return Some(puppet.nick.clone());
    }
    let nick = nick_for(mxid, displayname);
    // Only the first puppet asks for history: it becomes the listener.
    let history = if state.puppets.is_empty() {
        net.config().backfill_messages
    } else {
        0
    };
    state.puppets.insert(
        mxid.to_owned(),
        Puppet {
            nick: nick.clone(),
            joined: false,
            conflicts: 0,
        },
    );
    // Listening starts with the join: the occupant list and history come
    // before the self-presence.
    if state.listener.is_none() {
        state.listener = Some(mxid.to_owned());
    }
    drop(state);
    if announce {
        if let Some(presence) = join_presence(net.addresses(), room.as_str(), mxid, &nick, history)
        {
            net.send(presence);
        }
    }
    Some(nick)
}

/// A Matrix user left the portal: their puppet leaves the MUC.
pub fn remove_puppet(net: &XmppNetwork, room: &BareJid, mxid: &str, reason: Option<&str>) {
    let Some(mut state) = net.inner.mucs.get_mut(room.as_str()) else {
        return;
    };
    let Some(puppet) = state.puppets.remove(mxid) else {
        return;
    };
    if state.listener.as_deref() == Some(mxid) {
        state.listener = state
            .puppets
            .iter()
            .find(|(_, p)| p.joined)
            .map(|(m, _)| m.clone());
    }
    drop(state);
    if let Some(from) = net.addresses().matrix_user_full_jid(mxid) {
        let mut presence = stanza::new(
            "presence",
            &from,
            &format!("{room}/{}", puppet.nick),
            Some("unavailable"),
            None,
        );
        if let Some(reason) = reason {
            presence.append_child(stanza::text_element("status", stanza::NS, reason));
        }
        net.send(presence);
    }
}

pub(super) async fn notice(bridge: &Bridge, portal: &PortalKey, text: &str) {
    let room = match bridge.store().get_portal(portal).await {
        Ok(Some(row)) => row.room_id,
        _ => None,
    };
    if let Some(room) = room {
        if let Err(err) = bridge.bot_notice(&room, text).await {
            tracing::warn!("cannot post a notice: {err:#}");
        }
    }
}

/// A message from a MUC, to one of our puppets.
pub async fn handle_message(
    net: &XmppNetwork,
    message: &Element,
    from: &Jid,
    target: &ComponentAddress,
) -> Result<()> {
    let ComponentAddress::MatrixUser(mxid) = target else {
        return Ok(());
    };
    let bridge = net.bridge()?;
    let room = from.to_bare();
    let nick = from.resource().map(|r| r.as_str().to_owned());
    let Some((portal, listening, ours)) = net.inner.mucs.get(room.as_str()).map(|s| {
        (
            s.portal.clone(),
            s.listener.as_deref() == Some(mxid.as_str()),
            nick.as_deref().is_some_and(|n| s.is_puppet_nick(n)),
        )
    }) else {
        return Ok(());
    };
    if from_xmpp::is_error(message) {
        let (condition, text) = stanza::error_of(message);
        let detail = text.map(|t| format!(": {t}")).unwrap_or_default();
        notice(
            bridge,
            &portal,
            &format!(
                "A message from {mxid} was not delivered to {room} ({}).",
                escape_markdown(&format!("{condition}{detail}"))
            ),
        )
        .await;
        return Ok(());
    }
    if !listening {
        return Ok(());
    }
    let Some(nick) = nick else {
        // From the room itself: a moderator's retraction, or the subject.
        if let Some(moderated) = moderation::read(message) {
            return moderation::apply(net, &portal, &room, moderated).await;
        }
        return subject(bridge, &portal, message).await;
    };
    if message.get_child("subject", stanza::NS).is_some() && stanza::body(message).is_none() {
        return subject(bridge, &portal, message).await;
    }
    let room_sid = from_xmpp::room_stanza_id(message, room.as_str());
    if let Some(sid) = &room_sid {
        // History after a rejoin repeats what was bridged already.
        if refs::is_known_stanza_id(bridge, room.as_str(), sid).await? {
            return Ok(());
        }
    }
    if ours {
        // Our own message, reflected: learn the stanza-id the room gave it.
        let sender = net.inner.mucs.get(room.as_str()).and_then(|s| {
            s.puppets
                .iter()
                .find(|(_, p)| p.nick == nick)
                .map(|(m, _)| m.clone())
        });
        if let (Some(sender), Some(sid)) = (sender, room_sid) {
            let remote = refs::message_id(&sender, &from_xmpp::own_id(message));
            refs::remember_stanza_id(bridge, room.as_str(), &sid, &remote).await?;
        }
        return Ok(());
    }
    let sender = net
        .inner
        .mucs
        .get(room.as_str())
        .and_then(|s| s.occupants.get(&nick).cloned())
        .unwrap_or_else(|| occupant_ghost(net, from, None, &nick));
    let cx = Context::new(net, Some(room.as_str()), sender)?;
    let events = match from_xmpp::events(&cx, message).await {
        Ok(events) => events,
        Err(err) => {
            notice(
                bridge,
                &portal,
                &format!(
                    "A message from {} was not bridged: {}",
                    escape_markdown(&nick),
                    escape_markdown(&format!("{err:#}"))
                ),
            )
            .await;
            return Ok(());
        }
    };
    for event in events {
        let bridged_id = match &event {
            RemoteEvent::Message { id, .. } => Some(id.clone()),
            _ => None,
        };
        // Committed to the outbox first: only then is the stanza-id taken
        // as seen, so a crash in between replays it from the room's history.
        bridge.queue_remote(&portal, event).await?;
        if let (Some(id), Some(sid)) = (bridged_id, &room_sid) {
            refs::remember_stanza_id(bridge, room.as_str(), sid, &id).await?;
        }
    }
    Ok(())
}

async fn subject(bridge: &Bridge, portal: &PortalKey, message: &Element) -> Result<()> {
    let Some(subject) = message.get_child("subject", stanza::NS) else {
        return Ok(());
    };
    bridge
        .queue_remote(
            portal,
            RemoteEvent::Topic {
                topic: subject.text(),
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_come_from_display_names_without_control_characters() {
        assert_eq!(nick_for("@alice:hs", Some("Alice\n\u{7}")), "Alice");
        assert_eq!(nick_for("@alice:hs", Some("  ")), "alice");
        assert_eq!(nick_for("@alice:hs", None), "alice");
    }
}
