//! The appservice HTTP API the homeserver calls, on axum.

pub mod auth;
mod echo_batch;
pub mod errors;
mod queries;
pub mod transactions;

use crate::bridge::Bridge;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use errors::MatrixError;

/// Every route, under `/_matrix/app/v1` and the legacy unprefixed paths.
pub fn router(bridge: Bridge) -> Router {
    let api = Router::new()
        .route("/transactions/{txn_id}", put(put_transaction))
        .route("/users/{user_id}", get(queries::query_user))
        .route("/rooms/{alias}", get(queries::query_alias))
        .route("/ping", post(ping))
        .route(
            "/thirdparty/protocol/{protocol}",
            get(queries::thirdparty_protocol),
        )
        .route(
            "/thirdparty/location/{protocol}",
            get(queries::thirdparty_locations),
        )
        .route(
            "/thirdparty/location",
            get(queries::thirdparty_location_by_alias),
        )
        .route(
            "/thirdparty/user/{protocol}",
            get(queries::thirdparty_users),
        )
        .route("/thirdparty/user", get(queries::thirdparty_user_by_id));
    let legacy = Router::new()
        .route("/transactions/{txn_id}", put(put_transaction))
        .route("/users/{user_id}", get(queries::query_user))
        .route("/rooms/{alias}", get(queries::query_alias));
    Router::new()
        .nest("/_matrix/app/v1", api.clone())
        .nest("/_matrix/app/unstable", api)
        .merge(legacy)
        .nest(crate::provisioning::PREFIX, crate::provisioning::router())
        .route("/metrics", get(metrics_page))
        .route("/health", get(health))
        .route(
            &format!(
                "{}/{{server}}/{{media_id}}/{{expires}}/{{signature}}/{{filename}}",
                crate::public_media::PATH
            ),
            get(crate::public_media::serve),
        )
        .fallback(|| async { MatrixError::unrecognized() })
        .method_not_allowed_fallback(|| async {
            MatrixError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "M_UNRECOGNIZED",
                "method not allowed",
            )
        })
        .with_state(bridge)
}

pub(crate) fn authorize(
    bridge: &Bridge,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), MatrixError> {
    auth::check_hs_token(&bridge.config().appservice.hs_token, headers, uri)
}

async fn put_transaction(
    State(bridge): State<Bridge>,
    Path(txn_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    let started = std::time::Instant::now();
    let bytes =
        transactions::read_body(&headers, body, bridge.config().appservice.max_body_bytes).await?;
    let mut parsed =
        transactions::parse_transaction(&bytes, |sender| bridge.is_bridge_user(sender))?;
    if parsed.events.is_empty() {
        // Nothing but our own echoes: nothing to keep, nothing to lose, and
        // Synapse gathers the next ones while this waits.
        echo_batch::hold(bridge.homeserver().traffic()).await;
        return Ok(Json(errors::Empty {}).into_response());
    }
    transactions::seal_bodies(&mut parsed, bridge.secrets())?;
    // Committed: from here a crash loses nothing. The log is the buffer, so
    // a slow network never makes the homeserver wait. The writer hands the
    // new events to the dispatcher as it commits them.
    transactions::store_transaction(bridge.store(), &txn_id, parsed).await?;
    metrics::histogram!("causeway_transaction_seconds").record(started.elapsed().as_secs_f64());
    Ok(Json(errors::Empty {}).into_response())
}

async fn ping(
    State(bridge): State<Bridge>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<errors::Empty>, MatrixError> {
    authorize(&bridge, &headers, &uri)?;
    tracing::debug!("pinged by the homeserver");
    Ok(Json(errors::Empty {}))
}

async fn metrics_page() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::render(),
    )
}

/// `GET /health`: the database and every supervised component; 503 while
/// one of them is down.
async fn health(State(bridge): State<Bridge>) -> Response {
    let database = sqlx::query("SELECT 1").execute(bridge.store().pool()).await;
    let (components_up, components) = crate::health::report();
    let up = database.is_ok() && components_up;
    let body = HealthReport {
        status: Status::from_up(up),
        database: ComponentStatus {
            status: Status::from_up(database.is_ok()),
            error: database.err().map(|err| err.to_string()),
        },
        components,
    };
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The body of `GET /health`.
#[derive(serde::Serialize)]
struct HealthReport {
    status: Status,
    database: ComponentStatus,
    components: std::collections::BTreeMap<String, crate::health::ComponentReport>,
}

#[derive(serde::Serialize)]
struct ComponentStatus {
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `ok` or `down`.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Down,
}

impl Status {
    pub(crate) fn from_up(up: bool) -> Self {
        if up {
            Self::Ok
        } else {
            Self::Down
        }
    }
}
