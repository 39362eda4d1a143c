//! Delays answers to failed logins, growing with repeated failures per client
//! address and per user name (so many addresses guessing one password are
//! slowed too).
//!
//! This module owns the failure counters: how long the next
//! failure from an address should wait, forgetting addresses after a quiet
//! spell, and keeping the table bounded however many addresses an attacker
//! uses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// An address with no failure for this long starts again from the base delay.
const IDLE_FORGET: Duration = Duration::from_secs(15 * 60);

/// The most addresses remembered at once.
const MAX_ENTRIES: usize = 100_000;

/// How often a full sweep for idle entries is worth its O(n) cost.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// What failures are counted against: a client network or a user name
/// (hashed: the table must not keep every name an attacker tries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Net(IpAddr),
    User(u64),
}

struct Table {
    entries: HashMap<Key, Entry>,
    last_sweep: Option<Instant>,
}

/// Per-client-address failed-login counter and delay calculator.
///
/// IPv6 clients are counted per /64, since one host usually holds a whole
/// /64 and could otherwise dodge the delay (and flood the table) by
/// changing address on every attempt. IPv4-mapped IPv6 addresses count as
/// the IPv4 address they carry.
pub struct FailureThrottle {
    base: Duration,
    max: Duration,
    table: Mutex<Table>,
}

impl std::fmt::Debug for FailureThrottle {
    // Not derived: the table can hold 100,000 client addresses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureThrottle")
            .field("base", &self.base)
            .field("max", &self.max)
            .field("tracked", &self.tracked())
            .finish()
    }
}

impl FailureThrottle {
    /// A throttle whose first failure waits `base`, doubling per further
    /// consecutive failure up to `max`. Production uses 1 s and 15 s.
    pub fn new(base: Duration, max: Duration) -> Self {
        FailureThrottle {
            base,
            max,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Counts a failed attempt from `ip` and returns how long to wait before
    /// answering it: `base * 2^(n-1)` for the n-th failure in a row, capped
    /// at `max`.
    pub fn record_failure(&self, ip: IpAddr) -> Duration {
        self.record_failure_at(Key::Net(key(ip)), Instant::now())
    }

    /// Counts a failed attempt from `ip` for `user`: the longer of the two
    /// delays.
    pub fn record_user_failure(&self, ip: IpAddr, user: &str) -> Duration {
        let now = Instant::now();
        let by_net = self.record_failure_at(Key::Net(key(ip)), now);
        let by_user = self.record_failure_at(Key::User(user_key(user)), now);
        by_net.max(by_user)
    }

    /// Forgets `ip` after a successful login.
    pub fn record_success(&self, ip: IpAddr) {
        self.lock().entries.remove(&Key::Net(key(ip)));
    }

    /// Forgets `ip` and `user` after a successful login.
    pub fn record_user_success(&self, ip: IpAddr, user: &str) {
        let mut table = self.lock();
        table.entries.remove(&Key::Net(key(ip)));
        table.entries.remove(&Key::User(user_key(user)));
    }

    /// How many addresses are currently remembered.
    pub fn tracked(&self) -> usize {
        self.lock().entries.len()
    }

    fn record_failure_at(&self, key: Key, now: Instant) -> Duration {
        let mut table = self.lock();
        table.prune(now);
        let entry = table.entries.entry(key).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) > IDLE_FORGET {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        delay_for(self.base, self.max, entry.failures)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update leaves the table consistent, so a panic elsewhere
        // while holding the lock is no reason to stop throttling.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// Drops idle entries (at most once per [`SWEEP_INTERVAL`], since it
    /// walks the whole table) and, if the table is still full, the oldest
    /// tenth, so the cost of eviction is spread over many insertions.
    fn prune(&mut self, now: Instant) {
        let sweep_due = match self.last_sweep {
            Some(t) => now.saturating_duration_since(t) >= SWEEP_INTERVAL,
            None => true,
        };
        if sweep_due || self.entries.len() >= MAX_ENTRIES {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.last) <= IDLE_FORGET);
            self.last_sweep = Some(now);
        }
        if self.entries.len() >= MAX_ENTRIES {
            let mut ages: Vec<(Instant, Key)> =
                self.entries.iter().map(|(ip, e)| (e.last, *ip)).collect();
            ages.sort_unstable();
            let evict = (MAX_ENTRIES / 10).max(self.entries.len() + 1 - MAX_ENTRIES);
            for (_, ip) in ages.into_iter().take(evict) {
                self.entries.remove(&ip);
            }
        }
    }
}

/// `base * 2^(failures-1)`, capped at `max`, without overflowing.
fn delay_for(base: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    base.checked_mul(1u32 << doublings)
        .map_or(max, |d| d.min(max))
}

/// The address as counted: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
/// A user name's slot in the table (case-insensitive, as logins are).
fn user_key(user: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A per-process random seed: names cannot be steered into collisions.
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = SEED.get_or_init(Default::default).build_hasher();
    h.write(user.to_ascii_lowercase().as_bytes());
    h.finish()
}

/// The network a client address counts as: itself for IPv4, its /64 for
/// IPv6, the IPv4 address inside an IPv4-mapped one.
pub fn network_of(ip: IpAddr) -> IpAddr {
    key(ip)
}

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_user_from_many_addresses_is_slowed_too() {
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        let mut last = Duration::ZERO;
        for i in 0..4u8 {
            let ip = IpAddr::from([10, 0, 0, i]);
            last = t.record_user_failure(ip, "Alice");
        }
        assert_eq!(last, Duration::from_secs(8), "fourth failure for the name");
        assert_eq!(
            t.record_user_failure(IpAddr::from([10, 0, 0, 9]), "bob"),
            Duration::from_secs(1)
        );
        t.record_user_success(IpAddr::from([10, 0, 0, 9]), "alice");
        assert_eq!(
            t.record_user_failure(IpAddr::from([10, 0, 0, 8]), "ALICE"),
            Duration::from_secs(1),
            "a success clears the name"
        );
    }

    #[test]
    fn doubles_then_caps() {
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        let want = [1, 2, 4, 8, 15, 15, 15];
        for (n, secs) in want.iter().enumerate() {
            assert_eq!(
                t.record_failure(ip("192.0.2.1")),
                Duration::from_secs(*secs),
                "failure {}",
                n + 1
            );
        }
        // Another address starts from the base delay.
        assert_eq!(t.record_failure(ip("192.0.2.2")), Duration::from_secs(1));
    }

    #[test]
    fn delay_formula_rows() {
        let base = Duration::from_millis(250);
        let max = Duration::from_secs(15);
        let rows: &[(u32, Duration)] = &[
            (0, base),
            (1, base),
            (2, Duration::from_millis(500)),
            (3, Duration::from_secs(1)),
            (7, Duration::from_secs(15)),
            (32, max),
            (33, max),
            (u32::MAX, max),
        ];
        for (n, want) in rows {
            assert_eq!(delay_for(base, max, *n), *want, "n={n}");
        }
        let huge = Duration::from_secs(u64::MAX / 2);
        assert_eq!(delay_for(huge, Duration::MAX, 40), Duration::MAX);
    }

    #[test]
    fn success_resets() {
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        let a = ip("198.51.100.7");
        t.record_failure(a);
        t.record_failure(a);
        assert_eq!(t.record_failure(a), Duration::from_secs(4));
        t.record_success(a);
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.record_failure(a), Duration::from_secs(1));
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        let start = Instant::now();
        let a = ip("203.0.113.5");
        let b = ip("203.0.113.6");
        t.record_failure_at(Key::Net(key(a)), start);
        assert_eq!(
            t.record_failure_at(Key::Net(key(a)), start),
            Duration::from_secs(2)
        );
        t.record_failure_at(Key::Net(key(b)), start);
        // Just inside the window: still counting.
        let later = start + IDLE_FORGET;
        assert_eq!(
            t.record_failure_at(Key::Net(key(a)), later),
            Duration::from_secs(4)
        );
        // Past it: back to the base delay, and the idle `b` has been swept.
        let much_later = later + IDLE_FORGET + Duration::from_secs(1);
        assert_eq!(
            t.record_failure_at(Key::Net(key(a)), much_later),
            Duration::from_secs(1)
        );
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn table_stays_bounded() {
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        let start = Instant::now();
        let n = MAX_ENTRIES as u32 + 5000;
        for i in 0..n {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            t.record_failure_at(
                Key::Net(key(addr)),
                start + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(t.tracked() <= MAX_ENTRIES);
        // The newest address survived eviction; the oldest did not.
        let newest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n - 1));
        let oldest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000));
        let now = start + Duration::from_millis(u64::from(n));
        assert_eq!(
            t.record_failure_at(Key::Net(key(newest)), now),
            Duration::from_secs(2)
        );
        assert_eq!(
            t.record_failure_at(Key::Net(key(oldest)), now),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn address_keys() {
        let rows: &[(&str, &str)] = &[
            ("192.0.2.1", "192.0.2.1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ];
        for (input, want) in rows {
            assert_eq!(key(ip(input)), ip(want), "{input}");
        }
        let t = FailureThrottle::new(Duration::from_secs(1), Duration::from_secs(15));
        t.record_failure(ip("2001:db8::1"));
        assert_eq!(t.record_failure(ip("2001:db8::2")), Duration::from_secs(2));
        t.record_failure(ip("192.0.2.9"));
        assert_eq!(
            t.record_failure(ip("::ffff:192.0.2.9")),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn poisoned_lock_still_works() {
        let t = std::sync::Arc::new(FailureThrottle::new(
            Duration::from_secs(1),
            Duration::from_secs(15),
        ));
        let t2 = t.clone();
        let _ = std::thread::spawn(move || {
            let _guard = t2.table.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(t.table.is_poisoned());
        assert_eq!(t.record_failure(ip("192.0.2.1")), Duration::from_secs(1));
    }
}
