//! Random bytes from the kernel (`getrandom` through `ring`, which the TLS
//! stack brings anyway): salts, nonces, challenges, keys and GUIDs. One
//! place, so every caller gets the same source and says what it does when
//! there is none (never, on Linux since 3.17).

use std::io;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf)
        .map_err(|_| io::Error::other("the kernel gave no random bytes"))
}

/// `n` random bytes for values that must differ rather than be secret
/// (nonces, challenges, cookies): without a random source, the clock
/// still keeps them distinct.
pub fn bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    if fill(&mut out).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in out.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let (a, b) = (super::bytes(16), super::bytes(16));
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
