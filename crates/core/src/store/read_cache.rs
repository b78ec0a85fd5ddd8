//! Rows read through a cache that every write to their table clears. The
//! portals and the logins use it: every Matrix or remote event asks for one.

use anyhow::Result;
use dashmap::DashMap;
use std::borrow::Borrow;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values by key, with a generation that every write bumps, so that a read
/// that raced a write does not cache what the write replaced.
pub(super) struct ReadCache<K, V> {
    values: DashMap<K, V>,
    generation: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> Default for ReadCache<K, V> {
    fn default() -> Self {
        Self {
            values: DashMap::new(),
            generation: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    /// The cached value, or what `read` gives, cached unless a write came
    /// in between.
    pub async fn get_or_read<Q, F, Fut>(&self, key: &Q, read: F) -> Result<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        if let Some(known) = self.values.get(key) {
            return Ok(known.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let value = read().await?;
        if self.generation.load(Ordering::Acquire) == generation {
            self.values.insert(key.to_owned(), value.clone());
        }
        Ok(value)
    }

    /// Forgets everything, after a write.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.values.clear();
    }
}
