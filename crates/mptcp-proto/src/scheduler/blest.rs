//! Blocking Estimation (BLEST).
//!
//! S. Ferlin, Ö. Alay, O. Mehani, R. Boreli, "BLEST: Blocking
//! Estimation-based MPTCP Scheduler for Heterogeneous Networks", IFIP
//! Networking 2016.
//!
//! Bytes sent on a slow subflow hold their part of the connection's send
//! window (the peer's receive window, or our send buffer) for a whole slow
//! round trip. With a limited window, the fast subflow may then run out of
//! window although its congestion window has room: it is blocked behind
//! the slow path's bytes (head-of-line blocking at the sender). BLEST
//! estimates, before it hands bytes to a slow subflow, how much the fast
//! one would send during that slow round trip, and leaves the slow subflow
//! idle when what would be left of the window is too small for it.
//!
//! # The rule, in the paper's notation
//!
//! - x_f: the fastest subflow (lowest smoothed RTT) of the data-carrying
//!   class, *whether or not it has room*; the class is the regular
//!   subflows, or the backup ones when no regular subflow exists
//!   (RFC 8684 §3.3.8).
//! - x_s: the fastest subflow of the same class other than x_f *with*
//!   room (what the lowest-RTT scheduler would pick).
//! - rtts = RTT_s / RTT_f, the fast round trips in one slow one.
//! - X = MSS_f · (CWND_f + (rtts − 1)/2) · rtts: the bytes x_f sends in
//!   rtts round trips if its window (CWND_f segments now) grows by one
//!   segment per round trip, as in congestion avoidance.
//! - |SW|: the connection-level send window ([`SchedContext::send_window`]);
//!   inflight_s: what x_s holds of it ([`PathView::unacked`], in bytes).
//! - λ: a correction of the estimate, adapted while the connection runs.
//!
//! ```text
//! if x_f has room:                      send on x_f
//! else if there is no x_s:              wait
//! else if λ·X > |SW| − (inflight_s + MSS_s):
//!                                       wait for x_f
//! else:                                 send on x_s
//! ```
//!
//! With CWND_f in bytes, X = (CWND_f + MSS_f·(rtts − 1)/2)·rtts; the
//! comparison is cross-multiplied by 2·RTT_f² (and λ kept in thousandths)
//! in saturating 128-bit integers, so there is no division and no panic on
//! any input. When x_s already holds more than the window less one
//! segment, the right side is zero and BLEST waits for x_f unless x_f
//! would send nothing at all (X = 0).
//!
//! # λ
//!
//! The estimate is rough (windows do not grow exactly so, RTTs vary), so
//! the paper scales it by λ and adapts λ to what happens: up by
//! [`Blest::LAMBDA_UP`] after a period in which x_f was blocked by the
//! window all the same, down by [`Blest::LAMBDA_DOWN`] after one in which
//! it was not, within [[`Blest::LAMBDA_MIN`], [`Blest::LAMBDA_MAX`]].
//!
//! λ starts below one ([`Blest::LAMBDA_INITIAL`] = 0.8) and may fall to
//! 0.5, a choice measured with `mptcp sim`, not taken from the paper. X
//! is largest while the slow subflow is in slow start, its RTT inflated by
//! its own queue; a λ of one then keeps it short of data just before its
//! first loss, so that its flight size, and with it the slow-start
//! threshold it falls back to (RFC 5681: FlightSize/2), stays small, and a
//! coupled controller grows it back by one segment per long round trip.
//! Starting at 1.0 (floor 0.8) lost 5 % to the lowest-RTT scheduler with a
//! 2 MiB window over 100 Mbit/s 5 ms + 50 Mbit/s 40 ms; starting at 0.8
//! (floor 0.5) gained 2 to 30 % over it with 0.5 to 4 MiB windows and
//! matched it with 8 MiB. A
//! period lasts one round trip of the slowest subflow of the class (the
//! time a decision takes to show its effect); λ changes at most once per
//! period. x_f counts as blocked when the window, not its congestion
//! window, keeps it from sending: it has more room than the window leaves
//! and more bytes wait than the window takes.
//!
//! Points of interpretation, written down on purpose:
//! - the paper adds one segment (MSS_s) to x_s's occupancy; the connection
//!   hands out up to one mapping (about 64 KB) per decision, but asks
//!   again before each one, so the check holds chunk by chunk;
//! - the paper's MPTCP send window is the window size, not the room left
//!   in it: x_f's own bytes in flight are part of X.

use super::{PathView, SchedContext, Scheduler, SchedulerKind, eligible, fastest};
use crate::time::{Duration, Instant};

/// The BLEST scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blest {
    /// λ in thousandths.
    lambda: u32,
    /// When the current λ period began (none before the first call).
    period_start: Option<Instant>,
    /// Whether x_f was blocked by the window during the current period.
    blocked: bool,
}

impl Default for Blest {
    fn default() -> Blest {
        Blest::new()
    }
}

impl Blest {
    /// λ at the start, in thousandths.
    pub const LAMBDA_INITIAL: u32 = 800;
    /// The smallest λ, in thousandths.
    pub const LAMBDA_MIN: u32 = 500;
    /// The largest λ, in thousandths.
    pub const LAMBDA_MAX: u32 = 1500;
    /// λ's increase after a period with blocking, in thousandths.
    pub const LAMBDA_UP: u32 = 50;
    /// λ's decrease after a period without, in thousandths.
    pub const LAMBDA_DOWN: u32 = 10;

    /// A new scheduler with the initial λ.
    pub fn new() -> Blest {
        Blest::with_lambda(Self::LAMBDA_INITIAL)
    }

    /// A new scheduler starting at λ = `lambda` thousandths (within
    /// [`Blest::LAMBDA_MIN`] and [`Blest::LAMBDA_MAX`]).
    pub fn with_lambda(lambda: u32) -> Blest {
        Blest {
            lambda: lambda.clamp(Self::LAMBDA_MIN, Self::LAMBDA_MAX),
            period_start: None,
            blocked: false,
        }
    }

    /// λ in thousandths.
    pub fn lambda(&self) -> u32 {
        self.lambda
    }

    /// The paper's test for a full `fast` (x_f) against `slow` (x_s):
    /// whether sending on x_s would block x_f.
    fn would_block(&self, fast: &PathView, slow: &PathView, send_window: u64) -> bool {
        let rtt_f = u128::from(fast.srtt.as_micros());
        let rtt_s = u128::from(slow.srtt.as_micros());
        let (cwnd_f, mss_f) = (u128::from(fast.cwnd), u128::from(fast.mss));
        let holds = slow.unacked.saturating_add(u64::from(slow.mss));
        let avail = u128::from(send_window.saturating_sub(holds));
        // λ·X·2·RTT_f² = λ·(2·RTT_f·CWND_f + MSS_f·(RTT_s − RTT_f))·RTT_s.
        let growth = mss_f.saturating_mul(rtt_s.saturating_sub(rtt_f));
        let x = rtt_f
            .saturating_mul(2)
            .saturating_mul(cwnd_f)
            .saturating_add(growth)
            .saturating_mul(rtt_s);
        let lhs = x.saturating_mul(u128::from(self.lambda));
        let rhs = rtt_f
            .saturating_mul(rtt_f)
            .saturating_mul(2000)
            .saturating_mul(avail);
        lhs > rhs
    }

    /// Note whether x_f (`fast`) is blocked by the window now, and move λ
    /// when a period of `period` has passed.
    fn observe(&mut self, fast: &PathView, ctx: &SchedContext, period: Duration) {
        let window_bound = ctx.unsent > ctx.window_room && fast.send_space > ctx.window_room;
        self.blocked |= window_bound;
        let Some(start) = self.period_start else {
            self.period_start = Some(ctx.now);
            return;
        };
        if ctx.now.saturating_duration_since(start) < period {
            return;
        }
        self.lambda = if self.blocked {
            self.lambda.saturating_add(Self::LAMBDA_UP)
        } else {
            self.lambda.saturating_sub(Self::LAMBDA_DOWN)
        }
        .clamp(Self::LAMBDA_MIN, Self::LAMBDA_MAX);
        self.blocked = false;
        self.period_start = Some(ctx.now);
    }
}

impl Scheduler for Blest {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Blest
    }

    fn select(&mut self, paths: &[PathView], ctx: &SchedContext, out: &mut Vec<usize>) {
        let Some(f) = fastest(eligible(paths)) else {
            return;
        };
        let period = eligible(paths)
            .map(|(_, p)| p.srtt)
            .max()
            .unwrap_or_default();
        self.observe(&paths[f], ctx, period);
        if paths[f].has_room() {
            out.push(f);
            return;
        }
        let Some(s) = fastest(eligible(paths).filter(|(i, p)| *i != f && p.has_room())) else {
            return;
        };
        // Waiting is for a fast path whose ACKs will free its window; one
        // with nothing in flight is held by its peer's window (or a path
        // that died), and no ACK will come to free it.
        if paths[f].in_flight == 0 || !self.would_block(&paths[f], &paths[s], ctx.send_window) {
            out.push(s);
        }
    }
}
