//! The `network` section of the XMPP bridge's config.

use anyhow::{bail, Result};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct XmppConfig {
    /// The component's domain, as the XMPP server knows it
    /// (Prosody: `Component "matrix.xmpp.example.com"`). Matrix users and
    /// the gateway's rooms live under it.
    pub component_jid: String,
    /// The component's shared secret (`component_secret` in Prosody).
    pub component_secret: String,
    /// Where the server's component port (XEP-0114) listens.
    #[serde(default = "default_host")]
    pub server_host: String,
    #[serde(default = "default_server_port")]
    pub server_port: u16,
    /// MUC services whose rooms Matrix users may join through an alias.
    pub muc_domains: Vec<String>,
    /// Which MUCs (bare JIDs) users may open on their own, through an alias.
    #[serde(default)]
    pub dynamic_mucs: causeway_core::dynamic_rooms::DynamicRooms,
    /// A Matrix user's JID localpart; `{localpart}` and `{server}` are
    /// filled in from their MXID.
    #[serde(default = "default_user_template")]
    pub user_template: String,
    /// The resource of every Matrix user's full JID.
    #[serde(default = "default_resource")]
    pub resource: String,
    /// Serve public Matrix rooms as a MUC service on the component.
    #[serde(default = "yes")]
    pub gateway: bool,
    /// Messages with a longer body are refused with an error, both ways.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Files linked from XMPP (XEP-0066) are re-uploaded up to this size,
    /// and linked beyond it.
    #[serde(default = "default_max_media_bytes")]
    pub max_media_bytes: usize,
    /// Fetch linked files from loopback and private networks too. Only for
    /// tests and closed setups: it lets XMPP users make the bridge reach
    /// internal services.
    #[serde(default)]
    pub fetch_private_addresses: bool,
    /// Recent MUC messages copied into a new portal room.
    #[serde(default = "default_backfill")]
    pub backfill_messages: u32,
    /// A ping to the server after this much silence tells a quiet stream
    /// from a dead one.
    #[serde(default = "default_keepalive")]
    pub keepalive_seconds: u64,
}

fn yes() -> bool {
    true
}
fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_server_port() -> u16 {
    5347
}
fn default_user_template() -> String {
    "{localpart}_{server}".into()
}
fn default_resource() -> String {
    "causeway".into()
}
fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_max_media_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_backfill() -> u32 {
    20
}
fn default_keepalive() -> u64 {
    30
}

impl XmppConfig {
    pub fn validate(&self) -> Result<()> {
        if self.component_jid.contains(['@', '/']) || self.component_jid.is_empty() {
            bail!(
                "network.component_jid must be a bare domain such as matrix.xmpp.example.com, not {:?}",
                self.component_jid
            );
        }
        if self.component_secret.is_empty() {
            bail!("network.component_secret is empty: copy the component_secret of the XMPP server's config");
        }
        for needed in ["{localpart}", "{server}"] {
            if !self.user_template.contains(needed) {
                bail!("network.user_template must contain {needed}");
            }
        }
        let (_, after) = self
            .user_template
            .split_once("{localpart}")
            .unwrap_or_default();
        if !after.contains("{server}") || self.user_template.starts_with('#') {
            bail!("network.user_template must put {{localpart}} before {{server}} and not start with '#'");
        }
        if self.muc_domains.iter().any(|d| d.contains(['@', '/', '_'])) {
            bail!("network.muc_domains must be bare domains without '_', such as conference.xmpp.example.com");
        }
        if self.keepalive_seconds == 0 {
            bail!("network.keepalive_seconds must be at least 1");
        }
        Ok(())
    }
}

pub const EXAMPLE: &str = r##"  # The component's domain, as the XMPP server's config names it. With
  # Prosody: Component "matrix.xmpp.example.com" / component_secret = "…".
  # Matrix users appear under it (alice_example.com@matrix.xmpp.example.com),
  # and so do public Matrix rooms, for XMPP users (the gateway).
  component_jid: matrix.xmpp.example.com
  # The shared secret of the component (XEP-0114).
  component_secret: change-me
  # The XMPP server's component port. Components talk plain TCP, so keep
  # the bridge beside the server (loopback or a private network).
  server_host: 127.0.0.1
  server_port: 5347
  # MUC services whose rooms Matrix users may join, through an alias such as
  # #_xmpp_room_conference.xmpp.example.com:example.com.
  muc_domains:
    - conference.xmpp.example.com
  # Which of their rooms users may open, by bare JID (room@service).
  # Patterns are regexes matching whole JIDs, ignoring case; deny wins, and
  # a non-empty allow list admits only what it matches. enabled: false
  # turns alias joins off.
  dynamic_mucs:
    enabled: true
    allow: []
    deny: []
  # How a Matrix user's JID localpart is made from their MXID. Both
  # {localpart} and {server} are needed, in that order, so that replies
  # find their way back.
  user_template: "{localpart}_{server}"
  # The resource of Matrix users' full JIDs.
  resource: causeway
  # Let XMPP users join public Matrix rooms as MUCs under component_jid:
  # #room#example.com@matrix.xmpp.example.com is #room:example.com.
  gateway: true
  # Messages with a longer body are refused, both ways, with an error to
  # the sender.
  max_message_bytes: 65536
  # Files linked from XMPP are copied to Matrix up to this size and linked
  # beyond it. Only http(s) is fetched; redirects and private addresses
  # are refused.
  max_media_bytes: 10485760
  # Fetch linked files from loopback and private networks too. Leave this
  # off: it lets any XMPP user make the bridge reach internal services.
  fetch_private_addresses: false
  # Recent MUC messages copied into a new portal room.
  backfill_messages: 20
  # After this many seconds of silence the bridge pings the server, to
  # tell a quiet stream from a dead one.
  keepalive_seconds: 30
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<XmppConfig> {
        causeway_core::config::Config::parse_network_section(yaml)
    }

    #[test]
    fn the_example_config_parses_and_validates() {
        let config = parse(EXAMPLE).unwrap();
        config.validate().unwrap();
        assert_eq!(config.muc_domains, ["conference.xmpp.example.com"]);
        assert!(config.gateway);
    }

    #[test]
    fn a_user_template_without_the_server_is_refused() {
        let config =
            parse(&EXAMPLE.replace("\"{localpart}_{server}\"", "\"{localpart}\"")).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("{server}"), "{err}");
    }
}
