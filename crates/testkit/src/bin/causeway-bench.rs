//! Benchmark of the transaction endpoint with durable SQLite ingress.
//!
//! Drives `PUT /_matrix/app/v1/transactions/{txnId}` over loopback HTTP with
//! synthetic load, while the bridge processes the stored events against a fast
//! homeserver stand-in. Prints events/s and the p50/p99 time to 200.
//!
//!     cargo run --release -p causeway-testkit --bin causeway-bench

use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::config::Config;
use causeway_core::ids::{PortalKey, RemoteMessageId};
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::network::{Network, NetworkInfo};
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use causeway_testkit::fake_homeserver::FakeHomeserver;
use clap::Parser;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
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

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let hs = Arc::new(FakeHomeserver::default());
    let hs_url = hs.spawn().await?;
    let config = Config::parse(&format!(
        r#"
homeserver: {{ address: "{hs_url}", domain: bench.local }}
appservice: {{ address: "http://127.0.0.1:1", hostname: 127.0.0.1, port: 1, id: bench, bot: {{ username: benchbot }}, as_token: AS, hs_token: HS }}
database: {{ uri: "sqlite:{db}", max_open_conns: 4 }}
bridge: {{ username_template: "_bench_{{id}}", alias_template: "_bench_{{id}}", permissions: {{ "*": user }}, secret_key_file: "{key}" }}
"#,
        db = dir.path().join("bench.db").display(),
        key = dir.path().join("bench.key").display(),
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
    causeway_core::run::start_processing(&bridge).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(
        async move { axum::serve(listener, causeway_core::appservice::router(bridge)).await },
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let total_events = (args.transactions * args.events_per_txn) as u64;
    let bodies: Vec<Vec<u8>> = (0..args.transactions)
        .map(|t| {
            let events: Vec<_> = (0..args.events_per_txn)
                .map(|e| {
                    let n = t * args.events_per_txn + e;
                    json!({ "type": "m.room.message", "event_id": format!("$bench{n}"), "room_id": format!("!bench{}:bench.local", n % args.portals),
                            "sender": "@user:bench.local", "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": format!("benchmark message {n}") } })
                })
                .collect();
            serde_json::to_vec(&json!({ "events": events })).unwrap_or_default()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    println!(
        "causeway-bench: {} transactions x {} events over {} portals, {} in flight",
        args.transactions, args.events_per_txn, args.portals, args.concurrency
    );
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
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
    let ingress = started.elapsed();
    while network.delivered.load(Ordering::Relaxed) < total_events {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "processing stalled at {}",
            network.delivered.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let processed = started.elapsed();
    latencies.sort();
    println!(
        "ingress (stored and acknowledged): {:.0} events/s, {:.0} transactions/s",
        total_events as f64 / ingress.as_secs_f64(),
        args.transactions as f64 / ingress.as_secs_f64()
    );
    println!(
        "time to 200: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "processed through the network: {:.0} events/s ({} events in {:.2} s)",
        total_events as f64 / processed.as_secs_f64(),
        total_events,
        processed.as_secs_f64()
    );
    Ok(())
}
