//! The gateway: public Matrix rooms served to XMPP users as MUCs on the
//! component, `#room#example.com@matrix.xmpp.example.com` for
//! `#room:example.com`. An XMPP occupant is a ghost in the Matrix room;
//! Matrix members are occupants of the MUC.

use crate::addressing::{self, ComponentAddress};
use crate::from_xmpp::{self, Context};
use crate::network::XmppNetwork;
use crate::outbound::Destination;
use crate::refs;
use crate::stanza::{self, ns, NS};
use anyhow::{Context as _, Result};
use causeway_core::matrix_event::{MatrixMembership, Membership};
use causeway_core::network::GhostInfo;
use causeway_core::remote::RemoteEvent;
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

mod occupants;
pub use occupants::handle_presence;
use occupants::occupant_presence;

/// One public Matrix room as XMPP users see it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GatewayRoom {
    pub alias: String,
    /// XMPP occupants: full JID → nick.
    pub occupants: HashMap<String, String>,
    /// Matrix members' nicks, by MXID.
    #[serde(skip)]
    pub names: HashMap<String, String>,
}

pub fn is_gateway(portal: &PortalRow) -> bool {
    portal.key.id.as_str().starts_with("gw/")
}

fn room_id_of(portal: &PortalRow) -> Option<&str> {
    portal.key.id.as_str().strip_prefix("gw/")
}

fn kv_key(room_id: &str) -> String {
    format!("xmpp:gw:{room_id}")
}

pub(super) async fn persist(bridge: &Bridge, room_id: &str, room: &GatewayRoom) -> Result<()> {
    bridge
        .store()
        .kv_set(&kv_key(room_id), &serde_json::to_string(room)?)
        .await
}

/// After a restart: XMPP clients still believe they are in their rooms.
pub async fn restore(net: &XmppNetwork, bridge: &Bridge) {
    let Ok(portals) = bridge.store().all_portals().await else {
        return;
    };
    for portal in portals.iter().filter(|p| is_gateway(p)) {
        let Some(room_id) = room_id_of(portal) else {
            continue;
        };
        if let Ok(Some(saved)) = bridge.store().kv_get(&kv_key(room_id)).await {
            if let Ok(room) = serde_json::from_str::<GatewayRoom>(&saved) {
                net.inner.gateway.insert(room_id.to_owned(), room);
            }
        }
    }
}

/// The room name for disco#info, if the alias exists.
pub async fn describe(net: &XmppNetwork, alias: &str) -> Option<String> {
    let bridge = net.bridge().ok()?;
    bridge
        .homeserver()
        .resolve_alias(bridge.bot(), alias)
        .await
        .ok()?;
    Some(alias.to_owned())
}

/// disco#items: the component lists the public room directory.
pub async fn disco_items(net: &XmppNetwork, target: &ComponentAddress) -> Element {
    let mut q = stanza::empty("query", ns::DISCO_ITEMS, &[]);
    if *target != ComponentAddress::Component || !net.config().gateway {
        return q;
    }
    let Ok(bridge) = net.bridge() else { return q };
    let rooms = match bridge.homeserver().public_rooms(bridge.bot(), 200).await {
        Ok(rooms) => rooms,
        Err(err) => {
            tracing::warn!("cannot read the public room directory: {err}");
            return q;
        }
    };
    for room in rooms {
        let Some(alias) = room.canonical_alias.as_ref().map(|a| a.as_str()) else {
            continue;
        };
        let Some(jid) = net.addresses().gateway_room_jid(alias) else {
            continue;
        };
        let name = room.name.as_deref().unwrap_or(alias);
        q.append_child(stanza::empty(
            "item",
            ns::DISCO_ITEMS,
            &[("jid", jid.as_str()), ("name", name)],
        ));
    }
    q
}

/// A message from an XMPP occupant to a gateway room: to Matrix as their
/// ghost, then reflected to every occupant, the sender included.
pub async fn handle_message(
    net: &XmppNetwork,
    message: &Element,
    from: &Jid,
    alias: &str,
) -> Result<()> {
    let bridge = net.bridge()?;
    if from_xmpp::is_error(message) {
        // An occupant whose client bounces what we send is gone (XEP-0045
        // §18.1): their session ended without a leave, as after a restart.
        return occupants::gone(net, bridge, alias, from).await;
    }
    let found = net
        .inner
        .gateway
        .iter()
        .find(|r| r.alias == alias)
        .map(|r| (r.key().clone(), r.occupants.get(from.as_str()).cloned()));
    let Some((room_id, Some(nick))) = found else {
        net.send(stanza::error_reply(
            message,
            "modify",
            "not-acceptable",
            Some("Join the room before you speak in it."),
        ));
        return Ok(());
    };
    let key = addressing::gateway_portal(&room_id);
    let room_jid = net
        .addresses()
        .gateway_room_jid(alias)
        .context("bad alias")?;
    let mut sender = GhostInfo {
        id: addressing::ghost_id(&Jid::from(from.to_bare())),
        displayname: Some(nick.clone()),
        avatar_mxc: None,
        avatar_id: None,
        own_login: None,
    };
    crate::profiles::fill(net, &mut sender, from.to_bare().as_str(), false);
    let cx = Context::new(net, Some(room_jid.as_str()), sender)?;
    let Some(events) = from_xmpp::events_or_refuse(net, &cx, message).await else {
        return Ok(());
    };
    let mut stanza_id = None;
    for event in events {
        let message_id = match &event {
            RemoteEvent::Message { id, .. } => Some(id.clone()),
            _ => None,
        };
        bridge.send_remote(&key, event).await?;
        if let Some(id) = message_id {
            if let Some(first) = bridge
                .store()
                .message_parts(&key, &id)
                .await?
                .into_iter()
                .next()
            {
                refs::remember_stanza_id(bridge, room_jid.as_str(), &first.event_id, &id).await?;
                stanza_id = Some(first.event_id);
            }
        }
    }
    let occupants: Vec<String> = net
        .inner
        .gateway
        .get(&room_id)
        .map(|r| r.occupants.keys().cloned().collect())
        .unwrap_or_default();
    for occupant in occupants {
        let mut copy = message.clone();
        stanza::set_attr(&mut copy, "from", &format!("{room_jid}/{nick}"));
        stanza::set_attr(&mut copy, "to", &occupant);
        stanza::set_attr(&mut copy, "type", "groupchat");
        if let Some(sid) = &stanza_id {
            copy.append_child(stanza::empty(
                "stanza-id",
                ns::SID,
                &[("id", sid), ("by", room_jid.as_str())],
            ));
        }
        net.send(copy);
    }
    Ok(())
}

/// Where a Matrix event in a gateway room goes: to every XMPP occupant,
/// from the sender's nick in the room.
pub async fn destinations(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
) -> Result<Vec<Destination>> {
    let Some(room_id) = room_id_of(portal) else {
        return Ok(Vec::new());
    };
    let Some(room) = net.inner.gateway.get(room_id).map(|r| r.clone()) else {
        return Ok(Vec::new());
    };
    let room_jid = net
        .addresses()
        .gateway_room_jid(&room.alias)
        .context("bad alias")?;
    let nick = match room.names.get(sender) {
        Some(nick) => nick.clone(),
        None => {
            let user = ruma::UserId::parse(sender)?;
            let name = net
                .bridge()?
                .homeserver()
                .get_displayname(&user)
                .await
                .ok()
                .flatten();
            let nick = crate::muc::nick_for(sender, name.as_deref());
            if let Some(mut r) = net.inner.gateway.get_mut(room_id) {
                r.names.insert(sender.to_owned(), nick.clone());
            }
            nick
        }
    };
    Ok(room
        .occupants
        .keys()
        .map(|to| Destination {
            from: format!("{room_jid}/{nick}"),
            to: to.clone(),
            kind: "groupchat",
            stanza_id_by: Some(room_jid.to_string()),
        })
        .collect())
}

/// Matrix members joining and leaving show as occupants coming and going.
pub async fn matrix_membership(
    net: &XmppNetwork,
    portal: &PortalRow,
    change: &MatrixMembership,
) -> Result<()> {
    let Some(room_id) = room_id_of(portal) else {
        return Ok(());
    };
    if let Some(ghost) = &change.target_ghost {
        let removed = matches!(change.membership, Membership::Kick | Membership::Ban);
        if removed {
            occupants::removed_by_matrix(
                net,
                room_id,
                ghost.as_str(),
                &change.membership,
                change.reason.as_deref(),
            )
            .await?;
        }
        return Ok(());
    }
    let Some(mut room) = net.inner.gateway.get_mut(room_id) else {
        return Ok(());
    };
    let room_jid = net
        .addresses()
        .gateway_room_jid(&room.alias)
        .context("bad alias")?;
    let real = net
        .addresses()
        .matrix_user_jid(&change.target)
        .map(|j| j.to_string());
    let (nick, kind) = match change.membership {
        Membership::Join => {
            let nick = crate::muc::nick_for(&change.target, change.displayname.as_deref());
            if room.names.get(&change.target) == Some(&nick) {
                return Ok(());
            }
            if let Some(old) = room.names.insert(change.target.clone(), nick.clone()) {
                for to in room.occupants.keys() {
                    net.send(occupant_presence(
                        room_jid.as_str(),
                        &old,
                        to,
                        real.as_deref(),
                        Some("unavailable"),
                        &[],
                    ));
                }
            }
            (nick, None)
        }
        Membership::Leave | Membership::Kick | Membership::Ban => {
            match room.names.remove(&change.target) {
                Some(nick) => (nick, Some("unavailable")),
                None => return Ok(()),
            }
        }
        Membership::Invite => return Ok(()),
    };
    for to in room.occupants.keys() {
        net.send(occupant_presence(
            room_jid.as_str(),
            &nick,
            to,
            real.as_deref(),
            kind,
            &[],
        ));
    }
    Ok(())
}

/// A topic change in a gateway room: the subject, to every occupant.
pub async fn topic_changed(net: &XmppNetwork, portal: &PortalRow, topic: &str) -> Result<()> {
    let Some(room_id) = room_id_of(portal) else {
        return Ok(());
    };
    let Some(room) = net.inner.gateway.get(room_id).map(|r| r.clone()) else {
        return Ok(());
    };
    let room_jid = net
        .addresses()
        .gateway_room_jid(&room.alias)
        .context("bad alias")?;
    for to in room.occupants.keys() {
        let mut subject = stanza::new("message", room_jid.as_str(), to, Some("groupchat"), None);
        subject.append_child(stanza::text_element("subject", NS, topic));
        net.send(subject);
    }
    Ok(())
}
