//! Netsplits: when two IRC servers lose each other, every user on the far
//! side QUITs at once, with the two server names as the reason, and most
//! come back minutes later. Mirroring that would flood the room with
//! hundreds of leaves and joins, so those leaves wait `netsplit_grace_seconds`
//! and are dropped for everyone who rejoins in time.

use crate::connection::Connection;
use crate::network::IrcNetwork;
use std::time::Duration;

/// Whether a QUIT reason is a netsplit's: exactly two server names, such as
/// `irc.a.net irc.b.net`.
pub fn is_netsplit(reason: &str) -> bool {
    let server = |name: &str| {
        name.contains('.')
            && !name.starts_with('.')
            && !name.ends_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*')
    };
    let mut parts = reason.split(' ');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if server(a) && server(b))
}

impl IrcNetwork {
    /// Holds back a netsplit QUIT's leaves; they happen after the grace
    /// period only for channels the user has not rejoined.
    pub(crate) fn defer_netsplit_quit(&self, bot: &Connection, who: &str, channels: Vec<String>) {
        let network = bot.network.clone();
        let folded = bot.fold(who);
        let Some(state) = self.state(&network) else {
            return;
        };
        state.hold_split(folded.clone(), channels);
        let grace = self
            .network(&network)
            .map(|n| n.netsplit_grace_seconds)
            .unwrap_or(0);
        let (this, who) = (self.clone(), who.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(grace)).await;
            let Some(channels) = this.state(&network).and_then(|s| s.take_split(&folded)) else {
                return;
            };
            let Ok(bot) = this.bot(&network) else { return };
            for channel in channels {
                let left = this
                    .member_left(&bot, &channel, &who, Some("lost in a netsplit".into()))
                    .await;
                if let Err(err) = left {
                    tracing::warn!(network, channel, "cannot mirror a netsplit leave: {err:#}");
                }
            }
        });
    }

    /// A JOIN by someone split away: they are back, and their ghost never
    /// left. Returns whether the JOIN was such a return.
    pub(crate) fn returned_from_netsplit(
        &self,
        bot: &Connection,
        who: &str,
        channel: &str,
    ) -> bool {
        self.state(&bot.network).is_some_and(|state| {
            state.rejoined_after_split(&bot.fold(who), channel, |c| bot.fold(c))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_netsplit;

    #[test]
    fn netsplit_reasons_name_two_servers() {
        assert!(is_netsplit("irc.a.net irc.b.net"));
        assert!(is_netsplit("*.net *.split"));
        assert!(!is_netsplit("Quit: bye"));
        assert!(!is_netsplit("see you. later."));
        assert!(!is_netsplit("irc.a.net"));
        assert!(!is_netsplit("a.b c.d e.f"));
    }
}
