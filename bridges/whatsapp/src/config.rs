//! The `network` section of the WhatsApp bridge's config.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct WhatsAppConfig {
    /// How the bridge's linked devices are named in the phone's "Linked
    /// devices" list.
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// The largest file bridged either way, in bytes; a larger one from
    /// WhatsApp is announced in the room instead, one from Matrix refused.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Talk to a WhatsApp test server (the sandbox, the tests) instead of
    /// WhatsApp. Only a bridge built with the `sandbox` feature (or for the
    /// tests) accepts such a server's certificate.
    #[serde(default)]
    pub test_server: Option<TestServer>,
}

/// A WhatsApp test server on loopback.
#[derive(Clone, Debug, Deserialize)]
pub struct TestServer {
    /// Its websocket, like `ws://127.0.0.1:24450/ws/chat`.
    pub url: String,
}

fn default_device_name() -> String {
    "Causeway bridge".into()
}

fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
}

/// The commented network section for `-e`.
pub const EXAMPLE: &str = r#"  # How the bridge appears in WhatsApp's "Linked devices" on the phone.
  # (Which chats get rooms at login, and how much history, are the bridge
  # section's sync_active_days, sync_create_limit and backfill settings.)
  device_name: Causeway bridge
  # The largest file bridged either way, in bytes (64 MiB). Files are held
  # in memory while they cross; larger ones from WhatsApp are announced in
  # the room instead, larger ones from Matrix refused with a notice.
  max_file_bytes: 67108864
  # Only for the sandbox and the tests: talk to a WhatsApp test server on
  # this machine instead of WhatsApp. null (the default) is the real network.
  test_server: null
  # test_server:
  #   url: ws://127.0.0.1:24450/ws/chat
"#;

impl WhatsAppConfig {
    /// Refuses at startup what would only fail at the first connection.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(server) = &self.test_server {
            let loopback = ["ws://127.0.0.1:", "ws://localhost:", "ws://[::1]:"];
            anyhow::ensure!(
                loopback.iter().any(|p| server.url.starts_with(p)),
                "network.test_server.url must be a ws:// URL on this machine, not {:?}",
                server.url
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_section_parses_to_the_real_network() {
        let config: WhatsAppConfig = serde_yaml::from_str(EXAMPLE).unwrap();
        assert_eq!(config.device_name, "Causeway bridge");
        assert!(config.test_server.is_none());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_test_server_must_be_on_loopback() {
        let with = |url: &str| WhatsAppConfig {
            test_server: Some(TestServer { url: url.into() }),
            ..serde_yaml::from_str(EXAMPLE).unwrap()
        };
        assert!(with("ws://127.0.0.1:24450/ws/chat").validate().is_ok());
        assert!(with("wss://web.whatsapp.com/ws/chat").validate().is_err());
        assert!(with("ws://10.0.0.5:24450/ws/chat").validate().is_err());
    }
}
