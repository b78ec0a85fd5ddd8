//! Matrix→XMPP: where a portal's events go, and as which stanzas.
//!
//! A MUC portal sends as the Matrix user's puppet into the room, a DM as
//! the Matrix user to the XMPP user, and a gateway room as the room's MUC
//! JID to every XMPP occupant. Stanza IDs are the Matrix event IDs, so a
//! retried event is recognisable downstream.

use crate::addressing;
use crate::direct;
use crate::format;
use crate::network::XmppNetwork;
use crate::refs;
use crate::stanza::{self, ns, NS};
use anyhow::{bail, Context, Result};
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::store::{MessageRow, PortalRow};
use ruma::UserId;
use std::collections::BTreeSet;
use xmpp_parsers::minidom::Element;

/// One recipient of a Matrix event.
pub struct Destination {
    pub from: String,
    pub to: String,
    /// `groupchat` or `chat`.
    pub kind: &'static str,
    /// Set when the bridge itself is the room (a gateway room): each message
    /// then carries the room's `<stanza-id by=…>`, the Matrix event ID, as
    /// a MUC stamps what it relays (XEP-0359), for corrections, replies and
    /// archives.
    pub stanza_id_by: Option<String>,
}

impl Destination {
    fn in_room(&self) -> bool {
        self.kind == "groupchat"
    }
}

/// Where a Matrix user's event in a portal goes.
pub async fn destinations(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
) -> Result<Vec<Destination>> {
    if let Some(room) = addressing::muc_of_portal(&portal.key) {
        let bridge = net.bridge()?;
        if !net
            .inner
            .mucs
            .get(room.as_str())
            .is_some_and(|s| s.puppets.contains_key(sender))
        {
            let user = UserId::parse(sender)?;
            let name = bridge
                .homeserver()
                .get_displayname(&user)
                .await
                .ok()
                .flatten();
            crate::muc::ensure_puppet(net, &room, sender, name.as_deref(), true);
        }
        return as_user(net, sender, room.to_string(), "groupchat");
    }
    if let Some((xmpp, _)) = direct::ends(portal) {
        return as_user(net, sender, xmpp, "chat");
    }
    crate::gateway::destinations(net, portal, sender).await
}

/// One destination, sent as the Matrix user's own JID.
fn as_user(
    net: &XmppNetwork,
    sender: &str,
    to: String,
    kind: &'static str,
) -> Result<Vec<Destination>> {
    let from = net
        .addresses()
        .matrix_user_full_jid(sender)
        .context("this Matrix ID has no JID")?;
    Ok(vec![Destination {
        from,
        to,
        kind,
        stanza_id_by: None,
    }])
}

/// Sends one stanza per destination, built from the same payloads.
fn send_all(
    net: &XmppNetwork,
    destinations: &[Destination],
    id: Option<&str>,
    payloads: &[Element],
) {
    for message in stanzas(destinations, id, payloads) {
        net.send(message);
    }
}

/// Like [`send_all`], and returns once every stanza is written to the
/// server's stream (across reconnects). The Matrix message counts as
/// delivered later, once the server confirms taking them
/// (`Component::taken`).
async fn send_all_confirmed(
    net: &XmppNetwork,
    destinations: &[Destination],
    id: Option<&str>,
    payloads: &[Element],
) -> Result<()> {
    let component = net.component()?;
    let written: Vec<_> = stanzas(destinations, id, payloads)
        .map(|message| component.send_confirmed(message))
        .collect();
    for done in written {
        done.await.map_err(|_| {
            anyhow::anyhow!("the XMPP connection stopped before the message went out")
        })?;
    }
    Ok(())
}

fn stanzas<'a>(
    destinations: &'a [Destination],
    id: Option<&'a str>,
    payloads: &'a [Element],
) -> impl Iterator<Item = Element> + 'a {
    destinations.iter().map(move |dest| {
        let mut message = stanza::new("message", &dest.from, &dest.to, Some(dest.kind), id);
        for payload in payloads {
            message.append_child(payload.clone());
        }
        if let (Some(by), Some(id)) = (&dest.stanza_id_by, id) {
            message.append_child(stanza::empty(
                "stanza-id",
                ns::SID,
                &[("id", id), ("by", by)],
            ));
        }
        message
    })
}

/// A Matrix body without the reply fallback older clients put before it.
fn strip_matrix_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    match body.find("\n\n") {
        Some(end) => &body[end + 2..],
        None => body,
    }
}

pub async fn message(
    net: &XmppNetwork,
    portal: &PortalRow,
    message: &MatrixMessage,
) -> Result<RemoteMessageId> {
    let bridge = net.bridge()?;
    // A relayed message, already prefixed with its sender's name, goes out
    // as the bridge bot's occupant: the sender gets no JID of their own.
    let sender = match message.relayed {
        true if direct::ends(portal).is_some() => {
            bail!("a private chat is its owner's own: relayed messages cannot go there")
        }
        true => bridge.bot().as_str(),
        false => message.meta.sender.as_str(),
    };
    let mut body = match &message.reply_to {
        Some(_) => strip_matrix_reply_fallback(&message.body).to_owned(),
        None => message.body.clone(),
    };
    let mut payloads = Vec::new();
    let mut html = message.html.clone();
    match message.msgtype.as_str() {
        "m.emote" => {
            body = format!("/me {body}");
            html = html.map(|h| format!("/me {h}"));
        }
        "m.image" | "m.file" | "m.video" | "m.audio" => {
            let mxc = message
                .url
                .as_deref()
                .context("a file message without a URL")?;
            let Some(link) = crate::media::public_link(bridge, mxc, &message.body) else {
                bail!("files cannot reach XMPP: public media links are off (bridge.public_media)");
            };
            body = link.clone();
            html = None;
            let mut oob = stanza::empty("x", ns::OOB, &[]);
            oob.append_child(stanza::text_element("url", ns::OOB, &link));
            oob.append_child(stanza::text_element("desc", ns::OOB, &message.body));
            payloads.push(oob);
        }
        _ => {}
    }
    if body.len() > net.config().max_message_bytes {
        bail!(
            "this message is {} bytes long; XMPP users get at most {} (network.max_message_bytes)",
            body.len(),
            net.config().max_message_bytes
        );
    }
    let dests = destinations(net, portal, sender).await?;
    let in_room = dests.first().is_some_and(Destination::in_room);
    payloads.insert(0, format::body_element(&body));
    if let Some(xhtml) = html.as_deref().and_then(format::xhtml_im) {
        payloads.push(xhtml);
    }
    if let Some(target) = &message.reply_to {
        payloads.push(reply_element(net, target, in_room).await?);
    }
    payloads.push(stanza::empty(
        "origin-id",
        ns::SID,
        &[("id", &message.meta.event_id)],
    ));
    payloads.push(stanza::empty("markable", ns::MARKERS, &[]));
    refs::sent(&net.inner.in_flight, &message.meta.event_id);
    send_all_confirmed(net, &dests, Some(&message.meta.event_id), &payloads).await?;
    Ok(refs::message_id(sender, &message.meta.event_id))
}

async fn reply_element(net: &XmppNetwork, target: &MessageRow, in_room: bool) -> Result<Element> {
    let bridge = net.bridge()?;
    let id = refs::reference(bridge, &target.remote_id, in_room).await?;
    let mut reply = stanza::empty("reply", ns::REPLY, &[("id", &id)]);
    let author = refs::sender_of(&target.remote_id);
    if !author.is_empty() && !in_room {
        let to = match author.starts_with('@') {
            true => net
                .addresses()
                .matrix_user_jid(author)
                .map(|j| j.to_string()),
            false => Some(author.to_owned()),
        };
        if let Some(to) = to {
            stanza::set_attr(&mut reply, "to", &to);
        }
    }
    Ok(reply)
}

pub async fn edit(
    net: &XmppNetwork,
    portal: &PortalRow,
    edit: &causeway_core::matrix_event::MatrixEdit,
) -> Result<()> {
    let dests = destinations(net, portal, &edit.meta.sender).await?;
    let payloads = [
        format::body_element(&edit.new_body),
        stanza::empty(
            "replace",
            ns::CORRECT,
            &[("id", refs::own_id(&edit.target.remote_id))],
        ),
        stanza::empty("origin-id", ns::SID, &[("id", &edit.meta.event_id)]),
    ];
    send_all(net, &dests, Some(&edit.meta.event_id), &payloads);
    Ok(())
}

pub async fn retract(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
    target: &RemoteMessageId,
    event_id: &str,
) -> Result<()> {
    let dests = destinations(net, portal, sender).await?;
    let in_room = dests.first().is_some_and(Destination::in_room);
    let id = refs::reference(net.bridge()?, target, in_room).await?;
    let payloads = [
        stanza::empty("retract", ns::RETRACT, &[("id", &id)]),
        stanza::empty("fallback", ns::FALLBACK, &[("for", ns::RETRACT)]),
        format::body_element(
            "This person retracted a message; your client does not show retractions.",
        ),
        stanza::empty("store", ns::HINTS, &[]),
    ];
    send_all(net, &dests, Some(event_id), &payloads);
    Ok(())
}

/// Sends the sender's whole reaction set on a message, as XEP-0444 wants,
/// after adding or removing one.
pub async fn reactions(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
    target: &RemoteMessageId,
    change: ReactionChange<'_>,
) -> Result<()> {
    let bridge = net.bridge()?;
    let key = format!("xmpp:react:{}:{sender}", target.as_str());
    let mut set: BTreeSet<String> = bridge
        .store()
        .kv_get(&key)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    match change {
        ReactionChange::Add(emoji) => set.insert(emoji.to_owned()),
        ReactionChange::Remove(emoji) => set.remove(emoji),
    };
    bridge
        .store()
        .kv_set(&key, &serde_json::json!(set).to_string())
        .await?;
    let dests = destinations(net, portal, sender).await?;
    let in_room = dests.first().is_some_and(Destination::in_room);
    let id = refs::reference(bridge, target, in_room).await?;
    let mut reactions = stanza::empty("reactions", ns::REACTIONS, &[("id", &id)]);
    for emoji in &set {
        reactions.append_child(stanza::text_element("reaction", ns::REACTIONS, emoji));
    }
    send_all(
        net,
        &dests,
        None,
        &[reactions, stanza::empty("store", ns::HINTS, &[])],
    );
    Ok(())
}

pub enum ReactionChange<'a> {
    Add(&'a str),
    Remove(&'a str),
}

/// A chat state (XEP-0085) from a Matrix user.
pub async fn chat_state(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
    state: &str,
) -> Result<()> {
    let dests = destinations(net, portal, sender).await?;
    send_all(
        net,
        &dests,
        None,
        &[
            stanza::empty(state, ns::CHAT_STATES, &[]),
            stanza::empty("no-store", ns::HINTS, &[]),
        ],
    );
    Ok(())
}

/// A read receipt, as a displayed marker (XEP-0333).
pub async fn displayed(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
    target: &MessageRow,
) -> Result<()> {
    // Only messages from the XMPP side are worth marking.
    if refs::sender_of(&target.remote_id).starts_with('@') {
        return Ok(());
    }
    let dests = destinations(net, portal, sender).await?;
    let in_room = dests.first().is_some_and(Destination::in_room);
    let id = refs::reference(net.bridge()?, &target.remote_id, in_room).await?;
    send_all(
        net,
        &dests,
        None,
        &[
            stanza::empty("displayed", ns::MARKERS, &[("id", &id)]),
            stanza::empty("store", ns::HINTS, &[]),
        ],
    );
    Ok(())
}

/// A topic change in a MUC portal becomes the room's subject.
pub async fn subject(
    net: &XmppNetwork,
    portal: &PortalRow,
    sender: &str,
    topic: &str,
) -> Result<()> {
    if addressing::muc_of_portal(&portal.key).is_none() {
        return Ok(());
    }
    let dests = destinations(net, portal, sender).await?;
    send_all(
        net,
        &dests,
        None,
        &[stanza::text_element("subject", NS, topic)],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_reply_fallbacks_are_stripped() {
        assert_eq!(
            strip_matrix_reply_fallback("> <@a:hs> hi\n> there\n\nanswer"),
            "answer"
        );
        assert_eq!(strip_matrix_reply_fallback("plain"), "plain");
    }
}
