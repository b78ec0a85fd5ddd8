//! Private chats between an XMPP user and a Matrix user. Either side may
//! start one: a message to a Matrix user's JID opens a DM, with an invite;
//! a Matrix user's invite of a ghost makes the room the DM.

use crate::addressing;
use crate::from_xmpp::{self, Context};
use crate::network::XmppNetwork;
use crate::stanza::{self, ns};
use anyhow::Result;
use causeway_core::format::escape_markdown;
use causeway_core::ids::{PortalKey, RemoteUserId};
use causeway_core::network::{GhostInfo, PortalInfo};
use causeway_core::store::PortalRow;
use serde_json::json;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

/// The two ends of a DM portal: the XMPP address and the Matrix user.
pub fn ends(portal: &PortalRow) -> Option<(String, String)> {
    let xmpp = portal.metadata.get("xmpp")?.as_str()?.to_owned();
    let mxid = portal.metadata.get("mxid")?.as_str()?.to_owned();
    Some((xmpp, mxid))
}

/// The portal for a DM between `xmpp` (a bare JID, or an occupant JID for
/// a MUC private message) and a Matrix user.
pub fn portal_info(xmpp: &Jid, mxid: &str, name: Option<String>) -> PortalInfo {
    let ghost = addressing::ghost_id(xmpp);
    PortalInfo {
        key: direct_key(xmpp, mxid),
        name,
        invite: vec![mxid.to_owned()],
        direct_with: Some(ghost),
        metadata: json!({ "xmpp": xmpp.as_str(), "mxid": mxid }),
        ..Default::default()
    }
}

fn direct_key(xmpp: &Jid, mxid: &str) -> PortalKey {
    match xmpp.try_as_full() {
        Ok(occupant) => PortalKey::shared(format!("dm/{occupant}/{mxid}")),
        Err(bare) => addressing::direct_portal(bare, mxid),
    }
}

/// A chat message from XMPP to a Matrix user's JID.
pub async fn handle_message(
    net: &XmppNetwork,
    message: &Element,
    from: &Jid,
    mxid: &str,
) -> Result<()> {
    if from_xmpp::is_error(message) {
        return bounced(net, message, from, mxid).await;
    }
    let bridge = net.bridge()?;
    // A private message through a MUC comes from an occupant JID and keeps
    // it; anyone else is known by their bare JID.
    let is_muc = net.addresses().is_muc_domain(from.domain().as_str());
    let peer: Jid = if is_muc {
        from.clone()
    } else {
        Jid::from(from.to_bare())
    };
    let displayname = if is_muc {
        from.resource().map(|r| r.as_str().to_owned())
    } else {
        from.node().map(|n| n.as_str().to_owned())
    };
    let mut sender = GhostInfo {
        id: addressing::ghost_id(&peer),
        displayname: displayname.clone(),
        avatar_mxc: None,
        avatar_id: None,
        own_login: None,
    };
    if !is_muc {
        crate::profiles::fill(net, &mut sender, peer.as_str(), true);
    }
    let cx = Context::new(net, None, sender.clone())?;
    let Some(events) = from_xmpp::events_or_refuse(net, &cx, message).await else {
        return Ok(());
    };
    if events.is_empty() {
        return Ok(());
    }
    let has_content = events
        .iter()
        .any(|e| !matches!(e, causeway_core::remote::RemoteEvent::Typing { .. }));
    let key = direct_key(&peer, mxid);
    let exists = bridge
        .store()
        .get_portal(&key)
        .await?
        .is_some_and(|p| p.room_id.is_some());
    if !exists {
        if !has_content {
            return Ok(());
        }
        let opened = async {
            let user = ruma::UserId::parse(mxid)?;
            if !bridge.homeserver().user_exists(&user).await? {
                anyhow::bail!("there is no such user");
            }
            bridge.ensure_ghost(&sender).await?;
            bridge
                .ensure_portal_room(&portal_info(&peer, mxid, displayname))
                .await
        };
        if let Err(err) = opened.await {
            tracing::info!(%from, mxid, "cannot open a DM: {err:#}");
            let text = format!("Cannot reach {mxid} on Matrix: {err}");
            net.send(stanza::error_reply(
                message,
                "cancel",
                "item-not-found",
                Some(&text),
            ));
            return Ok(());
        }
    }
    let wants_receipt = message.get_child("request", ns::RECEIPTS).is_some();
    for event in events {
        bridge.send_remote(&key, event).await?;
    }
    if let (true, Some(id)) = (wants_receipt, message.attr("id")) {
        // XEP-0184: on Matrix now, so "received".
        let mut receipt = stanza::new(
            "message",
            message.attr("to").unwrap_or_default(),
            from.as_str(),
            None,
            None,
        );
        receipt.append_child(stanza::empty("received", ns::RECEIPTS, &[("id", id)]));
        net.send(receipt);
    }
    Ok(())
}

/// An XMPP error for something we sent in a DM: told in the DM.
async fn bounced(net: &XmppNetwork, message: &Element, from: &Jid, mxid: &str) -> Result<()> {
    let bridge = net.bridge()?;
    let candidates = [
        direct_key(from, mxid),
        direct_key(&Jid::from(from.to_bare()), mxid),
    ];
    for key in candidates {
        if let Some(row) = bridge.store().get_portal(&key).await? {
            if let Some(room) = row.room_id {
                let (condition, text) = stanza::error_of(message);
                let detail = text.map(|t| format!(": {t}")).unwrap_or_default();
                bridge
                    .bot_notice(
                        &room,
                        &format!(
                            "A message was not delivered to {} ({}).",
                            escape_markdown(&from.to_string()),
                            escape_markdown(&format!("{condition}{detail}"))
                        ),
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A Matrix user invited a ghost: the room becomes their DM.
pub fn invited(ghost: &RemoteUserId, inviter: &str) -> Option<PortalInfo> {
    let jid = Jid::new(ghost.as_str()).ok()?;
    let name = match jid.try_as_full() {
        Ok(full) => Some(full.resource().as_str().to_owned()),
        Err(bare) => bare.node().map(|n| n.as_str().to_owned()),
    };
    Some(portal_info(&jid, inviter, name))
}

/// Whether a remote ID can be an XMPP user at all.
pub fn is_valid_user(id: &RemoteUserId) -> bool {
    Jid::new(id.as_str()).is_ok_and(|j| j.node().is_some())
        && BareJid::new(id.as_str().split('/').next().unwrap_or_default()).is_ok()
}
