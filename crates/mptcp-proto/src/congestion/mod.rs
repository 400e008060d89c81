//! Congestion control, per subflow, behind one trait.
//!
//! A subflow owns one controller. It reports acknowledged bytes, congestion
//! events (loss detected, once per recovery episode) and retransmission
//! timeouts; the controller answers with a congestion window in bytes.
//!
//! Uncoupled controllers (NewReno, CUBIC, BBR) look only at their own
//! subflow. BBR ([`Bbr`], draft-ietf-ccwg-bbr) is model-based: it reads
//! the delivery rate samples of [`AckEvent::rate`] and the losses of
//! [`CongestionControl::on_segment_lost`], and paces
//! ([`CongestionControl::pacing_rate`]); the others ignore both.
//! Coupled MPTCP controllers (LIA, OLIA, BALIA) additionally read the other
//! subflows of the same connection through [`CcContext::siblings`]; for a
//! plain TCP connection that slice holds only the subflow itself.
//!
//! The coupled controllers keep NewReno's slow start and couple the
//! congestion-avoidance increase (and, for BALIA, the decrease) so that the
//! connection takes no more than one TCP flow would on its best path:
//! - [`Lia`] (RFC 6356): the increase of each subflow is capped by alpha,
//!   computed from all windows and RTTs; with one subflow it is NewReno.
//! - [`Olia`] (Khalili et al., IEEE/ACM ToN 2013): moves window from the
//!   largest-window paths to the presumably best ones (largest loss interval
//!   over RTT squared); each subflow reports its interval through
//!   [`CongestionControl::loss_interval`].
//! - [`Balia`] (Peng et al., IEEE/ACM ToN 2016): increase and decrease
//!   weighted by the ratio of the fastest path's rate to the subflow's.
//!
//! Each reads windows in bytes and works in segments and seconds where its
//! formulas are written that way; fractional growth is carried over, never
//! rounded away. Zero or unknown RTTs and empty windows are tolerated.

mod balia;
pub mod bbr;
mod coupled;
mod cubic;
mod lia;
mod olia;
mod reno;
mod sbd;

pub use balia::Balia;
pub use bbr::Bbr;
pub use cubic::Cubic;
pub use lia::Lia;
pub use olia::Olia;
pub use reno::NewReno;
pub use sbd::{FlowStats, SbdConfig, SbdInput, SbdStats, SharedBottleneck, group as sbd_group};

use crate::time::{Duration, Instant};
use core::fmt;

/// The initial window: 10 segments (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: u64 = 10;

/// A snapshot of one subflow as a coupled controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubflowCcView {
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Smoothed round-trip time (the initial RTO's worth when unknown).
    pub srtt: Duration,
    /// Sender maximum segment size in bytes.
    pub mss: u32,
    /// Whether this is the subflow receiving the callback.
    pub is_self: bool,
    /// Bytes acknowledged between this subflow's last two losses, or since
    /// the last one if larger (OLIA's l_r); 0 for controllers that do not
    /// track it.
    pub loss_interval: u64,
}

/// What a controller may look at besides its own state.
#[derive(Clone, Copy, Debug)]
pub struct CcContext<'a> {
    /// The subflow's sender maximum segment size (payload bytes).
    pub mss: u32,
    /// Smoothed round-trip time, if sampled.
    pub srtt: Option<Duration>,
    /// Minimum round-trip time seen recently, if sampled.
    pub min_rtt: Option<Duration>,
    /// All established subflows of the connection, this one included.
    pub siblings: &'a [SubflowCcView],
}

/// An acknowledgment that advanced the scoreboard.
#[derive(Clone, Copy, Debug)]
pub struct AckEvent {
    /// When the acknowledgment arrived.
    pub now: Instant,
    /// Bytes newly acknowledged, cumulatively or by SACK.
    pub acked_bytes: u64,
    /// Bytes in flight before this acknowledgment.
    pub in_flight_before: u64,
    /// Round-trip sample taken from this acknowledgment, if any.
    pub rtt: Option<Duration>,
    /// Whether the sender is in loss recovery (growth is suspended).
    pub in_recovery: bool,
    /// Whether the sender was limited by the window rather than by the
    /// application (RFC 7661: do not grow a window that is not used).
    pub cwnd_limited: bool,
    /// The delivery rate sample this acknowledgment produced, if it
    /// delivered a whole segment (see [`RateSample`]); window-based
    /// controllers ignore it.
    pub rate: Option<RateSample>,
}

/// A delivery rate sample, taken on an acknowledgment (the "RS" of
/// draft-ietf-ccwg-bbr §4.1, "Delivery Rate Samples", which took over
/// draft-cheng-iccrg-delivery-rate-estimation): how fast the path
/// delivered the flight that ended with the newest segment acknowledged.
/// Volumes are payload bytes of this subflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSample {
    /// `delivered / interval` in bytes per second; 0 when the interval is
    /// shorter than the minimum RTT (no reliable sample).
    pub delivery_rate: u64,
    /// Bytes delivered over the sampling interval (RS.delivered).
    pub delivered: u64,
    /// The sampling interval: the longer of the send and ACK intervals.
    pub interval: Duration,
    /// The subflow's delivered count when the newest segment acknowledged
    /// was sent (RS.prior_delivered).
    pub prior_delivered: u64,
    /// Whether that segment was sent while the sender was
    /// application-limited (RS.is_app_limited).
    pub is_app_limited: bool,
    /// Bytes in flight just after that segment was sent (RS.tx_in_flight).
    pub tx_in_flight: u64,
    /// Bytes marked lost between that segment's transmission and now
    /// (RS.lost).
    pub lost: u64,
    /// Bytes newly acknowledged, cumulatively or by SACK (RS.newly_acked).
    pub newly_acked: u64,
    /// Bytes newly marked lost while processing this acknowledgment
    /// (RS.newly_lost).
    pub newly_lost: u64,
    /// Bytes delivered over the subflow's lifetime (C.delivered).
    pub total_delivered: u64,
    /// Bytes in flight after this acknowledgment (C.inflight).
    pub in_flight: u64,
    /// Whether the sender is in loss recovery, fast or after a timeout.
    pub in_loss_recovery: bool,
}

/// A segment marked lost, with what was recorded when it was sent (the
/// per-packet state of draft-ietf-ccwg-bbr §4.1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostSegment {
    /// When the loss was detected.
    pub now: Instant,
    /// Payload bytes (sequence space) of the segment.
    pub size: u64,
    /// Bytes in flight just after it was sent (P.tx_in_flight).
    pub tx_in_flight: u64,
    /// The subflow's lost count when it was sent (P.lost).
    pub lost_at_send: u64,
    /// The subflow's lost count now, this segment included (C.lost).
    pub total_lost: u64,
    /// The subflow's delivered count now (C.delivered).
    pub total_delivered: u64,
    /// Whether it was sent while application-limited (P.is_app_limited).
    pub is_app_limited: bool,
}

/// A congestion event: loss detected, or ECN (not negotiated yet).
#[derive(Clone, Copy, Debug)]
pub struct LossEvent {
    /// When the loss was detected.
    pub now: Instant,
    /// Bytes in flight when the loss was detected.
    pub in_flight: u64,
}

/// The algorithms the engine knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CcAlgorithm {
    /// NewReno (RFC 5681, RFC 6582), uncoupled.
    Reno,
    /// CUBIC (RFC 9438), uncoupled.
    Cubic,
    /// LIA, the Linked Increases Algorithm (RFC 6356), coupled.
    Lia,
    /// OLIA, the Opportunistic Linked Increases Algorithm, coupled.
    Olia,
    /// BALIA, the Balanced Linked Adaptation algorithm, coupled.
    Balia,
    /// BBR version 3 (draft-ietf-ccwg-bbr, a draft), uncoupled and paced.
    Bbr,
}

impl CcAlgorithm {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CcAlgorithm::Reno => "reno",
            CcAlgorithm::Cubic => "cubic",
            CcAlgorithm::Lia => "lia",
            CcAlgorithm::Olia => "olia",
            CcAlgorithm::Balia => "balia",
            CcAlgorithm::Bbr => "bbr",
        }
    }

    /// All known algorithms.
    pub const ALL: &'static [CcAlgorithm] = &[
        CcAlgorithm::Reno,
        CcAlgorithm::Cubic,
        CcAlgorithm::Lia,
        CcAlgorithm::Olia,
        CcAlgorithm::Balia,
        CcAlgorithm::Bbr,
    ];

    /// Whether the algorithm couples the subflows of a connection (reads
    /// [`CcContext::siblings`]); uncoupled ones ignore the other subflows.
    pub fn is_coupled(self) -> bool {
        match self {
            CcAlgorithm::Reno | CcAlgorithm::Cubic | CcAlgorithm::Bbr => false,
            CcAlgorithm::Lia | CcAlgorithm::Olia | CcAlgorithm::Balia => true,
        }
    }

    /// Parse a name as printed by [`CcAlgorithm::name`].
    pub fn from_name(name: &str) -> Option<CcAlgorithm> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// A fresh controller for a subflow with sender MSS `mss`.
    pub fn build(self, mss: u32) -> Box<dyn CongestionControl> {
        match self {
            CcAlgorithm::Reno => Box::new(NewReno::new(mss)),
            CcAlgorithm::Cubic => Box::new(Cubic::new(mss)),
            CcAlgorithm::Lia => Box::new(Lia::new(mss)),
            CcAlgorithm::Olia => Box::new(Olia::new(mss)),
            CcAlgorithm::Balia => Box::new(Balia::new(mss)),
            CcAlgorithm::Bbr => Box::new(Bbr::new(mss)),
        }
    }
}

impl fmt::Display for CcAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A congestion controller for one subflow.
pub trait CongestionControl: fmt::Debug + Send + CloneCongestionControl {
    /// Which algorithm this is.
    fn algorithm(&self) -> CcAlgorithm;
    /// The congestion window in bytes.
    fn cwnd(&self) -> u64;
    /// The slow-start threshold in bytes (`u64::MAX` before the first loss).
    fn ssthresh(&self) -> u64;
    /// Bytes were acknowledged.
    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>);
    /// Loss was detected; called once per recovery episode.
    fn on_congestion_event(&mut self, loss: &LossEvent, ctx: &CcContext<'_>);
    /// The retransmission timer expired.
    fn on_rto(&mut self, now: Instant, in_flight: u64, ctx: &CcContext<'_>);
    /// The sender MSS changed (e.g. after the handshake).
    fn set_mss(&mut self, mss: u32);

    /// The last congestion event proved spurious (every retransmission of
    /// its episode was reported as a duplicate, RFC 2883 D-SACK): restore
    /// what was saved at the event (RFC 9438 §4.9.2). Called at most once
    /// per event, never after a retransmission timeout; the default keeps
    /// the reduced window.
    fn on_spurious_congestion(&mut self, _now: Instant) {}

    /// What this controller tracks of its losses, for coupled siblings:
    /// see [`SubflowCcView::loss_interval`].
    fn loss_interval(&self) -> u64 {
        0
    }

    /// Leave slow start now, keeping the window (HyStart++, RFC 9406:
    /// ssthresh = cwnd).
    fn exit_slow_start(&mut self);

    /// Whether the controller is in slow start.
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }

    /// The rate at which the subflow releases data segments, in payload
    /// bytes per second; `None` (the default) sends as the windows allow.
    fn pacing_rate(&self) -> Option<u64> {
        None
    }

    /// Whether the controller sets the window during fast recovery itself
    /// (a model-based controller); by default Proportional Rate Reduction
    /// (RFC 6937) clocks what is sent then.
    fn sets_recovery_window(&self) -> bool {
        false
    }

    /// A segment marked lost (each one, as loss detection marks it).
    fn on_segment_lost(&mut self, _lost: &LostSegment) {}

    /// A data segment is about to leave with `in_flight` bytes already in
    /// flight; `app_limited` says whether the sender had run out of data
    /// (draft-ietf-ccwg-bbr §5.2.2, restarting from idle).
    fn on_send(&mut self, _now: Instant, _in_flight: u64, _app_limited: bool) {}

    /// Whether the controller wants the delivery rate samples of what is
    /// sent now marked application-limited (BBR in ProbeRTT).
    fn samples_app_limited(&self) -> bool {
        false
    }
}

/// Cloning a boxed controller (see [`crate::scheduler::CloneScheduler`]).
pub trait CloneCongestionControl {
    /// A copy in a new box.
    fn clone_box(&self) -> Box<dyn CongestionControl>;
}

impl<T: CongestionControl + Clone + 'static> CloneCongestionControl for T {
    fn clone_box(&self) -> Box<dyn CongestionControl> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn CongestionControl> {
    fn clone(&self) -> Box<dyn CongestionControl> {
        self.clone_box()
    }
}

/// Slow-start growth shared by the uncoupled controllers: appropriate byte
/// counting with L = 2 SMSS per acknowledgment (RFC 3465 §2.3).
pub(crate) fn slow_start_increase(acked: u64, mss: u32) -> u64 {
    acked.min(2 * u64::from(mss))
}

/// The smallest window a controller may set: two segments (RFC 5681 §3.1).
pub(crate) fn min_window(mss: u32) -> u64 {
    2 * u64::from(mss)
}

#[cfg(test)]
mod coupled_tests;
#[cfg(test)]
mod sbd_tests;
#[cfg(test)]
mod tests;
