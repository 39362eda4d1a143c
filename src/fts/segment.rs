//! One index segment on disk and its in-memory builder.
//!
//! File: `RFTS0001`, then uidvalidity, message count, unindexed count and
//! trigram count (u32 little-endian each); the indexed UIDs (sorted); the
//! UIDs kept unindexed (too large); the table of trigrams (key u32,
//! offset u64, length u32, sorted by key); then the posting lists, each a
//! run of LEB128 UID deltas.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// 0002: header keys' forms are indexed too; older indexes are rebuilt.
const MAGIC: &[u8; 8] = b"RFTS0002";
const HEAD: usize = 8 + 4 * 4;
const ENTRY: usize = 16;

/// A segment as loaded: the tables in memory, the lists on disk.
pub(super) struct Segment {
    path: PathBuf,
    pub uidvalidity: u32,
    docs: Vec<u32>,
    raw: Vec<u32>,
    table: Vec<(u32, u64, u32)>,
    postings_at: u64,
    file: Option<fs::File>,
}

impl Segment {
    pub fn empty(path: PathBuf) -> Segment {
        Segment {
            path,
            uidvalidity: 0,
            docs: Vec::new(),
            raw: Vec::new(),
            table: Vec::new(),
            postings_at: 0,
            file: None,
        }
    }

    pub fn path_exists(&self) -> bool {
        self.file.is_some()
    }

    /// Reads a segment's tables; `None` for a missing or damaged file.
    pub fn load(path: &Path) -> Option<Segment> {
        let mut file = crate::store::nofollow::options()
            .read(true)
            .open(path)
            .ok()?;
        let len = file.metadata().ok()?.len();
        let mut head = [0u8; HEAD];
        file.read_exact(&mut head).ok()?;
        if &head[..8] != MAGIC {
            return None;
        }
        let u = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (uidvalidity, ndocs, nraw, ntri) =
            (u(8), u(12) as usize, u(16) as usize, u(20) as usize);
        let tables = (ndocs + nraw) * 4 + ntri * ENTRY;
        if (HEAD + tables) as u64 > len {
            return None;
        }
        let mut buf = vec![0u8; tables];
        file.read_exact(&mut buf).ok()?;
        let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let docs: Vec<u32> = (0..ndocs).map(|i| word(i * 4)).collect();
        let raw: Vec<u32> = (0..nraw).map(|i| word((ndocs + i) * 4)).collect();
        let base = (ndocs + nraw) * 4;
        let postings_at = (HEAD + tables) as u64;
        let mut table = Vec::with_capacity(ntri);
        for i in 0..ntri {
            let o = base + i * ENTRY;
            let off = u64::from_le_bytes(buf[o + 4..o + 12].try_into().ok()?);
            let n = word(o + 12);
            if postings_at + off + u64::from(n) > len {
                return None;
            }
            table.push((word(o), off, n));
        }
        if !docs.windows(2).all(|w| w[0] < w[1]) || !table.windows(2).all(|w| w[0].0 < w[1].0) {
            return None;
        }
        Some(Segment {
            path: path.to_path_buf(),
            uidvalidity,
            docs,
            raw,
            table,
            postings_at,
            file: Some(file),
        })
    }

    pub fn doc_count(&self) -> usize {
        self.docs.len()
    }

    /// The messages in this segment (indexed or raw), for lookups.
    pub fn docs(&self) -> SortedWalk<'_> {
        SortedWalk::new(&self.docs)
    }

    /// The messages kept raw (too large to index), for lookups.
    pub fn raws(&self) -> SortedWalk<'_> {
        SortedWalk::new(&self.raw)
    }

    pub fn is_raw(&self, uid: u32) -> bool {
        self.raw.binary_search(&uid).is_ok()
    }

    fn list(&self, at: usize) -> Vec<u32> {
        let (_, off, n) = self.table[at];
        let Some(file) = &self.file else {
            return Vec::new();
        };
        let mut buf = vec![0u8; n as usize];
        if file
            .read_exact_at(&mut buf, self.postings_at + off)
            .is_err()
        {
            return Vec::new();
        }
        decode(&buf)
    }

    /// Indexed messages holding every one of `trigrams`.
    pub fn containing_all(&self, trigrams: &[u32]) -> Vec<u32> {
        let mut found: Vec<usize> = Vec::with_capacity(trigrams.len());
        for t in trigrams {
            match self.table.binary_search_by_key(t, |e| e.0) {
                Ok(i) => found.push(i),
                Err(_) => return Vec::new(),
            }
        }
        // Shortest list first: the intersection only shrinks.
        found.sort_by_key(|&i| self.table[i].2);
        let mut result: Option<Vec<u32>> = None;
        for i in found {
            let list = self.list(i);
            result = Some(match result {
                None => list,
                Some(prev) => super::intersect(&prev, &list),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result.unwrap_or_default()
    }

    /// Everything back in memory, for a merge.
    pub fn read_all(&self) -> io::Result<Postings> {
        let mut p = Postings {
            docs: self
                .docs
                .iter()
                .copied()
                .filter(|u| !self.is_raw(*u))
                .collect(),
            raw: self.raw.clone(),
            lists: HashMap::with_capacity(self.table.len()),
        };
        for i in 0..self.table.len() {
            p.lists.insert(self.table[i].0, self.list(i));
        }
        let _ = &self.path;
        Ok(p)
    }
}

/// Lookups in a sorted UID list, fast for ascending UIDs: each walks on
/// from where the last one stopped (a mailbox's 100,000 UIDs looked up
/// one binary search each took a fifth of a search answered from the
/// index). A UID below the last one is searched for as usual.
pub(super) struct SortedWalk<'a> {
    list: &'a [u32],
    at: usize,
}

impl<'a> SortedWalk<'a> {
    fn new(list: &'a [u32]) -> SortedWalk<'a> {
        SortedWalk { list, at: 0 }
    }

    pub fn listed(&mut self, uid: u32) -> bool {
        if self.at > 0 && self.list[self.at - 1] >= uid {
            return self.list[..self.at].binary_search(&uid).is_ok();
        }
        let rest = &self.list[self.at..];
        // Small steps are the usual case; a long gap is searched.
        let step = match rest.iter().take(8).position(|&u| u >= uid) {
            Some(i) => i,
            None => rest.partition_point(|&u| u < uid),
        };
        self.at += step;
        self.list.get(self.at) == Some(&uid)
    }
}

/// A segment being built.
#[derive(Default)]
pub(super) struct Postings {
    docs: Vec<u32>,
    raw: Vec<u32>,
    lists: HashMap<u32, Vec<u32>>,
}

impl Postings {
    pub fn doc_count(&self) -> usize {
        self.docs.len() + self.raw.len()
    }

    pub fn add(&mut self, uid: u32, trigrams: &[u32]) {
        self.docs.push(uid);
        for t in trigrams {
            self.lists.entry(*t).or_default().push(uid);
        }
    }

    pub fn add_raw(&mut self, uid: u32) {
        self.raw.push(uid);
    }

    pub fn merge(&mut self, other: Postings) {
        self.docs.extend(other.docs);
        self.raw.extend(other.raw);
        for (k, v) in other.lists {
            self.lists.entry(k).or_default().extend(v);
        }
    }

    /// Drops every message not in `keep` (expunged ones).
    pub fn retain(&mut self, keep: &HashSet<u32>) {
        self.docs.retain(|u| keep.contains(u));
        self.raw.retain(|u| keep.contains(u));
        self.lists.retain(|_, v| {
            v.retain(|u| keep.contains(u));
            !v.is_empty()
        });
    }

    /// Writes the segment (temporary file, fsync, rename) and loads it.
    pub fn write(mut self, path: &Path, uidvalidity: u32) -> io::Result<Segment> {
        use std::os::unix::fs::OpenOptionsExt;
        self.docs.sort_unstable();
        self.docs.dedup();
        self.raw.sort_unstable();
        self.raw.dedup();
        let mut all_docs: Vec<u32> = self.docs.iter().chain(&self.raw).copied().collect();
        all_docs.sort_unstable();
        all_docs.dedup();
        let mut keys: Vec<u32> = self.lists.keys().copied().collect();
        keys.sort_unstable();
        let mut postings = Vec::new();
        let mut table = Vec::with_capacity(keys.len() * ENTRY);
        for k in &keys {
            let mut list = self.lists.remove(k).unwrap_or_default();
            list.sort_unstable();
            list.dedup();
            let start = postings.len() as u64;
            encode(&list, &mut postings);
            table.extend_from_slice(&k.to_le_bytes());
            table.extend_from_slice(&start.to_le_bytes());
            table.extend_from_slice(&((postings.len() as u64 - start) as u32).to_le_bytes());
        }
        let mut out = Vec::with_capacity(HEAD + all_docs.len() * 4 + table.len() + postings.len());
        out.extend_from_slice(MAGIC);
        for n in [
            uidvalidity,
            all_docs.len() as u32,
            self.raw.len() as u32,
            keys.len() as u32,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for d in all_docs.iter().chain(&self.raw) {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&table);
        out.extend_from_slice(&postings);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = crate::store::nofollow::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&out)?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Segment::load(path)
            .ok_or_else(|| io::Error::other("index segment unreadable after writing"))
    }
}

fn encode(list: &[u32], out: &mut Vec<u8>) {
    let mut prev = 0u32;
    for &u in list {
        let mut d = u - prev;
        prev = u;
        loop {
            let b = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
}

fn decode(buf: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(buf.len());
    let (mut prev, mut cur, mut shift) = (0u32, 0u32, 0u32);
    for &b in buf {
        cur |= u32::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b & 0x80 == 0 {
            prev = prev.wrapping_add(cur);
            out.push(prev);
            cur = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    out
}

#[cfg(test)]
mod walk_tests {
    use super::SortedWalk;

    #[test]
    fn a_walk_answers_as_a_search_would_in_any_order() {
        let list: Vec<u32> = (0..200).map(|i| i * 3).collect();
        let asked: Vec<u32> = (0..700).chain([5, 0, 597, 3, 1000, 2]).collect();
        let mut walk = SortedWalk::new(&list);
        for u in asked {
            assert_eq!(walk.listed(u), list.binary_search(&u).is_ok(), "uid {u}");
        }
    }
}
