//! What the IRC end-to-end suites share: ngircd plus the bridge set up for
//! it as network `local`.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::ircd::Ngircd;

pub const BIN: &str = env!("CARGO_BIN_EXE_causeway-irc");

/// ngircd and the bridge; `extra` adds YAML keys to the network's settings.
pub async fn setup_with(dir: &std::path::Path, extra: &str) -> Result<(Ngircd, TestEnv)> {
    let ircd = Ngircd::start(dir)?;
    let env = bridge_for(ircd.port, extra).await?;
    Ok((ircd, env))
}

/// The bridge, with network `local` on the IRC server at `port`.
pub async fn bridge_for(port: u16, extra: &str) -> Result<TestEnv> {
    bridge_with(port, extra, "{}").await
}

/// Like [`bridge_for`], with `bridge` (YAML) setting keys of the config's
/// bridge section.
pub async fn bridge_with(port: u16, extra: &str, bridge: &str) -> Result<TestEnv> {
    let network = serde_yaml::from_str(&format!(
        "networks: {{ local: {{ name: Local IRC, address: 127.0.0.1, port: {port}, bot_nick: causeway {extra} }} }}"
    ))?;
    TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            bridge: Some(serde_yaml::from_str(bridge)?),
            ..Default::default()
        },
    )
    .await
}
