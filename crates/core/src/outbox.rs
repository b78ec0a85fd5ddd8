//! Remote→Matrix queueing: each remote event is committed (sealed, bound
//! to its portal) to the outbox before the network hears back, and each
//! portal is a [`Lane`] over the outbox that sends its events in order
//! through [`crate::remote`], never holding up the network or other
//! portals.
//!
//! A portal's plain messages go out on its own [`Pipeline`]: up to
//! [`WINDOW`] are out at once, in order, and each is recorded once the
//! homeserver's answer is read. Any other event waits for them first.

use crate::bridge::Bridge;
use crate::homeserver::Pipeline;
use crate::ids::{PortalKey, RemoteMessageId};
use crate::lane::{Lane, LaneLog, Offer};
use crate::remote::{self, handle_until_delivered, RemoteEvent, Submitted};
use crate::store::{until_stored, MessageRow, OutboxWaiter, Purpose, Write};
use anyhow::{Context, Result};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// Most messages a portal has out on its pipeline at once.
const WINDOW: usize = 32;

impl Bridge {
    /// Commits a remote event to its portal's outbox and returns: from now
    /// on it reaches Matrix even across a crash, so the network may tell
    /// its server the event was received. It never waits for the portal.
    pub async fn queue_remote(&self, portal: &PortalKey, event: RemoteEvent) -> Result<()> {
        self.enqueue_remote(portal, event).await?.await
    }

    /// Queues a remote event like [`Bridge::queue_remote`], but returns as
    /// soon as its place in the portal's order is fixed; the future it
    /// gives resolves once it is committed. A network with nothing to
    /// acknowledge (IRC) reads its next event meanwhile, so that a burst
    /// is committed in a few batches instead of one commit per event.
    pub async fn enqueue_remote(
        &self,
        portal: &PortalKey,
        event: RemoteEvent,
    ) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        self.push_remote(portal, event, None).await
    }

    /// Commits a remote event like [`Bridge::queue_remote`], then waits
    /// until it is on the homeserver, or failed for good.
    pub async fn send_remote(&self, portal: &PortalKey, event: RemoteEvent) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.push_remote(portal, event, Some(tx)).await?.await?;
        rx.await.context("the portal task stopped")?
    }

    async fn push_remote(
        &self,
        portal: &PortalKey,
        event: RemoteEvent,
        waiter: Option<OutboxWaiter>,
    ) -> Result<impl Future<Output = Result<()>> + Send + 'static> {
        let sealed = seal_event(self, portal, &event)?;
        let lane = self.portal_lane(portal);
        let key = portal.clone();
        // Offered by the writer as it commits, so in seq order even when
        // several tasks push to this portal at once.
        let offer = Box::new(move |seq| {
            metrics::gauge!("causeway_remote_queue_depth").set(lane.depth() as f64);
            if lane.offer(seq, event) == Offer::Closed {
                tracing::error!(portal = %key, "a portal task stopped; its events wait in the outbox");
            }
        });
        let committed = self
            .store()
            .outbox_enqueue(portal, sealed, waiter, Some(offer))
            .await?;
        Ok(async move { committed.await.map(drop) })
    }

    /// Starts the portals whose events an earlier run left in the outbox.
    pub(crate) async fn resume_outbox(&self) -> Result<()> {
        for portal in self.store().outbox_portals().await? {
            tracing::info!(portal = %portal, "sending remote events left by the last run");
            self.portal_lane(&portal);
        }
        Ok(())
    }

    fn portal_lane(&self, portal: &PortalKey) -> Lane<RemoteEvent> {
        self.inner()
            .portal_queues
            .entry(portal.clone())
            .or_insert_with(|| {
                metrics::gauge!("causeway_portal_tasks").increment(1.0);
                let log = PortalLog {
                    bridge: self.clone(),
                    key: portal.clone(),
                    unflushed: Mutex::default(),
                    prepared: Mutex::default(),
                    pipeline: Pipeline::new(self.homeserver().address()),
                    out: Mutex::default(),
                };
                // A new lane reads the outbox first: it may hold events for
                // this portal from before a restart.
                Lane::spawn(self.config().bridge.portal_queue_size, log, true)
            })
            .clone()
    }
}

fn message_id(event: &RemoteEvent) -> Option<&RemoteMessageId> {
    match event {
        RemoteEvent::Message { id, .. } => Some(id),
        _ => None,
    }
}

/// An outbox event sealed, and bound to its portal.
fn seal_event(bridge: &Bridge, portal: &PortalKey, event: &RemoteEvent) -> Result<String> {
    use base64::Engine;
    let json = serde_json::to_vec(event)?;
    let row = portal.to_string();
    let sealed = bridge
        .secrets()
        .seal(Purpose::Outbox, row.as_bytes(), &json)?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed))
}

fn open_event(bridge: &Bridge, portal: &PortalKey, stored: &str) -> Result<RemoteEvent> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::STANDARD_NO_PAD.decode(stored)?;
    let row = portal.to_string();
    let json = bridge
        .secrets()
        .open(Purpose::Outbox, row.as_bytes(), &sealed)?;
    Ok(serde_json::from_slice(&json)?)
}

/// One portal's share of the outbox.
struct PortalLog {
    bridge: Bridge,
    key: PortalKey,
    /// What handled events left to commit, and whom to tell once it is.
    unflushed: Mutex<Unflushed>,
    /// For each message about to be handled, the parts already on Matrix,
    /// looked up for all of them at once; taken by its first handling.
    prepared: Mutex<HashMap<RemoteMessageId, Vec<MessageRow>>>,
    /// The portal's connection for plain messages, if the homeserver is
    /// spoken to in the clear.
    pipeline: Option<Pipeline>,
    /// Messages out on the pipeline, oldest first.
    out: Mutex<VecDeque<Out>>,
}

/// A message out on the pipeline, waiting for its answer.
struct Out {
    seq: i64,
    event: RemoteEvent,
    submitted: Submitted,
}

#[derive(Default)]
struct Unflushed {
    /// New messages' mappings and the events' removal from the outbox.
    writes: Vec<Write>,
    /// How each event's delivery ended, for `send_remote`'s waiter.
    outcomes: Vec<(i64, Result<()>)>,
    /// The messages among `writes`: one delivered again must find the
    /// first's mapping, and `prepare` cannot.
    messages: HashSet<RemoteMessageId>,
}

#[async_trait]
impl LaneLog<RemoteEvent> for PortalLog {
    async fn read_back(&self, after: i64, limit: i64) -> Result<Vec<(i64, RemoteEvent)>> {
        let rows = self
            .bridge
            .store()
            .outbox_pending(&self.key, after, limit)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for (seq, stored) in rows {
            match open_event(&self.bridge, &self.key, &stored) {
                Ok(event) => events.push((seq, event)),
                Err(err) => {
                    tracing::error!(portal = %self.key, seq, "an outbox event cannot be read, dropping it: {err:#}");
                    self.finish(seq, Err(err)).await;
                }
            }
        }
        Ok(events)
    }

    /// Looks up at once the parts of the messages among `entries`, but for
    /// those handled and not yet committed: the database does not show
    /// them, so they look themselves up after a flush.
    async fn prepare(&self, entries: &[(i64, RemoteEvent)]) {
        let ids: Vec<RemoteMessageId> = entries
            .iter()
            .filter_map(|(_, event)| message_id(event))
            .filter(|id| !self.unrecorded(id))
            .cloned()
            .collect();
        let found = match self.bridge.store().parts_of_messages(&self.key, &ids).await {
            Ok(mut found) => {
                for id in ids {
                    found.entry(id).or_default();
                }
                found
            }
            // Each message looks itself up when it is handled.
            Err(_) => HashMap::new(),
        };
        if let Ok(mut prepared) = self.prepared.lock() {
            *prepared = found;
        }
    }

    /// An event delivered again after a crash is dropped by the homeserver,
    /// which knows its transaction ID; so a busy portal, whose events each
    /// wait for the homeserver, records its deliveries once a second
    /// instead of after each one. Its new mappings are held in the store
    /// meanwhile, for Matrix events that refer to them.
    fn hold(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn handle(&self, seq: i64, event: RemoteEvent) {
        let message = message_id(&event).cloned();
        let plain_message = matches!(&event, RemoteEvent::Message { reply_to: None, .. });
        let again = message.as_ref().is_some_and(|id| self.unrecorded(id));
        // Taken, so that a second delivery in the same run looks itself up.
        let known = message
            .as_ref()
            .and_then(|id| self.prepared.lock().ok()?.remove(id));
        if let (true, false, Some(pipeline)) = (plain_message, again, &self.pipeline) {
            match remote::submit(&self.bridge, &self.key, &event, known.clone(), pipeline).await {
                Ok(submitted) => {
                    let full = self.out.lock().map_or(true, |mut out| {
                        out.push_back(Out {
                            seq,
                            event,
                            submitted,
                        });
                        out.len() >= WINDOW
                    });
                    if full {
                        self.settle_oldest().await;
                    }
                    return;
                }
                // Nothing went out: it is sent the usual way, with retries.
                Err(err) => tracing::debug!(portal = %self.key, "not pipelined: {err:#}"),
            }
        }
        // Whatever is out goes first, to keep the portal's order.
        self.settle_out().await;
        // An event that refers to another message (an edit, a reaction, a
        // reply, a removal) must find its mapping in the database, so what
        // came before it commits first; so must a message delivered twice.
        if !plain_message || again {
            self.flush().await;
        }
        let mut writes = Vec::new();
        let result =
            handle_until_delivered(&self.bridge, &self.key, &event, known, &mut writes).await;
        self.record(seq, message, writes, result);
    }

    async fn flush(&self) {
        let Some(batch) = self.lock().map(|mut u| std::mem::take(&mut *u)) else {
            return;
        };
        if batch.outcomes.is_empty() {
            return;
        }
        let writes = self.bridge.store().still_held(batch.writes);
        until_stored("delivered remote events", || {
            self.bridge.store().apply(writes.clone())
        })
        .await;
        let redacted = self.bridge.store().release_messages(&writes);
        if !redacted.is_empty() {
            until_stored("mappings redacted while they committed", || {
                self.bridge.store().apply(redacted.clone())
            })
            .await;
        }
        for (seq, result) in batch.outcomes {
            self.bridge.store().outbox_tell(seq, result);
        }
    }

    async fn settle(&self) {
        self.settle_out().await;
        self.flush().await;
    }

    async fn abandon(&self, seq: i64) {
        self.settle_out().await;
        self.flush().await;
        let why = anyhow::anyhow!("the bridge failed on this event; see its log");
        self.finish(seq, Err(why)).await;
    }

    fn component(&self) -> &'static str {
        "portals"
    }
}

impl PortalLog {
    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Unflushed>> {
        self.unflushed.lock().ok()
    }

    /// Whether a message was handled and is not committed yet.
    fn unrecorded(&self, id: &RemoteMessageId) -> bool {
        self.lock().is_some_and(|u| u.messages.contains(id))
            || self.out.lock().is_ok_and(|out| {
                out.iter()
                    .any(|o| message_id(&o.event).is_some_and(|m| m == id))
            })
    }

    /// Waits for the oldest message out, and records it; one whose send
    /// failed is sent again the usual way, before any after it is
    /// recorded. Returns whether there was one.
    async fn settle_oldest(&self) -> bool {
        let Some(out) = self.out.lock().ok().and_then(|mut out| out.pop_front()) else {
            return false;
        };
        let (writes, result) = match out.submitted.answered(&self.key).await {
            Ok(writes) => (writes, Ok(())),
            Err(err) => {
                tracing::warn!(portal = %self.key, "a pipelined message failed, sending it again: {err}");
                let mut writes = Vec::new();
                let result =
                    handle_until_delivered(&self.bridge, &self.key, &out.event, None, &mut writes)
                        .await;
                (writes, result)
            }
        };
        self.record(out.seq, message_id(&out.event).cloned(), writes, result);
        true
    }

    /// Waits for every message out, in order.
    async fn settle_out(&self) {
        while self.settle_oldest().await {}
    }

    /// Holds a handled event's writes, with its removal from the outbox,
    /// for the next flush.
    fn record(
        &self,
        seq: i64,
        message: Option<RemoteMessageId>,
        mut writes: Vec<Write>,
        result: Result<()>,
    ) {
        if let Err(err) = &result {
            metrics::counter!("causeway_remote_events_failed_total").increment(1);
            tracing::error!(portal = %self.key, "cannot bridge a remote event to Matrix: {err:#}");
        } else {
            metrics::counter!("causeway_remote_events_total").increment(1);
        }
        writes.push(Write::OutboxDone(seq));
        self.bridge.store().hold_messages(&writes);
        if let Some(mut unflushed) = self.lock() {
            unflushed.writes.extend(writes);
            unflushed.outcomes.push((seq, result));
            unflushed.messages.extend(message);
        }
    }

    /// Takes an event out of the outbox, and tells whoever waits for it.
    async fn finish(&self, seq: i64, result: Result<()>) {
        until_stored("a delivered remote event", || {
            self.bridge.store().outbox_done(seq)
        })
        .await;
        self.bridge.store().outbox_tell(seq, result);
    }
}
