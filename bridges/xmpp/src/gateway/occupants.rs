//! XMPP users entering and leaving gateway rooms: the MUC join sequence
//! (occupants, self-presence, subject), nick conflicts, and leaves.

use super::{persist, GatewayRoom};
use crate::addressing;
use crate::network::XmppNetwork;
use crate::stanza::{self, ns, NS};
use anyhow::{Context as _, Result};
use causeway_core::network::GhostInfo;
use causeway_core::remote::RemoteEvent;
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use ruma::events::room::message::MessageType;
use ruma::events::{AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent};
use serde_json::json;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

pub(super) fn occupant_presence(
    room_jid: &str,
    nick: &str,
    to: &str,
    real: Option<&str>,
    kind: Option<&str>,
    codes: &[&str],
) -> Element {
    let mut presence = stanza::new("presence", &format!("{room_jid}/{nick}"), to, kind, None);
    let mut x = stanza::empty("x", ns::MUC_USER, &[]);
    let role = if kind == Some("unavailable") {
        "none"
    } else {
        "participant"
    };
    let mut attrs = vec![("affiliation", "member"), ("role", role)];
    if let Some(real) = real {
        attrs.push(("jid", real));
    }
    x.append_child(stanza::empty("item", ns::MUC_USER, &attrs));
    for code in codes {
        x.append_child(stanza::empty("status", ns::MUC_USER, &[("code", code)]));
    }
    presence.append_child(x);
    presence
}

fn refuse(net: &XmppNetwork, presence: &Element, condition: &str, text: &str) -> Result<()> {
    net.send(stanza::error_reply(
        presence,
        "cancel",
        condition,
        Some(text),
    ));
    Ok(())
}

/// Presence to a gateway room: a join, a nick change or a leave.
pub async fn handle_presence(
    net: &XmppNetwork,
    presence: &Element,
    from: &Jid,
    to: &Jid,
    alias: &str,
) -> Result<()> {
    if !net.config().gateway {
        return refuse(
            net,
            presence,
            "service-unavailable",
            "This bridge does not serve Matrix rooms to XMPP.",
        );
    }
    let Some(nick) = to.resource().map(|r| r.as_str().to_owned()) else {
        return refuse(
            net,
            presence,
            "jid-malformed",
            "Join with a nick: room@service/nick.",
        );
    };
    let bridge = net.bridge()?;
    let room_jid = to.to_bare();
    let room_id = match bridge.homeserver().resolve_alias(bridge.bot(), alias).await {
        Ok(room_id) => room_id.to_string(),
        Err(_) => {
            return refuse(
                net,
                presence,
                "item-not-found",
                &format!("There is no Matrix room {alias}."),
            )
        }
    };
    let mut ghost = GhostInfo {
        id: addressing::ghost_id(&Jid::from(from.to_bare())),
        displayname: Some(nick.clone()),
        avatar_mxc: None,
        avatar_id: None,
        own_login: None,
    };
    crate::profiles::fill(net, &mut ghost, from.to_bare().as_str(), false);
    if presence.attr("type") == Some("unavailable") {
        return leave(net, bridge, &room_id, &room_jid, from, &ghost).await;
    }
    if presence.attr("type") == Some("error") {
        return gone(net, bridge, alias, from).await;
    }
    if presence.attr("type").is_some() {
        return Ok(());
    }
    let taken = net.inner.gateway.get(&room_id).is_some_and(|r| {
        r.occupants
            .iter()
            .any(|(jid, n)| *n == nick && !jid.starts_with(&format!("{}/", from.to_bare())))
            || r.names.values().any(|n| *n == nick)
    });
    if taken {
        return refuse(
            net,
            presence,
            "conflict",
            &format!("The nick {nick} is taken in {alias}."),
        );
    }
    let previous_nick = net
        .inner
        .gateway
        .get(&room_id)
        .and_then(|r| r.occupants.get(from.as_str()).cloned());
    let already = previous_nick.is_some();
    let ghost_mxid = bridge.ensure_ghost(&ghost).await?;
    let room = Bridge::parse_room(&room_id)?;
    if let Err(err) = bridge.homeserver().join(&ghost_mxid, room.as_str()).await {
        return refuse(
            net,
            presence,
            "forbidden",
            &format!("Matrix refused the join: {err}"),
        );
    }
    let key = addressing::gateway_portal(&room_id);
    if bridge.store().get_portal(&key).await?.is_none() {
        bridge
            .store()
            .put_portal(&PortalRow {
                key,
                room_id: Some(room_id.clone()),
                name: Some(alias.to_owned()),
                topic: None,
                plumbed: true,
                metadata: json!({ "gateway": alias }),
            })
            .await?;
    }
    let members = bridge
        .homeserver()
        .joined_members_named(&ghost_mxid, &room)
        .await
        .unwrap_or_default();
    let mut state = net
        .inner
        .gateway
        .entry(room_id.clone())
        .or_insert_with(|| GatewayRoom {
            alias: alias.to_owned(),
            ..Default::default()
        });
    for (mxid, name) in &members {
        if !bridge.is_bridge_user(mxid.as_str()) {
            state.names.insert(
                mxid.to_string(),
                crate::muc::nick_for(mxid.as_str(), name.as_deref()),
            );
        }
    }
    state.occupants.insert(from.to_string(), nick.clone());
    let snapshot = state.clone();
    drop(state);
    persist(bridge, &room_id, &snapshot).await?;
    let room_str = room_jid.as_str();
    if !already {
        for (mxid, name) in &snapshot.names {
            let real = net.addresses().matrix_user_jid(mxid).map(|j| j.to_string());
            net.send(occupant_presence(
                room_str,
                name,
                from.as_str(),
                real.as_deref(),
                None,
                &[],
            ));
        }
        for (jid, other) in snapshot
            .occupants
            .iter()
            .filter(|(j, _)| *j != from.as_str())
        {
            net.send(occupant_presence(
                room_str,
                other,
                from.as_str(),
                Some(jid),
                None,
                &[],
            ));
            net.send(occupant_presence(
                room_str,
                &nick,
                jid,
                Some(from.as_str()),
                None,
                &[],
            ));
        }
    }
    if let Some(old) = previous_nick.filter(|old| *old != nick) {
        renamed(net, &snapshot, room_str, from.as_str(), &old, &nick);
    }
    net.send(occupant_presence(
        room_str,
        &nick,
        from.as_str(),
        Some(from.as_str()),
        None,
        &["100", "110", "170"],
    ));
    if !already {
        // The client may ask for less, or none (XEP-0045 §7.2.14).
        let asked = presence
            .get_child("x", ns::MUC)
            .and_then(|x| x.get_child("history", ns::MUC))
            .and_then(|h| h.attr("maxstanzas"))
            .and_then(|n| n.parse::<u32>().ok());
        let most = net.config().backfill_messages;
        let limit = asked.map_or(most, |n| n.min(most));
        let to = from.as_str();
        history(
            net,
            bridge,
            &snapshot,
            &ghost_mxid,
            &room,
            room_str,
            to,
            limit,
        )
        .await;
        let topic = bridge
            .homeserver()
            .state_event(&ghost_mxid, &room, "m.room.topic", "")
            .await
            .ok()
            .flatten();
        let topic = topic
            .and_then(|t| t.get("topic").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let mut subject = stanza::new("message", room_str, from.as_str(), Some("groupchat"), None);
        subject.append_child(stanza::text_element("subject", NS, &topic));
        net.send(subject);
    }
    Ok(())
}

async fn leave(
    net: &XmppNetwork,
    bridge: &Bridge,
    room_id: &str,
    room_jid: &BareJid,
    from: &Jid,
    ghost: &GhostInfo,
) -> Result<()> {
    let Some(mut state) = net.inner.gateway.get_mut(room_id) else {
        return Ok(());
    };
    let Some(nick) = state.occupants.remove(from.as_str()) else {
        return Ok(());
    };
    let bare = format!("{}/", from.to_bare());
    let last_device = !state.occupants.keys().any(|j| j.starts_with(&bare));
    let snapshot = state.clone();
    drop(state);
    persist(bridge, room_id, &snapshot).await?;
    let room_str = room_jid.as_str();
    net.send(occupant_presence(
        room_str,
        &nick,
        from.as_str(),
        Some(from.as_str()),
        Some("unavailable"),
        &["110"],
    ));
    // Waited for: a rejoin right after must not race the leave.
    if last_device {
        for jid in snapshot.occupants.keys() {
            net.send(occupant_presence(
                room_str,
                &nick,
                jid,
                Some(from.as_str()),
                Some("unavailable"),
                &[],
            ));
        }
        let key = addressing::gateway_portal(room_id);
        bridge
            .send_remote(
                &key,
                RemoteEvent::Membership {
                    sender: ghost.clone(),
                    change: causeway_core::remote::RemoteMembership::Leave { reason: None },
                },
            )
            .await?;
    }
    Ok(())
}

/// A nick change, as XEP-0045 tells it: the old nick leaves with status
/// 303 naming the new one, and the new nick arrives.
fn renamed(net: &XmppNetwork, room: &GatewayRoom, room_jid: &str, who: &str, old: &str, new: &str) {
    for to in room.occupants.keys() {
        let own = to == who;
        let codes: &[&str] = if own { &["303", "110"] } else { &["303"] };
        let mut leaving =
            occupant_presence(room_jid, old, to, Some(who), Some("unavailable"), codes);
        if let Some(item) = leaving
            .get_child_mut("x", ns::MUC_USER)
            .and_then(|x| x.get_child_mut("item", ns::MUC_USER))
        {
            stanza::set_attr(item, "nick", new);
        }
        net.send(leaving);
        if !own {
            net.send(occupant_presence(room_jid, new, to, Some(who), None, &[]));
        }
    }
}

/// Removes an occupant whose session is gone, as if they had left.
pub(super) async fn gone(net: &XmppNetwork, bridge: &Bridge, alias: &str, who: &Jid) -> Result<()> {
    let room_id = net
        .inner
        .gateway
        .iter()
        .find(|r| r.alias == alias && r.occupants.contains_key(who.as_str()))
        .map(|r| r.key().clone());
    let (Some(room_id), Some(room_jid)) = (room_id, net.addresses().gateway_room_jid(alias)) else {
        return Ok(());
    };
    let ghost = GhostInfo {
        id: addressing::ghost_id(&Jid::from(who.to_bare())),
        displayname: None,
        avatar_mxc: None,
        avatar_id: None,
        own_login: None,
    };
    leave(net, bridge, &room_id, &room_jid, who, &ghost).await
}

/// Recent messages of the room, as MUC history: XMPP users join with some
/// context, the way they do in their own rooms.
#[allow(clippy::too_many_arguments)]
async fn history(
    net: &XmppNetwork,
    bridge: &Bridge,
    room: &GatewayRoom,
    ghost: &ruma::UserId,
    room_id: &ruma::RoomId,
    room_jid: &str,
    to: &str,
    limit: u32,
) {
    if limit == 0 {
        return;
    }
    let events = match bridge
        .homeserver()
        .recent_events(ghost, room_id, limit)
        .await
    {
        Ok(events) => events,
        Err(err) => {
            tracing::info!(%room_id, "no history for a gateway join: {err}");
            return;
        }
    };
    // Only messages that parse are history; anything else is skipped.
    let messages = events
        .iter()
        .rev()
        .filter_map(|raw| match raw.deserialize() {
            Ok(AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(message),
            ))) => Some(message),
            _ => None,
        });
    for event in messages {
        let sender = event.sender.as_str();
        let body = event.content.msgtype.body();
        let nick = match (room.names.get(sender), bridge.ghost_remote_id(sender)) {
            (Some(nick), _) => nick.clone(),
            // An XMPP user's own line: their nick here, else their name.
            (None, Some(jid)) => room
                .occupants
                .iter()
                .find(|(full, _)| full.starts_with(&format!("{jid}/")))
                .map(|(_, nick)| nick.clone())
                .unwrap_or_else(|| {
                    jid.as_str()
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                }),
            (None, None) => crate::muc::nick_for(sender, None),
        };
        let id = event.event_id.as_str();
        let mut message = stanza::new(
            "message",
            &format!("{room_jid}/{nick}"),
            to,
            Some("groupchat"),
            Some(id),
        );
        let text = match &event.content.msgtype {
            MessageType::Emote(_) => format!("/me {body}"),
            _ => body.to_owned(),
        };
        message.append_child(stanza::text_element("body", NS, &text));
        let stamp = chrono_stamp(i64::from(event.origin_server_ts.get()));
        if let Some(stamp) = stamp {
            message.append_child(stanza::empty(
                "delay",
                ns::DELAY,
                &[("stamp", &stamp), ("from", room_jid)],
            ));
        }
        message.append_child(stanza::empty(
            "stanza-id",
            ns::SID,
            &[("id", id), ("by", room_jid)],
        ));
        net.send(message);
    }
}

/// An XEP-0082 timestamp for Matrix milliseconds.
fn chrono_stamp(ms: i64) -> Option<String> {
    let time = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A Matrix moderator kicked or banned an XMPP user's ghost: every device
/// of theirs is removed from the MUC with 307 (kick) or 301 (ban), and
/// the others see them go.
pub(super) async fn removed_by_matrix(
    net: &XmppNetwork,
    room_id: &str,
    bare: &str,
    membership: &causeway_core::matrix_event::Membership,
    reason: Option<&str>,
) -> Result<()> {
    let code = match membership {
        causeway_core::matrix_event::Membership::Ban => "301",
        _ => "307",
    };
    let Some(mut state) = net.inner.gateway.get_mut(room_id) else {
        return Ok(());
    };
    let prefix = format!("{bare}/");
    let gone: Vec<(String, String)> = state
        .occupants
        .iter()
        .filter(|(jid, _)| jid.starts_with(&prefix))
        .map(|(jid, nick)| (jid.clone(), nick.clone()))
        .collect();
    for (jid, _) in &gone {
        state.occupants.remove(jid);
    }
    let snapshot = state.clone();
    drop(state);
    let room_jid = net
        .addresses()
        .gateway_room_jid(&snapshot.alias)
        .context("bad alias")?;
    for (jid, nick) in &gone {
        let mut notice = occupant_presence(
            room_jid.as_str(),
            nick,
            jid,
            Some(jid),
            Some("unavailable"),
            &[code, "110"],
        );
        if let (Some(reason), Some(item)) = (
            reason,
            notice
                .get_child_mut("x", ns::MUC_USER)
                .and_then(|x| x.get_child_mut("item", ns::MUC_USER)),
        ) {
            item.append_child(stanza::text_element("reason", ns::MUC_USER, reason));
        }
        net.send(notice);
        for other in snapshot.occupants.keys() {
            net.send(occupant_presence(
                room_jid.as_str(),
                nick,
                other,
                Some(jid),
                Some("unavailable"),
                &[code],
            ));
        }
    }
    persist(net.bridge()?, room_id, &snapshot).await
}
