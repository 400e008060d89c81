//! The connection-level receive buffer, in data sequence space.
//!
//! Data from every subflow lands here by data sequence number: in order it
//! becomes readable, out of order it waits in reassembly, bounded by the
//! window this buffer advertises (RFC 8684 §3.3.4: one receive window for
//! the connection, shared by all subflows). Bytes already received are
//! dropped and counted (duplicates across subflows).

use crate::chunks::ChunkPool;
use crate::reassembly::{Inserted, Reassembly};
use bytes::{Bytes, BytesMut};
use mptcp_wire::DataSeq;
use std::collections::VecDeque;

/// Readable data and out-of-order data.
#[derive(Clone, Debug)]
pub struct RecvBuffer {
    ready: VecDeque<Bytes>,
    ready_len: u64,
    /// The stream's first data sequence number: reassembly works in
    /// offsets from it, so that a stream crossing 2^64 stays in order.
    base: DataSeq,
    nxt: DataSeq,
    ofo: Reassembly,
    capacity: u64,
    /// Where the DATA_FIN sits, once known.
    fin: Option<DataSeq>,
    /// Whether the DATA_FIN was reached (end of stream).
    eof: bool,
    /// Where in-order data is copied to; pieces of it become readable.
    tail: BytesMut,
    spare: ChunkPool,
    /// The size of the next allocation.
    next_chunk: usize,
    /// The size of the tail's allocation.
    tail_size: usize,
}

/// The allocation in-order data is copied into, a piece per segment.
const RECV_CHUNK: usize = 256 * 1024;
/// The first allocation: a connection that carries little (most of them,
/// idle most of the time) holds little; each next one doubles up to
/// [`RECV_CHUNK`].
const FIRST_CHUNK: usize = 4 * 1024;
/// Earlier allocations kept for reuse: with an application that reads
/// as data arrives, the one before the current is free again by the time
/// the current one is full. An idle connection keeps at most this many.
const RECV_SPARE: usize = 4;

impl RecvBuffer {
    /// An empty buffer expecting `start` next.
    pub fn new(start: DataSeq, capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ready: VecDeque::new(),
            ready_len: 0,
            base: start,
            nxt: start,
            ofo: Reassembly::new(),
            capacity: capacity as u64,
            fin: None,
            eof: false,
            tail: BytesMut::new(),
            spare: ChunkPool::default(),
            next_chunk: FIRST_CHUNK,
            tail_size: 0,
        }
    }

    /// Set the next expected byte before anything arrived.
    pub fn rebase(&mut self, start: DataSeq) {
        debug_assert!(self.ready_len == 0 && self.ofo.is_empty());
        self.base = start;
        self.nxt = start;
    }

    /// The next expected data sequence number (what DATA_ACK carries).
    pub fn nxt(&self) -> DataSeq {
        self.nxt
    }

    /// Free space: the window to advertise, counted from `nxt`.
    pub fn space(&self) -> u64 {
        self.capacity.saturating_sub(self.ready_len)
    }

    /// The buffer's size: the most the window ever offers.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Readable bytes.
    pub fn readable(&self) -> u64 {
        self.ready_len
    }

    /// Bytes held out of order.
    pub fn out_of_order(&self) -> u64 {
        self.ofo.held()
    }

    /// The memory the out-of-order data costs, bookkeeping included.
    pub fn out_of_order_cost(&self) -> u64 {
        self.ofo.cost()
    }

    /// Whether the end of the stream was reached.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Whether everything up to the end of the stream has been read.
    pub fn is_finished(&self) -> bool {
        self.eof && self.ready_len == 0
    }

    /// Store data found at `dsn`. Bytes beyond `nxt` wait; bytes before
    /// `nxt` or already held are duplicates; bytes more than the capacity
    /// past `nxt` are dropped. Returns what happened and whether `nxt`
    /// advanced.
    ///
    /// The bound is the capacity, not the free space we advertise: a TCP
    /// sender takes a smaller window only with a newer sequence or
    /// acknowledgment number (RFC 9293 §3.10.7.4), so a peer may pair our
    /// latest DATA_ACK with the larger window an idle subflow advertised
    /// before; what it sends then still fits within one capacity past the
    /// DATA_ACK. Memory stays within twice the capacity.
    pub fn insert(&mut self, dsn: DataSeq, data: &[u8]) -> (Inserted, bool) {
        let nxt = self.offset(self.nxt);
        let limit = nxt.saturating_add(self.capacity);
        let before = self.nxt;
        let ins = if dsn == self.nxt && self.ofo.is_empty() {
            let take = data.len().min(self.capacity as usize);
            if take > 0 {
                let piece = self.copy_in(&data[..take]);
                self.push_ready(piece);
            }
            Inserted {
                new: take as u64,
                duplicate: 0,
                beyond_limit: (data.len() - take) as u64,
                pruned: 0,
            }
        } else {
            self.ofo.insert(self.offset(dsn), data, nxt, limit)
        };
        while let Some(piece) = self.ofo.pop_at(self.offset(self.nxt)) {
            self.push_ready(piece);
        }
        self.check_fin();
        (ins, self.nxt != before)
    }

    /// Where `dsn` lies in the stream (bytes before the stream's start
    /// map far beyond any window, so they are dropped).
    fn offset(&self, dsn: DataSeq) -> u64 {
        dsn.0.wrapping_sub(self.base.0)
    }

    /// `data` copied into the tail's allocation (see [`ChunkPool`]).
    fn copy_in(&mut self, data: &[u8]) -> Bytes {
        if self.tail.capacity() < data.len() {
            let full = std::mem::take(&mut self.tail);
            let want = data.len().max(self.next_chunk);
            self.next_chunk = (2 * self.next_chunk).min(RECV_CHUNK);
            self.tail_size = want;
            self.tail = self.spare.next(full, want, RECV_SPARE);
        }
        self.tail.extend_from_slice(data);
        self.tail.split().freeze()
    }

    fn push_ready(&mut self, piece: Bytes) {
        self.nxt += piece.len() as u64;
        self.ready_len += piece.len() as u64;
        self.ready.push_back(piece);
    }

    /// The DATA_FIN sits at `at` (it occupies one data sequence number).
    /// Returns false if it contradicts an earlier DATA_FIN.
    pub fn set_fin(&mut self, at: DataSeq) -> bool {
        match self.fin {
            Some(f) if f != at => return false,
            _ => self.fin = Some(at),
        }
        self.check_fin();
        true
    }

    fn check_fin(&mut self) {
        if !self.eof && self.fin == Some(self.nxt) {
            self.eof = true;
            self.nxt += 1;
        }
    }

    /// Copy readable bytes into `buf`; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.ready.front_mut() else {
                break;
            };
            let take = front.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[..take]);
            let _ = front.split_to(take);
            if front.is_empty() {
                self.ready.pop_front();
            }
            n += take;
        }
        self.ready_len -= n as u64;
        self.release_small_tail();
        n
    }

    /// Whether an allocation is kept (for data to come).
    pub fn holds_memory(&self) -> bool {
        self.tail_size > 0 || !self.spare.is_empty()
    }

    /// With everything read, let every allocation go (the connection was
    /// idle a while); the next data starts small again.
    pub fn release(&mut self) {
        if self.ready_len == 0 {
            self.tail = BytesMut::new();
            self.tail_size = 0;
            self.spare.clear();
            self.next_chunk = FIRST_CHUNK;
        }
    }

    /// All read: a tail still growing towards [`RECV_CHUNK`] is let go (an
    /// idle connection that carried a few bytes keeps no allocation); a
    /// full-sized one stays for the data to come.
    fn release_small_tail(&mut self) {
        if self.ready_len == 0 && self.tail_size < RECV_CHUNK {
            self.tail = BytesMut::new();
            self.tail_size = 0;
        }
    }

    /// Take the next readable chunk without copying.
    pub fn read_chunk(&mut self, max: usize) -> Option<Bytes> {
        let front = self.ready.front_mut()?;
        let chunk = if front.len() <= max {
            self.ready.pop_front()?
        } else {
            front.split_to(max)
        };
        self.ready_len -= chunk.len() as u64;
        self.release_small_tail();
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_drops_duplicates_and_bounds_by_window() {
        let mut r = RecvBuffer::new(DataSeq(100), 1000);
        let (ins, adv) = r.insert(DataSeq(150), &[2; 50]);
        assert_eq!(ins.new, 50);
        assert!(!adv);
        let (_, adv) = r.insert(DataSeq(100), &[1; 50]);
        assert!(adv);
        assert_eq!(r.nxt(), DataSeq(200));
        // A copy from another subflow: all duplicate.
        let (ins, adv) = r.insert(DataSeq(120), &[1; 30]);
        assert_eq!((ins.new, ins.duplicate, adv), (0, 30, false));
        // Up to one capacity past nxt is held (a peer may pair a newer
        // DATA_ACK with an older, larger window); beyond that, dropped.
        let (ins, _) = r.insert(DataSeq(1150), &[3; 100]);
        assert_eq!((ins.new, ins.beyond_limit), (50, 50));
        let mut buf = [0u8; 120];
        assert_eq!(r.read(&mut buf), 100);
        assert_eq!(buf[0], 1);
        assert_eq!(buf[50], 2);
        assert_eq!(r.space(), 1000);
    }

    #[test]
    fn read_data_frees_its_allocation_for_later_data() {
        let mut r = RecvBuffer::new(DataSeq(0), 1 << 20);
        let seg = [5u8; 1000];
        let mut buf = vec![0u8; 1 << 20];
        let mut at = DataSeq(0);
        // Ten allocations' worth, read as it arrives.
        for _ in 0..10 * RECV_CHUNK / seg.len() {
            r.insert(at, &seg);
            at += seg.len() as u64;
            assert_eq!(r.read(&mut buf), seg.len());
            assert_eq!(buf[..seg.len()], seg);
        }
        // The first few grow from 4 KiB; then two of the full size in turn.
        let ramp = (RECV_CHUNK / FIRST_CHUNK).ilog2() as u64;
        assert_eq!(r.spare.fresh(), ramp + 2, "the two allocations in turn");
    }

    #[test]
    fn a_connection_that_carries_little_holds_little() {
        let mut r = RecvBuffer::new(DataSeq(0), 1 << 20);
        r.insert(DataSeq(0), b"x");
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf), 1);
        assert_eq!(r.tail.capacity(), 0);
    }

    #[test]
    fn data_fin_ends_the_stream_after_the_data() {
        let mut r = RecvBuffer::new(DataSeq(0), 1000);
        assert!(r.set_fin(DataSeq(10)));
        assert!(!r.is_eof());
        assert!(!r.set_fin(DataSeq(11)), "contradicting DATA_FIN");
        r.insert(DataSeq(0), &[7; 10]);
        assert!(r.is_eof());
        assert_eq!(r.nxt(), DataSeq(11), "DATA_FIN occupies one number");
        assert!(!r.is_finished());
        assert_eq!(r.read_chunk(100).map(|b| b.len()), Some(10));
        assert!(r.is_finished());
    }

    #[test]
    fn a_stream_crossing_two_to_the_64_stays_in_order() {
        let start = DataSeq(u64::MAX - 99);
        let mut r = RecvBuffer::new(start, 1000);
        // Out of order across the wrap, then the hole filled.
        let (ins, adv) = r.insert(start + 150, &[3; 50]);
        assert_eq!((ins.new, adv), (50, false));
        let (ins, adv) = r.insert(start + 50, &[2; 100]);
        assert_eq!((ins.new, adv), (100, false));
        let (_, adv) = r.insert(start, &[1; 50]);
        assert!(adv);
        assert_eq!(r.nxt(), DataSeq(100), "past 2^64");
        let (ins, _) = r.insert(start + 10, &[1; 10]);
        assert_eq!(ins.duplicate, 10);
        assert!(r.set_fin(DataSeq(100)));
        assert!(r.is_eof());
        let mut buf = [0u8; 300];
        assert_eq!(r.read(&mut buf), 200);
        assert_eq!((buf[0], buf[50], buf[150]), (1, 2, 3));
    }
}
