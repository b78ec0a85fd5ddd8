//! Figures for the Telegram bridge, printed rather than asserted: the real
//! `causeway-telegram` process (release) between the MTProto test server
//! and the fast homeserver stand-in. Throughput both ways with CPU-seconds
//! per 1,000 messages, and RSS per logged-in account at 1, 10 and 100.
//! Logins go through the provisioning API, as an integration would.
//!
//! Then the same messages through Synapse, side by side with the Python
//! mautrix-telegram (`mautrix.rs`).
//!
//! ```text
//! cargo bench -p causeway-telegram --bench tg-bench
//! cargo bench -p causeway-telegram --bench tg-bench -- --messages 5000 --accounts 100
//! cargo bench -p causeway-telegram --bench tg-bench -- --messages 0 --accounts 0 --compare-messages 500
//! ```
//!
//! A count of 0 skips that run.

use anyhow::{ensure, Context, Result};
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::process::{bench_option, usage, BenchBridge, Throughput};
use causeway_tg_testserver::{AccountSpec, TestServer};
use grammers_client::sender::{SenderPool, UpdatesConfiguration};
use grammers_client::Client;
use grammers_session::storages::MemorySession;
use grammers_session::SessionData;
use serde_json::{json, Value};
use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

mod mautrix;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-telegram");
const SECRET: &str = "bench-provisioning-secret";
const API_HASH: &str = "0123456789abcdef0123456789abcdef";

fn phone(n: usize) -> String {
    format!("1555{n:05}")
}

fn account(n: usize) -> AccountSpec {
    AccountSpec {
        phone: phone(n),
        first_name: format!("User{n}"),
        last_name: None,
        username: Some(format!("user{n}")),
        password: None,
        home_dc: 2,
        echo: false,
        about: None,
        bot_token: None,
    }
}

/// The login code the test server last sent to account `n`.
fn last_code(server: &TestServer, n: usize) -> Result<String> {
    server
        .sent_codes()
        .into_iter()
        .rev()
        .find(|c| c.phone == phone(n))
        .map(|c| c.code)
        .context("no code was sent")
}

/// The bridge, on the stand-in homeserver and the test server.
async fn start_bridge(
    dir: &Path,
    hs_url: &str,
    server: &TestServer,
    keys: &str,
) -> Result<BenchBridge> {
    let port = causeway_testkit::synapse::free_port()?;
    let config = format!(
        r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:{port}", hostname: 127.0.0.1, port: {port}, id: telegram, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}" }}
bridge: {{ username_template: "telegram_{{id}}", alias_template: "_telegram_{{id}}", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
provisioning: {{ shared_secret: {SECRET} }}
logging: {{ level: warn }}
network:
  api_id: 12345
  api_hash: {API_HASH}
  test_server: {{ host: 127.0.0.1, dc_ports: {{ 2: {}, 4: {} }}, key_service: "{keys}" }}
"#,
        server.port(),
        server.port_of(4).unwrap_or_default(),
        db = dir.join("bridge.db").display(),
        key = dir.join("bridge.key").display(),
    );
    BenchBridge::start(BIN, dir, port, &config).await
}

/// Logs `user` in as account `n`, through the provisioning API.
async fn log_in(bridge: &BenchBridge, server: &TestServer, user: &str, n: usize) -> Result<()> {
    let started = bridge
        .provision(SECRET, "/login/start/phone", user, json!({}))
        .await?;
    let input = format!(
        "/login/{}/input",
        started["process_id"].as_str().unwrap_or_default()
    );
    let number = format!("+{}", phone(n));
    bridge
        .provision(
            SECRET,
            &input,
            user,
            json!({ "fields": { "phone": number } }),
        )
        .await?;
    let code = last_code(server, n)?;
    let done = bridge
        .provision(SECRET, &input, user, json!({ "fields": { "code": code } }))
        .await?;
    ensure!(done["step"]["type"] == "complete", "login: {done}");
    Ok(())
}

/// A Telegram user on their own grammers client.
async fn telegram_user(
    server: &TestServer,
    n: usize,
) -> Result<(Client, grammers_client::client::UpdateStream)> {
    let mut data = SessionData::default();
    for dc in causeway_tg_testserver::DCS {
        if let Some(option) = data.dc_options.get_mut(&dc) {
            option.ipv4 =
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.port_of(dc).unwrap_or_default());
            option.auth_key = Some(server.register_key());
        }
    }
    let SenderPool {
        runner,
        updates,
        handle,
    } = SenderPool::new(Arc::new(MemorySession::from(data)), 12345);
    tokio::spawn(runner.run());
    let client = Client::new(handle);
    let token = client
        .request_login_code(&format!("+{}", phone(n)), API_HASH)
        .await?;
    let code = last_code(server, n)?;
    client.sign_in(&token, &code).await?;
    let stream = client
        .stream_updates(updates, UpdatesConfiguration { catch_up: false })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((client, stream))
}

async fn throughput(dir: &Path, server: &TestServer, keys: &str, messages: usize) -> Result<()> {
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let mut bridge = start_bridge(dir, &hs_url, server, keys).await?;
    let bob = "@bob:bench.local";
    log_in(&bridge, server, bob, 0).await?;
    let (carol, mut carol_updates) = telegram_user(server, 1).await?;
    let bob_tg = carol
        .resolve_username("user0")
        .await?
        .context("no user0")?
        .to_ref()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("no reference to user0")?;

    // Telegram → Matrix: Carol writes; count the homeserver's sends.
    carol.send_message(bob_tg, "warm-up").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let room = hs
        .rooms
        .lock()
        .ok()
        .and_then(|rooms| rooms.last().cloned())
        .context("no room was created")?;
    let before = hs.sends.load(Ordering::Relaxed);
    let meter = Throughput::start(bridge.child.id())?;
    for i in 0..messages {
        carol
            .send_message(bob_tg, format!("telegram message {i}").as_str())
            .await?;
    }
    hs.wait_for_sends(before + messages as u64, "Telegram → Matrix")
        .await?;
    meter.report(
        "Telegram → Matrix:",
        messages,
        &format!("{messages} messages"),
    )?;

    // Matrix → Telegram: Bob writes in the DM's room; count what Carol gets.
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
        let update = tokio::time::timeout(Duration::from_secs(60), carol_updates.next())
            .await
            .context("Matrix → Telegram stalled")??;
        if let grammers_client::update::Update::NewMessage(m) = update {
            if !m.outgoing() && m.text().starts_with("matrix message") {
                received += 1;
            }
        }
    }
    meter.report(
        "Matrix → Telegram:",
        messages,
        &format!("{messages} messages"),
    )?;
    Ok(())
}

async fn memory(dir: &Path, server: &TestServer, keys: &str, accounts: usize) -> Result<()> {
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let bridge = start_bridge(dir, &hs_url, server, keys).await?;
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
        tokio::time::sleep(Duration::from_secs(1)).await;
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
    let compare = bench_option("--compare-messages", 200)?;
    let dir = tempfile::tempdir()?;
    let server = Arc::new(TestServer::start((0..10 + accounts).map(account).collect()).await?);
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let keys = format!("http://127.0.0.1:{}/keys", control.local_addr()?.port());
    tokio::spawn(
        axum::serve(
            control,
            causeway_tg_testserver::control_router(server.clone()),
        )
        .into_future(),
    );
    std::fs::create_dir_all(dir.path().join("throughput"))?;
    std::fs::create_dir_all(dir.path().join("memory"))?;
    if messages > 0 {
        throughput(&dir.path().join("throughput"), &server, &keys, messages).await?;
    }
    if accounts > 0 {
        memory(&dir.path().join("memory"), &server, &keys, accounts).await?;
    }
    if compare > 0 {
        mautrix::compare(&dir.path().join("compare"), &server, &keys, compare).await?;
    }
    Ok(())
}
