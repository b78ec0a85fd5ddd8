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
use anyhow::{Context as _, Result};
use causeway_core::ids::PortalKey;
use causeway_core::network::{GhostInfo, PortalInfo};
use causeway_core::remote::{RemoteEvent, RemoteMembership};
use causeway_core::Bridge;
use serde_json::json;
use std::collections::HashMap;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

/// What the bridge knows of one MUC with a portal.
pub struct MucRoom {
    pub portal: PortalKey,
    /// Matrix users in the room, by MXID.
    pub puppets: HashMap<String, Puppet>,
    /// Other occupants, by nick.
    pub occupants: HashMap<String, GhostInfo>,
    /// The puppet whose copies of room traffic are bridged.
    pub listener: Option<String>,
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

fn join_presence(
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
    let mut query = stanza::new(
        "iq",
        &net.config().component_jid,
        room.as_str(),
        Some("get"),
        None,
    );
    query.append_child(stanza::empty("query", ns::DISCO_INFO, &[]));
    // Only rooms that exist: creating one by joining would leave it locked
    // or half configured.
    let info = match net.component()?.request(query).await {
        Ok(info) => info,
        Err(err) => {
            tracing::info!(%room, "no portal for a MUC that disco#info refuses: {err:#}");
            return Ok(None);
        }
    };
    let identity = info.get_child("query", ns::DISCO_INFO).and_then(|q| {
        q.children()
            .find(|c| c.name() == "identity" && c.attr("category") == Some("conference"))
    });
    let Some(identity) = identity else {
        return Ok(None);
    };
    let name = identity
        .attr("name")
        .filter(|n| !n.is_empty())
        .unwrap_or(room.as_str());
    let key = addressing::muc_portal(&room);
    net.inner
        .mucs
        .entry(room.to_string())
        .or_insert_with(|| MucRoom::new(key.clone()));
    Ok(Some(PortalInfo {
        key,
        name: Some(name.to_owned()),
        alias_id: Some(net.addresses().alias_id_of_muc(&room)),
        metadata: json!({ "muc": room.as_str() }),
        ..Default::default()
    }))
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
        net.inner
            .mucs
            .entry(room.to_string())
            .or_insert_with(|| MucRoom::new(portal.key.clone()));
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
            if !bridge.is_bridge_user(&mxid) {
                // Not sent now: the connection's first act is to rejoin.
                ensure_puppet(net, &room, &mxid, name.as_deref(), false);
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

/// The MUC status codes of a presence.
fn status_codes(presence: &Element) -> Vec<String> {
    presence
        .get_child("x", ns::MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn muc_item(presence: &Element) -> Option<&Element> {
    presence
        .get_child("x", ns::MUC_USER)?
        .get_child("item", ns::MUC_USER)
}

/// The ghost of an occupant: their real JID when the room shows it, else
/// their occupant JID.
fn occupant_ghost(
    net: &XmppNetwork,
    from: &Jid,
    presence_item: Option<&Element>,
    nick: &str,
) -> GhostInfo {
    let real = presence_item
        .and_then(|i| i.attr("jid"))
        .and_then(|j| Jid::new(j).ok())
        .map(|j| Jid::from(j.to_bare()));
    let id = addressing::ghost_id(real.as_ref().unwrap_or(from));
    let _ = net;
    GhostInfo {
        id,
        displayname: Some(nick.to_owned()),
        avatar_mxc: None,
    }
}

async fn notice(bridge: &Bridge, portal: &PortalKey, text: &str) {
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

/// A presence from a MUC, to one of our puppets.
pub async fn handle_presence(
    net: &XmppNetwork,
    presence: &Element,
    from: &Jid,
    target: &ComponentAddress,
) -> Result<()> {
    let ComponentAddress::MatrixUser(mxid) = target else {
        return Ok(());
    };
    let bridge = net.bridge()?;
    let room = from.to_bare();
    let nick = from
        .resource()
        .map(|r| r.as_str().to_owned())
        .unwrap_or_default();
    let kind = presence.attr("type");
    let codes = status_codes(presence);
    let Some(portal) = net.inner.mucs.get(room.as_str()).map(|s| s.portal.clone()) else {
        return Ok(());
    };
    if kind == Some("error") {
        return join_refused(net, bridge, &room, &portal, mxid, presence).await;
    }
    if codes.iter().any(|c| c == "110") {
        return own_presence(
            net, bridge, &room, &portal, mxid, &nick, kind, &codes, presence,
        )
        .await;
    }
    let listening = net
        .inner
        .mucs
        .get(room.as_str())
        .is_some_and(|s| s.listener.as_deref() == Some(mxid.as_str()));
    tracing::debug!(%room, nick, listening, "occupant presence");
    if !listening {
        return Ok(());
    }
    let item = muc_item(presence);
    let real_is_ours = item
        .and_then(|i| i.attr("jid"))
        .and_then(|j| Jid::new(j).ok())
        .is_some_and(|j| j.domain().as_str() == net.addresses().component);
    let is_ours = real_is_ours
        || net
            .inner
            .mucs
            .get(room.as_str())
            .is_some_and(|s| s.is_puppet_nick(&nick));
    if is_ours {
        return Ok(());
    }
    let ghost = occupant_ghost(net, from, item, &nick);
    if kind == Some("unavailable") {
        let new_nick = item.and_then(|i| i.attr("nick"));
        if let (true, Some(new_nick)) = (codes.iter().any(|c| c == "303"), new_nick) {
            // A nick change: the next presence brings the new nick; the
            // ghost stays in the room.
            if let Some(mut state) = net.inner.mucs.get_mut(room.as_str()) {
                state.occupants.remove(&nick);
                state.occupants.insert(new_nick.to_owned(), ghost);
            }
            return Ok(());
        }
        if let Some(mut state) = net.inner.mucs.get_mut(room.as_str()) {
            state.occupants.remove(&nick);
        }
        let reason = item
            .and_then(|i| i.get_child("reason", ns::MUC_USER))
            .map(|r| r.text());
        let actor = item
            .and_then(|i| i.get_child("actor", ns::MUC_USER))
            .and_then(|a| a.attr("nick"))
            .and_then(|n| {
                net.inner
                    .mucs
                    .get(room.as_str())
                    .and_then(|s| s.occupants.get(n).cloned())
            });
        let removed = codes.iter().any(|c| c == "307" || c == "301");
        let change = match (removed, actor) {
            (true, Some(by)) => RemoteMembership::Kicked { by, reason },
            (true, None) => RemoteMembership::Leave {
                reason: Some(format!(
                    "{} from the XMPP room{}",
                    if codes.iter().any(|c| c == "301") {
                        "banned"
                    } else {
                        "kicked"
                    },
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                )),
            },
            (false, _) => RemoteMembership::Leave { reason: None },
        };
        return bridge
            .queue_remote(
                &portal,
                RemoteEvent::Membership {
                    sender: ghost,
                    change,
                },
            )
            .await;
    }
    let known = net
        .inner
        .mucs
        .get_mut(room.as_str())
        .and_then(|mut s| s.occupants.insert(nick.clone(), ghost.clone()));
    if known.as_ref() == Some(&ghost) {
        return Ok(());
    }
    bridge
        .queue_remote(
            &portal,
            RemoteEvent::Membership {
                sender: ghost,
                change: RemoteMembership::Join,
            },
        )
        .await
}

#[allow(clippy::too_many_arguments)]
async fn own_presence(
    net: &XmppNetwork,
    bridge: &Bridge,
    room: &BareJid,
    portal: &PortalKey,
    mxid: &str,
    nick: &str,
    kind: Option<&str>,
    codes: &[String],
    presence: &Element,
) -> Result<()> {
    if kind == Some("unavailable") {
        let removed = net
            .inner
            .mucs
            .get_mut(room.as_str())
            .and_then(|mut s| s.puppets.remove(mxid).map(|_| ()));
        if removed.is_none() {
            return Ok(());
        }
        if let Some(mut state) = net.inner.mucs.get_mut(room.as_str()) {
            if state.listener.as_deref() == Some(mxid) {
                state.listener = state
                    .puppets
                    .iter()
                    .find(|(_, p)| p.joined)
                    .map(|(m, _)| m.clone());
            }
        }
        if codes.iter().any(|c| c == "307" || c == "301") {
            let reason = muc_item(presence)
                .and_then(|i| i.get_child("reason", ns::MUC_USER))
                .map(|r| r.text());
            let ban = codes.iter().any(|c| c == "301");
            bridge
                .queue_remote(
                    portal,
                    RemoteEvent::RemoveMatrixUser {
                        mxid: mxid.to_owned(),
                        reason,
                        ban,
                    },
                )
                .await?;
        }
        return Ok(());
    }
    let mut state = net.inner.mucs.get_mut(room.as_str()).context("room gone")?;
    if let Some(puppet) = state.puppets.get_mut(mxid) {
        puppet.joined = true;
        puppet.conflicts = 0;
        puppet.nick = nick.to_owned();
    }
    if state.listener.is_none() {
        state.listener = Some(mxid.to_owned());
    }
    Ok(())
}

/// A join was refused: a nick conflict is retried once with a suffix;
/// anything else is told in the room.
async fn join_refused(
    net: &XmppNetwork,
    bridge: &Bridge,
    room: &BareJid,
    portal: &PortalKey,
    mxid: &str,
    presence: &Element,
) -> Result<()> {
    let (condition, text) = stanza::error_of(presence);
    let retry = {
        let mut state = net.inner.mucs.get_mut(room.as_str()).context("room gone")?;
        match state.puppets.get_mut(mxid) {
            Some(puppet) if condition == "conflict" && puppet.conflicts == 0 => {
                puppet.conflicts += 1;
                puppet.nick = format!("{} [m]", puppet.nick);
                Some(puppet.nick.clone())
            }
            Some(_) => {
                state.puppets.remove(mxid);
                if state.listener.as_deref() == Some(mxid) {
                    state.listener = state.puppets.keys().next().cloned();
                }
                None
            }
            None => return Ok(()),
        }
    };
    match retry {
        Some(nick) => {
            notice(
                bridge,
                portal,
                &format!("{mxid}'s nick is taken in {room}; joining as \"{nick}\" instead."),
            )
            .await;
            if let Some(presence) = join_presence(net.addresses(), room.as_str(), mxid, &nick, 0) {
                net.send(presence);
            }
        }
        None => {
            let detail = text.map(|t| format!(" ({t})")).unwrap_or_default();
            notice(bridge, portal, &format!("{mxid} could not join {room}: {condition}{detail}. Messages from them will not reach XMPP until they leave and join this room again.")).await;
        }
    }
    Ok(())
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
            &format!("A message from {mxid} was not delivered to {room} ({condition}{detail})."),
        )
        .await;
        return Ok(());
    }
    if !listening {
        return Ok(());
    }
    let Some(nick) = nick else {
        // From the room itself: only the subject matters.
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
    let cx = Context {
        bridge,
        room: Some(room.as_str()),
        sender,
        max_message_bytes: net.config().max_message_bytes,
        fetch: net.fetch_policy(),
    };
    let events = match from_xmpp::events(&cx, message).await {
        Ok(events) => events,
        Err(err) => {
            notice(
                bridge,
                &portal,
                &format!("A message from {nick} was not bridged: {err:#}"),
            )
            .await;
            return Ok(());
        }
    };
    for event in events {
        if let (RemoteEvent::Message { id, .. }, Some(sid)) = (&event, &room_sid) {
            refs::remember_stanza_id(bridge, room.as_str(), sid, id).await?;
        }
        bridge.queue_remote(&portal, event).await?;
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

    #[test]
    fn status_codes_are_read_from_muc_user() {
        let p: Element = "<presence xmlns='jabber:component:accept'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='307'/><status code='110'/></x></presence>".parse().unwrap();
        assert_eq!(status_codes(&p), ["307", "110"]);
    }
}
