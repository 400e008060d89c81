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
    /// (cwnd, ssthresh) before the last congestion event, for its undo.
    undo: Option<(u64, u64)>,
}

impl NewReno {
    /// A controller with the initial window of RFC 6928.
    pub fn new(mss: u32) -> NewReno {
        NewReno {
            mss,
            cwnd: INITIAL_WINDOW_SEGMENTS * u64::from(mss),
            ssthresh: u64::MAX,
            acked_in_ca: 0,
            undo: None,
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
        self.undo = Some((self.cwnd, self.ssthresh));
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
        self.undo = None;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // As CUBIC's undo (RFC 9438 §4.9.2), for the window and threshold
        // alone: only ever back up, never below what grew since.
        if let Some((cwnd, ssthresh)) = self.undo.take()
            && self.cwnd < cwnd
        {
            self.cwnd = cwnd;
            self.ssthresh = self.ssthresh.max(ssthresh);
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
