//! Presence: a client says it is available or not, and subscribes to its
//! contacts'. Subscribers hear of each change live; a new subscription is
//! answered with the contact's current state. Nothing is queued: presence
//! missed while offline is gone, as on the real network.

use crate::conn::Session;
use crate::iq::attr;
use crate::{DeviceAddress, Registry, State};
use anyhow::Result;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;
use wacore_binary::Jid;

/// What an account last said of itself.
#[derive(Clone, Copy, Default)]
pub struct Seen {
    available: bool,
    /// When it went unavailable, Unix seconds.
    last: i64,
}

impl Registry {
    fn presence_of(&self, phone: &str) -> Node {
        let seen = self.seen.get(phone).copied().unwrap_or_default();
        let node = NodeBuilder::new("presence").attr("from", Jid::pn(phone));
        if seen.available {
            node.build()
        } else {
            node.attr("type", "unavailable")
                .attr("last", seen.last.to_string())
                .build()
        }
    }
}

/// A `<presence>` from a client: `available`/`unavailable` for itself, or
/// `subscribe` to another account.
pub fn presence(state: &State, session: &Session, node: &Node) -> Result<Vec<Node>> {
    let Session::LoggedIn { phone, device } = session else {
        return Ok(Vec::new());
    };
    let mut registry = state.registry();
    match attr(node, "type").as_deref() {
        Some("subscribe") => {
            let Some(target) = attr(node, "to")
                .and_then(|to| to.parse::<Jid>().ok())
                .and_then(|to| registry.phone_of(&to))
            else {
                return Ok(Vec::new());
            };
            registry
                .subscribers
                .entry(target.clone())
                .or_default()
                .insert(DeviceAddress::new(phone, *device));
            Ok(vec![registry.presence_of(&target)])
        }
        Some("unsubscribe") => {
            if let Some(target) = attr(node, "to")
                .and_then(|to| to.parse::<Jid>().ok())
                .and_then(|to| registry.phone_of(&to))
            {
                if let Some(subscribers) = registry.subscribers.get_mut(&target) {
                    subscribers.remove(&DeviceAddress::new(phone, *device));
                }
            }
            Ok(Vec::new())
        }
        kind => {
            let available = kind != Some("unavailable");
            registry.seen.insert(
                phone.clone(),
                Seen {
                    available,
                    last: wacore::time::now_secs(),
                },
            );
            let update = registry.presence_of(phone);
            let subscribers: Vec<DeviceAddress> = registry
                .subscribers
                .get(phone.as_str())
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            for subscriber in subscribers {
                registry.send_live(&subscriber.phone, subscriber.device, &update);
            }
            Ok(Vec::new())
        }
    }
}
