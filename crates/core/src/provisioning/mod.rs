//! The provisioning API: what the bot's commands do, over HTTP, for
//! integration managers and scripts. It lives under
//! `/_causeway/provision/v1` on the appservice port. Every call acts for
//! one Matrix user (`auth`) with that user's bridge permission, and answers
//! errors as Matrix error JSON. `openapi.json` describes every path; a test
//! calls each of them.

mod auth;
mod chats;
mod logins;

use crate::appservice::errors::MatrixError;
use crate::bridge::Bridge;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub(crate) use logins::LoginProcesses;

pub const PREFIX: &str = "/_causeway/provision/v1";

/// The API's routes, to nest under `PREFIX`.
pub(crate) fn router() -> Router<Bridge> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/login/flows", get(logins::flows))
        .route("/login/start/{flow_id}", post(logins::start))
        .route("/login/{process_id}/input", post(logins::input))
        .route("/login/{process_id}/wait", post(logins::wait))
        .route("/login/{process_id}/cancel", post(logins::cancel))
        .route("/logins", get(logins::list))
        .route("/logout/{login_id}", post(logins::logout))
        .route("/contacts", get(chats::contacts))
        .route("/resolve/{identifier}", get(chats::resolve))
        .route("/chats/start/{identifier}", post(chats::start_chat))
        .route("/bridge/{room_id}", post(chats::bridge_room))
        .route("/unbridge/{room_id}", post(chats::unbridge_room))
}

/// The OpenAPI description of this API.
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// A refusal in the Matrix error shape.
fn bad_request(message: impl Into<String>) -> MatrixError {
    MatrixError::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
}

fn failed(err: anyhow::Error) -> MatrixError {
    MatrixError::internal(format!("{err:#}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_file_is_json_naming_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/openapi.json",
            "/login/flows",
            "/login/start/{flow_id}",
            "/login/{process_id}/input",
            "/login/{process_id}/wait",
            "/login/{process_id}/cancel",
            "/logins",
            "/logout/{login_id}",
            "/contacts",
            "/resolve/{identifier}",
            "/chats/start/{identifier}",
            "/bridge/{room_id}",
            "/unbridge/{room_id}",
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        assert_eq!(paths.len(), 13, "a documented path has no route");
    }
}
