//! Outgoing segments and timers.

use super::AckDue;
use super::recovery::{Recovery, RecoveryKind};
use super::timers::TimerKind;
use super::{CloseReason, RstPlan, SegmentMeta, Subflow, SubflowOwner, TcpState};
use crate::congestion::SubflowCcView;
use crate::segment::{MptcpOptionList, PacketBuf};
use crate::time::Instant;
use arrayvec::ArrayVec;
use bytes::Bytes;
use mptcp_wire::{SubflowSeq, TcpFlags, TcpOption, TcpRepr};

/// TCP option space (RFC 9293 §3.1: data offset of at most 15 words).
const OPTION_SPACE: usize = 40;

/// RFC 8985 §7.3: WCDelAckT, the worst-case delayed-ACK timer.
const WORST_CASE_DELAYED_ACK: crate::time::Duration = crate::time::Duration::from_millis(200);

type OptionList = ArrayVec<TcpOption<'static>, 12>;

/// Option bytes after padding to a multiple of four.
fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// What to put in one segment.
struct Plan {
    flags: TcpFlags,
    seq: SubflowSeq,
    payload: Bytes,
    meta_dsn: Option<mptcp_wire::DataSeq>,
    map: Option<super::TxMapping>,
    retransmission: bool,
}

impl Subflow {
    /// Write the next segment due, as a complete IP packet, into `buf`
    /// (which should hold at least the interface MTU). Returns its length,
    /// or `None` when nothing is due. Call after any input, timeout, push,
    /// close or request until it returns `None`.
    pub fn poll_transmit<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        buf: &mut [u8],
    ) -> Option<usize> {
        self.poll_transmit_into(now, owner, &mut PacketBuf::copying(buf))
    }

    /// [`Self::poll_transmit`] into a [`PacketBuf`], which may keep the
    /// payload aside by reference: the length returned is what went into
    /// its buffer.
    pub fn poll_transmit_into<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        self.short_buffer = false;
        if let Some(rst) = self.rst {
            // Taken only once it is out: a buffer too small keeps it due.
            let len = self.emit_rst(rst, owner, buf)?;
            self.rst = None;
            return Some(len);
        }
        match self.state {
            TcpState::Closed => None,
            TcpState::SynSent | TcpState::SynReceived => {
                if self.handshake.due {
                    self.emit_handshake(now, owner, buf)
                } else {
                    None
                }
            }
            _ => {
                let n = self.emit_established(now, owner, buf)?;
                // A batch takes the rest of what the windows let go now.
                while buf.has_room() && self.rst.is_none() && self.state.can_send() {
                    let Some((idx, false)) = self.sendable(now) else {
                        break;
                    };
                    if self.emit_queued(now, idx, false, owner, buf).is_none() {
                        break;
                    }
                }
                Some(n)
            }
        }
    }

    fn emit_handshake<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        let passive = self.state == TcpState::SynReceived;
        let mut opts = OptionList::new();
        opts.push(TcpOption::Mss(self.announced_mss()));
        if self.handshake.sack {
            opts.push(TcpOption::SackPermitted);
        }
        if self.ts.enabled {
            opts.push(TcpOption::Timestamps {
                tsval: self.ts_now(now),
                tsecr: if passive { self.ts.recent } else { 0 },
            });
        }
        // Our shift is zeroed when the peer's SYN had no window scale option.
        let offer_ws =
            self.config.window_scaling && (!passive || self.snd.wscale > 0 || self.rcv.wscale > 0);
        if offer_ws {
            opts.push(TcpOption::WindowScale(self.rcv.wscale));
        }
        let flags = if passive {
            TcpFlags::SYN | TcpFlags::ACK
        } else {
            TcpFlags::SYN
        };
        let plan = Plan {
            flags,
            seq: self.iss,
            payload: Bytes::new(),
            meta_dsn: None,
            map: None,
            retransmission: self.handshake.sent > 0,
        };
        let len = self.emit(now, owner, plan, opts, buf)?;
        self.handshake.due = false;
        self.handshake.sent += 1;
        self.handshake.first_sent.get_or_insert(now);
        self.snd.nxt = self.iss + 1;
        self.arm(TimerKind::Rto, now + self.rtt.rto());
        Some(len)
    }

    fn emit_established<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        // Each request is cleared only once its segment is out: a buffer
        // too small for it leaves it due for the next call.
        if self.ack.due == AckDue::Pure {
            let plan = self.pure_ack_plan(self.snd.nxt);
            let opts = self.base_options(now);
            let len = self.emit(now, owner, plan, opts, buf)?;
            self.ack.due = AckDue::None;
            return Some(len);
        }
        if let Some((idx, retx)) = self.sendable(now) {
            let len = self.emit_queued(now, idx, retx, owner, buf)?;
            self.ack.tlp = false;
            return Some(len);
        }
        if self.ack.tlp {
            // RFC 8985 §7.3: no new data to send: probe with the last
            // segment sent.
            let Some(idx) = self.rtx.last_sent() else {
                self.ack.tlp = false;
                return self.emit_acks(now, owner, buf);
            };
            let len = self.emit_queued(now, idx, true, owner, buf)?;
            self.ack.tlp = false;
            self.stats.tail_loss_probes += 1;
            return Some(len);
        }
        self.emit_acks(now, owner, buf)
    }

    /// A window probe or an acknowledgment, when one is due.
    fn emit_acks<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        if self.ack.probe {
            // An old sequence number elicits an ACK with the current window.
            let plan = self.pure_ack_plan(self.snd.una - 1);
            let opts = self.base_options(now);
            let len = self.emit(now, owner, plan, opts, buf)?;
            self.ack.probe = false;
            self.stats.window_probes += 1;
            return Some(len);
        }
        if self.ack.due != AckDue::None {
            let plan = self.pure_ack_plan(self.snd.nxt);
            let opts = self.base_options(now);
            return self.emit(now, owner, plan, opts, buf);
        }
        if self.send_pending
            && !self.rtx.has_outstanding()
            && !self.timers.is_armed(TimerKind::Persist)
        {
            self.arm(TimerKind::Persist, now + self.rtt.rto());
        }
        None
    }

    fn pure_ack_plan(&self, seq: SubflowSeq) -> Plan {
        Plan {
            flags: TcpFlags::ACK,
            seq,
            payload: Bytes::new(),
            meta_dsn: None,
            map: None,
            retransmission: false,
        }
    }

    /// The next queued segment the windows allow, if any.
    fn sendable(&mut self, now: Instant) -> Option<(usize, bool)> {
        let (idx, retx) = self.rtx.next_to_send()?;
        let seg = self.rtx.get(idx)?;
        let len = u64::from(seg.seq_len());
        let in_flight = self.rtx.in_flight();
        match &self.recovery {
            // RFC 6937: in fast recovery, PRR decides (unless the
            // controller sets the window itself).
            Some(Recovery {
                kind: RecoveryKind::Fast(prr),
                ..
            }) if !self.cc.sets_recovery_window() => {
                if !prr.allows() {
                    return None;
                }
            }
            // RFC 6675 §5: otherwise transmit while the pipe is below cwnd.
            _ => {
                if in_flight > 0 && in_flight + len > self.cc.cwnd() {
                    return None;
                }
            }
        }
        if !retx && !seg.data.is_empty() {
            let data_end = seg.seq + seg.data.len() as u32;
            let span = (data_end - self.snd.una).max(0) as u64;
            if span > self.snd.wnd {
                if in_flight == 0 && !self.timers.is_armed(TimerKind::Persist) {
                    self.arm(TimerKind::Persist, now + self.rtt.rto());
                }
                return None;
            }
        }
        if self.cc.pacing_rate().is_some() && !self.pacer.ready(now) {
            // The deadline is stored once, when the pacer first holds a
            // segment back; a departure is what moves it.
            if !self.timers.is_armed(TimerKind::Pace)
                && let Some(at) = self.pacer.next()
            {
                self.arm(TimerKind::Pace, at);
            }
            return None;
        }
        Some((idx, retx))
    }

    fn emit_queued<O: SubflowOwner>(
        &mut self,
        now: Instant,
        idx: usize,
        retx: bool,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        let seg = self.rtx.get(idx)?.clone();
        let last = idx + 1 == self.rtx.len();
        let mut flags = TcpFlags::ACK;
        if seg.fin {
            flags |= TcpFlags::FIN;
        }
        if last && !seg.data.is_empty() {
            flags |= TcpFlags::PSH;
        }
        let payload_len = seg.data.len() as u64;
        let plan = Plan {
            flags,
            seq: seg.seq,
            payload: seg.data.clone(),
            meta_dsn: seg.dsn,
            map: seg.map,
            retransmission: retx,
        };
        if !self.fits(buf, plan.payload.len()) {
            return None;
        }
        let opts = self.base_options(now);
        let in_flight = self.rtx.in_flight();
        let app_limited = self.rtx.is_app_limited();
        self.cc.on_send(now, in_flight, app_limited);
        let len = self.emit(now, owner, plan, opts, buf)?;
        self.rtx.on_sent(idx, now);
        if let Some(rate) = self.cc.pacing_rate() {
            let quantum = super::pacing::send_quantum(rate, self.send_mss());
            self.pacer
                .on_sent(now, u64::from(seg.seq_len()), rate, quantum);
        }
        if let Some(Recovery {
            kind: RecoveryKind::Fast(prr),
            ..
        }) = &mut self.recovery
        {
            prr.on_sent(u64::from(seg.seq_len()));
        }
        self.stats.bytes_sent += payload_len;
        if retx {
            self.stats.retransmits += 1;
            self.stats.bytes_retrans += payload_len;
        }
        if seg.end().gt(self.snd.nxt) {
            self.snd.nxt = seg.end();
        }
        if !self.timers.is_armed(TimerKind::Rto) {
            self.arm(TimerKind::Rto, now + self.rtt.rto());
        }
        if !retx {
            self.arm_tlp(now);
        }
        Some(len)
    }

    /// RFC 8985 §7.2-7.3: schedule a probe timeout two SRTTs out (plus the
    /// worst-case delayed ACK when one segment is in flight), not past the
    /// RTO, while SACK is on, data is outstanding and no recovery runs.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        if !self.handshake.sack || self.recovery.is_some() || !self.rtx.has_outstanding() {
            self.timers.cancel(TimerKind::Tlp);
            return;
        }
        let pto = match self.rtt.srtt() {
            Some(srtt) => {
                let mut pto = srtt.saturating_mul(2);
                if self.rtx.in_flight() <= u64::from(self.send_mss()) {
                    pto += WORST_CASE_DELAYED_ACK;
                }
                pto
            }
            None => crate::time::Duration::from_secs(1),
        };
        let mut at = now + pto;
        if let Some(rto) = self.timers.get(TimerKind::Rto) {
            at = at.min(rto);
        }
        self.arm(TimerKind::Tlp, at);
    }

    fn base_options(&self, now: Instant) -> OptionList {
        let mut opts = OptionList::new();
        if self.ts.enabled {
            opts.push(TcpOption::Timestamps {
                tsval: self.ts_now(now),
                tsecr: self.ts.recent,
            });
        }
        opts
    }

    /// The timestamp clock: milliseconds plus a per-subflow offset.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        self.ts.offset.wrapping_add((now.as_micros() / 1000) as u32)
    }

    /// Fill in the owner's options, SACK blocks and the window, then write.
    fn emit<O: SubflowOwner>(
        &mut self,
        now: Instant,
        owner: &mut O,
        plan: Plan,
        mut opts: OptionList,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        // Before the owner is asked: its options may mark signals as sent.
        if !self.fits(buf, plan.payload.len()) {
            return None;
        }
        let view = self.view();
        let used: usize = opts.iter().map(|o| o.len()).sum();
        let room = self.option_room(plan.payload.len());
        let meta = SegmentMeta {
            flags: plan.flags,
            seq: plan.seq,
            payload_len: plan.payload.len() as u32,
            dsn: plan.meta_dsn,
            map: plan.map,
            retransmission: plan.retransmission,
        };
        // Whatever fits within the room rounded down to whole words fits
        // once padded: the owner's accounting needs no padding rule.
        let limit = room & !3;
        let mut mp = MptcpOptionList::new();
        let fit = owner.options_for(&view, &meta, limit.saturating_sub(used), &mut mp);
        let mut used = used;
        let mut dropped = false;
        for m in mp {
            let opt = TcpOption::Mptcp(m);
            if used + opt.len() <= limit && !opts.is_full() {
                used += opt.len();
                opts.push(opt);
            } else {
                dropped = true;
            }
        }
        if !fit || (dropped && !plan.payload.is_empty()) {
            // The owner's required options do not fit: the segment must not
            // leave without them. Reset instead; the owner resends the data.
            self.stats.withheld_segments += 1;
            self.abort();
            return self.poll_transmit_into(now, owner, buf);
        }
        if !plan.flags.syn() && !opts.is_full() {
            self.add_sack(&mut opts, used, room);
        }
        let window = self.advertise_window(owner, plan.flags.syn());
        let ack = if plan.flags.ack() {
            self.rcv.nxt
        } else {
            SubflowSeq(0)
        };
        let repr = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: plan.seq,
            ack,
            flags: plan.flags,
            window,
            urgent: 0,
        };
        let tuple = (self.tuple.local, self.tuple.remote);
        let offload = self.config.checksum_offload;
        let len = buf.emit(tuple, &repr, &opts, &plan.payload, offload).ok()?;
        self.stats.segs_out += 1;
        if plan.flags.ack() {
            // Any segment carries the ACK; a pure one asked for still goes.
            if self.ack.due == AckDue::Ack {
                self.ack.due = AckDue::None;
            }
            self.ack.unacked_segments = 0;
            self.timers.cancel(TimerKind::DelayedAck);
            self.ts.last_ack_sent = self.rcv.nxt;
        }
        if self.repeat_acks && plan.payload.is_empty() && !plan.flags.syn() {
            self.arm(TimerKind::AckRepeat, now + self.rtt.rto());
        }
        Some(len)
    }

    /// Whether `buf` holds any segment with `payload` bytes this subflow
    /// may build: the headers, all the option room and the payload (unless
    /// gathered). Checked before anything is marked sent, so that a buffer
    /// too small (a caller's mistake) never loses a segment or a signal: it
    /// stays due (see [`Subflow::wants_larger_buffer`]).
    fn fits(&mut self, buf: &PacketBuf<'_>, payload: usize) -> bool {
        let headers = crate::segment::ip_header_len(self.tuple.local.ip()) + 20;
        let fits = buf.fits(headers + (self.option_room(payload) & !3), payload);
        self.short_buffer |= !fits;
        fits
    }

    /// Whether the last [`Subflow::poll_transmit`] returned `None` with a
    /// segment due that the buffer given was too small for: call again with
    /// a buffer of at least the MTU.
    pub fn wants_larger_buffer(&self) -> bool {
        self.short_buffer
    }

    /// SACK blocks (a D-SACK block first) for what the reassembly queue
    /// holds, as many as fit (see `Subflow::sack_option`).
    fn add_sack(&mut self, opts: &mut OptionList, used: usize, room: usize) {
        if !self.handshake.sack {
            return;
        }
        let n = (1..=4usize)
            .rev()
            .find(|n| padded(used + 2 + 8 * n) <= room)
            .unwrap_or(0);
        if let Some(sack) = self.sack_option(n) {
            opts.push(TcpOption::Sack(sack));
        }
    }

    /// The window field: the owner's free space, never moving the right
    /// edge left (RFC 9293 §3.8.6.2.1), scaled except on SYNs (RFC 7323
    /// §2.2). A shared (MPTCP) window is advertised as it is: the peer
    /// reads it from the DATA_ACK, whose edge the owner keeps from moving
    /// left; this subflow's own edge may then move left, and data up to the
    /// old one is still accepted.
    fn advertise_window<O: SubflowOwner>(&mut self, owner: &O, syn: bool) -> u16 {
        let space = owner.receive_space(&self.view());
        if syn {
            let wnd = space.min(u64::from(u16::MAX));
            self.rcv.adv = self.rcv.nxt + wnd as u32;
            self.rcv.told = self.rcv.adv;
            return wnd as u16;
        }
        let shift = self.rcv.wscale;
        let space = space.min(self.scaled_window_limit()) >> shift << shift;
        let mut right = self.rcv.nxt + space as u32;
        if right.lt(self.rcv.adv) {
            if owner.shared_window().is_some() {
                self.rcv.told = right;
                return (space >> shift) as u16;
            }
            right = self.rcv.adv;
        }
        self.rcv.adv = right;
        self.rcv.told = right;
        let wnd = ((right - self.rcv.nxt).max(0) as u64) >> shift;
        wnd.min(u64::from(u16::MAX)) as u16
    }

    fn emit_rst<O: SubflowOwner>(
        &mut self,
        rst: RstPlan,
        owner: &mut O,
        buf: &mut PacketBuf<'_>,
    ) -> Option<usize> {
        let headers = crate::segment::ip_header_len(self.tuple.local.ip()) + 20;
        if !buf.fits(headers + OPTION_SPACE, 0) {
            self.short_buffer = true;
            return None;
        }
        let view = self.view();
        let flags = if rst.ack.is_some() {
            TcpFlags::RST | TcpFlags::ACK
        } else {
            TcpFlags::RST
        };
        let meta = SegmentMeta {
            flags,
            seq: rst.seq,
            payload_len: 0,
            dsn: None,
            map: None,
            retransmission: false,
        };
        let mut mp = MptcpOptionList::new();
        owner.options_for(&view, &meta, OPTION_SPACE, &mut mp);
        let opts: OptionList = mp.into_iter().map(TcpOption::Mptcp).take(3).collect();
        let repr = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: rst.seq,
            ack: rst.ack.unwrap_or(SubflowSeq(0)),
            flags,
            window: 0,
            urgent: 0,
        };
        let tuple = (self.tuple.local, self.tuple.remote);
        let offload = self.config.checksum_offload;
        let len = buf.emit(tuple, &repr, &opts, &Bytes::new(), offload).ok()?;
        self.stats.segs_out += 1;
        Some(len)
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, siblings: &[SubflowCcView]) {
        for kind in self.timers.expired(now) {
            match kind {
                TimerKind::Rto => self.on_rto(now, siblings),
                TimerKind::DelayedAck => self.request_ack(),
                TimerKind::Reorder => self.on_reorder_timer(now, siblings),
                TimerKind::Persist => self.on_persist(now),
                TimerKind::TimeWait => self.enter_closed(CloseReason::Normal),
                TimerKind::AckRepeat => {
                    // Asked for now; the deadline moves on so that a
                    // subflow that cannot send does not keep it in the past.
                    self.request_ack();
                    self.arm(TimerKind::AckRepeat, now + self.rtt.rto());
                }
                // Nothing to do: the next poll may send again.
                TimerKind::Pace => {}
                TimerKind::Tlp => {
                    if self.rtx.has_outstanding() && self.recovery.is_none() {
                        self.ack.tlp = true;
                        // RFC 8985 §7.3: after the probe, the RTO takes over.
                        self.arm(TimerKind::Rto, now + self.rtt.rto());
                    }
                }
            }
        }
    }

    /// RFC 6298 §5.4-5.6 and RFC 5681 §3.1.
    fn on_rto(&mut self, now: Instant, siblings: &[SubflowCcView]) {
        if matches!(self.state, TcpState::SynSent | TcpState::SynReceived) {
            if self.handshake.sent > self.config.syn_retries {
                self.enter_closed(CloseReason::TimedOut);
                return;
            }
            self.rtt.back_off();
            self.handshake.due = true;
            return;
        }
        if !self.rtx.has_outstanding() {
            return;
        }
        self.rto_streak += 1;
        self.stats.rto_expirations += 1;
        if self.rto_streak > self.config.data_retries {
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.hystart.on_loss();
        if self.rto_streak == 1 {
            let in_flight = self.rtx.in_flight();
            let ctx = self.cc_context(siblings);
            self.cc.on_rto(now, in_flight, &ctx);
        }
        self.rtt.back_off();
        // A second timeout in a row: the receiver may have reneged on its
        // SACKs (RFC 2018 §8), so resend everything.
        self.rtx.on_rto(self.rto_streak >= 2);
        self.report_losses(now);
        self.recovery = Some(Recovery {
            point: self.snd.nxt,
            kind: RecoveryKind::Timeout,
        });
        self.dupacks = 0;
        self.arm(TimerKind::Rto, now + self.rtt.rto());
    }

    fn on_reorder_timer(&mut self, now: Instant, siblings: &[SubflowCcView]) {
        let in_flight = self.rtx.in_flight();
        let (lost, next) = self.rtx.rack_detect_loss(
            now,
            self.rtt.min_rtt(),
            self.rtt.srtt(),
            self.recovery.is_some(),
        );
        if let Some(t) = next {
            self.arm(TimerKind::Reorder, t);
        }
        if lost > 0 {
            self.enter_recovery(now, in_flight, siblings);
        }
        self.report_losses(now);
    }

    /// Tell the controller of each segment marked lost since the last call.
    pub(super) fn report_losses(&mut self, now: Instant) {
        for lost in self.rtx.take_newly_lost(now) {
            self.cc.on_segment_lost(&lost);
        }
    }

    /// The persist timer: probe the zero window, backing off.
    fn on_persist(&mut self, now: Instant) {
        if (self.window_room() > 0 && !self.send_pending) || self.rtx.has_outstanding() {
            return;
        }
        self.ack.probe = true;
        self.rtt.back_off();
        self.arm(TimerKind::Persist, now + self.rtt.rto());
    }
}
