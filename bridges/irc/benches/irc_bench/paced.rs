//! IRC → Matrix at a homeserver's pace, without Synapse: the fast stand-in
//! holds each send for a set delay before it answers, as Synapse does
//! (25–40 ms a send while it persists a flood one event at a time), and
//! sends each event back as a transaction, as Synapse does too. A portal
//! sends its lines one at a time, so at that pace each line wakes the
//! bridge from idle twice: for the answer, and for the echo.
//!
//! Beside each figure, the least a bridge can spend on a line at that
//! pace (see `floor`), in the same run, and the machine's own cost of
//! waking: the same walk
//! over 1 MiB of memory after a sleep as long as the delay, against back
//! to back. Caches and branch predictors go cold while a thread sleeps, so
//! the same work costs more the longer the pause; the ratio says how much
//! of the bridge's figure is that.
//!
//! Then the other way, as Synapse sends a bridge that keeps up: Matrix
//! messages one to a transaction, the same delays apart. That is the path
//! the side by side with heisenbridge measures, here without Synapse's own
//! load moving the figure.

use super::floor::Floor;
use super::{bot_joined, count_on_irc, BridgeProcess};
use anyhow::Result;
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::ircd::{Ngircd, RawIrc};
use causeway_testkit::process::cpu_during;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Workload {
    /// Milliseconds the stand-in holds each send, one run each; empty
    /// skips the runs.
    pub delays_ms: Vec<u64>,
    /// Lines each run sends.
    pub lines: usize,
    /// Whether the stand-in sends each event back, as Synapse does.
    pub echo: bool,
}

pub async fn run(dir: &Path, work: &Workload) -> Result<()> {
    let ircd = Ngircd::start(&dir.join("ngircd"))?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let bridge = BridgeProcess::start(dir, &hs_url, ircd.port).await?;
    if work.echo {
        hs.echo_to(format!("http://127.0.0.1:{}", bridge.port), "HS".into());
    }
    let mut talker = RawIrc::connect(ircd.port, "talker").await?;
    talker.join("#paced").await?;
    let room = bridge.portal(&hs, "#paced").await?;
    bot_joined(&mut talker, "#paced").await?;
    let floor = Floor::start(ircd.port, "#floor", work.echo).await?;
    talker.join("#floor").await?;
    println!(
        "IRC → Matrix at a homeserver's pace: {} lines a run, each send answered after the delay shown{}; the walk is 1 MiB of memory after a sleep that long, against back to back",
        work.lines,
        if work.echo { " and echoed back a third of it later" } else { ", not echoed" },
    );
    let back_to_back = walk_after(0).await?;
    for (run, &delay) in work.delays_ms.iter().enumerate() {
        hs.send_delay_ms.store(delay, Ordering::Relaxed);
        let before = hs.sends.load(Ordering::Relaxed);
        let started = Instant::now();
        let (cpu, ()) = cpu_during(bridge.child.id(), async {
            for i in 0..work.lines {
                talker
                    .send(&format!("PRIVMSG #paced :run {run} line {i}"))
                    .await?;
            }
            hs.wait_for_sends(before + work.lines as u64, "the paced run")
                .await
        })
        .await?;
        let elapsed = started.elapsed().as_secs_f64();
        let walk = walk_after(delay).await? / back_to_back;
        let floor_cpu = floor_irc_run(&floor, &mut talker, delay, run, work.lines).await?;
        println!(
            "  {delay:>3} ms a send: {:>6.0} lines/s   {:.3} CPU-s per 1,000 lines   the floor {:.3} (the bridge {:.1}x that)   the walk costs {walk:.1}x",
            work.lines as f64 / elapsed,
            cpu * 1000.0 / work.lines as f64,
            floor_cpu * 1000.0 / work.lines as f64,
            cpu / floor_cpu,
        );
    }
    matrix_to_irc(&bridge, &floor, &mut talker, &room, work).await
}

/// The same IRC → Matrix run through the floor's relay: its CPU seconds.
async fn floor_irc_run(
    floor: &Floor,
    talker: &mut RawIrc,
    delay: u64,
    run: usize,
    lines: usize,
) -> Result<f64> {
    floor.hs.send_delay_ms.store(delay, Ordering::Relaxed);
    let before = floor.hs.sends.load(Ordering::Relaxed);
    let cpu = floor.cpu()?;
    for i in 0..lines {
        talker
            .send(&format!("PRIVMSG #floor :run {run} line {i}"))
            .await?;
    }
    floor.wait_for(before + lines as u64).await?;
    Ok(floor.cpu()? - cpu)
}

/// Matrix → IRC the way Synapse sends a bridge that keeps up: one message
/// to a transaction, the delay shown apart, from one Matrix user, each
/// confirmed on IRC (a PING after it) and then marked done.
async fn matrix_to_irc(
    bridge: &BridgeProcess,
    floor: &Floor,
    observer: &mut RawIrc,
    room: &str,
    work: &Workload,
) -> Result<()> {
    println!(
        "Matrix → IRC at a homeserver's pace: {} messages a run from one Matrix user, one to a transaction, the delay shown apart",
        work.lines
    );
    let message = |id: String| (id, room.to_owned(), "@paced:bench.local".to_owned());
    // The first message opens the user's connection: not part of a run.
    bridge.send_matrix(&[message("$warm".into())], 0, 1).await?;
    count_on_irc(observer, "PRIVMSG #paced :bench $warm", 1).await?;
    for (run, &delay) in work.delays_ms.iter().enumerate() {
        let started = Instant::now();
        let (cpu, ()) = cpu_during(bridge.child.id(), async {
            for i in 0..work.lines {
                let txn = 1 + run * work.lines + i;
                let id = format!("$p{run}_{i}");
                bridge.send_matrix(&[message(id)], txn, 1).await?;
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
            let marker = format!("PRIVMSG #paced :bench $p{run}_");
            count_on_irc(observer, &marker, work.lines).await
        })
        .await?;
        let rate = work.lines as f64 / started.elapsed().as_secs_f64();
        let floor_cpu = floor_matrix_run(floor, delay, run, work.lines).await?;
        println!(
            "  {delay:>3} ms apart: {rate:>6.0} messages/s   {:.3} CPU-s per 1,000 messages   the floor {:.3} (the bridge {:.1}x that)",
            cpu * 1000.0 / work.lines as f64,
            floor_cpu * 1000.0 / work.lines as f64,
            cpu / floor_cpu,
        );
    }
    Ok(())
}

/// The same Matrix → IRC run through the floor's relay: its CPU seconds.
async fn floor_matrix_run(floor: &Floor, delay: u64, run: usize, lines: usize) -> Result<f64> {
    let (before, cpu) = (floor.delivered(), floor.cpu()?);
    for i in 0..lines {
        let txn = 1 + run * lines + i;
        floor.send_matrix(txn, &format!("floor {run} {i}")).await?;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    floor.wait_delivered(before + lines as u64).await?;
    Ok(floor.cpu()? - cpu)
}

/// Seconds one walk over 1 MiB takes, the median of a few dozen, each
/// after sleeping `delay_ms`; on a thread of its own, off the runtime. The
/// median leaves out a walk another process preempted.
async fn walk_after(delay_ms: u64) -> Result<f64> {
    Ok(tokio::task::spawn_blocking(move || {
        let mut memory = vec![0u8; 1 << 20];
        let mut took = Vec::new();
        // The first round pages the memory in; it is not counted.
        for round in 0..=60 {
            std::thread::sleep(Duration::from_millis(delay_ms));
            let started = Instant::now();
            for (i, byte) in memory.iter_mut().step_by(64).enumerate() {
                *byte = byte.wrapping_add(i as u8);
            }
            std::hint::black_box(&memory);
            if round > 0 {
                took.push(started.elapsed().as_secs_f64());
            }
        }
        took.sort_by(f64::total_cmp);
        took[took.len() / 2]
    })
    .await?)
}
