//! XMPP→bridge: stanzas handled per chat. Each chat (a MUC, or one contact's
//! bare JID) has its own task, so a media fetch or a homeserver wait in one
//! never holds up the others, while a chat's stanzas keep their order. A
//! stanza gets at most [`STANZA_TIMEOUT`]; one that takes longer is given up
//! on, and its chat moves on.

use crate::component::Inbound;
use crate::network::{abbreviate, XmppNetwork};
use causeway_core::health::guard;
use std::time::Duration;
use tokio::sync::mpsc;
use xmpp_parsers::minidom::Element;

/// The longest one stanza may take, media fetches and homeserver retries
/// included.
const STANZA_TIMEOUT: Duration = Duration::from_secs(60);

/// Each chat's queue, by [`chat_key`].
pub(crate) type Chats = dashmap::DashMap<String, mpsc::UnboundedSender<Element>>;

impl XmppNetwork {
    /// Reads the connection's stanzas and hands each to its chat's task.
    pub(crate) async fn run_inbound(self, mut inbound: mpsc::UnboundedReceiver<Inbound>) {
        while let Some(event) = inbound.recv().await {
            match event {
                Inbound::Online => tracing::info!("XMPP component online"),
                Inbound::Stanza(stanza) => self.to_chat(stanza),
            }
        }
    }

    fn to_chat(&self, stanza: Element) {
        let queue = self
            .inner
            .chats
            .entry(chat_key(&stanza))
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_chat(self.clone(), rx));
                tx
            })
            .clone();
        if queue.send(stanza).is_err() {
            tracing::error!("a chat's task stopped; a stanza was dropped");
        }
    }
}

async fn run_chat(net: XmppNetwork, mut queue: mpsc::UnboundedReceiver<Element>) {
    while let Some(stanza) = queue.recv().await {
        let routed =
            tokio::time::timeout(STANZA_TIMEOUT, guard("xmpp inbound", net.route(&stanza)));
        match routed.await {
            Err(_) => tracing::warn!(
                stanza = %abbreviate(&stanza),
                "a stanza took longer than {STANZA_TIMEOUT:?}; given up on"
            ),
            Ok(Some(Err(err))) => {
                tracing::warn!(stanza = %abbreviate(&stanza), "cannot handle a stanza: {err:#}")
            }
            Ok(_) => {}
        }
    }
}

/// Which chat a stanza belongs to: the bare JID it comes from, which is the
/// room for everything a MUC relays.
fn chat_key(stanza: &Element) -> String {
    let from = stanza.attr("from").unwrap_or_default();
    let bare = from.split_once('/').map_or(from, |(bare, _)| bare);
    bare.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_occupants_share_the_rooms_chat_and_contacts_have_their_own() {
        let stanza = |from: &str| -> Element {
            format!("<message xmlns='jabber:component:accept' from='{from}'/>")
                .parse()
                .expect("test XML")
        };
        assert_eq!(chat_key(&stanza("Room@muc.test/bob")), "room@muc.test");
        assert_eq!(chat_key(&stanza("room@muc.test/carol")), "room@muc.test");
        assert_eq!(chat_key(&stanza("bob@xmpp.test/phone")), "bob@xmpp.test");
    }
}
