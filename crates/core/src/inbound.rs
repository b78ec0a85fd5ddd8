//! Matrix→remote: the dispatcher hands each stored event to its room's task;
//! rooms run in parallel, events within a room in order. An event is marked
//! processed only after its handler finished; at startup, the log is read for
//! what a crash left unprocessed.

use crate::bridge::Bridge;
use crate::store::{IngressEvent, IngressKind};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

const BATCH: i64 = 512;

/// Dispatches the events left unprocessed up to `recovery_point`, oldest
/// first, then every newly committed event as it comes.
pub(crate) async fn run_dispatcher(
    bridge: Bridge,
    recovery_point: i64,
    mut live: mpsc::Receiver<Vec<IngressEvent>>,
) {
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    tokio::spawn(run_completions(bridge.clone(), done_rx));
    let mut cursor = 0i64;
    loop {
        match bridge
            .store()
            .pending_ingress(cursor, recovery_point, BATCH)
            .await
        {
            Ok(events) if events.is_empty() => break,
            Ok(events) => {
                tracing::info!(
                    events = events.len(),
                    "processing events left from the last run"
                );
                for mut event in events {
                    cursor = event.seq;
                    event.recovered = true;
                    dispatch(&bridge, event, &done_tx).await;
                }
            }
            Err(err) => {
                tracing::error!("cannot read the ingress log, retrying: {err:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    while let Some(batch) = live.recv().await {
        for event in batch {
            dispatch(&bridge, event, &done_tx).await;
        }
    }
}

async fn dispatch(bridge: &Bridge, event: IngressEvent, done: &mpsc::UnboundedSender<i64>) {
    let room = event.room_id.clone().unwrap_or_default();
    let queue = bridge
        .inner()
        .room_queues
        .entry(room.clone())
        .or_insert_with(|| {
            let (tx, rx) = mpsc::channel(bridge.config().bridge.portal_queue_size.max(1));
            tokio::spawn(run_room(bridge.clone(), rx, done.clone()));
            tx
        })
        .clone();
    metrics::gauge!("causeway_ingress_queue_depth")
        .set((queue.max_capacity() - queue.capacity()) as f64);
    // A full queue makes the dispatcher wait: backpressure, not loss.
    if queue.send(event).await.is_err() {
        tracing::error!(
            room,
            "a room task stopped; its events stay in the ingress log for the next start"
        );
    }
}

async fn run_room(
    bridge: Bridge,
    mut rx: mpsc::Receiver<IngressEvent>,
    done: mpsc::UnboundedSender<i64>,
) {
    while let Some(event) = rx.recv().await {
        let seq = event.seq;
        handle_logged(&bridge, event).await;
        let _ = done.send(seq);
    }
}

/// Marks processed events in batches, so that a busy bridge writes once per
/// batch rather than once per event.
async fn run_completions(bridge: Bridge, mut rx: mpsc::UnboundedReceiver<i64>) {
    let retention_ms = bridge.config().bridge.dedupe_retention_hours as i64 * 3_600_000;
    let mut last_prune = 0i64;
    while let Some(first) = rx.recv().await {
        let mut seqs = vec![first];
        while let Ok(seq) = rx.try_recv() {
            seqs.push(seq);
            if seqs.len() >= 4096 {
                break;
            }
        }
        while let Err(err) = bridge.store().mark_processed(&seqs).await {
            tracing::error!("cannot mark events processed, retrying: {err:#}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        metrics::counter!("causeway_events_processed_total").increment(seqs.len() as u64);
        let now = crate::store::now_ms();
        if now - last_prune > 3_600_000 {
            last_prune = now;
            match bridge.store().prune_ingress(now - retention_ms).await {
                Ok(n) if n > 0 => tracing::info!(events = n, "pruned old processed events"),
                Ok(_) => {}
                Err(err) => tracing::warn!("cannot prune the ingress log: {err:#}"),
            }
        }
    }
}

async fn handle_logged(bridge: &Bridge, event: IngressEvent) {
    let body: Value = match serde_json::from_str(&event.body) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(seq = event.seq, "a stored event is not JSON: {err}");
            return;
        }
    };
    let result = match event.kind {
        IngressKind::Timeline => {
            crate::matrix_handler::handle_timeline(bridge, &body, event.recovered).await
        }
        IngressKind::Ephemeral => crate::matrix_handler::handle_ephemeral(bridge, &body).await,
    };
    if let Err(err) = result {
        metrics::counter!("causeway_matrix_events_failed_total").increment(1);
        tracing::warn!(event_id = ?event.event_id, "handling a Matrix event failed: {err:#}");
    }
}
