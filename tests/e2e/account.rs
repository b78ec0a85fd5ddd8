//! Helpers for the tests of account networks: the test network plays one,
//! and users log in and open chats as they would on WhatsApp or Telegram.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-testnet");
pub const WAIT: Duration = Duration::from_secs(30);

/// The test network as an account network, with `bridge` keys set in the
/// config's bridge section.
pub async fn env(bridge: &str) -> Result<TestEnv> {
    let options = EnvOptions {
        bridge: Some(serde_yaml::from_str(bridge)?),
        testnet: Some(serde_yaml::from_str("{ account: true }")?),
        ..Default::default()
    };
    TestEnv::start(std::path::Path::new(BIN), options).await
}

/// Logs `user` in with the password flow as `name`; returns the
/// management room.
pub async fn logged_in(env: &TestEnv, user: &MatrixClient, name: &str) -> Result<String> {
    let room = user.create_dm(&env.bot()).await?;
    user.wait_for_text(&room, "management room").await?;
    user.send_text(&room, "login password").await?;
    user.wait_for_text(&room, "Send your username").await?;
    user.send_text(&room, name).await?;
    user.wait_for_text(&room, "I will delete the message")
        .await?;
    user.send_text(&room, "correct horse").await?;
    user.wait_for_text(&room, &format!("Logged in as {name}"))
        .await?;
    Ok(room)
}

/// Opens the portal of `chat` from the management room and joins it.
pub async fn open_chat(user: &MatrixClient, management: &str, chat: &str) -> Result<String> {
    user.send_text(management, &format!("create {chat}"))
        .await?;
    let room = user.wait_for_invite(WAIT).await?;
    user.join(&room).await?;
    Ok(room)
}
