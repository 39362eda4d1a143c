//! A mailbox's messages in the order of one sort key, kept between
//! commands in the shared mailbox state. Webmail sorts the same list on
//! every page view (Roundcube even from a new connection each time), so a
//! repeated SORT walks this list instead of fetching and comparing every
//! message's keys again.
//!
//! A message's keys never change while its UID lives, so the order only
//! grows: messages above `covered` are merged in when a SORT sees them,
//! and expunged ones are skipped, then dropped at the next merge. A walk
//! that misses a message it was asked for (one this list dropped while a
//! session still shows it) says so, and the caller sorts the slow way.

use super::{compare_key, SortFacts};
use crate::proto::types::SortKey;
use std::cmp::Ordering;

/// One message's place.
#[derive(Clone, Debug)]
struct Entry {
    /// Equal for messages whose keys are equal, rising along the list:
    /// REVERSE reverses groups but keeps each group by sequence number.
    group: u32,
    facts: SortFacts,
}

/// The messages of one mailbox (one UIDVALIDITY) ordered by one key, ties
/// by UID (which is sequence-number order).
#[derive(Clone, Debug)]
pub struct KeyOrder {
    key: SortKey,
    uidvalidity: u32,
    /// Every message with a UID up to this one was present when merged in.
    covered: u32,
    entries: Vec<Entry>,
}

impl KeyOrder {
    pub fn key(&self) -> SortKey {
        self.key
    }

    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }

    pub fn covered(&self) -> u32 {
        self.covered
    }

    /// `old` (if any) with the messages of `new` merged in and those not in
    /// `present` (ascending UIDs) dropped. `new` must hold every present
    /// message above `old`'s `covered` up to `covered`.
    pub fn merged(
        old: Option<&KeyOrder>,
        key: SortKey,
        uidvalidity: u32,
        covered: u32,
        present: &[u32],
        new: Vec<SortFacts>,
    ) -> KeyOrder {
        let cmp = |a: &Entry, b: &Entry| {
            compare_key(key, &a.facts, &b.facts).then(a.facts.uid.cmp(&b.facts.uid))
        };
        let mut added: Vec<Entry> = new
            .into_iter()
            .map(|facts| Entry { group: 0, facts })
            .collect();
        added.sort_unstable_by(cmp);
        let kept = old
            .into_iter()
            .flat_map(|o| o.entries.iter())
            .filter(|e| present.binary_search(&e.facts.uid).is_ok());
        let mut entries = Vec::with_capacity(added.len() + old.map_or(0, |o| o.entries.len()));
        let mut added = added.into_iter().peekable();
        for e in kept {
            while let Some(a) = added.next_if(|a| cmp(a, e) == Ordering::Less) {
                entries.push(a);
            }
            entries.push(e.clone());
        }
        entries.extend(added);
        let mut group = 0;
        for i in 1..entries.len() {
            if compare_key(key, &entries[i - 1].facts, &entries[i].facts) != Ordering::Equal {
                group += 1;
            }
            entries[i].group = group;
        }
        KeyOrder {
            key,
            uidvalidity,
            covered,
            entries,
        }
    }

    /// The messages of `found` (ascending UIDs) in sort order, as
    /// (UID, sequence number); `msn[i]` is `found[i]`'s. None when one of
    /// them is not in the list.
    pub fn walk(&self, reverse: bool, found: &[u32], msn: &[u32]) -> Option<Vec<(u32, u32)>> {
        let mut out = Vec::with_capacity(found.len());
        let mut take = |entries: &[Entry]| {
            for e in entries {
                if let Ok(i) = found.binary_search(&e.facts.uid) {
                    out.push((e.facts.uid, msn[i]));
                }
            }
        };
        if reverse {
            let mut end = self.entries.len();
            while end > 0 {
                let group = self.entries[end - 1].group;
                let start = self.entries[..end]
                    .iter()
                    .rposition(|e| e.group != group)
                    .map_or(0, |i| i + 1);
                take(&self.entries[start..end]);
                end = start;
            }
        } else {
            take(&self.entries);
        }
        (out.len() == found.len()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::SortCriterion;

    fn facts(uid: u32, subject: &str, size: u64) -> SortFacts {
        let header = format!("Subject: {subject}\r\n\r\n");
        SortFacts::from_header(header.as_bytes(), uid, uid, 0, size)
    }

    /// Walking the kept order answers as sorting afresh does, after merges
    /// of new mail and with expunged messages dropped.
    #[test]
    fn walks_agree_with_a_fresh_sort() {
        let subjects = ["b", "a", "Re: b", "c", "a", "B", "", "c", "a"];
        let all: Vec<SortFacts> = (0..40u32)
            .map(|u| {
                facts(
                    u + 1,
                    subjects[u as usize % subjects.len()],
                    u64::from(u % 7),
                )
            })
            .collect();
        for key in [SortKey::Subject, SortKey::Size] {
            let first: Vec<u32> = (1..=25).collect();
            let order = KeyOrder::merged(None, key, 7, 25, &first, all[..25].to_vec());
            // Messages 3, 10 and 26 are expunged later; 26..=40 arrive.
            let present: Vec<u32> = (1..=40).filter(|u| ![3, 10, 26].contains(u)).collect();
            let new: Vec<SortFacts> = all[25..].iter().filter(|f| f.uid != 26).cloned().collect();
            let order = KeyOrder::merged(Some(&order), key, 7, 40, &present, new);
            let found: Vec<u32> = present.iter().copied().filter(|u| u % 3 != 0).collect();
            let msn: Vec<u32> = found
                .iter()
                .map(|u| present.binary_search(u).map_or(0, |i| i as u32 + 1))
                .collect();
            for reverse in [false, true] {
                let mut fresh: Vec<SortFacts> = found
                    .iter()
                    .zip(&msn)
                    .map(|(&u, &m)| {
                        let mut f = all[u as usize - 1].clone();
                        f.msn = m;
                        f
                    })
                    .collect();
                super::super::sort(&mut fresh, &[SortCriterion { key, reverse }]);
                let want: Vec<(u32, u32)> = fresh.iter().map(|f| (f.uid, f.msn)).collect();
                assert_eq!(
                    order.walk(reverse, &found, &msn),
                    Some(want),
                    "{key:?} {reverse}"
                );
            }
            // A message the list never saw: the caller must sort afresh.
            assert_eq!(order.walk(false, &[3], &[1]), None);
        }
    }
}
