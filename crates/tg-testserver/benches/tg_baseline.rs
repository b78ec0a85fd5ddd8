//! Baselines for the Telegram path, printed, never asserted: the round
//! trip of a message between two grammers clients through the test server
//! (sent by one, pushed to the other, answered, pushed back), and how much
//! memory one idle logged-in client adds to its process.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};

const ROUND_TRIPS: usize = 200;

/// The process's resident memory, in KiB, from /proc.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let before = rss_kib();
    let mut alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut alice_updates = updates_of(&mut alice).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_client = rss_kib().saturating_sub(before);
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let (to_bob, to_alice) = (peer(&alice, "bob").await?, peer(&bob, "alice").await?);

    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS {
        let started = Instant::now();
        bounded(
            "send",
            alice.client.send_message(to_bob, format!("ping {i}")),
        )
        .await??;
        next_texts(&mut bob_updates, 1).await?;
        bounded(
            "send",
            bob.client.send_message(to_alice, format!("pong {i}")),
        )
        .await??;
        next_texts(&mut alice_updates, 1).await?;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!("telegram test server, {ROUND_TRIPS} round trips between two grammers clients (bench profile):");
    println!(
        "  round trip: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.95),
        at(1.0)
    );
    println!(
        "  one idle logged-in client adds {idle_client} KiB of resident memory to its process"
    );
    Ok(())
}
