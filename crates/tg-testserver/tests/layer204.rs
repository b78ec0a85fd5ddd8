//! Another client at another layer: Telethon at layer 204 (the one the
//! Python mautrix-telegram runs) logs in and chats with a grammers client
//! at layer 230, through the same server.

use anyhow::{bail, Context, Result};
use common::*;
use grammers_client::update::Update;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

mod common;

/// The client's next step, which must be `step`.
async fn expect(lines: &mut Lines<BufReader<ChildStdout>>, step: &str) -> Result<Value> {
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .with_context(|| format!("no `{step}` from the Telethon client in 30 s"))??
        .with_context(|| format!("the Telethon client ended before `{step}`"))?;
    let value: Value = serde_json::from_str(&line).with_context(|| line.clone())?;
    if value["step"] != step {
        bail!("expected `{step}`, got {line}");
    }
    Ok(value)
}

#[tokio::test]
async fn a_telethon_client_at_layer_204_logs_in_and_chats_with_a_grammers_client() -> Result<()> {
    // The Telethon that mautrix-telegram pins, from the benchmark's venv.
    let venv = causeway_testkit::synapse::mautrix_telegram_venv()?;
    let server = server().await?;
    let db = Db::new().await;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    // Kept in arrival order, whatever each step picks: a stream still
    // catching up when the other client starts gets the edit (from the
    // difference's other updates) before the message it edits.
    let mut bob_updates = Inbox::new(updates_of(&mut bob).await?);
    let alice_id = server.user_id("15550001");
    let bob_id = server.user_id("15550002");

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/telethon/layer204_client.py"
    );
    let mut child = Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(server.port().to_string())
        .arg(hex::encode(server.register_key()))
        .arg("+15550001")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();

    let connected = expect(&mut lines, "connected").await?;
    assert_eq!(connected["layer"], 204);
    assert_eq!(connected["authorized"], false);
    expect(&mut lines, "code_sent").await?;
    let wrong = expect(&mut lines, "wrong_code").await?;
    assert_eq!(wrong["error"], "PhoneCodeInvalidError");
    stdin
        .write_all(format!("{}\n", last_code(&server, "15550001")).as_bytes())
        .await?;
    let me = expect(&mut lines, "signed_in").await?;
    assert_eq!(me["id"].as_i64(), alice_id);
    assert_eq!(
        (&me["first_name"], &me["username"]),
        (&"Alice".into(), &"alice".into())
    );

    // Layer 204 → 230: a message and its edit.
    let sent = expect(&mut lines, "sent").await?;
    assert_eq!(sent["text"], "hello from layer 204");
    let got = bob_updates
        .next_matching(|u| match u {
            Update::NewMessage(m) if !m.outgoing() => Some(m.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(got.text(), "hello from layer 204");
    assert_eq!(got.sender().and_then(|s| s.id().bare_id()), alice_id);
    expect(&mut lines, "edited").await?;
    let edited = bob_updates
        .next_matching(|u| match u {
            Update::MessageEdited(m) => Some(m.text().to_owned()),
            _ => None,
        })
        .await?;
    assert_eq!(edited, "hello again from layer 204");

    // Layer 230 → 204: a pushed message, then reads, dialogs and history.
    let to_alice = peer(&bob, "alice").await?;
    bounded(
        "send",
        bob.client.send_message(to_alice, "hi from layer 230"),
    )
    .await??;
    let received = expect(&mut lines, "received").await?;
    assert_eq!(received["text"], "hi from layer 230");
    assert_eq!(received["sender"].as_i64(), bob_id);
    expect(&mut lines, "read").await?;
    let dialogs = expect(&mut lines, "dialogs").await?;
    assert!(
        dialogs["names"].as_array().unwrap().contains(&"Bob".into()),
        "{dialogs}"
    );
    let history = expect(&mut lines, "history").await?;
    assert_eq!(
        history["texts"],
        serde_json::json!(["hi from layer 230", "hello again from layer 204"])
    );

    // A deletion at 204 reaches 230.
    expect(&mut lines, "deleted").await?;
    let deleted = bob_updates
        .next_matching(|u| match u {
            Update::MessageDeleted(d) if !d.messages().is_empty() => Some(d.messages().to_vec()),
            _ => None,
        })
        .await?;
    assert_eq!(deleted, [got.id()]);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
    assert!(status.success(), "the Telethon client ended with {status}");
    Ok(())
}
