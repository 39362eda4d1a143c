//! Passwords verified lately, as Dovecot's `auth_cache` keeps them: a
//! client that logs in again within `auth_cache_ttl_secs` with the same
//! password skips the deliberately slow hash (a BLF-CRYPT check costs
//! milliseconds of CPU; webmail and phones log in every few seconds).
//!
//! Only successes are kept, so the failure throttle sees every wrong
//! password. An entry holds a keyed hash of user and password (HMAC-SHA256
//! under a key drawn at start and never stored), never the password, and
//! the stored field it was checked against: a changed password in the
//! passwd file never matches an old entry, and a re-read file empties the
//! cache.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

type Tag = [u8; 32];

struct Verified {
    /// The passwd file's field the password matched.
    stored: String,
    at: Instant,
}

/// The verified-password cache of one passwd file.
pub struct VerifiedCache {
    key: [u8; 32],
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<Tag, Verified>>,
}

impl VerifiedCache {
    /// `max` entries for `ttl` each; `max == 0` or a zero `ttl` keeps none.
    pub fn new(ttl: Duration, max: usize) -> VerifiedCache {
        let mut key = [0u8; 32];
        let random = crate::random::fill(&mut key);
        // Without a secret key the tags could be checked offline: keep none.
        let max = if random.is_ok() { max } else { 0 };
        VerifiedCache {
            key,
            ttl,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.max > 0 && !self.ttl.is_zero()
    }

    fn tag(&self, user: &str, password: &[u8]) -> Option<Tag> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(&(user.len() as u64).to_le_bytes());
        mac.update(user.as_bytes());
        mac.update(password);
        Some(mac.finalize().into_bytes().into())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Tag, Verified>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `password` was verified for `user` against `stored` lately.
    pub fn hit(&self, user: &str, stored: &str, password: &[u8]) -> bool {
        if !self.enabled() {
            return false;
        }
        let Some(tag) = self.tag(user, password) else {
            return false;
        };
        let entries = self.lock();
        entries.get(&tag).is_some_and(|v| {
            v.at.elapsed() < self.ttl
                && super::scheme::ct_eq(v.stored.as_bytes(), stored.as_bytes())
        })
    }

    /// Keeps a successful verification.
    pub fn remember(&self, user: &str, stored: &str, password: &[u8]) {
        if !self.enabled() {
            return;
        }
        let Some(tag) = self.tag(user, password) else {
            return;
        };
        let mut entries = self.lock();
        if entries.len() >= self.max {
            entries.retain(|_, v| v.at.elapsed() < self.ttl);
        }
        if entries.len() >= self.max {
            // Full of live entries: start afresh rather than track ages.
            entries.clear();
        }
        entries.insert(
            tag,
            Verified {
                stored: stored.to_string(),
                at: Instant::now(),
            },
        );
    }

    /// Forgets everything (the passwd file changed).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_user_password_and_stored_field_within_the_ttl() {
        let c = VerifiedCache::new(Duration::from_secs(60), 2);
        assert!(!c.hit("alice", "{X}1", b"pw"));
        c.remember("alice", "{X}1", b"pw");
        assert!(c.hit("alice", "{X}1", b"pw"));
        assert!(!c.hit("alice", "{X}1", b"pW"));
        assert!(!c.hit("alicE", "{X}1", b"pw"));
        // The admin changed the password: the old entry is worthless.
        assert!(!c.hit("alice", "{X}2", b"pw"));
        // "al" + "icepw" must not pass for "alice" + "pw".
        assert!(!c.hit("al", "{X}1", b"icepw"));
        c.remember("bob", "{X}3", b"b");
        c.remember("carol", "{X}4", b"c");
        assert!(c.hit("carol", "{X}4", b"c"));
        assert!(c.entries.lock().unwrap().len() <= 2);
        c.clear();
        assert!(!c.hit("carol", "{X}4", b"c"));
        let expired = VerifiedCache::new(Duration::ZERO, 10);
        expired.remember("alice", "{X}1", b"pw");
        assert!(!expired.hit("alice", "{X}1", b"pw"));
    }
}
