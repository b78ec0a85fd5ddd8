//! Baselines for the WhatsApp path, printed, never asserted: the round trip
//! of a message between two real whatsapp-rust clients through the test
//! server (sent by one, decrypted by the other, answered, decrypted back),
//! and how much memory one idle connected client adds to its process.

#[path = "../tests/common/mod.rs"]
mod common;

use causeway_core::store::test_store;
use causeway_testkit::process::usage;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::{Duration, Instant};
use whatsapp_rust::Jid;

const ROUND_TRIPS: usize = 200;
const ALICE: &str = "4410000001";
const BOB: &str = "4410000002";
const CAROL: &str = "4410000003";

fn rss_kib() -> u64 {
    usage(std::process::id()).map(|(_, rss)| rss).unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = WaTestServer::start().await?;
    for (phone, name) in [(ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")] {
        server.add_account(phone, name);
    }
    let (store, _dir) = test_store().await;
    let (alice, mut alice_events) = paired(&server, &store, "alice", ALICE).await;
    let (bob, mut bob_events) = paired(&server, &store, "bob", BOB).await;

    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS {
        let started = Instant::now();
        alice
            .client()
            .send_message(Jid::pn(BOB), text(&format!("ping {i}")))
            .await?;
        next_text(&mut bob_events).await;
        bob.client()
            .send_message(Jid::pn(ALICE), text(&format!("pong {i}")))
            .await?;
        next_text(&mut alice_events).await;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib();
    let (carol, _carol_events) = paired(&server, &store, "carol", CAROL).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_client = rss_kib().saturating_sub(before);

    println!("whatsapp test server, {ROUND_TRIPS} round trips between two whatsapp-rust clients on SQLite stores (bench profile):");
    println!(
        "  round trip: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.95),
        at(1.0)
    );
    println!("  one idle connected client adds {idle_client} KiB of RSS");
    for bot in [alice, bob, carol] {
        bot.shutdown().await;
    }
    Ok(())
}
