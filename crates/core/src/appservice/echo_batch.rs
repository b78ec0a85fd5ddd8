//! Synapse sends every event the bridge's ghosts send back to the bridge
//! (element-hq/synapse#14776, no setting turns it off), one transaction at a
//! time, each with whatever queued while the last was out. While a remote
//! network floods a room, that is one more HTTP exchange and one more
//! wake-up from idle for every line, about a third of what a line costs the
//! bridge at Synapse's pace.
//!
//! So a transaction of nothing but the bridge's own echoes is answered a
//! little later while the bridge has requests out: once a few of them have
//! finished, or after at most [`LONGEST`]. Synapse meanwhile gathers the
//! next echoes into one transaction. The answer leaves in the wake-up of the
//! request that releases it, so holding it costs no wake-up of its own.
//! Nothing is at stake in such a transaction, and when the bridge is not
//! sending it is answered at once; what waits is a Matrix user's event that
//! Synapse would have sent next, by at most [`LONGEST`], and only while the
//! bridge is busy sending.

use crate::homeserver::Traffic;
use std::time::Duration;

/// Requests to let finish before answering: Synapse then sends about this
/// many echoes in each transaction.
const REQUESTS: u64 = 4;

/// The longest an echo-only transaction's answer waits.
const LONGEST: Duration = Duration::from_millis(250);

/// Waits as long as an echo-only transaction's answer should.
pub(super) async fn hold(traffic: &Traffic) {
    if traffic.in_flight() == 0 {
        return;
    }
    let enough = traffic.finished() + REQUESTS;
    let _ = tokio::time::timeout(LONGEST, traffic.finished_reaches(enough)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[tokio::test]
    async fn an_echo_is_answered_at_once_when_the_bridge_has_nothing_out() {
        let started = Instant::now();
        hold(&Traffic::default()).await;
        assert!(started.elapsed() < LONGEST / 5, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_echo_waits_for_requests_to_finish_while_the_bridge_is_sending() {
        let traffic = Arc::new(Traffic::default());
        let started = Instant::now();
        let mut out = vec![traffic.start()];
        let held = tokio::spawn({
            let traffic = traffic.clone();
            async move { hold(&traffic).await }
        });
        for _ in 1..REQUESTS {
            tokio::time::sleep(Duration::from_millis(2)).await;
            out.push(traffic.start());
            out.remove(0);
            tokio::task::yield_now().await;
            assert!(!held.is_finished(), "{} finished", traffic.finished());
        }
        out.clear();
        held.await.unwrap();
        assert!(started.elapsed() < LONGEST);
    }

    #[tokio::test]
    async fn an_echo_never_waits_longer_than_the_limit() {
        let traffic = Arc::new(Traffic::default());
        let _stuck = traffic.start();
        let started = Instant::now();
        tokio::time::timeout(LONGEST * 8, hold(&traffic))
            .await
            .expect("the hold ends by itself");
        let waited = started.elapsed();
        assert!(waited >= LONGEST && waited < LONGEST * 8, "{waited:?}");
    }
}
