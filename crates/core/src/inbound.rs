//! Matrix→remote: the dispatcher reads the ingress log and hands each event to
//! its room's task; rooms run in parallel, events within a room in order. An
//! event is marked processed only after its handler finished, so what a crash
//! interrupts is read again at the next start. The dispatcher never waits
//! for a room: a room whose queue is full reads its events back from the log.

use crate::bridge::Bridge;
use crate::store::{IngressEvent, IngressKind, Write};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

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
                    dispatch(&bridge, event, recovery_point).await;
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

/// One room's task, as the dispatcher sees it.
#[derive(Clone)]
pub(crate) struct RoomQueue {
    tx: mpsc::Sender<IngressEvent>,
    /// Non-zero while the room is behind: its queue was full when the event
    /// with this sequence number came, so the dispatcher leaves the room's
    /// events in the log and the room task reads them back itself. One slow
    /// room never holds up the others.
    behind: Arc<AtomicI64>,
}

async fn dispatch(bridge: &Bridge, event: IngressEvent, recovery_point: i64) {
    let room = event.room_id.clone().unwrap_or_default();
    let queue = bridge
        .inner()
        .room_queues
        .entry(room.clone())
        .or_insert_with(|| {
            let (tx, rx) = mpsc::channel(bridge.config().bridge.portal_queue_size.max(1));
            let behind = Arc::new(AtomicI64::new(0));
            tokio::spawn(run_room(
                bridge.clone(),
                event.room_id.clone(),
                rx,
                behind.clone(),
                recovery_point,
            ));
            RoomQueue { tx, behind }
        })
        .clone();
    metrics::gauge!("causeway_ingress_queue_depth")
        .set((queue.tx.max_capacity() - queue.tx.capacity()) as f64);
    if queue.behind.load(Ordering::Acquire) != 0 {
        return;
    }
    match queue.tx.try_send(event) {
        Ok(()) => {}
        Err(TrySendError::Full(event)) => {
            metrics::counter!("causeway_ingress_room_overflows_total").increment(1);
            tracing::info!(
                room,
                seq = event.seq,
                "a room fell behind; its events wait in the log"
            );
            queue.behind.store(event.seq, Ordering::Release);
        }
        Err(TrySendError::Closed(_)) => tracing::error!(
            room,
            "a room task stopped; its events stay in the ingress log for the next start"
        ),
    }
}

/// Handles one room's events in order: those the dispatcher queued, then,
/// when the room fell behind, those it left in the log.
async fn run_room(
    bridge: Bridge,
    room_id: Option<String>,
    mut rx: mpsc::Receiver<IngressEvent>,
    behind: Arc<AtomicI64>,
    recovery_point: i64,
) {
    // The last event handled: the log and the queue can both hold an
    // event while the room catches up, and it runs once.
    let mut last = 0i64;
    loop {
        while let Ok(event) = rx.try_recv() {
            handle_once(&bridge, event, &mut last).await;
        }
        if behind.load(Ordering::Acquire) != 0 {
            catch_up(
                &bridge,
                room_id.as_deref(),
                &behind,
                recovery_point,
                &mut last,
            )
            .await;
            continue;
        }
        match rx.recv().await {
            Some(event) => handle_once(&bridge, event, &mut last).await,
            None => return,
        }
    }
}

/// Reads a room's events back from the log until none are left, then lets
/// the dispatcher queue them again. Events the dispatcher skipped between
/// the last read and that moment are read once more after it.
async fn catch_up(
    bridge: &Bridge,
    room_id: Option<&str>,
    behind: &AtomicI64,
    recovery_point: i64,
    last: &mut i64,
) {
    let from = behind.load(Ordering::Acquire);
    let mut caught_up = false;
    loop {
        let after = (*last).max(from - 1);
        let events = match bridge
            .store()
            .pending_ingress_in_room(room_id, after, BATCH)
            .await
        {
            Ok(events) => events,
            Err(err) => {
                tracing::error!("cannot read a room's events back from the log, retrying: {err:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let short = (events.len() as i64) < BATCH;
        for mut event in events {
            event.recovered = event.seq <= recovery_point;
            handle_once(bridge, event, last).await;
        }
        if !short {
            continue;
        }
        if caught_up {
            return;
        }
        behind.store(0, Ordering::Release);
        caught_up = true;
    }
}

async fn handle_once(bridge: &Bridge, event: IngressEvent, last: &mut i64) {
    if event.seq <= *last {
        return;
    }
    *last = event.seq;
    let seq = event.seq;
    let mut writes = handle_logged(bridge, &event).await;
    // The mapping and the processed mark commit together, before the
    // room's next event runs: an edit right after a message finds it.
    writes.push(Write::Processed(seq));
    while let Err(err) = bridge.store().apply(writes.clone()).await {
        tracing::error!("cannot record a handled event, retrying: {err:#}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    metrics::counter!("causeway_events_processed_total").increment(1);
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
    let opened = crate::appservice::transactions::open_body(&event.body, bridge.secrets());
    let body: Value = match opened.map(|text| serde_json::from_str(&text)) {
        Ok(Ok(body)) => body,
        Ok(Err(err)) => {
            tracing::error!(seq = event.seq, "a stored event is not JSON: {err}");
            return writes;
        }
        Err(err) => {
            tracing::error!(
                seq = event.seq,
                "a stored event cannot be decrypted (was the secret key file replaced?): {err:#}"
            );
            return writes;
        }
    };
    let result = match event.kind {
        IngressKind::Timeline => {
            crate::matrix_handler::handle_timeline(bridge, &body, event.recovered, &mut writes)
                .await
        }
        IngressKind::Ephemeral => crate::matrix_handler::handle_ephemeral(bridge, &body).await,
    };
    if let Err(err) = result {
        metrics::counter!("causeway_matrix_events_failed_total").increment(1);
        tracing::warn!(event_id = ?event.event_id, "handling a Matrix event failed: {err:#}");
    }
    writes
}
