//! The `network` section of the Telegram bridge's config.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, Deserialize)]
pub struct TelegramConfig {
    /// The app's ID and hash from https://my.telegram.org ("API development
    /// tools"): every Telegram client identifies itself with them.
    pub api_id: i32,
    pub api_hash: String,
    /// How the bridge's sessions are listed in the Telegram app's active
    /// sessions.
    #[serde(default = "default_device_model")]
    pub device_model: String,
    /// How often each login checks that its session still works: a
    /// session terminated from another device, or a connection that broke
    /// quietly, is found within this many seconds.
    #[serde(default = "default_keepalive")]
    pub keepalive_seconds: u64,
    /// The largest file bridged either way, in bytes; a larger one from
    /// Telegram is announced in the room instead, one from Matrix refused.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// The longest flood wait a call sits out before it is given up and
    /// the sender told; shorter ones delay messages without losing them.
    #[serde(default = "default_flood_wait_max")]
    pub flood_wait_max_seconds: u64,
    /// A SOCKS5 proxy for every connection to Telegram,
    /// `socks5://[user:password@]host:port`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Talk to a test server (the sandbox, the tests) instead of Telegram.
    #[serde(default)]
    pub test_server: Option<TestServer>,
}

fn default_max_file_bytes() -> u64 {
    50 * 1024 * 1024
}

fn default_flood_wait_max() -> u64 {
    300
}

fn default_keepalive() -> u64 {
    60
}

/// An MTProto test server on a private address. Telegram's key exchange
/// accepts only Telegram's own keys, so each new session gets its auth
/// keys from the server's key service instead.
#[derive(Clone, Debug, Deserialize)]
pub struct TestServer {
    pub host: Ipv4Addr,
    /// The port of each data centre the server plays, by DC ID.
    pub dc_ports: BTreeMap<i32, u16>,
    /// `POST` here returns `{"key": "<hex>"}`, a key the server accepts.
    pub key_service: String,
}

fn default_device_model() -> String {
    "Causeway bridge".into()
}

/// The commented network section for `-e`.
pub const EXAMPLE: &str = r#"  # Get these from https://my.telegram.org: log in, open "API development
  # tools" and create an app. Every Telegram client identifies itself this way.
  api_id: 12345
  api_hash: 0123456789abcdef0123456789abcdef
  # How the bridge's sessions appear in the Telegram app's active sessions.
  device_model: Causeway bridge
  # Seconds between checks that each login's session still works: a session
  # terminated from the Telegram app is noticed within this time.
  keepalive_seconds: 60
  # The largest file bridged either way, in bytes (50 MiB). Files are held
  # in memory while they cross; larger ones from Telegram are announced in
  # the room instead.
  max_file_bytes: 52428800
  # When Telegram asks to slow down (FLOOD_WAIT), messages wait and are sent
  # then. A wait longer than this many seconds is given up, and the sender
  # is told in the room.
  flood_wait_max_seconds: 300
  # Reach Telegram through a SOCKS5 proxy: socks5://host:port, or
  # socks5://user:password@host:port. null connects directly.
  proxy: null
  # Only for the sandbox and tests: talk to an MTProto test server instead
  # of Telegram, taking each session's auth keys from its key service.
  test_server: null
  # test_server:
  #   host: 127.0.0.1
  #   dc_ports: { 2: 24443, 4: 24444 }
  #   key_service: http://127.0.0.1:24440/keys
"#;

impl TelegramConfig {
    /// Refuses at startup what would only fail at the first connection.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(proxy) = &self.proxy {
            let url = reqwest::Url::parse(proxy)
                .map_err(|e| anyhow::anyhow!("network.proxy {proxy:?} is not a URL: {e}"))?;
            anyhow::ensure!(
                url.scheme() == "socks5" && url.host().is_some() && url.port().is_some(),
                "network.proxy must be socks5://[user:password@]host:port, not {proxy:?}"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_socks5_proxy_with_host_and_port_is_taken() {
        let with = |proxy: &str| TelegramConfig {
            proxy: Some(proxy.into()),
            ..serde_yaml::from_str(EXAMPLE).unwrap()
        };
        assert!(with("socks5://user:pw@127.0.0.1:1080").validate().is_ok());
        for bad in [
            "http://127.0.0.1:8080",
            "socks5://127.0.0.1",
            "127.0.0.1:1080",
        ] {
            assert!(with(bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_example_section_parses() {
        let config: TelegramConfig = serde_yaml::from_str(EXAMPLE).unwrap();
        assert_eq!(config.api_id, 12345);
        assert!(config.test_server.is_none());
    }
}
