//! The connection's own timers, in a table keyed by [`Timer`]: the
//! data-level retransmission timeout, ADD_ADDR retries, the wait for an
//! answer to our MP_FAIL, the path manager's retries and the buffers'
//! release. Each has one rule that arms it (the `arm_*` functions, run
//! after any activity) and one handler (run when the table says it
//! expired). `poll_timeout` is the earliest of the table, the subflows'
//! own timers (the repeated third ACK of our joins is one of those:
//! `Subflow::repeat_acks`) and the paths' removal probes.

use super::Connection;
use super::mptcp::{DataFinTx, Mode};
use super::reinject::is_stale;
use super::signals::{self, SIGNAL_ACK_INTERVAL};
use crate::subflow::TcpState;
use crate::time::{Duration, Instant};
use crate::timer::{TimerKind, TimerTable};
use mptcp_wire::DataSeq;

/// Every timer of the connection itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The buffers' allocations go once the connection is idle
    /// ([`TRIM_AFTER`]).
    Trim,
    /// After our MP_FAIL on the only subflow: the peer's answer is
    /// overdue (RFC 8684 §3.7).
    FailAnswer,
    /// An ADD_ADDR not yet echoed is sent again (RFC 8684 §3.4.1).
    AddAddr,
    /// The DATA_ACK stopped moving: reinject the oldest data.
    DataRto,
    /// The path manager's next decision (a subflow retried).
    PathManager,
}

impl TimerKind for Timer {
    const ALL: &'static [Timer] = &[
        Timer::Trim,
        Timer::FailAnswer,
        Timer::AddAddr,
        Timer::DataRto,
        Timer::PathManager,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The connection's deadlines.
pub(super) type Timers = TimerTable<Timer, 5>;

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
    /// for a DATA_ACK; a DATA_ACK that moves restarts it.
    pub(super) fn arm_data_rtx(&mut self, now: Instant) {
        let Mode::Mptcp(mp) = &self.data.mode else {
            self.timers.cancel(Timer::DataRto);
            return;
        };
        let waiting = self.data.send.una().lt(self.data.send.nxt())
            || matches!(mp.data_fin, DataFinTx::Pending(_));
        if !waiting {
            self.rtx = DataRtx::default();
            self.timers.cancel(Timer::DataRto);
            return;
        }
        if self.data.send.una() != self.rtx.una {
            self.rtx.una = self.data.send.una();
            self.rtx.backoff = 0;
            self.timers.cancel(Timer::DataRto);
        }
        if !self.timers.is_armed(Timer::DataRto) {
            let at = now + self.data_rto();
            self.timers.set(Timer::DataRto, at);
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
        if !(self.buffers_idle() && holds) {
            self.timers.cancel(Timer::Trim);
        } else if !self.timers.is_armed(Timer::Trim) {
            self.timers.set(Timer::Trim, now + TRIM_AFTER);
        }
    }

    /// Once our MP_FAIL went out, wait [`super::dss::FAIL_WAIT`] for the
    /// peer's answer.
    pub(super) fn arm_fail_answer(&mut self, now: Instant) {
        let sent = self
            .data
            .mode
            .mptcp()
            .is_some_and(|m| m.fail_sent.is_some());
        if sent && !self.timers.is_armed(Timer::FailAnswer) {
            self.timers
                .set(Timer::FailAnswer, now + super::dss::FAIL_WAIT);
        }
    }

    /// The next ADD_ADDR retry, while a subflow can carry it, and not
    /// before the last pure ACK asked for has had its chance.
    fn arm_add_addr(&mut self) {
        let can_send = self
            .subflows
            .iter()
            .any(|e| e.path.can_carry_data() && e.sf.state().can_send());
        let asked = self
            .subflows
            .iter()
            .filter_map(|e| e.path.signal_ack_at)
            .max()
            .map(|t| t + SIGNAL_ACK_INTERVAL);
        let at = can_send
            .then(|| signals::next_retry(&self.data))
            .flatten()
            .map(|t| asked.map_or(t, |a| t.max(a)));
        self.timers.set_or_stop(Timer::AddAddr, at);
    }

    /// The timers that follow state another part owns (the announcements,
    /// the path manager's retries): brought up to date before the table is
    /// read.
    fn arm_derived(&mut self) {
        self.arm_add_addr();
        let pm = self.pm.manager.poll_timeout();
        self.timers.set_or_stop(Timer::PathManager, pm);
    }

    /// Run the connection's timers due at `now`, and the removal probes.
    pub(super) fn on_timers(&mut self, now: Instant) {
        self.arm_derived();
        self.finish_removal_probes(now);
        for e in &mut self.subflows {
            // Past its hold, a join takes data like any subflow; the
            // scheduler runs after every timer.
            if e.path.data_hold.is_some_and(|t| t <= now) {
                e.path.data_hold = None;
            }
        }
        for timer in self.timers.expired(now) {
            match timer {
                Timer::Trim => {
                    if self.buffers_idle() {
                        self.data.recv.release();
                        self.data.send.release();
                    }
                }
                // The peer never answered our MP_FAIL.
                Timer::FailAnswer => self.data.fatal = Some(super::ConnectionError::Corrupted),
                Timer::AddAddr => self.resend_announcements(now),
                Timer::DataRto => self.on_data_rto(now),
                Timer::PathManager => self.run_path_manager(now),
            }
        }
    }

    /// An ADD_ADDR awaits its echo: resend it on a pure ACK.
    fn resend_announcements(&mut self, now: Instant) {
        if let Some(e) = self
            .subflows
            .iter_mut()
            .find(|e| e.path.can_carry_data() && e.sf.state().can_send())
        {
            e.path.signal_ack_at = Some(now);
            e.sf.request_pure_ack();
        }
    }

    /// The DATA_ACK did not move for a data-level RTO: reinject the
    /// oldest data (up to [`REINJECT_CHUNK`]) and back off.
    fn on_data_rto(&mut self, now: Instant) {
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

    /// The earliest deadline of any timer.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.arm_derived();
        let subflows = self.subflows.iter().filter_map(|e| e.sf.poll_timeout());
        let probes = self.subflows.iter().filter_map(|e| e.path.removal_probe);
        let holds = self.subflows.iter().filter_map(|e| e.path.data_hold);
        subflows
            .chain(probes)
            .chain(holds)
            .chain(self.timers.next())
            .min()
    }
}
