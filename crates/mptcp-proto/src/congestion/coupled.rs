//! What the coupled controllers (LIA, OLIA, BALIA) share: one view of the
//! connection's paths with this subflow's own, current state in it, and the
//! window bookkeeping in bytes.
//!
//! Units: windows are kept in bytes; the formulas of the papers are written
//! in segments (`w = cwnd / MSS`) and seconds, and so are the helpers here.
//! RTTs are clamped to at least [`MIN_RTT_SECS`] so that an unsampled or zero
//! RTT never divides by zero.

use super::{CcContext, min_window};
use crate::time::Duration;

/// The smallest RTT (seconds) the coupled formulas use.
pub(super) const MIN_RTT_SECS: f64 = 1e-6;

/// The RTT assumed for this subflow when neither its view nor the context
/// has one (the usual initial RTO, as in [`super::SubflowCcView::srtt`]).
const FALLBACK_RTT: Duration = Duration::from_secs(1);

/// One path as the coupled formulas see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Path {
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Sender MSS in bytes, at least 1.
    pub mss: u32,
    /// Smoothed RTT in seconds, at least [`MIN_RTT_SECS`].
    pub rtt: f64,
    /// OLIA's l_r in bytes (0 when the controller does not track it).
    pub loss_interval: u64,
    /// Whether this is the subflow running the controller.
    pub is_self: bool,
}

impl Path {
    /// The window in segments, `w = cwnd / MSS`.
    pub fn segments(&self) -> f64 {
        self.cwnd as f64 / f64::from(self.mss)
    }

    /// The window in whole segments (OLIA compares windows this way).
    pub fn whole_segments(&self) -> u64 {
        self.cwnd / u64::from(self.mss)
    }
}

/// This subflow's own state, which replaces its entry among the siblings
/// (that snapshot may predate the callback).
#[derive(Clone, Copy, Debug)]
pub(super) struct Own {
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Sender MSS in bytes.
    pub mss: u32,
    /// OLIA's l_r in bytes.
    pub loss_interval: u64,
}

fn rtt_secs(d: Duration) -> f64 {
    d.as_secs_f64().max(MIN_RTT_SECS)
}

/// All paths of the connection, this one included exactly once at the end
/// if the siblings lack it. Paths with an empty window cannot send and are
/// left out, as the Linux implementations skip subflows that cannot send.
pub(super) fn paths<'a>(ctx: &CcContext<'a>, own: Own) -> impl Iterator<Item = Path> + Clone + 'a {
    let siblings = ctx.siblings;
    let me = move |rtt: Duration| Path {
        cwnd: own.cwnd,
        mss: own.mss.max(1),
        rtt: rtt_secs(rtt),
        loss_interval: own.loss_interval,
        is_self: true,
    };
    let missing =
        (!siblings.iter().any(|v| v.is_self)).then(|| me(ctx.srtt.unwrap_or(FALLBACK_RTT)));
    siblings
        .iter()
        .filter(|v| v.is_self || v.cwnd > 0)
        .map(move |v| {
            if v.is_self {
                me(v.srtt)
            } else {
                Path {
                    cwnd: v.cwnd,
                    mss: v.mss.max(1),
                    rtt: rtt_secs(v.srtt),
                    loss_interval: v.loss_interval,
                    is_self: false,
                }
            }
        })
        .chain(missing)
}

/// The first path marked as this subflow.
pub(super) fn own_path(paths: impl Iterator<Item = Path>) -> Option<Path> {
    paths.into_iter().find(|p| p.is_self)
}

/// Bytes to acknowledge per one-MSS increase, from an increase of `inc`
/// segments per acknowledged segment: `MSS / inc`, rounded to the nearest
/// byte and never below `cwnd` (the NewReno pace, RFC 5681 §3.1), so a
/// coupled subflow is never more aggressive than TCP on the same path.
/// A non-finite or non-positive `inc` falls back to the NewReno pace.
pub(super) fn bytes_per_increment(inc: f64, mss: u32, cwnd: u64) -> u64 {
    let bytes = f64::from(mss) / inc;
    if !(bytes.is_finite() && bytes > 0.0) {
        return cwnd.max(1);
    }
    // `as` saturates: a huge quotient means (almost) no growth.
    (bytes.round() as u64).max(cwnd).max(1)
}

/// Byte-counting congestion avoidance with a per-ACK pace: one MSS each time
/// `per_increment` bytes have been acknowledged (RFC 6356 §4.2 in bytes,
/// NewReno's counter when `per_increment == cwnd`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AckCounter {
    /// Bytes acknowledged in congestion avoidance since the last increase.
    acked: u64,
}

impl AckCounter {
    /// Count `acked` bytes; the window's growth in bytes (0 or one MSS).
    pub fn on_ack(&mut self, acked: u64, per_increment: u64, mss: u32) -> u64 {
        self.acked = self.acked.saturating_add(acked);
        if self.acked >= per_increment {
            self.acked -= per_increment;
            u64::from(mss)
        } else {
            0
        }
    }

    /// Forget the partial count (after a reduction).
    pub fn reset(&mut self) {
        self.acked = 0;
    }
}

/// Signed fractional growth in bytes, applied a whole MSS at a time (OLIA's
/// increase may be negative).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fraction {
    /// Growth (bytes) not yet applied; |pending| < MSS between calls.
    pending: f64,
}

impl Fraction {
    /// Add `bytes` of growth (possibly negative) to `cwnd`, a whole MSS at a
    /// time, never going below two segments. Returns whether the window
    /// shrank.
    pub fn apply(&mut self, bytes: f64, cwnd: &mut u64, mss: u32) -> bool {
        if !bytes.is_finite() {
            return false;
        }
        let mss = mss.max(1);
        let seg = f64::from(mss);
        self.pending += bytes;
        let steps = (self.pending / seg).trunc();
        if steps == 0.0 {
            return false;
        }
        self.pending -= steps * seg;
        let delta = (steps.abs() as u64).saturating_mul(u64::from(mss));
        if steps > 0.0 {
            *cwnd = cwnd.saturating_add(delta);
            false
        } else {
            // Never below two segments, and never up to them either.
            let floor = min_window(mss).min(*cwnd);
            let reduced = cwnd.saturating_sub(delta).max(floor);
            if reduced == floor {
                self.pending = 0.0;
            }
            *cwnd = reduced;
            true
        }
    }

    /// Forget the pending fraction (after a reduction).
    pub fn reset(&mut self) {
        self.pending = 0.0;
    }
}
