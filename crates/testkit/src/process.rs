//! What benchmarks read off a running bridge process.

use anyhow::{ensure, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a bridge binary with `config` written to `dir/config.yaml`,
/// logging to `dir/bridge.log`.
pub fn spawn_bridge(bin: &str, dir: &Path, config: &str) -> Result<Child> {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config)?;
    let log = std::fs::File::create(dir.join("bridge.log"))?;
    Ok(Command::new(bin)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()?)
}

/// Waits up to `grace` for a signalled child to exit, then kills it.
pub fn wait_or_kill(mut child: Child, grace: Duration) {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU seconds a process used so far, and its resident memory in KiB.
pub fn usage(pid: u32) -> Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; the list starts at field 3.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok((ticks / 100.0, rss))
}

/// Waits until a bridge on `port` answers `/health`.
pub async fn wait_for_health(port: u16) -> Result<()> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_err()
    {
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the bridge did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Throughput and CPU cost of one bench run, measured on a process.
pub struct Throughput {
    pid: u32,
    cpu: f64,
    started: Instant,
}

impl Throughput {
    pub fn start(pid: u32) -> Result<Self> {
        Ok(Self {
            pid,
            cpu: usage(pid)?.0,
            started: Instant::now(),
        })
    }

    /// Prints messages/s and CPU-seconds per 1,000 messages since `start`.
    pub fn report(&self, label: &str, messages: usize, detail: &str) -> Result<()> {
        let elapsed = self.started.elapsed();
        let cpu = usage(self.pid)?.0 - self.cpu;
        println!(
            "{label:<15} {:>7.0} messages/s   {:.3} CPU-s per 1,000 messages   ({detail})",
            messages as f64 / elapsed.as_secs_f64(),
            cpu * 1000.0 / messages as f64
        );
        Ok(())
    }
}

/// Hands events to a bridge as the homeserver does: one transaction, with
/// the `hs_token` the benches configure ("HS").
pub async fn put_transaction(
    http: &reqwest::Client,
    port: u16,
    txn: usize,
    events: &[serde_json::Value],
) -> Result<()> {
    let resp = http
        .put(format!(
            "http://127.0.0.1:{port}/_matrix/app/v1/transactions/t{txn}"
        ))
        .bearer_auth("HS")
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await?;
    ensure!(resp.status() == 200, "transaction: {}", resp.status());
    Ok(())
}
