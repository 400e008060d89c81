//! Sequence-number types with wrapping comparisons.
//!
//! TCP sequence numbers are 32-bit and wrap (RFC 9293 §3.4); MPTCP data
//! sequence numbers are 64-bit on the wire or truncated to their low 32 bits
//! (RFC 8684 §3.3). Comparisons go through these types so that no caller
//! writes `a - b < 0` by hand.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A subflow (TCP) sequence number, compared modulo 2^32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubflowSeq(pub u32);

impl SubflowSeq {
    /// Signed distance from `other` to `self` (positive when `self` is later).
    pub fn diff(self, other: SubflowSeq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub fn lt(self, other: SubflowSeq) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` in sequence space.
    pub fn le(self, other: SubflowSeq) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub fn gt(self, other: SubflowSeq) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub fn ge(self, other: SubflowSeq) -> bool {
        self.diff(other) >= 0
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: SubflowSeq) -> SubflowSeq {
        if self.ge(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: SubflowSeq) -> SubflowSeq {
        if self.le(other) { self } else { other }
    }

    /// Whether `self` lies in the half-open window `[start, start + len)`.
    pub fn in_window(self, start: SubflowSeq, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }

    /// Compare in sequence space. Not a total order over all of `u32`, so
    /// this is deliberately not `Ord`.
    pub fn seq_cmp(self, other: SubflowSeq) -> Ordering {
        self.diff(other).cmp(&0)
    }
}

impl Add<u32> for SubflowSeq {
    type Output = SubflowSeq;
    fn add(self, rhs: u32) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SubflowSeq {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SubflowSeq {
    type Output = SubflowSeq;
    fn sub(self, rhs: u32) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SubflowSeq> for SubflowSeq {
    type Output = i32;
    fn sub(self, rhs: SubflowSeq) -> i32 {
        self.diff(rhs)
    }
}

impl fmt::Debug for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubflowSeq({})", self.0)
    }
}

impl fmt::Display for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An MPTCP data sequence number (64-bit, RFC 8684 §3.3), compared modulo
/// 2^64.
///
/// The initial data sequence number comes from a hash of the key, so it may
/// lie anywhere, a few bytes below 2^64 included: the space wraps, and
/// comparisons are in sequence space (deliberately no `Ord`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataSeq(pub u64);

impl DataSeq {
    /// The low 32 bits, as sent in a 4-byte DSN or DATA_ACK.
    pub fn low32(self) -> u32 {
        self.0 as u32
    }

    /// Expand a 32-bit truncated value to the 64-bit number closest to `near`.
    ///
    /// RFC 8684 §3.3: an implementation receiving 4-byte values infers the
    /// upper 32 bits from its own state; the candidate within 2^31 of `near`
    /// is chosen.
    pub fn expand(low32: u32, near: DataSeq) -> DataSeq {
        let delta = low32.wrapping_sub(near.0 as u32) as i32;
        DataSeq(near.0.wrapping_add_signed(i64::from(delta)))
    }

    /// Signed distance from `other` to `self`.
    pub fn diff(self, other: DataSeq) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }

    /// Bytes from `earlier` up to `self`; zero if `earlier` is later.
    pub fn bytes_since(self, earlier: DataSeq) -> u64 {
        u64::try_from(self.diff(earlier)).unwrap_or(0)
    }

    /// `self < other` in sequence space.
    pub fn lt(self, other: DataSeq) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` in sequence space.
    pub fn le(self, other: DataSeq) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub fn gt(self, other: DataSeq) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub fn ge(self, other: DataSeq) -> bool {
        self.diff(other) >= 0
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: DataSeq) -> DataSeq {
        if self.ge(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: DataSeq) -> DataSeq {
        if self.le(other) { self } else { other }
    }

    /// Compare in sequence space (not a total order over all of `u64`).
    pub fn seq_cmp(self, other: DataSeq) -> Ordering {
        self.diff(other).cmp(&0)
    }

    /// Whether `self` lies in `[start, start + len)`.
    pub fn in_window(self, start: DataSeq, len: u64) -> bool {
        self.0.wrapping_sub(start.0) < len
    }
}

impl Add<u64> for DataSeq {
    type Output = DataSeq;
    fn add(self, rhs: u64) -> DataSeq {
        DataSeq(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u64> for DataSeq {
    fn add_assign(&mut self, rhs: u64) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<DataSeq> for DataSeq {
    type Output = i64;
    fn sub(self, rhs: DataSeq) -> i64 {
        self.diff(rhs)
    }
}

impl fmt::Debug for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataSeq({})", self.0)
    }
}

impl fmt::Display for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subflow_seq_wraps() {
        let a = SubflowSeq(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SubflowSeq(2));
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b - a, 4);
        assert!(SubflowSeq(1).in_window(a, 10));
        assert!(!SubflowSeq(9).in_window(a, 10));
    }

    #[test]
    fn data_seq_expand_picks_nearest() {
        let near = DataSeq(0x1_0000_0010);
        assert_eq!(DataSeq::expand(0x20, near), DataSeq(0x1_0000_0020));
        assert_eq!(DataSeq::expand(0xffff_fff0, near), DataSeq(0x0_ffff_fff0));
        let near = DataSeq(0x1_ffff_fff0);
        assert_eq!(DataSeq::expand(0x10, near), DataSeq(0x2_0000_0010));
        // Never panics at the ends of the space.
        let _ = DataSeq::expand(0, DataSeq(u64::MAX));
        let _ = DataSeq::expand(u32::MAX, DataSeq(0));
    }
}
