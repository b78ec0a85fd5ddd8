//! The least a bridge can spend on a line at a homeserver's pace, to set
//! the paced runs' figures against: a relay that reads each line from IRC,
//! sends it to its own stand-in with the bridge's HTTP stack (hyper's
//! pooled client, axum's server, serde_json both ways), one at a time, and
//! takes the stand-in's echo of it. The other way, it writes each Matrix
//! message of a transaction to IRC with a PING behind it, answers the
//! transaction, and counts the PONG as the line's delivery. Nothing else:
//! no database, no conversion, no checks, nothing kept across a crash.
//!
//! It runs on a thread of its own with a one-thread runtime, as the IRC
//! bridge does, so its CPU is that thread's; the kernel's work for its
//! sockets counts there too, as it does for the bridge.

use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use bytes::Bytes;
use causeway_testkit::fake_homeserver::FakeHomeserver;
use causeway_testkit::ircd::RawIrc;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub struct Floor {
    /// Its own stand-in: the send delay is set on it, and it echoes to
    /// the relay alone.
    pub hs: Arc<FakeHomeserver>,
    /// Echoed events the relay took, if the stand-in echoes.
    echoes: Option<Arc<AtomicU64>>,
    /// Matrix messages the IRC server confirmed (PONGs).
    delivered: Arc<AtomicU64>,
    /// The port the relay takes transactions on.
    port: u16,
    http: reqwest::Client,
    /// The relay's thread, for its `schedstat`.
    tid: u32,
}

#[derive(Deserialize)]
struct Sent {
    event_id: String,
}

#[derive(Deserialize)]
struct Transaction {
    events: Vec<Event>,
}

/// What a bridge reads of an event to know it for its own echo, or to
/// relay it.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    room_id: String,
    sender: String,
    #[serde(default)]
    content: Content,
}

#[derive(Deserialize, Default)]
struct Content {
    #[serde(default)]
    body: String,
}

/// What the relay's transaction endpoint shares with its IRC connection.
#[derive(Clone)]
struct Shared {
    echoes: Arc<AtomicU64>,
    to_irc: mpsc::UnboundedSender<String>,
    channel: Arc<str>,
}

impl Floor {
    /// Starts the relay in `channel` on the IRC server at `ircd_port`;
    /// its stand-in echoes each send if `echo`.
    pub async fn start(ircd_port: u16, channel: &str, echo: bool) -> Result<Self> {
        let hs = Arc::new(FakeHomeserver::default());
        let hs_url = hs.spawn().await?;
        let echoes = Arc::new(AtomicU64::new(0));
        let delivered = Arc::new(AtomicU64::new(0));
        let (ready, started) = oneshot::channel();
        let (channel, taken, pongs) = (channel.to_owned(), echoes.clone(), delivered.clone());
        std::thread::Builder::new()
            .name("floor".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a one-thread runtime");
                if let Err(err) =
                    runtime.block_on(relay(ircd_port, channel, hs_url, (taken, pongs), ready))
                {
                    eprintln!("the floor's relay stopped: {err:#}");
                }
            })?;
        let (tid, url) = started.await.context("the floor's relay did not start")?;
        let port = url.rsplit(':').next().unwrap_or_default().parse()?;
        if echo {
            hs.echo_to(url, "HS".into());
        }
        let echoes = echo.then_some(echoes);
        Ok(Self {
            hs,
            echoes,
            delivered,
            port,
            http: reqwest::Client::new(),
            tid,
        })
    }

    /// CPU seconds the relay's thread used so far, to the nanosecond.
    pub fn cpu(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", self.tid))?;
        let nanos: u64 = stat
            .split_whitespace()
            .next()
            .context("schedstat")?
            .parse()?;
        Ok(nanos as f64 / 1e9)
    }

    /// Hands the relay one Matrix message in a transaction of its own.
    pub async fn send_matrix(&self, txn: usize, body: &str) -> Result<()> {
        let event = json!({ "type": "m.room.message", "event_id": format!("$f{txn}"),
            "room_id": "!paced:bench.local", "sender": "@paced:bench.local",
            "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": body } });
        causeway_testkit::process::put_transaction(&self.http, self.port, txn, &[event]).await
    }

    /// Matrix messages the IRC server confirmed so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Waits until `count` lines in all were sent, and echoed back if the
    /// stand-in echoes.
    pub async fn wait_for(&self, count: u64) -> Result<()> {
        self.hs.wait_for_sends(count, "the floor's relay").await?;
        match &self.echoes {
            Some(echoes) => reach(echoes, count, "the floor's echoes").await,
            None => Ok(()),
        }
    }

    /// Waits until the IRC server confirmed `count` Matrix messages in all.
    pub async fn wait_delivered(&self, count: u64) -> Result<()> {
        reach(&self.delivered, count, "the floor's deliveries").await
    }
}

/// Waits until `counter` reaches `count`, for up to a minute.
async fn reach(counter: &AtomicU64, count: u64, what: &str) -> Result<()> {
    let started = Instant::now();
    while counter.load(Ordering::Relaxed) < count {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "{what} stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The relay: a transaction endpoint, an IRC connection whose channel
/// lines are queued for Matrix, and a task that sends them one at a time.
async fn relay(
    ircd_port: u16,
    channel: String,
    hs_url: String,
    (echoes, delivered): (Arc<AtomicU64>, Arc<AtomicU64>),
    ready: oneshot::Sender<(u32, String)>,
) -> Result<()> {
    let (to_irc, mut for_irc) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let shared = Shared {
        echoes,
        to_irc,
        channel: channel.as_str().into(),
    };
    let app = Router::new()
        .route("/_matrix/app/v1/transactions/{txn}", put(transaction))
        .with_state(shared);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut irc = RawIrc::connect(ircd_port, "floor").await?;
    irc.join(&channel).await?;
    // "PID/task/TID"
    let thread = std::fs::read_link("/proc/thread-self")?;
    let tid = thread
        .to_string_lossy()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .parse()?;
    let _ = ready.send((tid, url));

    let (lines, queued) = mpsc::unbounded_channel();
    tokio::spawn(send_each(queued, hs_url));
    let said = format!(" PRIVMSG {channel} :");
    loop {
        tokio::select! {
            line = irc.next_line() => {
                let Some(line) = line? else { return Ok(()) };
                if let Some((_, text)) = line.split_once(&said) {
                    let _ = lines.send(text.to_owned());
                } else if line.contains(" PONG ") {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(out) = for_irc.recv() => irc.send(&out).await?,
        }
    }
}

async fn send_each(mut queued: mpsc::UnboundedReceiver<String>, hs_url: String) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut txn = 0u64;
    while let Some(text) = queued.recv().await {
        txn += 1;
        let body = json!({ "msgtype": "m.text", "body": text }).to_string();
        let request = http::Request::put(format!(
            "{hs_url}/_matrix/client/v3/rooms/%21floor%3Abench.local/send/m.room.message/floor{txn}?user_id=%40_irc_talker%3Abench.local"
        ))
        .header(http::header::AUTHORIZATION, "Bearer AS")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)));
        let sent = async {
            let response = client.request(request?).await?;
            let bytes = response.into_body().collect().await?.to_bytes();
            let sent: Sent = serde_json::from_slice(&bytes)?;
            anyhow::ensure!(!sent.event_id.is_empty(), "an answer without an event ID");
            anyhow::Ok(())
        };
        if let Err(err) = sent.await {
            eprintln!("the floor's relay could not send a line: {err:#}");
        }
    }
}

/// Counts the relay's own echoes; writes each other message to IRC, a
/// PING behind it, and answers.
async fn transaction(State(shared): State<Shared>, body: Bytes) -> Json<Value> {
    if let Ok(transaction) = serde_json::from_slice::<Transaction>(&body) {
        for event in transaction.events {
            if event.kind != "m.room.message" {
                continue;
            }
            if event.room_id == "!floor:bench.local" && event.sender.starts_with("@_irc_") {
                shared.echoes.fetch_add(1, Ordering::Relaxed);
            } else {
                let line = format!(
                    "PRIVMSG {} :{}\r\nPING :delivered",
                    shared.channel, event.content.body
                );
                let _ = shared.to_irc.send(line);
            }
        }
    }
    Json(json!({}))
}
