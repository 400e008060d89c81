//! Deterministic, keyed randomness for the engine.
//!
//! Everything random in the engine (initial sequence numbers, nonces, the
//! key-generation secret) derives from one seed through SipHash used as a
//! pseudo-random function, so a fixed seed reproduces a run bit for bit
//! and a seed drawn from the OS makes the values unpredictable. No global
//! state, no clock.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// A counter-mode pseudo-random generator keyed by a 128-bit secret.
#[derive(Clone)]
pub struct Random {
    k0: u64,
    k1: u64,
    counter: u64,
}

impl Random {
    /// A generator from a 64-bit seed.
    pub fn from_seed(seed: u64) -> Random {
        let mut r = Random {
            k0: 0x736f_6d65_7073_6575 ^ seed,
            k1: 0x646f_7261_6e64_6f6d ^ seed.rotate_left(32),
            counter: 0,
        };
        r.k0 = r.next_u64();
        r.k1 = r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u64(self.counter);
        self.counter += 1;
        h.finish()
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    /// 16 random bytes (e.g. a secret for a keyed hash).
    pub fn secret(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }

    /// A uniformly distributed value in `0..n` (n > 0; bias is negligible
    /// for the small ranges used).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// An independent generator derived from this one.
    pub fn fork(&mut self) -> Random {
        Random::from_seed(self.next_u64())
    }
}

impl std::fmt::Debug for Random {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Random { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Random::from_seed(7);
        let mut b = Random::from_seed(7);
        let mut c = Random::from_seed(8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }
}
