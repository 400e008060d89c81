//! The send queue of one subflow: unsent and in-flight segments with their
//! SACK scoreboard and RACK loss detection (RFC 8985).
//!
//! Segments are cut when data is queued (the owner hands over at most one
//! segment's payload at a time) and never re-cut, so a retransmission
//! carries exactly the bytes, and the MPTCP mapping, of the original.
//!
//! D-SACK reports (RFC 2883) of segments received twice widen RACK's
//! reordering window (RFC 8985 §6.2 step 4) and tell whether a recovery
//! episode was spurious (see [`undo`]).

mod undo;

use super::rate::{RateProgress, RateSampler, TxRate};
use crate::congestion::{LostSegment, RateSample};
use crate::time::{Duration, Instant};
use bytes::Bytes;
use mptcp_wire::{DataSeq, SubflowSeq};
use std::collections::VecDeque;
use undo::Episode;

/// RFC 8985 §6.2 step 4: an inflated reordering window persists for this
/// many loss recoveries without D-SACK.
const REO_WND_PERSIST: u32 = 16;

/// One segment's worth of sequence space.
#[derive(Clone, Debug)]
pub struct TxSegment {
    /// Sequence number of the first byte.
    pub seq: SubflowSeq,
    /// Payload.
    pub data: Bytes,
    /// Whether a FIN follows the payload.
    pub fin: bool,
    /// Data sequence number of the first payload byte (MPTCP mapping).
    pub dsn: Option<DataSeq>,
    /// The MPTCP mapping this segment's bytes belong to (the chunk the
    /// owner pushed, which may span several segments).
    pub map: Option<super::TxMapping>,
    /// Last transmission time; `None` while unsent.
    pub xmit: Option<Instant>,
    /// Whether the segment was ever retransmitted.
    pub retransmitted: bool,
    /// Whether the peer SACKed it.
    pub sacked: bool,
    /// Whether it is marked lost and awaits retransmission.
    pub lost: bool,
    /// Whether it is counted in the bytes in flight.
    counted: bool,
    /// What the delivery rate sampler recorded at its last transmission.
    pub rate: TxRate,
}

impl TxSegment {
    /// Sequence space occupied (payload plus FIN).
    pub fn seq_len(&self) -> u32 {
        self.data.len() as u32 + u32::from(self.fin)
    }

    /// The sequence number after this segment.
    pub fn end(&self) -> SubflowSeq {
        self.seq + self.seq_len()
    }
}

/// RACK state (RFC 8985 §6.1).
#[derive(Clone, Copy, Debug, Default)]
struct Rack {
    /// Transmission time of the most recently sent segment known delivered.
    xmit_ts: Option<Instant>,
    /// Its end sequence number.
    end_seq: SubflowSeq,
    /// RTT measured on it.
    rtt: Duration,
    /// Highest end of a delivered segment (for reordering detection).
    fack: Option<SubflowSeq>,
    /// Whether reordering was ever observed.
    reordering_seen: bool,
    /// RACK.reo_wnd_mult less one (so that the default is RFC 8985's
    /// initial multiplier of 1).
    reo_wnd_extra: u32,
    /// RACK.reo_wnd_persist: recoveries left before the window shrinks.
    reo_wnd_persist: u32,
    /// RACK.dsack_round: SND.NXT when the last D-SACK widened the window;
    /// one widening per round trip.
    dsack_round: Option<SubflowSeq>,
}

/// What one D-SACK block told the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DsackOutcome {
    /// Retransmissions of the current episode it showed unnecessary.
    pub spurious_retransmits: u32,
    /// Whether it widened RACK's reordering window.
    pub widened: bool,
}

/// What an acknowledgment did to the queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct AckOutcome {
    /// Bytes newly acknowledged cumulatively (not counting those SACKed before).
    pub cum_acked: u64,
    /// Bytes newly SACKed.
    pub sacked: u64,
    /// An RTT sample from a never-retransmitted segment (Karn).
    pub rtt_sample: Option<Duration>,
    /// Whether the FIN was acknowledged.
    pub fin_acked: bool,
    /// Whether a D-SACK widened RACK's reordering window.
    pub dsack_widened: bool,
    /// The delivery rate sample under construction.
    pub rate: RateProgress,
}

/// Unsent and in-flight segments in sequence order.
#[derive(Clone, Debug, Default)]
pub struct RtxQueue {
    segs: VecDeque<TxSegment>,
    /// Index of the first never-sent segment.
    next_unsent: usize,
    /// Lowest index that may hold a lost segment.
    lost_hint: usize,
    lost_count: usize,
    in_flight: u64,
    sacked_bytes: u64,
    sacked_segments: usize,
    unsent_bytes: u64,
    rack: Rack,
    /// The subflow's minimum RTT, for RACK's ambiguity test.
    min_rtt: Duration,
    /// The loss recovery episode whose retransmissions are watched for
    /// D-SACKs.
    episode: Option<Episode>,
    /// Delivery rate sampling.
    sampler: RateSampler,
    /// Segments marked lost since the owner last took them.
    newly_lost: Vec<LostSegment>,
}

impl RtxQueue {
    /// An empty queue.
    pub fn new() -> RtxQueue {
        RtxQueue::default()
    }

    /// Bytes in flight: sent, not acknowledged, not SACKed, not marked lost
    /// (the "pipe" of RFC 6675 §4).
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Payload bytes queued but never sent.
    pub fn unsent_bytes(&self) -> u64 {
        self.unsent_bytes
    }

    /// Whether any sent segment is still unacknowledged.
    pub fn has_outstanding(&self) -> bool {
        self.next_unsent > 0
    }

    /// Whether segments marked lost await retransmission.
    pub fn has_lost(&self) -> bool {
        self.lost_count > 0
    }

    /// Number of segments the peer SACKed.
    pub fn sacked_segments(&self) -> usize {
        self.sacked_segments
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// The first unacknowledged sequence number, if any segment is queued.
    pub fn front_seq(&self) -> Option<SubflowSeq> {
        self.segs.front().map(|s| s.seq)
    }

    /// Segments queued (sent or not).
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// The segments, lowest sequence first.
    pub fn iter(&self) -> impl Iterator<Item = &TxSegment> {
        self.segs.iter()
    }

    /// Whether the last queued segment carries the FIN.
    pub fn fin_queued(&self) -> bool {
        self.segs.back().is_some_and(|s| s.fin)
    }

    /// Append a new segment at `seq`.
    pub fn push(
        &mut self,
        seq: SubflowSeq,
        data: Bytes,
        dsn: Option<DataSeq>,
        map: Option<super::TxMapping>,
        fin: bool,
    ) {
        self.unsent_bytes += data.len() as u64;
        self.segs.push_back(TxSegment {
            seq,
            data,
            fin,
            dsn,
            map,
            xmit: None,
            retransmitted: false,
            sacked: false,
            lost: false,
            counted: false,
            rate: TxRate::default(),
        });
    }

    /// Put a FIN on the last segment if it is unsent; otherwise the caller
    /// pushes an empty FIN segment. Returns whether it was piggybacked.
    pub fn piggyback_fin(&mut self) -> bool {
        match self.segs.back_mut() {
            Some(last) if last.xmit.is_none() && !last.fin => {
                last.fin = true;
                true
            }
            _ => false,
        }
    }

    /// The index of the next segment to transmit: a lost one first, then
    /// the next unsent one. `None` when there is nothing to send.
    pub fn next_to_send(&mut self) -> Option<(usize, bool)> {
        if self.lost_count > 0 {
            let start = self.lost_hint.min(self.segs.len());
            if let Some(off) = self.segs.range(start..).position(|s| s.lost && !s.sacked) {
                self.lost_hint = start + off;
                return Some((start + off, true));
            }
            self.lost_count = 0;
        }
        (self.next_unsent < self.segs.len()).then_some((self.next_unsent, false))
    }

    /// The index of the most recently queued segment that was sent, if it
    /// is still unacknowledged and not SACKed (the tail loss probe's choice).
    pub fn last_sent(&self) -> Option<usize> {
        let idx = self.next_unsent.checked_sub(1)?;
        let seg = self.segs.get(idx)?;
        (!seg.sacked).then_some(idx)
    }

    /// The segment at `idx`.
    pub fn get(&self, idx: usize) -> Option<&TxSegment> {
        self.segs.get(idx)
    }

    /// Record that the segment at `idx` was (re)transmitted at `now`.
    pub fn on_sent(&mut self, idx: usize, now: Instant) {
        let Some(seg) = self.segs.get_mut(idx) else {
            return;
        };
        if seg.xmit.is_some() {
            seg.retransmitted = true;
            if let Some(ep) = &mut self.episode {
                ep.on_retransmit(seg.seq, seg.seq + (seg.data.len() as u32).max(1));
            }
        } else {
            self.unsent_bytes -= seg.data.len() as u64;
        }
        if seg.lost {
            seg.lost = false;
            self.lost_count = self.lost_count.saturating_sub(1);
        }
        let before = self.in_flight;
        if !seg.counted {
            seg.counted = true;
            self.in_flight += u64::from(seg.seq_len());
        }
        seg.rate = self.sampler.on_sent(now, before, self.in_flight);
        seg.xmit = Some(now);
        if idx == self.next_unsent {
            self.next_unsent += 1;
        }
    }

    fn uncount(&mut self, idx: usize) {
        if let Some(seg) = self.segs.get_mut(idx)
            && seg.counted
        {
            seg.counted = false;
            self.in_flight -= u64::from(seg.seq_len());
        }
    }

    /// Process a cumulative acknowledgment up to (not including) `ack`.
    ///
    /// An acknowledgment that newly covers a retransmitted segment gives no
    /// RTT sample from the queue: it was most likely sent on that
    /// retransmission's arrival, so the never-retransmitted segments it
    /// also covers (sent before the hole was filled) would measure the
    /// time the hole took, not the path (RFC 6298 §3, Karn's rule; Linux
    /// keeps no sequence sample when it acknowledges retransmitted data).
    pub fn on_cumulative_ack(&mut self, ack: SubflowSeq, now: Instant, out: &mut AckOutcome) {
        let sample_before = out.rtt_sample;
        let mut retransmitted_acked = false;
        while let Some(front) = self.segs.front() {
            if front.xmit.is_none() || front.seq.ge(ack) {
                break;
            }
            if front.end().gt(ack) {
                retransmitted_acked |= front.retransmitted && !front.sacked;
                self.trim_front(ack, now, out);
                break;
            }
            self.uncount(0);
            let Some(seg) = self.segs.pop_front() else {
                break;
            };
            self.next_unsent = self.next_unsent.saturating_sub(1);
            self.lost_hint = self.lost_hint.saturating_sub(1);
            if seg.lost {
                self.lost_count = self.lost_count.saturating_sub(1);
            }
            if seg.sacked {
                self.sacked_bytes -= u64::from(seg.seq_len());
                self.sacked_segments -= 1;
            } else {
                retransmitted_acked |= seg.retransmitted;
                out.cum_acked += u64::from(seg.seq_len());
                self.rack_on_delivered(&seg, now, out);
                self.sample_delivery(&seg, now, out);
            }
            out.fin_acked |= seg.fin;
        }
        if retransmitted_acked {
            out.rtt_sample = sample_before;
        }
    }

    /// The peer acknowledged part of the front segment: keep the rest.
    fn trim_front(&mut self, ack: SubflowSeq, now: Instant, out: &mut AckOutcome) {
        self.uncount(0);
        let Some(front) = self.segs.front_mut() else {
            return;
        };
        let n = (ack - front.seq).clamp(0, front.data.len() as i32) as usize;
        let _ = front.data.split_to(n);
        front.seq += n as u32;
        front.dsn = front.dsn.map(|d| d + n as u64);
        out.cum_acked += n as u64;
        if !front.sacked {
            self.sampler.on_partly_delivered(n as u64, now);
        }
        if front.sacked {
            // A partially acked SACKed segment stays SACKed.
            self.sacked_bytes -= n as u64;
        } else if !front.lost {
            front.counted = true;
            self.in_flight += u64::from(front.seq_len());
        }
    }

    /// Mark the segments wholly inside `[left, right)` as SACKed.
    pub fn on_sack_block(
        &mut self,
        left: SubflowSeq,
        right: SubflowSeq,
        now: Instant,
        out: &mut AckOutcome,
    ) {
        let mut idx = self.segs.partition_point(|s| s.seq.lt(left));
        while idx < self.next_unsent {
            let Some(seg) = self.segs.get(idx) else { break };
            if seg.end().gt(right) {
                break;
            }
            if !seg.sacked {
                self.uncount(idx);
                let seg = &mut self.segs[idx];
                seg.sacked = true;
                if seg.lost {
                    seg.lost = false;
                    self.lost_count = self.lost_count.saturating_sub(1);
                }
                let len = u64::from(seg.seq_len());
                self.sacked_bytes += len;
                self.sacked_segments += 1;
                out.sacked += len;
                let seg = self.segs[idx].clone();
                self.rack_on_delivered(&seg, now, out);
                self.sample_delivery(&seg, now, out);
            }
            idx += 1;
        }
    }

    /// Delivery rate sampling for one newly delivered segment.
    fn sample_delivery(&mut self, seg: &TxSegment, now: Instant, out: &mut AckOutcome) {
        if let Some(xmit) = seg.xmit {
            let len = u64::from(seg.seq_len());
            self.sampler
                .on_delivered(&seg.rate, xmit, seg.end(), len, now, &mut out.rate);
        }
    }

    /// Finish the delivery rate sample of an acknowledgment (see
    /// [`RateSampler::generate`]); the caller adds what it knows beyond
    /// the queue.
    pub fn rate_sample(
        &mut self,
        out: &AckOutcome,
        min_rtt: Option<Duration>,
    ) -> Option<RateSample> {
        let mut rs = self.sampler.generate(&out.rate, min_rtt)?;
        rs.in_flight = self.in_flight;
        Some(rs)
    }

    /// Bytes marked lost over the queue's lifetime.
    pub fn total_lost(&self) -> u64 {
        self.sampler.lost()
    }

    /// Bytes delivered over the queue's lifetime.
    pub fn total_delivered(&self) -> u64 {
        self.sampler.delivered()
    }

    /// Whether the sender is in an application-limited period.
    pub fn is_app_limited(&self) -> bool {
        self.sampler.is_app_limited()
    }

    /// The sender ran out of data (draft-ietf-ccwg-bbr §4.1.2.4): if
    /// nothing is left to send or resend and the window `cwnd` has room,
    /// the samples of the next round trip are application-limited.
    /// `force` marks them whatever the window (BBR's ProbeRTT).
    pub fn check_app_limited(&mut self, cwnd: u64, force: bool) {
        let idle = self.unsent_bytes == 0 && !self.has_lost() && self.in_flight < cwnd;
        if idle || force {
            self.sampler.mark_app_limited(self.in_flight);
        }
    }

    /// The segments marked lost since the last call, in the order they
    /// were marked, stamped `now` (drained: the buffer is kept for the
    /// next losses, nothing is allocated per acknowledgment).
    pub fn take_newly_lost(&mut self, now: Instant) -> impl Iterator<Item = LostSegment> + '_ {
        self.newly_lost
            .drain(..)
            .map(move |l| LostSegment { now, ..l })
    }

    /// RFC 8985 §6.2 steps 1-3 for one newly delivered segment.
    fn rack_on_delivered(&mut self, seg: &TxSegment, now: Instant, out: &mut AckOutcome) {
        let Some(xmit) = seg.xmit else { return };
        let rtt = now - xmit;
        if !seg.retransmitted && out.rtt_sample.is_none_or(|r| rtt < r) {
            out.rtt_sample = Some(rtt);
        }
        let end = seg.end();
        if let Some(fack) = self.rack.fack
            && end.lt(fack)
            && !seg.retransmitted
        {
            self.rack.reordering_seen = true;
        }
        self.rack.fack = Some(self.rack.fack.map_or(end, |f| f.max(end)));
        // RFC 8985 §6.2 step 2: the delivery of a retransmitted segment
        // faster than the minimum RTT acknowledges the original, not the
        // retransmission; it says nothing about recent transmissions.
        if seg.retransmitted && rtt < self.min_rtt {
            return;
        }
        let newer = match self.rack.xmit_ts {
            None => true,
            Some(ts) => xmit > ts || (xmit == ts && end.gt(self.rack.end_seq)),
        };
        if newer {
            self.rack.xmit_ts = Some(xmit);
            self.rack.end_seq = end;
            self.rack.rtt = rtt;
        }
    }

    /// RFC 8985 §6.2 step 5: mark lost every sent segment older than the
    /// most recently delivered one by more than `rtt + reo_wnd`. Returns the
    /// number of newly lost segments and when to look again, if some
    /// segment is not yet overdue.
    pub fn rack_detect_loss(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
        in_recovery: bool,
    ) -> (usize, Option<Instant>) {
        let Some(rack_ts) = self.rack.xmit_ts else {
            return (0, None);
        };
        let reo_wnd = self.reo_wnd(min_rtt, srtt, in_recovery);
        let mut newly_lost = 0;
        let mut next_check: Option<Instant> = None;
        for idx in 0..self.next_unsent {
            let seg = &self.segs[idx];
            let Some(xmit) = seg.xmit else { break };
            if seg.sacked || seg.lost {
                continue;
            }
            let older = xmit < rack_ts || (xmit == rack_ts && seg.end().lt(self.rack.end_seq));
            if !older {
                if seg.retransmitted {
                    continue;
                }
                break;
            }
            let deadline = xmit + self.rack.rtt + reo_wnd;
            if deadline <= now {
                self.mark_lost(idx);
                newly_lost += 1;
            } else {
                next_check = Some(next_check.map_or(deadline, |d| d.min(deadline)));
            }
        }
        (newly_lost, next_check)
    }

    /// RFC 8985 §6.2 step 4.
    fn reo_wnd(
        &self,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
        recovering: bool,
    ) -> Duration {
        if !self.rack.reordering_seen && (recovering || self.sacked_segments >= 3) {
            return Duration::ZERO;
        }
        // min(RACK.reo_wnd_mult * RACK.min_RTT / 4, SRTT).
        let mult = u64::from(self.rack.reo_wnd_extra) + 1;
        let wnd = min_rtt.map_or(Duration::ZERO, |m| {
            Duration::from_micros(m.as_micros().saturating_mul(mult) / 4)
        });
        srtt.map_or(wnd, |s| wnd.min(s))
    }

    /// Mark the segment at `idx` lost (no longer in flight).
    pub fn mark_lost(&mut self, idx: usize) {
        if idx >= self.next_unsent {
            return;
        }
        self.uncount(idx);
        let seg = &mut self.segs[idx];
        if !seg.lost && !seg.sacked {
            seg.lost = true;
            self.lost_count += 1;
            self.lost_hint = self.lost_hint.min(idx);
            let (tx, size) = (seg.rate, u64::from(seg.seq_len()));
            let lost = self.sampler.on_lost(&tx, size);
            self.newly_lost.push(lost);
        }
    }

    /// The retransmission timer fired: every sent, un-SACKed segment is
    /// considered lost (RFC 6675 §5.1). With `forget_sacks` the SACK marks
    /// are dropped too, in case the receiver reneged (RFC 2018 §8).
    pub fn on_rto(&mut self, forget_sacks: bool) {
        if forget_sacks {
            for seg in self.segs.range_mut(..self.next_unsent) {
                seg.sacked = false;
            }
            self.sacked_bytes = 0;
            self.sacked_segments = 0;
        }
        for idx in 0..self.next_unsent {
            self.mark_lost(idx);
        }
        self.lost_hint = 0;
        // The timeout's response is not undone: its episode is over.
        self.episode = None;
    }

    /// A fast recovery episode started: watch its retransmissions.
    pub fn start_episode(&mut self) {
        self.episode = Some(Episode::default());
    }

    /// A D-SACK reported `[left, right)` as received twice (the caller
    /// checked it against the ACK it came with, RFC 2883 §5).
    pub fn on_dsack(
        &mut self,
        left: SubflowSeq,
        right: SubflowSeq,
        snd_una: SubflowSeq,
        snd_nxt: SubflowSeq,
    ) -> DsackOutcome {
        let mut out = DsackOutcome::default();
        if let Some(ep) = &mut self.episode {
            out.spurious_retransmits = ep.on_dsack(left, right);
        }
        if out.spurious_retransmits > 0 {
            // The original arrived after all, later than RACK allowed for:
            // reordering (or delay) that step 3 cannot see once the
            // segment was retransmitted.
            self.rack.reordering_seen = true;
        }
        // RFC 8985 §6.2 step 4: grow the window once per round trip that
        // sees a D-SACK, and keep it for 16 recoveries.
        let rack = &mut self.rack;
        if rack.dsack_round.is_some_and(|r| snd_una.ge(r)) {
            rack.dsack_round = None;
        }
        if rack.dsack_round.is_none() {
            rack.dsack_round = Some(snd_nxt);
            rack.reo_wnd_extra = rack.reo_wnd_extra.saturating_add(1);
            rack.reo_wnd_persist = REO_WND_PERSIST;
            out.widened = true;
        }
        out
    }

    /// A fast or timeout recovery ended with SND.NXT at `snd_nxt`;
    /// `widened` says whether this ACK's D-SACK grew the window.
    pub fn on_recovery_end(&mut self, snd_nxt: SubflowSeq, widened: bool) {
        if !widened {
            // RFC 8985 §6.2 step 4: back to min_RTT / 4 after 16
            // recoveries without D-SACK.
            let rack = &mut self.rack;
            rack.reo_wnd_persist = rack.reo_wnd_persist.saturating_sub(1);
            if rack.reo_wnd_persist == 0 {
                rack.reo_wnd_extra = 0;
            }
        }
        if let Some(ep) = &mut self.episode {
            ep.on_recovery_end(snd_nxt);
        }
    }

    /// Whether the watched episode proved spurious (every retransmission
    /// D-SACKed, none still awaiting one, no segment marked lost now); it
    /// is forgotten then, and also once it is too old to undo.
    pub fn take_spurious_episode(&mut self, snd_una: SubflowSeq) -> bool {
        let Some(ep) = &self.episode else {
            return false;
        };
        if ep.is_spurious() && !self.has_lost() {
            self.episode = None;
            return true;
        }
        if ep.expired(snd_una) {
            self.episode = None;
        }
        false
    }

    /// RACK.reo_wnd_mult (RFC 8985 §6.2).
    pub fn reo_wnd_mult(&self) -> u32 {
        self.rack.reo_wnd_extra.saturating_add(1)
    }

    /// Mark the first outstanding segment lost (duplicate-ACK recovery
    /// without SACK, RFC 6582). Returns whether one was marked.
    pub fn mark_first_lost(&mut self) -> bool {
        match self.segs.front() {
            Some(seg) if seg.xmit.is_some() && !seg.lost && !seg.sacked => {
                self.mark_lost(0);
                true
            }
            _ => false,
        }
    }

    /// Tell RACK the subflow's current minimum RTT.
    pub fn set_min_rtt(&mut self, min_rtt: Duration) {
        self.min_rtt = min_rtt;
    }

    /// Forget every queued segment (the connection was reset); returns the
    /// unacknowledged segments for the owner's reinjection decisions.
    pub fn drain(&mut self) -> VecDeque<TxSegment> {
        let segs = std::mem::take(&mut self.segs);
        *self = RtxQueue::default();
        segs
    }
}

#[cfg(test)]
mod tests;
