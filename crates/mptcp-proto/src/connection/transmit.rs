//! Sending: which subflow carries which bytes, and when.
//!
//! Data stays in the connection's send buffer until the peer acknowledges
//! it at the data level. Subflows get it late, a segment at a time, when
//! their windows have room and the scheduler picks them. Reinjections (data
//! stranded on a failed or stalled subflow) go before new data.

use super::Connection;
use super::dss::send_checksum;
use super::mptcp::{DataFinTx, Mode};
use super::owner::Owner;
use super::path_state::{JoinStage, PathKind};
use crate::scheduler::{PathView, SchedContext};
use crate::segment::PacketBuf;
use crate::stats::Mib;
use crate::subflow::{FourTuple, TcpState};
use crate::time::{Duration, Instant};
use mptcp_wire::DataSeq;

/// Option bytes each data segment gives to its DSS option: DATA_ACK and a
/// 64-bit mapping take 26 bytes, 28 with the checksum. The subflow adds the
/// timestamps option (10 bytes) if in use and pads the sum to a multiple of
/// four: 36 or 40 bytes with timestamps, 28 without.
pub fn dss_reserve(checksum: bool) -> u32 {
    if checksum { 28 } else { 26 }
}

/// Consecutive RTO expirations after which a subflow is stale.
const STALE_BACKOFF: u32 = 2;

/// A subflow whose retransmission timer expired twice in a row without
/// progress: probably a dead path (the Linux kernel's "stale" subflows). It
/// carries new data only when no other subflow can.
pub(super) fn is_stale(e: &super::PathEntry) -> bool {
    e.sf.rtt().backoff() >= STALE_BACKOFF
}

/// The most bytes reinjected per expiry of the data-level timer.
const REINJECT_CHUNK: u64 = 64 * 1024;
/// The floor of the data-level retransmission timeout.
const MIN_DATA_RTO: Duration = Duration::from_millis(200);

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

/// The data-level retransmission timer: when the DATA_ACK stops moving,
/// the oldest unacknowledged data is reinjected on another subflow (the
/// Linux kernel's MPTCP retransmission timer does the same).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DataRtx {
    deadline: Option<Instant>,
    una: DataSeq,
    backoff: u32,
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
        self.set_send_pending(&index, self.data.send.unsent() > 0 && room == 0);
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

    /// Nothing new may go out (all sent, or the peer's window is full): the
    /// fastest subflow with room resends the oldest data still outstanding
    /// on a slower subflow, so the receiver's head of line does not wait
    /// for the slow path (opportunistic retransmission, Raiciu et al.,
    /// NSDI 2012). Each byte is resent this way at most once.
    fn opportunistic_reinject(
        &mut self,
        views: &[PathView],
        index: &[usize],
        checksum: bool,
    ) -> bool {
        let Some(fast) = (0..views.len())
            .filter(|&i| views[i].send_space > 0)
            .min_by_key(|&i| views[i].srtt)
        else {
            return false;
        };
        let fast_idx = index[fast];
        let floor = self.data.send.una().max(self.opportunistic_high);
        let fast_srtt = views[fast].srtt;
        let oldest = self
            .subflows
            .iter()
            .enumerate()
            .filter(|(i, e)| *i != fast_idx && e.sf.rtt().srtt_or_initial() > fast_srtt)
            .flat_map(|(_, e)| e.sf.send_queue().iter())
            .filter(|s| !s.sacked && s.xmit.is_some())
            .filter_map(|s| s.dsn.map(|d| (d, s.data.len() as u64)))
            .filter(|(d, len)| (*d + *len).gt(floor))
            .min_by(|a, b| a.0.seq_cmp(b.0));
        let Some((dsn, len)) = oldest else {
            return false;
        };
        let from = dsn.max(floor);
        let end = dsn + len;
        let mss = (self.subflows[fast_idx].sf.send_mss() as u64).min(views[fast].send_space);
        let bytes = self
            .data
            .send
            .slice(from, end.bytes_since(from).min(mss) as usize);
        if bytes.is_empty() {
            return false;
        }
        self.opportunistic_high = from + bytes.len() as u64;
        self.data.mib.inc(Mib::MPTCPRetrans);
        self.data.forbid_fallback();
        self.push(fast_idx, from, bytes, checksum);
        true
    }

    /// A chunk onto subflow `idx`, with its DSS checksum when in use.
    fn push(&mut self, idx: usize, dsn: DataSeq, bytes: bytes::Bytes, checksum: bool) {
        let sf = &mut self.subflows[idx].sf;
        let csum = checksum.then(|| {
            let ssn = (sf.next_push_seq() - sf.view().iss) as u32;
            send_checksum(dsn, ssn, &bytes)
        });
        sf.push(bytes, Some(dsn), csum);
    }

    /// The scheduler's view of every subflow that can carry data now, with
    /// their indices in `self.subflows`. Stale subflows (see
    /// [`Connection::is_stale`]) are left out while any other can carry data.
    fn path_views(&self) -> (Vec<PathView>, Vec<usize>) {
        let mut views = Vec::new();
        let mut index = Vec::new();
        let usable = |e: &super::PathEntry| {
            e.sf.state().can_send() && e.path.can_carry_data() && !e.path.fin_queued
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

    /// Let one subflow probe the peer's window when data waits for it.
    fn set_send_pending(&mut self, index: &[usize], blocked: bool) {
        for (n, &i) in index.iter().enumerate() {
            self.subflows[i].sf.set_send_pending(blocked && n == 0);
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
    fn request_ack_on_all(&mut self) {
        for e in &mut self.subflows {
            if e.sf.state().is_synchronized() && e.path.can_carry_data() {
                e.sf.request_ack();
            }
        }
    }

    /// The data-level RTO: the largest RTO among the live subflows that are
    /// not stale (without their backoff), itself backed off.
    fn data_rto(&self) -> Duration {
        let base = self
            .subflows
            .iter()
            .filter(|e| e.sf.state() != TcpState::Closed && !is_stale(e))
            .map(|e| e.sf.rtt().base_rto())
            .max()
            .unwrap_or(Duration::from_secs(1))
            .max(MIN_DATA_RTO);
        base.saturating_mul(1 << self.rtx.backoff.min(6))
    }

    /// Keep the data-level timer armed while data or the DATA_FIN waits
    /// for a DATA_ACK.
    pub(super) fn arm_data_rtx(&mut self, now: Instant) {
        let Mode::Mptcp(mp) = &self.data.mode else {
            self.rtx.deadline = None;
            return;
        };
        let waiting = self.data.send.una().lt(self.data.send.nxt())
            || matches!(mp.data_fin, DataFinTx::Pending(_));
        if !waiting {
            self.rtx = DataRtx::default();
            return;
        }
        if self.data.send.una() != self.rtx.una {
            self.rtx.una = self.data.send.una();
            self.rtx.backoff = 0;
            self.rtx.deadline = None;
        }
        if self.rtx.deadline.is_none() {
            self.rtx.deadline = Some(now + self.data_rto());
        }
    }

    /// Data-level timers: reinjection, DATA_FIN and join-ACK retransmission.
    pub(super) fn on_data_timers(&mut self, now: Instant) {
        self.retransmit_join_acks(now);
        self.finish_removal_probes(now);
        if self.fail_deadline.is_some_and(|t| t <= now) {
            // The peer never answered our MP_FAIL.
            self.fail_deadline = None;
            self.data.fatal = Some(super::ConnectionError::Corrupted);
        }
        let quiet = |e: &super::PathEntry| {
            e.path
                .signal_ack_at
                .is_none_or(|t| now >= t + super::signals::SIGNAL_ACK_INTERVAL)
        };
        if super::signals::next_retry(&self.data).is_some_and(|t| t <= now)
            && self.subflows.iter().all(quiet)
            && let Some(e) = self
                .subflows
                .iter_mut()
                .find(|e| e.path.can_carry_data() && e.sf.state().can_send())
        {
            // An ADD_ADDR awaits its echo: resend it on a pure ACK.
            e.path.signal_ack_at = Some(now);
            e.sf.request_pure_ack();
        }
        if self.rtx.deadline.is_none_or(|t| t > now) {
            return;
        }
        self.rtx.deadline = None;
        if self.data.send.una() == self.rtx.una {
            let una = self.data.send.una();
            let len = self.data.send.nxt().bytes_since(una).min(REINJECT_CHUNK);
            self.data.send.queue_reinject(una, len);
            self.rtx.backoff += 1;
            if matches!(
                self.data.mode.mptcp().map(|m| m.data_fin),
                Some(DataFinTx::Pending(_))
            ) {
                self.request_ack_on_all();
            }
        }
        self.arm_data_rtx(now);
    }

    /// RFC 8684 §3.2: A repeats its third ACK until B acknowledges it.
    /// The deadline moves on when the repetition is asked for, so a subflow
    /// that cannot send right now does not keep the timer in the past.
    fn retransmit_join_acks(&mut self, now: Instant) {
        for e in &mut self.subflows {
            if e.sf.state() == TcpState::Closed {
                continue;
            }
            if let PathKind::Join(j) = &mut e.path.kind
                && let JoinStage::AckPending { last_sent: Some(t) } = j.stage
                && now >= t + e.sf.rtt().rto()
            {
                j.stage = JoinStage::AckPending {
                    last_sent: Some(now),
                };
                e.sf.request_ack();
            }
        }
    }

    /// The earliest deadline of any timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let subflows = self.subflows.iter().filter_map(|e| e.sf.poll_timeout());
        let live = self
            .subflows
            .iter()
            .filter(|e| e.sf.state() != TcpState::Closed);
        let joins = live.filter_map(|e| match e.path.kind {
            PathKind::Join(j) => match j.stage {
                JoinStage::AckPending { last_sent: Some(t) } => Some(t + e.sf.rtt().rto()),
                _ => None,
            },
            PathKind::Initial => None,
        });
        let can_send = self
            .subflows
            .iter()
            .any(|e| e.path.can_carry_data() && e.sf.state().can_send());
        // Not before the last pure ACK asked for has had its chance.
        let asked = self
            .subflows
            .iter()
            .filter_map(|e| e.path.signal_ack_at)
            .max()
            .map(|t| t + super::signals::SIGNAL_ACK_INTERVAL);
        let signals = can_send
            .then(|| super::signals::next_retry(&self.data))
            .flatten()
            .map(|t| asked.map_or(t, |a| t.max(a)));
        subflows
            .chain(joins)
            .chain(self.rtx.deadline)
            .chain(self.pm_timeout())
            .chain(self.fail_deadline)
            .chain(self.subflows.iter().filter_map(|e| e.path.removal_probe))
            .chain(signals)
            .min()
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
