//! BALIA, the Balanced Linked Adaptation algorithm (Peng, Walid, Hwang, Low,
//! "Multipath TCP: Analysis, Design, and Implementation", IEEE/ACM ToN 2016;
//! draft-walid-mptcp-congestion-control; the out-of-tree Linux
//! `mptcp_balia.c`).
//!
//! Units: w_k is path k's window in segments (`cwnd / MSS`), rtt_k its
//! smoothed RTT in seconds, x_k = w_k / rtt_k its rate in segments per
//! second, and alpha_r = max_k x_k / x_r (dimensionless, at least 1). For
//! each ACK of `bytes_acked` on path r in congestion avoidance, w_r grows by
//!
//! ```text
//! inc_r = x_r / (rtt_r * (sum_k x_k)^2) * ((1 + alpha_r) / 2) * ((4 + alpha_r) / 5)
//! ```
//!
//! segments per acknowledged segment (equal to `mptcp_balia.c`'s
//! `(x_r + max)(4 x_r + max) / (10 w_r (sum x)^2)`); inc_r <= 1 / w_r, with
//! equality for a single path. It is applied as a byte counter: one MSS per
//! `MSS / inc_r` acknowledged bytes, never faster than NewReno's one MSS per
//! `cwnd` bytes, so a single path is exactly NewReno. On a loss,
//!
//! ```text
//! w_r <- w_r - (w_r / 2) * min(alpha_r, 1.5)
//! ```
//!
//! (a halving for the fastest path, at most a 75% cut), never below two
//! segments; ssthresh takes that value. Slow start is NewReno's.

use super::coupled::{self, AckCounter, Own, Path, bytes_per_increment, own_path};
use super::reno::WindowUndo;
use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    min_window, slow_start_increase,
};
use crate::time::Instant;

/// The cap on alpha in the decrease (BALIA's 1.5).
const DECREASE_ALPHA_CAP: f64 = 1.5;

/// BALIA: balanced coupled increase and rate-dependent decrease, per subflow.
#[derive(Debug, Clone)]
pub struct Balia {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    counter: AckCounter,
    /// The window before the last congestion event, for its undo.
    undo: WindowUndo,
}

impl Balia {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> Balia {
        let mss = mss.max(1);
        Balia {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            counter: AckCounter::default(),
            undo: WindowUndo::default(),
        }
    }

    /// A controller in congestion avoidance with window `cwnd` (bytes).
    #[cfg(test)]
    pub(super) fn with_cwnd(mss: u32, cwnd: u64) -> Balia {
        Balia {
            cwnd,
            ssthresh: cwnd,
            ..Balia::new(mss)
        }
    }

    fn own(&self) -> Own {
        Own {
            cwnd: self.cwnd,
            mss: self.mss,
            loss_interval: 0,
        }
    }

    /// The window after a loss: `cwnd - (cwnd / 2) * min(alpha, 1.5)`,
    /// never below two segments.
    fn reduced(&self, ctx: &CcContext<'_>) -> u64 {
        let alpha = balia_alpha(coupled::paths(ctx, self.own()));
        // alpha is at least 1, so between a half and a quarter is kept.
        let keep = 1.0 - alpha.min(DECREASE_ALPHA_CAP) / 2.0;
        ((self.cwnd as f64 * keep) as u64).max(min_window(self.mss))
    }
}

/// Rates scaled by this path's RTT: y_k = x_k * rtt_r = w_k * rtt_r / rtt_k
/// (segments), so that y_r = w_r.
fn scaled_rates(paths: impl Iterator<Item = Path>, me: Path) -> impl Iterator<Item = f64> {
    paths.map(move |p| p.segments() * (me.rtt / p.rtt))
}

/// BALIA's alpha_r = max_k x_k / x_r for the path marked `is_self`; 1 if
/// there is none or the ratio is not finite.
pub(super) fn balia_alpha(paths: impl Iterator<Item = Path> + Clone) -> f64 {
    let Some(me) = own_path(paths.clone()) else {
        return 1.0;
    };
    let max = scaled_rates(paths, me).fold(0.0, f64::max);
    let alpha = max / me.segments();
    if alpha.is_finite() {
        alpha.max(1.0)
    } else {
        1.0
    }
}

/// BALIA's increase for the path marked `is_self`, in segments per
/// acknowledged segment; 0 if there is none or it is not finite.
pub(super) fn balia_increase(paths: impl Iterator<Item = Path> + Clone) -> f64 {
    let Some(me) = own_path(paths.clone()) else {
        return 0.0;
    };
    let alpha = balia_alpha(paths.clone());
    let sum: f64 = scaled_rates(paths, me).sum();
    // x_r / (rtt_r (sum x)^2) = w_r / (sum y)^2.
    let inc = me.segments() / (sum * sum) * ((1.0 + alpha) / 2.0) * ((4.0 + alpha) / 5.0);
    if inc.is_finite() { inc } else { 0.0 }
}

impl CongestionControl for Balia {
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Balia
    }

    fn cwnd(&self) -> u64 {
        self.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        if ack.in_recovery || !ack.cwnd_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += slow_start_increase(ack.acked_bytes, self.mss);
            return;
        }
        let inc = balia_increase(coupled::paths(ctx, self.own()));
        let per_increment = bytes_per_increment(inc, self.mss, self.cwnd);
        let growth = self
            .counter
            .on_ack(ack.acked_bytes, per_increment, self.mss);
        self.cwnd = self.cwnd.saturating_add(growth);
    }

    fn on_congestion_event(&mut self, _loss: &LossEvent, ctx: &CcContext<'_>) {
        self.undo.save(self.cwnd, self.ssthresh);
        self.ssthresh = self.reduced(ctx);
        self.cwnd = self.ssthresh;
        self.counter.reset();
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u64, ctx: &CcContext<'_>) {
        self.undo.clear();
        self.ssthresh = self.reduced(ctx);
        // RFC 5681 §3.1: the loss window is one segment.
        self.cwnd = u64::from(self.mss);
        self.counter.reset();
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // NewReno's undo (see `WindowUndo`).
        self.undo.restore(&mut self.cwnd, &mut self.ssthresh);
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        if self.ssthresh == u64::MAX {
            self.cwnd = self.cwnd / u64::from(self.mss) * u64::from(mss);
        }
        self.mss = mss;
    }
}
