//! A fast hash for the base-name → UID table. Opening a large mailbox
//! looks up every file's base name (100,000 for a big archive) and the
//! standard SipHash is a fifth of that time. The names are the mailbox
//! owner's own files, so flooding resistance buys nothing here.

use std::hash::{BuildHasherDefault, Hasher};

/// Eight bytes at a time: rotate, xor, multiply (the Fx scheme).
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The length first, so zero padding cannot make names collide.
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by base names.
pub(crate) type NameMap<V> = std::collections::HashMap<Box<str>, V, BuildHasherDefault<NameHasher>>;

/// A table keyed by UID with the same hash (the keys are ours too).
pub(crate) type UidMap<V> = std::collections::HashMap<u32, V, BuildHasherDefault<NameHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_differ_hash_apart() {
        let hash = |s: &str| {
            let mut h = NameHasher::default();
            std::hash::Hash::hash(s, &mut h);
            h.finish()
        };
        assert_ne!(hash("1700000000.M1P1.host"), hash("1700000000.M2P1.host"));
        assert_ne!(hash("a"), hash("a\0"));
        let mut m: NameMap<u32> = NameMap::default();
        m.insert("x".into(), 1);
        assert_eq!(m.get("x"), Some(&1));
    }
}
