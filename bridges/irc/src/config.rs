//! The `network` section of the IRC bridge's config.

use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
pub struct IrcConfig {
    /// Networks by ID. The ID appears in aliases and ghost IDs
    /// (`#_<id>_#chan`, `@_<id>_<nick>`): lower-case letters and digits only.
    pub networks: BTreeMap<String, NetworkConfig>,
    /// Connections opened at once, per network: after a restart or a
    /// netsplit, hundreds of users reconnect, and a storm gets the bridge
    /// banned. Per network, so that one that accepts connections but never
    /// answers cannot hold up the others.
    #[serde(default = "default_concurrent_connects")]
    pub concurrent_connects: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NetworkConfig {
    /// Human name, such as "Libera Chat".
    pub name: String,
    pub address: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: bool,
    /// Server password (PASS), if the network needs one.
    #[serde(default)]
    pub password: Option<String>,
    /// The relay bot's nick, which carries IRC to Matrix for every channel.
    pub bot_nick: String,
    /// The relay bot's services password: SASL PLAIN when the server offers
    /// it, NickServ IDENTIFY otherwise.
    #[serde(default)]
    pub bot_password: Option<String>,
    /// Log in with SASL when the server offers it; off sends stored
    /// passwords to NickServ instead.
    #[serde(default = "yes")]
    pub sasl: bool,
    /// How to read lines that are not valid UTF-8.
    #[serde(default = "default_fallback_encoding")]
    pub fallback_encoding: String,
    /// How Matrix users appear on IRC; `{displayname}` is filled in.
    #[serde(default = "default_nick_template")]
    pub nick_template: String,
    #[serde(default = "default_max_nick")]
    pub max_nick_length: usize,
    /// Most connections the bridge opens to this network (the relay bot
    /// and one per Matrix user); ask the network before raising it.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long leaves from a netsplit wait for the user to come back.
    #[serde(default = "default_netsplit_grace")]
    pub netsplit_grace_seconds: u64,
    /// Channels bridged to existing rooms by the config, by channel name.
    #[serde(default)]
    pub mappings: BTreeMap<String, ChannelMapping>,
    /// Which channels users may open on their own, with `!join` or an
    /// alias; mappings and plumbing are not limited by it.
    #[serde(default)]
    pub dynamic_channels: causeway_core::dynamic_rooms::DynamicRooms,
    /// Power levels for channel status modes, by mode letter.
    #[serde(default = "default_mode_power_levels")]
    pub mode_power_levels: BTreeMap<String, i64>,
    /// Most lines a Matrix message becomes on IRC.
    #[serde(default = "default_line_limit")]
    pub line_limit: usize,
    /// Seconds without a word on this network before a Matrix user's
    /// connection closes; 0 keeps connections open.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// How long before that the user is warned.
    #[serde(default = "default_idle_warning")]
    pub idle_warning_seconds: u64,
    /// Flood control: lines sent at once, then lines a second.
    #[serde(default)]
    pub flood: FloodConfig,
}

/// A channel bridged to a room by the config, like a permanent `!plumb`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChannelMapping {
    /// The room (one) that the channel is bridged to.
    pub room_ids: Vec<String>,
    /// The channel key, if the channel has one (+k).
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct FloodConfig {
    pub burst: u32,
    pub per_second: f64,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            burst: 5,
            per_second: 2.0,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_fallback_encoding() -> String {
    "latin-1".into()
}
fn default_idle_timeout() -> u64 {
    7 * 24 * 3600
}
fn default_idle_warning() -> u64 {
    24 * 3600
}
fn default_concurrent_connects() -> usize {
    4
}
fn default_max_connections() -> usize {
    1000
}
fn default_mode_power_levels() -> BTreeMap<String, i64> {
    BTreeMap::from([("o".into(), 50), ("v".into(), 1)])
}
fn default_netsplit_grace() -> u64 {
    600
}
fn default_port() -> u16 {
    6667
}
fn default_nick_template() -> String {
    "{displayname}[m]".into()
}
fn default_max_nick() -> usize {
    30
}
fn default_line_limit() -> usize {
    3
}

impl IrcConfig {
    pub fn validate(&self) -> Result<()> {
        if self.concurrent_connects == 0 {
            bail!("network.concurrent_connects must be at least 1");
        }
        if self.networks.is_empty() {
            bail!("network.networks is empty: configure at least one IRC network");
        }
        for (id, net) in &self.networks {
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                bail!("IRC network ID {id:?} must be lower-case letters and digits");
            }
            if !net.nick_template.contains("{displayname}") {
                bail!("network.networks.{id}.nick_template must contain {{displayname}}");
            }
            crate::transport::encoding(&net.fallback_encoding)
                .map_err(|e| anyhow::anyhow!("network.networks.{id}.fallback_encoding: {e}"))?;
            for (channel, mapping) in &net.mappings {
                if !crate::params::is_channel(channel) {
                    bail!("network.networks.{id}.mappings: {channel:?} is not a channel name (start it with #)");
                }
                if mapping.room_ids.len() != 1 {
                    bail!("network.networks.{id}.mappings.{channel}.room_ids must list exactly one room: Causeway bridges a channel to one room");
                }
            }
            if net.flood.burst == 0 || net.flood.per_second <= 0.0 {
                bail!("network.networks.{id}.flood needs a burst of at least 1 and a positive per_second");
            }
        }
        Ok(())
    }
}

pub const EXAMPLE: &str = r##"  # Connections opened at once, per network. After a restart many users
  # reconnect; a few at a time keeps that from looking like an attack, and
  # a network that never answers holds up only itself.
  concurrent_connects: 4
  # IRC networks, by ID. The ID appears in room aliases (#_<id>_#channel)
  # and in the IDs of IRC users' ghosts (@_<id>_<nick>): lower-case letters
  # and digits only.
  networks:
    local:
      # Shown to users in the bridge's messages.
      name: Local IRC
      address: 127.0.0.1
      port: 6667
      # Connect with TLS (rustls, with the system's roots).
      tls: false
      # Server password (PASS), if the network needs one.
      password: null
      # The relay bot's nick. It joins every bridged channel and carries IRC
      # messages to Matrix.
      bot_nick: causeway
      # The relay bot's services password, if its nick is registered: sent
      # with SASL PLAIN when the server offers it, else to NickServ.
      bot_password: null
      # Log in with SASL PLAIN when the server offers it. Users store their
      # password with !storepass; with SASL off it goes to NickServ instead.
      sasl: true
      # IRC has no fixed encoding: lines that are not valid UTF-8 are read
      # in this one (latin-1, windows-1251, iso-8859-15, ...).
      fallback_encoding: latin-1
      # How Matrix users appear on IRC; {displayname} is filled in, with
      # characters IRC refuses stripped.
      nick_template: "{displayname}[m]"
      # Most connections to this network: the relay bot plus one per Matrix
      # user. Many networks limit connections per host; ask before raising.
      max_connections: 1000
      # The server's NICKLEN; longer nicks are cut to fit.
      max_nick_length: 30
      # After a netsplit most users return within minutes: their leaves wait
      # this long, so rooms are not flooded with leaves and joins.
      netsplit_grace_seconds: 600
      # Channels bridged to existing rooms, as if plumbed. The bot must be
      # invited to each room and have power level 50 there.
      mappings: {}
      #  "#causeway":
      #    room_ids: ["!roomid:example.com"]
      #    key: null        # the channel key, for +k channels
      # Channels users may open themselves, with !join or by joining
      # #_<id>_#channel. Patterns are regexes matching whole channel names,
      # ignoring case; deny wins, and a non-empty allow list admits only
      # what it matches. enabled: false leaves only mappings and plumbing.
      dynamic_channels:
        enabled: true
        allow: []
        deny: []
      # Power levels in the room for channel modes: operators can kick and
      # ban, voiced users can speak in moderated channels. Add h (halfop) or
      # others the network uses.
      mode_power_levels:
        o: 50
        v: 1
      # Most IRC lines one Matrix message becomes.
      line_limit: 3
      # A Matrix user silent on this network for this many seconds is
      # disconnected (0: never), after a warning this many seconds before.
      # Users reset the clock by speaking, or with !active.
      idle_timeout_seconds: 604800
      idle_warning_seconds: 86400
      # Flood control per connection: lines sent at once, then lines a second.
      flood:
        burst: 5
        per_second: 2
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<IrcConfig> {
        let section: IrcConfig = causeway_core::config::Config::parse_network_section(yaml)?;
        section.validate()?;
        Ok(section)
    }

    #[test]
    fn the_example_config_is_valid() {
        let config = parse(EXAMPLE).unwrap();
        let local = &config.networks["local"];
        assert_eq!(
            (local.port, local.line_limit, local.flood.burst),
            (6667, 3, 5)
        );
    }

    #[test]
    fn network_ids_must_be_simple() {
        let err = parse(&EXAMPLE.replace("    local:", "    Local_Net:"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lower-case letters and digits"), "{err}");
    }
}
