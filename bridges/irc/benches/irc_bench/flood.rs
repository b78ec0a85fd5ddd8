//! The workload matrix-appservice-irc was measured on, through Synapse:
//!
//! - one IRC user floods N lines into a channel whose room has one Matrix
//!   user: the bridge's and Synapse's CPU-seconds per 1,000 lines, lines/s,
//!   how many arrived out of order, missing or twice, and each line's
//!   latency from the IRC client's write to Synapse's `origin_server_ts`
//!   (ngircd has no `server-time`, so the bridge does not backdate it);
//! - U Matrix users, each already connected, send M messages in all: the
//!   bridge's and Synapse's CPU-seconds per 1,000 messages.

use super::{count_on_irc, usage};
use anyhow::{ensure, Context, Result};
use causeway_testkit::env::TestEnv;
use causeway_testkit::ircd::{Ngircd, RawIrc};
use causeway_testkit::matrix_client::body;
use causeway_testkit::process::cpu_during;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Workload {
    pub lines: usize,
    pub users: usize,
    pub messages: usize,
}

/// CPU-seconds of the bridge (to the nanosecond; a few hundred messages
/// take only a few 10 ms ticks of it) and of Synapse while `work` ran.
async fn cpu<T>(
    (bridge, synapse): (u32, u32),
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<(f64, f64, T)> {
    let before = usage(synapse)?.0;
    let (bridge_cpu, output) = cpu_during(bridge, work).await?;
    Ok((bridge_cpu, usage(synapse)?.0 - before, output))
}

/// The bridge's CPU as a share of Synapse's in the same run, in percent:
/// steadier across hours of this machine than either figure alone, since
/// both move with it.
fn share(bridge: f64, synapse: f64) -> f64 {
    100.0 * bridge / synapse.max(f64::EPSILON)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub async fn run(dir: &Path, work: &Workload) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let ircd = Ngircd::start(&dir.join("ngircd"))?;
    let env = super::through_synapse(ircd.port, Vec::new()).await?;
    let bridge = env.bridge_pid().context("the bridge is not running")?;
    let synapse = env.synapse.pid().context("Synapse is not running")?;
    let mut flooder = RawIrc::connect(ircd.port, "flooder").await?;
    flooder.join("#flood").await?;

    // The reader joins and says hello, so that its connection is in the
    // channel before the flood.
    let reader = env.user("reader").await?;
    let room = reader.join("#_local_#flood:localhost").await?;
    reader.send_text(&room, "hello").await?;
    count_on_irc(&mut flooder, "PRIVMSG #flood :hello", 1).await?;

    println!(
        "through Synapse, as matrix-appservice-irc was measured: {} IRC lines flooded into a room with one Matrix user; {} users send {} messages",
        work.lines, work.users, work.messages
    );
    let (bridge_cpu, synapse_cpu, (sent_at, order, mut latency, last)) =
        cpu((bridge, synapse), async {
            let started = Instant::now();
            let mut sent_at = Vec::with_capacity(work.lines);
            for i in 0..work.lines {
                sent_at.push(now_ms());
                flooder.send(&format!("PRIVMSG #flood :flood {i}")).await?;
            }
            let mut order = Vec::with_capacity(work.lines);
            let mut latency = Vec::with_capacity(work.lines);
            let mut last = 0;
            let mut spoke = Instant::now();
            while order.len() < work.lines {
                // The flooder reads nothing until the other half of the run,
                // so it must not go quiet long enough for ngircd's PING
                // (after 120 s) to go unanswered when Synapse is slow.
                if spoke.elapsed() > Duration::from_secs(30) {
                    flooder.send("PING :still-here").await?;
                    spoke = Instant::now();
                }
                ensure!(
                    started.elapsed() < Duration::from_secs(600),
                    "only {} of {} lines reached Matrix",
                    order.len(),
                    work.lines
                );
                reader.sync_once(1000).await?;
                let seen = reader.seen(&room, |e| body(e).starts_with("flood "));
                for event in &seen[order.len()..] {
                    let i: usize = body(event)["flood ".len()..].parse()?;
                    let ts = event["origin_server_ts"].as_i64().unwrap_or_default();
                    order.push(i);
                    latency.push(ts - sent_at.get(i).copied().unwrap_or_default());
                    last = last.max(ts);
                }
            }
            Ok((sent_at, order, latency, last))
        })
        .await?;
    let elapsed = (last - sent_at[0]).max(1) as f64 / 1000.0;
    let late = order
        .iter()
        .scan(None, |max, &i| {
            let before = *max;
            *max = Some(before.map_or(i, |m: usize| m.max(i)));
            Some(before.is_some_and(|m| i < m))
        })
        .filter(|&late| late)
        .count();
    let mut distinct = order.clone();
    distinct.sort_unstable();
    distinct.dedup();
    latency.sort_unstable();
    let percentile = |p: f64| latency[((latency.len() - 1) as f64 * p) as usize];
    let per_1000 = |cpu: f64| cpu * 1000.0 / work.lines as f64;
    println!(
        "  IRC → Matrix: {:.0} lines/s; CPU-s per 1,000 lines: bridge {:.3}, Synapse {:.2} (the bridge {:.2}% of Synapse)",
        work.lines as f64 / elapsed,
        per_1000(bridge_cpu),
        per_1000(synapse_cpu),
        share(bridge_cpu, synapse_cpu),
    );
    println!(
        "  IRC → Matrix: {late} of {} out of order, {} missing, {} twice; latency to Synapse p50 {} ms, p99 {} ms, max {} ms",
        work.lines,
        work.lines - distinct.len(),
        order.len() - distinct.len(),
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
    );

    matrix_to_irc(&env, &mut flooder, (bridge, synapse), work).await
}

/// Each user joins and says hello (their connection opens), then they all
/// send their share of the messages at once, each in order.
async fn matrix_to_irc(
    env: &TestEnv,
    observer: &mut RawIrc,
    (bridge, synapse): (u32, u32),
    work: &Workload,
) -> Result<()> {
    let mut users = Vec::new();
    for u in 0..work.users {
        let user = env.user(&format!("talker{u}")).await?;
        let room = user.join("#_local_#flood:localhost").await?;
        user.send_text(&room, "hello").await?;
        users.push((user, room));
    }
    count_on_irc(observer, "PRIVMSG #flood :hello", work.users).await?;
    // What the bridge spends with nothing to bridge (timers, pings, its
    // connections' upkeep), so that the per-message figure below can be
    // read net of it: at Synapse's pace a message costs milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rest = Duration::from_secs(5);
    let (at_rest, ()) = cpu_during(bridge, async {
        tokio::time::sleep(rest).await;
        Ok(())
    })
    .await?;
    let at_rest = at_rest / rest.as_secs_f64();
    println!(
        "  Matrix → IRC: at rest with {} users connected, the bridge uses {:.2} ms CPU a second",
        work.users,
        at_rest * 1000.0
    );
    // A mark for a profiler to start on.
    println!("  Matrix → IRC: {} users connected, talking", work.users);
    let started = Instant::now();
    let (bridge_cpu, synapse_cpu, ()) = cpu((bridge, synapse), async {
        let each = work.messages.div_ceil(work.users.max(1));
        let sends = users
            .iter()
            .enumerate()
            .map(|(u, (user, room))| async move {
                for m in (u * each..(u + 1) * each).take_while(|&m| m < work.messages) {
                    user.send_text(room, &format!("talk {m}")).await?;
                }
                anyhow::Ok(())
            });
        for sent in futures_util::future::join_all(sends).await {
            sent?;
        }
        count_on_irc(observer, " :talk ", work.messages).await
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let per_1000 = |cpu: f64| cpu * 1000.0 / work.messages as f64;
    println!(
        "  Matrix → IRC: {:.0} messages/s; CPU-s per 1,000 messages: bridge {:.3} ({:.3} net of its rest), Synapse {:.2} (the bridge {:.2}% of Synapse)",
        work.messages as f64 / elapsed,
        per_1000(bridge_cpu),
        per_1000((bridge_cpu - at_rest * elapsed).max(0.0)),
        per_1000(synapse_cpu),
        share(bridge_cpu, synapse_cpu),
    );
    Ok(())
}
