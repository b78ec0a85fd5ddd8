//! Which message lines the server took. IRC acknowledges nothing, and a
//! line written to the socket can die unread with its server. But a server
//! handles a client's lines in order, so its PONG to a PING written after
//! some lines says it handled them. One such PING is in flight at a time,
//! and none is written in the middle of a burst unless a line has waited a
//! second: a burst costs a PING per round trip, not one per line.

use crate::transport::Line;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The token of our PINGs that confirm lines, followed by the number of
/// the last line they cover.
const TOKEN: &str = "causeway-ack-";

/// How long a written line may wait for a PING while a burst goes on.
const PING_WITHIN: Duration = Duration::from_secs(1);

/// A message line written to a connection that dropped before the server
/// confirmed it: it goes out again on the connection that replaces it.
#[derive(Debug)]
pub struct Unconfirmed {
    pub line: Line,
    /// Told once a server confirms the line.
    pub confirmed: oneshot::Sender<()>,
}

/// Resolves once the server confirmed every line of a message; fails when
/// a line was lost with its connection and no other took it.
pub struct Confirmation(Vec<oneshot::Receiver<()>>);

impl Confirmation {
    pub(super) fn new(lines: Vec<oneshot::Receiver<()>>) -> Self {
        Self(lines)
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        for line in self.0 {
            line.await.map_err(|_| {
                anyhow::anyhow!("an IRC connection dropped before its server confirmed a line")
            })?;
        }
        Ok(())
    }
}

/// The lines a connection wrote that its server has not confirmed yet.
#[derive(Default)]
pub(super) struct Confirmations {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Written, in order, each with its number.
    lines: VecDeque<(u64, Instant, Unconfirmed)>,
    /// The number of the last line written.
    written: u64,
    /// When the PING that confirms lines, if one awaits its PONG, went out.
    pinged: Option<Instant>,
    /// Whether our QUIT was written.
    quit: bool,
}

impl Confirmations {
    /// Notes a message line written.
    pub fn written(&self, line: Line, confirmed: oneshot::Sender<()>) {
        if let Ok(mut state) = self.state.lock() {
            state.written += 1;
            let number = state.written;
            state
                .lines
                .push_back((number, Instant::now(), Unconfirmed { line, confirmed }));
        }
    }

    /// The PING to write now, if one is due: lines wait, none is in flight,
    /// and no burst goes on or a line has waited long enough.
    pub fn ping_due(&self, bursting: bool) -> Option<Line> {
        let mut state = self.state.lock().ok()?;
        let (_, oldest, _) = state.lines.front()?;
        if state.pinged.is_some() || (bursting && oldest.elapsed() < PING_WITHIN) {
            return None;
        }
        state.pinged = Some(Instant::now());
        ping(state.written)
    }

    /// Whether the PING in flight has waited longer than `limit`.
    pub fn unanswered_for(&self, limit: Duration) -> bool {
        let pinged = self.state.lock().ok().and_then(|state| state.pinged);
        pinged.is_some_and(|at| at.elapsed() > limit)
    }

    /// Reads a PONG: when it answers our PING, confirms the lines it covers
    /// and returns the next PING, if lines written since wait.
    pub fn answered(&self, token: &str) -> Option<Line> {
        let covered: u64 = token.strip_prefix(TOKEN)?.parse().ok()?;
        let mut state = self.state.lock().ok()?;
        while state.lines.front().is_some_and(|(n, ..)| *n <= covered) {
            if let Some((_, _, line)) = state.lines.pop_front() {
                let _ = line.confirmed.send(());
            }
        }
        if state.lines.is_empty() {
            state.pinged = None;
            return None;
        }
        state.pinged = Some(Instant::now());
        ping(state.written)
    }

    /// Notes our QUIT written: a server handles it after every line before
    /// it, and closes the link only then.
    pub fn quit_written(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.quit = true;
        }
    }

    /// The connection ended, `clean`ly when the server closed it. After our
    /// QUIT, that confirms every line; otherwise the lines never confirmed
    /// are returned, in order, for the connection that replaces this one.
    pub fn closed(&self, clean: bool) -> Vec<Unconfirmed> {
        let Ok(mut state) = self.state.lock() else {
            return Vec::new();
        };
        let quit = state.quit;
        let lines = state.lines.drain(..).map(|(_, _, line)| line);
        if clean && quit {
            lines.for_each(|line| {
                let _ = line.confirmed.send(());
            });
            return Vec::new();
        }
        lines.collect()
    }
}

fn ping(covering: u64) -> Option<Line> {
    Line::new(format!("PING :{TOKEN}{covering}"), 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> (Line, oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (confirmed, receiver) = oneshot::channel();
        (Line::new(text, 0).unwrap(), receiver, confirmed)
    }

    #[test]
    fn a_pong_confirms_the_lines_written_before_its_ping_and_no_later_ones() {
        let confirmations = Confirmations::default();
        let (first, mut first_rx, first_tx) = line("PRIVMSG #a :one");
        confirmations.written(first, first_tx);
        let ping = confirmations.ping_due(false).unwrap();
        assert_eq!(ping.as_str(), "PING :causeway-ack-1");
        let (second, mut second_rx, second_tx) = line("PRIVMSG #a :two");
        confirmations.written(second, second_tx);
        assert!(
            confirmations.ping_due(false).is_none(),
            "one PING at a time"
        );
        let next = confirmations.answered("causeway-ack-1").unwrap();
        assert!(first_rx.try_recv().is_ok());
        assert!(second_rx.try_recv().is_err());
        assert_eq!(next.as_str(), "PING :causeway-ack-2");
        assert!(confirmations.answered("causeway-ack-2").is_none());
        assert!(second_rx.try_recv().is_ok());
    }

    #[test]
    fn a_ping_in_flight_is_overdue_only_until_answered() {
        let confirmations = Confirmations::default();
        let (first, _rx, tx) = line("PRIVMSG #a :one");
        confirmations.written(first, tx);
        assert!(!confirmations.unanswered_for(Duration::ZERO), "none sent");
        confirmations.ping_due(false).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(confirmations.unanswered_for(Duration::from_millis(1)));
        assert!(!confirmations.unanswered_for(Duration::from_secs(60)));
        confirmations.answered("causeway-ack-1");
        assert!(!confirmations.unanswered_for(Duration::ZERO));
    }

    #[test]
    fn no_ping_interrupts_a_burst() {
        let confirmations = Confirmations::default();
        assert!(
            confirmations.ping_due(false).is_none(),
            "nothing to confirm"
        );
        let (first, _rx, tx) = line("PRIVMSG #a :one");
        confirmations.written(first, tx);
        assert!(confirmations.ping_due(true).is_none());
        assert!(confirmations.ping_due(false).is_some());
    }

    #[test]
    fn other_pongs_confirm_nothing() {
        let confirmations = Confirmations::default();
        let (first, mut rx, tx) = line("PRIVMSG #a :one");
        confirmations.written(first, tx);
        confirmations.ping_due(false);
        for token in ["causeway", "causeway-ack-x", "irc.test"] {
            assert!(confirmations.answered(token).is_none());
        }
        assert!(rx.try_recv().is_err());
        let carried = confirmations.closed(true);
        assert_eq!(carried[0].line.as_str(), "PRIVMSG #a :one");
    }

    #[test]
    fn a_link_the_server_closed_after_our_quit_confirms_every_line() {
        let confirmations = Confirmations::default();
        let (first, mut rx, tx) = line("PRIVMSG #a :one");
        confirmations.written(first, tx);
        confirmations.quit_written();
        assert!(
            confirmations.closed(false).len() == 1,
            "a dropped link confirms nothing"
        );
        let (second, mut second_rx, second_tx) = line("PRIVMSG #a :two");
        confirmations.written(second, second_tx);
        assert!(confirmations.closed(true).is_empty());
        assert!(rx.try_recv().is_err());
        assert!(second_rx.try_recv().is_ok());
    }
}
