//! Sending: which subflow carries which bytes, and when. (The data-level
//! timers are in `timers.rs`; what goes out again, in `reinject.rs`.)
//!
//! Data stays in the connection's send buffer until the peer acknowledges
//! it at the data level. Subflows get it late, a segment at a time, when
//! their windows have room and the scheduler picks them. Reinjections (data
//! stranded on a failed or stalled subflow) go before new data.

use super::Connection;
use super::dss::send_checksum;
use super::mptcp::{DataFinTx, Mode};
use super::owner::Owner;
use super::reinject::is_stale;
use crate::scheduler::{PathView, SchedContext};
use crate::segment::PacketBuf;
use crate::stats::Mib;
use crate::subflow::FourTuple;
use crate::time::{Duration, Instant};
use mptcp_wire::DataSeq;

/// Option bytes each data segment gives to its DSS option: DATA_ACK and a
/// 64-bit mapping take 26 bytes, 28 with the checksum. The subflow adds the
/// timestamps option (10 bytes) if in use and pads the sum to a multiple of
/// four: 36 or 40 bytes with timestamps, 28 without.
pub fn dss_reserve(checksum: bool) -> u32 {
    if checksum { 28 } else { 26 }
}

/// The most bytes one mapping covers: as many whole segments of `mss` as
/// the DSS length field holds. A chunk this size is one scheduling
/// decision, and one mapping every segment cut from it carries (so that a
/// runtime may hand the segments to the OS as one, for segmentation
/// offload). With segmentation offload (`trains`), the segments and one
/// copy of the headers (IPv4 and TCP, at most 80 bytes) must also fit the
/// 65535 bytes of one IP packet: a mapping one segment longer than that
/// left as two writes, the second of one segment.
fn max_chunk(mss: u64, trains: bool) -> u64 {
    let limit = u64::from(u16::MAX) - if trains { TRAIN_HEADERS } else { 0 };
    (limit / mss.max(1)).max(1) * mss
}

/// The most header bytes a segmentation train carries once: an IPv4 header
/// without options and a TCP header with the most options (an IPv6 train
/// may hold 65535 bytes after its fixed header, so needs less).
const TRAIN_HEADERS: u64 = 20 + 60;

/// Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): of `space`
/// bytes of room, only whole segments of `mss`, unless that room takes
/// all `unsent` data or nothing is in flight. A segment cut to fit what
/// is left of the window costs a packet, and on a path that loses packets
/// whatever their size, a share of the loss budget, for a few bytes.
fn whole_segments(space: u64, mss: u64, unsent: u64, in_flight: u64) -> u64 {
    if space >= unsent || in_flight == 0 || mss == 0 {
        space
    } else {
        space / mss * mss
    }
}

impl Connection {
    /// Write the next packet due on any subflow into `buf`; returns its
    /// length and the subflow's addresses.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(usize, FourTuple)> {
        self.poll_transmit_into(now, &mut PacketBuf::copying(buf))
    }

    /// [`Self::poll_transmit`] into a [`PacketBuf`] (which may keep the
    /// payload aside).
    pub fn poll_transmit_into(
        &mut self,
        now: Instant,
        buf: &mut PacketBuf<'_>,
    ) -> Option<(usize, FourTuple)> {
        self.last_now = now;
        self.prepare_data_fin();
        let mut budget = 256;
        while budget > 0 && self.schedule(now) {
            budget -= 1;
        }
        for idx in 0..self.subflows.len() {
            let entry = &mut self.subflows[idx];
            let mut owner = Owner {
                data: &mut self.data,
                path: &mut entry.path,
                now,
            };
            if let Some(n) = entry.sf.poll_transmit_into(now, &mut owner, buf) {
                let tuple = entry.sf.tuple();
                self.after_activity(idx, now);
                return Some((n, tuple));
            }
            self.after_activity(idx, now);
        }
        None
    }

    /// Whether the last [`Connection::poll_transmit`] held a packet back
    /// because the buffer was too small for it (it stays due).
    pub fn wants_larger_buffer(&self) -> bool {
        self.subflows.iter().any(|e| e.sf.wants_larger_buffer())
    }

    /// Hand one chunk to a subflow. Returns whether something was pushed.
    fn schedule(&mut self, now: Instant) -> bool {
        if self.data.mode.is_tcp() {
            return self.feed_tcp();
        }
        let Some(mp) = self.data.mode.mptcp() else {
            return false;
        };
        if !mp.is_established() {
            return false;
        }
        if self.role == super::Role::Client
            && mp.version == crate::crypto::MptcpVersion::V0
            && !mp.keys_sent
        {
            // v0: the keys travel on a pure third ACK before any data.
            self.subflows[0].sf.request_ack();
            return false;
        }
        let window_end = mp.window_end;
        let checksum = mp.checksum;
        // Until the server showed it has our key, the first data rides in
        // MP_CAPABLE, whose mapping covers one segment.
        let chunky = mp.fully_established;
        let trains = self.config.subflow.segmentation_offload;
        let (views, index) = self.path_views();
        let room = window_end.bytes_since(self.data.send.nxt());
        let send_window = window_end.bytes_since(self.data.send.una());
        let ctx = SchedContext {
            now,
            unsent: self.data.send.unsent(),
            window_room: room,
            send_window: send_window.min(self.config.send_buffer as u64),
        };
        if self.data.send.has_reinject()
            && self.data.may_fall_back()
            && self.subflows.len() == 1
            && self.subflows[0].sf.send_queue().has_outstanding()
        {
            // Only ever one subflow, still retransmitting at its own level:
            // that suffices, and resending on it at the data level would end
            // the one-to-one run of the streams that a fallback needs. Data
            // the subflow has delivered but the peer's data level lost
            // (DATA_ACK stuck, nothing outstanding) is resent; so is what a
            // closed join held (the table may be down to one subflow).
            self.data.send.clear_reinject();
        }
        if self.data.send.has_reinject()
            && let Some(i) = self.scheduler.select_reinject(&views, &ctx)
        {
            let idx = index[i];
            let mss = u64::from(self.subflows[idx].sf.send_mss());
            let chunk = if chunky { max_chunk(mss, trains) } else { mss };
            let max = chunk.min(views[i].send_space) as usize;
            if let Some((dsn, bytes)) = self.data.send.take_reinject(max) {
                self.data.mib.inc(Mib::MPTCPRetrans);
                self.data.forbid_fallback();
                self.push(idx, dsn, bytes, checksum);
                return true;
            }
        }
        let want = self.data.send.unsent().min(room);
        // Data waits on the peer's window: none left, or too little for
        // any subflow to take a chunk (a window that shrank under what was
        // offered before, or rounding). With nothing in flight, only a
        // probe will learn when it opens (the update may be lost).
        let window_bound = room == 0 || views.iter().all(|v| v.send_space == 0);
        self.set_send_pending(&index, self.data.send.unsent() > 0 && window_bound);
        if want == 0 {
            return self.config.mptcp.opportunistic_reinjection
                && self.opportunistic_reinject(&views, &index, checksum);
        }
        let mut chosen = Vec::new();
        self.scheduler.select(&views, &ctx, &mut chosen);
        let Some(&first) = chosen.first() else {
            return false;
        };
        let chunk = chosen
            .iter()
            .map(|&i| {
                let mss = u64::from(self.subflows[index[i]].sf.send_mss());
                let chunk = if chunky { max_chunk(mss, trains) } else { mss };
                chunk.min(views[i].send_space)
            })
            .min()
            .unwrap_or(0);
        let Some((dsn, bytes)) = self.data.send.take_new(want.min(chunk) as usize) else {
            return false;
        };
        for &i in &chosen {
            self.push(index[i], dsn, bytes.clone(), checksum);
        }
        let _ = first;
        true
    }

    /// A chunk onto subflow `idx`, with its DSS checksum when in use.
    pub(super) fn push(&mut self, idx: usize, dsn: DataSeq, bytes: bytes::Bytes, checksum: bool) {
        let sf = &mut self.subflows[idx].sf;
        let csum = checksum.then(|| {
            let ssn = (sf.next_push_seq() - sf.view().iss) as u32;
            send_checksum(dsn, ssn, &bytes)
        });
        sf.push(bytes, Some(dsn), csum);
    }

    /// The scheduler's view of every subflow that can carry data now, with
    /// their indices in `self.subflows`. Stale subflows (see
    /// [`is_stale`]) are left out while any other can carry data.
    fn path_views(&self) -> (Vec<PathView>, Vec<usize>) {
        let mut views = Vec::new();
        let mut index = Vec::new();
        let now = self.last_now;
        let usable = |e: &super::PathEntry| {
            e.sf.state().can_send() && e.path.takes_data(now) && !e.path.fin_queued
        };
        let any_fresh = self.subflows.iter().any(|e| usable(e) && !is_stale(e));
        for (i, e) in self.subflows.iter().enumerate() {
            if !usable(e) || (any_fresh && is_stale(e)) {
                continue;
            }
            let rtt = e.sf.rtt();
            let srtt = rtt.srtt_or_initial();
            views.push(PathView {
                id: e.sf.id(),
                srtt,
                rttvar: rtt
                    .rttvar()
                    .unwrap_or(Duration::from_micros(srtt.as_micros() / 2)),
                cwnd: e.sf.cwnd(),
                in_flight: e.sf.in_flight(),
                unacked: unacked(&e.sf.view()),
                send_space: whole_segments(
                    e.sf.send_space(),
                    u64::from(e.sf.send_mss()),
                    self.data.send.unsent(),
                    e.sf.in_flight(),
                ),
                mss: e.sf.send_mss(),
                backup: e.path.backup || e.path.peer_backup,
                in_recovery: e.sf.in_recovery(),
            });
            index.push(i);
        }
        (views, index)
    }

    /// Let the subflows probe the peer's window when data waits for it:
    /// each that has nothing in flight arms its persist timer (one with
    /// data in flight learns the window from its ACKs, or times out). All
    /// of them, not one: the one chosen could be on a path that died, and
    /// the window update that ended the wait may have been lost.
    fn set_send_pending(&mut self, index: &[usize], blocked: bool) {
        for &i in index {
            self.subflows[i].sf.set_send_pending(blocked);
        }
    }

    /// TCP mode: feed the first subflow (late binding) and close it after
    /// the last byte.
    fn feed_tcp(&mut self) -> bool {
        let trains = self.config.subflow.segmentation_offload;
        let Some(entry) = self.subflows.first_mut() else {
            return false;
        };
        let sf = &mut entry.sf;
        let mss = u64::from(sf.send_mss());
        let unsent = self.data.send.unsent();
        let space = whole_segments(sf.send_space(), mss, unsent, sf.in_flight());
        let mut pushed = false;
        if unsent > 0
            && space > 0
            && let Some((dsn, bytes)) = self
                .data
                .send
                .take_new(space.min(max_chunk(mss, trains)) as usize)
        {
            sf.push(bytes, Some(dsn), None);
            pushed = true;
        }
        sf.set_send_pending(self.data.send.unsent() > 0);
        if self.shutdown && self.data.send.unsent() == 0 && !entry.path.fin_queued {
            entry.path.fin_queued = true;
            sf.close();
        }
        pushed
    }

    /// MPTCP: once the application shut down and every byte went out, queue
    /// the DATA_FIN (RFC 8684 §3.3.3) and ask a subflow to carry it.
    fn prepare_data_fin(&mut self) {
        if !self.shutdown {
            return;
        }
        let end = self.data.send.end();
        let idle = self.data.send.unsent() == 0 && !self.data.send.has_reinject();
        let Mode::Mptcp(mp) = &mut self.data.mode else {
            return;
        };
        if mp.data_fin != DataFinTx::NotYet || !idle || !mp.is_established() {
            return;
        }
        mp.data_fin = DataFinTx::Pending(end);
        // On every subflow at once: one lost pure ACK must not hold the
        // close for a retransmission timeout.
        self.request_ack_on_all();
    }

    /// An ACK on every live subflow: a lost DATA_FIN goes out on all of
    /// them, so one dead path cannot hold the connection's close.
    pub(super) fn request_ack_on_all(&mut self) {
        for e in &mut self.subflows {
            if e.sf.state().is_synchronized() && e.path.can_carry_data() {
                e.sf.request_ack();
            }
        }
    }
}

/// Payload bytes a subflow holds unacknowledged (sent or queued).
fn unacked(v: &crate::subflow::SubflowView) -> u64 {
    u64::try_from(v.payload_end - v.snd_una).unwrap_or(0)
}

#[cfg(test)]
mod train_tests {
    use super::*;

    #[test]
    fn a_mapping_fits_one_train_with_its_headers() {
        for mss in [536u64, 1220, 1424, 1448, 1460, 8948, 65000] {
            let chunk = max_chunk(mss, true);
            assert!(chunk + TRAIN_HEADERS <= 65535, "mss {mss}: {chunk}");
            assert_eq!(chunk % mss, 0);
            assert!(chunk + mss + TRAIN_HEADERS > 65535 || chunk == mss);
            assert!(max_chunk(mss, false) <= 65535);
        }
        // 1424-byte segments: 46 fit the DSS length, 45 one IPv4 packet.
        assert_eq!(max_chunk(1424, false), 46 * 1424);
        assert_eq!(max_chunk(1424, true), 45 * 1424);
    }
}
