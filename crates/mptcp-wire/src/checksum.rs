//! The Internet checksum (RFC 1071), the TCP pseudo-headers (RFC 9293 §3.1,
//! RFC 8200 §8.1) and the MPTCP DSS checksum (RFC 8684 §3.3.1; RFC 6824 uses
//! the same one).
//!
//! [`Checksum`] accumulates a one's complement sum incrementally. Data may be
//! added in pieces of any length, odd ones included: RFC 1071 §2(B) says the
//! sum is independent of byte order, so a piece that starts at an odd offset
//! is summed as if aligned and its 16-bit sum byte-swapped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An incremental one's complement sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Folded 16-bit sum of everything added so far.
    sum: u16,
    /// Whether an odd number of bytes has been added.
    odd: bool,
}

/// One's complement addition of two 16-bit values.
fn add16(a: u16, b: u16) -> u16 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(u16::from(carry))
}

/// Folded one's complement sum of `data`, as if it started at an even offset.
fn sum_aligned(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let (words, remainder) = data.as_chunks::<4>();
    for w in words {
        let (s, carry) = acc.overflowing_add(u64::from(u32::from_be_bytes(*w)));
        acc = s.wrapping_add(u64::from(carry));
    }
    let mut tail = [0u8; 4];
    for (dst, src) in tail.iter_mut().zip(remainder) {
        *dst = *src;
    }
    let (s, carry) = acc.overflowing_add(u64::from(u32::from_be_bytes(tail)));
    acc = s.wrapping_add(u64::from(carry));
    // Fold 64 -> 16 bits; 2^16 = 1 modulo 0xffff.
    let mut folded = add16((acc >> 48) as u16, (acc >> 32) as u16);
    folded = add16(folded, (acc >> 16) as u16);
    add16(folded, acc as u16)
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Checksum {
        Checksum { sum: 0, odd: false }
    }

    /// Add `data`, which follows whatever was added before.
    pub fn add_bytes(&mut self, data: &[u8]) -> &mut Checksum {
        let s = sum_aligned(data);
        let s = if self.odd { s.swap_bytes() } else { s };
        self.sum = add16(self.sum, s);
        self.odd ^= data.len() % 2 == 1;
        self
    }

    /// Add a big-endian 16-bit value.
    pub fn add_u16(&mut self, v: u16) -> &mut Checksum {
        self.add_bytes(&v.to_be_bytes())
    }

    /// Add a big-endian 32-bit value.
    pub fn add_u32(&mut self, v: u32) -> &mut Checksum {
        self.add_bytes(&v.to_be_bytes())
    }

    /// Add a big-endian 64-bit value.
    pub fn add_u64(&mut self, v: u64) -> &mut Checksum {
        self.add_bytes(&v.to_be_bytes())
    }

    /// Add another sum computed over the bytes that follow.
    pub fn combine(&mut self, other: Checksum) -> &mut Checksum {
        let s = if self.odd {
            other.sum.swap_bytes()
        } else {
            other.sum
        };
        self.sum = add16(self.sum, s);
        self.odd ^= other.odd;
        self
    }

    /// The folded one's complement sum (not complemented).
    pub fn sum(&self) -> u16 {
        self.sum
    }

    /// The checksum field value: the complement of the sum.
    pub fn finish(&self) -> u16 {
        !self.sum
    }

    /// Whether data that includes its own checksum field sums correctly
    /// (RFC 1071: the sum over data and checksum is all ones).
    pub fn is_valid(&self) -> bool {
        self.sum == 0xffff
    }
}

/// The Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add_bytes(data).finish()
}

/// The IPv4 pseudo-header sum for a transport segment of `len` bytes
/// (RFC 9293 §3.1).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Checksum {
    let mut c = Checksum::new();
    c.add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add_u16(u16::from(protocol))
        .add_u16(len);
    c
}

/// The IPv6 pseudo-header sum for an upper-layer packet of `len` bytes
/// (RFC 8200 §8.1).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Checksum {
    let mut c = Checksum::new();
    c.add_bytes(&src.octets())
        .add_bytes(&dst.octets())
        .add_u32(len)
        .add_u32(u32::from(next_header));
    c
}

/// The pseudo-header sum for either IP version; `None` when the addresses
/// are of different versions or `len` does not fit the IPv4 length field.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> Option<Checksum> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Some(pseudo_header_v4(s, d, protocol, u16::try_from(len).ok()?))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            Some(pseudo_header_v6(s, d, protocol, u32::try_from(len).ok()?))
        }
        _ => None,
    }
}

/// The sum of the DSS checksum pseudo-header (RFC 8684 §3.3.1, Figure 10):
/// the 64-bit data sequence number (always 64 bits, whatever the option
/// carried), the relative subflow sequence number, the data-level length and
/// a zero checksum field.
pub fn dss_pseudo_header(dsn: u64, subflow_seq: u32, data_len: u16) -> Checksum {
    dss_header_with(dsn, subflow_seq, data_len, 0)
}

/// The pseudo-header with `field` in the checksum position.
fn dss_header_with(dsn: u64, subflow_seq: u32, data_len: u16, field: u16) -> Checksum {
    let mut c = Checksum::new();
    c.add_u64(dsn)
        .add_u32(subflow_seq)
        .add_u16(data_len)
        .add_u16(field);
    c
}

/// The DSS checksum of a mapping whose data is `payload` (RFC 8684 §3.3.1).
pub fn dss_checksum(dsn: u64, subflow_seq: u32, data_len: u16, payload: &[u8]) -> u16 {
    dss_pseudo_header(dsn, subflow_seq, data_len)
        .add_bytes(payload)
        .finish()
}

/// Whether `checksum` is the DSS checksum of the mapping and its `payload`.
/// The checksum is summed in its own place in the pseudo-header, so the
/// result does not depend on the payload's length being even.
pub fn verify_dss_checksum(
    dsn: u64,
    subflow_seq: u32,
    data_len: u16,
    checksum: u16,
    payload: &[u8],
) -> bool {
    dss_header_with(dsn, subflow_seq, data_len, checksum)
        .add_bytes(payload)
        .is_valid()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward RFC 1071 reference: 16-bit words, end-around carry.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Checksum::new().add_bytes(&data).sum(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_checksum() {
        // A well-known IPv4 header whose checksum is 0xb861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10] = 0xb8;
        hdr[11] = 0x61;
        assert!(Checksum::new().add_bytes(&hdr).is_valid());
    }

    #[test]
    fn pieces_of_any_length_match_reference() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 7919 % 251) as u8).collect();
        let whole = reference(&data);
        assert_eq!(checksum(&data), whole);
        for split in [0, 1, 2, 3, 5, 500, 999, 1001] {
            let (a, b) = data.split_at(split);
            let mut c = Checksum::new();
            c.add_bytes(a).add_bytes(b);
            assert_eq!(c.finish(), whole, "split at {split}");
            let mut first = Checksum::new();
            first.add_bytes(a);
            let mut second = Checksum::new();
            second.add_bytes(b);
            assert_eq!(first.combine(second).finish(), whole, "combine at {split}");
        }
        // Byte by byte.
        let mut c = Checksum::new();
        for b in &data {
            c.add_bytes(std::slice::from_ref(b));
        }
        assert_eq!(c.finish(), whole);
    }

    #[test]
    fn dss_checksum_verifies_and_detects_changes() {
        let payload = b"hello, multipath world";
        let csum = dss_checksum(0x0102_0304_0506_0708, 1, payload.len() as u16, payload);
        assert!(verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            payload.len() as u16,
            csum,
            payload
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0709,
            1,
            payload.len() as u16,
            csum,
            payload
        ));
        let mut altered = *payload;
        altered[3] ^= 0x20;
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            payload.len() as u16,
            csum,
            &altered
        ));
    }

    #[test]
    fn dss_checksum_odd_payloads() {
        for len in [1usize, 41, 557] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let dsn = 0xe47e_f57d_d1b9_7490;
            let csum = dss_checksum(dsn, 1, len as u16, &payload);
            assert!(
                verify_dss_checksum(dsn, 1, len as u16, csum, &payload),
                "{len}"
            );
            assert!(
                !verify_dss_checksum(dsn, 1, len as u16, csum ^ 1, &payload),
                "{len}"
            );
        }
    }

    #[test]
    fn dss_pseudo_header_layout() {
        // The pseudo-header is 16 bytes: DSN, SSN, length, zero.
        let mut manual = [0u8; 16];
        manual[..8].copy_from_slice(&7u64.to_be_bytes());
        manual[8..12].copy_from_slice(&9u32.to_be_bytes());
        manual[12..14].copy_from_slice(&3u16.to_be_bytes());
        let data = [1, 2, 3];
        let mut all = manual.to_vec();
        all.extend_from_slice(&data);
        assert_eq!(dss_checksum(7, 9, 3, &data), reference(&all));
    }
}
