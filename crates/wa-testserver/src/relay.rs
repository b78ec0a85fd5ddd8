//! Messages and receipts between real clients. The server never decrypts:
//! each `<to>` in a message's `<participants>` carries one device's
//! ciphertext, and the server hands it to that device, acknowledging the
//! sender once it holds the message. A device gets a stanza again at each
//! login until it acknowledges it.

use crate::conn::Session;
use crate::devices::ack;
use crate::iq::attr;
use crate::{ConnectionId, DeviceAddress, Outgoing, Registry, State};
use anyhow::{anyhow, bail, Context, Result};
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;
use wacore_binary::{Jid, Server};

/// A stanza a device has not acknowledged yet.
pub struct Pending {
    id: String,
    node: Node,
}

impl Registry {
    /// Hands a stanza to a device if it is online, and keeps it until the
    /// device acknowledges it.
    pub fn deliver(&mut self, phone: &str, device: u32, node: Node) {
        let id = attr(&node, "id").unwrap_or_default();
        self.send_live(phone, device, &node);
        self.pending
            .entry(DeviceAddress::new(phone, device))
            .or_default()
            .push(Pending { id, node });
    }

    /// The ack for a message now, later, or never, as the faults say.
    fn ack_message(&self, connection: ConnectionId, ack: Node) -> Vec<Node> {
        if self.withhold_acks {
            return Vec::new();
        }
        if self.ack_delay.is_zero() {
            return vec![ack];
        }
        if let Some(sender) = self.connections.get(&connection).cloned() {
            let delay = self.ack_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = sender.send(Outgoing::Node(ack));
            });
        }
        Vec::new()
    }

    /// Hands a stanza to a device if it is online; otherwise it is gone,
    /// as typing notices are.
    pub fn send_live(&self, phone: &str, device: u32, node: &Node) {
        for (connection, who) in &self.logged_in {
            if who.is(phone, device) {
                if let Some(sender) = self.connections.get(connection) {
                    let _ = sender.send(Outgoing::Node(node.clone()));
                }
            }
        }
    }

    /// The device took the stanza `id`.
    pub fn acknowledged(&mut self, phone: &str, device: u32, id: &str) {
        if let Some(pending) = self.pending.get_mut(&DeviceAddress::new(phone, device)) {
            pending.retain(|p| p.id != id);
        }
    }

    /// What a device has still to acknowledge, oldest first.
    pub fn unacknowledged(&self, phone: &str, device: u32) -> Vec<Node> {
        self.pending
            .get(&DeviceAddress::new(phone, device))
            .map(|pending| pending.iter().map(|p| p.node.clone()).collect())
            .unwrap_or_default()
    }

    /// A device of an account as a JID in the namespace `like` uses: by
    /// phone number, or by LID.
    fn device_jid(&self, phone: &str, device: u32, like: &Jid) -> Jid {
        let device = u16::try_from(device).unwrap_or(0);
        match (like.server, self.accounts.get(phone)) {
            (Server::Lid, Some(account)) => Jid::lid(account.lid.as_str()).with_device(device),
            _ => Jid::pn(phone).with_device(device),
        }
    }
}

fn logged_in(session: &Session) -> Result<(&str, u32)> {
    match session {
        Session::LoggedIn { phone, device } => Ok((phone, *device)),
        Session::Pairing { .. } => bail!("a stanza before login"),
    }
}

fn jid_attr(node: &Node, key: &str) -> Result<Jid> {
    attr(node, key)
        .ok_or_else(|| anyhow!("a <{}> without {key}", node.tag))?
        .parse()
        .map_err(|err| anyhow!("a <{}> with a bad {key}: {err:?}", node.tag))
}

/// A `<message>` from a client: one copy per `<to>` device, each with that
/// device's ciphertext and the message's other children.
pub fn message(
    state: &State,
    connection: ConnectionId,
    session: &Session,
    node: &Node,
) -> Result<Vec<Node>> {
    let (phone, device) = logged_in(session)?;
    let to = jid_attr(node, "to")?;
    let id = attr(node, "id").context("a message without an id")?;
    let mut registry = state.registry();
    let from = registry.device_jid(phone, device, &to);
    let push_name = registry
        .accounts
        .get(phone)
        .map(|a| a.push_name.clone())
        .unwrap_or_default();
    let shared: Vec<Node> = node
        .children()
        .unwrap_or_default()
        .iter()
        .filter(|child| child.tag != "participants")
        .cloned()
        .collect();
    let targets: Vec<(Jid, Vec<Node>)> = match node.get_optional_child("participants") {
        Some(participants) => participants
            .get_children_by_tag("to")
            .map(|target| {
                let jid = jid_attr(target, "jid")?;
                let mut children = target.children().unwrap_or_default().to_vec();
                children.extend(shared.iter().cloned());
                Ok((jid, children))
            })
            .collect::<Result<_>>()?,
        None => vec![(to.clone(), shared.clone())],
    };
    // What every copy says of the message, whoever gets it.
    let header = |from: &Jid| {
        NodeBuilder::new("message")
            .attr("from", from.clone())
            .attr("id", id.clone())
            .attr("t", wacore::time::now_secs().to_string())
            .attr(
                "type",
                attr(node, "type").unwrap_or_else(|| "text".to_owned()),
            )
            .attr("notify", push_name.clone())
    };
    if to.server == Server::Group {
        let group = to.user.to_string();
        let mut own: std::collections::HashMap<DeviceAddress, Vec<Node>> = targets
            .into_iter()
            .filter_map(|(jid, children)| {
                let phone = registry.phone_of(&jid)?;
                Some((DeviceAddress::new(&phone, u32::from(jid.device)), children))
            })
            .collect();
        for member in registry.group_devices(&group, &DeviceAddress::new(phone, device)) {
            let children = own
                .remove(&member)
                .map(|mine| {
                    // Its own `<enc>` (the sender key), then the shared one.
                    let mut all: Vec<Node> = mine.into_iter().filter(|c| c.tag == "enc").collect();
                    all.extend(shared.iter().cloned());
                    all
                })
                .unwrap_or_else(|| shared.clone());
            let copy = header(&to)
                .attr("participant", from.clone())
                .children(children)
                .build();
            registry.deliver(&member.phone, member.device, copy);
        }
        return Ok(registry.ack_message(connection, ack("message", &id, &to.to_string())));
    }
    for (target, children) in targets {
        let Some(target_phone) = registry.phone_of(&target) else {
            tracing::warn!("WhatsApp test server: a message to unknown {target}");
            continue;
        };
        if target.device == 0
            && registry
                .accounts
                .get(&target_phone)
                .is_some_and(|a| a.answers)
        {
            if let Err(err) = registry.phone_reads(&target_phone, &from, &children) {
                tracing::warn!(
                    "WhatsApp test server: {target_phone}'s phone could not read: {err:#}"
                );
            }
            continue;
        }
        let mut copy = header(&from);
        if target_phone == phone {
            // One of the sender's own devices: it learns which chat it was.
            copy = copy.attr("recipient", to.clone());
        }
        registry.deliver(
            &target_phone,
            u32::from(target.device),
            copy.children(children).build(),
        );
    }
    Ok(registry.ack_message(connection, ack("message", &id, &to.to_string())))
}

/// A `<receipt>` from a client, passed to the devices of the user it is for.
pub fn receipt(state: &State, session: &Session, node: &Node) -> Result<Vec<Node>> {
    let (phone, device) = logged_in(session)?;
    let to = jid_attr(node, "to")?;
    let id = attr(node, "id").context("a receipt without an id")?;
    let mut registry = state.registry();
    let from = registry.device_jid(phone, device, &to);
    if let Some(target_phone) = registry.phone_of(&to) {
        let devices = registry.devices_of(&target_phone);
        let mut relayed = NodeBuilder::new("receipt")
            .attr("from", from)
            .attr("id", id.clone())
            .attr("t", wacore::time::now_secs().to_string());
        if let Some(kind) = attr(node, "type") {
            relayed = relayed.attr("type", kind);
        }
        let relayed = relayed
            .children(node.children().unwrap_or_default().to_vec())
            .build();
        for target_device in devices {
            registry.deliver(&target_phone, target_device, relayed.clone());
        }
    }
    let mut answer = NodeBuilder::new("ack")
        .attr("class", "receipt")
        .attr("id", id)
        .attr("from", to.to_string());
    if let Some(kind) = attr(node, "type") {
        answer = answer.attr("type", kind);
    }
    Ok(vec![answer.build()])
}

/// Typing and recording: passed live to the devices of the chat's other
/// side (every member, for a group), never queued.
pub fn chatstate(state: &State, session: &Session, node: &Node) -> Result<Vec<Node>> {
    let (phone, device) = logged_in(session)?;
    let to = jid_attr(node, "to")?;
    let registry = state.registry();
    let from = registry.device_jid(phone, device, &to).to_non_ad();
    let children = node.children().unwrap_or_default().to_vec();
    let (relayed, targets) = if to.server == Server::Group {
        let relayed = NodeBuilder::new("chatstate")
            .attr("from", to.clone())
            .attr("participant", from)
            .children(children)
            .build();
        (
            relayed,
            registry.group_devices(&to.user, &DeviceAddress::new(phone, device)),
        )
    } else {
        let relayed = NodeBuilder::new("chatstate")
            .attr("from", from)
            .children(children)
            .build();
        let targets = registry
            .phone_of(&to)
            .and_then(|target| {
                let devices = registry.accounts.get(&target)?.devices.keys();
                Some(devices.map(|d| DeviceAddress::new(&target, *d)).collect())
            })
            .unwrap_or_default();
        (relayed, targets)
    };
    for target in targets {
        registry.send_live(&target.phone, target.device, &relayed);
    }
    Ok(Vec::new())
}

/// An `<ack>` from a client for a stanza the server delivered.
pub fn acked(state: &State, session: &Session, node: &Node) -> Result<Vec<Node>> {
    // A pairing client acks what it was sent too; nothing is pending for it.
    if let (Session::LoggedIn { phone, device }, Some(id)) = (session, attr(node, "id")) {
        state.registry().acknowledged(phone, *device, &id);
    }
    Ok(Vec::new())
}
