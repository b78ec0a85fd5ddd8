//! Message moderation (XEP-0425): a MUC moderator retracting someone else's
//! message. The room itself announces it, from its bare JID, naming the
//! message by the stanza-id it gave it. It is the one retraction the core
//! lets through for a message its sender did not remove, and only in a
//! group room.
//!
//! Prosody's mod_muc_moderation speaks the first version of the XEP
//! (`urn:xmpp:fasten:0` with `message-moderate:0`); newer servers put a
//! `moderated` element inside a `message-retract:1` retraction. Both are read.

use crate::network::XmppNetwork;
use crate::refs;
use anyhow::Result;
use causeway_core::ids::PortalKey;
use causeway_core::remote::RemoteEvent;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

const FASTEN: &str = "urn:xmpp:fasten:0";
const MODERATE_0: &str = "urn:xmpp:message-moderate:0";
const MODERATE_1: &str = "urn:xmpp:message-moderate:1";
const RETRACT_0: &str = "urn:xmpp:message-retract:0";
const RETRACT_1: &str = "urn:xmpp:message-retract:1";

/// A moderator's retraction, as the room announced it.
#[derive(Debug, PartialEq, Eq)]
pub struct Moderated {
    /// The stanza-id the room gave the retracted message.
    pub stanza_id: String,
    /// The moderator's nick in the room, when the room names them.
    pub by_nick: Option<String>,
    pub reason: Option<String>,
}

/// Reads a moderation announcement from a message the room sent itself.
pub fn read(message: &Element) -> Option<Moderated> {
    let nick_of = |moderated: &Element| {
        moderated
            .attr("by")
            .and_then(|by| by.split_once('/'))
            .map(|(_, nick)| nick.to_owned())
    };
    let reason_in = |parent: &Element, ns: &str| {
        parent
            .get_child("reason", ns)
            .map(Element::text)
            .filter(|r| !r.is_empty())
    };
    if let Some(retract) = message.get_child("retract", RETRACT_1) {
        let moderated = retract.get_child("moderated", MODERATE_1)?;
        return Some(Moderated {
            stanza_id: retract.attr("id")?.to_owned(),
            by_nick: nick_of(moderated),
            reason: reason_in(retract, RETRACT_1),
        });
    }
    let apply_to = message.get_child("apply-to", FASTEN)?;
    let moderated = apply_to.get_child("moderated", MODERATE_0)?;
    moderated.get_child("retract", RETRACT_0)?;
    Some(Moderated {
        stanza_id: apply_to.attr("id")?.to_owned(),
        by_nick: nick_of(moderated),
        reason: reason_in(moderated, MODERATE_0),
    })
}

/// Removes the moderated message from the portal, as the moderator's ghost.
pub(super) async fn apply(
    net: &XmppNetwork,
    portal: &PortalKey,
    room: &BareJid,
    moderated: Moderated,
) -> Result<()> {
    let bridge = net.bridge()?;
    let target = refs::resolve(
        bridge,
        &net.inner.in_flight,
        Some(room.as_str()),
        room.as_str(),
        &moderated.stanza_id,
    )
    .await?;
    let moderator = match &moderated.by_nick {
        Some(nick) => {
            let known = net
                .inner
                .mucs
                .get(room.as_str())
                .and_then(|s| s.occupants.get(nick).cloned());
            match known {
                Some(ghost) => Some(ghost),
                None => {
                    let occupant = Jid::new(&format!("{room}/{nick}"))?;
                    Some(super::occupant_ghost(net, &occupant, None, nick))
                }
            }
        }
        None => None,
    };
    bridge
        .queue_remote(
            portal,
            RemoteEvent::ModeratedRemove {
                target,
                moderator,
                reason: moderated.reason,
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().expect("test XML")
    }

    #[test]
    fn the_first_version_through_fasten_is_read() {
        let message = parse("<message xmlns='jabber:component:accept' from='r@muc' type='groupchat'><apply-to xmlns='urn:xmpp:fasten:0' id='sid1'><moderated xmlns='urn:xmpp:message-moderate:0' by='r@muc/mod'><retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderated></apply-to></message>");
        assert_eq!(
            read(&message),
            Some(Moderated {
                stanza_id: "sid1".into(),
                by_nick: Some("mod".into()),
                reason: Some("spam".into()),
            })
        );
    }

    #[test]
    fn the_retract_1_form_is_read() {
        let message = parse("<message xmlns='jabber:component:accept' from='r@muc' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1' id='sid2'><moderated xmlns='urn:xmpp:message-moderate:1' by='r@muc/mod'/><reason>rude</reason></retract></message>");
        let moderated = read(&message).expect("a moderation");
        assert_eq!(moderated.stanza_id, "sid2");
        assert_eq!(moderated.reason.as_deref(), Some("rude"));
    }

    #[test]
    fn a_plain_retraction_or_a_fastening_without_retract_is_no_moderation() {
        let own = parse("<message xmlns='jabber:component:accept'><retract xmlns='urn:xmpp:message-retract:1' id='x'/></message>");
        assert_eq!(read(&own), None);
        let other = parse("<message xmlns='jabber:component:accept'><apply-to xmlns='urn:xmpp:fasten:0' id='x'><moderated xmlns='urn:xmpp:message-moderate:0' by='r@muc/m'/></apply-to></message>");
        assert_eq!(read(&other), None);
    }
}
