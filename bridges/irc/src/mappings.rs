//! Channels bridged by the config (`mappings`), and channel keys: the
//! bridge remembers a channel's key, from the config or from `!join`, so
//! every later join (a user's connection, a reconnect) gets in.

use crate::config::ChannelMapping;
use crate::connection::Connection;
use crate::network::{channel_portal, IrcNetwork};
use anyhow::{bail, Result};
use causeway_core::network::PortalInfo;

impl IrcNetwork {
    /// The key a channel needs, if the bridge knows one.
    pub(crate) fn channel_key(&self, network: &str, channel: &str) -> Option<String> {
        let folded = self.fold(network, channel);
        if let Some(key) = self.state(network)?.channel_key(&folded) {
            return Some(key);
        }
        self.network(network)
            .ok()?
            .mappings
            .iter()
            .find_map(|(name, mapping)| {
                (self.fold(network, name) == self.fold(network, channel))
                    .then(|| mapping.key.clone())
                    .flatten()
            })
    }

    pub(crate) fn remember_key(&self, network: &str, channel: &str, key: &str) {
        let folded = self.fold(network, channel);
        if let Some(state) = self.state(network) {
            state.remember_key(folded, key);
        }
    }

    /// Joins a channel on `conn`, with its key when it has one.
    pub(crate) async fn join_channel(
        &self,
        conn: &Connection,
        network: &str,
        channel: &str,
    ) -> Result<()> {
        conn.join(channel, self.channel_key(network, channel).as_deref())
            .await
    }

    /// Bridges each channel the config maps to a room, if not yet bridged.
    /// Runs once the relay bot is connected; a mapping that cannot be made
    /// is logged and the others still go ahead.
    pub(crate) async fn apply_mappings(&self, network: &str) {
        let Ok(net) = self.network(network) else {
            return;
        };
        for (channel, mapping) in &net.mappings {
            if let Err(err) = self.apply_mapping(network, channel, mapping).await {
                tracing::error!(network, channel, "cannot bridge a mapped channel: {err:#}");
            }
        }
    }

    async fn apply_mapping(
        &self,
        network: &str,
        channel: &str,
        mapping: &ChannelMapping,
    ) -> Result<()> {
        let bridge = self.bridge()?;
        let [room] = mapping.room_ids.as_slice() else {
            bail!("a channel is bridged to one room here: list one room ID");
        };
        let key = channel_portal(network, channel);
        match bridge
            .store()
            .get_portal(&key)
            .await?
            .and_then(|p| p.room_id)
        {
            Some(existing) if existing == *room => {}
            Some(existing) => {
                bail!("{channel} is already bridged to {existing}: unlink it there to use {room}")
            }
            None => {
                // The room first: from the moment the bot is in the channel,
                // what is said there has somewhere to go.
                let info = PortalInfo {
                    key,
                    name: Some(channel.to_owned()),
                    metadata: serde_json::json!({ "network": network }),
                    ..Default::default()
                };
                bridge.plumb_portal(&info, room).await?;
                let bot = self.bot(network)?;
                self.join_channel(&bot, network, channel).await?;
                self.sync_members_when_bridged(network, channel);
                self.join_room_members(network, channel, room);
                tracing::info!(network, channel, room, "bridged a mapped channel");
            }
        }
        Ok(())
    }
}
