//! The subflow's timers, in a table indexed by kind so that the next
//! deadline is one minimum.

use crate::time::Instant;

/// Every timer a subflow runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// Retransmission (and SYN/SYN-ACK retransmission).
    Rto,
    /// Delayed acknowledgment.
    DelayedAck,
    /// RACK reordering window (RFC 8985 §6.2 step 5).
    Reorder,
    /// Zero-window probe (persist).
    Persist,
    /// TIME-WAIT expiry.
    TimeWait,
    /// Tail loss probe (RFC 8985 §7).
    Tlp,
    /// The next paced departure (see `pacing`).
    Pace,
}

const COUNT: usize = 7;

impl TimerKind {
    const ALL: [TimerKind; COUNT] = [
        TimerKind::Rto,
        TimerKind::DelayedAck,
        TimerKind::Reorder,
        TimerKind::Persist,
        TimerKind::TimeWait,
        TimerKind::Tlp,
        TimerKind::Pace,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines by kind.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    at: [Option<Instant>; COUNT],
}

impl Timers {
    pub(super) fn set(&mut self, kind: TimerKind, at: Instant) {
        self.at[kind.index()] = Some(at);
    }

    pub(super) fn cancel(&mut self, kind: TimerKind) {
        self.at[kind.index()] = None;
    }

    pub(super) fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.at[kind.index()]
    }

    pub(super) fn is_armed(&self, kind: TimerKind) -> bool {
        self.get(kind).is_some()
    }

    pub(super) fn clear_all(&mut self) {
        self.at = [None; COUNT];
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Take every timer due at `now`, earliest kind order.
    pub(super) fn expired(&mut self, now: Instant) -> impl Iterator<Item = TimerKind> + use<> {
        let mut due = [None; COUNT];
        for kind in TimerKind::ALL {
            if self.get(kind).is_some_and(|t| t <= now) {
                self.cancel(kind);
                due[kind.index()] = Some(kind);
            }
        }
        due.into_iter().flatten()
    }
}
