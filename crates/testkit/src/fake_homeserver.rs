//! A fast homeserver stand-in for benchmarks: it answers every client-API
//! call the bridge makes with a plausible success, instantly. Synapse is the
//! bottleneck of any end-to-end run here, so measuring the bridge needs this.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct FakeHomeserver {
    pub sends: AtomicU64,
    pub requests: AtomicU64,
    /// How long each send is held before its answer, in milliseconds: 0
    /// answers at once; Synapse's pace, one send at a time into a room, is
    /// 25–40 ms.
    pub send_delay_ms: AtomicU64,
    /// Rooms created, in order.
    pub rooms: std::sync::Mutex<Vec<String>>,
}

impl FakeHomeserver {
    /// Waits until the homeserver has taken at least `count` sends.
    pub async fn wait_for_sends(&self, count: u64, what: &str) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        while self.sends.load(Ordering::Relaxed) < count {
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "{what} stalled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Serves on a free loopback port; returns the base URL.
    pub async fn spawn(self: &Arc<Self>) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/{*path}", any(answer))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}"))
    }
}

async fn answer(
    State(hs): State<Arc<FakeHomeserver>>,
    method: Method,
    Path(path): Path<String>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let n = hs.requests.fetch_add(1, Ordering::Relaxed);
    // Each answer has every field the client-server API requires of it,
    // since the bridge reads answers strictly.
    Json(if path.ends_with("versions") {
        json!({ "versions": ["v1.11"] })
    } else if path.ends_with("whoami") {
        json!({ "user_id": "@benchbot:bench.local" })
    } else if path.ends_with("/register") {
        let request: Value = serde_json::from_slice(&body).unwrap_or_default();
        let localpart = request["username"].as_str().unwrap_or("ghost");
        json!({ "user_id": format!("@{localpart}:bench.local") })
    } else if path.ends_with("/ping") {
        json!({ "duration_ms": 1 })
    } else if path.ends_with("createRoom") {
        let room = format!("!room{n}:bench.local");
        if let Ok(mut rooms) = hs.rooms.lock() {
            rooms.push(room.clone());
        }
        json!({ "room_id": room })
    } else if path.contains("/join/") {
        let target = path.rsplit('/').next().unwrap_or_default();
        let target = urlencoding::decode(target).map(|t| t.into_owned());
        json!({ "room_id": target.unwrap_or_default() })
    } else if path.contains("/send/")
        || (path.contains("/state/") && method == Method::PUT)
        || path.contains("/redact/")
    {
        let delay = hs.send_delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        hs.sends.fetch_add(1, Ordering::Relaxed);
        json!({ "event_id": format!("$ev{n}") })
    } else if path.ends_with("capabilities") {
        json!({ "capabilities": { "m.room_versions": { "default": "12", "available": { "12": "stable" } } } })
    } else if path.ends_with("joined_members") {
        json!({ "joined": {} })
    } else if path.ends_with("/messages") {
        json!({ "start": "s0", "chunk": [] })
    } else if path.ends_with("publicRooms") {
        json!({ "chunk": [] })
    } else if path.contains("/upload") {
        json!({ "content_uri": format!("mxc://bench.local/m{n}") })
    } else {
        json!({})
    })
}
