//! Figures for the XMPP bridge, printed rather than asserted: throughput
//! both ways with the real `causeway-xmpp` process between Prosody and the
//! fast homeserver stand-in, with CPU-seconds per 1,000 messages, the
//! bridge's RSS with 1,000 Matrix users bridged into one MUC, and the cost of
//! XEP-0393 styling on a 64 KiB line.
//!
//! ```text
//! cargo bench -p causeway-xmpp --bench xmpp-bench
//! cargo bench -p causeway-xmpp --bench xmpp-bench -- --messages 5000 --occupants 1000
//! ```

use anyhow::{ensure, Context, Result};
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::process::{bench_option, usage, BenchBridge, Throughput};
use causeway_testkit::prosody::{self, Prosody};
use causeway_testkit::xmpp_client::{body_of, XmppClient};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_causeway-xmpp");

/// The bridge, on the stand-in homeserver and Prosody.
async fn start_bridge(dir: &Path, hs_url: &str, server: &Prosody) -> Result<BenchBridge> {
    let port = causeway_testkit::synapse::free_port()?;
    let config = format!(
        r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:{port}", hostname: 127.0.0.1, port: {port}, id: xmpp, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}" }}
bridge: {{ username_template: "xmpp_{{id}}", alias_template: "_xmpp_{{id}}", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
logging: {{ level: warn }}
network:
  component_jid: {component}
  component_secret: {secret}
  server_port: {component_port}
  muc_domains: [{muc}]
  backfill_messages: 0
"#,
        db = dir.join("bridge.db").display(),
        key = dir.join("bridge.key").display(),
        component = prosody::COMPONENT,
        secret = prosody::SECRET,
        component_port = server.component_port,
        muc = prosody::MUC_DOMAIN,
    );
    BenchBridge::start(BIN, dir, port, &config).await
}

/// Makes a MUC's portal through the alias query; returns its room ID.
async fn portal(bridge: &BenchBridge, hs: &FakeHomeserver, room: &str) -> Result<String> {
    let alias = format!("#_xmpp_{room}_{}:bench.local", prosody::MUC_DOMAIN);
    let url = format!(
        "http://127.0.0.1:{}/_matrix/app/v1/rooms/{}",
        bridge.port,
        urlencoding::encode(&alias)
    );
    let resp = bridge.http.get(url).bearer_auth("HS").send().await?;
    ensure!(resp.status() == 200, "alias query: {}", resp.status());
    hs.rooms
        .lock()
        .ok()
        .and_then(|rooms| rooms.last().cloned())
        .context("no room was created")
}

fn join_event(room: &str, user: &str, n: usize) -> Value {
    json!({ "type": "m.room.member", "event_id": format!("$join{n}"), "room_id": room, "sender": user, "state_key": user,
            "origin_server_ts": 1, "content": { "membership": "join", "displayname": user.trim_start_matches('@').split(':').next() } })
}

/// Waits until `count` occupants whose nick starts with `prefix` are in.
async fn await_presences(
    observer: &mut XmppClient,
    room: &str,
    prefix: &str,
    count: usize,
) -> Result<()> {
    let mut seen = 0;
    let from = format!("{room}/{prefix}");
    while seen < count {
        observer
            .wait_for(Duration::from_secs(120), |e| {
                e.name() == "presence"
                    && e.attr("from").is_some_and(|f| f.starts_with(&from))
                    && e.attr("type").is_none()
            })
            .await?;
        seen += 1;
    }
    Ok(())
}

async fn throughput(dir: &Path, messages: usize) -> Result<()> {
    let server = Prosody::start(&dir.join("prosody"), &[("bob", "bobpass")])?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let mut bridge = start_bridge(dir, &hs_url, &server).await?;
    let muc = format!("bench@{}", prosody::MUC_DOMAIN);
    let mut bob = XmppClient::connect(server.c2s_port, "bob", prosody::DOMAIN, "bobpass").await?;
    bob.join_muc(&muc, "bob").await?;
    let room = portal(&bridge, &hs, "bench").await?;
    bridge
        .transact(vec![join_event(&room, "@listener:bench.local", 0)])
        .await?;
    await_presences(&mut bob, &muc, "listener", 1).await?;

    // XMPP → Matrix: bob talks; count the homeserver's sends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = hs.sends.load(Ordering::Relaxed);
    let meter = Throughput::start(bridge.child.id())?;
    for i in 0..messages {
        bob.message(&muc, "groupchat", &format!("xmpp message {i}"))
            .await?;
    }
    hs.wait_for_sends(before + messages as u64, "XMPP → Matrix")
        .await?;
    meter.report("XMPP → Matrix:", messages, &format!("{messages} messages"))?;
    bob.drain();

    // Matrix → XMPP: 20 Matrix users talk; count the lines bob receives.
    let users = 20;
    let joins: Vec<Value> = (0..users)
        .map(|u| join_event(&room, &format!("@u{u}:bench.local"), u + 1))
        .collect();
    bridge.transact(joins).await?;
    await_presences(&mut bob, &muc, "u", users).await?;
    let outgoing: Vec<Value> = (0..messages)
        .map(|i| {
            json!({ "type": "m.room.message", "event_id": format!("$m{i}"), "room_id": room, "sender": format!("@u{}:bench.local", i % users),
                    "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": format!("bench {i}") } })
        })
        .collect();
    let meter = Throughput::start(bridge.child.id())?;
    bridge.transact(outgoing).await?;
    let mut seen = 0;
    while seen < messages {
        bob.wait_for(Duration::from_secs(120), |e| {
            body_of(e).is_some_and(|b| b.starts_with("bench "))
        })
        .await?;
        seen += 1;
    }
    meter.report(
        "Matrix → XMPP:",
        messages,
        &format!("{messages} messages from {users} users"),
    )?;
    Ok(())
}

async fn memory(dir: &Path, occupants: usize) -> Result<()> {
    let server = Prosody::start(&dir.join("prosody-mem"), &[("bob", "bobpass")])?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let mut bridge = start_bridge(&dir.join("mem"), &hs_url, &server).await?;
    let muc = format!("crowd@{}", prosody::MUC_DOMAIN);
    let mut bob = XmppClient::connect(server.c2s_port, "bob", prosody::DOMAIN, "bobpass").await?;
    bob.join_muc(&muc, "bob").await?;
    let room = portal(&bridge, &hs, "crowd").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, idle_rss) = usage(bridge.child.id())?;
    let joins: Vec<Value> = (0..occupants)
        .map(|u| join_event(&room, &format!("@m{u}:bench.local"), u))
        .collect();
    let started = Instant::now();
    bridge.transact(joins).await?;
    await_presences(&mut bob, &muc, "m", occupants).await?;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss) = usage(bridge.child.id())?;
    println!(
        "{occupants} Matrix occupants in one MUC: RSS {:.1} MiB (idle {:.1} MiB), {:.1} KiB per occupant; all joined in {:.1}s",
        rss as f64 / 1024.0,
        idle_rss as f64 / 1024.0,
        (rss.saturating_sub(idle_rss)) as f64 / occupants as f64,
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// XEP-0393 styling of one 64 KiB line: plain text, balanced spans, and
/// openers that never close (which a scan per opener made quadratic). The
/// ratio to plain text is the figure: it should stay near 1.
fn styling() {
    const LINE: usize = 64 * 1024;
    let fill = |unit: &str| unit.repeat(LINE / unit.len());
    let cases = [
        ("plain", fill("word ")),
        ("balanced", fill("*bold* _em_ ")),
        ("unclosed", fill("_x *y ~z ")),
    ];
    let time = |text: &str| {
        let started = Instant::now();
        for _ in 0..5 {
            std::hint::black_box(causeway_xmpp::format::styling_html(text));
        }
        started.elapsed().as_secs_f64() / 5.0
    };
    let plain = time(&cases[0].1);
    for (name, text) in &cases {
        let secs = time(text);
        println!(
            "styling a 64 KiB {name} line: {:.2} ms ({:.1}x plain)",
            secs * 1000.0,
            secs / plain
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let messages = bench_option("--messages", 2000)?;
    let occupants = bench_option("--occupants", 1000)?;
    styling();
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("mem"))?;
    throughput(dir.path(), messages).await?;
    if occupants > 0 {
        memory(dir.path(), occupants).await?;
    }
    Ok(())
}
