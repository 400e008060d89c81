//! NewReno congestion control (RFC 5681 §3.1, RFC 6582).

use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    min_window, slow_start_increase,
};
use crate::time::Instant;

/// NewReno: slow start, then one segment per window of acknowledged bytes.
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    cwnd: u64,
    ssthresh: u64,
    /// Bytes acknowledged in congestion avoidance since the last increase.
    acked_in_ca: u64,
    undo: WindowUndo,
}

/// The window and threshold before the last congestion event, for its
/// undo (RFC 9438 §4.9.2 applied to them alone); shared by the
/// controllers whose state they are.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WindowUndo(Option<(u64, u64)>);

impl WindowUndo {
    /// A congestion event is about to reduce `cwnd` and `ssthresh`.
    pub(super) fn save(&mut self, cwnd: u64, ssthresh: u64) {
        self.0 = Some((cwnd, ssthresh));
    }

    /// A timeout: its response is not undone.
    pub(super) fn clear(&mut self) {
        self.0 = None;
    }

    /// The event proved spurious: back to the saved values, unless the
    /// window grew past them since. Returns whether anything changed.
    pub(super) fn restore(&mut self, cwnd: &mut u64, ssthresh: &mut u64) -> bool {
        match self.0.take() {
            Some((c, s)) if *cwnd < c => {
                *cwnd = c;
                *ssthresh = (*ssthresh).max(undone_ssthresh(c, s));
                true
            }
            _ => false,
        }
    }
}

impl NewReno {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> NewReno {
        NewReno {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            acked_in_ca: 0,
            undo: WindowUndo::default(),
        }
    }
}

impl CongestionControl for NewReno {
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }

    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Reno
    }

    fn cwnd(&self) -> u64 {
        self.cwnd
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckEvent, _ctx: &CcContext<'_>) {
        if ack.in_recovery || !ack.cwnd_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += slow_start_increase(ack.acked_bytes, self.mss);
            return;
        }
        // RFC 5681 §3.1, byte counting: one SMSS per cwnd of acked bytes.
        self.acked_in_ca += ack.acked_bytes;
        if self.acked_in_ca >= self.cwnd {
            self.acked_in_ca -= self.cwnd;
            self.cwnd += u64::from(self.mss);
        }
    }

    fn on_congestion_event(&mut self, loss: &LossEvent, _ctx: &CcContext<'_>) {
        self.undo.save(self.cwnd, self.ssthresh);
        // RFC 5681 §3.1 equation (4).
        self.ssthresh = (loss.in_flight / 2).max(min_window(self.mss));
        self.cwnd = self.ssthresh;
        self.acked_in_ca = 0;
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u64, _ctx: &CcContext<'_>) {
        self.ssthresh = (in_flight / 2).max(min_window(self.mss));
        // RFC 5681 §3.1: the loss window is one segment.
        self.cwnd = u64::from(self.mss);
        self.acked_in_ca = 0;
        self.undo.clear();
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        if self.undo.restore(&mut self.cwnd, &mut self.ssthresh) {
            self.acked_in_ca = 0;
        }
    }

    fn set_mss(&mut self, mss: u32) {
        if self.ssthresh == u64::MAX && mss > 0 {
            self.cwnd = self.cwnd / u64::from(self.mss.max(1)) * u64::from(mss);
        }
        self.mss = mss.max(1);
    }
}

/// The slow-start threshold after undoing a congestion event that saved
/// `cwnd` and `ssthresh`: the saved one, except that an event in the
/// initial slow start is undone into congestion avoidance at the restored
/// window. HyStart++ ended at the loss (RFC 9406 §4.3 uses it only in the
/// initial slow start), and slow start resumed without it would overshoot.
pub(super) fn undone_ssthresh(cwnd: u64, ssthresh: u64) -> u64 {
    if ssthresh == u64::MAX { cwnd } else { ssthresh }
}
