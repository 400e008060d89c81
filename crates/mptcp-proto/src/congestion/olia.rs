//! OLIA, the Opportunistic Linked Increases Algorithm (Khalili, Gast,
//! Popovic, Le Boudec, "MPTCP is not Pareto-optimal: performance issues and
//! a possible solution", IEEE/ACM ToN 2013; draft-khalili-mptcp-congestion-
//! control; the out-of-tree Linux `mptcp_olia.c`).
//!
//! Units: w_p is path p's window in segments (`cwnd / MSS`), rtt_p its
//! smoothed RTT in seconds, l_p its loss interval in bytes. For each ACK of
//! `bytes_acked` on path r in congestion avoidance, w_r grows by
//!
//! ```text
//! inc_r = (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2 + alpha_r / w_r
//! ```
//!
//! segments per acknowledged segment, i.e. cwnd_r grows by
//! `inc_r * bytes_acked` bytes; the fraction is carried over and applied a
//! whole MSS at a time. inc_r may be negative (alpha_r < 0): the window then
//! shrinks, never below two segments, and ssthresh follows it down so that
//! the shrinking does not restart slow start. alpha_r moves window from the
//! paths with the largest window to the presumably best paths:
//!
//! - l_r = max(l1_r, l2_r): bytes acknowledged between the last two losses
//!   on r, and since the last one ([`CongestionControl::loss_interval`]);
//! - M: the paths with the largest window, compared in whole segments as
//!   Linux does;
//! - B: the paths with the largest l_p / rtt_p^2, an estimate of the square
//!   of the rate TCP would get on p (throughput ~ sqrt(l) / rtt), as
//!   `mptcp_olia.c` compares them;
//! - with n paths: alpha_r = 1 / (n |B \ M|) for r in B \ M;
//!   alpha_r = -1 / (n |M|) for r in M when B \ M is not empty; else 0.
//!
//! With one path alpha = 0 and inc = 1 / w: NewReno's increase. Slow start
//! is NewReno's; a loss halves the window (`mptcp_olia.c` uses
//! `tcp_reno_ssthresh`), never below two segments.

use super::coupled::{self, Fraction, Own, Path, own_path};
use super::reno::WindowUndo;
use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    min_window, slow_start_increase,
};
use crate::time::Instant;

/// Relative tolerance when looking for the best paths (floating point).
const BEST_TOLERANCE: f64 = 1e-9;

/// OLIA: coupled increase with opportunistic window transfer, per subflow.
#[derive(Debug, Clone)]
pub struct Olia {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    growth: Fraction,
    /// l1_r: bytes acknowledged between the last two losses.
    between_losses: u64,
    /// l2_r: bytes acknowledged since the last loss.
    since_loss: u64,
    /// The window before the last congestion event, for its undo.
    undo: WindowUndo,
}

impl Olia {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> Olia {
        let mss = mss.max(1);
        Olia {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            growth: Fraction::default(),
            between_losses: 0,
            since_loss: 0,
            undo: WindowUndo::default(),
        }
    }

    /// A controller in congestion avoidance with window `cwnd` (bytes).
    #[cfg(test)]
    pub(super) fn with_cwnd(mss: u32, cwnd: u64) -> Olia {
        Olia {
            cwnd,
            ssthresh: cwnd,
            ..Olia::new(mss)
        }
    }

    fn own(&self) -> Own {
        Own {
            cwnd: self.cwnd,
            mss: self.mss,
            loss_interval: self.loss_interval(),
        }
    }

    /// A loss starts a new interval (as `mptcp_olia_set_state`: only if
    /// bytes were acknowledged since the previous one).
    fn start_loss_interval(&mut self) {
        if self.since_loss > 0 {
            self.between_losses = self.since_loss;
            self.since_loss = 0;
        }
    }

    /// Half the window, never below two segments.
    fn halved(&self) -> u64 {
        (self.cwnd / 2).max(min_window(self.mss))
    }
}

/// OLIA's alpha_r (dimensionless) for the path marked `is_self`; 0 if none.
pub(super) fn olia_alpha(paths: impl Iterator<Item = Path> + Clone) -> f64 {
    let Some(me) = own_path(paths.clone()) else {
        return 0.0;
    };
    let n = paths.clone().count() as f64;
    let max_w = paths.clone().map(|p| p.whole_segments()).max().unwrap_or(0);
    let quality = |p: &Path| p.loss_interval as f64 / (p.rtt * p.rtt);
    let best_q = paths.clone().map(|p| quality(&p)).fold(0.0, f64::max);
    let in_m = |p: &Path| p.whole_segments() == max_w;
    let in_b = |p: &Path| quality(p) >= best_q * (1.0 - BEST_TOLERANCE);
    let collected = paths.clone().filter(|p| !in_m(p) && in_b(p)).count();
    if collected == 0 {
        0.0
    } else if in_m(&me) {
        let m = paths.filter(|p| in_m(p)).count();
        -1.0 / (n * m as f64)
    } else if in_b(&me) {
        1.0 / (n * collected as f64)
    } else {
        0.0
    }
}

/// OLIA's increase for the path marked `is_self`, in segments per
/// acknowledged segment (bytes per acknowledged byte); 0 if there is no
/// such path or the result is not finite.
pub(super) fn olia_increase(paths: impl Iterator<Item = Path> + Clone) -> f64 {
    let Some(me) = own_path(paths.clone()) else {
        return 0.0;
    };
    let w = me.segments();
    // rtt_r * sum_p w_p / rtt_p, so that (w_r / rtt_r^2) / (sum)^2 becomes
    // w_r / scaled^2 with magnitudes near the windows'.
    let scaled: f64 = paths.clone().map(|p| p.segments() * (me.rtt / p.rtt)).sum();
    let inc = w / (scaled * scaled) + olia_alpha(paths) / w;
    if inc.is_finite() { inc } else { 0.0 }
}

impl CongestionControl for Olia {
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Olia
    }

    fn cwnd(&self) -> u64 {
        self.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        // Every acknowledged byte counts towards l2_r, growth or not.
        self.since_loss = self.since_loss.saturating_add(ack.acked_bytes);
        if ack.in_recovery || !ack.cwnd_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += slow_start_increase(ack.acked_bytes, self.mss);
            return;
        }
        let inc = olia_increase(coupled::paths(ctx, self.own()));
        let shrank = self
            .growth
            .apply(inc * ack.acked_bytes as f64, &mut self.cwnd, self.mss);
        if shrank {
            self.ssthresh = self.ssthresh.min(self.cwnd);
        }
    }

    fn on_congestion_event(&mut self, _loss: &LossEvent, _ctx: &CcContext<'_>) {
        self.undo.save(self.cwnd, self.ssthresh);
        self.start_loss_interval();
        self.ssthresh = self.halved();
        self.cwnd = self.ssthresh;
        self.growth.reset();
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u64, _ctx: &CcContext<'_>) {
        self.undo.clear();
        self.start_loss_interval();
        self.ssthresh = self.halved();
        // RFC 5681 §3.1: the loss window is one segment.
        self.cwnd = u64::from(self.mss);
        self.growth.reset();
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

    fn loss_interval(&self) -> u64 {
        self.between_losses.max(self.since_loss)
    }
}
