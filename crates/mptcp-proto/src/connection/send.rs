//! The connection-level send buffer, in data sequence space.
//!
//! Bytes stay here from the application's write until the peer's DATA_ACK
//! (or, for plain TCP, the subflow's cumulative ACK) covers them, so any of
//! them can be sent again on another subflow. Small writes coalesce in an
//! unfrozen tail, so segments are full-sized whatever the write pattern.

use crate::chunks::ChunkPool;
use bytes::{Bytes, BytesMut};
use mptcp_wire::DataSeq;
use std::collections::VecDeque;

/// The most one allocation of the tail holds; it is frozen into a chunk
/// once full. Large, so that the pieces a subflow takes (a mapping's
/// worth, just under 64 KiB) seldom straddle two chunks, which costs a
/// copy; small writes allocate [`SMALL_TAIL`] at a time.
const TAIL_CHUNK: usize = 1 << 20;
const SMALL_TAIL: usize = 64 * 1024;

/// Written, unacknowledged data and where sending stands.
#[derive(Clone, Debug)]
pub struct SendBuffer {
    /// Frozen chunks, contiguous, starting at `una`.
    chunks: VecDeque<(DataSeq, Bytes)>,
    /// Written bytes not yet frozen; they start at `tail_start`.
    tail: BytesMut,
    tail_start: DataSeq,
    una: DataSeq,
    /// The next byte never handed to a subflow.
    nxt: DataSeq,
    capacity: usize,
    /// Ranges to send again, oldest first.
    reinject: VecDeque<(DataSeq, u64)>,
    /// Handles on earlier tails' allocations, for reuse once released:
    /// about as many as the capacity spans, dropped when all is
    /// acknowledged.
    spare: ChunkPool,
}

impl SendBuffer {
    /// An empty buffer whose first byte will be `start`.
    pub fn new(start: DataSeq, capacity: usize) -> SendBuffer {
        SendBuffer {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            tail_start: start,
            una: start,
            nxt: start,
            capacity,
            reinject: VecDeque::new(),
            spare: ChunkPool::default(),
        }
    }

    /// Move the buffer to start at `start` (the initial data sequence
    /// number became known). Data may already be written, but nothing may
    /// have been sent yet; otherwise nothing changes.
    pub fn rebase(&mut self, start: DataSeq) {
        if self.nxt != self.una {
            return;
        }
        let old = self.una;
        let shift = |d: DataSeq| start + d.bytes_since(old);
        for (s, _) in self.chunks.iter_mut() {
            *s = shift(*s);
        }
        self.tail_start = shift(self.tail_start);
        self.una = start;
        self.nxt = start;
        self.reinject.clear();
    }

    /// The first unacknowledged byte.
    pub fn una(&self) -> DataSeq {
        self.una
    }

    /// The next byte never sent.
    pub fn nxt(&self) -> DataSeq {
        self.nxt
    }

    /// The end of the written data.
    pub fn end(&self) -> DataSeq {
        self.tail_start + self.tail.len() as u64
    }

    /// Bytes written and not yet acknowledged.
    pub fn buffered(&self) -> u64 {
        self.end().bytes_since(self.una)
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered() == 0
    }

    /// Whether an allocation is kept for later writes.
    pub fn holds_memory(&self) -> bool {
        self.tail.capacity() > 0 || !self.spare.is_empty()
    }

    /// With everything acknowledged, let every allocation go (the
    /// connection was idle a while).
    pub fn release(&mut self) {
        if self.is_empty() {
            self.tail = BytesMut::new();
            self.spare.clear();
        }
    }

    /// Bytes written but never sent.
    pub fn unsent(&self) -> u64 {
        self.end().bytes_since(self.nxt)
    }

    /// Room for more writes.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buffered() as usize)
    }

    /// Copy in as much of `data` as fits; returns how much.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let spare = self.tail.capacity() - self.tail.len();
            if spare == 0 {
                // Full: a fresh allocation, the full one frozen whole (the
                // tail is empty, so nothing is copied to grow it).
                self.freeze_tail(self.tail.len());
                self.next_tail(rest.len().clamp(SMALL_TAIL, TAIL_CHUNK));
                continue;
            }
            let take = rest.len().min(spare);
            self.tail.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        n
    }

    /// Take as much of `data` as fits, without copying it when it is large
    /// (at least [`SMALL_TAIL`] bytes taken): it becomes a chunk of its
    /// own, which segments are cut from as views; smaller pieces are
    /// copied into the tail, so that small writes still make full-sized
    /// segments. Returns how much was taken.
    pub fn write_bytes(&mut self, data: bytes::Bytes) -> usize {
        let n = data.len().min(self.free());
        if n < SMALL_TAIL {
            return self.write(&data[..n]);
        }
        self.freeze_tail(self.tail.len());
        self.chunks.push_back((self.tail_start, data.slice(..n)));
        self.tail_start += n as u64;
        n
    }

    /// A new tail of `want` bytes, an earlier allocation when one was
    /// released (see [`ChunkPool`]); as many kept as the capacity spans.
    fn next_tail(&mut self, want: usize) {
        let full = std::mem::take(&mut self.tail);
        let max = self.capacity / TAIL_CHUNK + 2;
        self.tail = self.spare.next(full, want, max);
    }

    fn freeze_tail(&mut self, len: usize) {
        let len = len.min(self.tail.len());
        if len == 0 {
            return;
        }
        let chunk = self.tail.split_to(len).freeze();
        self.chunks.push_back((self.tail_start, chunk));
        self.tail_start += len as u64;
    }

    /// Up to `max` bytes starting at `from`, without copying when they lie
    /// within one chunk.
    pub fn slice(&mut self, from: DataSeq, max: usize) -> Bytes {
        if from.lt(self.una) || from.ge(self.end()) || max == 0 {
            return Bytes::new();
        }
        let want_end = (from + max as u64).min(self.end());
        if want_end.gt(self.tail_start) {
            self.freeze_tail(want_end.bytes_since(self.tail_start) as usize);
        }
        let idx = self
            .chunks
            .partition_point(|(s, c)| (*s + c.len() as u64).le(from));
        let Some((start, chunk)) = self.chunks.get(idx) else {
            return Bytes::new();
        };
        let off = from.bytes_since(*start) as usize;
        let end_in_chunk = (want_end.bytes_since(*start) as usize).min(chunk.len());
        if want_end.le(*start + chunk.len() as u64) {
            return chunk.slice(off..end_in_chunk);
        }
        // Spans chunks: gather (rare; chunks are large).
        let mut out = BytesMut::with_capacity(want_end.bytes_since(from) as usize);
        let mut at = from;
        for (s, c) in self.chunks.range(idx..) {
            if at.ge(want_end) {
                break;
            }
            let o = at.bytes_since(*s) as usize;
            let e = (want_end.bytes_since(*s) as usize).min(c.len());
            out.extend_from_slice(&c[o..e]);
            at = *s + e as u64;
        }
        out.freeze()
    }

    /// Hand out the next never-sent bytes, at most `max`.
    pub fn take_new(&mut self, max: usize) -> Option<(DataSeq, Bytes)> {
        let n = (self.unsent() as usize).min(max);
        if n == 0 {
            return None;
        }
        let from = self.nxt;
        let bytes = self.slice(from, n);
        self.nxt += bytes.len() as u64;
        Some((from, bytes))
    }

    /// Queue `[from, from + len)` for sending again.
    pub fn queue_reinject(&mut self, from: DataSeq, len: u64) {
        let from = from.max(self.una);
        let end = (from + len).min(self.nxt);
        if end.gt(from)
            && !self
                .reinject
                .iter()
                .any(|&(s, l)| s.le(from) && end.le(s + l))
        {
            self.reinject.push_back((from, end.bytes_since(from)));
        }
    }

    /// Drop every queued reinjection.
    pub fn clear_reinject(&mut self) {
        self.reinject.clear();
    }

    /// Whether reinjections are queued.
    pub fn has_reinject(&self) -> bool {
        !self.reinject.is_empty()
    }

    /// The next queued reinjection, at most `max` bytes; acknowledged parts
    /// are skipped.
    pub fn take_reinject(&mut self, max: usize) -> Option<(DataSeq, Bytes)> {
        while let Some((from, len)) = self.reinject.pop_front() {
            let end = from + len;
            let from = from.max(self.una);
            if from.ge(end) {
                continue;
            }
            let n = (end.bytes_since(from) as usize).min(max);
            let bytes = self.slice(from, n);
            let sent_to = from + bytes.len() as u64;
            if sent_to.lt(end) {
                self.reinject
                    .push_front((sent_to, end.bytes_since(sent_to)));
            }
            if !bytes.is_empty() {
                return Some((from, bytes));
            }
        }
        None
    }

    /// The peer acknowledged everything before `ack`; returns bytes freed.
    /// Acknowledgments beyond what was sent are ignored.
    pub fn ack(&mut self, ack: DataSeq) -> u64 {
        if ack.le(self.una) || ack.gt(self.nxt) {
            return 0;
        }
        let freed = ack.bytes_since(self.una);
        self.una = ack;
        while let Some((start, chunk)) = self.chunks.front_mut() {
            let end = *start + chunk.len() as u64;
            if end.le(ack) {
                self.chunks.pop_front();
            } else {
                if start.lt(ack) {
                    let _ = chunk.split_to(ack.bytes_since(*start) as usize);
                    *start = ack;
                }
                break;
            }
        }
        if self.una == self.end() {
            // All acknowledged: an idle connection holds no spare memory.
            self.spare.clear();
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large write lands in one allocation, and the mapping-sized
    /// pieces subflows take out of it are views, not copies.
    #[test]
    fn pieces_of_a_large_write_are_not_copied() {
        let mut b = SendBuffer::new(DataSeq(0), 8 << 20);
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        assert_eq!(b.write(&data), data.len());
        let piece = 45 * 1448;
        let (_, first) = b.take_new(piece).expect("first");
        let mut end = first.as_ptr() as usize + first.len();
        let mut at = first.len();
        while let Some((_, p)) = b.take_new(piece) {
            assert_eq!(&p[..], &data[at..at + p.len()]);
            assert_eq!(p.as_ptr() as usize, end, "the piece at {at} was copied");
            end += p.len();
            at += p.len();
        }
        assert_eq!(at, data.len());
    }

    /// A large `Bytes` written is cut into segments without a copy, and
    /// what is written around it, copied, lands in order.
    #[test]
    fn large_bytes_are_sent_from_where_they_are() {
        let mut b = SendBuffer::new(DataSeq(0), 8 << 20);
        let big = Bytes::from((0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        assert_eq!(b.write(b"head"), 4);
        assert_eq!(b.write_bytes(big.clone()), big.len());
        assert_eq!(b.write_bytes(Bytes::from_static(b"tail")), 4);
        let (_, first) = b.take_new(4).expect("head");
        assert_eq!(&first[..], b"head");
        let mut at = 0;
        while at < big.len() {
            let (dsn, p) = b.take_new(64_000.min(big.len() - at)).expect("piece");
            assert_eq!(dsn, DataSeq(4 + at as u64));
            assert_eq!(&p[..], &big[at..at + p.len()]);
            assert_eq!(
                p.as_ptr(),
                big[at..].as_ptr(),
                "the piece at {at} was copied"
            );
            at += p.len();
        }
        let (dsn, last) = b.take_new(100).expect("tail");
        assert_eq!((dsn, &last[..]), (DataSeq(4 + (1 << 20)), &b"tail"[..]));
        // An acknowledgment across the chunks counts every byte; the
        // capacity bounds what is taken.
        assert_eq!(b.ack(DataSeq(8 + (1 << 20))), 8 + (1 << 20));
        let mut full = SendBuffer::new(DataSeq(0), 100_000);
        assert_eq!(full.write_bytes(big.clone()), 100_000);
        assert_eq!(full.write_bytes(big), 0);
    }

    #[test]
    fn small_writes_coalesce_into_full_segments() {
        let mut b = SendBuffer::new(DataSeq(1000), 1 << 20);
        for i in 0..100u8 {
            assert_eq!(b.write(&[i; 30]), 30);
        }
        let (seq, seg) = b.take_new(1448).expect("data");
        assert_eq!(seq, DataSeq(1000));
        assert_eq!(seg.len(), 1448);
        assert_eq!(seg[0], 0);
        assert_eq!(seg[30], 1);
        let (seq, seg) = b.take_new(5000).expect("rest");
        assert_eq!(seq, DataSeq(2448));
        assert_eq!(seg.len(), 3000 - 1448);
        assert!(b.take_new(10).is_none());
    }

    #[test]
    fn capacity_bounds_writes_and_acks_free() {
        let mut b = SendBuffer::new(DataSeq(0), 100);
        assert_eq!(b.write(&[1; 150]), 100);
        assert_eq!(b.free(), 0);
        let _ = b.take_new(60);
        assert_eq!(b.ack(DataSeq(80)), 0, "beyond what was sent");
        assert_eq!(b.ack(DataSeq(40)), 40);
        assert_eq!(b.free(), 40);
        assert_eq!(b.slice(DataSeq(40), 10).len(), 10);
        assert!(
            b.slice(DataSeq(39), 10).is_empty(),
            "acknowledged bytes are gone"
        );
    }

    #[test]
    fn reinjection_resends_unacked_ranges() {
        let mut b = SendBuffer::new(DataSeq(0), 1 << 16);
        let data: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        b.write(&data);
        while b.take_new(1000).is_some() {}
        b.queue_reinject(DataSeq(2000), 3000);
        b.queue_reinject(DataSeq(2500), 100); // already covered
        b.ack(DataSeq(2500));
        let (seq, bytes) = b.take_reinject(1000).expect("reinject");
        assert_eq!(seq, DataSeq(2500));
        assert_eq!(&bytes[..], &data[2500..3500]);
        let (seq, bytes) = b.take_reinject(5000).expect("rest");
        assert_eq!(seq, DataSeq(3500));
        assert_eq!(bytes.len(), 1500);
        assert!(b.take_reinject(10).is_none());
    }

    #[test]
    fn rebase_keeps_unsent_data() {
        let mut b = SendBuffer::new(DataSeq(0), 1 << 20);
        b.write(&[5; 100_000]);
        b.rebase(DataSeq(1 << 40));
        assert_eq!(b.una(), DataSeq(1 << 40));
        assert_eq!(b.end(), DataSeq((1 << 40) + 100_000));
        let (seq, bytes) = b.take_new(70_000).expect("data");
        assert_eq!((seq, bytes.len()), (DataSeq(1 << 40), 70_000));
        // Once something was sent, the numbers are fixed.
        b.rebase(DataSeq(7));
        assert_eq!(b.una(), DataSeq(1 << 40));
    }

    #[test]
    fn released_tails_are_reused() {
        let mut b = SendBuffer::new(DataSeq(0), 4 << 20);
        let data = vec![7u8; TAIL_CHUNK];
        assert_eq!(b.write(&data), TAIL_CHUNK);
        let (_, first) = b.take_new(TAIL_CHUNK).expect("first megabyte");
        let first_at = first.as_ptr();
        b.write(&data);
        b.take_new(1).expect("a byte of the second");
        drop(first);
        // The first megabyte acknowledged (not all: the spare stays).
        b.ack(DataSeq(TAIL_CHUNK as u64));
        b.write(&data);
        b.take_new(TAIL_CHUNK - 1).expect("the rest of the second");
        let (_, third) = b.take_new(TAIL_CHUNK).expect("the third");
        assert_eq!(third.as_ptr(), first_at, "the first allocation again");
        b.ack(b.end());
        assert!(b.spare.is_empty(), "nothing kept once all is acknowledged");
    }

    #[test]
    fn an_idle_buffer_holds_no_allocation() {
        let mut b = SendBuffer::new(DataSeq(0), 4 << 20);
        b.write(b"x");
        assert!(b.tail.capacity() >= SMALL_TAIL - 1);
        let (_, sent) = b.take_new(1).expect("the byte");
        drop(sent);
        b.ack(DataSeq(1));
        // Kept for the next write until the connection was idle a while;
        // 64 KiB per idle connection would be 6.4 GB for 100,000.
        assert!(b.holds_memory());
        b.release();
        assert!(!b.holds_memory());
        assert_eq!(b.tail.capacity(), 0);
        // And the next write still lands.
        assert_eq!(b.write(b"yz"), 2);
        assert_eq!(&b.slice(DataSeq(1), 2)[..], b"yz");
    }

    #[test]
    fn slices_across_chunks_gather() {
        let mut b = SendBuffer::new(DataSeq(0), 1 << 20);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        b.write(&data);
        let s = b.slice(DataSeq(65_000), 2_000);
        assert_eq!(&s[..], &data[65_000..67_000]);
    }
}
