//! A fast homeserver stand-in for benchmarks: it answers every client-API
//! call the bridge makes with a plausible success, instantly. Synapse is the
//! bottleneck of any end-to-end run here, so measuring the bridge needs this.
//! For a run at a homeserver's pace, it can hold each send before answering
//! and send each event back to the bridge, as Synapse does.

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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
    /// Each event sent, and when to send it back; see
    /// [`FakeHomeserver::echo_to`].
    echo: OnceLock<mpsc::UnboundedSender<(Instant, Value)>>,
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

    /// From now on, each event sent comes back to the appservice at `url`,
    /// as Synapse sends a bridge's own events back to it: in transactions,
    /// one at a time, each with what was sent while the last was out. An
    /// event leaves a third of the send delay after its answer (Synapse's
    /// came 9–10 ms after it at 35 ms a send), so each is a wake-up of its
    /// own, as through Synapse.
    pub fn echo_to(&self, url: String, hs_token: String) {
        let (events, mut queued) = mpsc::unbounded_channel::<(Instant, Value)>();
        if self.echo.set(events).is_err() {
            return;
        }
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut txn = 0u64;
            while let Some((due, first)) = queued.recv().await {
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut events = vec![first];
                while let Ok((_, more)) = queued.try_recv() {
                    events.push(more);
                }
                txn += 1;
                let sent = http
                    .put(format!("{url}/_matrix/app/v1/transactions/echo{txn}"))
                    .bearer_auth(&hs_token)
                    .json(&json!({ "events": events }))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status);
                if let Err(err) = sent {
                    eprintln!("the stand-in cannot send its echo: {err}");
                }
            }
        });
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
    RawQuery(query): RawQuery,
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
        let delay = Duration::from_millis(hs.send_delay_ms.load(Ordering::Relaxed));
        // A timer of 0 still waits for the timer's next millisecond.
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let event_id = format!("$ev{n}");
        if let (Some(echo), true) = (hs.echo.get(), path.contains("/send/")) {
            let event = echoed(&path, query.as_deref(), &event_id, &body);
            let _ = echo.send((Instant::now() + delay / 3, event));
        }
        hs.sends.fetch_add(1, Ordering::Relaxed);
        json!({ "event_id": event_id })
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

/// The event a send made, as the homeserver hands it to appservices: its
/// room from the path (`.../rooms/{room}/send/{type}/{txn}`), its sender
/// from `user_id`, the appservice's identity assertion.
fn echoed(path: &str, query: Option<&str>, event_id: &str, body: &[u8]) -> Value {
    let decode = |s: &str| {
        urlencoding::decode(s)
            .map(|s| s.into_owned())
            .unwrap_or_default()
    };
    let mut segments = path.split('/').skip_while(|s| *s != "rooms").skip(1);
    let room = segments.next().map(decode).unwrap_or_default();
    let kind = segments.nth(1).map(decode).unwrap_or_default();
    let sender = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("user_id="))
        .map(decode)
        .unwrap_or_default();
    let content: Value = serde_json::from_slice(body).unwrap_or_default();
    json!({
        "type": kind, "event_id": event_id, "room_id": room, "sender": sender,
        "origin_server_ts": causeway_core::store::now_ms(), "content": content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_carries_the_room_type_sender_and_content_of_its_send() {
        let event = echoed(
            "_matrix/client/v3/rooms/%21r%3Abench.local/send/m.room.message/cw1",
            Some("user_id=%40_irc_alice%3Abench.local&ts=5"),
            "$ev7",
            br#"{"msgtype": "m.text", "body": "hi"}"#,
        );
        assert_eq!(event["room_id"], "!r:bench.local");
        assert_eq!(event["type"], "m.room.message");
        assert_eq!(event["sender"], "@_irc_alice:bench.local");
        assert_eq!(event["event_id"], "$ev7");
        assert_eq!(event["content"]["body"], "hi");
    }
}
