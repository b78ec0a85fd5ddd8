//! What the component answers by itself: service discovery, ping, version
//! and vCards for Matrix users, and roster subscriptions. Anything else
//! gets an error reply, never silence.

use crate::addressing::ComponentAddress;
use crate::network::XmppNetwork;
use crate::stanza::{self, ns};
use anyhow::Result;
use base64::Engine;
use ruma::UserId;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

/// Features of the component and of the Matrix users behind it.
const USER_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::PING,
    ns::VCARD,
    ns::VERSION,
    ns::CHAT_STATES,
    ns::CORRECT,
    ns::RETRACT,
    ns::REACTIONS,
    ns::REPLY,
    ns::XHTML_IM,
    ns::OOB,
    ns::RECEIPTS,
    ns::MARKERS,
];

pub async fn handle_iq(
    net: &XmppNetwork,
    iq: &Element,
    from: &Jid,
    target: &ComponentAddress,
) -> Result<()> {
    let kind = iq.attr("type").unwrap_or_default();
    if kind != "get" && kind != "set" {
        // A result nobody waits for any more, or an error to one.
        return Ok(());
    }
    let Some(payload) = iq.children().next() else {
        net.send(stanza::error_reply(iq, "modify", "bad-request", None));
        return Ok(());
    };
    let reply = match (kind, payload.name(), payload.ns().as_str(), target) {
        (_, _, _, ComponentAddress::Unknown | ComponentAddress::Elsewhere) => {
            stanza::error_reply(iq, "cancel", "item-not-found", None)
        }
        ("get", "ping", ns::PING, _) => stanza::iq_result(iq, None),
        ("get", "query", ns::VERSION, _) => stanza::iq_result(iq, Some(version())),
        ("get", "query", ns::DISCO_INFO, target) => match disco_info(net, target).await {
            Some(info) => stanza::iq_result(iq, Some(info)),
            None => stanza::error_reply(iq, "cancel", "item-not-found", None),
        },
        ("get", "query", ns::DISCO_ITEMS, target) => {
            stanza::iq_result(iq, Some(crate::gateway::disco_items(net, target).await))
        }
        ("get", "vCard", ns::VCARD, ComponentAddress::MatrixUser(mxid)) => {
            stanza::iq_result(iq, Some(vcard(net, mxid).await))
        }
        _ => {
            tracing::debug!(%from, payload = payload.name(), ns = payload.ns(), "unsupported IQ");
            stanza::error_reply(iq, "cancel", "feature-not-implemented", None)
        }
    };
    net.send(reply);
    Ok(())
}

fn query(ns: &str) -> Element {
    stanza::empty("query", ns, &[])
}

fn version() -> Element {
    let mut q = query(ns::VERSION);
    q.append_child(stanza::text_element(
        "name",
        ns::VERSION,
        "Causeway XMPP bridge",
    ));
    q.append_child(stanza::text_element(
        "version",
        ns::VERSION,
        env!("CARGO_PKG_VERSION"),
    ));
    q
}

fn features(q: &mut Element, features: &[&str]) {
    for feature in features {
        q.append_child(stanza::empty(
            "feature",
            ns::DISCO_INFO,
            &[("var", feature)],
        ));
    }
}

async fn disco_info(net: &XmppNetwork, target: &ComponentAddress) -> Option<Element> {
    let mut q = query(ns::DISCO_INFO);
    match target {
        ComponentAddress::Component => {
            q.append_child(stanza::empty(
                "identity",
                ns::DISCO_INFO,
                &[
                    ("category", "gateway"),
                    ("type", "matrix"),
                    ("name", "Matrix"),
                ],
            ));
            if net.config().gateway {
                q.append_child(stanza::empty(
                    "identity",
                    ns::DISCO_INFO,
                    &[
                        ("category", "conference"),
                        ("type", "text"),
                        ("name", "Matrix rooms"),
                    ],
                ));
            }
            features(
                &mut q,
                &[
                    ns::DISCO_INFO,
                    ns::DISCO_ITEMS,
                    ns::MUC,
                    ns::PING,
                    ns::VERSION,
                ],
            );
        }
        ComponentAddress::MatrixUser(mxid) => {
            q.append_child(stanza::empty(
                "identity",
                ns::DISCO_INFO,
                &[("category", "client"), ("type", "bridge"), ("name", mxid)],
            ));
            features(&mut q, USER_FEATURES);
        }
        ComponentAddress::GatewayRoom(alias) => {
            let room = crate::gateway::describe(net, alias).await?;
            q.append_child(stanza::empty(
                "identity",
                ns::DISCO_INFO,
                &[
                    ("category", "conference"),
                    ("type", "text"),
                    ("name", &room),
                ],
            ));
            features(
                &mut q,
                &[
                    ns::MUC,
                    "muc_public",
                    "muc_open",
                    "muc_nonanonymous",
                    "muc_persistent",
                    ns::CORRECT,
                    ns::REACTIONS,
                    ns::RETRACT,
                    ns::SID,
                    ns::XHTML_IM,
                ],
            );
        }
        _ => return None,
    }
    Some(q)
}

/// A Matrix user's vCard-temp: display name, and avatar when it is small.
async fn vcard(net: &XmppNetwork, mxid: &str) -> Element {
    let mut card = stanza::empty("vCard", ns::VCARD, &[]);
    let (Ok(bridge), Ok(user)) = (net.bridge(), UserId::parse(mxid)) else {
        return card;
    };
    let name = bridge
        .homeserver()
        .get_displayname(&user)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| mxid.to_owned());
    card.append_child(stanza::text_element("FN", ns::VCARD, &name));
    card.append_child(stanza::text_element("NICKNAME", ns::VCARD, &name));
    card.append_child(stanza::text_element(
        "URL",
        ns::VCARD,
        &format!("https://matrix.to/#/{mxid}"),
    ));
    if let Some(photo) = avatar(net, &user).await {
        card.append_child(photo);
    }
    card
}

async fn avatar(net: &XmppNetwork, user: &UserId) -> Option<Element> {
    let bridge = net.bridge().ok()?;
    let mxc = bridge
        .homeserver()
        .get_avatar_url(user)
        .await
        .ok()
        .flatten()?;
    let (bytes, mime) = bridge.homeserver().download(&mxc).await.ok()?;
    if bytes.is_empty() || bytes.len() > 256 * 1024 {
        return None;
    }
    let mut photo = stanza::empty("PHOTO", ns::VCARD, &[]);
    photo.append_child(stanza::text_element(
        "TYPE",
        ns::VCARD,
        mime.as_deref().unwrap_or("image/png"),
    ));
    photo.append_child(stanza::text_element(
        "BINVAL",
        ns::VCARD,
        &base64::engine::general_purpose::STANDARD.encode(bytes),
    ));
    Some(photo)
}

/// Presence to a Matrix user's JID: subscriptions are granted, probes are
/// answered, so XMPP users can keep Matrix users in their roster.
pub fn handle_user_presence(net: &XmppNetwork, presence: &Element, from: &Jid) {
    let to = presence.attr("to").unwrap_or_default();
    let bare_to = to.split('/').next().unwrap_or_default();
    let requester = from.to_bare();
    match presence.attr("type") {
        Some("subscribe") => {
            net.send(stanza::new(
                "presence",
                bare_to,
                requester.as_str(),
                Some("subscribed"),
                None,
            ));
            net.send(stanza::new(
                "presence",
                &format!("{bare_to}/{}", net.addresses().resource),
                requester.as_str(),
                None,
                None,
            ));
        }
        Some("probe") => {
            net.send(stanza::new(
                "presence",
                &format!("{bare_to}/{}", net.addresses().resource),
                requester.as_str(),
                None,
                None,
            ));
        }
        _ => {}
    }
}
