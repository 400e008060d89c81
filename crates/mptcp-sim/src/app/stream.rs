//! A deterministic byte stream: byte `i` is a function of `(seed, i)`, so a
//! receiver can check every byte as it arrives, and both ends hash what
//! they wrote and read.

use sha2::{Digest, Sha256};

/// The bytes of a stream, generated at any offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamGen {
    seed: u64,
}

/// SplitMix64's finaliser: a good 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl StreamGen {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> StreamGen {
        StreamGen { seed: mix(seed) }
    }

    /// Fill `buf` with the stream's bytes from `offset` on.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        // Unaligned head, then whole words, then the tail.
        let len = buf.len();
        let head = ((8 - offset % 8) % 8).min(len as u64) as usize;
        let (first, rest) = buf.split_at_mut(head);
        self.fill_slow(offset, first);
        let word0 = (offset + head as u64) / 8;
        let mut words = rest.chunks_exact_mut(8);
        for (k, w) in (&mut words).enumerate() {
            w.copy_from_slice(&mix(self.seed ^ (word0 + k as u64)).to_le_bytes());
        }
        let tail = words.into_remainder();
        let tail_off = offset + (len - tail.len()) as u64;
        self.fill_slow(tail_off, tail);
    }

    fn fill_slow(&self, offset: u64, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() {
            let pos = offset + i as u64;
            let word = mix(self.seed ^ (pos / 8)).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(buf.len() - i);
            buf[i..i + n].copy_from_slice(&word[start..start + n]);
            i += n;
        }
    }

    /// Offset of the first byte of `data` (found at `offset`) that differs
    /// from the stream, if any.
    pub fn first_mismatch(&self, offset: u64, data: &[u8]) -> Option<u64> {
        let mut expect = [0u8; 4096];
        for (k, chunk) in data.chunks(expect.len()).enumerate() {
            let at = offset + (k * expect.len()) as u64;
            let want = &mut expect[..chunk.len()];
            self.fill(at, want);
            if want != chunk {
                let i = want
                    .iter()
                    .zip(chunk)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Some(at + i as u64);
            }
        }
        None
    }
}

/// Running SHA-256 of a stream.
#[derive(Clone, Default)]
pub struct StreamHash {
    hasher: Sha256,
    bytes: u64,
}

impl StreamHash {
    /// Add bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest so far, as lowercase hex.
    pub fn hex(&self) -> String {
        self.hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for StreamHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamHash({} bytes)", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_matches_the_whole() {
        let g = StreamGen::new(42);
        let mut whole = vec![0u8; 1000];
        g.fill(0, &mut whole);
        for (off, len) in [(0usize, 1usize), (3, 13), (8, 8), (997, 3), (100, 500)] {
            let mut part = vec![0u8; len];
            g.fill(off as u64, &mut part);
            assert_eq!(&part[..], &whole[off..off + len]);
        }
        assert_eq!(g.first_mismatch(5, &whole[5..900]), None);
        let mut bad = whole[5..900].to_vec();
        bad[300] ^= 1;
        assert_eq!(g.first_mismatch(5, &bad), Some(305));
        assert_ne!(StreamGen::new(43), g);
    }
}
