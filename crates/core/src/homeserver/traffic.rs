//! The requests the bridge has out at the homeserver right now, and how many
//! it has finished: what the appservice side needs to know to answer
//! Synapse's echoes of them in batches (see `appservice::echo_batch`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Shared by every clone of one bridge's homeserver client.
#[derive(Debug, Default)]
pub struct Traffic {
    in_flight: AtomicUsize,
    finished: AtomicU64,
    on_finish: Notify,
}

impl Traffic {
    /// Requests sent and not yet answered (or given up on).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests finished since the bridge started, answered or not.
    pub fn finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    /// Resolves once `finished()` reaches `count`.
    pub async fn finished_reaches(&self, count: u64) {
        loop {
            let notified = self.on_finish.notified();
            tokio::pin!(notified);
            // Registered before the check, so a finish in between wakes it.
            notified.as_mut().enable();
            if self.finished() >= count {
                return;
            }
            notified.await;
        }
    }

    /// Counts one request out until the guard drops, which also covers a
    /// request whose future is dropped by a timeout. The guard owns a
    /// handle, so that a pipelined request's can go with it.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// One request out; see [`Traffic::start`].
pub(crate) struct InFlight(Arc<Traffic>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        self.0.on_finish.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_request_counts_as_in_flight_until_its_guard_drops() {
        let traffic = Arc::new(Traffic::default());
        let guard = traffic.start();
        assert_eq!((traffic.in_flight(), traffic.finished()), (1, 0));
        drop(guard);
        assert_eq!((traffic.in_flight(), traffic.finished()), (0, 1));
    }

    #[tokio::test]
    async fn a_wait_for_finished_requests_ends_when_the_last_one_finishes() {
        let traffic = Arc::new(Traffic::default());
        let (first, second) = (traffic.start(), traffic.start());
        let waiter = tokio::spawn({
            let traffic = traffic.clone();
            async move { traffic.finished_reaches(2).await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one of two finished");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the second finish wakes the waiter")
            .unwrap();
    }
}
