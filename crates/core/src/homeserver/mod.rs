//! The homeserver client: every request the bridge makes, authorised by the
//! as_token and, through identity assertion, made as any of its users.

mod account;
mod media;
mod pipeline;
mod power;
mod request;
mod retry;
mod rooms;
mod selfcheck;
mod traffic;
mod transport;

pub(crate) use pipeline::Pipeline;
pub use power::{is_privileged_creator_version, power_level_override, user_power, PowerInfo};
pub use retry::Retry;
pub use rooms::raw_content;
pub use selfcheck::self_check;
pub(crate) use traffic::Traffic;

use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transport::Reply;

/// A failed homeserver request.
#[derive(Debug, thiserror::Error)]
pub enum HsError {
    /// The homeserver answered with a Matrix error.
    #[error("{status} {errcode}: {message}")]
    Matrix {
        status: u16,
        errcode: String,
        message: String,
    },
    /// The homeserver could not be reached, or gave up mid-answer.
    #[error("cannot reach the homeserver: {0}")]
    Transport(String),
    /// A request could not be built from what the bridge was given.
    #[error("cannot make the {endpoint} request: {detail}")]
    Request { endpoint: String, detail: String },
    /// The homeserver's answer lacks a field or has one of the wrong shape.
    #[error("the homeserver's answer to {endpoint} is malformed: {detail}")]
    Malformed { endpoint: String, detail: String },
}

impl HsError {
    /// The error a homeserver answered with: its errcode and message, or the
    /// start of the body when it is not a Matrix error.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = match value.get("error").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => String::from_utf8_lossy(body).chars().take(200).collect(),
        };
        let errcode = value
            .get("errcode")
            .and_then(Value::as_str)
            .unwrap_or("M_UNKNOWN")
            .to_owned();
        Self::Matrix {
            status,
            errcode,
            message,
        }
    }

    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::Matrix { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// Worth another try: rate limits, server errors and broken connections.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Matrix { status, .. } => *status == 429 || *status >= 500,
            Self::Transport(_) => true,
            Self::Request { .. } | Self::Malformed { .. } => false,
        }
    }
}

/// Connections to the homeserver kept open between requests. Each busy
/// portal has one request in flight; with fewer kept than that, every
/// request beyond them opened and closed a connection of its own (a fifth
/// of the requests in `causeway-bench`'s 100 portals at 32). Idle ones
/// still close after hyper's 90 s.
const MAX_IDLE_CONNECTIONS: usize = 256;

/// The client, cheap to clone; one per bridge.
#[derive(Clone)]
pub struct Homeserver {
    /// API requests.
    api: transport::ApiClient,
    /// Media downloads, streamed.
    downloads: reqwest::Client,
    base: String,
    as_token: String,
    domain: String,
    /// The API requests out now; clones share it.
    traffic: Arc<Traffic>,
}

impl Homeserver {
    pub fn new(address: &str, as_token: &str, domain: &str) -> Self {
        let downloads = reqwest::Client::builder()
            .timeout(transport::TIMEOUT)
            .connect_timeout(transport::CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            api: transport::ApiClient::new(MAX_IDLE_CONNECTIONS),
            downloads,
            base: address.trim_end_matches('/').to_owned(),
            as_token: as_token.to_owned(),
            domain: domain.to_owned(),
            traffic: Arc::default(),
        }
    }

    /// The API requests this bridge has out at the homeserver.
    pub(crate) fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    /// Sends until it works, fails for good, or `retry` gives up: a 429 waits
    /// as long as the server asks, other transient errors back off.
    async fn with_retries<F, Fut>(
        &self,
        path: &str,
        retry: Retry,
        mut send: F,
    ) -> Result<Reply, HsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Reply, (HsError, Option<Duration>)>>,
    {
        let endpoint = metric_endpoint(path);
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let in_flight = self.traffic.start();
            let result = send().await;
            drop(in_flight);
            metrics::histogram!("causeway_homeserver_request_seconds", "endpoint" => endpoint.clone()).record(started.elapsed().as_secs_f64());
            let (err, retry_after) = match result {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            metrics::counter!("causeway_homeserver_errors_total", "endpoint" => endpoint.clone())
                .increment(1);
            if !err.is_transient() || !retry.allows(attempt + 1) {
                return Err(err);
            }
            let wait = retry_after.unwrap_or_else(|| retry.backoff(attempt));
            tracing::warn!(%err, ?wait, attempt, path = %endpoint, "homeserver request failed, retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Collapses IDs out of a path so that metrics have few distinct labels.
fn metric_endpoint(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('!')
                || seg.starts_with('%')
                || seg.starts_with('$')
                || seg.starts_with('@')
                || seg.starts_with("cw")
                || seg.len() > 24
            {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes one path segment.
pub fn enc(segment: &str) -> String {
    urlencoding::encode(segment).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_endpoints_hide_ids() {
        assert_eq!(
            metric_endpoint("/_matrix/client/v3/rooms/%21abc%3Ax/send/m.room.message/cw123"),
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}"
        );
    }

    #[test]
    fn transient_errors_are_rate_limits_server_errors_and_transport() {
        let m = |status| HsError::Matrix {
            status,
            errcode: "X".into(),
            message: String::new(),
        };
        assert!(m(429).is_transient());
        assert!(m(502).is_transient());
        assert!(!m(403).is_transient());
        assert!(HsError::Transport("x".into()).is_transient());
    }
}
