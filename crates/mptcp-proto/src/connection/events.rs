//! What follows any activity on a subflow: requests the hooks left,
//! acknowledgments in TCP mode, subflow events, and the connection's close.

use super::mptcp::{DataFinTx, Mode};
use super::owner::Owner;
use super::path_state::{JoinStage, OurReset, PathKind, ResetCause};
use super::{ConnEvent, ConnState, Connection, ConnectionError};
use crate::segment::SegmentIn;
use crate::stats::Mib;
use crate::subflow::{CloseReason, SubflowEvent, SubflowId, TcpState};
use crate::time::{Duration, Instant};

/// The least time a removed path gets to answer its keepalive probe.
const REMOVAL_PROBE_MIN: Duration = Duration::from_millis(500);
use mptcp_wire::DataSeq;

impl Connection {
    pub(super) fn index_of(&self, id: SubflowId) -> Option<usize> {
        self.subflows.iter().position(|e| e.sf.id() == id)
    }

    /// A segment for subflow `id`.
    pub fn handle_segment(&mut self, now: Instant, id: SubflowId, seg: &SegmentIn<'_>) {
        self.last_now = now;
        let Some(idx) = self.index_of(id) else {
            return;
        };
        self.fill_cc_views(idx);
        let entry = &mut self.subflows[idx];
        let peer_backup = entry.path.peer_backup;
        let mut owner = Owner {
            data: &mut self.data,
            path: &mut entry.path,
            now,
        };
        entry
            .sf
            .handle_segment(now, seg, &mut owner, &self.cc_scratch);
        self.feed_sbd(idx, now);
        if self.subflows[idx].path.peer_backup != peer_backup
            && let Some(sub) = self.sub_attrs(idx)
        {
            // The peer's MP_PRIO changed it (RFC 8684 §3.3.8).
            self.push_pm_event(crate::pm::PmEvent::SubPriority(sub));
        }
        self.after_activity(idx, now);
    }

    /// Run due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        for idx in 0..self.subflows.len() {
            if self.subflows[idx]
                .sf
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.fill_cc_views(idx);
                self.subflows[idx].sf.handle_timeout(now, &self.cc_scratch);
                self.after_activity(idx, now);
            }
        }
        self.on_timers(now);
        self.end_if_fatal();
    }

    pub(super) fn fill_cc_views(&mut self, idx: usize) {
        self.cc_scratch.clear();
        let me = self.subflows[idx].sf.id().0;
        for (i, e) in self.subflows.iter().enumerate() {
            let coupled = i == idx || self.sbd.as_ref().is_none_or(|s| s.couples(me, e.sf.id().0));
            if coupled && e.sf.state().is_synchronized() && e.path.can_carry_data() {
                self.cc_scratch.push(e.sf.cc_view(i == idx));
            }
        }
    }

    /// Everything that may follow a call into subflow `idx`.
    pub(super) fn after_activity(&mut self, idx: usize, now: Instant) {
        self.track_staleness(idx);
        if let Some(mp) = self.data.mode.mptcp() {
            // The checksum decision may have changed with the handshake.
            let reserve = super::transmit::dss_reserve(mp.checksum);
            self.subflows[idx].sf.set_option_reserve(reserve);
        }
        let entry = &mut self.subflows[idx];
        if entry.path.reset.is_some() {
            // A hook decided to reset it (a no-op once it is closed).
            entry.sf.abort();
        }
        // RFC 8684 §3.2: our third ACK of a join is repeated until the
        // peer acknowledges it (a subflow timer).
        let third_ack =
            matches!(entry.path.kind, PathKind::Join(j) if j.stage == JoinStage::AckPending);
        entry.sf.repeat_acks(third_ack);
        let quiet = entry
            .path
            .signal_ack_at
            .is_none_or(|t| now >= t + super::signals::SIGNAL_ACK_INTERVAL);
        if quiet
            && entry.path.can_carry_data()
            && super::signals::due_on(&self.data, &entry.path, now)
        {
            entry.path.signal_ack_at = Some(now);
            entry.sf.request_pure_ack();
        }
        self.sync_tcp_ack(idx);
        while let Some(ev) = self.subflows[idx].sf.poll_event() {
            self.on_subflow_event(idx, ev);
        }
        if self.data.mode.is_tcp() && idx == 0 && self.subflows[0].sf.state() == TcpState::TimeWait
        {
            // Both directions closed: the stream is done.
            self.finish(None);
        }
        self.after_data_level(now);
        self.arm_trim(now);
    }

    /// TCP mode: the first subflow's acknowledgments are the data level's.
    fn sync_tcp_ack(&mut self, idx: usize) {
        if idx != 0 {
            return;
        }
        let acked = self.subflows[0].sf.stats().bytes_acked;
        let una = match &mut self.data.mode {
            Mode::Plain => DataSeq(acked),
            Mode::Fallback {
                dsn_base,
                acked_base,
                ..
            } => *dsn_base + acked.saturating_sub(*acked_base.get_or_insert(acked)),
            Mode::Mptcp(_) => return,
        };
        if self.data.send.ack(una) > 0 {
            self.data.on_send_progress();
        }
    }

    fn on_subflow_event(&mut self, idx: usize, ev: SubflowEvent) {
        match ev {
            SubflowEvent::Established => {
                self.pm_on_established(idx);
                if idx == 0 && self.state == ConnState::Handshaking {
                    self.state = ConnState::Open;
                    self.data.events.push_back(ConnEvent::Connected);
                }
            }
            SubflowEvent::PeerFin => {
                if self.data.mode.is_tcp() && idx == 0 {
                    let at = self.data.recv.nxt();
                    self.data.recv.set_fin(at);
                    self.data.note_peer_fin();
                }
                // With MPTCP a subflow FIN ends only that subflow's
                // direction; the stream ends with the DATA_FIN, and our side
                // of the subflow closes once our DATA_FIN is acknowledged.
            }
            SubflowEvent::Closed(reason) => self.on_subflow_closed(idx, reason),
        }
    }

    fn on_subflow_closed(&mut self, idx: usize, reason: CloseReason) {
        self.data.live_subflows = self.data.live_subflows.saturating_sub(1);
        self.pm_on_closed(idx, reason);
        if reason != CloseReason::Normal {
            self.data.mib.inc(Mib::RmSubflow);
        }
        let err = match reason {
            CloseReason::Normal => None,
            CloseReason::ResetByPeer => Some(ConnectionError::Reset),
            CloseReason::Refused => Some(ConnectionError::Refused),
            CloseReason::TimedOut => Some(ConnectionError::TimedOut),
            CloseReason::Aborted => Some(match self.subflows[idx].path.violation() {
                Some(v) => ConnectionError::ProtocolViolation(v),
                None => ConnectionError::Aborted,
            }),
        };
        if self.data.mode.is_tcp() {
            if idx == 0 {
                self.finish(err);
            }
            return;
        }
        // Whatever this subflow still held goes out on the others.
        self.reinject_held(idx);
        if self.data.live_subflows == 0 {
            let done = self.data_level_done();
            if !done {
                self.last_subflow_reset(idx);
            }
            let err = if self.subflows[idx].path.fail_due.is_some() {
                // Our checksum failed on it (RFC 8684 §3.7, the data not
                // contiguous): nothing altered was delivered, and nothing
                // more will come.
                Some(ConnectionError::Corrupted)
            } else {
                err
            };
            self.finish(if done {
                None
            } else {
                err.or(Some(ConnectionError::Reset))
            });
        }
    }

    /// We reset the last subflow with the stream unfinished: the peer's
    /// connection would be left without a subflow and, if it opens none
    /// (a server never does), wait for ever. The RST, not sent yet,
    /// carries MP_FASTCLOSE as well (RFC 8684 §3.5), so that the peer's
    /// connection ends with ours.
    fn last_subflow_reset(&mut self, idx: usize) {
        let known = self.data.mode.mptcp().is_some_and(|m| m.remote.is_some());
        let path = &mut self.subflows[idx].path;
        if known && let Some(OurReset::Subflow(cause)) = path.reset {
            path.reset = Some(OurReset::FastClose(Some(cause)));
        }
    }

    /// MPTCP: our DATA_FIN was acknowledged and the peer's arrived.
    fn data_level_done(&self) -> bool {
        match &self.data.mode {
            Mode::Mptcp(mp) => mp.data_fin == DataFinTx::Acked && self.data.recv.is_eof(),
            _ => false,
        }
    }

    /// Connection-level consequences of what the hooks recorded.
    fn after_data_level(&mut self, now: Instant) {
        self.arm_data_rtx(now);
        if self.end_if_fatal() {
            return;
        }
        self.arm_fail_answer(now);
        if matches!(self.data.mode, Mode::Fallback { .. }) {
            self.on_fallback();
        }
        let Mode::Mptcp(mp) = &mut self.data.mode else {
            return;
        };
        if mp.fast_closed {
            // RFC 8684 §3.5: the peer tore the connection down.
            for e in &mut self.subflows {
                e.sf.abort();
            }
            self.finish(Some(ConnectionError::Reset));
            return;
        }
        let removed = std::mem::take(&mut mp.removed);
        // A removed address announced again later is joined again.
        mp.remote_addrs.retain(|r| !removed.contains(&r.id));
        if !removed.is_empty() {
            self.pm_removed(&removed);
        }
        let Mode::Mptcp(mp) = &mut self.data.mode else {
            return;
        };
        let fin_acked = mp.data_fin == DataFinTx::Acked;
        for e in &mut self.subflows {
            let removing = removed.contains(&e.path.remote_id)
                && matches!(e.path.kind, PathKind::Join(_))
                && e.sf.state() != TcpState::Closed;
            e.path.peer_removed |= removing;
            if e.path.peer_removed && e.sf.state().peer_closed() && e.sf.state() != TcpState::Closed
            {
                // The peer shut the subflow itself: nothing to probe.
                e.sf.abort();
            } else if removing && e.path.removal_probe.is_none() {
                // RFC 8684 §3.4.2: make sure the path is gone before closing
                // it (a forged REMOVE_ADDR must not cut a live path): a
                // keepalive first.
                let wait = e.sf.rtt().rto().saturating_mul(2).max(REMOVAL_PROBE_MIN);
                e.path.removal_probe = Some(now + wait);
                e.path.heard_since_probe = false;
                e.sf.request_keepalive();
            }
            // RFC 8684 §3.3.3: once the DATA_FIN is acknowledged the
            // subflows close.
            if fin_acked && !e.path.fin_queued {
                e.path.fin_queued = true;
                e.sf.close();
            }
        }
        if self.data_level_done() {
            self.finish(None);
        }
        self.run_path_manager(now);
    }

    /// Subflows whose removal probe timed out without an answer are reset;
    /// those that answered stay (the peer closes them if it meant to).
    pub(super) fn finish_removal_probes(&mut self, now: Instant) {
        for e in &mut self.subflows {
            let Some(deadline) = e.path.removal_probe else {
                continue;
            };
            if e.sf.state().peer_closed() {
                // It answered by closing: the removal was meant.
                e.path.removal_probe = None;
                e.sf.abort();
            } else if e.path.heard_since_probe {
                e.path.removal_probe = None;
                self.data.mib.inc(Mib::RmAddrProbeAnswered);
            } else if now >= deadline {
                e.path.removal_probe = None;
                e.sf.abort();
            }
        }
    }

    /// A hook found the connection cannot go on: reset every subflow and
    /// end it with that error. Returns whether it did.
    pub(super) fn end_if_fatal(&mut self) -> bool {
        let Some(err) = self.data.fatal.take() else {
            return false;
        };
        // MP_FASTCLOSE on every RST (RFC 8684 §3.5): one that gets through
        // ends the whole connection at the peer, even if a path is dead.
        for e in &mut self.subflows {
            e.path.reset = Some(OurReset::FastClose(Some(ResetCause::Middlebox)));
            e.sf.abort();
        }
        self.finish(Some(err));
        true
    }

    /// After falling back, only the first subflow carries the stream and
    /// it carries no MPTCP options.
    fn on_fallback(&mut self) {
        let Some(first) = self.subflows.first_mut() else {
            return;
        };
        let Mode::Fallback { owed, .. } = &self.data.mode else {
            return;
        };
        // Room for the infinite mapping until it went out.
        let reserve = if owed.infinite_map {
            super::transmit::dss_reserve(owed.checksum)
        } else {
            0
        };
        first.sf.set_option_reserve(reserve);
        if owed.fail_echo.is_some() {
            first.sf.request_ack();
        }
        for e in self.subflows.iter_mut().skip(1) {
            e.sf.abort();
        }
    }
}
