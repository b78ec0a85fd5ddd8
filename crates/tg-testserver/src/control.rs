//! An HTTP control API for the sandbox and for tests in other languages:
//! read login codes, mint auth keys, send as a user, inject faults.

use crate::TestServer;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes, over a running server.
pub fn router(server: Arc<TestServer>) -> Router {
    Router::new()
        .route("/codes", get(codes))
        .route("/keys", post(new_key))
        .route("/send", post(send))
        .route("/faults/drop-connections", post(drop_connections))
        .route("/faults/withhold-pushes", post(withhold))
        .with_state(server)
}

/// Every login code sent so far: `[{"phone", "code"}]`, oldest first.
async fn codes(State(server): State<Arc<TestServer>>) -> Json<Value> {
    let codes: Vec<Value> = server
        .sent_codes()
        .into_iter()
        .map(|c| json!({ "phone": c.phone, "code": c.code }))
        .collect();
    Json(Value::Array(codes))
}

/// A new auth key the server accepts, hex, for a client's session.
async fn new_key(State(server): State<Arc<TestServer>>) -> Json<Value> {
    Json(json!({ "key": hex::encode(server.register_key()) }))
}

#[derive(Deserialize)]
struct SendBody {
    from: String,
    to: String,
    text: String,
}

async fn send(State(server): State<Arc<TestServer>>, Json(body): Json<SendBody>) -> Json<Value> {
    match server.send_as(&body.from, &body.to, &body.text) {
        Ok(()) => Json(json!({ "ok": true })),
        Err(err) => Json(json!({ "error": format!("{err:#}") })),
    }
}

async fn drop_connections(State(server): State<Arc<TestServer>>) -> Json<Value> {
    server.drop_connections();
    Json(json!({ "ok": true }))
}

#[derive(Deserialize)]
struct WithholdBody {
    withhold: bool,
}

async fn withhold(
    State(server): State<Arc<TestServer>>,
    Json(body): Json<WithholdBody>,
) -> Json<Value> {
    server.withhold_pushes(body.withhold);
    Json(json!({ "ok": true }))
}
