//! MUC presence: occupants coming, going and renaming, our puppets' own
//! joins and kicks, and refused joins.

use super::{join_presence, notice};
use crate::addressing::{self, ComponentAddress};
use crate::network::XmppNetwork;
use crate::stanza::{self, ns};
use anyhow::{Context as _, Result};
use causeway_core::format::escape_markdown;
use causeway_core::ids::PortalKey;
use causeway_core::network::GhostInfo;
use causeway_core::remote::{PowerTarget, RemoteEvent, RemoteMembership};
use causeway_core::Bridge;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

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
pub(super) fn occupant_ghost(
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
    let mut ghost = GhostInfo {
        id,
        displayname: Some(nick.to_owned()),
        avatar_mxc: None,
        avatar_id: None,
        own_login: None,
    };
    if let Some(real) = real {
        crate::profiles::fill(net, &mut ghost, real.as_str(), false);
    }
    ghost
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
    if known.as_ref() != Some(&ghost) {
        let join = RemoteEvent::Membership {
            sender: ghost.clone(),
            change: RemoteMembership::Join,
        };
        bridge.queue_remote(&portal, join).await?;
    }
    let target = PowerTarget::Ghost(ghost);
    rank_changed(net, bridge, &room, &portal, &nick, target, item).await
}

/// A moderator's role is power level 50 in the room; losing it is 0. Only
/// changes are sent, and nobody starts at 0 by event.
async fn rank_changed(
    net: &XmppNetwork,
    bridge: &Bridge,
    room: &BareJid,
    portal: &PortalKey,
    key: &str,
    target: PowerTarget,
    item: Option<&Element>,
) -> Result<()> {
    let level = match item.and_then(|i| i.attr("role")) {
        Some("moderator") => 50,
        _ => 0,
    };
    let before = net
        .inner
        .mucs
        .get_mut(room.as_str())
        .and_then(|mut s| s.levels.insert(key.to_owned(), level));
    if before.unwrap_or(0) == level {
        return Ok(());
    }
    bridge
        .queue_remote(portal, RemoteEvent::PowerLevel { target, level })
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
    {
        let mut state = net.inner.mucs.get_mut(room.as_str()).context("room gone")?;
        if let Some(puppet) = state.puppets.get_mut(mxid) {
            puppet.joined = true;
            puppet.conflicts = 0;
            puppet.nick = nick.to_owned();
        }
        if state.listener.is_none() {
            state.listener = Some(mxid.to_owned());
        }
    }
    let target = PowerTarget::MatrixUser(mxid.to_owned());
    let key = format!("matrix:{mxid}");
    rank_changed(net, bridge, room, portal, &key, target, muc_item(presence)).await
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
                &format!(
                    "{mxid}'s nick is taken in {room}; joining as \"{}\" instead.",
                    escape_markdown(&nick)
                ),
            )
            .await;
            if let Some(presence) = join_presence(net.addresses(), room.as_str(), mxid, &nick, 0) {
                net.send(presence);
            }
        }
        None => {
            let detail = text.map(|t| format!(" ({t})")).unwrap_or_default();
            let why = escape_markdown(&format!("{condition}{detail}"));
            notice(bridge, portal, &format!("{mxid} could not join {room}: {why}. Messages from them will not reach XMPP until they leave and join this room again.")).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_read_from_muc_user() {
        let p: Element = "<presence xmlns='jabber:component:accept'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='307'/><status code='110'/></x></presence>".parse().unwrap();
        assert_eq!(status_codes(&p), ["307", "110"]);
    }
}
