//! Earliest Completion First (ECF).
//!
//! Y. Lim, E. M. Nahum, D. Towsley, R. J. Gibbens, "ECF: An MPTCP Path
//! Scheduler to Manage Heterogeneous Paths", ACM CoNEXT 2017.
//!
//! With paths of very different speed, the lowest-RTT scheduler hands
//! bytes to the slow path whenever the fast one is full, and the transfer
//! then ends with the fast path idle while the last bytes crawl over the
//! slow one. ECF estimates when the remaining data would be complete on
//! each of the two candidates and leaves the slow path idle when waiting
//! for the fast one finishes sooner.
//!
//! # The rule, in the paper's notation
//!
//! - x_f: the fastest subflow (lowest smoothed RTT) of the data-carrying
//!   class, *whether or not it has room*; the class is the regular
//!   subflows, or the backup ones when no regular subflow exists
//!   (RFC 8684 §3.3.8).
//! - x_s: the fastest subflow of the same class other than x_f *with*
//!   room (what the lowest-RTT scheduler would pick).
//! - k: bytes waiting to be sent ([`SchedContext::unsent`]); CWND_f,
//!   CWND_s congestion windows in bytes; RTT_f, RTT_s smoothed RTTs;
//!   σ_f, σ_s RTT variations; δ = max(σ_f, σ_s).
//! - β = 1/4, and `waiting` ∈ {0, 1}, a hysteresis flag kept across calls.
//!
//! ```text
//! if x_f has room:                      send on x_f
//! else if there is no x_s:              wait
//! else:
//!     n = 1 + k / CWND_f
//!     if n·RTT_f < (1 + waiting·β)·(RTT_s + δ):
//!         if max(k / CWND_s, 1)·RTT_s ≥ 2·RTT_f + δ:
//!             waiting = 1;              wait for x_f
//!         else:                         send on x_s
//!     else:
//!         waiting = 0;                  send on x_s
//! ```
//!
//! The first test says that x_f, even counting the round trip spent
//! waiting for its window to open, drains all k bytes before one round
//! trip of x_s (with a variance margin) would deliver anything. The second
//! says that x_s would not be done with its share before x_f, waited for,
//! has sent twice; only then is idling x_s worth it. `waiting` widens the
//! first threshold by β once ECF has decided to wait, so that it does not
//! flip between the two answers on small RTT fluctuations.
//!
//! Two points of interpretation, both written down here on purpose:
//! - k / CWND_f and k / CWND_s are exact fractions (the comparisons are
//!   cross-multiplied in 128-bit integers), not integer divisions;
//! - the second test counts at least one round trip on x_s (`max(.., 1)`),
//!   as the authors' Linux implementation (`mptcp_ecf.c`) does: a few
//!   bytes on x_s still take a whole RTT_s to arrive, so the tail of a
//!   transfer is not handed to the slow path. (That implementation also
//!   rounds k up to one CWND_f in n; we keep the paper's n = 1 + k/CWND_f.)
//!
//! A subflow with a zero congestion window never looks worth waiting for:
//! with CWND_f = 0 the first test is false.

use super::{PathView, SchedContext, Scheduler, SchedulerKind, eligible, fastest};

/// The Earliest Completion First scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ecf {
    /// The paper's `waiting`: ECF last decided to wait for the fastest
    /// subflow rather than use a slower one.
    waiting: bool,
}

/// What ECF makes of a full fastest subflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Leave x_s idle and wait for x_f (sets `waiting`).
    Wait,
    /// Send on x_s; `waiting` stays as it is.
    UseSlow,
    /// Send on x_s, x_f is not worth waiting for (clears `waiting`).
    UseSlowReset,
}

impl Ecf {
    /// 1/β: the hysteresis margin is a quarter of RTT_s + δ.
    pub const R_BETA: u64 = 4;

    /// A new scheduler, not waiting.
    pub fn new() -> Ecf {
        Ecf::default()
    }

    /// Whether the last decision between a full fastest subflow and a
    /// slower one with room was to wait (the paper's `waiting`).
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// The paper's two tests for a full `fast` (x_f) against `slow` (x_s)
    /// with `k` bytes to send.
    fn judge(&self, fast: &PathView, slow: &PathView, k: u64) -> Verdict {
        let rtt_f = u128::from(fast.srtt.as_micros());
        let rtt_s = u128::from(slow.srtt.as_micros());
        let delta = u128::from(fast.rttvar.max(slow.rttvar).as_micros());
        let (cwnd_f, cwnd_s, k) = (u128::from(fast.cwnd), u128::from(slow.cwnd), u128::from(k));
        let r_beta = u128::from(Self::R_BETA);
        let waiting = u128::from(self.waiting);
        // n·RTT_f < (1 + waiting·β)(RTT_s + δ), n = 1 + k/CWND_f, times
        // CWND_f·(1/β) on both sides.
        let fast_first =
            r_beta * (cwnd_f + k) * rtt_f < cwnd_f * (r_beta + waiting) * (rtt_s + delta);
        if !fast_first {
            return Verdict::UseSlowReset;
        }
        // max(k/CWND_s, 1)·RTT_s ≥ 2·RTT_f + δ, times CWND_s.
        let slow_too_slow = k.max(cwnd_s) * rtt_s >= cwnd_s * (2 * rtt_f + delta);
        if slow_too_slow {
            Verdict::Wait
        } else {
            Verdict::UseSlow
        }
    }
}

impl Scheduler for Ecf {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Ecf
    }

    fn select(&mut self, paths: &[PathView], ctx: &SchedContext, out: &mut Vec<usize>) {
        let Some(f) = fastest(eligible(paths)) else {
            return;
        };
        if paths[f].has_room() {
            out.push(f);
            return;
        }
        let Some(s) = fastest(eligible(paths).filter(|(i, p)| *i != f && p.has_room())) else {
            return;
        };
        if paths[f].in_flight == 0 {
            // Nothing in flight: no ACK will free the fast path (its peer's
            // window holds it, or the path died); waiting would be for ever.
            self.waiting = false;
            out.push(s);
            return;
        }
        match self.judge(&paths[f], &paths[s], ctx.unsent) {
            Verdict::Wait => self.waiting = true,
            Verdict::UseSlow => out.push(s),
            Verdict::UseSlowReset => {
                self.waiting = false;
                out.push(s);
            }
        }
    }
}
