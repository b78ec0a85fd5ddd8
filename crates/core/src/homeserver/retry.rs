//! How long to keep trying a homeserver request.

use rand::Rng;
use std::time::Duration;

/// Retry policy: rate limits wait as long as the server asks; server errors
/// and broken connections back off exponentially with jitter.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Total attempts, or `None` to keep trying until it works.
    pub max_attempts: Option<u32>,
    pub base: Duration,
    pub cap: Duration,
}

impl Retry {
    /// For interactive work: a few quick tries.
    pub const SHORT: Retry = Retry {
        max_attempts: Some(4),
        base: Duration::from_millis(200),
        cap: Duration::from_secs(5),
    };
    /// For sends that must not be lost: until the homeserver is back.
    pub const FOREVER: Retry = Retry {
        max_attempts: None,
        base: Duration::from_millis(250),
        cap: Duration::from_secs(30),
    };
    /// One try, for checks whose failure is the answer.
    pub const ONCE: Retry = Retry {
        max_attempts: Some(1),
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };

    pub fn allows(&self, attempts: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempts < max)
    }

    /// The wait before retry number `attempt` (0-based): half to all of
    /// base·2^attempt, capped, so that many clients do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.cap);
        let millis = full.as_millis() as u64;
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_cap() {
        let r = Retry::FOREVER;
        for attempt in 0..10 {
            let full = (250u64 << attempt).min(30_000);
            let wait = r.backoff(attempt).as_millis() as u64;
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempt}: {wait} not in {}..={full}",
                full / 2
            );
        }
        assert!(r.backoff(60) <= Duration::from_secs(30));
    }

    #[test]
    fn attempt_limits_are_respected() {
        assert!(Retry::SHORT.allows(3));
        assert!(!Retry::SHORT.allows(4));
        assert!(!Retry::ONCE.allows(1));
        assert!(Retry::FOREVER.allows(1_000_000));
    }
}
