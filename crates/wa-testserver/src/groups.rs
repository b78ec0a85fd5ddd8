//! Groups: the `w:g2` IQs (create, query, subject, description,
//! participants, leave), the `w:gp2` notifications members get when a group
//! changes, and the fan-out of group messages. A group message carries one
//! `skmsg` for everybody, and a `pkmsg`/`msg` per device that still needs
//! the sender's key; each member device gets the first plus its own.

use crate::conn::{result, Session};
use crate::iq::{attr, error};
use crate::{DeviceAddress, Registry, State};
use anyhow::Result;
use std::collections::BTreeMap;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::{Node, NodeContent};
use wacore_binary::{Jid, Server};

/// A member's rank.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    Admin,
    Creator,
}

pub struct Group {
    subject: String,
    subject_owner: String,
    subject_time: i64,
    description: Option<(String, String)>,
    creator: String,
    created: i64,
    /// Members by phone number.
    members: BTreeMap<String, Role>,
}

fn user_jid(phone: &str) -> Jid {
    Jid::pn(phone)
}

impl Group {
    /// The `<group>` node clients read a group's state from.
    fn node(&self, id: &str) -> Node {
        let mut children: Vec<Node> = self
            .members
            .iter()
            .map(|(phone, role)| {
                let node = NodeBuilder::new("participant").attr("jid", user_jid(phone));
                match role {
                    Role::Creator => node.attr("type", "superadmin"),
                    Role::Admin => node.attr("type", "admin"),
                    Role::Member => node,
                }
                .build()
            })
            .collect();
        if let Some((description_id, body)) = &self.description {
            children.push(
                NodeBuilder::new("description")
                    .attr("id", description_id.clone())
                    .children([NodeBuilder::new("body")
                        .string_content(body.as_str())
                        .build()])
                    .build(),
            );
        }
        NodeBuilder::new("group")
            .attr("id", id.to_owned())
            .attr("subject", self.subject.clone())
            .attr("s_o", user_jid(&self.subject_owner))
            .attr("s_t", self.subject_time.to_string())
            .attr("creator", user_jid(&self.creator))
            .attr("creation", self.created.to_string())
            .attr("addressing_mode", "pn")
            .attr("size", self.members.len().to_string())
            .children(children)
            .build()
    }
}

fn participants(action: &Node) -> Vec<String> {
    action
        .get_children_by_tag("participant")
        .filter_map(|p| attr(p, "jid")?.parse::<Jid>().ok())
        .map(|jid| jid.user.to_string())
        .collect()
}

fn body_text(node: &Node) -> Option<String> {
    match &node.get_optional_child("body")?.content {
        Some(NodeContent::String(s)) => Some(s.to_string()),
        Some(NodeContent::Bytes(b)) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

fn text_content(node: &Node) -> Option<String> {
    match &node.content {
        Some(NodeContent::String(s)) => Some(s.to_string()),
        Some(NodeContent::Bytes(b)) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

impl Registry {
    /// Tells every member device (and `also`, who just left or was
    /// removed) what changed in a group.
    fn notify_group(&mut self, id: &str, actor: &str, change: Node, also: &[String]) {
        let Some(group) = self.groups.get(id) else {
            return;
        };
        let mut told: Vec<String> = group.members.keys().cloned().collect();
        told.extend(also.iter().cloned());
        let notification = NodeBuilder::new("notification")
            .attr("type", "w:gp2")
            .attr("from", Jid::group(id))
            .attr("participant", user_jid(actor))
            .attr("id", format!("{:08X}", rand10::random::<u32>()))
            .attr("t", wacore::time::now_secs().to_string())
            .children([change])
            .build();
        for phone in told {
            for device in self.devices_of(&phone) {
                self.deliver(&phone, device, notification.clone());
            }
        }
    }

    /// The member devices of a group, other than `except`.
    pub fn group_devices(&self, id: &str, except: &DeviceAddress) -> Vec<DeviceAddress> {
        let Some(group) = self.groups.get(id) else {
            return Vec::new();
        };
        group
            .members
            .keys()
            .flat_map(|phone| {
                self.accounts
                    .get(phone)
                    .map(|a| {
                        a.devices
                            .keys()
                            .map(|d| DeviceAddress::new(phone, *d))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .filter(|device| device != except)
            .collect()
    }

    fn create_group(&mut self, creator: &str, create: &Node) -> Node {
        let id = format!("1203630{:011}", rand10::random::<u32>());
        let now = wacore::time::now_secs();
        let mut members = BTreeMap::from([(creator.to_owned(), Role::Creator)]);
        for phone in participants(create) {
            if self.accounts.contains_key(&phone) {
                members.entry(phone).or_insert(Role::Member);
            }
        }
        let group = Group {
            subject: attr(create, "subject").unwrap_or_default(),
            subject_owner: creator.to_owned(),
            subject_time: now,
            description: None,
            creator: creator.to_owned(),
            created: now,
            members,
        };
        let node = group.node(&id);
        self.groups.insert(id.clone(), group);
        self.notify_group(
            &id,
            creator,
            NodeBuilder::new("create").children([node.clone()]).build(),
            &[],
        );
        node
    }
}

/// Answers a `w:g2` IQ from `phone`.
pub fn answer(state: &State, session: &Session, iq: &Node) -> Result<Vec<Node>> {
    let id = attr(iq, "id").unwrap_or_default();
    let Session::LoggedIn { phone, .. } = session else {
        return Ok(vec![error(&id, "401", "not-authorized")]);
    };
    let to: Jid = attr(iq, "to")
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    let mut registry = state.registry();
    let Some(action) = iq.children().and_then(|c| c.first()) else {
        return Ok(vec![error(&id, "400", "bad-request")]);
    };

    if to.server == Server::Group && !to.user.is_empty() {
        let group_id = to.user.to_string();
        let known: std::collections::HashSet<String> = registry.accounts.keys().cloned().collect();
        let Some(group) = registry.groups.get_mut(&group_id) else {
            return Ok(vec![error(&id, "404", "item-not-found")]);
        };
        let Some(role) = group.members.get(phone.as_str()).copied() else {
            return Ok(vec![error(&id, "403", "forbidden")]);
        };
        let is_admin = role != Role::Member;
        let (answer, change, removed) = match action.tag.as_ref() {
            "query" => return Ok(vec![result(&id, vec![group.node(&group_id)])]),
            "subject" => {
                group.subject = text_content(action).unwrap_or_default();
                group.subject_owner = phone.clone();
                group.subject_time = wacore::time::now_secs();
                let change = NodeBuilder::new("subject")
                    .attr("subject", group.subject.clone())
                    .attr("s_o", user_jid(phone))
                    .attr("s_t", group.subject_time.to_string())
                    .build();
                (Vec::new(), change, Vec::new())
            }
            "description" => {
                let description_id = attr(action, "id").unwrap_or_default();
                group.description = body_text(action).map(|body| (description_id.clone(), body));
                (Vec::new(), action.clone(), Vec::new())
            }
            "add" | "remove" | "promote" | "demote" if !is_admin => {
                return Ok(vec![error(&id, "403", "forbidden")]);
            }
            tag @ ("add" | "remove" | "promote" | "demote") => {
                let mut done = Vec::new();
                let mut removed = Vec::new();
                for member in participants(action) {
                    match tag {
                        "add" if known.contains(&member) => {
                            group.members.entry(member.clone()).or_insert(Role::Member);
                        }
                        "add" => continue,
                        "remove" => {
                            if group.members.remove(&member).is_some() {
                                removed.push(member.clone());
                            }
                        }
                        "promote" => {
                            if let Some(role @ Role::Member) = group.members.get_mut(&member) {
                                *role = Role::Admin;
                            }
                        }
                        _ => {
                            if let Some(role @ Role::Admin) = group.members.get_mut(&member) {
                                *role = Role::Member;
                            }
                        }
                    }
                    done.push(
                        NodeBuilder::new("participant")
                            .attr("jid", user_jid(&member))
                            .build(),
                    );
                }
                let node = NodeBuilder::new_dynamic(tag.to_owned())
                    .children(done)
                    .build();
                (vec![node.clone()], node, removed)
            }
            other => {
                tracing::warn!("WhatsApp test server: no answer for the group action <{other}>");
                return Ok(vec![error(&id, "501", "feature-not-implemented")]);
            }
        };
        registry.notify_group(&group_id, phone, change, &removed);
        return Ok(vec![result(&id, answer)]);
    }

    Ok(match action.tag.as_ref() {
        "create" => vec![result(&id, vec![registry.create_group(phone, action)])],
        "participating" => {
            let groups: Vec<Node> = registry
                .groups
                .iter()
                .filter(|(_, g)| g.members.contains_key(phone.as_str()))
                .map(|(gid, g)| g.node(gid))
                .collect();
            vec![result(
                &id,
                vec![NodeBuilder::new("groups").children(groups).build()],
            )]
        }
        "leave" => {
            let left: Vec<String> = action
                .get_children_by_tag("group")
                .filter_map(|g| attr(g, "id"))
                .map(|gid| gid.split('@').next().unwrap_or_default().to_owned())
                .collect();
            for group_id in left {
                if let Some(group) = registry.groups.get_mut(&group_id) {
                    if group.members.remove(phone.as_str()).is_some() {
                        let change = NodeBuilder::new("remove")
                            .children([NodeBuilder::new("participant")
                                .attr("jid", user_jid(phone))
                                .build()])
                            .build();
                        registry.notify_group(
                            &group_id,
                            phone,
                            change,
                            std::slice::from_ref(phone),
                        );
                    }
                }
            }
            vec![result(&id, Vec::new())]
        }
        other => {
            tracing::warn!("WhatsApp test server: no answer for the group IQ <{other}>");
            vec![error(&id, "501", "feature-not-implemented")]
        }
    })
}

impl crate::WaTestServer {
    /// Creates a group as `creator` did, with `members` added; returns its
    /// JID. Members' devices hear of it as of any group created.
    pub fn create_group(&self, creator: &str, subject: &str, members: &[&str]) -> String {
        let participants = members.iter().map(|phone| {
            NodeBuilder::new("participant")
                .attr("jid", user_jid(phone))
                .build()
        });
        let create = NodeBuilder::new("create")
            .attr("subject", subject.to_owned())
            .children(participants)
            .build();
        let group = self.state.registry().create_group(creator, &create);
        format!("{}@g.us", attr(&group, "id").unwrap_or_default())
    }
}
