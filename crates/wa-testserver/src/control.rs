//! The control API: what a test or a demo user does "on the phone", over
//! HTTP on loopback, so that a shell (or the bridge's test suite in another
//! process) can drive a running server.
//!
//! | request | does |
//! |---|---|
//! | `POST /scan` `{"code", "phone"}` | the phone scans a QR code |
//! | `POST /pair-code` `{"phone", "code"}` | the code is typed on the phone |
//! | `POST /send` `{"from", "to", "text"}` | a message is typed on `from`'s phone |
//! | `POST /unlink` `{"phone", "device"}` | the phone logs a device out |
//! | `GET /accounts` | the accounts, their devices, and which are scripted |

use crate::WaTestServer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct Scan {
    code: String,
    phone: String,
}

#[derive(Deserialize)]
struct PairCode {
    phone: String,
    code: String,
}

#[derive(Deserialize)]
struct Send {
    from: String,
    to: String,
    text: String,
}

#[derive(Deserialize)]
struct Unlink {
    phone: String,
    device: u32,
}

/// What went wrong, as a 400 with the reason.
fn refused(err: anyhow::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": format!("{err:#}")})),
    )
        .into_response()
}

fn done(result: anyhow::Result<serde_json::Value>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => refused(err),
    }
}

/// The control routes for `server`.
pub fn router(server: Arc<WaTestServer>) -> Router {
    Router::new()
        .route(
            "/scan",
            post(
                |State(s): State<Arc<WaTestServer>>, Json(r): Json<Scan>| async move {
                    done(
                        s.scan_qr(&r.code, &r.phone)
                            .map(|()| serde_json::json!({"linked": r.phone})),
                    )
                },
            ),
        )
        .route(
            "/pair-code",
            post(
                |State(s): State<Arc<WaTestServer>>, Json(r): Json<PairCode>| async move {
                    done(
                        s.enter_pair_code(&r.phone, &r.code)
                            .map(|()| serde_json::json!({})),
                    )
                },
            ),
        )
        .route(
            "/send",
            post(
                |State(s): State<Arc<WaTestServer>>, Json(r): Json<Send>| async move {
                    done(
                        s.phone_sends_text(&r.from, &r.to, &r.text)
                            .map(|id| serde_json::json!({"id": id})),
                    )
                },
            ),
        )
        .route(
            "/unlink",
            post(
                |State(s): State<Arc<WaTestServer>>, Json(r): Json<Unlink>| async move {
                    done(s.unlink(&r.phone, r.device).map(|()| serde_json::json!({})))
                },
            ),
        )
        .route(
            "/accounts",
            get(|State(s): State<Arc<WaTestServer>>| async move { Json(s.accounts()) }),
        )
        .with_state(server)
}
