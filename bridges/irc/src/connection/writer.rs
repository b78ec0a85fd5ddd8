//! A connection's writer: urgent lines at once, the rest through flood
//! control, each message line noted for the server to confirm.

use super::confirm::Confirmations;
use super::Outgoing;
use crate::config::FloodConfig;
use crate::transport::{self, Line};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// What a connection's writer takes lines from, and notes them in.
pub(super) struct Queues {
    /// Registration and PONGs, sent at once.
    pub urgent: mpsc::UnboundedReceiver<Line>,
    /// Everything else, through flood control.
    pub flood: mpsc::Receiver<Outgoing>,
    pub confirmations: Arc<Confirmations>,
}

/// Writes lines: urgent ones (registration, PONG) at once, the rest no
/// faster than the network's flood settings allow: `burst` at once, then
/// `per_second`. A PING that confirms message lines follows them when due.
pub(super) async fn write_lines(
    mut writer: transport::LineWriter,
    queues: Queues,
    mut stopped: oneshot::Receiver<()>,
    flood: FloodConfig,
) {
    let Queues {
        mut urgent,
        flood: mut queue,
        confirmations,
    } = queues;
    let burst = f64::from(flood.burst);
    let mut tokens = burst;
    let mut last = Instant::now();
    loop {
        let (line, written, confirmed) = tokio::select! {
            biased;
            Some(line) = urgent.recv() => (line, None, None),
            Some(Outgoing { line, written, confirmed }) = queue.recv() => {
                let now = Instant::now();
                tokens = (tokens + now.duration_since(last).as_secs_f64() * flood.per_second)
                    .min(burst);
                last = now;
                if tokens < 1.0 {
                    let wait = (1.0 - tokens) / flood.per_second;
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                    tokens = 1.0;
                    last = Instant::now();
                }
                tokens -= 1.0;
                (line, Some(written), confirmed)
            }
            _ = &mut stopped => break,
        };
        // Noted before it is written, so that the PING can cover it. A
        // line whose write fails fails its `say`, which drops the wait
        // for it: `resend` then skips it, and the caller retries.
        if let Some(confirmed) = confirmed {
            confirmations.written(line.clone(), confirmed);
        }
        // In a burst, the PING waits for its end; while flood control
        // paces lines, it follows each, which keeps what a crash could
        // leave unconfirmed to about one line.
        let bursting = !queue.is_empty() && tokens >= 1.0;
        let wrote = match confirmations.ping_due(bursting) {
            Some(ping) => transport::write_lines(&mut writer, &[&line, &ping]).await,
            None => transport::write_lines(&mut writer, &[&line]).await,
        };
        if wrote.is_err() {
            break;
        }
        if line.as_str().starts_with("QUIT") {
            confirmations.quit_written();
        }
        if let Some(written) = written {
            let _ = written.send(());
        }
    }
    let _ = writer.shutdown().await;
}
