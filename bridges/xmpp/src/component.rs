//! The XEP-0114 connection: one stream to the server for the whole bridge.
//!
//! tokio-xmpp gives us the handshake and the XML stream; the rest is ours.
//! Its stream yields `None` for a stanza it cannot parse and for a quiet
//! spell as much as for a dead socket, so liveness is judged by pings. What
//! we send goes through one ordered queue that outlives connections.
//!
//! XEP-0114 acknowledges nothing, and a stanza written to the socket may
//! die with a server that never read it. The server handles a stream's
//! stanzas in order, so its answer to a ping says it took everything
//! written before the ping: a stanza counts as taken only then. One ping
//! is in flight at a time and covers every stanza written before it. A
//! stanza the server did not take is sent again after the reconnect, first.
//!
//! Senders do not wait for that answer, which can take a delayed ACK's 40
//! ms: [`Component::taken`] confirms everything queued before it at once,
//! so that the bridge records a batch of Matrix events as delivered only
//! after its stanzas were taken.

use crate::stanza::{self, ns, NS};
use anyhow::{anyhow, Context, Result};
use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;
use xmpp_parsers::minidom::Element;

/// How long an IQ we send may wait for its answer.
const IQ_TIMEOUT: Duration = Duration::from_secs(15);
/// Consecutive empty reads, with no stanza between, that mean the stream
/// is gone rather than that one stanza was unreadable.
const DEAD_AFTER_EMPTY_READS: u32 = 20;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the connection tells the bridge.
#[derive(Debug)]
pub enum Inbound {
    /// A (re)connection completed; presences sent from `on_online` are
    /// already out.
    Online,
    Stanza(Element),
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ConnectTarget {
    pub jid: String,
    pub secret: String,
    pub address: String,
    /// The server's own domain, which answers keepalive pings.
    pub server_domain: String,
    pub keepalive: Duration,
}

/// Called after each handshake, before the queue is flushed: the stanzas
/// that must precede everything else, such as MUC rejoins.
pub type OnOnline = Arc<dyn Fn() -> Vec<Element> + Send + Sync>;

/// A stanza for the server, and who waits for it to be written.
struct Outgoing {
    stanza: Element,
    written: Option<oneshot::Sender<()>>,
}

/// The ping in flight: its ID, when it went, and how many of the written
/// stanzas its answer confirms.
struct PingSent {
    id: String,
    at: Instant,
    covers: usize,
}

/// The bridge's handle on the connection. Cheap to clone.
#[derive(Clone)]
pub struct Component {
    queue: mpsc::UnboundedSender<Outgoing>,
    pending: Arc<DashMap<String, oneshot::Sender<Element>>>,
    next_id: Arc<AtomicU64>,
    online: Arc<AtomicBool>,
    /// Stanzas queued so far, and how many of them the server took.
    queued: Arc<AtomicU64>,
    taken: Arc<watch::Sender<u64>>,
}

impl Component {
    /// Starts the connection task; it runs, reconnecting, for as long as
    /// the bridge does.
    pub fn spawn(
        target: ConnectTarget,
        inbound: mpsc::UnboundedSender<Inbound>,
        on_online: OnOnline,
    ) -> Self {
        let (queue, outbound) = mpsc::unbounded_channel();
        let component = Self {
            queue,
            pending: Arc::new(DashMap::new()),
            next_id: Arc::new(AtomicU64::new(1)),
            online: Arc::new(AtomicBool::new(false)),
            queued: Arc::new(AtomicU64::new(0)),
            taken: Arc::new(watch::Sender::new(0)),
        };
        let task = Connection {
            target,
            inbound,
            on_online,
            outbound,
            resend: VecDeque::new(),
            unconfirmed: VecDeque::new(),
            pending: component.pending.clone(),
            online: component.online.clone(),
            next_ping: component.next_id.clone(),
            taken: component.taken.clone(),
        };
        tokio::spawn(task.run());
        component
    }

    /// Queues a stanza; it goes out in order, once connected.
    pub fn send(&self, stanza: Element) {
        self.enqueue(Outgoing {
            stanza,
            written: None,
        });
    }

    /// Queues a stanza like [`Component::send`]; the answer comes once it
    /// is written to the server's stream, after reconnects if need be.
    pub fn send_confirmed(&self, stanza: Element) -> oneshot::Receiver<()> {
        let (written, done) = oneshot::channel();
        self.enqueue(Outgoing {
            stanza,
            written: Some(written),
        });
        done
    }

    /// Resolves once the server took every stanza queued before the call
    /// (it answered a ping sent after them), after reconnects if need be.
    pub fn taken(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let queued = self.queued.load(Ordering::Acquire);
        let mut taken = self.taken.subscribe();
        async move {
            // Ends early only if the component is gone, and with it the
            // bridge.
            let _ = taken.wait_for(|taken| *taken >= queued).await;
        }
    }

    fn enqueue(&self, outgoing: Outgoing) {
        // Counted before it is queued: a stanza ahead of it in the queue
        // was counted before it too.
        self.queued.fetch_add(1, Ordering::AcqRel);
        if self.queue.send(outgoing).is_err() {
            tracing::error!("the XMPP connection task has stopped; a stanza was not sent");
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Sends an IQ get or set and waits for its result. An error reply is
    /// an `Err` naming the condition.
    pub async fn request(&self, mut iq: Element) -> Result<Element> {
        let id = format!("cw-iq-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        stanza::set_attr(&mut iq, "id", &id);
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id.clone(), tx);
        self.send(iq);
        let reply = tokio::time::timeout(IQ_TIMEOUT, rx).await;
        self.pending.remove(&id);
        let reply = reply
            .map_err(|_| anyhow!("no answer within {}s", IQ_TIMEOUT.as_secs()))?
            .context("the connection dropped the request")?;
        if reply.attr("type") == Some("error") {
            let (condition, text) = stanza::error_of(&reply);
            return Err(anyhow!(
                "{condition}{}",
                text.map(|t| format!(": {t}")).unwrap_or_default()
            ));
        }
        Ok(reply)
    }
}

struct Connection {
    target: ConnectTarget,
    inbound: mpsc::UnboundedSender<Inbound>,
    on_online: OnOnline,
    outbound: mpsc::UnboundedReceiver<Outgoing>,
    /// Stanzas taken from the queue that the last connection did not take,
    /// in order: they go out before the queue.
    resend: VecDeque<Outgoing>,
    /// Stanzas written on this connection that no ping answer covers yet.
    unconfirmed: VecDeque<Outgoing>,
    pending: Arc<DashMap<String, oneshot::Sender<Element>>>,
    online: Arc<AtomicBool>,
    next_ping: Arc<AtomicU64>,
    taken: Arc<watch::Sender<u64>>,
}

type Stream = tokio_xmpp::Component<tokio_xmpp::connect::TcpServerConnector>;

impl Connection {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let timeouts = Timeouts {
                read_timeout: self.target.keepalive * 2,
                response_timeout: self.target.keepalive,
            };
            let connected = Stream::new_plaintext(
                &self.target.jid,
                &self.target.secret,
                DnsConfig::addr(&self.target.address),
                timeouts,
            )
            .await;
            match connected {
                Ok(stream) => {
                    tracing::info!(jid = %self.target.jid, address = %self.target.address, "connected to the XMPP server");
                    backoff = Duration::from_millis(500);
                    let reason = self.serve(stream).await;
                    self.online.store(false, Ordering::Relaxed);
                    // Written, never confirmed: maybe lost with the socket.
                    while let Some(out) = self.unconfirmed.pop_back() {
                        self.resend.push_front(out);
                    }
                    tracing::warn!(%reason, "the XMPP connection dropped; reconnecting");
                }
                Err(err) => {
                    tracing::warn!(%err, address = %self.target.address, retry_in = ?backoff, "cannot connect to the XMPP server");
                }
            }
            if self.inbound.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Runs one connection until it dies; returns why.
    async fn serve(&mut self, stream: Stream) -> String {
        let (mut sink, mut reader) = stream.split();
        for first in (self.on_online)() {
            if let Err(err) = sink.send(to_stanza(first)).await {
                return format!("send failed: {err}");
            }
        }
        self.online.store(true, Ordering::Relaxed);
        if self.inbound.send(Inbound::Online).is_err() {
            return "the bridge stopped".into();
        }
        let mut empty_reads = 0u32;
        let mut last_read = Instant::now();
        let mut ping_sent: Option<PingSent> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            let next_out = async {
                match self.resend.pop_front() {
                    Some(again) => Some(again),
                    None => self.outbound.recv().await,
                }
            };
            tokio::select! {
                // Reads first: an end of stream must be seen before a write
                // could vanish into the closing socket.
                biased;
                read = reader.next() => match read {
                    Some(stanza) => {
                        empty_reads = 0;
                        last_read = Instant::now();
                        let element = stanza_to_element(&stanza);
                        if let Some(ping) = ping_sent.take_if(|p| element.attr("id") == Some(p.id.as_str())) {
                            self.confirm(ping.covers);
                            if !self.unconfirmed.is_empty() {
                                ping_sent = Some(self.ping(&mut sink).await);
                            }
                            continue;
                        }
                        self.dispatch(element);
                    }
                    None => {
                        empty_reads += 1;
                        if empty_reads >= DEAD_AFTER_EMPTY_READS {
                            return "the stream ended".into();
                        }
                        if empty_reads == 1 {
                            tracing::warn!("the XMPP stream gave an unreadable stanza or timed out; checking the connection");
                        }
                        if ping_sent.is_none() {
                            ping_sent = Some(self.ping(&mut sink).await);
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                // After an empty read, nothing goes out until the stream
                // proves alive: writes into a closing socket would be lost.
                out = next_out, if empty_reads == 0 => {
                    let Some(out) = out else { return "the bridge stopped".into() };
                    if let Err(err) = sink.feed(to_stanza(out.stanza.clone())).await {
                        self.resend.push_front(out);
                        return format!("send failed: {err}");
                    }
                    // Unconfirmed from here: if the write fails, the stanza
                    // goes out again on the next connection.
                    self.unconfirmed.push_back(out);
                    // One write carries the stanza and, if none is in
                    // flight, the ping whose answer confirms it.
                    if ping_sent.is_none() {
                        let (ping, sent) = self.ping_stanza();
                        if let Err(err) = sink.feed(ping).await {
                            return format!("send failed: {err}");
                        }
                        ping_sent = Some(sent);
                    }
                    if let Err(err) = sink.flush().await {
                        return format!("send failed: {err}");
                    }
                    let written = self.unconfirmed.back_mut().and_then(|out| out.written.take());
                    if let Some(written) = written {
                        let _ = written.send(());
                    }
                }
                _ = tick.tick() => {
                    if let Some(ping) = &ping_sent {
                        if ping.at.elapsed() > self.target.keepalive {
                            return "the server did not answer a ping".into();
                        }
                    } else if last_read.elapsed() > self.target.keepalive {
                        ping_sent = Some(self.ping(&mut sink).await);
                    }
                }
            }
        }
    }

    /// Sends a ping, whose answer confirms every stanza written so far.
    async fn ping<S>(&self, sink: &mut S) -> PingSent
    where
        S: futures_util::Sink<Stanza> + Unpin,
    {
        let (stanza, sent) = self.ping_stanza();
        // A failed send shows up as an unanswered ping.
        let _ = sink.send(stanza).await;
        sent
    }

    /// A ping to the server, and what its answer will confirm: every stanza
    /// written before it.
    fn ping_stanza(&self) -> (Stanza, PingSent) {
        let id = format!("cw-ping-{}", self.next_ping.fetch_add(1, Ordering::Relaxed));
        let mut iq = stanza::new(
            "iq",
            &self.target.jid,
            &self.target.server_domain,
            Some("get"),
            Some(&id),
        );
        iq.append_child(stanza::empty("ping", ns::PING, &[]));
        let sent = PingSent {
            id,
            at: Instant::now(),
            covers: self.unconfirmed.len(),
        };
        (to_stanza(iq), sent)
    }

    /// The first `taken` written stanzas reached the server.
    fn confirm(&mut self, taken: usize) {
        let taken = taken.min(self.unconfirmed.len());
        self.unconfirmed.drain(..taken);
        self.taken.send_modify(|count| *count += taken as u64);
    }

    fn dispatch(&self, element: Element) {
        let is_reply = matches!(element.attr("type"), Some("result" | "error"));
        if element.name() == "iq" && is_reply {
            if let Some((_, waiter)) = element.attr("id").and_then(|id| self.pending.remove(id)) {
                let _ = waiter.send(element);
                return;
            }
        }
        let _ = self.inbound.send(Inbound::Stanza(element));
    }
}

fn stanza_to_element(stanza: &Stanza) -> Element {
    xso::transform(stanza).unwrap_or_else(|err| {
        tracing::error!(%err, "cannot turn a parsed stanza back into XML");
        Element::bare("message", NS)
    })
}

/// Our own elements always convert; one that does not is a bug, logged and
/// replaced by an empty message rather than dropping the connection.
fn to_stanza(element: Element) -> Stanza {
    xso::transform(&element).unwrap_or_else(|err| {
        tracing::error!(%err, stanza = %stanza::to_string(&element), "built an invalid stanza");
        Stanza::Message(xmpp_parsers::message::Message::new(None))
    })
}
