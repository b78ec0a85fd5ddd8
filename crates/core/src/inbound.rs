//! Matrix→remote: the dispatcher reads the ingress log and hands each event to
//! its room's task; rooms run in parallel, events within a room in order. An
//! event is marked processed only after its handler finished, so what a crash
//! interrupts is read again at the next start. Each room is a
//! [`Lane`]: the dispatcher never waits for one, and a room whose queue is
//! full reads its events back from the log.

use crate::bridge::Bridge;
use crate::lane::{Lane, LaneLog, Offer};
use crate::store::{IngressEvent, IngressKind, Write};
use async_trait::async_trait;
use ruma::api::appservice::event::push_events::v1::EphemeralData;
use ruma::events::AnyTimelineEvent;
use std::time::Duration;

const BATCH: i64 = 512;

/// Dispatches stored events in log order, forever. Events up to
/// `recovery_point` were left by an earlier run.
pub(crate) async fn run_dispatcher(bridge: Bridge, recovery_point: i64) {
    tokio::spawn(run_pruning(bridge.clone()));
    let mut cursor = 0i64;
    loop {
        let notified = bridge.inner().ingress_notify.notified();
        match bridge.store().pending_ingress(cursor, BATCH).await {
            Ok(events) if !events.is_empty() => {
                for mut event in events {
                    cursor = event.seq;
                    event.recovered = event.seq <= recovery_point;
                    // A panic here loses nothing: the event stays in the
                    // log, unprocessed, for the next start.
                    crate::health::guard("dispatcher", dispatch(&bridge, event, recovery_point))
                        .await;
                }
                continue;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!("cannot read the ingress log, retrying: {err:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        // Woken by each stored transaction; the timeout is a safety net.
        let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
    }
}

async fn dispatch(bridge: &Bridge, event: IngressEvent, recovery_point: i64) {
    let room = event.room_id.clone().unwrap_or_default();
    let lane = bridge
        .inner()
        .room_queues
        .entry(room.clone())
        .or_insert_with(|| {
            let log = RoomLog {
                bridge: bridge.clone(),
                room_id: event.room_id.clone(),
                recovery_point,
            };
            Lane::spawn(bridge.config().bridge.portal_queue_size, log, false)
        })
        .clone();
    metrics::gauge!("causeway_ingress_queue_depth").set(lane.depth() as f64);
    let seq = event.seq;
    match lane.offer(seq, event) {
        Offer::Queued => {}
        Offer::Behind => tracing::debug!(room, seq, "a room is behind; its event waits in the log"),
        Offer::Closed => tracing::error!(
            room,
            "a room task stopped; its events stay in the ingress log for the next start"
        ),
    }
}

/// One room's share of the ingress log.
struct RoomLog {
    bridge: Bridge,
    room_id: Option<String>,
    recovery_point: i64,
}

#[async_trait]
impl LaneLog<IngressEvent> for RoomLog {
    async fn read_back(&self, after: i64, limit: i64) -> anyhow::Result<Vec<(i64, IngressEvent)>> {
        let events = self
            .bridge
            .store()
            .pending_ingress_in_room(self.room_id.as_deref(), after, limit)
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
        let mut writes = handle_logged(&self.bridge, &event).await;
        // The mapping and the processed mark commit together, before the
        // room's next event runs: an edit right after a message finds it.
        writes.push(Write::Processed(seq));
        while let Err(err) = self.bridge.store().apply(writes.clone()).await {
            tracing::error!("cannot record a handled event, retrying: {err:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        metrics::counter!("causeway_events_processed_total").increment(1);
    }

    async fn abandon(&self, seq: i64) {
        while let Err(err) = self.bridge.store().apply(vec![Write::Processed(seq)]).await {
            tracing::error!("cannot record an abandoned event, retrying: {err:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn component(&self) -> &'static str {
        "matrix rooms"
    }
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

/// Handles one stored event; returns the mapping writes it made.
async fn handle_logged(bridge: &Bridge, event: &IngressEvent) -> Vec<Write> {
    let mut writes = Vec::new();
    let opened = crate::appservice::transactions::open_body(
        &event.body,
        event.event_id.as_deref(),
        bridge.secrets(),
    );
    let text = match opened {
        Ok(text) => text,
        Err(err) => {
            tracing::error!(
                seq = event.seq,
                "a stored event cannot be decrypted (was the secret key file replaced?): {err:#}"
            );
            return writes;
        }
    };
    // Sent as a user by a bridge (double puppeting): it came from the
    // remote side, and must not go back there.
    if crate::double_puppet::is_puppet_echo(&text) {
        tracing::debug!(event_id = ?event.event_id, "a double-puppeted echo, not bridged back");
        return writes;
    }
    let result = match event.kind {
        IngressKind::Timeline => match serde_json::from_str::<AnyTimelineEvent>(&text) {
            Ok(parsed) => {
                crate::matrix_handler::handle_timeline(
                    bridge,
                    &parsed,
                    event.recovered,
                    &mut writes,
                )
                .await
            }
            Err(err) => return skip_unparsed(event, &text, &err, writes),
        },
        IngressKind::Ephemeral => match serde_json::from_str::<EphemeralData>(&text) {
            Ok(parsed) => crate::matrix_handler::handle_ephemeral(bridge, &parsed).await,
            Err(err) => return skip_unparsed(event, &text, &err, writes),
        },
    };
    if let Err(err) = result {
        metrics::counter!("causeway_matrix_events_failed_total").increment(1);
        tracing::warn!(event_id = ?event.event_id, "handling a Matrix event failed: {err:#}");
    }
    writes
}

/// An event that does not parse as its type says is logged, counted and
/// skipped: it never stops its room's queue.
fn skip_unparsed(
    event: &IngressEvent,
    text: &str,
    err: &serde_json::Error,
    writes: Vec<Write>,
) -> Vec<Write> {
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
    writes
}
