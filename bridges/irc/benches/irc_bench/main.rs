//! Figures for the IRC bridge, printed rather than asserted:
//!
//! - throughput both ways, and the bridge's CPU-seconds per 1,000 messages,
//!   with the real `causeway-irc` process between ngircd and the fast
//!   homeserver stand-in;
//! - the bridge's RSS per puppeted connection at 1,000 and 5,000 Matrix
//!   users connected to InspIRCd;
//! - side by side with heisenbridge on one Synapse and ngircd: CPU-seconds
//!   per 1,000 messages and RSS per connection, as ratios;
//! - IRC → Matrix at a homeserver's pace, the stand-in holding each send,
//!   beside what waking after such a pause costs the machine; and Matrix →
//!   IRC one message to a transaction at the same pace;
//! - through Synapse, the flood matrix-appservice-irc was measured on: CPU
//!   of the bridge and of Synapse per 1,000 lines, order, and latency.
//!
//! ```text
//! cargo bench -p causeway-irc --bench irc-bench
//! cargo bench -p causeway-irc --bench irc-bench -- --messages 5000 --connections 1000,5000
//! cargo bench -p causeway-irc --bench irc-bench -- --no-throughput --connections none --compare-users 20
//! cargo bench -p causeway-irc --bench irc-bench -- --no-throughput --connections none --compare-users 0 --flood 2000
//! cargo bench -p causeway-irc --bench irc-bench -- --no-throughput --connections none --compare-users 0 --flood 0 --paced 0,35
//! ```

use anyhow::{bail, ensure, Context, Result};
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::inspircd::InspIrcd;
use causeway_testkit::ircd::{Ngircd, RawIrc};
use serde_json::json;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_causeway-irc");

mod flood;
mod floor;
mod heisenbridge;
mod paced;

struct Args {
    messages: usize,
    /// Connection counts for the memory run; empty skips it.
    connections: Vec<usize>,
    /// Users each bridge connects in the comparison; 0 skips it.
    compare_users: usize,
    compare_messages: usize,
    throughput: bool,
    /// Matrix events per transaction in the throughput run: Synapse sends
    /// one at a time to a bridge that keeps up, so 1 shows the fixed cost
    /// of a transaction.
    per_transaction: usize,
    /// The flood through Synapse; 0 lines skips it.
    flood: flood::Workload,
    paced: paced::Workload,
}

fn args() -> Result<Args> {
    let mut args = Args {
        messages: 2000,
        connections: vec![1000, 5000],
        compare_users: 20,
        compare_messages: 200,
        throughput: true,
        per_transaction: 50,
        flood: flood::Workload {
            lines: 2000,
            users: 50,
            messages: 500,
        },
        paced: paced::Workload {
            delays_ms: vec![0, 1, 5, 15, 35],
            lines: 400,
            echo: true,
        },
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        match flag.as_str() {
            "--messages" => args.messages = given.next().context("--messages N")?.parse()?,
            "--connections" => {
                args.connections = list(given.next(), "--connections N,M (or none)")?
            }
            "--compare-users" => {
                args.compare_users = given.next().context("--compare-users N")?.parse()?
            }
            "--compare-messages" => {
                args.compare_messages = given.next().context("--compare-messages N")?.parse()?
            }
            "--no-throughput" => args.throughput = false,
            "--flood" => args.flood.lines = given.next().context("--flood LINES")?.parse()?,
            "--flood-users" => {
                args.flood.users = given.next().context("--flood-users N")?.parse()?
            }
            "--flood-messages" => {
                args.flood.messages = given.next().context("--flood-messages N")?.parse()?
            }
            "--paced" => args.paced.delays_ms = list(given.next(), "--paced MS,MS (or none)")?,
            "--paced-no-echo" => args.paced.echo = false,
            "--paced-lines" => {
                args.paced.lines = given.next().context("--paced-lines N")?.parse()?
            }
            "--per-transaction" => {
                args.per_transaction = given.next().context("--per-transaction N")?.parse()?
            }
            // cargo bench passes --bench; nothing else is ours.
            _ => {}
        }
    }
    Ok(args)
}

/// A flag's comma-separated numbers; "none" is the empty list.
fn list<T: std::str::FromStr>(value: Option<String>, usage: &str) -> Result<Vec<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(value
        .context(usage.to_owned())?
        .split(',')
        .filter(|n| *n != "none")
        .map(str::parse)
        .collect::<Result<_, _>>()?)
}

/// The bridge as a child process, as admins run it.
struct BridgeProcess {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl BridgeProcess {
    async fn start(dir: &Path, hs_url: &str, irc_port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = causeway_testkit::synapse::free_port()?;
        let config = format!(
            r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:{port}", hostname: 127.0.0.1, port: {port}, id: irc, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}" }}
bridge: {{ username_template: "_irc_{{id}}", alias_template: "_{{id}}", command_prefix: "!", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
logging: {{ level: warn }}
network:
  concurrent_connects: 200
  networks:
    local:
      name: Bench IRC
      address: 127.0.0.1
      port: {irc_port}
      bot_nick: causeway
      max_connections: 20000
      flood: {{ burst: 100000, per_second: 100000 }}
"#,
            db = dir.join("bridge.db").display(),
            key = dir.join("bridge.key").display(),
        );
        let child = causeway_testkit::process::spawn_bridge(BIN, dir, &config)?;
        let bridge = Self {
            child,
            port,
            http: reqwest::Client::new(),
        };
        causeway_testkit::process::wait_for_health(port).await?;
        Ok(bridge)
    }

    fn usage(&self) -> Result<(f64, u64)> {
        usage(self.child.id())
    }

    /// Makes a channel's portal through the alias query, as a user's client
    /// would; returns its room ID.
    async fn portal(&self, hs: &FakeHomeserver, channel: &str) -> Result<String> {
        let alias = format!("#_local_{channel}:bench.local");
        let url = format!(
            "http://127.0.0.1:{}/_matrix/app/v1/rooms/{}",
            self.port,
            urlencoding::encode(&alias)
        );
        let resp = self.http.get(url).bearer_auth("HS").send().await?;
        ensure!(resp.status() == 200, "alias query: {}", resp.status());
        hs.rooms
            .lock()
            .ok()
            .and_then(|rooms| rooms.last().cloned())
            .context("no room was created")
    }

    /// Sends Matrix messages into the bridge, `per_transaction` to a
    /// transaction.
    async fn send_matrix(
        &self,
        messages: &[(String, String, String)],
        txn_base: usize,
        per_transaction: usize,
    ) -> Result<()> {
        for (t, chunk) in messages.chunks(per_transaction.max(1)).enumerate() {
            let events: Vec<_> = chunk
                .iter()
                .map(|(id, room, sender)| {
                    json!({ "type": "m.room.message", "event_id": id, "room_id": room, "sender": sender,
                            "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": format!("bench {id}") } })
                })
                .collect();
            causeway_testkit::process::put_transaction(
                &self.http,
                self.port,
                txn_base + t,
                &events,
            )
            .await?;
        }
        Ok(())
    }
}

pub use causeway_testkit::process::{usage, Throughput};

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// causeway-irc on a Synapse of its own, logging at warning level, bridging
/// the ngircd on `irc_port`; `extra_registrations` for a bridge beside it.
async fn through_synapse(
    irc_port: u16,
    extra_registrations: Vec<std::path::PathBuf>,
) -> Result<causeway_testkit::env::TestEnv> {
    let network = serde_yaml::from_str(&format!(
        "{{ concurrent_connects: 50, networks: {{ local: {{ name: Local, address: 127.0.0.1, port: {irc_port}, bot_nick: causeway, flood: {{ burst: 100000, per_second: 100000 }} }} }} }}"
    ))?;
    causeway_testkit::env::TestEnv::start(
        Path::new(BIN),
        causeway_testkit::env::EnvOptions {
            network: Some(network),
            extra_registrations,
            quiet: true,
            ..Default::default()
        },
    )
    .await
}

/// Waits until the relay bot is in `channel`, as `observer` sees it.
async fn bot_joined(observer: &mut RawIrc, channel: &str) -> Result<()> {
    let channel = channel.to_owned();
    observer
        .wait_for(move |l| {
            l.starts_with(":causeway!") && l.contains(" JOIN ") && l.ends_with(&channel)
        })
        .await?;
    Ok(())
}

async fn throughput(dir: &Path, messages: usize, per_transaction: usize) -> Result<()> {
    let ircd = Ngircd::start(&dir.join("ngircd"))?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let bridge = BridgeProcess::start(dir, &hs_url, ircd.port).await?;
    let mut observer = RawIrc::connect(ircd.port, "observer").await?;
    observer.join("#bench").await?;
    let room = bridge.portal(&hs, "#bench").await?;
    bot_joined(&mut observer, "#bench").await?;

    // IRC → Matrix: one IRC user talks; count the homeserver's sends.
    let before = hs.sends.load(Ordering::Relaxed);
    let meter = Throughput::start(bridge.child.id())?;
    for i in 0..messages {
        observer
            .send(&format!("PRIVMSG #bench :irc message {i}"))
            .await?;
    }
    hs.wait_for_sends(before + messages as u64, "IRC → Matrix")
        .await?;
    meter.report("IRC → Matrix:", messages, &format!("{messages} messages"))?;

    // Matrix → IRC: 20 Matrix users talk; count the lines on IRC. The first
    // message of each user opens their connection; that is part of the cost.
    let users = 20;
    let outgoing: Vec<(String, String, String)> = (0..messages)
        .map(|i| {
            (
                format!("$m{i}"),
                room.clone(),
                format!("@u{}:bench.local", i % users),
            )
        })
        .collect();
    let meter = Throughput::start(bridge.child.id())?;
    bridge.send_matrix(&outgoing, 0, per_transaction).await?;
    count_on_irc(&mut observer, "PRIVMSG #bench :bench $m", messages).await?;
    meter.report(
        "Matrix → IRC:",
        messages,
        &format!("{messages} messages from {users} users, {per_transaction} to a transaction, connections included"),
    )?;
    Ok(())
}

/// Counts the lines on IRC that carry `marker`, until `expected` arrive.
pub async fn count_on_irc(observer: &mut RawIrc, marker: &str, expected: usize) -> Result<()> {
    let mut seen = 0;
    let started = Instant::now();
    while seen < expected {
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {seen} of {expected} reached IRC"
        );
        match tokio::time::timeout(Duration::from_secs(60), observer.next_line()).await {
            Ok(Ok(Some(line))) if line.contains(marker) => seen += 1,
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => bail!("the observer was disconnected"),
            Ok(Err(err)) => return Err(err),
            Err(_) => bail!("only {seen} of {expected} reached IRC"),
        }
    }
    Ok(())
}

/// Local users on the server, from LUSERS (265).
async fn local_users(observer: &mut RawIrc) -> Result<usize> {
    observer.seen.clear();
    observer.send("LUSERS").await?;
    let line = observer
        .wait_for(|l| l.split(' ').nth(1) == Some("265"))
        .await?;
    // ":server 265 me [N M] :Current local users: N  Max: M"
    let count = line
        .split(' ')
        .nth(3)
        .and_then(|n| n.parse().ok())
        .or_else(|| {
            let (_, after) = line.split_once("users: ")?;
            after.split_whitespace().next()?.parse().ok()
        })
        .context("no user count in 265")?;
    Ok(count)
}

async fn memory(dir: &Path, levels: &[usize]) -> Result<()> {
    let ircd = InspIrcd::start(&dir.join("inspircd"))?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let bridge = BridgeProcess::start(dir, &hs_url, ircd.port).await?;
    let mut observer = RawIrc::connect(ircd.port, "observer").await?;
    // A hundred channels, so that no channel's JOIN traffic dominates.
    let channels = 100;
    let mut rooms = Vec::new();
    for c in 0..channels {
        observer.join(&format!("#mem{c}")).await?;
        rooms.push(bridge.portal(&hs, &format!("#mem{c}")).await?);
        bot_joined(&mut observer, &format!("#mem{c}")).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, base) = bridge.usage()?;
    let users_before = local_users(&mut observer).await?;
    let mut connected = 0;
    for &level in levels {
        let next: Vec<(String, String, String)> = (connected..level)
            .map(|i| {
                (
                    format!("$c{i}"),
                    rooms[i % channels].clone(),
                    format!("@m{i}:bench.local"),
                )
            })
            .collect();
        let started = Instant::now();
        bridge.send_matrix(&next, connected, 50).await?;
        while local_users(&mut observer).await? < users_before + level {
            ensure!(
                started.elapsed() < Duration::from_secs(900),
                "connections stalled"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        connected = level;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, rss) = bridge.usage()?;
        println!(
            "{level:>5} connections: bridge RSS {:.1} MiB, {:.1} KiB per connection above the idle bridge ({:.1} MiB)   (connected in {:.0} s)",
            rss as f64 / 1024.0,
            (rss - base) as f64 / level as f64,
            base as f64 / 1024.0,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    println!("irc-bench: causeway-irc (release) between ngircd or InspIRCd and a fast homeserver stand-in, all on loopback");
    if args.throughput {
        throughput(
            &dir.path().join("throughput"),
            args.messages,
            args.per_transaction,
        )
        .await?;
    }
    if !args.paced.delays_ms.is_empty() {
        paced::run(&dir.path().join("paced"), &args.paced).await?;
    }
    if !args.connections.is_empty() {
        memory(&dir.path().join("memory"), &args.connections).await?;
    }
    if args.flood.lines > 0 {
        flood::run(&dir.path().join("flood"), &args.flood).await?;
    }
    if args.compare_users > 0 {
        heisenbridge::compare(
            &dir.path().join("compare"),
            args.compare_users,
            args.compare_messages,
        )
        .await?;
    }
    Ok(())
}
