//! Per-key token buckets: `per_minute` requests a minute, in bursts of up
//! to that many. Public endpoints use it per client IP address, so that one
//! client cannot make the bridge fetch media for everyone.

use dashmap::DashMap;
use std::hash::Hash;
use std::time::Instant;

pub struct RateLimiter<K: Hash + Eq> {
    per_minute: f64,
    buckets: DashMap<K, (f64, Instant)>,
}

/// Buckets kept before idle ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute.max(1)),
            buckets: DashMap::new(),
        }
    }

    /// Takes one request from `key`'s bucket; `false` when it is empty.
    pub fn allow(&self, key: &K) -> bool {
        let now = Instant::now();
        if self.buckets.len() > MAX_BUCKETS {
            // A full bucket is the same as none: forget those.
            let rate = self.per_minute / 60.0;
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < self.per_minute
            });
        }
        let mut bucket = self
            .buckets
            .entry(key.clone())
            .or_insert((self.per_minute, now));
        let (tokens, at) = &mut *bucket;
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0)
            .min(self.per_minute);
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_is_refused_while_others_are_not() {
        let limiter = RateLimiter::new(3);
        assert!((0..3).all(|_| limiter.allow(&"a")));
        assert!(!limiter.allow(&"a"));
        assert!(limiter.allow(&"b"));
    }
}
