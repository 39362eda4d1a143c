//! Who gets in: the connection caps, counted so that connections that have
//! not logged in can never lock out one that would.
//!
//! A client that has not logged in costs an attacker nothing to open. So
//! when a newcomer finds its network's share of not-logged-in places taken
//! (`max_connections_per_ip`), or the server full (`max_connections`), the
//! oldest connection still waiting to log in is closed to make room, as
//! Dovecot does with its login queue. A newcomer is refused only when every
//! place is held by a logged-in session. Logged-in sessions leave the
//! waiting list and count only against the total (and, elsewhere, against
//! `max_sessions_per_user`).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a closed-to-make-room connection may take to write its BYE.
const EVICTION_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The caps admission enforces.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Connections at once, logged in or not.
    pub total: usize,
    /// Not-logged-in connections at once from one network.
    pub waiting_per_network: usize,
}

/// Every admitted connection that is still counted.
#[derive(Default)]
pub struct Admissions {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Connections not logged in yet, oldest first (ids only grow).
    waiting: BTreeMap<u64, Waiting>,
    waiting_per_network: HashMap<IpAddr, usize>,
    /// Admitted and neither gone nor closed to make room.
    counted: usize,
    next_id: u64,
}

struct Waiting {
    network: IpAddr,
    /// A handle on the socket, to close it from the accept thread.
    socket: TcpStream,
    evicted: Arc<AtomicBool>,
}

/// Why a newcomer was turned away.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// What `admit` reports besides the ticket: the connections it closed.
pub struct Admitted {
    pub ticket: Ticket,
    /// Networks of the connections closed to make room (for the log).
    pub evicted: Vec<IpAddr>,
}

impl Admissions {
    /// Counts a new connection from `network`, closing the oldest waiting
    /// connections it needs room from; `Full` when every place is held by
    /// a logged-in session. `socket` is a handle on the newcomer's socket.
    pub fn admit(
        self: &Arc<Self>,
        network: IpAddr,
        socket: TcpStream,
        caps: Caps,
    ) -> Result<Admitted, Full> {
        let mut state = self.lock();
        let mut evicted = Vec::new();
        // Each round removes one waiting connection of this network.
        while state.waiting_in(network) >= caps.waiting_per_network.max(1) {
            match state.oldest_waiting(Some(network)) {
                Some(id) => evicted.extend(state.evict(id)),
                None => break,
            }
        }
        if state.counted >= caps.total {
            match state.oldest_waiting(None) {
                Some(id) => evicted.extend(state.evict(id)),
                None => return Err(Full),
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let flag = Arc::new(AtomicBool::new(false));
        state.waiting.insert(
            id,
            Waiting {
                network,
                socket,
                evicted: Arc::clone(&flag),
            },
        );
        *state.waiting_per_network.entry(network).or_insert(0) += 1;
        state.counted += 1;
        Ok(Admitted {
            ticket: Ticket {
                admissions: Arc::clone(self),
                id,
                evicted: flag,
                logged_in: false,
            },
            evicted,
        })
    }

    /// Connections counted now (logged in or waiting).
    #[cfg(test)]
    pub fn counted(&self) -> usize {
        self.lock().counted
    }

    /// Connections waiting to log in now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn waiting_in(&self, network: IpAddr) -> usize {
        self.waiting_per_network.get(&network).copied().unwrap_or(0)
    }

    fn oldest_waiting(&self, network: Option<IpAddr>) -> Option<u64> {
        self.waiting
            .iter()
            .find(|(_, w)| network.is_none_or(|n| w.network == n))
            .map(|(id, _)| *id)
    }

    /// Takes a waiting connection out of the count and wakes its session,
    /// which says BYE and ends (its read sees end of file).
    fn evict(&mut self, id: u64) -> Option<IpAddr> {
        let w = self.forget_waiting(id)?;
        self.counted = self.counted.saturating_sub(1);
        w.evicted.store(true, Ordering::SeqCst);
        // A client that does not read must not keep the thread long.
        let _ = w.socket.set_write_timeout(Some(EVICTION_WRITE_TIMEOUT));
        let _ = w.socket.shutdown(Shutdown::Read);
        Some(w.network)
    }

    fn forget_waiting(&mut self, id: u64) -> Option<Waiting> {
        let w = self.waiting.remove(&id)?;
        if let Some(n) = self.waiting_per_network.get_mut(&w.network) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting_per_network.remove(&w.network);
            }
        }
        Some(w)
    }
}

/// One admitted connection's place; given back on drop.
pub struct Ticket {
    admissions: Arc<Admissions>,
    id: u64,
    evicted: Arc<AtomicBool>,
    logged_in: bool,
}

impl Ticket {
    /// The session logged in: it leaves the waiting list and can no longer
    /// be closed to make room. False if it was closed already.
    pub fn logged_in(&mut self) -> bool {
        if self.logged_in {
            return true;
        }
        let mut state = self.admissions.lock();
        self.logged_in = state.forget_waiting(self.id).is_some();
        self.logged_in
    }

    pub fn is_logged_in(&self) -> bool {
        self.logged_in
    }

    /// Whether the connection was closed to make room for a newer one.
    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.admissions.lock();
        let was_waiting = state.forget_waiting(self.id).is_some();
        // An evicted connection stopped counting when it was evicted.
        if was_waiting || self.logged_in {
            state.counted = state.counted.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected socket pair end (admission only keeps a handle on it).
    fn socket(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn the_oldest_waiting_connection_makes_room() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a: Arc<Admissions> = Arc::default();
        let caps = Caps {
            total: 3,
            waiting_per_network: 2,
        };
        let net1 = IpAddr::from([10, 0, 0, 1]);
        let net2 = IpAddr::from([10, 0, 0, 2]);
        let (_c1, s1) = socket(&listener);
        let first = a.admit(net1, s1, caps).unwrap();
        let (_c2, s2) = socket(&listener);
        let mut second = a.admit(net1, s2, caps).unwrap();
        // Per network: the third from net1 closes the first.
        let (_c3, s3) = socket(&listener);
        let third = a.admit(net1, s3, caps).unwrap();
        assert!(first.ticket.evicted());
        assert_eq!(third.evicted, vec![net1]);
        assert_eq!(a.counted(), 2);
        drop(first);
        assert_eq!(a.counted(), 2, "an evicted ticket was already uncounted");
        // Logged in: no longer closable.
        assert!(second.ticket.logged_in());
        let (_c4, s4) = socket(&listener);
        let _fourth = a.admit(net2, s4, caps).unwrap();
        // Total: the oldest waiting one anywhere (third) makes room.
        let (_c5, s5) = socket(&listener);
        let fifth = a.admit(net2, s5, caps).unwrap();
        assert!(third.ticket.evicted());
        assert!(!second.ticket.evicted());
        assert_eq!(fifth.evicted, vec![net1]);
        assert_eq!((a.counted(), a.waiting()), (3, 2));
        drop(third);
        drop(fifth);
        drop(second);
        assert_eq!((a.counted(), a.waiting()), (1, 1));
    }

    #[test]
    fn logged_in_sessions_alone_fill_the_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a: Arc<Admissions> = Arc::default();
        let caps = Caps {
            total: 1,
            waiting_per_network: 5,
        };
        let net = IpAddr::from([10, 0, 0, 1]);
        let (_c1, s1) = socket(&listener);
        let mut only = a.admit(net, s1, caps).unwrap();
        assert!(only.ticket.logged_in());
        let (_c2, s2) = socket(&listener);
        assert!(matches!(a.admit(net, s2, caps), Err(Full)));
        drop(only);
        let (_c3, s3) = socket(&listener);
        assert!(a.admit(net, s3, caps).is_ok());
    }
}
