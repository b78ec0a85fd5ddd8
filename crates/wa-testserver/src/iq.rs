//! Answers to the client's IQs. Whatever is not known yet gets an error
//! reply at once, and a warning in the log: an unanswered IQ would stall
//! the client for a minute.

use crate::conn::{result, Session};
use crate::devices::take_upload;
use crate::{pairing, ConnectionId, DeviceAddress, State, SERVER};
use anyhow::Result;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;
use wacore_binary::Jid;

/// How many one-time pre-keys the server says it holds: enough that the
/// client does not upload more at every login.
const PREKEYS_ON_SERVER: &str = "50";

pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(|value| value.as_str().into_owned())
}

fn has_child(node: &Node, tag: &str) -> bool {
    node.get_optional_child(tag).is_some()
}

pub fn answer(
    state: &State,
    connection: ConnectionId,
    session: &Session,
    iq: &Node,
) -> Result<Vec<Node>> {
    let id = attr(iq, "id").unwrap_or_default();
    let kind = attr(iq, "type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        // A reply to an IQ of ours; only pairing's needs an answer.
        if has_child(iq, "pair-device-sign") {
            return pairing::countersigned(state, connection, session, iq);
        }
        return Ok(Vec::new());
    }
    let xmlns = attr(iq, "xmlns").unwrap_or_default();
    if let (Session::Pairing { noise_key }, true) =
        (session, has_child(iq, "link_code_companion_reg"))
    {
        return crate::pair_code::answer(state, connection, *noise_key, iq);
    }
    Ok(match xmlns.as_str() {
        // The client goes active after login, then waits for the end of
        // the offline queue: there is none to deliver.
        "passive" => {
            let queued = match session {
                Session::LoggedIn { phone, device } => {
                    state.registry().unacknowledged(phone, *device)
                }
                Session::Pairing { .. } => Vec::new(),
            };
            let count = queued.len().to_string();
            let mut answers = vec![result(&id, Vec::new())];
            answers.extend(queued);
            answers.push(
                NodeBuilder::new("ib")
                    .attr("from", SERVER)
                    .children([NodeBuilder::new("offline").attr("count", count).build()])
                    .build(),
            );
            answers
        }
        "w:p" => vec![result(&id, Vec::new())],
        "encrypt" if has_child(iq, "count") => vec![result(
            &id,
            vec![NodeBuilder::new("count")
                .attr("value", PREKEYS_ON_SERVER)
                .build()],
        )],
        "encrypt" if has_child(iq, "key") => {
            vec![result(&id, vec![state.registry().prekey_bundles(iq)])]
        }
        "encrypt" if has_child(iq, "registration") => {
            if let Session::LoggedIn { phone, device } = session {
                let mut registry = state.registry();
                if let Some(companion) = registry
                    .accounts
                    .get_mut(phone)
                    .and_then(|account| account.devices.get_mut(device))
                {
                    companion.bundle = take_upload(companion.bundle.take(), iq);
                }
                if let Err(err) = registry.share_keys_with_new_companion(phone, *device) {
                    tracing::warn!("WhatsApp test server: the phone could not share keys: {err:#}");
                }
            }
            vec![result(&id, Vec::new())]
        }
        "encrypt" if has_child(iq, "digest") => {
            let digest = match session {
                Session::LoggedIn { phone, device } => state.registry().digest(phone, *device),
                Session::Pairing { .. } => None,
            };
            match digest {
                Some(digest) => vec![result(&id, vec![digest])],
                None => vec![error(&id, "404", "item-not-found")],
            }
        }
        "encrypt" if kind == "set" => vec![result(&id, Vec::new())],
        // No experiments, nobody blocked, everything visible to all.
        "abt" | "w" if has_child(iq, "props") => vec![result(
            &id,
            vec![NodeBuilder::new("props")
                .attr("protocol", "1")
                .attr("hash", "loopback")
                .build()],
        )],
        "blocklist" => vec![result(&id, vec![NodeBuilder::new("list").build()])],
        "privacy" if kind == "get" => vec![result(&id, vec![privacy()])],
        "privacy" => vec![result(&id, Vec::new())],
        "w:profile:picture" => crate::pictures::answer(state, session, iq),
        "w:m" => vec![result(
            &id,
            vec![NodeBuilder::new("media_conn")
                .attr("auth", state.media.auth.clone())
                .attr("ttl", "3600")
                .attr("auth_ttl", "3600")
                .attr("max_buckets", "1")
                .children([NodeBuilder::new("host")
                    .attr("hostname", state.media.addr.to_string())
                    .build()])
                .build()],
        )],
        "w:g2" => return crate::groups::answer(state, session, iq),
        // A companion logs itself out: the phone forgets it.
        "md" => {
            let removed = iq
                .children()
                .and_then(|c| c.iter().find(|c| c.tag == "remove-companion-device"))
                .and_then(|c| attr(c, "jid"))
                .and_then(|jid| jid.parse::<Jid>().ok());
            match removed {
                Some(jid) => {
                    let mut registry = state.registry();
                    let device = u32::from(jid.device);
                    if let Some(account) = registry.accounts.get_mut(jid.user.as_str()) {
                        account.devices.remove(&device);
                    }
                    registry
                        .pending
                        .remove(&DeviceAddress::new(&jid.user, device));
                    vec![result(&id, Vec::new())]
                }
                None => vec![error(&id, "400", "bad-request")],
            }
        }
        "usync" => vec![result(&id, vec![state.registry().usync(iq)])],
        "w:sync:app:state" => vec![result(&id, vec![empty_collections(iq)])],
        _ => {
            tracing::warn!(
                "WhatsApp test server: no answer for {}'s IQ of type {kind:?} in {xmlns:?}: {:?}",
                session.who(),
                iq.children()
                    .map(|c| c.iter().map(|c| c.tag.to_string()).collect::<Vec<_>>())
            );
            vec![error(&id, "501", "feature-not-implemented")]
        }
    })
}

fn privacy() -> Node {
    let categories = [
        "last",
        "online",
        "profile",
        "status",
        "readreceipts",
        "groupadd",
    ]
    .map(|name| {
        NodeBuilder::new("category")
            .attr("name", name)
            .attr("value", "all")
            .build()
    });
    NodeBuilder::new("privacy").children(categories).build()
}

/// Every collection the client asks for, with nothing in it yet.
fn empty_collections(iq: &Node) -> Node {
    let asked = iq
        .get_optional_child("sync")
        .map(|sync| sync.get_children_by_tag("collection").collect::<Vec<_>>())
        .unwrap_or_default();
    let collections = asked.into_iter().filter_map(|collection| {
        let name = attr(collection, "name")?;
        let version = attr(collection, "version").unwrap_or_else(|| "0".to_owned());
        Some(
            NodeBuilder::new("collection")
                .attr("name", name)
                .attr("version", version)
                .build(),
        )
    });
    NodeBuilder::new("sync").children(collections).build()
}

pub fn error(id: &str, code: &str, text: &str) -> Node {
    NodeBuilder::new("iq")
        .attr("from", SERVER)
        .attr("type", "error")
        .attr("id", id.to_owned())
        .children([NodeBuilder::new("error")
            .attr("code", code.to_owned())
            .attr("text", text.to_owned())
            .build()])
        .build()
}
