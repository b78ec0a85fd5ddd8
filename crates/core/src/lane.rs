//! A lane: one key's share of a durable log, handled in order by one task.
//! The ingress log has a lane per Matrix room, the remote outbox one per
//! portal.
//!
//! Entries are committed to the log before they are offered to their lane,
//! so memory only speeds things up. When a lane's queue is full it falls
//! behind instead of making the producer wait: the producer goes on with
//! other lanes, and the lane's task reads its entries back from the log
//! once it has worked through its queue. A lane that starts behind reads
//! what an earlier run left before anything new.
//!
//! A log may defer recording entries as finished and do it for many at once
//! in [`LaneLog::flush`]: the lane flushes whenever its queue runs dry, and
//! at least every [`FLUSH_EVERY`] entries or [`FLUSH_AFTER`], so a busy lane
//! pays for one commit per batch instead of one per entry.

use async_trait::async_trait;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TrySendError};

/// Entries read back from the log at a time.
const READ_BACK: i64 = 256;

/// Most entries handled between two flushes.
const FLUSH_EVERY: usize = 64;

/// Longest a lane holds finished entries unrecorded. An entry that takes
/// longer to handle (a paced IRC line) is recorded right after it, so a
/// crash repeats at most the one entry in flight, as without batching.
const FLUSH_AFTER: Duration = Duration::from_millis(2);

/// What a lane's task needs from its log.
#[async_trait]
pub(crate) trait LaneLog<T>: Send + Sync + 'static {
    /// The lane's unfinished entries after `after`, oldest first.
    async fn read_back(&self, after: i64, limit: i64) -> anyhow::Result<Vec<(i64, T)>>;

    /// Sees the entries about to be handled, in order, before the first of
    /// them is: a log can look up what they need in one query instead of
    /// one each.
    async fn prepare(&self, _entries: &[(i64, T)]) {}

    /// Handles one entry and records it as finished, at once or at the
    /// next [`flush`](Self::flush).
    async fn handle(&self, seq: i64, entry: T);

    /// Records as finished what `handle` deferred. Called before the lane
    /// waits for more, so nothing deferred waits on new entries.
    async fn flush(&self) {}

    /// Waits for what `handle` left in progress, and records it. Called
    /// before the lane waits for more entries, and after each read back.
    async fn settle(&self) {}

    /// Longest the lane holds finished entries unrecorded while more wait.
    /// A log whose entries are harmless to handle twice may hold them
    /// longer, and commit once for many slow entries.
    fn hold(&self) -> Duration {
        FLUSH_AFTER
    }

    /// Records as finished an entry whose handling panicked, so it is not
    /// tried again and again.
    async fn abandon(&self, seq: i64);

    /// The lane's kind, as `/health` names it.
    fn component(&self) -> &'static str;
}

/// The producer's side of a lane.
pub(crate) struct Lane<T> {
    tx: mpsc::Sender<(i64, T)>,
    /// Non-zero while the lane is behind: the sequence number from which
    /// its entries wait in the log.
    behind: Arc<AtomicI64>,
}

impl<T> Clone for Lane<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            behind: self.behind.clone(),
        }
    }
}

/// What became of an entry offered to a lane.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// Left in the log, to be read back.
    Behind,
    /// The lane's task is gone; the entry waits in the log for a restart.
    Closed,
}

impl<T: Send + 'static> Lane<T> {
    /// Spawns the lane's task. With `read_back_first`, it starts by reading
    /// the log from the beginning.
    pub(crate) fn spawn(capacity: usize, log: impl LaneLog<T>, read_back_first: bool) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let behind = Arc::new(AtomicI64::new(i64::from(read_back_first)));
        tokio::spawn(run(rx, behind.clone(), log));
        Self { tx, behind }
    }

    /// Offers an entry already in the log; never waits.
    pub(crate) fn offer(&self, seq: i64, entry: T) -> Offer {
        if self.behind.load(Ordering::Acquire) != 0 {
            return Offer::Behind;
        }
        match self.tx.try_send((seq, entry)) {
            Ok(()) => Offer::Queued,
            Err(TrySendError::Full(_)) => {
                metrics::counter!("causeway_lane_overflows_total").increment(1);
                self.behind.store(seq, Ordering::Release);
                Offer::Behind
            }
            Err(TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Entries waiting in memory.
    pub(crate) fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn run<T: Send + 'static>(
    mut rx: mpsc::Receiver<(i64, T)>,
    behind: Arc<AtomicI64>,
    log: impl LaneLog<T>,
) {
    // The last entry handled: while the lane catches up, an entry can be
    // both in the log and in the queue, and it runs once.
    let mut last = 0i64;
    let mut batch = Batch::default();
    loop {
        batch
            .handle_queued(&log, &mut rx, Vec::new(), &mut last)
            .await;
        if behind.load(Ordering::Acquire) != 0 {
            // The producer queued what came before the entry that did not
            // fit before it marked the lane behind, so all of it shows now
            // (it may not have a moment ago): it runs first, as the
            // catch-up reads only from that entry on.
            batch
                .handle_queued(&log, &mut rx, Vec::new(), &mut last)
                .await;
            catch_up(&log, &behind, &mut last, &mut batch).await;
            continue;
        }
        batch.finish(&log).await;
        if behind.load(Ordering::Acquire) != 0 {
            continue;
        }
        match rx.recv().await {
            Some(first) => {
                batch
                    .handle_queued(&log, &mut rx, vec![first], &mut last)
                    .await
            }
            None => return,
        }
    }
}

/// The entries handled since the log was last flushed.
#[derive(Default)]
struct Batch {
    entries: usize,
    since: Option<Instant>,
}

impl Batch {
    /// Handles `ready`, then what the queue holds, until it is empty; each
    /// run of entries is prepared together.
    async fn handle_queued<T>(
        &mut self,
        log: &impl LaneLog<T>,
        rx: &mut mpsc::Receiver<(i64, T)>,
        mut ready: Vec<(i64, T)>,
        last: &mut i64,
    ) {
        loop {
            while ready.len() < FLUSH_EVERY {
                match rx.try_recv() {
                    Ok(entry) => ready.push(entry),
                    Err(_) => break,
                }
            }
            if ready.is_empty() {
                return;
            }
            self.handle_all(log, std::mem::take(&mut ready), last).await;
        }
    }

    async fn handle_all<T>(
        &mut self,
        log: &impl LaneLog<T>,
        entries: Vec<(i64, T)>,
        last: &mut i64,
    ) {
        log.prepare(&entries).await;
        for (seq, entry) in entries {
            self.handle(log, seq, entry, last).await;
        }
    }

    async fn handle<T>(&mut self, log: &impl LaneLog<T>, seq: i64, entry: T, last: &mut i64) {
        let since = *self.since.get_or_insert_with(Instant::now);
        handle_once(log, seq, entry, last).await;
        self.entries += 1;
        if self.entries >= FLUSH_EVERY || since.elapsed() >= log.hold() {
            self.flush(log).await;
        }
    }

    async fn flush<T>(&mut self, log: &impl LaneLog<T>) {
        if self.entries > 0 {
            log.flush().await;
        }
        *self = Self::default();
    }

    /// Flushes, and waits for what is still in progress.
    async fn finish<T>(&mut self, log: &impl LaneLog<T>) {
        self.flush(log).await;
        log.settle().await;
    }
}

/// Reads the lane's entries back until none are left, then lets the
/// producer queue them again. Entries the producer left in the log between
/// the last read and that moment are read once more after it.
async fn catch_up<T>(log: &impl LaneLog<T>, behind: &AtomicI64, last: &mut i64, batch: &mut Batch) {
    let from = behind.load(Ordering::Acquire);
    let mut released = false;
    loop {
        let after = (*last).max(from - 1);
        let entries = match log.read_back(after, READ_BACK).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::error!("cannot read a lane back from its log, retrying: {err:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let more = entries.len() as i64 >= READ_BACK;
        batch.handle_all(log, entries, last).await;
        batch.finish(log).await;
        if more {
            continue;
        }
        if released {
            return;
        }
        behind.store(0, Ordering::Release);
        released = true;
    }
}

async fn handle_once<T>(log: &impl LaneLog<T>, seq: i64, entry: T, last: &mut i64) {
    if seq <= *last {
        return;
    }
    *last = seq;
    if crate::health::guard(log.component(), log.handle(seq, entry))
        .await
        .is_none()
    {
        log.abandon(seq).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Entries from this one on panic when handled.
    const PANICS: u32 = 10_000;
    /// Entries from this one up to `PANICS` take long to handle.
    const SLOW: u32 = 5_000;

    /// A log in memory; `handled` records what ran, in order, and `gate`
    /// holds handling back until it has permits.
    #[derive(Clone)]
    struct MemoryLog {
        entries: Arc<Mutex<Vec<(i64, u32)>>>,
        handled: Arc<Mutex<Vec<u32>>>,
        gate: Arc<tokio::sync::Semaphore>,
        /// How many entries had been handled at each flush.
        flushes: Arc<Mutex<Vec<usize>>>,
        /// The flush after the first entry takes long.
        slow_first_flush: bool,
        /// What `hold` answers.
        hold: Duration,
    }

    impl MemoryLog {
        fn new(permits: usize) -> Self {
            Self {
                entries: Arc::default(),
                handled: Arc::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(permits)),
                flushes: Arc::default(),
                slow_first_flush: false,
                hold: FLUSH_AFTER,
            }
        }
    }

    #[async_trait]
    impl LaneLog<u32> for MemoryLog {
        async fn read_back(&self, after: i64, limit: i64) -> anyhow::Result<Vec<(i64, u32)>> {
            let entries = self.entries.lock().unwrap();
            Ok(entries
                .iter()
                .filter(|(seq, _)| *seq > after)
                .take(limit as usize)
                .cloned()
                .collect())
        }

        async fn handle(&self, seq: i64, entry: u32) {
            let _permit = self.gate.acquire().await.unwrap();
            if entry >= PANICS {
                panic!("unlucky");
            }
            if (SLOW..PANICS).contains(&entry) {
                tokio::time::sleep(FLUSH_AFTER * 2).await;
            }
            self.handled.lock().unwrap().push(entry);
            self.abandon(seq).await;
        }

        async fn flush(&self) {
            let handled = self.handled.lock().unwrap().len();
            self.flushes.lock().unwrap().push(handled);
            if handled == 1 && self.slow_first_flush {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn abandon(&self, seq: i64) {
            self.entries.lock().unwrap().retain(|(s, _)| *s != seq);
        }

        fn hold(&self) -> Duration {
            self.hold
        }

        fn component(&self) -> &'static str {
            "lane test"
        }
    }

    async fn wait_for(log: &MemoryLog, count: usize) -> Vec<u32> {
        for _ in 0..500 {
            if log.handled.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        log.handled.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn a_full_lane_falls_behind_and_still_handles_everything_once_in_order() {
        let log = MemoryLog::new(0);
        let lane = Lane::spawn(2, log.clone(), false);
        let mut offers = Vec::new();
        for n in 1..=1000u32 {
            log.entries.lock().unwrap().push((n as i64, n));
            offers.push(lane.offer(n as i64, n));
        }
        assert!(
            offers.contains(&Offer::Behind),
            "the stalled lane never fell behind"
        );
        log.gate.add_permits(usize::MAX >> 4);
        let handled = wait_for(&log, 1000).await;
        assert_eq!(handled, (1..=1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_panicking_entry_is_abandoned_and_the_lane_goes_on() {
        let log = MemoryLog::new(usize::MAX >> 4);
        let lane = Lane::spawn(8, log.clone(), false);
        for (seq, n) in [(1, 12u32), (2, PANICS), (3, 14)] {
            log.entries.lock().unwrap().push((seq, n));
            lane.offer(seq, n);
        }
        assert_eq!(wait_for(&log, 2).await, [12, 14]);
        assert!(
            log.entries.lock().unwrap().is_empty(),
            "the panicked entry is finished"
        );
    }

    #[tokio::test]
    async fn a_lane_that_starts_behind_handles_the_old_entries_first() {
        let log = MemoryLog::new(usize::MAX >> 4);
        log.entries.lock().unwrap().extend([(1, 1), (2, 2)]);
        let lane = Lane::spawn(8, log.clone(), true);
        log.entries.lock().unwrap().push((3, 3));
        lane.offer(3, 3);
        assert_eq!(wait_for(&log, 3).await, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_busy_lane_records_its_entries_in_batches() {
        let log = MemoryLog::new(0);
        let lane = Lane::spawn(1000, log.clone(), false);
        for n in 1..=640u32 {
            log.entries.lock().unwrap().push((n as i64, n));
            lane.offer(n as i64, n);
        }
        log.gate.add_permits(usize::MAX >> 4);
        wait_for(&log, 640).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let flushes = log.flushes.lock().unwrap().clone();
        assert!(
            flushes.len() < 64,
            "{} flushes for 640 entries",
            flushes.len()
        );
        assert_eq!(flushes.last(), Some(&640), "the last entries were recorded");
    }

    /// Runs three slow entries through a lane over `log`; returns how many
    /// entries had been handled at each flush.
    async fn flushes_of_three_slow_entries(log: MemoryLog) -> Vec<usize> {
        let lane = Lane::spawn(8, log.clone(), false);
        for (seq, n) in [(1, SLOW), (2, SLOW + 1), (3, SLOW + 2)] {
            log.entries.lock().unwrap().push((seq, n));
            lane.offer(seq, n);
        }
        wait_for(&log, 3).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let flushes = log.flushes.lock().unwrap().clone();
        flushes
    }

    #[tokio::test]
    async fn a_slow_entry_is_recorded_before_the_next_one_runs() {
        let log = MemoryLog::new(usize::MAX >> 4);
        assert_eq!(flushes_of_three_slow_entries(log).await, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_log_that_holds_longer_records_slow_entries_together() {
        let log = MemoryLog {
            hold: Duration::from_secs(10),
            ..MemoryLog::new(usize::MAX >> 4)
        };
        assert_eq!(flushes_of_three_slow_entries(log).await, [3]);
    }

    #[tokio::test]
    async fn entries_queued_while_the_lane_flushes_run_before_its_catch_up() {
        let log = MemoryLog {
            slow_first_flush: true,
            ..MemoryLog::new(usize::MAX >> 4)
        };
        let lane = Lane::spawn(4, log.clone(), false);
        log.entries.lock().unwrap().push((1, 1));
        lane.offer(1, 1);
        // The lane is flushing after entry 1; the next entries fill its
        // queue and overflow it meanwhile.
        tokio::time::sleep(Duration::from_millis(10)).await;
        for n in 2..=10u32 {
            log.entries.lock().unwrap().push((n as i64, n));
            lane.offer(n as i64, n);
        }
        assert_eq!(wait_for(&log, 10).await, (1..=10).collect::<Vec<_>>());
    }
}
