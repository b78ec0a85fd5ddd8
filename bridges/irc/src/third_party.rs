//! Third-party lookups: the homeserver's way of finding IRC channels and
//! users from a client's "join a network" screens.

use crate::network::IrcNetwork;
use crate::params::is_channel;
use anyhow::Result;
use async_trait::async_trait;
use causeway_core::ids::RemoteUserId;
use causeway_core::network::ThirdPartyHandling;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[async_trait]
impl ThirdPartyHandling for IrcNetwork {
    async fn protocol(&self) -> Result<Value> {
        let instances: Vec<Value> = self
            .inner
            .config
            .networks
            .iter()
            .map(|(id, net)| json!({ "network_id": id, "desc": net.name, "fields": { "domain": net.address } }))
            .collect();
        Ok(json!({
            "user_fields": ["domain", "nick"],
            "location_fields": ["domain", "channel"],
            "icon": "mxc://localhost/irc",
            "field_types": {
                "domain": { "regexp": "[a-z0-9.-]+", "placeholder": "irc.example.net" },
                "channel": { "regexp": "[#&][^\\s,]+", "placeholder": "#channel" },
                "nick": { "regexp": "[^\\s#&][^\\s]*", "placeholder": "nick" },
            },
            "instances": instances,
        }))
    }

    async fn locations(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>> {
        let (Some(network), Some(channel)) = (self.network_by_field(fields), fields.get("channel"))
        else {
            return Ok(vec![]);
        };
        if !is_channel(channel) {
            return Ok(vec![]);
        }
        let bridge = self.bridge()?;
        let alias_id = format!("{network}_{}", crate::nick::fold_for_id(channel));
        let alias = format!(
            "#{}:{}",
            bridge.alias_localpart(&alias_id),
            bridge.config().homeserver.domain
        );
        Ok(vec![
            json!({ "alias": alias, "protocol": "irc", "fields": { "domain": self.network(&network)?.address, "channel": channel } }),
        ])
    }

    async fn users(&self, fields: &BTreeMap<String, String>) -> Result<Vec<Value>> {
        let (Some(network), Some(nick)) = (self.network_by_field(fields), fields.get("nick"))
        else {
            return Ok(vec![]);
        };
        if !crate::nick::is_valid(nick) {
            return Ok(vec![]);
        }
        let mxid = self
            .bridge()?
            .ghost_mxid(&RemoteUserId(format!("{network}/{nick}")))?;
        Ok(vec![
            json!({ "userid": mxid, "protocol": "irc", "fields": { "domain": self.network(&network)?.address, "nick": nick } }),
        ])
    }
}

impl IrcNetwork {
    /// The network a lookup names by its `domain` field (address or ID).
    fn network_by_field(&self, fields: &BTreeMap<String, String>) -> Option<String> {
        let domain = fields.get("domain")?;
        self.inner
            .config
            .networks
            .iter()
            .find(|(id, net)| *id == domain || net.address == *domain)
            .map(|(id, _)| id.clone())
    }
}
