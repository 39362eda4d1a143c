//! What the clients know: each session's view of its selected mailbox
//! (message numbers and the UIDs learned for them), and what all clients
//! share (which message each UID holds, each mailbox's UIDVALIDITY).
//! Every rule checked here is one a correct server cannot break, however
//! the clients' commands interleave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One inconsistency, as reported.
#[derive(Debug, Clone)]
pub struct Finding {
    pub client: usize,
    pub command: String,
    pub problem: String,
    pub line: String,
    /// The client's conversation before it (with `--history`).
    pub history: Vec<String>,
}

/// A session's picture of its selected mailbox.
pub struct View {
    /// Index into the configured mailboxes.
    pub mailbox: usize,
    pub read_only: bool,
    pub uidvalidity: u32,
    /// By message number - 1: its UID, 0 while not yet learned.
    uids: Vec<u32>,
    /// False until the SELECT response's EXISTS: that one sets the count.
    counted: bool,
    /// PERMANENTFLAGS includes `\*`: new keywords may be stored.
    pub keywords_allowed: bool,
}

impl View {
    pub fn new(mailbox: usize, read_only: bool) -> View {
        View {
            mailbox,
            read_only,
            uidvalidity: 0,
            uids: Vec::new(),
            counted: false,
            keywords_allowed: false,
        }
    }

    pub fn exists(&self) -> usize {
        self.uids.len()
    }

    pub fn counted(&self) -> bool {
        self.counted
    }

    pub fn uid(&self, msn: usize) -> Option<u32> {
        self.uids
            .get(msn.checked_sub(1)?)
            .copied()
            .filter(|&u| u != 0)
    }

    pub fn contains_uid(&self, uid: u32) -> bool {
        // Known UIDs ascend with message numbers; unknown ones (0) are
        // skipped by a linear scan, which is fine at test sizes.
        self.uids.contains(&uid)
    }

    /// `* n EXISTS`. RFC 3501 §5.2: it may not shrink the mailbox; only
    /// EXPUNGE does that.
    pub fn on_exists(&mut self, n: u32) -> Result<(), String> {
        let n = n as usize;
        if self.counted && n < self.uids.len() {
            return Err(format!(
                "EXISTS shrank the mailbox from {} to {n} without EXPUNGE",
                self.uids.len()
            ));
        }
        self.counted = true;
        self.uids.resize(n, 0);
        Ok(())
    }

    /// `* n EXPUNGE`: the UID it removed (0 if never learned).
    pub fn on_expunge(&mut self, msn: u32) -> Result<u32, String> {
        let i = msn as usize;
        if i == 0 || i > self.uids.len() {
            return Err(format!(
                "EXPUNGE of message {msn} in a mailbox of {}",
                self.uids.len()
            ));
        }
        Ok(self.uids.remove(i - 1))
    }

    /// A FETCH naming message `msn`: it must exist.
    pub fn check_msn(&self, msn: u32) -> Result<(), String> {
        if msn == 0 || msn as usize > self.uids.len() {
            return Err(format!(
                "FETCH for message {msn} in a mailbox of {}",
                self.uids.len()
            ));
        }
        Ok(())
    }

    /// A FETCH saying message `msn` has `uid`: it must agree with what was
    /// learned before, and UIDs must ascend with message numbers
    /// (RFC 3501 §2.3.1.1).
    pub fn learn_uid(&mut self, msn: u32, uid: u32) -> Result<(), String> {
        self.check_msn(msn)?;
        if uid == 0 {
            return Err(format!("UID 0 for message {msn}"));
        }
        let i = msn as usize - 1;
        let old = self.uids[i];
        if old != 0 && old != uid {
            return Err(format!(
                "message {msn} had UID {old} and now has UID {uid}, with no EXPUNGE between"
            ));
        }
        if let Some(&before) = self.uids[..i].iter().rev().find(|&&u| u != 0) {
            if before >= uid {
                return Err(format!(
                    "UID {uid} at message {msn} is not above UID {before} of an earlier message"
                ));
            }
        }
        if let Some(&after) = self.uids[i + 1..].iter().find(|&&u| u != 0) {
            if after <= uid {
                return Err(format!(
                    "UID {uid} at message {msn} is not below UID {after} of a later message"
                ));
            }
        }
        self.uids[i] = uid;
        Ok(())
    }
}

/// (user, mailbox, UIDVALIDITY, UID)
pub type MessageKey = (usize, usize, u32, u32);

/// State all clients share.
pub struct Shared {
    /// What message each UID holds (see `message::identity`).
    identities: Mutex<HashMap<MessageKey, u64>>,
    uidvalidities: Mutex<HashMap<(usize, usize), u32>>,
    findings: Mutex<Vec<Finding>>,
    finding_count: AtomicUsize,
    keep_findings: usize,
    pub stop: AtomicBool,
    ops_left: AtomicI64,
}

impl Shared {
    pub fn new(ops: Option<u64>, keep_findings: usize) -> Shared {
        Shared {
            identities: Mutex::new(HashMap::new()),
            uidvalidities: Mutex::new(HashMap::new()),
            findings: Mutex::new(Vec::new()),
            finding_count: AtomicUsize::new(0),
            keep_findings,
            stop: AtomicBool::new(false),
            ops_left: AtomicI64::new(ops.map_or(i64::MAX, |n| n.min(i64::MAX as u64) as i64)),
        }
    }

    /// Claims one operation of the `--ops` budget.
    pub fn take_op(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.ops_left.fetch_sub(1, Ordering::Relaxed) > 0
    }

    pub fn report(&self, f: Finding) {
        self.finding_count.fetch_add(1, Ordering::Relaxed);
        let mut all = self.findings.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() < self.keep_findings {
            all.push(f);
        }
    }

    pub fn finding_count(&self) -> usize {
        self.finding_count.load(Ordering::Relaxed)
    }

    pub fn findings(&self) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records that `key` holds `identity`, or says which message it held
    /// before if that differs. UIDs are never reused (RFC 3501 §2.3.1.1),
    /// so a UID's message never changes.
    pub fn check_identity(&self, key: MessageKey, identity: u64) -> Result<(), u64> {
        let mut map = self.identities.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(&old) if old != identity => Err(old),
            Some(_) => Ok(()),
            None => {
                map.insert(key, identity);
                Ok(())
            }
        }
    }

    pub fn identity(&self, key: MessageKey) -> Option<u64> {
        self.identities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
    }

    /// A mailbox's UIDVALIDITY may not change: the tester never deletes
    /// or renames one.
    pub fn check_uidvalidity(&self, user: usize, mailbox: usize, v: u32) -> Result<(), u32> {
        let mut map = self.uidvalidities.lock().unwrap_or_else(|e| e.into_inner());
        match map.insert((user, mailbox), v) {
            Some(old) if old != v => Err(old),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: u32) -> View {
        let mut v = View::new(0, false);
        v.on_exists(n).unwrap();
        v
    }

    #[test]
    fn exists_may_not_shrink() {
        let mut v = view(5);
        v.on_exists(7).unwrap();
        assert!(v.on_exists(6).is_err());
        v.on_expunge(7).unwrap();
        v.on_exists(6).unwrap();
    }

    #[test]
    fn uids_follow_expunges() {
        let mut v = view(4);
        for (msn, uid) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
            v.learn_uid(msn, uid).unwrap();
        }
        assert!(v.learn_uid(2, 21).is_err(), "changed without EXPUNGE");
        assert_eq!(v.on_expunge(2).unwrap(), 20);
        v.learn_uid(2, 30).unwrap();
        assert_eq!(v.uid(3), Some(40));
        assert!(v.on_expunge(4).is_err());
        assert!(v.check_msn(4).is_err());
    }

    #[test]
    fn uids_ascend() {
        let mut v = view(3);
        v.learn_uid(1, 5).unwrap();
        v.learn_uid(3, 9).unwrap();
        assert!(v.learn_uid(2, 4).is_err());
        assert!(v.learn_uid(2, 9).is_err());
        v.learn_uid(2, 7).unwrap();
    }

    #[test]
    fn identities_and_uidvalidity() {
        let s = Shared::new(Some(2), 10);
        assert!(s.check_identity((0, 0, 1, 5), 99).is_ok());
        assert!(s.check_identity((0, 0, 1, 5), 99).is_ok());
        assert_eq!(s.check_identity((0, 0, 1, 5), 98), Err(99));
        assert!(s.check_uidvalidity(0, 1, 7).is_ok());
        assert_eq!(s.check_uidvalidity(0, 1, 8), Err(7));
        assert!(s.take_op() && s.take_op() && !s.take_op());
    }
}
