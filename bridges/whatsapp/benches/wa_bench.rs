//! Figures for the WhatsApp bridge, printed rather than asserted: the real
//! `causeway-whatsapp` process (release) between the WhatsApp test server
//! and the fast homeserver stand-in. Throughput both ways with CPU-seconds
//! per 1,000 messages, RSS per logged-in account at 1, 10 and 100, and the
//! time from a QR scan to the first room with its history. Logins go
//! through the provisioning API, as an integration would.
//!
//! ```text
//! cargo bench -p causeway-whatsapp --bench wa-bench
//! cargo bench -p causeway-whatsapp --bench wa-bench -- --messages 5000 --accounts 100
//! ```

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use anyhow::{ensure, Context, Result};
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::process::{bench_option, usage, BenchBridge, Throughput};
use causeway_wa_testserver::{HistoryChat, HistoryMessage, WaTestServer};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use whatsapp_rust::Jid;

const SECRET: &str = "bench-provisioning-secret";

fn phone(n: usize) -> String {
    format!("1555{n:05}")
}

/// The bridge, on the stand-in homeserver and the test server.
async fn start_bridge(dir: &Path, hs_url: &str, server: &WaTestServer) -> Result<BenchBridge> {
    let port = causeway_testkit::synapse::free_port()?;
    let config = format!(
        r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:{port}", hostname: 127.0.0.1, port: {port}, id: whatsapp, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}" }}
bridge: {{ username_template: "whatsapp_{{id}}", alias_template: "_whatsapp_{{id}}", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
provisioning: {{ shared_secret: {SECRET} }}
logging: {{ level: warn }}
network:
  test_server: {{ url: "{url}" }}
"#,
        url = server.url(),
        db = dir.join("bridge.db").display(),
        key = dir.join("bridge.key").display(),
    );
    BenchBridge::start(common::BIN, dir, port, &config).await
}

/// Logs `user` in as account `n` by QR code, through the provisioning API;
/// returns when the code was scanned, once the login is stored.
async fn log_in(
    bridge: &BenchBridge,
    server: &WaTestServer,
    user: &str,
    n: usize,
) -> Result<Instant> {
    let started = bridge
        .provision(SECRET, "/login/start/qr", user, json!({}))
        .await?;
    let process = started["process_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = started["step"]["data"].as_str().context("no QR code")?;
    server.scan_qr(code, &phone(n))?;
    let scanned = Instant::now();
    let done = bridge
        .provision(SECRET, &format!("/login/{process}/wait"), user, json!({}))
        .await?;
    ensure!(done["step"]["type"] == "complete", "login: {done}");
    Ok(scanned)
}

async fn throughput(dir: &Path, server: &WaTestServer, messages: usize) -> Result<()> {
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let mut bridge = start_bridge(dir, &hs_url, server).await?;
    let bob = "@bob:bench.local";
    let scanned = log_in(&bridge, server, bob, 0).await?;
    println!(
        "QR scan to login stored: {:.2} s",
        scanned.elapsed().as_secs_f64()
    );

    // The phone sends the new device its history: time to the first room
    // with its messages.
    let device = server
        .devices_of(&phone(0))
        .into_iter()
        .max()
        .context("no device linked")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let history: Vec<HistoryMessage> = (0..20)
        .map(|i| HistoryMessage {
            id: format!("3EB0HIST{i:04}"),
            from_me: i % 2 == 0,
            participant: None,
            text: format!("history {i}"),
            timestamp: now - 600 + i,
        })
        .collect();
    let sends_before = hs.sends.load(Ordering::Relaxed);
    server.send_history(
        &phone(0),
        device,
        &[HistoryChat {
            jid: format!("{}@s.whatsapp.net", phone(2)),
            name: Some("History".into()),
            messages: history,
        }],
    )?;
    hs.wait_for_sends(sends_before + 20, "history").await?;
    println!(
        "QR scan to the first room with 20 messages of history: {:.2} s",
        scanned.elapsed().as_secs_f64()
    );

    // WhatsApp → Matrix: Carol writes, 32 messages in flight.
    let (carol, mut carol_events, _store) = common::whatsapp_user(server, &phone(1)).await?;
    let carol = carol.client();
    carol
        .send_text(Jid::pn(phone(0)), "warm-up")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let room = hs
        .rooms
        .lock()
        .ok()
        .and_then(|rooms| rooms.last().cloned())
        .context("no room was created")?;
    let before = hs.sends.load(Ordering::Relaxed);
    let meter = Throughput::start(bridge.child.id())?;
    let to = Jid::pn(phone(0));
    for batch in (0..messages).collect::<Vec<_>>().chunks(32) {
        let sends = batch.iter().map(|i| {
            let carol = carol.clone();
            let to = to.clone();
            async move { carol.send_text(to, format!("whatsapp message {i}")).await }
        });
        for sent in futures_util::future::join_all(sends).await {
            sent.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    hs.wait_for_sends(before + messages as u64, "WhatsApp → Matrix")
        .await?;
    meter.report(
        "WhatsApp → Matrix:",
        messages,
        &format!("{messages} messages"),
    )?;

    // Matrix → WhatsApp: Bob writes in the DM's room; count what Carol gets.
    let events: Vec<Value> = (0..messages)
        .map(|i| {
            json!({ "type": "m.room.message", "event_id": format!("$m{i}"), "room_id": room, "sender": bob,
                    "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": format!("matrix message {i}") } })
        })
        .collect();
    let meter = Throughput::start(bridge.child.id())?;
    bridge.transact(events).await?;
    let mut received = 0;
    while received < messages {
        let (_, message) = common::next_where(&mut carol_events, |m| {
            m.conversation
                .as_deref()
                .is_some_and(|t| t.starts_with("matrix message"))
        })
        .await
        .context("Matrix → WhatsApp stalled")?;
        let _ = message;
        received += 1;
    }
    meter.report(
        "Matrix → WhatsApp:",
        messages,
        &format!("{messages} messages"),
    )?;
    Ok(())
}

async fn memory(dir: &Path, server: &WaTestServer, accounts: usize) -> Result<()> {
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let bridge = start_bridge(dir, &hs_url, server).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, idle) = usage(bridge.child.id())?;
    println!("idle bridge      RSS {:.1} MiB", idle as f64 / 1024.0);
    let mut logged_in = 0;
    for target in [1, 10, 100].into_iter().filter(|&t| t <= accounts) {
        while logged_in < target {
            let n = 10 + logged_in;
            log_in(&bridge, server, &format!("@u{n}:bench.local"), n).await?;
            logged_in += 1;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, rss) = usage(bridge.child.id())?;
        println!(
            "{target:>3} account(s)    RSS {:.1} MiB: {:.0} KiB per logged-in account",
            rss as f64 / 1024.0,
            rss.saturating_sub(idle) as f64 / target as f64
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let messages = bench_option("--messages", 2000)?;
    let accounts = bench_option("--accounts", 100)?;
    let dir = tempfile::tempdir()?;
    let server = Arc::new(WaTestServer::start().await?);
    for n in 0..10 + accounts {
        server.add_account(&phone(n), &format!("User{n}"));
    }
    std::fs::create_dir_all(dir.path().join("throughput"))?;
    std::fs::create_dir_all(dir.path().join("memory"))?;
    throughput(&dir.path().join("throughput"), &server, messages).await?;
    memory(&dir.path().join("memory"), &server, accounts).await
}
