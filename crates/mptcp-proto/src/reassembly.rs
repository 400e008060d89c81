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
    /// Bytes held before (or just stored) that were dropped again, the
    /// farthest first, to keep the memory cost within its budget.
    pub pruned: u64,
}

/// What one held piece costs beyond its bytes (its buffer's header and
/// allocation, its map entry): an estimate on the high side.
pub const PIECE_COST: u64 = 128;

/// What one merged range costs (its map entry).
pub const RANGE_COST: u64 = 64;

/// Adjacent pieces are merged into one buffer up to this size, so that
/// small segments do not each keep an allocation.
const COALESCE_UP_TO: usize = 4096;

/// The memory budget always allowed, whatever the window.
const BUDGET_FLOOR: u64 = 64 * 1024;

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

    /// What the held data costs in memory, bookkeeping included (an
    /// estimate: bytes, plus [`PIECE_COST`] per piece and [`RANGE_COST`]
    /// per range).
    pub fn cost(&self) -> u64 {
        self.held + self.pieces.len() as u64 * PIECE_COST + self.ranges.len() as u64 * RANGE_COST
    }

    /// Pieces held.
    pub fn pieces(&self) -> usize {
        self.pieces.len()
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
    ///
    /// The memory cost ([`Reassembly::cost`]) stays within twice the
    /// window (`limit - next`, at least 64 KiB): beyond that the farthest
    /// pieces are dropped again (the peer retransmits them, as after any
    /// loss), so that data sent in tiny pieces cannot cost a hundred times
    /// its size (RFC 7430's spirit: state bounded under attack).
    pub fn insert(&mut self, start: u64, data: &[u8], next: u64, limit: u64) -> Inserted {
        let mut out = self.insert_within(start, data, next, limit);
        let budget = 2 * limit.saturating_sub(next).max(BUDGET_FLOOR / 2);
        out.pruned = self.prune_to(budget, next);
        out
    }

    /// Drop the farthest pieces until the cost is within `budget` (never
    /// a piece at `next`, which is about to be taken). Returns the bytes
    /// dropped.
    fn prune_to(&mut self, budget: u64, next: u64) -> u64 {
        let mut dropped = 0;
        while self.cost() > budget {
            let Some((&s, _)) = self.pieces.last_key_value() else {
                break;
            };
            if s <= next {
                break;
            }
            let piece = self.pieces.remove(&s).unwrap_or_default();
            let len = piece.len() as u64;
            self.held -= len;
            dropped += len;
            // The piece was the highest: it ends the last range.
            if let Some((&rs, _)) = self.ranges.last_key_value() {
                self.ranges.remove(&rs);
                if rs < s {
                    self.ranges.insert(rs, s);
                }
            }
            self.recent.retain(|r| *r < s);
        }
        dropped
    }

    fn insert_within(&mut self, start: u64, data: &[u8], next: u64, limit: u64) -> Inserted {
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
        let end = at + bytes.len() as u64;
        // Merge with a small piece just before and one just after.
        let before = self
            .pieces
            .range(..at)
            .next_back()
            .filter(|(s, p)| **s + p.len() as u64 == at && p.len() + bytes.len() <= COALESCE_UP_TO)
            .map(|(s, _)| *s);
        let after = self
            .pieces
            .get(&end)
            .filter(|p| p.len() + bytes.len() <= COALESCE_UP_TO)
            .is_some();
        if before.is_none() && !after {
            self.pieces.insert(at, Bytes::copy_from_slice(bytes));
            return;
        }
        let mut merged = Vec::with_capacity(COALESCE_UP_TO.min(bytes.len() * 2 + 64));
        let first = match before {
            Some(s) => {
                merged.extend_from_slice(&self.pieces.remove(&s).unwrap_or_default());
                s
            }
            None => at,
        };
        merged.extend_from_slice(bytes);
        if after && merged.len() < COALESCE_UP_TO * 2 {
            merged.extend_from_slice(&self.pieces.remove(&end).unwrap_or_default());
        }
        self.pieces.insert(first, Bytes::from(merged));
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
                beyond_limit: 20,
                pruned: 0,
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

    #[test]
    fn tiny_pieces_cannot_cost_more_than_twice_the_window() {
        // Every other byte of a 200 KB window, one byte at a time: without
        // a budget each byte would cost a piece and a range (~190 bytes).
        let mut r = Reassembly::new();
        let window = 200_000u64;
        let mut pruned = 0;
        for i in 0..window / 2 {
            pruned += r.insert(1 + 2 * i, &[7], 0, window).pruned;
            assert!(r.cost() <= 2 * window, "cost {} at {i}", r.cost());
        }
        assert!(pruned > 0);
        assert!(r.held() < window / 50, "held {}", r.held());
        // The lowest pieces stay: what was pruned was the farthest.
        assert_eq!(r.ranges().next(), Some((1, 2)));
        // Byte by byte in order (after a hole) they merge into few pieces.
        let mut r = Reassembly::new();
        for i in 0..100_000u64 {
            r.insert(1 + i, &[(i % 251) as u8], 0, 1 << 20);
        }
        assert_eq!(r.held(), 100_000);
        assert!(r.pieces() <= 100_000 / 4096 + 2, "{} pieces", r.pieces());
        r.insert(0, &[9], 0, 1 << 20);
        let (next, out) = drain(&mut r, 0);
        assert_eq!(next, 100_001);
        assert!(
            out[1..]
                .iter()
                .enumerate()
                .all(|(i, b)| *b == (i % 251) as u8)
        );
    }

    proptest! {
        /// With a small window (so that pruning happens), whatever is
        /// delivered is still exactly the original, and the cost stays
        /// within the budget.
        #[test]
        fn pruning_never_corrupts(
            pieces in prop::collection::vec((0u64..40_000, 1usize..300), 1..400),
        ) {
            let data: Vec<u8> = (0..41_000u32).map(|i| (i * 13 % 251) as u8).collect();
            let mut r = Reassembly::new();
            let mut next = 0u64;
            let mut out = Vec::new();
            for (start, len) in &pieces {
                let end = (*start as usize + len).min(data.len());
                r.insert(*start, &data[*start as usize..end], next, next + 40_000);
                prop_assert!(r.cost() <= 2 * 40_000 + 4096 + 2 * 192);
                while let Some(p) = r.pop_at(next) {
                    next += p.len() as u64;
                    out.extend_from_slice(&p);
                }
            }
            prop_assert_eq!(&out[..], &data[..next as usize]);
        }

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
