//! The subflow's timers, in a table indexed by kind so that the next
//! deadline is one minimum.

use crate::timer::TimerTable;

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
    /// The owner's pure ACK repeated until the peer shows it arrived (see
    /// [`super::Subflow::repeat_acks`]).
    AckRepeat,
}

const COUNT: usize = 8;

impl crate::timer::TimerKind for TimerKind {
    const ALL: &'static [TimerKind] = &[
        TimerKind::Rto,
        TimerKind::DelayedAck,
        TimerKind::Reorder,
        TimerKind::Persist,
        TimerKind::TimeWait,
        TimerKind::Tlp,
        TimerKind::Pace,
        TimerKind::AckRepeat,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines by kind.
pub(super) type Timers = TimerTable<TimerKind, COUNT>;
