//! CUBIC congestion control (RFC 9438).
//!
//! Windows are kept in bytes; the cubic function is evaluated in segments,
//! as the RFC writes it.

use super::reno::undone_ssthresh;
use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    min_window, slow_start_increase,
};
use crate::time::{Duration, Instant};

/// RFC 9438 §4.6: multiplicative decrease factor.
const BETA_CUBIC: f64 = 0.7;
/// RFC 9438 §5: the constant C.
const C: f64 = 0.4;
/// RFC 9438 §4.3: Reno-friendly additive increase factor.
const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);

/// CUBIC with fast convergence and the Reno-friendly region.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    /// Window (segments) just before the last reduction.
    pub(super) w_max: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// Time (seconds) to reach `w_max` from the start of the epoch.
    k: f64,
    /// The Reno-friendly estimate (segments).
    w_est: f64,
    /// The window (segments) at the start of the epoch.
    cwnd_epoch: f64,
    /// Fractional segment growth not yet applied.
    pending: f64,
    /// The state before the last congestion event, for its undo.
    undo: Option<Undo>,
}

/// RFC 9438 §4.9.2: what is saved at a congestion event detected by
/// acknowledgments, restored if the event proves spurious.
#[derive(Debug, Clone, Copy)]
struct Undo {
    cwnd: u64,
    ssthresh: u64,
    w_max: f64,
    k: f64,
    epoch_start: Option<Instant>,
    w_est: f64,
    cwnd_epoch: f64,
}

impl Cubic {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> Cubic {
        let mss = mss.max(1);
        Cubic {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            w_max: 0.0,
            epoch_start: None,
            k: 0.0,
            w_est: 0.0,
            cwnd_epoch: 0.0,
            pending: 0.0,
            undo: None,
        }
    }

    fn segments(&self, bytes: u64) -> f64 {
        bytes as f64 / f64::from(self.mss)
    }

    /// RFC 9438 §4.2 equation (1): W_cubic(t).
    fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) + self.w_max
    }

    fn start_epoch(&mut self, now: Instant) {
        let cwnd = self.segments(self.cwnd);
        self.epoch_start = Some(now);
        self.cwnd_epoch = cwnd;
        self.w_est = cwnd;
        // RFC 9438 §4.2 equation (2), with W_max possibly below cwnd after
        // a spurious reduction or in the first epoch.
        self.k = if self.w_max > cwnd {
            ((self.w_max - cwnd) / C).cbrt()
        } else {
            self.w_max = cwnd;
            0.0
        };
    }

    fn congestion_avoidance(&mut self, ack: &AckEvent, srtt: Duration) {
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                self.start_epoch(ack.now);
                ack.now
            }
        };
        let cwnd = self.segments(self.cwnd);
        let acked = self.segments(ack.acked_bytes);
        let t = (ack.now - epoch).as_secs_f64();
        let rtt = srtt.as_secs_f64();
        // RFC 9438 §4.2: the target is W_cubic(t + RTT), clamped to
        // [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        // RFC 9438 §4.3: the Reno-friendly estimate.
        self.w_est += ALPHA_CUBIC * acked / cwnd;
        let growth = if self.w_cubic(t) < self.w_est {
            (self.w_est - cwnd).max(0.0)
        } else {
            (target - cwnd) / cwnd * acked
        };
        self.pending += growth.max(0.0);
        let whole = self.pending.floor();
        if whole >= 1.0 {
            self.pending -= whole;
            self.cwnd += whole as u64 * u64::from(self.mss);
        }
    }
}

impl CongestionControl for Cubic {
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
        self.epoch_start = None;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Cubic
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
        let srtt = ctx.srtt.unwrap_or(Duration::from_millis(100));
        self.congestion_avoidance(ack, srtt);
    }

    fn on_congestion_event(&mut self, loss: &LossEvent, _ctx: &CcContext<'_>) {
        self.undo = Some(Undo {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            k: self.k,
            epoch_start: self.epoch_start,
            w_est: self.w_est,
            cwnd_epoch: self.cwnd_epoch,
        });
        let cwnd = self.segments(self.cwnd);
        // RFC 9438 §4.7: fast convergence.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA_CUBIC) / 2.0
        } else {
            cwnd
        };
        let reduced = (self.cwnd as f64 * BETA_CUBIC) as u64;
        self.ssthresh = reduced.max(min_window(self.mss));
        self.cwnd = self.ssthresh;
        self.epoch_start = None;
        self.pending = 0.0;
        let _ = loss;
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u64, _ctx: &CcContext<'_>) {
        // RFC 9438 §4.8: ssthresh as for a congestion event, cwnd to one
        // segment (RFC 5681 §3.1), and a new epoch afterwards.
        let cwnd = self.segments(self.cwnd);
        self.w_max = cwnd;
        let reduced = (self.cwnd as f64 * BETA_CUBIC) as u64;
        self.ssthresh = reduced.max(min_window(self.mss));
        self.cwnd = u64::from(self.mss);
        self.epoch_start = None;
        self.pending = 0.0;
        self.undo = None;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // RFC 9438 §4.9.2: restore the saved state if cwnd < cwnd_prior.
        let Some(u) = self.undo.take() else { return };
        if self.cwnd >= u.cwnd {
            return;
        }
        self.cwnd = u.cwnd;
        self.ssthresh = undone_ssthresh(u.cwnd, u.ssthresh);
        self.w_max = u.w_max;
        self.k = u.k;
        self.epoch_start = u.epoch_start;
        self.w_est = u.w_est;
        self.cwnd_epoch = u.cwnd_epoch;
        self.pending = 0.0;
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        if self.ssthresh == u64::MAX {
            self.cwnd = self.cwnd / u64::from(self.mss) * u64::from(mss);
        }
        self.mss = mss;
    }
}
