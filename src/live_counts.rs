//! Counts of live things per key (connections per client network, sessions
//! per user), each held by a guard that gives its place back when dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Live counts by key; keys with nothing live are not kept.
pub struct LiveCounts<K> {
    counts: Mutex<HashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone> Default for LiveCounts<K> {
    fn default() -> Self {
        LiveCounts {
            counts: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> LiveCounts<K> {
    /// One more for `key`, unless `max` are live already.
    pub fn take(self: &Arc<Self>, key: K, max: usize) -> Option<LiveGuard<K>> {
        let mut counts = self.lock();
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(LiveGuard {
            counts: Arc::clone(self),
            key,
        })
    }

    /// How many are live for `key`.
    #[cfg(test)]
    pub fn live(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, usize>> {
        // Each update leaves the map consistent.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A place in a `LiveCounts`; released on drop.
pub struct LiveGuard<K: Eq + Hash + Clone> {
    counts: Arc<LiveCounts<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for LiveGuard<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_up_to_the_limit_and_give_back() {
        let c: Arc<LiveCounts<&str>> = Arc::default();
        let a = c.take("x", 2).expect("first");
        let b = c.take("x", 2).expect("second");
        assert!(c.take("x", 2).is_none(), "third over the limit");
        assert!(c.take("y", 2).is_some(), "other keys are apart");
        drop(a);
        assert_eq!(c.live(&"x"), 1);
        let _c = c.take("x", 2).expect("a place came free");
        drop(b);
        assert_eq!(c.live(&"x"), 1);
        assert!(c.take("z", 0).is_none());
        assert_eq!(c.lock().len(), 1, "empty keys are not kept");
    }
}
