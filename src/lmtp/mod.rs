//! Local delivery for an MTA: the LMTP server (RFC 2033) and
//! `roost deliver`, both built on `store::deliver`; and the listeners of
//! the services Postfix uses (LMTP and the auth socket).

mod command;
mod data;
pub mod deliver_cmd;
mod input;
pub mod listen;
pub mod recipient;
mod session;

/// For `crate::fuzzing`: the command parser and the DATA decoder on
/// arbitrary bytes. Checks that what DATA writes is what it counts, and
/// that it stops writing past `max`.
#[doc(hidden)]
pub fn fuzz_session_input(data: &[u8]) {
    for line in data.split(|&b| b == b'\n').take(64) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let _ = command::parse(line);
    }
    const MAX: u64 = 256;
    let mut input = std::io::BufReader::with_capacity(16, data);
    let mut out = Vec::new();
    if let Ok(r) = data::read_data(&mut input, Some(&mut out), MAX) {
        assert_eq!(r.too_large, r.size > MAX);
        if !r.too_large {
            assert_eq!(r.size, out.len() as u64);
        }
        assert!(out.len() as u64 <= MAX);
    }
}

#[cfg(test)]
mod tests {
    /// Many pseudo-random inputs built from the bytes that matter.
    #[test]
    fn session_input_survives_noise() {
        const ALPHABET: &[u8] = b"\r\n\r\n..:<>@ =+LHOMAIFRCPTDSZE0123456789x\xff\0\t";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..3000usize {
            let mut data = Vec::with_capacity(len % 700);
            for _ in 0..len % 700 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                data.push(ALPHABET[(seed >> 33) as usize % ALPHABET.len()]);
            }
            super::fuzz_session_input(&data);
        }
    }
}
