//! Who has which devices, and their keys: the usync answers, the pre-key
//! uploads companions make and the bundles other clients fetch from them.

use crate::iq::attr;
use crate::Registry;
use anyhow::{anyhow, Result};
use std::collections::{HashMap, VecDeque};
use wacore::libsignal::protocol::PreKeyBundle;
use wacore::prekeys::PreKeyUtils;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::{Node, NodeContent};
use wacore_binary::{Jid, Server};
use waproto::buffa::Message;
use waproto::whatsapp as wa;

/// What a companion uploaded for others to start Signal sessions with.
pub struct Bundle {
    registration: Vec<u8>,
    identity: Vec<u8>,
    signed: Node,
    one_time: VecDeque<Node>,
}

fn child_bytes(node: &Node, tag: &str) -> Option<Vec<u8>> {
    match &node.get_optional_child(tag)?.content {
        Some(NodeContent::Bytes(bytes)) => Some(bytes.clone()),
        _ => None,
    }
}

impl Bundle {
    /// The registration ID, the key type, the identity and the signed
    /// pre-key, which both a bundle and a digest begin with.
    fn keys(&self) -> Vec<Node> {
        vec![
            NodeBuilder::new("registration")
                .bytes(self.registration.clone())
                .build(),
            NodeBuilder::new("type").bytes(vec![5]).build(),
            NodeBuilder::new("identity")
                .bytes(self.identity.clone())
                .build(),
            self.signed.clone(),
        ]
    }
}

/// Takes a pre-key upload (`<registration>`, `<identity>`, `<list>` of
/// one-time keys, `<skey>`), adding to what the device uploaded before.
pub fn take_upload(previous: Option<Bundle>, iq: &Node) -> Option<Bundle> {
    let registration = child_bytes(iq, "registration")?;
    let identity = child_bytes(iq, "identity")?;
    let signed = iq.get_optional_child("skey")?.clone();
    let mut one_time = previous
        .filter(|old| old.identity == identity)
        .map(|old| old.one_time)
        .unwrap_or_default();
    if let Some(list) = iq.get_optional_child("list") {
        one_time.extend(list.get_children_by_tag("key").cloned());
    }
    Some(Bundle {
        registration,
        identity,
        signed,
        one_time,
    })
}

impl Registry {
    /// The linked companions of an account, in order.
    pub fn devices_of(&self, phone: &str) -> Vec<u32> {
        let mut devices: Vec<u32> = self
            .accounts
            .get(phone)
            .map(|account| account.devices.keys().copied().collect())
            .unwrap_or_default();
        devices.sort_unstable();
        devices
    }

    /// The account a user part names, by phone number or by LID.
    pub fn phone_of(&self, jid: &Jid) -> Option<String> {
        match jid.server {
            Server::Lid => self
                .accounts
                .iter()
                .find(|(_, account)| account.lid == jid.user.as_str())
                .map(|(phone, _)| phone.clone()),
            _ => self
                .accounts
                .contains_key(jid.user.as_str())
                .then(|| jid.user.to_string()),
        }
    }

    /// A bundle for one device, using up one of its one-time keys.
    fn bundle_for(&mut self, jid: &Jid) -> Node {
        let device = u32::from(jid.device);
        if device == 0 {
            let phone_bundle = self
                .phone_of(jid)
                .and_then(|phone| self.accounts.get_mut(&phone))
                .filter(|account| account.answers)
                .and_then(|account| account.phone.bundle_node(jid).ok());
            if let Some(bundle) = phone_bundle {
                return bundle;
            }
        }
        let companion = self
            .phone_of(jid)
            .and_then(|phone| self.accounts.get_mut(&phone))
            .and_then(|account| account.devices.get_mut(&device));
        let Some((companion, bundle)) =
            companion.and_then(|c| c.bundle.take().map(|bundle| (c, bundle)))
        else {
            return NodeBuilder::new("user")
                .attr("jid", jid.clone())
                .children([NodeBuilder::new("error")
                    .attr("code", "404")
                    .attr("text", "item-not-found")
                    .build()])
                .build();
        };
        let mut bundle = bundle;
        let mut children = bundle.keys();
        children.extend(bundle.one_time.pop_front());
        children.push(
            NodeBuilder::new("device-identity")
                .bytes(companion.identity.clone())
                .build(),
        );
        companion.bundle = Some(bundle);
        NodeBuilder::new("user")
            .attr("jid", jid.clone())
            .attr("type", "result")
            .children(children)
            .build()
    }

    /// A device's bundle, parsed as a Signal peer reads it, using up one of
    /// its one-time keys.
    pub fn bundle_of(&mut self, jid: &Jid) -> Result<PreKeyBundle> {
        let response = NodeBuilder::new("iq")
            .children([NodeBuilder::new("list")
                .children([self.bundle_for(jid)])
                .build()])
            .build();
        let bundles =
            PreKeyUtils::parse_prekeys_response(&response.as_node_ref(), &HashMap::new())?.bundles;
        bundles
            .into_values()
            .next()
            .ok_or_else(|| anyhow!("{jid} has no usable bundle"))
    }

    /// What the server holds of a device's keys, and their hash, so that
    /// the client can check its upload landed.
    pub fn digest(&self, phone: &str, device: u32) -> Option<Node> {
        let bundle = self
            .accounts
            .get(phone)?
            .devices
            .get(&device)?
            .bundle
            .as_ref()?;
        let signed_value = child_bytes(&bundle.signed, "value")?;
        let signature = child_bytes(&bundle.signed, "signature")?;
        let one_time: Vec<Vec<u8>> = bundle
            .one_time
            .iter()
            .filter_map(|key| child_bytes(key, "value"))
            .collect();
        let one_time: Vec<&[u8]> = one_time.iter().map(Vec::as_slice).collect();
        let hash = wacore::prekeys::compute_key_bundle_digest(
            &bundle.identity,
            &signed_value,
            &signature,
            &one_time,
        );
        let ids = bundle
            .one_time
            .iter()
            .filter_map(|key| key.get_optional_child("id").cloned());
        Some(
            NodeBuilder::new("digest")
                .children(bundle.keys().into_iter().chain([
                    NodeBuilder::new("list").children(ids).build(),
                    NodeBuilder::new("hash").bytes(hash).build(),
                ]))
                .build(),
        )
    }

    /// Answers a pre-key fetch: `<key><user jid=…/>…</key>`.
    pub fn prekey_bundles(&mut self, iq: &Node) -> Node {
        let users: Vec<Jid> = iq
            .get_optional_child("key")
            .map(|key| {
                key.get_children_by_tag("user")
                    .filter_map(|user| attr(user, "jid")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let bundles = users
            .iter()
            .map(|jid| self.bundle_for(jid))
            .collect::<Vec<_>>();
        NodeBuilder::new("list").children(bundles).build()
    }

    /// The devices of an account as usync reports them: the phone, then
    /// each companion, with the account's signed list of key indexes.
    fn devices_node(&self, phone: &str) -> Node {
        let Some(account) = self.accounts.get(phone) else {
            return NodeBuilder::new("devices")
                .children([NodeBuilder::new("device-list").build()])
                .build();
        };
        let ids = self.devices_of(phone);
        // The phone (device 0) only where it reads messages: a scripted
        // contact. Otherwise companions only, so that nobody encrypts to a
        // phone that would not read it.
        let phone_device = account
            .answers
            .then(|| NodeBuilder::new("device").attr("id", "0").build());
        let list: Vec<Node> = phone_device
            .into_iter()
            .chain(ids.iter().map(|id| {
                NodeBuilder::new("device")
                    .attr("id", id.to_string())
                    .attr("key-index", id.to_string())
                    .build()
            }))
            .collect();
        let key_indexes = wa::ADVKeyIndexList {
            raw_id: Some(account.raw_id),
            timestamp: Some(account.created.unsigned_abs()),
            current_index: Some(ids.last().copied().unwrap_or(0)),
            valid_indexes: ids.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        let signed = wa::ADVSignedKeyIndexList {
            details: Some(key_indexes),
            ..Default::default()
        }
        .encode_to_vec();
        NodeBuilder::new("devices")
            .children([
                NodeBuilder::new("device-list").children(list).build(),
                NodeBuilder::new("key-index-list")
                    .attr("ts", account.created.to_string())
                    .bytes(signed)
                    .build(),
            ])
            .build()
    }

    /// Answers a usync query: for each user asked about (by JID, or by
    /// `+number` for a contact check), what each queried protocol says.
    pub fn usync(&self, iq: &Node) -> Node {
        let usync = iq.get_optional_child("usync");
        let protocols: Vec<String> = usync
            .and_then(|u| u.get_optional_child("query"))
            .and_then(|q| q.children())
            .map(|c| c.iter().map(|p| p.tag.to_string()).collect())
            .unwrap_or_default();
        let asked: Vec<&Node> = usync
            .and_then(|u| u.get_optional_child("list"))
            .map(|l| l.get_children_by_tag("user").collect())
            .unwrap_or_default();
        let users = asked.into_iter().map(|user| {
            let by_jid: Option<Jid> = attr(user, "jid").and_then(|jid| jid.parse().ok());
            let by_number = user
                .get_optional_child("contact")
                .and_then(|c| match &c.content {
                    Some(NodeContent::String(s)) => Some(s.to_string()),
                    Some(NodeContent::Bytes(b)) => String::from_utf8(b.clone()).ok(),
                    _ => None,
                })
                .map(|n| n.trim_start_matches('+').to_owned());
            let phone = match (&by_jid, &by_number) {
                (Some(jid), _) => self.phone_of(jid),
                (None, Some(number)) => self.accounts.contains_key(number).then(|| number.clone()),
                _ => None,
            };
            let jid = by_jid
                .clone()
                .or_else(|| phone.as_ref().map(|p| Jid::pn(p.as_str())))
                .or_else(|| by_number.as_ref().map(|n| Jid::pn(n.as_str())));
            let mut children = Vec::new();
            for protocol in &protocols {
                match (protocol.as_str(), &phone) {
                    ("contact", Some(_)) => {
                        children.push(NodeBuilder::new("contact").attr("type", "in").build())
                    }
                    ("contact", None) => {
                        children.push(NodeBuilder::new("contact").attr("type", "out").build())
                    }
                    ("devices", Some(phone)) => children.push(self.devices_node(phone)),
                    ("lid", Some(phone)) => {
                        let lid = &self.accounts[phone].lid;
                        children.push(
                            NodeBuilder::new("lid")
                                .attr("val", format!("{lid}@lid"))
                                .build(),
                        )
                    }
                    _ => {}
                }
            }
            let mut node = NodeBuilder::new("user");
            if let Some(jid) = jid {
                node = node.attr("jid", jid);
            }
            node.children(children).build()
        });
        NodeBuilder::new("usync")
            .children([NodeBuilder::new("list").children(users).build()])
            .build()
    }
}

/// The `<ack>` the server sends for a stanza it took.
pub fn ack(class: &str, id: &str, from: &str) -> Node {
    NodeBuilder::new("ack")
        .attr("class", class.to_owned())
        .attr("id", id.to_owned())
        .attr("from", from.to_owned())
        .build()
}
