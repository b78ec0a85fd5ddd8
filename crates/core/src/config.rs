//! The bridge's YAML config, in the layout admins know from the mautrix
//! bridges. serde_yaml is archived, so it is used only in this module: swapping
//! it later touches one file.

use crate::permissions::Permissions;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    pub homeserver: HomeserverConfig,
    pub appservice: AppserviceConfig,
    pub database: DatabaseConfig,
    pub bridge: BridgeConfig,
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    /// The network's own section, handed to the network as it is.
    #[serde(default)]
    pub network: serde_yaml::Value,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct HomeserverConfig {
    /// Where the bridge reaches the homeserver's client API.
    pub address: String,
    /// The server name: the part after the colon in user IDs.
    pub domain: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AppserviceConfig {
    /// Where the homeserver reaches the bridge; goes into the registration.
    pub address: String,
    pub hostname: String,
    pub port: u16,
    pub id: String,
    pub bot: BotConfig,
    pub as_token: String,
    pub hs_token: String,
    /// Bodies above this many bytes get 413 M_TOO_LARGE.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Whether the registration asks for typing, receipts and presence.
    #[serde(default = "default_true")]
    pub ephemeral_events: bool,
    /// Where people outside Matrix reach the bridge, for media links; empty
    /// means `address`.
    #[serde(default)]
    pub public_address: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BotConfig {
    pub username: String,
    #[serde(default)]
    pub displayname: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DatabaseConfig {
    /// `sqlite:path.db` (the default, embedded) or `postgres://…`.
    pub uri: String,
    #[serde(default = "default_max_conns")]
    pub max_open_conns: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BridgeConfig {
    /// Ghost localparts: `{id}` is replaced by the escaped remote user ID.
    pub username_template: String,
    /// Portal alias localparts: `{id}` is replaced by the remote chat ID.
    pub alias_template: String,
    /// Prefix for bot commands. Empty means bare words in the management room.
    #[serde(default)]
    pub command_prefix: String,
    pub permissions: Permissions,
    /// File holding the key that encrypts stored passwords; created if missing.
    #[serde(default = "default_key_file")]
    pub secret_key_file: PathBuf,
    /// Events queued per portal before dispatch waits (backpressure).
    #[serde(default = "default_portal_queue")]
    pub portal_queue_size: usize,
    /// Processed ingress events are kept this long for deduplication.
    #[serde(default = "default_dedupe_hours")]
    pub dedupe_retention_hours: u64,
    /// Serve signed links to Matrix media for remote users.
    #[serde(default = "default_true")]
    pub public_media: bool,
    /// How long a public media link works, in hours.
    #[serde(default = "default_media_expiry_hours")]
    pub public_media_expiry_hours: u64,
    /// Larger files are not served through public links.
    #[serde(default = "default_media_max_bytes")]
    pub public_media_max_bytes: u64,
    /// Public link requests each client IP address may make a minute.
    #[serde(default = "default_media_requests_per_minute")]
    pub public_media_requests_per_minute: u32,
    /// How messages of users with the `relay` permission are written.
    #[serde(default)]
    pub relay: crate::relay::RelayConfig,
    /// Ghost display names: `{name}` is the remote name, as in `{name} (WA)`.
    #[serde(default = "default_displayname_template")]
    pub displayname_template: String,
    /// Double puppeting on account networks.
    #[serde(default)]
    pub double_puppet: DoublePuppetConfig,
    /// Gives each login its own room for group chats too (account
    /// networks); by default a group several logins see is one room.
    #[serde(default)]
    pub split_portals: bool,
    /// `sync` makes rooms only for chats active within this many days.
    #[serde(default = "default_sync_active_days")]
    pub sync_active_days: u64,
    /// And at most this many of them, the most recently active first (the
    /// mautrix bridges' `sync_create_limit`).
    #[serde(default = "default_sync_create_limit")]
    pub sync_create_limit: usize,
    /// How much history account networks bring into portals.
    #[serde(default)]
    pub backfill: BackfillConfig,
    /// How long a login may stay disconnected before its user is told.
    #[serde(default = "default_login_state_debounce")]
    pub login_state_debounce_seconds: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LoggingConfig {
    /// A tracing filter such as `info` or `causeway_core=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `pretty` for people, `json` for log collectors.
    #[serde(default = "default_log_format")]
    pub format: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            format: default_log_format(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_max_body_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_max_conns() -> u32 {
    8
}
fn default_key_file() -> PathBuf {
    PathBuf::from("causeway-secret.key")
}
fn default_media_expiry_hours() -> u64 {
    7 * 24
}
fn default_media_max_bytes() -> u64 {
    100 * 1024 * 1024
}
fn default_media_requests_per_minute() -> u32 {
    60
}
/// `bridge.double_puppet`: what a user sends from their phone or another
/// client appears as their own Matrix account, not as a ghost.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct DoublePuppetConfig {
    /// The as_token of the second registration, which `-g` writes beside
    /// the bridge's; unset turns double puppeting off.
    #[serde(default)]
    pub as_token: Option<String>,
}

/// `provisioning`: the HTTP API for integration managers and scripts, under
/// `/_causeway/provision/v1` on the appservice port.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ProvisioningConfig {
    /// Lets a caller act for any user of the bridge (`?user_id=`) with
    /// `Authorization: Bearer <secret>`; unset turns that off.
    #[serde(default)]
    pub shared_secret: Option<String>,
    /// Lets Matrix users act for themselves with an OpenID token from
    /// their homeserver.
    #[serde(default = "default_true")]
    pub allow_matrix_auth: bool,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            shared_secret: None,
            allow_matrix_auth: true,
        }
    }
}

/// `bridge.backfill`: history on account networks.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BackfillConfig {
    /// Messages brought into a portal's room when it is made.
    #[serde(default = "default_initial_messages")]
    pub initial_messages: usize,
    /// Messages a portal catches up at most when its login reconnects.
    #[serde(default = "default_catchup_messages")]
    pub catchup_messages: usize,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            initial_messages: default_initial_messages(),
            catchup_messages: default_catchup_messages(),
        }
    }
}

fn default_sync_create_limit() -> usize {
    15
}

fn default_sync_active_days() -> u64 {
    7
}
fn default_initial_messages() -> usize {
    50
}
fn default_catchup_messages() -> usize {
    500
}
fn default_displayname_template() -> String {
    "{name}".to_owned()
}
fn default_login_state_debounce() -> u64 {
    30
}
fn default_portal_queue() -> usize {
    64
}
fn default_dedupe_hours() -> u64 {
    72
}
fn default_log_level() -> String {
    "info".into()
}
fn default_log_format() -> String {
    "pretty".into()
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("the config file {} is not valid", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let config: Config = serde_yaml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        for (name, template) in [
            ("bridge.username_template", &self.bridge.username_template),
            ("bridge.alias_template", &self.bridge.alias_template),
        ] {
            if template.matches("{id}").count() != 1 {
                bail!("{name} must contain {{id}} exactly once, got {template:?}");
            }
        }
        if self.appservice.as_token.is_empty() || self.appservice.hs_token.is_empty() {
            bail!("appservice.as_token and hs_token are empty: run with --generate-registration first");
        }
        if self
            .provisioning
            .shared_secret
            .as_ref()
            .is_some_and(|s| s.len() < 16)
        {
            bail!("provisioning.shared_secret must be at least 16 characters long, or unset");
        }
        if !self.homeserver.address.starts_with("http://")
            && !self.homeserver.address.starts_with("https://")
        {
            bail!(
                "homeserver.address must start with http:// or https://, got {:?}",
                self.homeserver.address
            );
        }
        Ok(())
    }

    /// The network section as the network's own config type.
    pub fn network_section<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_yaml::from_value(self.network.clone())
            .context("the network section of the config is not valid")
    }

    /// Parses a network section on its own, for a network's own checks and
    /// tests, without the network depending on the YAML crate.
    pub fn parse_network_section<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T> {
        serde_yaml::from_str(yaml).context("the network section of the config is not valid")
    }

    pub fn bot_mxid(&self) -> String {
        format!(
            "@{}:{}",
            self.appservice.bot.username, self.homeserver.domain
        )
    }
}

/// Writes fresh tokens into a config file, keeping its comments and layout.
pub fn store_tokens(config_text: &str, as_token: &str, hs_token: &str) -> Result<String> {
    let mut replaced = (false, false);
    // Only the appservice section's tokens: another section may hold a
    // token of its own (bridge.double_puppet.as_token).
    let mut section = "";
    let lines: Vec<String> = config_text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if indent.is_empty() && !trimmed.is_empty() && !trimmed.starts_with('#') {
                section = trimmed.split(':').next().unwrap_or_default();
            }
            if section != "appservice" {
                line.to_owned()
            } else if trimmed.starts_with("as_token:") {
                replaced.0 = true;
                format!("{indent}as_token: \"{as_token}\"")
            } else if trimmed.starts_with("hs_token:") {
                replaced.1 = true;
                format!("{indent}hs_token: \"{hs_token}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if replaced != (true, true) {
        bail!("the config has no appservice.as_token and hs_token lines to fill in");
    }
    Ok(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"
homeserver:
  address: http://127.0.0.1:8008
  domain: localhost
appservice:
  address: http://127.0.0.1:29300
  hostname: 127.0.0.1
  port: 29300
  id: test
  bot:
    username: testbot
  # keep me
  as_token: ""
  hs_token: ""
database:
  uri: "sqlite::memory:"
bridge:
  username_template: "_test_{id}"
  alias_template: "_test_{id}"
  permissions:
    "*": relay
network:
  anything: 1
"#;

    #[test]
    fn config_without_tokens_says_to_generate_a_registration() {
        let err = Config::parse(SAMPLE).unwrap_err().to_string();
        assert!(err.contains("--generate-registration"), "{err}");
    }

    #[test]
    fn stored_tokens_make_the_config_load_and_keep_comments() {
        let text = store_tokens(SAMPLE, "AS", "HS").unwrap();
        assert!(text.contains("# keep me"));
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.appservice.as_token, "AS");
        assert_eq!(config.appservice.hs_token, "HS");
        assert_eq!(config.bridge.portal_queue_size, 64);
        assert_eq!(config.bot_mxid(), "@testbot:localhost");
    }

    #[test]
    fn template_without_placeholder_is_refused() {
        let text = store_tokens(SAMPLE, "AS", "HS")
            .unwrap()
            .replace("\"_test_{id}\"", "\"_test_\"");
        let err = format!("{:#}", Config::parse(&text).unwrap_err());
        assert!(err.contains("{id}"), "{err}");
    }

    #[test]
    fn stored_tokens_go_only_into_the_appservice_section() {
        let text = "appservice:\n  as_token: old\n  hs_token: old\nbridge:\n  double_puppet:\n    as_token: mine\n";
        let stored = store_tokens(text, "new-as", "new-hs").unwrap();
        assert!(stored.contains("  as_token: \"new-as\""));
        assert!(stored.contains("  hs_token: \"new-hs\""));
        assert!(stored.contains("    as_token: mine"));
    }
}
