//! The media host behind `media_conn`: clients upload encrypted blobs and
//! download them again, over plain HTTP on loopback. The server never
//! decrypts; it keeps each blob under the hash the client named it by.
//!
//! It also serves `/sw.js`, where a client learns its version.
//!
//! The client builds `https://` URLs for the host it is given, so whoever
//! talks to this host (the tests, the bridge in the sandbox) uses an HTTP
//! client that speaks plain HTTP to loopback.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The client version the server expects, as WhatsApp Web's service
/// worker script states it; clients that fetch their version are pointed
/// here instead of at the internet.
pub const SERVICE_WORKER: &str =
    r#"self.__WB_MANIFEST; var config = {"client_revision": 1000000000};"#;

/// Uploads larger than this are refused, as WhatsApp refuses files over
/// its limits.
const MAX_BLOB: usize = 64 << 20;

#[derive(Clone)]
pub struct MediaHost {
    pub addr: SocketAddr,
    pub auth: String,
    blobs: Arc<Mutex<HashMap<String, Bytes>>>,
}

impl MediaHost {
    pub async fn start() -> anyhow::Result<(Self, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let host = Self {
            addr: listener.local_addr()?,
            auth: format!("auth{:016x}", rand10::random::<u64>()),
            blobs: Arc::default(),
        };
        let app = Router::new()
            .route("/mms/{kind}/{token}", post(upload))
            .route("/v/t62/{token}", get(download))
            .route("/pp/{id}", get(picture))
            // What web.whatsapp.com/sw.js tells a client its version is.
            .route("/sw.js", get(|| async { SERVICE_WORKER }))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BLOB))
            .with_state(host.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((host, task))
    }

    /// Puts a blob on the host as a client upload would, returning its
    /// direct path.
    pub fn store(&self, enc_sha256: &[u8], blob: Vec<u8>) -> String {
        use base64::prelude::{Engine, BASE64_URL_SAFE_NO_PAD};
        let token = BASE64_URL_SAFE_NO_PAD.encode(enc_sha256);
        if let Ok(mut blobs) = self.blobs.lock() {
            blobs.insert(token.clone(), Bytes::from(blob));
        }
        format!("/v/t62/{token}")
    }

    /// Puts a profile picture on the host, served as it is at `/pp/<id>`.
    pub fn store_picture(&self, id: &str, image: Vec<u8>) {
        if let Ok(mut blobs) = self.blobs.lock() {
            blobs.insert(format!("pp/{id}"), Bytes::from(image));
        }
    }

    /// How many blobs the host holds.
    pub fn blob_count(&self) -> usize {
        self.blobs.lock().map(|b| b.len()).unwrap_or(0)
    }
}

async fn upload(
    State(host): State<MediaHost>,
    Path((_kind, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if query.get("auth") != Some(&host.auth) {
        return (StatusCode::UNAUTHORIZED, "bad media auth").into_response();
    }
    let direct_path = format!("/v/t62/{token}");
    let url = format!("https://{}{direct_path}", host.addr);
    if query.contains_key("resume") {
        // Nothing is ever half-uploaded here: the client sends it whole.
        return match host.blobs.lock().map(|b| b.contains_key(&token)) {
            Ok(true) => Json(
                serde_json::json!({"resume": "complete", "url": url, "direct_path": direct_path}),
            )
            .into_response(),
            _ => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let Ok(mut blobs) = host.blobs.lock() {
        blobs.insert(token, body);
    }
    Json(serde_json::json!({"url": url, "direct_path": direct_path})).into_response()
}

async fn download(
    State(host): State<MediaHost>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("auth").is_some_and(|auth| *auth != host.auth) {
        return (StatusCode::UNAUTHORIZED, "bad media auth").into_response();
    }
    let blob = host.blobs.lock().ok().and_then(|b| b.get(&token).cloned());
    match blob {
        Some(blob) => blob.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn picture(State(host): State<MediaHost>, Path(id): Path<String>) -> Response {
    let blob = host
        .blobs
        .lock()
        .ok()
        .and_then(|b| b.get(&format!("pp/{id}")).cloned());
    match blob {
        Some(image) => ([("content-type", "image/jpeg")], image).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
