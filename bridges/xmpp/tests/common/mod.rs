//! What the XMPP end-to-end suites share: Prosody with two users, alice
//! and bob, and the bridge connected to it as its component.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use causeway_testkit::prosody::{self, Prosody};
use causeway_testkit::xmpp_client::XmppClient;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_causeway-xmpp");
pub const WAIT: Duration = Duration::from_secs(30);

/// Prosody with XMPP users bob and carol, and the bridge; `extra` adds
/// YAML keys to the network section.
pub async fn setup(dir: &std::path::Path, extra: &str) -> Result<(Prosody, TestEnv)> {
    let server = Prosody::start(
        &dir.join("prosody"),
        &[("bob", "bobpass"), ("carol", "carolpass")],
    )?;
    let env = bridge_for(&server, extra).await?;
    wait_for_component(&env).await?;
    Ok((server, env))
}

pub async fn bridge_for(server: &Prosody, extra: &str) -> Result<TestEnv> {
    let network = serde_yaml::from_str(&format!(
        "{{ component_jid: {}, component_secret: {}, server_host: 127.0.0.1, server_port: {}, muc_domains: [{}], fetch_private_addresses: true, keepalive_seconds: 5 {extra} }}",
        prosody::COMPONENT,
        prosody::SECRET,
        server.component_port,
        prosody::MUC_DOMAIN,
    ))?;
    TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            ..Default::default()
        },
    )
    .await
}

/// Waits until the bridge logs that the component is online.
pub async fn wait_for_component(env: &TestEnv) -> Result<()> {
    let started = std::time::Instant::now();
    while started.elapsed() < WAIT {
        if env.log().contains("XMPP component online") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "the component did not come online:\n{}",
        causeway_testkit::env::tail(&env.log(), 30)
    )
}

pub async fn xmpp_user(server: &Prosody, name: &str) -> Result<XmppClient> {
    XmppClient::connect(
        server.c2s_port,
        name,
        prosody::DOMAIN,
        &format!("{name}pass"),
    )
    .await
}

pub fn muc(room: &str) -> String {
    format!("{room}@{}", prosody::MUC_DOMAIN)
}

pub fn muc_alias(room: &str) -> String {
    format!("#_xmpp_{room}_{}:localhost", prosody::MUC_DOMAIN)
}

/// A Matrix user's JID under the component.
pub fn jid_of(localpart: &str) -> String {
    format!("{localpart}_localhost@{}", prosody::COMPONENT)
}

pub const BOB_GHOST: &str = "@xmpp_bob=40xmpp.test:localhost";

/// A MUC portal with alice on Matrix and bob on XMPP, both in.
pub async fn portal(
    env: &TestEnv,
    server: &Prosody,
    name: &str,
) -> Result<(MatrixClient, String, XmppClient)> {
    let mut bob = xmpp_user(server, "bob").await?;
    bob.join_muc(&muc(name), "bob").await?;
    let alice = env.user("alice").await?;
    let room = alice.join(&muc_alias(name)).await?;
    bob.wait_for(WAIT, |e| {
        e.name() == "presence" && e.attr("from") == Some(&format!("{}/alice", muc(name)))
    })
    .await?;
    let ghost_joined = alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member" && e["state_key"] == BOB_GHOST
        })
        .await;
    if let Err(err) = ghost_joined {
        // Rare under load in CI: the bridge's log says whether bob's
        // presence arrived and what became of his ghost's join.
        let log = env.log();
        let relevant: Vec<&str> = log
            .lines()
            .filter(|l| {
                ["WARN", "ERROR", "occupant", "bob"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .collect();
        let log = relevant[relevant.len().saturating_sub(60)..].join("\n");
        anyhow::bail!("{err:#}\nthe bridge's log:\n{log}");
    }
    Ok((alice, room, bob))
}
