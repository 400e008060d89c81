//! Out-of-order reassembly over a 64-bit offset space.
//!
//! Used twice: by a subflow for TCP sequence space (offsets counted from the
//! initial receive sequence number, so they never wrap) and by a connection
//! for MPTCP data sequence space. Pieces never overlap: an insertion stores
//! only the bytes not already held, so duplicates cost nothing and are
//! counted. A merged range set answers SACK questions without walking every
//! piece.

use bytes::Bytes;
use std::collections::BTreeMap;

/// What an insertion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes stored that were not held before.
    pub new: u64,
    /// Bytes dropped because they were already held or already delivered.
    pub duplicate: u64,
    /// Bytes dropped because they lay beyond the limit.
    pub beyond_limit: u64,
}

/// Held out-of-order data with its merged ranges.
#[derive(Clone, Debug, Default)]
pub struct Reassembly {
    /// Pieces by start offset; never overlapping.
    pieces: BTreeMap<u64, Bytes>,
    /// Merged contiguous ranges, start -> end (exclusive).
    ranges: BTreeMap<u64, u64>,
    /// Starts of the ranges most recently touched, newest first (RFC 2018 §4).
    recent: Vec<u64>,
    held: u64,
}

/// How many recently touched ranges are remembered for SACK ordering.
const RECENT: usize = 4;

impl Reassembly {
    /// An empty buffer.
    pub fn new() -> Reassembly {
        Reassembly::default()
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The end of the highest held byte, if any.
    pub fn highest_end(&self) -> Option<u64> {
        self.ranges.last_key_value().map(|(_, e)| *e)
    }

    /// Store `data` found at `start`, ignoring what lies before `next`
    /// (already delivered) or at or beyond `limit` (outside the window).
    pub fn insert(&mut self, start: u64, data: &[u8], next: u64, limit: u64) -> Inserted {
        let mut out = Inserted::default();
        let end = start.saturating_add(data.len() as u64);
        let lo = start.max(next);
        let hi = end.min(limit);
        out.duplicate += lo.saturating_sub(start).min(data.len() as u64);
        out.beyond_limit += end.saturating_sub(hi.max(lo));
        if lo >= hi {
            return out;
        }
        let mut cursor = lo;
        // Walk the held pieces that overlap [lo, hi), filling the gaps.
        let first = self
            .pieces
            .range(..=lo)
            .next_back()
            .map(|(s, _)| *s)
            .unwrap_or(lo);
        let overlapping: Vec<(u64, u64)> = self
            .pieces
            .range(first..hi)
            .map(|(s, b)| (*s, *s + b.len() as u64))
            .filter(|(_, e)| *e > lo)
            .collect();
        for (s, e) in overlapping {
            if s > cursor {
                self.store(
                    cursor,
                    &data[(cursor - start) as usize..(s - start) as usize],
                );
                out.new += s - cursor;
            }
            let covered_to = e.min(hi);
            if covered_to > cursor {
                out.duplicate += covered_to - cursor.max(s);
                cursor = covered_to;
            }
        }
        if cursor < hi {
            self.store(
                cursor,
                &data[(cursor - start) as usize..(hi - start) as usize],
            );
            out.new += hi - cursor;
        }
        self.touch(lo, hi);
        out
    }

    fn store(&mut self, at: u64, bytes: &[u8]) {
        self.held += bytes.len() as u64;
        self.pieces.insert(at, Bytes::copy_from_slice(bytes));
    }

    /// Record [lo, hi) in the merged range set and as most recent.
    fn touch(&mut self, lo: u64, hi: u64) {
        let mut start = lo;
        let mut end = hi;
        if let Some((&s, &e)) = self.ranges.range(..=lo).next_back()
            && e >= lo
        {
            start = s;
            end = end.max(e);
        }
        let absorbed: Vec<u64> = self.ranges.range(start..=end).map(|(s, _)| *s).collect();
        for s in absorbed {
            if let Some(e) = self.ranges.remove(&s) {
                end = end.max(e);
            }
        }
        self.ranges.insert(start, end);
        self.recent.retain(|r| !(start..=end).contains(r));
        self.recent.insert(0, start);
        self.recent.truncate(RECENT);
    }

    /// Take the piece that starts at `next`, if held. Call repeatedly to
    /// drain everything that became contiguous.
    pub fn pop_at(&mut self, next: u64) -> Option<Bytes> {
        self.drop_before(next);
        let piece = self.pieces.remove(&next)?;
        let end = next + piece.len() as u64;
        self.held -= piece.len() as u64;
        if let Some(range_end) = self.ranges.remove(&next)
            && range_end > end
        {
            self.ranges.insert(end, range_end);
            for r in self.recent.iter_mut() {
                if *r == next {
                    *r = end;
                }
            }
        }
        self.recent.retain(|r| *r != next);
        Some(piece)
    }

    /// Discard everything before `next` (delivered by other means).
    pub fn drop_before(&mut self, next: u64) {
        while let Some((&s, piece)) = self.pieces.first_key_value() {
            let e = s + piece.len() as u64;
            if s >= next {
                break;
            }
            let mut piece = self.pieces.remove(&s).unwrap_or_default();
            self.held -= piece.len() as u64;
            if e > next {
                let keep = piece.split_off((next - s) as usize);
                self.held += keep.len() as u64;
                self.pieces.insert(next, keep);
            }
        }
        while let Some((&s, &e)) = self.ranges.first_key_value() {
            if s >= next {
                break;
            }
            self.ranges.remove(&s);
            if e > next {
                self.ranges.insert(next, e);
            }
        }
        // A trimmed range keeps its place in the SACK order.
        let mut recent = std::mem::take(&mut self.recent);
        for r in recent.iter_mut() {
            *r = (*r).max(next);
        }
        recent.dedup();
        self.recent = recent;
    }

    /// Up to `max` SACK blocks, the most recently changed range first
    /// (RFC 2018 §4), then the other recent ones, then the highest ones.
    pub fn sack_blocks(&self, max: usize, out: &mut Vec<(u64, u64)>) {
        out.clear();
        for start in &self.recent {
            if out.len() == max {
                return;
            }
            if let Some((&s, &e)) = self.ranges.range(..=*start).next_back()
                && e > *start
                && !out.contains(&(s, e))
            {
                out.push((s, e));
            }
        }
        for (&s, &e) in self.ranges.iter().rev() {
            if out.len() == max {
                return;
            }
            if !out.contains(&(s, e)) {
                out.push((s, e));
            }
        }
    }

    /// The merged held ranges, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(r: &mut Reassembly, mut next: u64) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        while let Some(p) = r.pop_at(next) {
            next += p.len() as u64;
            out.extend_from_slice(&p);
        }
        (next, out)
    }

    #[test]
    fn fills_holes_and_counts_duplicates() {
        let mut r = Reassembly::new();
        let data: Vec<u8> = (0..100).collect();
        assert_eq!(r.insert(50, &data[50..70], 0, 1000).new, 20);
        assert_eq!(r.insert(10, &data[10..20], 0, 1000).new, 10);
        let ins = r.insert(0, &data[0..60], 0, 1000);
        assert_eq!(ins.new, 40);
        assert_eq!(ins.duplicate, 20);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(0, 70)]);
        let (next, out) = drain(&mut r, 0);
        assert_eq!(next, 70);
        assert_eq!(out, &data[..70]);
        assert!(r.is_empty());
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn respects_next_and_limit() {
        let mut r = Reassembly::new();
        let ins = r.insert(0, &[1; 100], 40, 80);
        assert_eq!(
            ins,
            Inserted {
                new: 40,
                duplicate: 40,
                beyond_limit: 20
            }
        );
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(40, 80)]);
        let ins = r.insert(200, &[1; 10], 0, 80);
        assert_eq!(ins.beyond_limit, 10);
        assert_eq!(ins.new, 0);
    }

    #[test]
    fn sack_blocks_most_recent_first() {
        let mut r = Reassembly::new();
        r.insert(10, &[0; 10], 0, 1000);
        r.insert(30, &[0; 10], 0, 1000);
        r.insert(50, &[0; 10], 0, 1000);
        let mut blocks = Vec::new();
        r.sack_blocks(3, &mut blocks);
        assert_eq!(blocks, vec![(50, 60), (30, 40), (10, 20)]);
        r.insert(20, &[0; 10], 0, 1000);
        r.sack_blocks(3, &mut blocks);
        assert_eq!(blocks, vec![(10, 40), (50, 60)]);
        r.drop_before(15);
        r.sack_blocks(1, &mut blocks);
        assert_eq!(blocks, vec![(15, 40)]);
    }

    proptest! {
        /// Any order of overlapping insertions reassembles the original.
        #[test]
        fn reassembles_any_order(
            pieces in prop::collection::vec((0u64..400, 1usize..80), 1..40),
            next in 0u64..50,
        ) {
            let data: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
            let mut r = Reassembly::new();
            let mut covered = vec![false; 600];
            for (start, len) in &pieces {
                let end = (*start as usize + len).min(600);
                r.insert(*start, &data[*start as usize..end], next, 600);
                for c in covered.iter_mut().take(end).skip(*start as usize) {
                    *c = true;
                }
            }
            let held: u64 = covered.iter().skip(next as usize).filter(|c| **c).count() as u64;
            prop_assert_eq!(r.held(), held);
            let (end, out) = drain(&mut r, next);
            let expect_end = next as usize + covered[next as usize..].iter().take_while(|c| **c).count();
            prop_assert_eq!(end as usize, expect_end);
            prop_assert_eq!(&out[..], &data[next as usize..expect_end]);
        }
    }
}
