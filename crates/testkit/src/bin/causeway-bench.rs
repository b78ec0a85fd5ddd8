//! Benchmark of the transaction endpoint with durable SQLite ingress.
//!
//! Drives `PUT /_matrix/app/v1/transactions/{txnId}` over loopback HTTP with
//! synthetic load, while the bridge processes the stored events against a fast
//! homeserver stand-in. Prints events/s and the p50/p99 time to 200. Then
//! the other direction: messages from the network through the outbox to the
//! stand-in.
//!
//!     cargo run --release -p causeway-testkit --bin causeway-bench
//!
//! `--backlog 20000,200000,1000000` prints instead the processing rate of
//! each backlog size, so that a rate that falls as the log grows shows.

use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::config::Config;
use causeway_core::ids::{PartId, PortalKey, RemoteMessageId, RemoteUserId};
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{GhostInfo, Network, NetworkInfo};
use causeway_core::remote::RemoteEvent;
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use causeway_testkit::fake_homeserver::FakeHomeserver;
use clap::Parser;
use serde_json::json;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
struct Args {
    /// Events in each transaction.
    #[arg(long, default_value_t = 50)]
    events_per_txn: usize,
    /// Portals (rooms) the events are spread over.
    #[arg(long, default_value_t = 100)]
    portals: usize,
    /// Transactions to send in all.
    #[arg(long, default_value_t = 2000)]
    transactions: usize,
    /// Transactions in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Messages from the network, over the portals, in the remote→Matrix run.
    #[arg(long, default_value_t = 50_000)]
    remote_messages: usize,
    /// Backlog sizes in events: processing alone at each, and nothing else.
    #[arg(long, value_delimiter = ',')]
    backlog: Vec<usize>,
}

/// A network that accepts every message at once: the bench measures the core.
struct NullNetwork {
    delivered: AtomicU64,
}

#[async_trait]
impl Network for NullNetwork {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            name: "Bench",
            id: "bench",
            default_port: 0,
            example_config: "",
            ..causeway_testkit::testnet::INFO
        }
    }
    async fn start(&self, _bridge: Bridge) -> Result<()> {
        Ok(())
    }
    async fn handle_matrix_message(
        &self,
        _portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(Some(RemoteMessageId(message.meta.event_id.clone())))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What one run measured.
struct Figures {
    ingress: Duration,
    processed: Duration,
    latencies: Vec<Duration>,
}

/// A fresh bridge on a fresh SQLite database, serving on a loopback port.
async fn bridge(
    dir: &std::path::Path,
    hs_url: &str,
    args: &Args,
) -> Result<(Bridge, Arc<NullNetwork>, u16)> {
    let config = Config::parse(&format!(
        r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:1", hostname: 127.0.0.1, port: 1, id: bench, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}", max_open_conns: 4 }}
bridge: {{ username_template: "_bench_{{id}}", alias_template: "_bench_{{id}}", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
"#,
        db = dir.join("bench.db").display(),
        key = dir.join("bench.key").display(),
    ))?;
    let network = Arc::new(NullNetwork {
        delivered: AtomicU64::new(0),
    });
    let bridge = causeway_core::run::build(config, network.clone()).await?;
    for i in 0..args.portals {
        let row = PortalRow {
            key: PortalKey::shared(format!("p{i}")),
            room_id: Some(format!("!bench{i}:bench.local")),
            name: None,
            topic: None,
            plumbed: false,
            metadata: json!({}),
        };
        bridge.store().put_portal(&row).await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(
        axum::serve(
            listener,
            causeway_core::appservice::router(bridge.clone())
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .into_future(),
    );
    Ok((bridge, network, port))
}

/// Transaction `t`: its messages, spread over the portals.
fn transaction(args: &Args, t: usize) -> Vec<u8> {
    let events: Vec<_> = (0..args.events_per_txn)
        .map(|e| {
            let n = t * args.events_per_txn + e;
            json!({ "type": "m.room.message", "event_id": format!("$bench{n}"), "room_id": format!("!bench{}:bench.local", n % args.portals),
                    "sender": "@user:bench.local", "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": format!("benchmark message {n}") } })
        })
        .collect();
    serde_json::to_vec(&json!({ "events": events })).unwrap_or_default()
}

/// Sends every transaction, `concurrency` at a time; returns the latencies.
async fn send_all(
    port: u16,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> Result<Vec<Duration>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let t = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(t) else { break };
                let sent = Instant::now();
                let resp = client
                    .put(format!(
                        "http://127.0.0.1:{port}/_matrix/app/v1/transactions/b{t}"
                    ))
                    .bearer_auth("HS")
                    .body(body.clone())
                    .send()
                    .await?;
                if resp.status() != 200 {
                    let status = resp.status();
                    anyhow::bail!(
                        "transaction {t} got {status}: {}",
                        resp.text().await.unwrap_or_default()
                    );
                }
                latencies.push(sent.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.context("worker panicked")??);
    }
    latencies.sort();
    Ok(latencies)
}

async fn wait_processed(network: &NullNetwork, total: u64) -> Result<()> {
    let started = Instant::now();
    while network.delivered.load(Ordering::Relaxed) < total {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "processing stalled at {}",
            network.delivered.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// One run. `concurrent`: processing runs while transactions arrive;
/// otherwise it starts once all are stored, to time each side alone.
async fn run(args: &Args, hs_url: &str, concurrent: bool) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    let (bridge, network, port) = bridge(dir.path(), hs_url, args).await?;
    let total = (args.transactions * args.events_per_txn) as u64;
    // Made before the clock starts, so the bench client's JSON is not timed.
    let bodies = Arc::new(
        (0..args.transactions)
            .map(|t| transaction(args, t))
            .collect(),
    );
    if concurrent {
        causeway_core::run::start_processing(&bridge).await?;
    }
    let started = Instant::now();
    let latencies = send_all(port, bodies, args.concurrency).await?;
    let ingress = started.elapsed();
    let processing_started = Instant::now();
    if !concurrent {
        causeway_core::run::start_processing(&bridge).await?;
    }
    wait_processed(&network, total).await?;
    let processed = if concurrent {
        started.elapsed()
    } else {
        processing_started.elapsed()
    };
    Ok(Figures {
        ingress,
        processed,
        latencies,
    })
}

/// A text message from the network, sent by one ghost per portal.
fn remote_message(portal: usize, n: usize) -> RemoteEvent {
    RemoteEvent::Message {
        id: RemoteMessageId(format!("m{portal}-{n}")),
        sender: GhostInfo {
            id: RemoteUserId::from(format!("u{portal}")),
            displayname: Some(format!("User {portal}")),
            ..Default::default()
        },
        parts: vec![(
            PartId::default(),
            causeway_core::remote::text_content("m.text", &format!("remote message {n}"), None),
        )],
        timestamp: None,
        reply_to: None,
    }
}

/// Remote→Matrix: each portal's task queues its messages in turn, as a
/// network's connection does; returns the time until the stand-in took all.
async fn remote_run(args: &Args, hs: &Arc<FakeHomeserver>, hs_url: &str) -> Result<Duration> {
    let dir = tempfile::tempdir()?;
    let (bridge, _network, _port) = bridge(dir.path(), hs_url, args).await?;
    causeway_core::run::start_processing(&bridge).await?;
    let key = |p: usize| PortalKey::shared(format!("p{p}"));
    // One message a portal first: its ghost is registered and joined.
    let base = hs.sends.load(Ordering::Relaxed);
    for p in 0..args.portals {
        bridge
            .queue_remote(&key(p), remote_message(p, usize::MAX))
            .await?;
    }
    hs.wait_for_sends(base + args.portals as u64, "the remote warm-up")
        .await?;
    let per_portal = args.remote_messages / args.portals;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..args.portals {
        let bridge = bridge.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_portal {
                bridge.queue_remote(&key(p), remote_message(p, n)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a portal task panicked")??;
    }
    let total = (args.portals * (per_portal + 1)) as u64;
    hs.wait_for_sends(base + total, "remote messages").await?;
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    if !args.backlog.is_empty() {
        return sweep(&args, &hs_url).await;
    }
    let total = (args.transactions * args.events_per_txn) as f64;
    println!(
        "causeway-bench: {} transactions x {} events over {} portals, {} in flight, durable SQLite ingress, fast homeserver stand-in",
        args.transactions, args.events_per_txn, args.portals, args.concurrency
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let alone = run(&args, &hs_url, false).await?;
    println!(
        "ingress alone:     {:>8.0} events/s   time to 200 p50 {:.2} ms, p99 {:.2} ms",
        total / alone.ingress.as_secs_f64(),
        ms(percentile(&alone.latencies, 0.5)),
        ms(percentile(&alone.latencies, 0.99))
    );
    println!(
        "processing alone:  {:>8.0} events/s   (the stored backlog, through the network)",
        total / alone.processed.as_secs_f64()
    );
    let both = run(&args, &hs_url, true).await?;
    println!(
        "both at once:      {:>8.0} events/s in, {:.0} events/s processed   time to 200 p50 {:.2} ms, p99 {:.2} ms",
        total / both.ingress.as_secs_f64(),
        total / both.processed.as_secs_f64(),
        ms(percentile(&both.latencies, 0.5)),
        ms(percentile(&both.latencies, 0.99))
    );
    let remote = remote_run(&args, &hs, &hs_url).await?;
    let sent = (args.remote_messages / args.portals * args.portals) as f64;
    println!(
        "remote -> Matrix:  {:>8.0} events/s   ({} messages from the network over {} portals, through the outbox)",
        sent / remote.as_secs_f64(),
        sent,
        args.portals
    );
    Ok(())
}

/// Processing alone at each backlog size, with the ratio to the first.
async fn sweep(args: &Args, hs_url: &str) -> Result<()> {
    println!(
        "causeway-bench backlog sweep: {} events a transaction over {} portals, durable SQLite ingress, fast homeserver stand-in",
        args.events_per_txn, args.portals
    );
    let mut first = None;
    for &events in &args.backlog {
        let args = Args {
            transactions: events.div_ceil(args.events_per_txn),
            ..args.clone()
        };
        let total = (args.transactions * args.events_per_txn) as f64;
        let figures = run(&args, hs_url, false).await?;
        let rate = total / figures.processed.as_secs_f64();
        let first = *first.get_or_insert(rate);
        println!(
            "backlog {total:>9.0} events: processing {rate:>8.0} events/s ({:.0}% of the first)",
            100.0 * rate / first
        );
    }
    Ok(())
}
