//! LIA, the Linked Increases Algorithm of MPTCP (RFC 6356).
//!
//! Slow start, fast recovery and the multiplicative decrease are NewReno's
//! (RFC 6356 §3: "the same as in standard TCP"). Only the congestion
//! avoidance increase is coupled: for each ACK of `bytes_acked` on subflow i,
//! RFC 6356 §3 equation (1) grows cwnd_i (bytes) by
//!
//! ```text
//! min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
//! alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2
//! ```
//!
//! with windows in bytes, RTTs in seconds and alpha dimensionless (equation
//! (2), computed in f64 on every ACK). Equivalently, one MSS_i per
//! `max(cwnd_total / alpha, cwnd_i)` acknowledged bytes, which is how it is
//! applied: a byte counter, as NewReno's, whose threshold is that quantity
//! (RFC 6356 §4.2 in bytes). Nothing is lost to rounding, so the RFC's "if
//! the increase is 0 it MUST be set to 1" never arises; with one subflow the
//! threshold is exactly `cwnd` and LIA is NewReno.

use super::coupled::{self, AckCounter, Own, Path};
use super::reno::WindowUndo;
use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    min_window, slow_start_increase,
};
use crate::time::Instant;

/// LIA: NewReno per subflow with the coupled increase of RFC 6356.
#[derive(Debug, Clone)]
pub struct Lia {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    counter: AckCounter,
    /// The window before the last congestion event, for its undo.
    undo: WindowUndo,
}

impl Lia {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> Lia {
        let mss = mss.max(1);
        Lia {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            counter: AckCounter::default(),
            undo: WindowUndo::default(),
        }
    }

    /// A controller in congestion avoidance with window `cwnd` (bytes).
    #[cfg(test)]
    pub(super) fn with_cwnd(mss: u32, cwnd: u64) -> Lia {
        Lia {
            cwnd,
            ssthresh: cwnd,
            ..Lia::new(mss)
        }
    }

    fn own(&self) -> Own {
        Own {
            cwnd: self.cwnd,
            mss: self.mss,
            loss_interval: 0,
        }
    }
}

/// RFC 6356 §3 equation (2): alpha (dimensionless), windows in bytes.
/// 1 for a single path; 0 if there is no path. (The controller uses
/// `cwnd_total / alpha` directly.)
#[cfg(test)]
pub(super) fn lia_alpha(paths: impl Iterator<Item = Path> + Clone) -> f64 {
    let total: f64 = paths.clone().map(|p| p.cwnd as f64).sum();
    match best_path(paths.clone()) {
        Some(best) => total / cwnd_total_over_alpha(paths, best),
        None => 0.0,
    }
}

/// The path maximising cwnd_i / rtt_i^2 (the numerator of equation (2)).
fn best_path(paths: impl Iterator<Item = Path>) -> Option<Path> {
    let rate = |p: &Path| p.cwnd as f64 / (p.rtt * p.rtt);
    paths.fold(None, |best: Option<Path>, p| match best {
        Some(b) if rate(&b) >= rate(&p) => Some(b),
        _ => Some(p),
    })
}

/// cwnd_total / alpha = (sum_i cwnd_i * rtt_max / rtt_i)^2 / cwnd_max in
/// bytes, with `max` the best path: RFC 6356 §4.2 equation (4), the form
/// with the best path's RTT moved to the denominator, which keeps the
/// magnitudes near the windows' and makes a single path give cwnd exactly.
fn cwnd_total_over_alpha(paths: impl Iterator<Item = Path>, best: Path) -> f64 {
    let sum: f64 = paths.map(|p| p.cwnd as f64 * (best.rtt / p.rtt)).sum();
    sum * sum / best.cwnd as f64
}

/// Bytes to acknowledge on this subflow per one-MSS increase:
/// `max(cwnd_total / alpha, cwnd_i)`, rounded to the byte.
pub(super) fn lia_bytes_per_increment(paths: impl Iterator<Item = Path> + Clone, cwnd: u64) -> u64 {
    let Some(best) = best_path(paths.clone()) else {
        return cwnd.max(1);
    };
    let bytes = cwnd_total_over_alpha(paths, best);
    if !(bytes.is_finite() && bytes > 0.0) {
        return cwnd.max(1);
    }
    (bytes.round() as u64).max(cwnd).max(1)
}

impl CongestionControl for Lia {
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Lia
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
        // RFC 6356 §3 equation (1), as a byte counter.
        let per_increment = lia_bytes_per_increment(coupled::paths(ctx, self.own()), self.cwnd);
        let growth = self
            .counter
            .on_ack(ack.acked_bytes, per_increment, self.mss);
        self.cwnd = self.cwnd.saturating_add(growth);
    }

    fn on_congestion_event(&mut self, loss: &LossEvent, _ctx: &CcContext<'_>) {
        self.undo.save(self.cwnd, self.ssthresh);
        // RFC 6356 §3: the decrease is standard TCP's, RFC 5681 §3.1
        // equation (4).
        self.ssthresh = (loss.in_flight / 2).max(min_window(self.mss));
        self.cwnd = self.ssthresh;
        self.counter.reset();
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u64, _ctx: &CcContext<'_>) {
        self.undo.clear();
        self.ssthresh = (in_flight / 2).max(min_window(self.mss));
        // RFC 5681 §3.1: the loss window is one segment.
        self.cwnd = u64::from(self.mss);
        self.counter.reset();
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // NewReno's undo (see `WindowUndo`).
        self.undo.restore(&mut self.cwnd, &mut self.ssthresh);
    }

    fn set_mss(&mut self, mss: u32) {
        // As NewReno: rescale the initial window only.
        if self.ssthresh == u64::MAX && mss > 0 {
            self.cwnd = self.cwnd / u64::from(self.mss) * u64::from(mss);
        }
        self.mss = mss.max(1);
    }
}
