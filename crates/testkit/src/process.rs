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

/// Sends a process a signal with `kill`, such as `-STOP` to freeze it
/// where it is, closing nothing, or `-CONT` to let it go on.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill {signal} {pid}: {status}");
    Ok(())
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

/// CPU seconds the live threads of a process used so far, to the
/// nanosecond (each thread's `schedstat`), where [`usage`] counts 10 ms
/// ticks. A thread that has exited is no longer counted.
fn thread_cpu(pid: u32) -> Result<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread can exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue;
        };
        nanos += stat
            .split_whitespace()
            .next()
            .context("an empty schedstat")?
            .parse::<u64>()?;
    }
    Ok(nanos as f64 / 1e9)
}

/// The CPU seconds a process used while `work` ran: to the nanosecond, or
/// in 10 ms ticks if one of its threads exited meanwhile, which the finer
/// reading would miss.
pub async fn cpu_during<T>(
    pid: u32,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<(f64, T)> {
    let (ticks, fine) = (usage(pid)?.0, thread_cpu(pid)?);
    let output = work.await?;
    let (ticks, fine) = (usage(pid)?.0 - ticks, thread_cpu(pid)? - fine);
    // Each tick reading is rounded down, so the two may differ by two.
    let cpu = if ticks - fine > 0.02 { ticks } else { fine };
    Ok((cpu, output))
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

/// A bench's numeric option, `--name N` on its command line, or `default`.
/// Flags `cargo bench` passes itself (`--bench`) are not ours and skipped.
pub fn bench_option(name: &str, default: usize) -> Result<usize> {
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        if flag == name {
            let value = given.next().with_context(|| format!("{name} N"))?;
            return value
                .parse()
                .with_context(|| format!("{name} wants a number, not {value:?}"));
        }
    }
    Ok(default)
}

/// A bridge process a bench drives: started on its config and healthy,
/// fed transactions as the homeserver would, and killed when dropped.
pub struct BenchBridge {
    pub child: Child,
    pub port: u16,
    pub http: reqwest::Client,
    next_txn: usize,
}

impl BenchBridge {
    /// Starts `bin` on `config`, whose appservice listens on `port`; the
    /// bridge's log is told if it never becomes healthy.
    pub async fn start(bin: &str, dir: &Path, port: u16, config: &str) -> Result<Self> {
        let bridge = Self {
            child: spawn_bridge(bin, dir, config)?,
            port,
            http: reqwest::Client::new(),
            next_txn: 0,
        };
        if let Err(err) = wait_for_health(port).await {
            let log = std::fs::read_to_string(dir.join("bridge.log")).unwrap_or_default();
            anyhow::bail!("{err}:\n{log}");
        }
        Ok(bridge)
    }

    /// A provisioning API call as `user`, with the shared `secret`.
    pub async fn provision(
        &self,
        secret: &str,
        path: &str,
        user: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let url = format!(
            "http://127.0.0.1:{}/_causeway/provision/v1{path}",
            self.port
        );
        let reply = self
            .http
            .post(url)
            .query(&[("user_id", user)])
            .bearer_auth(secret)
            .json(&body)
            .send()
            .await?;
        let status = reply.status();
        let value: serde_json::Value = reply.json().await?;
        ensure!(status == 200, "{path}: {status} {value}");
        Ok(value)
    }

    /// Hands events to the bridge as the homeserver would, 50 at a time.
    pub async fn transact(&mut self, events: Vec<serde_json::Value>) -> Result<()> {
        for chunk in events.chunks(50) {
            self.next_txn += 1;
            put_transaction(&self.http, self.port, self.next_txn, chunk).await?;
        }
        Ok(())
    }
}

impl Drop for BenchBridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
