//! The connection's own timers: the data-level retransmission timeout,
//! the repeated third ACK of our joins, ADD_ADDR retries, the wait for an
//! answer to our MP_FAIL, and removal probes; `poll_timeout` is the
//! earliest of them and of the subflows' timers.

use super::Connection;
use super::mptcp::{DataFinTx, Mode};
use super::path_state::{JoinStage, PathKind};
use super::reinject::is_stale;
use crate::subflow::TcpState;
use crate::time::{Duration, Instant};
use mptcp_wire::DataSeq;

/// The most bytes reinjected per expiry of the data-level timer.
const REINJECT_CHUNK: u64 = 64 * 1024;
/// The floor of the data-level retransmission timeout.
const MIN_DATA_RTO: Duration = Duration::from_millis(200);

/// How long a connection stays idle (everything read and acknowledged)
/// before its buffers' allocations are let go: an active one keeps them
/// for reuse, an idle one costs only its state (100,000 idle connections
/// that had carried bulk data would otherwise hold over 1 MB each).
pub(super) const TRIM_AFTER: Duration = Duration::from_secs(1);

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

    /// Whether everything was read and acknowledged.
    fn buffers_idle(&self) -> bool {
        self.data.recv.readable() == 0 && self.data.send.is_empty()
    }

    /// Arm the buffers' release once the connection is idle and holds an
    /// allocation; any activity disarms it.
    pub(super) fn arm_trim(&mut self, now: Instant) {
        let holds = self.data.recv.holds_memory() || self.data.send.holds_memory();
        if self.buffers_idle() && holds {
            self.trim_at.get_or_insert(now + TRIM_AFTER);
        } else {
            self.trim_at = None;
        }
    }

    /// Data-level timers: reinjection, DATA_FIN and join-ACK retransmission.
    pub(super) fn on_data_timers(&mut self, now: Instant) {
        if self.trim_at.is_some_and(|t| t <= now) {
            self.trim_at = None;
            if self.buffers_idle() {
                self.data.recv.release();
                self.data.send.release();
            }
        }
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
            .chain(self.trim_at)
            .chain(self.subflows.iter().filter_map(|e| e.path.removal_probe))
            .chain(signals)
            .min()
    }
}
