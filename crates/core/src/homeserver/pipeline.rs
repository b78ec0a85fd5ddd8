//! One portal's messages on one HTTP/1.1 connection, each sent without
//! waiting for the answers to those before it (pipelining).
//!
//! Why: a bridge that keeps a room's order sends its messages one at a
//! time, and at a homeserver's pace (Synapse takes 25–60 ms an event) each
//! answer wakes the bridge from idle, with its caches cold: through Synapse
//! a line from IRC cost three to five times what it costs back to back.
//! Pipelined, the requests wait in the homeserver's socket instead, and
//! the answers are read at most once per [`TICK`], a few at a time.
//!
//! Order holds: an HTTP/1.1 server answers a connection's requests in the
//! order they came, and Synapse (Twisted) even handles them one after the
//! other, each once the one before it is answered. If the connection
//! breaks, the requests it had not answered fail, and are sent again in
//! order; a send the homeserver took already is known by its transaction
//! ID and is not repeated, unless the homeserver restarted in between
//! (Synapse keeps an appservice's transaction IDs in memory only).
//!
//! hyper's client does not pipeline, so the bytes are written here;
//! httparse reads the answers. Only `http://` homeservers are spoken to
//! this way (a bridge usually reaches its homeserver in the clear on the
//! same host); others keep the pooled client.

use super::request::parse_reply;
use super::rooms::message_request;
use super::traffic::InFlight;
use super::transport::{transport, Reply, CONNECT_TIMEOUT, TIMEOUT};
use super::{Homeserver, HsError};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use ruma::api::client::message::send_message_event;
use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Least time between two reads of the answers while requests are out.
const TICK: Duration = Duration::from_millis(250);

/// How long an unused connection stays open.
const IDLE: Duration = Duration::from_secs(30);

/// Most headers an answer may have.
const MAX_HEADERS: usize = 64;

/// What a request's sender waits for.
pub(super) type Answer = oneshot::Receiver<Result<Reply, HsError>>;

/// A request on its way, and whom to give its answer.
struct Job {
    bytes: Vec<u8>,
    waiter: Waiter,
}

/// Whom to give a request's answer.
struct Waiter {
    reply: oneshot::Sender<Result<Reply, HsError>>,
    /// Counts the request out until its answer is read.
    _in_flight: InFlight,
}

impl Waiter {
    fn answer(self, answer: Result<Reply, HsError>) {
        let _ = self.reply.send(answer);
    }
}

/// A connection to the homeserver for one portal's sends, opened when the
/// first request comes and closed after [`IDLE`].
pub(crate) struct Pipeline {
    /// `host:port`, to connect to and for the Host header.
    authority: String,
    /// The connection's task, while it runs.
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

impl Pipeline {
    /// A pipeline to the homeserver at `address`, if it is spoken to in
    /// the clear.
    pub(crate) fn new(address: &str) -> Option<Self> {
        let uri: http::Uri = address.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let host = uri.host()?;
        let port = uri.port_u16().unwrap_or(80);
        Some(Self {
            authority: format!("{host}:{port}"),
            jobs: Mutex::new(None),
        })
    }

    /// Writes `request` behind those already out; its answer comes on the
    /// returned channel.
    pub(super) fn send(&self, request: &http::Request<Bytes>, in_flight: InFlight) -> Answer {
        let (reply, answer) = oneshot::channel();
        let mut job = Job {
            bytes: encode(request, &self.authority),
            waiter: Waiter {
                reply,
                _in_flight: in_flight,
            },
        };
        let Ok(mut jobs) = self.jobs.lock() else {
            job.waiter
                .answer(Err(transport("the pipeline's lock is poisoned")));
            return answer;
        };
        if let Some(tx) = jobs.as_ref() {
            match tx.send(job) {
                Ok(()) => return answer,
                // The connection ended: a new one takes the request.
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(job);
        tokio::spawn(run(self.authority.clone(), rx));
        *jobs = Some(tx);
        answer
    }
}

impl Homeserver {
    /// Sends an `m.room.message` as [`Homeserver::send`] does, but on
    /// `pipeline` and without waiting: the future resolves with the
    /// event's ID once the answer is read. A failure is not retried; the
    /// caller sends the event again, with the same `txn_id`, after those
    /// before it.
    pub(crate) fn send_pipelined(
        &self,
        pipeline: &Pipeline,
        (user, room): (&UserId, &RoomId),
        txn_id: &str,
        content: &Value,
        ts: Option<i64>,
    ) -> Result<impl Future<Output = Result<OwnedEventId, HsError>> + Send + 'static, HsError> {
        let request = message_request(room, "m.room.message", txn_id, content, ts)?;
        let request = self.http_request(request, Some(user))?.map(Bytes::from);
        let answer = pipeline.send(&request, self.traffic.start());
        Ok(async move {
            let reply = answer
                .await
                .map_err(|_| transport("the pipeline stopped"))??;
            parse_reply::<send_message_event::v3::Request>(reply).map(|r| r.event_id)
        })
    }
}

/// The request as HTTP/1.1 bytes. `http`'s types hold no CR or LF in a
/// header or the request target, so a request is always one request.
fn encode(request: &http::Request<Bytes>, authority: &str) -> Vec<u8> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let body = request.body();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in request.headers() {
        if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// The connection's task: writes each job as it comes, and reads the
/// answers, no more often than [`TICK`] while requests are out.
async fn run(authority: String, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&authority)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return fail_queued(&mut jobs, &err.to_string()),
        Err(_) => return fail_queued(&mut jobs, "connecting timed out"),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut waiting: VecDeque<Waiter> = VecDeque::new();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut open = true;
    // The first answer after a quiet spell is read at once.
    let mut next_read = Instant::now();
    let mut progress = Instant::now();
    let failure = loop {
        if !open && waiting.is_empty() {
            return;
        }
        tokio::select! {
            job = jobs.recv(), if open => {
                let Some(first) = job else {
                    open = false;
                    continue;
                };
                let mut out = Vec::new();
                let mut next = Some(first);
                while let Some(job) = next {
                    out.extend_from_slice(&job.bytes);
                    if waiting.is_empty() {
                        progress = Instant::now();
                    }
                    waiting.push_back(job.waiter);
                    next = jobs.try_recv().ok();
                }
                if let Err(err) = writer.write_all(&out).await {
                    break err.to_string();
                }
            }
            read = async {
                tokio::time::sleep_until(next_read).await;
                reader.read_buf(&mut buf).await
            }, if !waiting.is_empty() => {
                match read {
                    Ok(0) => break "the homeserver closed the connection".to_owned(),
                    Ok(_) => {}
                    Err(err) => break err.to_string(),
                }
                match answer_all(&mut buf, &mut waiting) {
                    Ok(0) => {}
                    Ok(_) => {
                        progress = Instant::now();
                        next_read = progress + TICK;
                    }
                    Err(err) => break err,
                }
            }
            () = tokio::time::sleep_until(progress + TIMEOUT), if !waiting.is_empty() => {
                break format!("no answer within {} s", TIMEOUT.as_secs());
            }
            () = tokio::time::sleep(IDLE), if waiting.is_empty() => return,
        }
    };
    for waiter in waiting {
        waiter.answer(Err(transport(&failure)));
    }
    fail_queued(&mut jobs, &failure);
}

/// Fails the jobs queued for a connection that ended.
fn fail_queued(jobs: &mut mpsc::UnboundedReceiver<Job>, why: &str) {
    jobs.close();
    while let Ok(job) = jobs.try_recv() {
        job.waiter.answer(Err(transport(why)));
    }
}

/// Gives each whole answer in `buf` to the oldest request waiting, and
/// returns how many there were.
fn answer_all(buf: &mut Vec<u8>, waiting: &mut VecDeque<Waiter>) -> Result<usize, String> {
    let mut answered = 0;
    let mut start = 0;
    while let Some((reply, used)) = parse(&buf[start..])? {
        start += used;
        let Some(waiter) = waiting.pop_front() else {
            return Err("the homeserver answered a request never sent".to_owned());
        };
        waiter.answer(reply);
        answered += 1;
    }
    buf.drain(..start);
    Ok(answered)
}

/// One answer read: the reply or the homeserver's error, and how many
/// bytes it took.
type Parsed = (Result<Reply, HsError>, usize);

/// Reads one answer off the front of `buf`, if it is all there.
fn parse(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(format!("malformed answer: {err}")),
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("an answer without a status")?;
    let mut map = HeaderMap::with_capacity(response.headers.len());
    for header in response.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return Err(format!("a malformed header {:?}", header.name));
        };
        map.append(name, value);
    }
    let rest = &buf[head_len..];
    let chunked = map
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let (body, used) = if chunked {
        match dechunk(rest)? {
            Some(found) => found,
            None => return Ok(None),
        }
    } else {
        let length = match map.get(http::header::CONTENT_LENGTH) {
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("a malformed content-length")?,
            None if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED => 0,
            None => return Err("an answer without a length".to_owned()),
        };
        if rest.len() < length {
            return Ok(None);
        }
        (rest[..length].to_vec(), length)
    };
    let reply = if status.is_success() {
        Ok(Reply {
            status,
            headers: map,
            bytes: body,
        })
    } else {
        Err(HsError::from_body(status.as_u16(), &body))
    };
    Ok(Some((reply, head_len + used)))
}

/// A chunked body off the front of `buf`, if it is all there, and how many
/// bytes it took. Trailers are skipped.
fn dechunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + line_end]).map_err(|e| e.to_string())?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("a bad chunk size {size:?}"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers, if any, then an empty line.
            loop {
                let Some(end) = find_crlf(&buf[at..]) else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err("a chunk not ended by CRLF".to_owned());
        }
        at += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::super::Traffic;
    use super::*;
    use std::sync::Arc;
    use tokio::net::TcpListener;
    use tokio::sync::Semaphore;

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n";

    /// A homeserver that, on each connection, waits for `count` whole
    /// requests, sends back what it read, then writes `answer` and closes.
    async fn server(
        count: usize,
        answer: String,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<String>>) {
        let go = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
        gated_server(count, answer, go).await
    }

    /// [`server`], which answers only once `go` has a permit for it.
    async fn gated_server(
        count: usize,
        answer: String,
        go: Arc<Semaphore>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (heard, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut read = Vec::new();
                while read.len() < count {
                    let mut chunk = [0u8; 4096];
                    let Ok(n @ 1..) = socket.read(&mut chunk).await else {
                        return;
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(used) = whole_request(&buf) {
                        read.push(String::from_utf8_lossy(&buf[..used]).into_owned());
                        buf.drain(..used);
                    }
                }
                let _ = heard.send(read);
                go.acquire().await.unwrap().forget();
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (address, requests)
    }

    /// The length of the whole request at the front of `buf`, if there is one.
    fn whole_request(buf: &[u8]) -> Option<usize> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(buf).ok()? else {
            return None;
        };
        let length: usize = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .unwrap_or(0);
        (buf.len() >= head + length).then_some(head + length)
    }

    fn put(address: &str, n: usize) -> http::Request<Bytes> {
        http::Request::put(format!(
            "{address}/_matrix/client/v3/send/{n}?user_id=%40a%3Ahs"
        ))
        .header("authorization", "Bearer token")
        .body(Bytes::from(format!("{{\"n\":{n}}}")))
        .unwrap()
    }

    fn sized(body: &str) -> String {
        format!("{OK}content-length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn requests_go_out_before_earlier_answers_and_each_gets_its_own_answer() {
        // The server answers nothing until all three requests came, so they
        // must have gone out without waiting; one answer is chunked.
        let answers = format!(
            "{}{OK}transfer-encoding: chunked\r\n\r\n3\r\n{{\"n\r\n4\r\n\":2}}\r\n0\r\n\r\n{}",
            sized("{\"n\":1}"),
            sized("{\"n\":3}")
        );
        let go = Arc::new(Semaphore::new(0));
        let (address, mut heard) = gated_server(3, answers, go.clone()).await;
        let pipeline = Pipeline::new(&address).unwrap();
        let traffic = Arc::new(Traffic::default());
        let sent: Vec<Answer> = (1..=3)
            .map(|n| pipeline.send(&put(&address, n), traffic.start()))
            .collect();
        let requests = heard.recv().await.unwrap();
        assert_eq!(traffic.in_flight(), 3, "out until answered");
        go.add_permits(1);
        assert!(
            requests[0].starts_with("PUT /_matrix/client/v3/send/1?user_id=%40a%3Ahs HTTP/1.1\r\n")
        );
        assert!(
            requests[2].ends_with("\r\n\r\n{\"n\":3}"),
            "{}",
            requests[2]
        );
        for (n, answer) in (1..=3).zip(sent) {
            let reply = answer.await.unwrap().ok().unwrap();
            assert_eq!(reply.bytes, format!("{{\"n\":{n}}}").as_bytes());
        }
        assert_eq!((traffic.in_flight(), traffic.finished()), (0, 3));
    }

    #[tokio::test]
    async fn a_closed_connection_fails_the_requests_it_did_not_answer_and_the_next_opens_another() {
        let (address, _heard) = server(2, sized("{\"n\":1}")).await;
        let pipeline = Pipeline::new(&address).unwrap();
        let traffic = Arc::new(Traffic::default());
        let first = pipeline.send(&put(&address, 1), traffic.start());
        let second = pipeline.send(&put(&address, 2), traffic.start());
        assert!(first.await.unwrap().is_ok());
        let err = second.await.unwrap().err().unwrap();
        assert!(matches!(err, HsError::Transport(_)), "{err}");
        // A new connection; this server answers after two requests again.
        let third = pipeline.send(&put(&address, 3), traffic.start());
        let fourth = pipeline.send(&put(&address, 4), traffic.start());
        assert!(third.await.unwrap().is_ok());
        assert!(fourth.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn an_error_answer_is_the_homeservers_error() {
        let body = r#"{"errcode":"M_FORBIDDEN","error":"not in room"}"#;
        let answer = format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (address, _heard) = server(1, answer).await;
        let pipeline = Pipeline::new(&address).unwrap();
        let traffic = Arc::new(Traffic::default());
        let err = pipeline
            .send(&put(&address, 1), traffic.start())
            .await
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(err.errcode(), Some("M_FORBIDDEN"));
    }

    #[tokio::test]
    async fn an_unreachable_homeserver_fails_the_request() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let pipeline = Pipeline::new(&address).unwrap();
        let traffic = Arc::new(Traffic::default());
        let answer = pipeline.send(&put(&address, 1), traffic.start()).await;
        assert!(matches!(answer, Ok(Err(HsError::Transport(_)))));
        assert_eq!(traffic.in_flight(), 0);
    }

    #[test]
    fn an_answer_not_all_read_yet_waits_for_the_rest() {
        let whole = sized("{\"n\":1}");
        for cut in 0..whole.len() {
            assert!(
                parse(&whole.as_bytes()[..cut]).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        let (reply, used) = parse(whole.as_bytes()).unwrap().unwrap();
        assert_eq!(used, whole.len());
        assert_eq!(reply.ok().unwrap().bytes, b"{\"n\":1}");
    }

    #[test]
    fn a_chunked_body_is_joined_and_its_trailers_skipped() {
        let body = b"2;ext=1\r\nab\r\n1\r\nc\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let (joined, used) = dechunk(body).unwrap().unwrap();
        assert_eq!(joined, b"abc");
        assert_eq!(&body[used..], b"NEXT");
        assert!(dechunk(&body[..12]).unwrap().is_none());
        assert!(dechunk(b"zz\r\n").is_err());
    }

    #[test]
    fn only_a_homeserver_spoken_to_in_the_clear_is_pipelined() {
        assert!(Pipeline::new("https://matrix.example.org").is_none());
        let plain = Pipeline::new("http://localhost:8008").unwrap();
        assert_eq!(plain.authority, "localhost:8008");
        assert_eq!(Pipeline::new("http://hs").unwrap().authority, "hs:80");
    }
}
