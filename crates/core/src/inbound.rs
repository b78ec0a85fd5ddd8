//! Matrix→remote: the dispatcher takes each event the ingress log commits
//! (read back from the log at start, after 5 s without a commit, or when
//! the writer's feed overflowed) and hands it to its room's task; rooms run
//! in parallel, events within a room in order. An event is marked processed
//! only after its handler finished, so what a crash interrupts is read again
//! at the next start. Each room is a [`Lane`]: the dispatcher never waits
//! for one, and a room whose queue is full reads its events back from the
//! log. A room's mapping writes and processed marks are committed in batches
//! (see [`crate::lane`]).

use crate::bridge::Bridge;
use crate::lane::{Lane, LaneLog, Offer};
use crate::network::Network;
use crate::store::{until_stored, IngressBody, IngressEvent, IngressKind, Write};
use crate::timeline_json::Timeline;
use async_trait::async_trait;
use ruma::api::appservice::event::push_events::v1::EphemeralData;
use ruma::events::{AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent};
use ruma::OwnedRoomId;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BATCH: i64 = 512;

/// Where the dispatch mark is kept: the last event that may have reached a
/// room's task. Only events up to it can have been handed to the network
/// before a crash, so only those are checked against the mapping at the
/// next start; a backlog that was never dispatched runs without lookups.
const DISPATCH_MARK: &str = "ingress.dispatched_through";

/// How far ahead of the dispatcher the mark is set, so that a bridge with a
/// trickle of events commits it once per this many, not once per event.
/// Events in that slack are checked at the next start though never sent.
const MARK_AHEAD: i64 = 4096;

/// Records a dispatch mark for a database that has none: everything
/// logged so far counts as possibly dispatched. Runs before the appservice
/// listens, so nothing logged by this run is counted.
pub(crate) async fn init_dispatch_mark(bridge: &Bridge) -> anyhow::Result<()> {
    if bridge.store().kv_get(DISPATCH_MARK).await?.is_none() {
        let last = bridge.store().last_ingress_seq().await?;
        bridge
            .store()
            .kv_set(DISPATCH_MARK, &last.to_string())
            .await?;
    }
    Ok(())
}

/// The last event an earlier run may have handed to the network.
pub(crate) async fn recovery_point(bridge: &Bridge) -> anyhow::Result<i64> {
    match bridge.store().kv_get(DISPATCH_MARK).await? {
        Some(mark) => Ok(mark.parse().unwrap_or(i64::MAX)),
        None => bridge.store().last_ingress_seq().await,
    }
}

/// Dispatches stored events in log order, forever. Events up to
/// `recovery_point` may have been handled by an earlier run.
///
/// It reads the log until it has caught up, then takes what the writer
/// hands over as it commits, which is every later event in order; it reads
/// the log again only when the feed says it left some out. `cursor` is the
/// last event dispatched, so one both read and handed over goes once.
pub(crate) async fn run_dispatcher(bridge: Bridge, recovery_point: i64) {
    tokio::spawn(run_pruning(bridge.clone()));
    let dispatcher = Dispatcher {
        bridge: bridge.clone(),
        recovery_point,
        dispatched: Arc::new(AtomicI64::new(recovery_point)),
    };
    let feed = bridge.store().ingress_feed();
    let mut cursor = 0i64;
    let mut behind = true;
    loop {
        if behind {
            match bridge.store().pending_ingress(cursor, BATCH).await {
                Ok(events) => {
                    // A short batch is all the log had: from here the feed
                    // holds every later event.
                    behind = events.len() as i64 == BATCH;
                    dispatcher.dispatch_all(events, &mut cursor).await;
                }
                Err(err) => {
                    tracing::error!("cannot read the ingress log, retrying: {err:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        }
        let handed = feed.take();
        let fresh = !handed.events.is_empty();
        dispatcher.dispatch_all(handed.events, &mut cursor).await;
        if handed.overflowed {
            behind = true;
        } else if !fresh {
            // Woken by each commit; the timeout is a safety net.
            behind = !feed.wait(Duration::from_secs(5)).await;
        }
    }
}

/// What dispatching needs beyond the event.
struct Dispatcher {
    bridge: Bridge,
    recovery_point: i64,
    dispatched: Arc<AtomicI64>,
}

impl Dispatcher {
    /// Dispatches the events after `cursor`, in order, and moves it on.
    async fn dispatch_all(&self, events: Vec<IngressEvent>, cursor: &mut i64) {
        let after = *cursor;
        for mut event in events.into_iter().filter(|e| e.seq > after) {
            // The mark covers an event before it may reach the network.
            if event.seq > self.dispatched.load(Ordering::Acquire) {
                let mark = event.seq + MARK_AHEAD;
                persist_dispatch_mark(&self.bridge, mark).await;
                self.dispatched.store(mark, Ordering::Release);
            }
            *cursor = event.seq;
            event.recovered = event.seq <= self.recovery_point;
            // A panic here loses nothing: the event stays in the log,
            // unprocessed, for the next start.
            crate::health::guard("dispatcher", self.dispatch(event)).await;
        }
    }

    /// Hands an event to its room's lane, which it starts if need be.
    async fn dispatch(&self, event: IngressEvent) {
        let bridge = &self.bridge;
        let room = event.room_id.clone().unwrap_or_default();
        let lane = bridge
            .inner()
            .room_queues
            .entry(room.clone())
            .or_insert_with(|| {
                let log = RoomLog {
                    bridge: bridge.clone(),
                    room: event.room_id.as_deref().and_then(|id| id.parse().ok()),
                    room_id: event.room_id.clone(),
                    recovery_point: self.recovery_point,
                    dispatched: self.dispatched.clone(),
                    unflushed: Mutex::default(),
                    committing: Arc::default(),
                };
                Lane::spawn(bridge.config().bridge.portal_queue_size, log, false)
            })
            .clone();
        metrics::gauge!("causeway_ingress_queue_depth").set(lane.depth() as f64);
        let seq = event.seq;
        match lane.offer(seq, event) {
            Offer::Queued => {}
            Offer::Behind => {
                tracing::debug!(room, seq, "a room is behind; its event waits in the log")
            }
            Offer::Closed => tracing::error!(
                room,
                "a room task stopped; its events stay in the ingress log for the next start"
            ),
        }
    }
}

/// Commits the dispatch mark before any event after the old one leaves
/// the log.
async fn persist_dispatch_mark(bridge: &Bridge, mark: i64) {
    let mark = mark.to_string();
    until_stored("the dispatch mark", || {
        bridge.store().kv_set(DISPATCH_MARK, &mark)
    })
    .await;
}

/// One room's share of the ingress log.
struct RoomLog {
    bridge: Bridge,
    room_id: Option<String>,
    /// `room_id`, parsed: what a network confirms delivery for.
    room: Option<OwnedRoomId>,
    recovery_point: i64,
    /// The dispatch mark: the lane reads back no event beyond it, since an
    /// event the mark does not cover must not reach the network.
    dispatched: Arc<AtomicI64>,
    /// Mapping writes and processed marks of handled events, committed
    /// together at the lane's next flush.
    unflushed: Mutex<Vec<Write>>,
    /// Held, shared, by each commit that waits for the network to confirm
    /// delivery; taken whole to wait for all of them.
    committing: Arc<tokio::sync::RwLock<()>>,
}

impl RoomLog {
    fn defer(&self, writes: Vec<Write>) {
        if let Ok(mut unflushed) = self.unflushed.lock() {
            unflushed.extend(writes);
        }
    }

    /// Waits for the commits in flight: an event that refers to another
    /// needs that one's mapping in the database.
    async fn settle(&self) {
        drop(self.committing.write().await);
    }
}

#[async_trait]
impl LaneLog<IngressEvent> for RoomLog {
    async fn read_back(&self, after: i64, limit: i64) -> anyhow::Result<Vec<(i64, IngressEvent)>> {
        let events = self
            .bridge
            .store()
            .pending_ingress_in_room(
                self.room_id.as_deref(),
                after,
                self.dispatched.load(Ordering::Acquire),
                limit,
            )
            .await?;
        Ok(events
            .into_iter()
            .map(|mut event| {
                event.recovered = event.seq <= self.recovery_point;
                (event.seq, event)
            })
            .collect())
    }

    async fn handle(&self, seq: i64, event: IngressEvent) {
        let opened = open(&self.bridge, &event);
        // Anything but a new message commits what came before it. An event
        // that refers to another (an edit, a reply, a redaction, a reaction
        // or a receipt the network takes) must also find that one's mapping
        // in the database, so it waits for those commits, which on a
        // network that confirms delivery wait for its confirmation. Nothing
        // else waits: a membership change or typing behind a message the
        // network has not confirmed yet would hold up the room.
        if !opened.as_ref().is_some_and(Opened::stands_alone) {
            self.flush().await;
            let handled = Lookups::of(self.bridge.network().as_ref());
            if opened
                .as_ref()
                .is_some_and(|o| o.refers_to_another(handled))
            {
                self.settle().await;
            }
        }
        let mut writes = Vec::new();
        if let Some(opened) = opened {
            handle_opened(&self.bridge, &event, opened, &mut writes).await;
        }
        // The mapping and the processed mark commit together.
        writes.push(Write::Processed(seq));
        self.defer(writes);
        metrics::counter!("causeway_events_processed_total").increment(1);
    }

    /// On a network that confirms delivery apart from its writes, the
    /// commit waits for that confirmation in a task of its own, and the
    /// lane goes on sending meanwhile: a crash before the commit sends the
    /// events again, as it would any the network may not have taken. What
    /// the network says it lost is not committed either, so it goes out
    /// again at the next start.
    async fn flush(&self) {
        let writes = match self.unflushed.lock() {
            Ok(mut unflushed) => std::mem::take(&mut *unflushed),
            Err(_) => return,
        };
        if writes.is_empty() {
            return;
        }
        let taken = match (self.bridge.network().delivery(), &self.room) {
            (Some(delivery), Some(room)) => Some(delivery.taken(room)),
            _ => None,
        };
        let Some(taken) = taken else {
            return store_handled(&self.bridge, writes).await;
        };
        let committing = self.committing.clone().read_owned().await;
        let bridge = self.bridge.clone();
        let room = self.room.clone();
        tokio::spawn(async move {
            match taken.await {
                Ok(()) => store_handled(&bridge, writes).await,
                Err(err) => tracing::warn!(
                    room = ?room,
                    "the network lost messages it was handed; they go out again at the next start: {err:#}"
                ),
            }
            drop(committing);
        });
    }

    async fn abandon(&self, seq: i64) {
        self.defer(vec![Write::Processed(seq)]);
        self.flush().await;
    }

    fn component(&self) -> &'static str {
        "matrix rooms"
    }
}

async fn store_handled(bridge: &Bridge, writes: Vec<Write>) {
    until_stored("handled events", || bridge.store().apply(writes.clone())).await;
}

/// Forgets old processed events now and then; their IDs have deduplicated
/// every retry a homeserver would make.
async fn run_pruning(bridge: Bridge) {
    let retention_ms = bridge.config().bridge.dedupe_retention_hours as i64 * 3_600_000;
    let mut ticks = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticks.tick().await;
        match bridge
            .store()
            .prune_ingress(crate::store::now_ms() - retention_ms)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(events = n, "pruned old processed events"),
            Ok(_) => {}
            Err(err) => tracing::warn!("cannot prune the ingress log: {err:#}"),
        }
    }
}

/// A stored event, decrypted and parsed.
enum Opened {
    Timeline(Box<AnyTimelineEvent>),
    Ephemeral(EphemeralData),
}

impl Opened {
    /// A new message that refers to no other event: it needs nothing that
    /// an earlier event of the batch may still hold back.
    fn stands_alone(&self) -> bool {
        matches!(
            self,
            Self::Timeline(event) if matches!(
                &**event,
                AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                    MessageLikeEvent::Original(message),
                )) if message.content.relates_to.is_none()
            )
        )
    }

    /// Whether handling it looks up an earlier event's mapping: a message
    /// with a relation (an edit, a reply, a thread), a redaction or any
    /// other message-like event, and a reaction or a receipt where the
    /// network takes them (otherwise it is dropped before any lookup).
    /// State events and typing look none up.
    fn refers_to_another(&self, handled: Lookups) -> bool {
        match self {
            Self::Timeline(event) => match &**event {
                AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                    MessageLikeEvent::Original(message),
                )) => message.content.relates_to.is_some(),
                AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::Reaction(_)) => {
                    handled.reactions
                }
                AnyTimelineEvent::State(_) => false,
                _ => true,
            },
            Self::Ephemeral(EphemeralData::Receipt(_)) => handled.receipts,
            Self::Ephemeral(_) => false,
        }
    }
}

/// Which of the events that look an earlier message up the network takes.
#[derive(Clone, Copy)]
struct Lookups {
    reactions: bool,
    receipts: bool,
}

impl Lookups {
    fn of(network: &dyn Network) -> Self {
        Self {
            reactions: network.reactions().is_some(),
            receipts: network.receipts().is_some(),
        }
    }
}

/// Decrypts and parses a stored event; `None` for one that is skipped.
fn open(bridge: &Bridge, event: &IngressEvent) -> Option<Opened> {
    let opened = match &event.body {
        IngressBody::Sealed(sealed) => crate::appservice::transactions::open_body(
            sealed,
            event.event_id.as_deref(),
            bridge.secrets(),
        )
        .map(std::borrow::Cow::Owned),
        IngressBody::Clear(clear) => Ok(std::borrow::Cow::Borrowed(clear.as_str())),
    };
    let text = match opened {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(
                seq = event.seq,
                "a stored event cannot be decrypted (was the secret key file replaced?): {err:#}"
            );
            return None;
        }
    };
    let parsed = match event.kind {
        IngressKind::Timeline => crate::timeline_json::read(&text).map(|read| match read {
            Timeline::Event(parsed) => Some(Opened::Timeline(parsed)),
            Timeline::PuppetEcho => {
                tracing::debug!(event_id = ?event.event_id, "a double-puppeted echo, not bridged back");
                None
            }
        }),
        IngressKind::Ephemeral => serde_json::from_str::<EphemeralData>(&text)
            .map(|parsed| Some(Opened::Ephemeral(parsed))),
    };
    match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            skip_unparsed(event, &text, &err);
            None
        }
    }
}

/// Handles one opened event; pushes the mapping writes it made.
async fn handle_opened(
    bridge: &Bridge,
    event: &IngressEvent,
    opened: Opened,
    writes: &mut Vec<Write>,
) {
    let result = match opened {
        Opened::Timeline(parsed) => {
            crate::matrix_handler::handle_timeline(bridge, &parsed, event.recovered, writes).await
        }
        Opened::Ephemeral(parsed) => crate::matrix_handler::handle_ephemeral(bridge, &parsed).await,
    };
    if let Err(err) = result {
        metrics::counter!("causeway_matrix_events_failed_total").increment(1);
        tracing::warn!(event_id = ?event.event_id, "handling a Matrix event failed: {err:#}");
    }
}

/// An event that does not parse as its type says is logged, counted and
/// skipped: it never stops its room's queue.
fn skip_unparsed(event: &IngressEvent, text: &str, err: &serde_json::Error) {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let kind = serde_json::from_str::<Kind>(text)
        .ok()
        .and_then(|k| k.kind)
        .unwrap_or_default();
    metrics::counter!("causeway_matrix_events_unparsed_total").increment(1);
    tracing::warn!(
        event_id = ?event.event_id,
        event_type = kind,
        "skipping a Matrix event that does not parse: {err}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A network that takes reactions and receipts.
    const ALL: Lookups = Lookups {
        reactions: true,
        receipts: true,
    };

    fn timeline(kind: &str, state_key: Option<&str>, content: serde_json::Value) -> Opened {
        let mut event = json!({
            "type": kind,
            "event_id": "$e",
            "room_id": "!r:hs",
            "sender": "@a:hs",
            "origin_server_ts": 1,
            "content": content,
        });
        if let Some(key) = state_key {
            event["state_key"] = json!(key);
        }
        Opened::Timeline(Box::new(serde_json::from_value(event).unwrap()))
    }

    fn ephemeral(event: serde_json::Value) -> Opened {
        Opened::Ephemeral(serde_json::from_value(event).unwrap())
    }

    fn reaction() -> Opened {
        timeline(
            "m.reaction",
            None,
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": "$x", "key": "👍" } }),
        )
    }

    fn receipt() -> Opened {
        ephemeral(json!({
            "type": "m.receipt",
            "room_id": "!r:hs",
            "content": { "$x": { "m.read": { "@a:hs": { "ts": 1 } } } },
        }))
    }

    #[test]
    fn a_membership_change_waits_for_no_earlier_commit() {
        let join = timeline(
            "m.room.member",
            Some("@a:hs"),
            json!({ "membership": "join" }),
        );
        assert!(!join.stands_alone());
        assert!(!join.refers_to_another(ALL));
    }

    #[test]
    fn typing_waits_for_no_earlier_commit() {
        let typing = ephemeral(json!({
            "type": "m.typing",
            "room_id": "!r:hs",
            "content": { "user_ids": ["@a:hs"] },
        }));
        assert!(!typing.refers_to_another(ALL));
    }

    #[test]
    fn a_plain_message_stands_alone() {
        let message = timeline(
            "m.room.message",
            None,
            json!({ "msgtype": "m.text", "body": "hi" }),
        );
        assert!(message.stands_alone());
        assert!(!message.refers_to_another(ALL));
    }

    #[test]
    fn replies_reactions_redactions_and_receipts_wait_for_the_mappings_before_them() {
        let reply = timeline(
            "m.room.message",
            None,
            json!({
                "msgtype": "m.text",
                "body": "yes",
                "m.relates_to": { "m.in_reply_to": { "event_id": "$x" } },
            }),
        );
        let redaction = timeline("m.room.redaction", None, json!({ "redacts": "$x" }));
        for event in [reply, reaction(), redaction, receipt()] {
            assert!(!event.stands_alone());
            assert!(event.refers_to_another(ALL));
        }
    }

    #[test]
    fn a_reaction_or_receipt_the_network_does_not_take_waits_for_nothing() {
        let none = Lookups {
            reactions: false,
            receipts: false,
        };
        assert!(!reaction().refers_to_another(none));
        assert!(!receipt().refers_to_another(none));
    }
}
