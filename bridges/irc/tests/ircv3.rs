//! The IRC bridge against InspIRCd with Anope services: SASL, and the IRCv3
//! capabilities that ngircd lacks.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::inspircd::InspIrcd;
use causeway_testkit::ircd::RawIrc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-irc");

async fn setup(dir: &std::path::Path) -> Result<(InspIrcd, TestEnv)> {
    let ircd = InspIrcd::start(dir)?;
    let network = serde_yaml::from_str(&format!(
        "networks: {{ test: {{ name: TestNet, address: 127.0.0.1, port: {}, bot_nick: causeway }} }}",
        ircd.port
    ))?;
    let env = TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            ..Default::default()
        },
    )
    .await?;
    Ok((ircd, env))
}

#[tokio::test]
async fn storepass_and_reconnect_log_in_with_sasl_and_a_wrong_password_reports_904() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    // alice's IRC nick is registered with services beforehand.
    let mut owner = RawIrc::connect(ircd.port, "alice[m]").await?;
    owner.register_with_nickserv("c0rrect-horse").await?;
    owner.send("QUIT").await?;

    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    alice
        .send_text(&admin_room, "!storepass c0rrect-horse")
        .await?;
    alice
        .wait_for_text(&admin_room, "Stored your password for TestNet")
        .await?;
    alice.send_text(&admin_room, "!reconnect").await?;
    alice
        .wait_for_text(
            &admin_room,
            "Reconnected to TestNet as `alice[m]`. Logged in as `alice[m]` with SASL.",
        )
        .await?;
    // Services agree: WHOIS shows the account.
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.send("WHOIS alice[m]").await?;
    bob.wait_for(|l| l.contains(" 330 bob alice[m] alice[m] :"))
        .await?;

    alice.send_text(&admin_room, "!storepass wrong").await?;
    alice
        .wait_for_text(&admin_room, "Stored your password for TestNet")
        .await?;
    alice.send_text(&admin_room, "!reconnect").await?;
    let refusal = alice.wait_for_text(&admin_room, "(904)").await?;
    let text = refusal["content"]["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("SASL login as alice[m] failed"),
        "the reply says what failed: {text}"
    );
    Ok(())
}

#[tokio::test]
async fn echoes_are_not_duplicated_and_invalid_utf8_is_read_as_latin1() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#v3").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_test_#v3:localhost").await?;

    // echo-message is on: alice's line comes back to her connection, and
    // must not reach the room a second time.
    alice.send_text(&room, "only once").await?;
    bob.wait_for(|l| l.contains(":alice[m]!") && l.ends_with("PRIVMSG #v3 :only once"))
        .await?;
    bob.send_bytes(b"PRIVMSG #v3 :caf\xe9 cr\xe8me").await?;
    let latin1 = alice.wait_for_text(&room, "café crème").await?;
    assert_eq!(latin1["sender"], "@_test_bob:localhost");
    // server-time: the event carries the server's timestamp, within reason.
    let ts = latin1["origin_server_ts"].as_i64().unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    assert!((now - ts).abs() < 60_000, "timestamp {ts} is near {now}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.sync_once(0).await?;
    let copies = alice
        .seen(&room, |e| e["content"]["body"] == "only once")
        .len();
    assert_eq!(copies, 1, "the echo must not come back into the room");
    Ok(())
}
