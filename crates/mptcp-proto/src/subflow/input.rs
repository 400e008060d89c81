//! Incoming segments (RFC 9293 §3.10.7).

use super::AckDue;
use super::INVALID_ANSWER_INTERVAL;
use super::hystart::Advice;
use super::recovery::{Prr, Recovery, RecoveryKind};
use super::rtx::AckOutcome;
use super::timers::TimerKind;
use super::{
    CHALLENGE_ACKS_PER_SECOND, CloseReason, InputVerdict, RstPlan, Subflow, SubflowEvent,
    SubflowOwner, TcpState,
};
use crate::congestion::{AckEvent, LossEvent, SubflowCcView};
use crate::segment::SegmentIn;
use crate::time::{Duration, Instant};
use mptcp_wire::{SubflowSeq, TcpFlags};

impl Subflow {
    /// Process one segment addressed to this subflow's 4-tuple. `siblings`
    /// is what a coupled congestion controller may see of the connection
    /// (empty for plain TCP).
    pub fn handle_segment<O: SubflowOwner>(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        owner: &mut O,
        siblings: &[SubflowCcView],
    ) {
        self.stats.segs_in += 1;
        match self.state {
            TcpState::Closed => self.on_closed(seg),
            TcpState::SynSent => self.on_syn_sent(now, seg, owner),
            _ => self.on_synchronized(now, seg, owner, siblings),
        }
    }

    /// RFC 9293 §3.10.7.1: in CLOSED, a segment without RST is answered
    /// with a RST (a peer that missed ours learns the subflow is gone
    /// instead of retransmitting into it until it gives up).
    fn on_closed(&mut self, seg: &SegmentIn<'_>) {
        if seg.has(TcpFlags::RST) || self.rst.is_some() {
            return;
        }
        self.rst = Some(if seg.has(TcpFlags::ACK) {
            RstPlan {
                seq: seg.ack,
                ack: None,
            }
        } else {
            RstPlan {
                seq: SubflowSeq(0),
                ack: Some(seg.seq + seg.seq_len()),
            }
        });
    }

    /// RFC 9293 §3.10.7.3: a segment in SYN-SENT.
    fn on_syn_sent<O: SubflowOwner>(&mut self, now: Instant, seg: &SegmentIn<'_>, owner: &mut O) {
        let ack_ok = seg.has(TcpFlags::ACK) && seg.ack == self.iss + 1;
        if seg.has(TcpFlags::ACK) && !ack_ok {
            if !seg.has(TcpFlags::RST) {
                self.rst = Some(RstPlan {
                    seq: seg.ack,
                    ack: None,
                });
            }
            self.stats.dropped_segments += 1;
            return;
        }
        if seg.has(TcpFlags::RST) {
            if ack_ok {
                let _ = owner.on_segment(&self.view(), seg);
                self.enter_closed(CloseReason::Refused);
            }
            return;
        }
        if !seg.has(TcpFlags::SYN) {
            self.stats.dropped_segments += 1;
            return;
        }
        self.irs = seg.seq;
        self.rcv.nxt = seg.seq + 1;
        self.rcv.adv = self.rcv.nxt;
        self.rcv.told = self.rcv.nxt;
        self.take_syn_options(seg);
        if !ack_ok {
            // Simultaneous open: answer with a SYN-ACK.
            self.state = TcpState::SynReceived;
            self.handshake.due = true;
            return;
        }
        if owner.on_segment(&self.view(), seg) == InputVerdict::Reset {
            self.snd.nxt = seg.ack;
            self.reset();
            return;
        }
        self.snd.una = seg.ack;
        // RFC 7323 §2.2: the window of a SYN segment is never scaled.
        self.set_window(u64::from(seg.window), seg.seq, seg.ack);
        self.handshake_done(now);
        self.ack.raise(AckDue::Ack);
    }

    fn handshake_done(&mut self, now: Instant) {
        if self.handshake.sent == 1
            && let Some(sent) = self.handshake.first_sent
        {
            self.rtt.on_sample(now, now - sent);
        }
        self.timers.cancel(TimerKind::Rto);
        self.rtt.reset_backoff();
        self.state = TcpState::Established;
        self.events.push_back(SubflowEvent::Established);
        if self.handshake.close_requested {
            self.close();
        }
    }

    /// Every state after SYN-SENT (RFC 9293 §3.10.7.4).
    fn on_synchronized<O: SubflowOwner>(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        owner: &mut O,
        siblings: &[SubflowCcView],
    ) {
        if !self.check_sequence(now, seg, owner) {
            return;
        }
        if seg.has(TcpFlags::RST) {
            self.on_rst(now, seg, owner);
            return;
        }
        if seg.has(TcpFlags::SYN) {
            if self.state == TcpState::SynReceived && seg.seq == self.irs {
                // The peer did not hear our SYN-ACK.
                self.handshake.due = true;
            } else {
                // RFC 5961 §4.2: a SYN in a synchronized state.
                self.challenge_ack(now);
            }
            return;
        }
        if !seg.has(TcpFlags::ACK) {
            self.stats.dropped_segments += 1;
            return;
        }
        if self.state == TcpState::SynReceived && !self.on_handshake_ack(now, seg) {
            return;
        }
        // Validate first, then act: the owner's options (MPTCP signals) are
        // taken only from a segment whose acknowledgment is believable
        // (RFC 8684 §3.4.2 and §3.7 ask for TCP's validity tests, RFC 5961
        // §5.2).
        if !self.ack_acceptable(now, seg) {
            return;
        }
        match owner.on_segment(&self.view(), seg) {
            InputVerdict::Accept => {}
            InputVerdict::AcceptAndAck => self.ack.raise(AckDue::Ack),
            InputVerdict::Reset => {
                self.reset();
                return;
            }
            InputVerdict::Discard => {
                self.stats.dropped_segments += 1;
                return;
            }
        }
        if !owner.has_data_to_send() {
            // Checked before the ACK changes what is in flight.
            self.on_owner_idle();
        }
        if !self.process_ack(now, seg, siblings) {
            return;
        }
        self.process_data(now, seg, owner);
    }

    /// The first check: is the segment in the window, and not an old
    /// duplicate by PAWS (RFC 7323 §5)? Unacceptable segments are answered
    /// with an ACK (unless they carry a RST) and dropped.
    fn check_sequence<O: SubflowOwner>(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        owner: &O,
    ) -> bool {
        if self.ts.enabled
            && !seg.has(TcpFlags::RST)
            && let Some(ts) = seg.timestamps
            && (ts.tsval.wrapping_sub(self.ts.recent) as i32) < 0
        {
            self.note_old_duplicate(seg);
            self.ack.raise(AckDue::Ack);
            self.stats.dropped_segments += 1;
            return false;
        }
        let wnd = self.accept_window(owner);
        if !self.acceptable(seg, wnd) {
            if !seg.has(TcpFlags::RST) {
                self.answer_invalid(now, seg);
                self.note_old_duplicate(seg);
            }
            self.stats.dropped_segments += 1;
            if seg.seq_len() > 0 {
                self.stats.dup_segments += 1;
            }
            return false;
        }
        // RFC 7323 §4.3: remember the timestamp to echo.
        if let Some(ts) = seg.timestamps
            && seg.seq.le(self.ts.last_ack_sent)
        {
            self.ts.recent = ts.tsval;
        }
        true
    }

    /// RFC 9293 §3.10.7.4, the acceptability table. A segment with data at
    /// RCV.NXT into a zero window is let through so its ACK is processed
    /// (the data is trimmed away later), as the RFC allows.
    fn acceptable(&self, seg: &SegmentIn<'_>, wnd: u32) -> bool {
        let len = seg.seq_len();
        let nxt = self.rcv.nxt;
        match (len, wnd) {
            (0, 0) => seg.seq == nxt,
            (0, _) => seg.seq.in_window(nxt, wnd),
            (_, 0) => seg.seq == nxt,
            (_, _) => seg.seq.in_window(nxt, wnd) || (seg.seq + (len - 1)).in_window(nxt, wnd),
        }
    }

    /// RFC 5961 §3.2: only a RST at exactly RCV.NXT resets; one elsewhere
    /// in the window earns a challenge ACK. The owner sees an accepted RST
    /// first (for MP_TCPRST and MP_FASTCLOSE).
    fn on_rst<O: SubflowOwner>(&mut self, now: Instant, seg: &SegmentIn<'_>, owner: &mut O) {
        if seg.seq == self.rcv.nxt {
            let _ = owner.on_segment(&self.view(), seg);
            self.enter_closed(CloseReason::ResetByPeer);
        } else {
            self.challenge_ack(now);
        }
    }

    /// An unacceptable segment (outside the window, or acknowledging what
    /// we never sent) is answered with an ACK (RFC 9293 §3.10.7.4). Two
    /// ends out of step (after a forged segment, say) would answer each
    /// other's ACKs forever, so a pure ACK is answered at most every
    /// [`INVALID_ANSWER_INTERVAL`] (as Linux's `tcp_invalid_ratelimit`);
    /// a segment with data always is (it is not part of such a loop, and a
    /// retransmission needs its duplicate ACK).
    fn answer_invalid(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        let pure = seg.payload.is_empty() && !seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::FIN);
        if pure
            && self
                .ack
                .last_invalid_answer
                .is_some_and(|t| now < t + INVALID_ANSWER_INTERVAL)
        {
            self.stats.invalid_answers_suppressed += 1;
            return;
        }
        if pure {
            self.ack.last_invalid_answer = Some(now);
        }
        self.ack.raise(AckDue::Ack);
    }

    /// RFC 5961 §7: challenge ACKs, rate limited.
    fn challenge_ack(&mut self, now: Instant) {
        if self.ack.challenge_refill.is_none_or(|t| now >= t) {
            self.ack.challenge_tokens = CHALLENGE_ACKS_PER_SECOND;
            self.ack.challenge_refill = Some(now + Duration::from_secs(1));
        }
        if self.ack.challenge_tokens > 0 {
            self.ack.challenge_tokens -= 1;
            self.ack.raise(AckDue::Ack);
            self.stats.challenge_acks += 1;
        }
    }

    /// The ACK completing a passive open. Returns whether processing goes on.
    fn on_handshake_ack(&mut self, now: Instant, seg: &SegmentIn<'_>) -> bool {
        if seg.ack != self.iss + 1 {
            self.rst = Some(RstPlan {
                seq: seg.ack,
                ack: None,
            });
            self.stats.dropped_segments += 1;
            return false;
        }
        self.snd.una = seg.ack;
        self.set_window(u64::from(seg.window) << self.snd.wscale, seg.seq, seg.ack);
        self.handshake_done(now);
        true
    }

    fn set_window(&mut self, wnd: u64, seq: SubflowSeq, ack: SubflowSeq) {
        self.snd.wnd = wnd;
        self.snd.wl1 = seq;
        self.snd.wl2 = ack;
        self.snd.max_wnd = self.snd.max_wnd.max(wnd);
        if wnd > 0 {
            self.timers.cancel(TimerKind::Persist);
        }
    }

    /// Whether the acknowledgment number is believable: not beyond what
    /// we sent (RFC 9293 §3.10.7.4: answered with an ACK and dropped) and
    /// not older than the largest window the peer ever offered (RFC 5961
    /// §5.2: a challenge ACK).
    fn ack_acceptable(&mut self, now: Instant, seg: &SegmentIn<'_>) -> bool {
        if seg.ack.gt(self.snd.nxt) {
            self.answer_invalid(now, seg);
            self.stats.dropped_segments += 1;
            return false;
        }
        let max_wnd = self.snd.max_wnd.min(1 << 30) as u32;
        if seg.ack.lt(self.snd.una - max_wnd.max(1)) {
            self.challenge_ack(now);
            self.stats.dropped_segments += 1;
            return false;
        }
        true
    }

    /// The ACK field (RFC 9293 §3.10.7.4, fifth check). Returns whether
    /// processing goes on.
    fn process_ack(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        siblings: &[SubflowCcView],
    ) -> bool {
        let ack = seg.ack;
        let in_flight_before = self.rtx.in_flight();
        let lost_before = self.rtx.total_lost();
        let old_wnd = self.snd.wnd;
        let mut out = AckOutcome::default();
        let advanced = ack.gt(self.snd.una);
        if advanced {
            let advance = (ack - self.snd.una) as u64;
            self.rtx.on_cumulative_ack(ack, now, &mut out);
            self.snd.una = ack;
            // Every byte SND.UNA moved over, SACKed before or not.
            self.stats.bytes_acked += advance - u64::from(out.fin_acked);
            self.rto_streak = 0;
            self.rtt.reset_backoff();
            self.dupacks = 0;
        }
        self.apply_sack(now, seg, &mut out);
        if advanced {
            out.rtt_sample = self.checked_rtt_sample(now, seg, out.rtt_sample);
        }
        if let Some(rtt) = out.rtt_sample {
            self.rtt.on_sample(now, rtt);
            if let Some(min) = self.rtt.min_rtt() {
                self.rtx.set_min_rtt(min);
            }
        }
        if self.snd.wl1.lt(seg.seq) || (self.snd.wl1 == seg.seq && self.snd.wl2.le(ack)) {
            self.set_window(u64::from(seg.window) << self.snd.wscale, seg.seq, ack);
        }
        if let Some(r) = self.recovery
            && self.snd.una.ge(r.point)
        {
            self.recovery = None;
            self.rtx.on_recovery_end(self.snd.nxt, out.dsack_widened);
        }
        self.undo_if_spurious(now);
        let dup = !advanced
            && seg.payload.is_empty()
            && !seg.has(TcpFlags::FIN)
            && self.snd.wnd == old_wnd
            && self.rtx.has_outstanding();
        self.detect_loss(now, advanced, dup, in_flight_before, siblings);
        let newly_lost = self.rtx.total_lost() - lost_before;
        self.report_losses(now);
        let (pipe, ssthresh, mss) = (
            self.rtx.in_flight(),
            self.cc.ssthresh(),
            u64::from(self.send_mss()),
        );
        if let Some(Recovery {
            kind: RecoveryKind::Fast(prr),
            ..
        }) = &mut self.recovery
        {
            prr.on_ack(out.cum_acked + out.sacked, pipe, ssthresh, mss);
        }
        self.grow_cwnd(now, &out, in_flight_before, newly_lost, siblings);
        if advanced {
            // RFC 6298 §5.2, §5.3.
            if self.rtx.has_outstanding() {
                self.arm(TimerKind::Rto, now + self.rtt.rto());
            } else {
                self.timers.cancel(TimerKind::Rto);
            }
        }
        if advanced || out.sacked > 0 {
            self.arm_tlp(now);
        }
        if out.fin_acked {
            self.on_fin_acked(now);
        }
        true
    }

    /// RFC 7323 §4: the timestamp echo measures the round trip of the
    /// segment that triggered this ACK, even a retransmitted one. The send
    /// times in the queue are finer (microseconds) but mislead when the
    /// ACKs of never-retransmitted segments were lost and a later ACK
    /// covers them; then, or when the queue has no sample (Karn), the echo
    /// wins.
    fn checked_rtt_sample(
        &self,
        now: Instant,
        seg: &SegmentIn<'_>,
        queued: Option<Duration>,
    ) -> Option<Duration> {
        let echoed = seg
            .timestamps
            .filter(|_| self.ts.enabled)
            .map(|ts| self.ts_now(now).wrapping_sub(ts.tsecr))
            .filter(|ms| *ms < 1 << 30)
            .map(|ms| Duration::from_millis(u64::from(ms)));
        match (queued, echoed) {
            (Some(q), Some(e)) if q > e + Duration::from_millis(1) => {
                Some(e.max(Duration::from_micros(500)))
            }
            (Some(q), _) => Some(q),
            (None, Some(e)) => Some(e.max(Duration::from_micros(500))),
            (None, None) => None,
        }
    }

    fn apply_sack(&mut self, now: Instant, seg: &SegmentIn<'_>, out: &mut AckOutcome) {
        if !self.handshake.sack {
            return;
        }
        let Some(blocks) = seg.sack else { return };
        if let Some((left, right)) = self.dsack_block(seg) {
            out.dsack_widened = self.on_dsack(left, right);
        }
        for block in blocks.as_slice() {
            let (left, right) = (block.left, block.right);
            // Ignore blocks that are empty, below SND.UNA or beyond SND.NXT.
            if left.lt(right) && left.ge(self.snd.una) && right.le(self.snd.nxt) {
                self.rtx.on_sack_block(left, right, now, out);
            }
        }
    }

    /// RACK with SACK (RFC 8985), duplicate ACKs without (RFC 6582).
    fn detect_loss(
        &mut self,
        now: Instant,
        advanced: bool,
        dup: bool,
        in_flight_before: u64,
        siblings: &[SubflowCcView],
    ) {
        if self.handshake.sack {
            let (lost, next) = self.rtx.rack_detect_loss(
                now,
                self.rtt.min_rtt(),
                self.rtt.srtt(),
                self.recovery.is_some(),
            );
            match next {
                Some(t) => self.arm(TimerKind::Reorder, t),
                None => self.timers.cancel(TimerKind::Reorder),
            }
            if lost > 0 {
                self.enter_recovery(now, in_flight_before, siblings);
            }
            return;
        }
        if dup {
            self.dupacks += 1;
            if self.dupacks == 3 && self.recovery.is_none() && self.rtx.mark_first_lost() {
                self.enter_recovery(now, in_flight_before, siblings);
            }
        } else if advanced && self.recovery.is_some() {
            // A partial acknowledgment: the next hole is lost too.
            self.rtx.mark_first_lost();
        }
    }

    pub(super) fn enter_recovery(
        &mut self,
        now: Instant,
        in_flight: u64,
        siblings: &[SubflowCcView],
    ) {
        if self.recovery.is_some() {
            return;
        }
        // RFC 6937: RecoverFS is the flight size at the start.
        let recover_fs = (self.snd.nxt - self.snd.una).max(0) as u64;
        self.recovery = Some(Recovery {
            point: self.snd.nxt,
            kind: RecoveryKind::Fast(Prr::new(recover_fs)),
        });
        self.hystart.on_loss();
        self.stats.fast_recoveries += 1;
        self.rtx.start_episode();
        let ctx = self.cc_context(siblings);
        self.cc
            .on_congestion_event(&LossEvent { now, in_flight }, &ctx);
    }

    fn grow_cwnd(
        &mut self,
        now: Instant,
        out: &AckOutcome,
        in_flight_before: u64,
        newly_lost: u64,
        siblings: &[SubflowCcView],
    ) {
        let acked = out.cum_acked + out.sacked;
        if acked == 0 {
            return;
        }
        let rate =
            self.rtx
                .rate_sample(out, self.rtt.min_rtt())
                .map(|rs| crate::congestion::RateSample {
                    newly_acked: acked,
                    newly_lost,
                    in_loss_recovery: self.recovery.is_some(),
                    ..rs
                });
        let cwnd = self.cc.cwnd();
        let mss = u64::from(self.send_mss());
        // RFC 7661 in spirit: only a window that was used may grow.
        let cwnd_limited = if self.cc.in_slow_start() {
            2 * in_flight_before >= cwnd
        } else {
            in_flight_before + 3 * mss >= cwnd
        };
        let mut acked = acked;
        if self.cc.in_slow_start() && self.recovery.is_none() {
            match self
                .hystart
                .on_ack(self.snd.una, self.snd.nxt, out.rtt_sample)
            {
                Advice::Exit => self.cc.exit_slow_start(),
                Advice::Grow(divisor) => acked /= divisor,
            }
        }
        let ev = AckEvent {
            now,
            acked_bytes: acked,
            in_flight_before,
            rtt: out.rtt_sample,
            // Growth pauses in fast recovery (PRR clocks sending); after a
            // timeout the window slow-starts again (RFC 5681 §3.1).
            in_recovery: matches!(
                self.recovery,
                Some(Recovery {
                    kind: RecoveryKind::Fast(_),
                    ..
                })
            ),
            cwnd_limited,
            rate,
        };
        let ctx = self.cc_context(siblings);
        self.cc.on_ack(&ev, &ctx);
        if self.cc.samples_app_limited() {
            let cwnd = self.cc.cwnd();
            self.rtx.check_app_limited(cwnd, true);
        }
    }

    fn on_fin_acked(&mut self, now: Instant) {
        match self.state {
            TcpState::FinWait1 => self.state = TcpState::FinWait2,
            TcpState::Closing => self.enter_time_wait(now),
            TcpState::LastAck => self.enter_closed(CloseReason::Normal),
            _ => {}
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.timers.clear_all();
        self.arm(TimerKind::TimeWait, now + self.config.time_wait);
    }

    /// Payload and FIN (RFC 9293 §3.10.7.4, seventh and eighth checks).
    fn process_data<O: SubflowOwner>(&mut self, now: Instant, seg: &SegmentIn<'_>, owner: &mut O) {
        let fin = seg.has(TcpFlags::FIN);
        if seg.payload.is_empty() && !fin {
            return;
        }
        if !self.state.can_receive() {
            // Data or a FIN after the peer's FIN: acknowledge, ignore.
            self.ack.raise(AckDue::Ack);
            return;
        }
        let (start, payload) = self.trim_old(seg);
        let fin_at = start.map(|s| s + payload.len() as u64);
        let mut delivered_in_order = false;
        if let Some(start) = start {
            delivered_in_order = self.accept_payload(now, start, payload, owner);
        } else if !seg.payload.is_empty() {
            // Entirely before RCV.NXT: a duplicate.
            self.stats.dup_segments += 1;
            self.ack.raise(AckDue::Ack);
        }
        if fin && let Some(at) = fin_at {
            self.rcv.fin_at = Some(at);
        }
        if self.rcv.fin_at.is_some_and(|at| at <= self.rcv.off) {
            self.consume_fin(now);
        } else if fin {
            self.ack.raise(AckDue::Ack);
        }
        if delivered_in_order {
            self.schedule_ack(now);
        }
    }

    /// The receive offset of the segment's new payload and that payload:
    /// RFC 9293 §3.10.7.4, a segment straddling RCV.NXT is trimmed to its
    /// new part (the old part is reported as a duplicate, RFC 2883). No
    /// offset when the segment starts before RCV.NXT and has nothing new.
    fn trim_old<'a>(&mut self, seg: &SegmentIn<'a>) -> (Option<u64>, &'a [u8]) {
        let ahead = seg.seq - self.rcv.nxt;
        if ahead >= 0 {
            return (Some(self.rcv.off + ahead as u64), seg.payload);
        }
        let old = ahead.unsigned_abs() as usize;
        match seg.payload.get(old..) {
            Some(new) if !new.is_empty() => {
                self.note_duplicate(seg.seq, self.rcv.nxt);
                (Some(self.rcv.off), new)
            }
            _ => {
                self.note_old_duplicate(seg);
                (None, &[])
            }
        }
    }

    /// Store or deliver payload found at `start` (which may lie partly
    /// before RCV.NXT). Returns whether it advanced RCV.NXT without
    /// touching the out-of-order queue (the case for delayed ACKs).
    fn accept_payload<O: SubflowOwner>(
        &mut self,
        _now: Instant,
        start: u64,
        payload: &[u8],
        owner: &mut O,
    ) -> bool {
        let limit = self.rcv.off + u64::from(self.accept_window(owner));
        if start > self.rcv.off {
            self.note_held_duplicate(start, payload.len() as u64);
            let ins = self.rcv.ofo.insert(start, payload, self.rcv.off, limit);
            self.stats.ofo_segments += 1;
            self.stats.ofo_pruned_bytes += ins.pruned;
            if ins.new == 0 && ins.duplicate > 0 {
                self.stats.dup_segments += 1;
            }
            self.ack.raise(AckDue::Ack);
            return false;
        }
        let room = limit.saturating_sub(start) as usize;
        let take = payload.len().min(room);
        let had_holes = !self.rcv.ofo.is_empty();
        if take > 0 {
            let data = payload.get(..take).unwrap_or_default();
            self.deliver(data, owner);
        } else if !payload.is_empty() {
            // Zero window: the data cannot be taken; tell the peer.
            self.ack.raise(AckDue::Ack);
        }
        while let Some(piece) = self.rcv.ofo.pop_at(self.rcv.off) {
            self.deliver(&piece, owner);
        }
        if had_holes {
            // RFC 5681 §4.2: ACK at once when a hole is filled.
            self.ack.raise(AckDue::Ack);
            return false;
        }
        take > 0
    }

    fn deliver<O: SubflowOwner>(&mut self, data: &[u8], owner: &mut O) {
        let view = self.view();
        if owner.on_data(&view, self.rcv.nxt, data) {
            self.ack.raise(AckDue::Ack);
        }
        self.rcv.nxt += data.len() as u32;
        self.rcv.off += data.len() as u64;
        self.stats.bytes_received += data.len() as u64;
    }

    /// Delayed ACKs (RFC 5681 §4.2): every second full segment at once,
    /// otherwise within the delayed-ACK time. The first segments of a
    /// connection are acknowledged at once to speed up slow start.
    fn schedule_ack(&mut self, now: Instant) {
        self.ack.unacked_segments += 1;
        let quick = self.stats.bytes_received < 16 * u64::from(self.send_mss());
        if quick || self.ack.unacked_segments >= 2 {
            self.ack.raise(AckDue::Ack);
        } else if !self.timers.is_armed(TimerKind::DelayedAck) {
            self.arm(TimerKind::DelayedAck, now + self.config.delayed_ack);
        }
    }

    fn consume_fin(&mut self, now: Instant) {
        self.rcv.fin_at = None;
        self.rcv.nxt += 1;
        self.rcv.off += 1;
        self.ack.raise(AckDue::Ack);
        self.events.push_back(SubflowEvent::PeerFin);
        match self.state {
            TcpState::Established => self.state = TcpState::CloseWait,
            TcpState::FinWait1 => {
                if self.snd.fin_queued && self.snd.una == self.snd.queued_end {
                    self.enter_time_wait(now);
                } else {
                    self.state = TcpState::Closing;
                }
            }
            TcpState::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Reset at the owner's request: a RST goes out, the subflow closes.
    fn reset(&mut self) {
        self.rst = Some(RstPlan {
            seq: self.snd.nxt,
            ack: Some(self.rcv.nxt),
        });
        self.enter_closed(CloseReason::Aborted);
    }
}
