//! What the WhatsApp bridge's end-to-end tests share: the WhatsApp test
//! server with an account for the Matrix user and scripted contacts that
//! answer, and a bridge pointed at it, on real Synapse.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use causeway_wa_testserver::WaTestServer;
use std::sync::Arc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_causeway-whatsapp");
pub const WAIT: Duration = Duration::from_secs(30);
/// Bob's account; Ada and Grace are scripted contacts that answer.
pub const BOB: &str = "15550100";
pub const ADA: &str = "15550101";
pub const GRACE: &str = "15550102";

/// The test server and a bridge pointed at it.
pub async fn setup() -> Result<(Arc<WaTestServer>, TestEnv)> {
    let server = Arc::new(WaTestServer::start().await?);
    server.add_account(BOB, "Bob");
    server.add_scripted_contact(ADA, "Ada");
    server.add_scripted_contact(GRACE, "Grace");
    let network =
        serde_yaml::from_str(&format!("{{ test_server: {{ url: '{}' }} }}", server.url()))?;
    let env = TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            ..Default::default()
        },
    )
    .await?;
    Ok((server, env))
}

pub async fn says(user: &MatrixClient, room: &str, text: &str) -> Result<serde_json::Value> {
    user.wait_for_text(room, text).await
}

/// The ghost of the account with this number.
pub fn ghost(number: &str) -> String {
    format!("@whatsapp_{number}:localhost")
}

/// `user` logs in by scanning the QR code with `phone`'s account; returns
/// the management room.
pub async fn logged_in(
    server: &WaTestServer,
    env: &TestEnv,
    user: &MatrixClient,
    phone: &str,
) -> Result<String> {
    let dm = user.create_dm(&env.bot()).await?;
    says(user, &dm, "management room").await?;
    user.send_text(&dm, "login").await?;
    let qr = user
        .wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let code = qr["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server.scan_qr(&code, phone)?;
    says(user, &dm, "Logged in as +").await?;
    Ok(dm)
}
