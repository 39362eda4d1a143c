//! What is costly to compute about a message and never changes while its
//! UID lives: ENVELOPE, BODY and BODYSTRUCTURE as encoded, the header
//! block and the INTERNALDATE. Kept per mailbox in the shared state, so a
//! second session (or the next sync of a client) fetching the same list
//! reads no files. Bounded: all mailboxes together hold at most
//! `CACHE_BUDGET` bytes; beyond it nothing new is cached.

use crate::sort::HeaderKeys;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Bytes all message caches together may hold.
pub(crate) const CACHE_BUDGET: usize = 256 << 20;

static USED: AtomicUsize = AtomicUsize::new(0);

/// One message's cached data, encoded as it goes on the wire. BODY and
/// BODYSTRUCTURE are missing when only the header was read (a client
/// fetched header fields only).
#[derive(Debug)]
pub(crate) struct CachedMeta {
    pub(crate) envelope: Box<[u8]>,
    pub(crate) body: Option<Box<[u8]>>,
    pub(crate) body_structure: Option<Box<[u8]>>,
    /// The header block in CRLF form, blank line included.
    pub(crate) header: Box<[u8]>,
    /// The INTERNALDATE string (the file's mtime never changes).
    pub(crate) internal_date: Box<str>,
    /// SORT and THREAD keys, worked out from `header` on first use.
    pub(crate) sort_keys: OnceLock<Arc<HeaderKeys>>,
}

impl CachedMeta {
    fn cost(&self) -> usize {
        self.envelope.len()
            + self.body.as_ref().map_or(0, |b| b.len())
            + self.body_structure.as_ref().map_or(0, |b| b.len())
            + self.header.len()
            + self.internal_date.len()
            // The sort keys, when they come: about a header's worth.
            + self.header.len()
            + 96
    }
}

/// The cache of one mailbox, keyed by UID.
#[derive(Debug, Default)]
pub(crate) struct MessageCache {
    map: HashMap<u32, Arc<CachedMeta>>,
    bytes: usize,
}

impl MessageCache {
    pub(crate) fn get(&self, uid: u32) -> Option<Arc<CachedMeta>> {
        self.map.get(&uid).cloned()
    }

    /// Stores an entry if the global budget allows.
    pub(crate) fn insert(&mut self, uid: u32, meta: Arc<CachedMeta>) {
        let cost = meta.cost();
        let reserved = USED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            (used + cost <= CACHE_BUDGET).then_some(used + cost)
        });
        if reserved.is_err() {
            return;
        }
        if let Some(old) = self.map.insert(uid, meta) {
            self.release(old.cost());
        }
        self.bytes += cost;
    }

    /// Drops entries for UIDs that no longer exist.
    pub(crate) fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        let mut freed = 0;
        self.map.retain(|&uid, meta| {
            let k = keep(uid);
            if !k {
                freed += meta.cost();
            }
            k
        });
        self.release(freed);
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        let bytes = self.bytes;
        self.release(bytes);
    }

    fn release(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_sub(bytes);
        USED.fetch_sub(bytes.min(USED.load(Ordering::Acquire)), Ordering::AcqRel);
    }
}

impl Drop for MessageCache {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: usize) -> CachedMeta {
        CachedMeta {
            envelope: vec![b'e'; n].into(),
            body: None,
            body_structure: None,
            header: Box::default(),
            internal_date: "01-Jan-2024 00:00:00 +0000".into(),
            sort_keys: OnceLock::new(),
        }
    }

    #[test]
    fn insert_get_retain_release() {
        let before = USED.load(Ordering::Acquire);
        let mut c = MessageCache::default();
        c.insert(1, Arc::new(meta(100)));
        c.insert(2, Arc::new(meta(100)));
        assert!(c.get(1).is_some());
        c.retain(|uid| uid == 2);
        assert!(c.get(1).is_none() && c.get(2).is_some());
        drop(c);
        // Other tests may run concurrently; ours must have been returned.
        assert!(USED.load(Ordering::Acquire) <= before + 1000);
    }
}
