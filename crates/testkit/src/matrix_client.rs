//! A small Matrix client for tests: register, send, sync, and wait for an
//! event with a timeout.

use crate::synapse::SHARED_SECRET;
use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct MatrixClient {
    http: reqwest::Client,
    base: String,
    pub user_id: String,
    token: String,
    since: tokio::sync::Mutex<Option<String>>,
    /// Every timeline event seen, with its room.
    events: Mutex<Vec<(String, Value)>>,
    invites: Mutex<Vec<String>>,
}

fn enc(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

impl MatrixClient {
    /// Registers a user through Synapse's shared-secret admin API.
    pub async fn register(base: &str, username: &str) -> Result<Self> {
        let http = reqwest::Client::new();
        let nonce: Value = http
            .get(format!("{base}/_synapse/admin/v1/register"))
            .send()
            .await?
            .json()
            .await?;
        let nonce = nonce["nonce"].as_str().context("no nonce")?.to_owned();
        let password = format!("{username}-password");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SHARED_SECRET.as_bytes())?;
        mac.update(format!("{nonce}\0{username}\0{password}\0notadmin").as_bytes());
        let body = json!({ "nonce": nonce, "username": username, "password": password, "admin": false, "mac": hex::encode(mac.finalize().into_bytes()) });
        let reply: Value = http
            .post(format!("{base}/_synapse/admin/v1/register"))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let token = reply["access_token"]
            .as_str()
            .with_context(|| format!("registration failed: {reply}"))?
            .to_owned();
        Ok(Self {
            http,
            base: base.to_owned(),
            user_id: reply["user_id"].as_str().unwrap_or_default().to_owned(),
            token,
            since: tokio::sync::Mutex::new(None),
            events: Mutex::new(Vec::new()),
            invites: Mutex::new(Vec::new()),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {value}");
        }
        Ok(value)
    }

    /// An OpenID token for this user, for the provisioning API.
    pub async fn openid_token(&self) -> Result<String> {
        let path = format!(
            "/_matrix/client/v3/user/{}/openid/request_token",
            enc(&self.user_id)
        );
        let v = self
            .call(reqwest::Method::POST, &path, Some(serde_json::json!({})))
            .await?;
        Ok(v["access_token"].as_str().unwrap_or_default().to_owned())
    }

    /// The user IDs joined to a room now.
    pub async fn joined_members(&self, room: &str) -> Result<Vec<String>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room)),
                None,
            )
            .await?;
        Ok(v["joined"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Uploads a file to the media repository; returns its `mxc://` URI.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/_matrix/media/v3/upload", self.base))
            .query(&[("filename", filename)])
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("upload: {status} {value}");
        }
        Ok(value["content_uri"].as_str().unwrap_or_default().to_owned())
    }

    /// Downloads an `mxc://` file through the authenticated media API.
    pub async fn download(&self, mxc: &str) -> Result<Vec<u8>> {
        let path = mxc
            .strip_prefix("mxc://")
            .ok_or_else(|| anyhow::anyhow!("not an mxc URI: {mxc}"))?;
        let resp = self
            .http
            .get(format!(
                "{}/_matrix/client/v1/media/download/{path}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("download {mxc}: {status}");
        }
        Ok(resp.bytes().await?.to_vec())
    }

    pub async fn create_room(&self, body: Value) -> Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(body),
            )
            .await?;
        Ok(v["room_id"].as_str().unwrap_or_default().to_owned())
    }

    /// Starts a DM with `user`, the way Element does.
    pub async fn create_dm(&self, user: &str) -> Result<String> {
        self.create_room(
            json!({ "is_direct": true, "invite": [user], "preset": "trusted_private_chat" }),
        )
        .await
    }

    /// Kicks `user` out of `room`, with a reason.
    pub async fn kick(&self, room: &str, user: &str, reason: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/kick", enc(room)),
            Some(json!({ "user_id": user, "reason": reason })),
        )
        .await?;
        Ok(())
    }

    pub async fn leave(&self, room: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/leave", enc(room)),
            Some(serde_json::json!({})),
        )
        .await
        .map(drop)
    }

    pub async fn join(&self, room: &str) -> Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/_matrix/client/v3/join/{}", enc(room)),
                Some(json!({})),
            )
            .await?;
        Ok(v["room_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn invite(&self, room: &str, user: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(room)),
            Some(json!({ "user_id": user })),
        )
        .await
        .map(drop)
    }

    pub async fn send(&self, room: &str, event_type: &str, content: Value) -> Result<String> {
        let txn = format!("t{}", rand::random::<u64>());
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{txn}",
            enc(room),
            enc(event_type)
        );
        let v = self
            .call(reqwest::Method::PUT, &path, Some(content))
            .await?;
        Ok(v["event_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn send_text(&self, room: &str, body: &str) -> Result<String> {
        self.send(
            room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    pub async fn redact(&self, room: &str, event_id: &str) -> Result<String> {
        let txn = format!("r{}", rand::random::<u64>());
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{txn}",
            enc(room),
            enc(event_id)
        );
        let v = self
            .call(reqwest::Method::PUT, &path, Some(json!({})))
            .await?;
        Ok(v["event_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn send_state(
        &self,
        room: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> Result<String> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room),
            enc(event_type),
            enc(state_key)
        );
        let v = self
            .call(reqwest::Method::PUT, &path, Some(content))
            .await?;
        Ok(v["event_id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn typing(&self, room: &str, typing: bool) -> Result<()> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/typing/{}",
            enc(room),
            enc(&self.user_id)
        );
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(json!({ "typing": typing, "timeout": 30000 })),
        )
        .await
        .map(drop)
    }

    pub async fn read_receipt(&self, room: &str, event_id: &str) -> Result<()> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
            enc(room),
            enc(event_id)
        );
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await
            .map(drop)
    }

    pub async fn state(&self, room: &str, event_type: &str, state_key: &str) -> Result<Value> {
        self.call(
            reqwest::Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/state/{}/{}",
                enc(room),
                enc(event_type),
                enc(state_key)
            ),
            None,
        )
        .await
    }

    pub async fn resolve_alias(&self, alias: &str) -> Result<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/_matrix/client/v3/directory/room/{}", enc(alias)),
                None,
            )
            .await?;
        Ok(v["room_id"].as_str().unwrap_or_default().to_owned())
    }

    /// The room's last `limit` events, oldest first, from `/messages`: a
    /// sync that finds more new events than its timeline holds skips some.
    pub async fn history(&self, room: &str, limit: u32) -> Result<Vec<Value>> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!(
                    "/_matrix/client/v3/rooms/{}/messages?dir=b&limit={limit}",
                    enc(room)
                ),
                None,
            )
            .await?;
        let mut events = v["chunk"].as_array().cloned().unwrap_or_default();
        events.reverse();
        Ok(events)
    }

    pub async fn profile(&self, user: &str) -> Result<Value> {
        self.call(
            reqwest::Method::GET,
            &format!("/_matrix/client/v3/profile/{}", enc(user)),
            None,
        )
        .await
    }

    /// One /sync, recording timeline events and invites.
    pub async fn sync_once(&self, timeout_ms: u64) -> Result<()> {
        let mut since = self.since.lock().await;
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(s) = since.as_ref() {
            path.push_str(&format!("&since={}", enc(s)));
        }
        let v = self.call(reqwest::Method::GET, &path, None).await?;
        // Rooms we were removed from report their last events under "leave".
        for section in ["/rooms/join", "/rooms/leave"] {
            let Some(rooms) = v.pointer(section).and_then(Value::as_object) else {
                continue;
            };
            let mut events = self
                .events
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            for (room, data) in rooms {
                // State from before the timeline first: a room joined late,
                // or a gap, brings earlier events (a ghost's join) there.
                // Typing and receipts too: tests look for them like events.
                let state = data.pointer("/state/events").and_then(Value::as_array);
                let timeline = data.pointer("/timeline/events").and_then(Value::as_array);
                let ephemeral = data.pointer("/ephemeral/events").and_then(Value::as_array);
                for event in state.into_iter().chain(timeline).chain(ephemeral).flatten() {
                    events.push((room.clone(), event.clone()));
                }
            }
        }
        if let Some(rooms) = v.pointer("/rooms/invite").and_then(Value::as_object) {
            let mut invites = self
                .invites
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            for room in rooms.keys() {
                if !invites.contains(room) {
                    invites.push(room.clone());
                }
            }
        }
        *since = v["next_batch"].as_str().map(str::to_owned);
        Ok(())
    }

    /// Every event seen so far in `room` that matches.
    pub fn seen(&self, room: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events
            .into_iter()
            .filter(|(r, e)| r == room && pred(e))
            .map(|(_, e)| e)
            .collect()
    }

    /// Waits for an event in `room` that matches, syncing as needed.
    pub async fn wait_for(
        &self,
        room: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let started = Instant::now();
        loop {
            if let Some(found) = self.seen(room, &pred).into_iter().next() {
                return Ok(found);
            }
            if started.elapsed() > timeout {
                let recent: Vec<String> = self
                    .seen(room, |_| true)
                    .iter()
                    .rev()
                    .take(8)
                    .map(|e| e.to_string())
                    .collect();
                bail!(
                    "no matching event in {room} within {timeout:?}; recent events:\n{}",
                    recent.join("\n")
                );
            }
            self.sync_once(500).await?;
        }
    }

    /// Waits for a message whose body contains `text`.
    pub async fn wait_for_text(&self, room: &str, text: &str) -> Result<Value> {
        self.wait_for(room, Duration::from_secs(30), |e| {
            e.pointer("/content/body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(text))
        })
        .await
    }

    /// Waits for an invite to a room not yet joined, and returns it.
    pub async fn wait_for_invite(&self, timeout: Duration) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Some(room) = self
                .invites
                .lock()
                .ok()
                .and_then(|mut i| (!i.is_empty()).then(|| i.remove(0)))
            {
                return Ok(room);
            }
            if started.elapsed() > timeout {
                bail!("no invite within {timeout:?}");
            }
            self.sync_once(500).await?;
        }
    }
}

/// The body of a message event, or "".
pub fn body(event: &Value) -> &str {
    event
        .pointer("/content/body")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
