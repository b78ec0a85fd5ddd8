//! How API requests reach the homeserver: hyper's pooled HTTP/1.1 client,
//! with rustls and Mozilla's roots for a homeserver on https.
//!
//! ruma builds each request whole, so it goes to hyper as it is. Through
//! reqwest, its URL was printed and parsed again, and the request went
//! through layers for redirects and retries that the bridge does not use
//! (`Retry` makes its retries). Each line from IRC is one request, and
//! those layers were a fifth of the samples that send one; sending lines
//! to a fast homeserver took a quarter less CPU without them. Media
//! downloads, which stream, stay on reqwest (see `media`).

use super::HsError;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::Value;
use std::time::Duration;

/// The longest a request may take, its answer included.
pub(super) const TIMEOUT: Duration = Duration::from_secs(60);

/// The longest opening a connection may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client, cheap to clone: clones share its connections.
#[derive(Clone)]
pub(super) struct ApiClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The longest a request may take, its answer included.
    timeout: Duration,
}

impl ApiClient {
    /// A client that keeps up to `max_idle` connections open between
    /// requests.
    pub fn new(max_idle: usize) -> Self {
        Self::with_timeout(max_idle, TIMEOUT)
    }

    fn with_timeout(max_idle: usize, timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        // The https connector below takes https URLs over.
        http.enforce_http(false);
        // A request is one write: sent at once, not held for more.
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let tls = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_webpki_roots()
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // The timer closes connections idle for 90 s; without one, hyper
        // keeps them until the homeserver closes them.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .pool_timer(TokioTimer::new())
            .build(https);
        Self { client, timeout }
    }

    /// Sends one request. A failure comes with the wait a 429 asks for,
    /// from `retry_after_ms` or the Retry-After header.
    pub async fn exchange(
        &self,
        request: Request<Bytes>,
    ) -> Result<Reply, (HsError, Option<Duration>)> {
        let request = request.map(Full::new);
        let answer = async {
            let response = self.client.request(request).await.map_err(transport)?;
            let (head, body) = response.into_parts();
            let bytes = body.collect().await.map_err(transport)?.to_bytes();
            Ok::<_, HsError>((head, bytes))
        };
        let (head, bytes) = tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| {
                let detail = format!("no answer within {} s", self.timeout.as_secs_f32());
                (HsError::Transport(detail), None)
            })?
            .map_err(|err| (err, None))?;
        let bytes = bytes.to_vec();
        if head.status.is_success() {
            return Ok(Reply {
                status: head.status,
                headers: head.headers,
                bytes,
            });
        }
        let wait = (head.status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| retry_wait(&head.headers, &bytes));
        Err((
            HsError::from_body(head.status.as_u16(), &bytes),
            wait.flatten(),
        ))
    }
}

/// The wait a 429 asks for: `retry_after_ms` in its body, or else its
/// Retry-After header (in seconds).
fn retry_wait(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let asked = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after_ms").and_then(Value::as_u64));
    let header = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    asked
        .map(Duration::from_millis)
        .or(header.map(Duration::from_secs))
}

/// A successful answer.
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

pub(super) fn transport(err: impl std::fmt::Display) -> HsError {
    HsError::Transport(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every connection's first request with
    /// `answer`, a status line with headers and a body, and sends what it
    /// read on the returned channel. `None` never answers.
    async fn server(
        answer: Option<(&'static str, &'static str)>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (heard, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let heard = heard.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !is_whole(&request) {
                        let Ok(n @ 1..) = socket.read(&mut buf).await else {
                            return;
                        };
                        request.extend_from_slice(&buf[..n]);
                    }
                    let _ = heard.send(String::from_utf8_lossy(&request).into_owned());
                    match answer {
                        Some((head, body)) => {
                            let answer =
                                format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                            let _ = socket.write_all(answer.as_bytes()).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                });
            }
        });
        (address, requests)
    }

    /// Whether `request` holds its head and as much body as it announces.
    fn is_whole(request: &[u8]) -> bool {
        let text = String::from_utf8_lossy(request).to_ascii_lowercase();
        let Some(head_end) = text.find("\r\n\r\n") else {
            return false;
        };
        let length = text[..head_end]
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        request.len() >= head_end + 4 + length
    }

    fn put(address: &str, body: &'static str) -> Request<Bytes> {
        Request::put(format!("{address}/_matrix/client/v3/x?user_id=%40a%3Ahs"))
            .header("authorization", "Bearer token")
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_request_reaches_the_server_as_built_and_its_answer_is_read_whole() {
        let (address, mut heard) = server(Some(("HTTP/1.1 200 OK", "{\"event_id\":\"$e\"}"))).await;
        let client = ApiClient::new(1);
        let reply = client
            .exchange(put(&address, "{\"body\":\"hi\"}"))
            .await
            .ok()
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.bytes, b"{\"event_id\":\"$e\"}");
        let request = heard.recv().await.unwrap();
        assert!(
            request.starts_with("PUT /_matrix/client/v3/x?user_id=%40a%3Ahs HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("authorization: Bearer token\r\n"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n{\"body\":\"hi\"}"), "{request}");
    }

    #[tokio::test]
    async fn a_rate_limit_answer_carries_the_wait_its_body_asks_for() {
        let (address, _heard) = server(Some((
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 9",
            r#"{"errcode":"M_LIMIT_EXCEEDED","error":"x","retry_after_ms":1500}"#,
        )))
        .await;
        let (err, wait) = ApiClient::new(1)
            .exchange(put(&address, "{}"))
            .await
            .err()
            .unwrap();
        assert_eq!(err.errcode(), Some("M_LIMIT_EXCEEDED"));
        assert_eq!(wait, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_rate_limit_answer_without_a_wait_in_its_body_waits_its_retry_after_header() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_wait(&headers, b"{}"), Some(Duration::from_secs(3)));
        assert_eq!(retry_wait(&HeaderMap::new(), b"{}"), None);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_transport_error_once_the_timeout_passes() {
        let (address, _heard) = server(None).await;
        let client = ApiClient::with_timeout(1, Duration::from_millis(200));
        let (err, wait) = client.exchange(put(&address, "{}")).await.err().unwrap();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("no answer within 0.2 s"), "{err}");
        assert_eq!(wait, None);
    }

    #[tokio::test]
    async fn an_unreachable_homeserver_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let (err, _) = ApiClient::new(1)
            .exchange(put(&address, "{}"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, HsError::Transport(_)), "{err}");
    }

    #[tokio::test]
    async fn an_https_homeserver_is_spoken_to_in_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        );
        let client = ApiClient::with_timeout(1, Duration::from_secs(5));
        let sent = tokio::spawn(async move { client.exchange(put(&address, "{}")).await.is_ok() });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 1];
        socket.read_exact(&mut first).await.unwrap();
        // A TLS record of type handshake: the ClientHello.
        assert_eq!(first[0], 0x16);
        drop(socket);
        assert!(!sent.await.unwrap());
    }
}
