//! BBR version 3, as draft-ietf-ccwg-bbr (an Internet-Draft of the IETF's
//! CCWG, work in progress) describes it; uncoupled, one per subflow.
//!
//! BBR builds a model of the path from delivery rate samples
//! ([`RateSample`], taken by the subflow) and round-trip times: the
//! bottleneck bandwidth (a windowed maximum over two bandwidth-probing
//! cycles), the propagation delay (a windowed minimum over 10 s), the
//! degree of ACK aggregation, and bounds on what may be in flight learned
//! from loss (a long-term one, `inflight_longterm`, the former
//! `inflight_hi`; short-term ones, `bw_shortterm` and `inflight_shortterm`,
//! the former `bw_lo` and `inflight_lo`). It paces at a gain times the
//! bandwidth and caps what is in flight at a gain times the
//! bandwidth-delay product, cycling through the states of
//! [`BbrState`]: Startup doubles the rate every round trip until the
//! bandwidth stops growing (or loss exceeds 2%), Drain empties the queue
//! Startup built, ProbeBW cycles through DOWN, CRUISE, REFILL and UP, and
//! ProbeRTT drains the pipe briefly every 5 s when the minimum RTT has not
//! been seen again.
//!
//! Units: bytes (payload, the subflow's segment size for the draft's
//! C.SMSS), bytes per second, microseconds; gains in percent. The draft's
//! "Infinity" is `u64::MAX` (and `None` for the minimum RTT).

mod filters;
mod states;

pub use filters::{MaxBwFilter, WindowedMax};

use super::{
    AckEvent, CcAlgorithm, CcContext, CongestionControl, INITIAL_WINDOW_SEGMENTS, LossEvent,
    LostSegment, RateSample,
};
use crate::time::{Duration, Instant};

/// BBR.StartupPacingGain: 4 ln 2 ≈ 2.77, in percent.
const STARTUP_PACING_GAIN: u64 = 277;
/// BBR.DrainPacingGain.
const DRAIN_PACING_GAIN: u64 = 50;
/// BBR.DefaultCwndGain.
const DEFAULT_CWND_GAIN: u64 = 200;
/// ProbeBW_UP's pacing and cwnd gains.
const UP_PACING_GAIN: u64 = 125;
const UP_CWND_GAIN: u64 = 225;
/// ProbeBW_DOWN's pacing gain.
const DOWN_PACING_GAIN: u64 = 90;
/// BBR.ProbeRTTCwndGain.
const PROBE_RTT_CWND_GAIN: u64 = 50;
/// BBR.PacingMarginPercent.
const PACING_MARGIN_PERCENT: u64 = 1;
/// BBR.LossThresh: 2% (as 1/50).
const LOSS_THRESH_INV: u64 = 50;
/// BBR.Beta: 0.7, in percent.
const BETA: u64 = 70;
/// BBR.Headroom: 0.15, in percent.
const HEADROOM: u64 = 15;
/// BBR.ExtraAckedFilterLen, in round trips.
const EXTRA_ACKED_FILTER_LEN: u64 = 10;
/// BBR.MinRTTFilterLen.
const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);
/// BBR.ProbeRTTDuration.
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// BBR.ProbeRTTInterval.
const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
/// Startup ends on loss after this many loss events in a round trip
/// (BBRStartupFullLossCnt).
const STARTUP_FULL_LOSS_COUNT: u32 = 6;
/// Rounds without 25% growth that mean the pipe is full.
const FULL_BW_ROUNDS: u32 = 3;
/// The longest run of rounds ProbeBW_UP doubles its growth over.
const MAX_PROBE_UP_ROUNDS: u32 = 30;
/// The most round trips between bandwidth probes (Reno coexistence).
const MAX_RENO_ROUNDS: u64 = 63;
/// The largest send quantum.
const MAX_SEND_QUANTUM: u64 = 64 * 1024;

/// Where BBR is in its state machine (draft-ietf-ccwg-bbr §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BbrState {
    /// Doubling the sending rate each round trip.
    Startup,
    /// Draining the queue Startup built.
    Drain,
    /// Sending below the estimated bandwidth, to leave headroom.
    ProbeBwDown,
    /// Sending at the estimated bandwidth.
    ProbeBwCruise,
    /// Refilling the pipe for one round trip before probing.
    ProbeBwRefill,
    /// Probing for more bandwidth.
    ProbeBwUp,
    /// Draining the pipe to measure the propagation delay.
    ProbeRtt,
}

impl BbrState {
    /// Whether this is one of the four ProbeBW states.
    pub fn is_probe_bw(self) -> bool {
        matches!(
            self,
            BbrState::ProbeBwDown
                | BbrState::ProbeBwCruise
                | BbrState::ProbeBwRefill
                | BbrState::ProbeBwUp
        )
    }

    /// Whether BBR is accelerating to probe for bandwidth (IsProbingBW).
    fn is_probing_bw(self) -> bool {
        matches!(
            self,
            BbrState::Startup | BbrState::ProbeBwRefill | BbrState::ProbeBwUp
        )
    }
}

/// What the ACKs coming back say about bandwidth probing (BBR.ack_phase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckPhase {
    Init,
    Refilling,
    ProbeStarting,
    ProbeFeedback,
    ProbeStopping,
}

/// What a loss episode may undo if it proves spurious (§5.5.11).
#[derive(Clone, Copy, Debug)]
struct Undo {
    state: Option<BbrState>,
    bw_shortterm: u64,
    inflight_shortterm: u64,
    inflight_longterm: u64,
}

/// The ACK being processed, as BBR's steps read it.
#[derive(Clone, Copy, Debug, Default)]
struct AckView {
    now: Instant,
    rs: RateSample,
    rtt: Option<Duration>,
    cwnd_limited: bool,
}

/// BBRv3 for one subflow.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u32,
    cwnd: u64,
    /// C.pacing_rate in bytes per second.
    pacing_rate: u64,
    /// Whether the pacing rate was set from a first RTT sample.
    pacing_from_rtt: bool,
    state: BbrState,
    pacing_gain: u64,
    cwnd_gain: u64,
    ack: AckView,
    in_recovery: bool,
    // Round counting (§5.5.1).
    round_count: u64,
    round_start: bool,
    next_round_delivered: u64,
    // Bandwidth model.
    max_bw: MaxBwFilter,
    bw_shortterm: u64,
    bw: u64,
    bw_latest: u64,
    inflight_latest: u64,
    inflight_longterm: u64,
    inflight_shortterm: u64,
    // Loss rounds (§5.5.10.3).
    loss_round_delivered: u64,
    loss_round_start: bool,
    is_loss_in_round: bool,
    loss_events_in_round: u32,
    recovery_start_round: Option<u64>,
    // Minimum RTT and ProbeRTT (§5.3.4, §5.5.4).
    min_rtt: Option<Duration>,
    min_rtt_stamp: Instant,
    probe_rtt_min_delay: Option<Duration>,
    probe_rtt_min_stamp: Instant,
    probe_rtt_expired: bool,
    probe_rtt_done_stamp: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: u64,
    idle_restart: bool,
    // ACK aggregation (§5.5.9).
    extra_acked: u64,
    extra_acked_interval_start: Instant,
    extra_acked_delivered: u64,
    extra_acked_filter: WindowedMax,
    // Startup (§5.3.1).
    full_bw_reached: bool,
    full_bw_now: bool,
    full_bw: u64,
    full_bw_count: u32,
    drain_start_round: u64,
    // ProbeBW (§5.3.3).
    ack_phase: AckPhase,
    is_bw_probe_sample: bool,
    bw_probe_up_acked: u64,
    probe_up_acked_per_inc: u64,
    bw_probe_up_rounds: u32,
    rounds_since_probe_up: u64,
    bw_probe_wait: Duration,
    cycle_stamp: Instant,
    prev_probe_too_high: bool,
    prev_probe_precautionary: bool,
    undo: Undo,
    /// Draws for PickProbeWait; deterministic for a given run.
    rng: u64,
}

impl Bbr {
    /// A controller with the initial window of RFC 6928, in Startup.
    pub fn new(mss: u32) -> Bbr {
        let initial = INITIAL_WINDOW_SEGMENTS * u64::from(mss);
        let mut b = Bbr {
            mss,
            cwnd: initial,
            pacing_rate: 0,
            pacing_from_rtt: false,
            state: BbrState::Startup,
            pacing_gain: STARTUP_PACING_GAIN,
            cwnd_gain: DEFAULT_CWND_GAIN,
            ack: AckView::default(),
            in_recovery: false,
            round_count: 0,
            round_start: false,
            next_round_delivered: 0,
            max_bw: MaxBwFilter::default(),
            bw_shortterm: u64::MAX,
            bw: 0,
            bw_latest: 0,
            inflight_latest: 0,
            inflight_longterm: u64::MAX,
            inflight_shortterm: u64::MAX,
            loss_round_delivered: 0,
            loss_round_start: false,
            is_loss_in_round: false,
            loss_events_in_round: 0,
            recovery_start_round: None,
            min_rtt: None,
            min_rtt_stamp: Instant::ZERO,
            probe_rtt_min_delay: None,
            probe_rtt_min_stamp: Instant::ZERO,
            probe_rtt_expired: false,
            probe_rtt_done_stamp: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            idle_restart: false,
            extra_acked: 0,
            extra_acked_interval_start: Instant::ZERO,
            extra_acked_delivered: 0,
            extra_acked_filter: WindowedMax::default(),
            full_bw_reached: false,
            full_bw_now: false,
            full_bw: 0,
            full_bw_count: 0,
            drain_start_round: 0,
            ack_phase: AckPhase::Init,
            is_bw_probe_sample: false,
            bw_probe_up_acked: 0,
            probe_up_acked_per_inc: u64::MAX,
            bw_probe_up_rounds: 0,
            rounds_since_probe_up: 0,
            bw_probe_wait: Duration::ZERO,
            cycle_stamp: Instant::ZERO,
            prev_probe_too_high: false,
            prev_probe_precautionary: false,
            undo: Undo {
                state: None,
                bw_shortterm: u64::MAX,
                inflight_shortterm: u64::MAX,
                inflight_longterm: u64::MAX,
            },
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        b.init_pacing_rate(None);
        b.enter_startup();
        b
    }

    /// The state machine's state.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// BBR.max_bw in bytes per second.
    pub fn max_bw(&self) -> u64 {
        self.max_bw.get()
    }

    /// BBR.bw: max_bw bounded by bw_shortterm.
    pub fn bw(&self) -> u64 {
        self.bw
    }

    /// BBR.min_rtt, if sampled.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// BBR.inflight_longterm (formerly inflight_hi); `u64::MAX` if unset.
    pub fn inflight_longterm(&self) -> u64 {
        self.inflight_longterm
    }

    /// BBR.inflight_shortterm (formerly inflight_lo); `u64::MAX` if unset.
    pub fn inflight_shortterm(&self) -> u64 {
        self.inflight_shortterm
    }

    /// BBR.bw_shortterm (formerly bw_lo); `u64::MAX` if unset.
    pub fn bw_shortterm(&self) -> u64 {
        self.bw_shortterm
    }

    /// BBR.extra_acked in bytes.
    pub fn extra_acked(&self) -> u64 {
        self.extra_acked
    }

    /// Whether BBR ever estimated the pipe full.
    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// The pacing gain in percent.
    pub fn pacing_gain(&self) -> u64 {
        self.pacing_gain
    }

    /// The cwnd gain in percent.
    pub fn cwnd_gain(&self) -> u64 {
        self.cwnd_gain
    }

    /// Count of packet-timed round trips.
    pub fn round_count(&self) -> u64 {
        self.round_count
    }

    fn smss(&self) -> u64 {
        u64::from(self.mss)
    }

    fn initial_cwnd(&self) -> u64 {
        INITIAL_WINDOW_SEGMENTS * self.smss()
    }

    /// BBR.MinPipeCwnd: four segments.
    fn min_pipe_cwnd(&self) -> u64 {
        4 * self.smss()
    }

    /// InitPacingRate: the initial window over the RTT (1 ms if unknown),
    /// at Startup's gain.
    fn init_pacing_rate(&mut self, srtt: Option<Duration>) {
        let us = srtt.map_or(1000, |s| s.as_micros().max(1));
        let nominal = u128::from(self.initial_cwnd()) * 1_000_000 / u128::from(us);
        self.pacing_rate = (nominal * u128::from(STARTUP_PACING_GAIN) / 100) as u64;
    }

    /// UpdateOnACK (§5.2.3): the model, the state machine, the controls.
    fn update_on_ack(&mut self) {
        self.update_latest_delivery_signals();
        self.update_congestion_signals();
        self.update_ack_aggregation();
        self.check_full_bw_reached();
        self.check_startup_done();
        self.check_drain_done();
        self.update_probe_bw_cycle_phase();
        self.update_min_rtt();
        self.check_probe_rtt();
        self.advance_latest_delivery_signals();
        self.bw = self.max_bw.get().min(self.bw_shortterm);
        self.set_pacing_rate_with_gain(self.pacing_gain);
        self.set_cwnd();
    }

    /// Round counting (§5.5.1): a round ends when a segment sent after the
    /// previous round ended is delivered.
    fn update_round(&mut self) {
        if self.ack.rs.prior_delivered >= self.next_round_delivered {
            self.start_round();
            self.round_count += 1;
            self.rounds_since_probe_up += 1;
            self.round_start = true;
        } else {
            self.round_start = false;
        }
    }

    fn start_round(&mut self) {
        self.next_round_delivered = self.ack.rs.total_delivered;
    }

    /// UpdateMaxBw (§5.5.2): application-limited samples count only when
    /// they raise the estimate.
    fn update_max_bw(&mut self) {
        self.update_round();
        let rs = &self.ack.rs;
        if rs.delivery_rate > 0 && (rs.delivery_rate >= self.max_bw.get() || !rs.is_app_limited) {
            self.max_bw.update(rs.delivery_rate);
        }
    }

    /// UpdateACKAggregation (§5.5.9): data acknowledged beyond what the
    /// estimated bandwidth explains, as a windowed maximum.
    fn update_ack_aggregation(&mut self) {
        let now = self.ack.now;
        let interval = now.saturating_duration_since(self.extra_acked_interval_start);
        let mut expected = mul_rate(self.bw, interval);
        if self.extra_acked_delivered <= expected {
            self.extra_acked_delivered = 0;
            self.extra_acked_interval_start = now;
            expected = 0;
        }
        self.extra_acked_delivered += self.ack.rs.newly_acked;
        let extra = (self.extra_acked_delivered - expected).min(self.cwnd);
        let len = if self.full_bw_reached {
            EXTRA_ACKED_FILTER_LEN
        } else {
            1
        };
        self.extra_acked = self.extra_acked_filter.update(self.round_count, extra, len);
    }

    /// UpdateMinRTT (§5.5.4).
    fn update_min_rtt(&mut self) {
        let now = self.ack.now;
        self.probe_rtt_expired = now > self.probe_rtt_min_stamp + PROBE_RTT_INTERVAL;
        if let Some(rtt) = self.ack.rtt
            && (self.probe_rtt_min_delay.is_none_or(|d| rtt < d) || self.probe_rtt_expired)
        {
            self.probe_rtt_min_delay = Some(rtt);
            self.probe_rtt_min_stamp = now;
        }
        let expired = now > self.min_rtt_stamp + MIN_RTT_FILTER_LEN;
        if let Some(d) = self.probe_rtt_min_delay
            && (self.min_rtt.is_none_or(|m| d < m) || expired)
        {
            self.min_rtt = Some(d);
            self.min_rtt_stamp = self.probe_rtt_min_stamp;
        }
    }

    /// SetPacingRateWithGain (§5.6.2): never lowered before the pipe was
    /// found full.
    fn set_pacing_rate_with_gain(&mut self, gain: u64) {
        let rate = u128::from(self.bw) * u128::from(gain) * u128::from(100 - PACING_MARGIN_PERCENT)
            / 10_000;
        let rate = rate.min(u128::from(u64::MAX)) as u64;
        if rate > 0 && (self.full_bw_reached || rate > self.pacing_rate) {
            self.pacing_rate = rate;
        }
    }

    /// C.send_quantum (§5.6.3).
    fn send_quantum(&self) -> u64 {
        (self.pacing_rate / 1000)
            .min(MAX_SEND_QUANTUM)
            .max(2 * self.smss())
    }

    /// BDPMultiple(gain): the estimated BDP times `gain` percent.
    fn bdp_multiple(&self, bw: u64, gain: u64) -> u64 {
        match self.min_rtt {
            None => self.initial_cwnd(),
            Some(rtt) => {
                let bdp = mul_rate(bw, rtt);
                (u128::from(bdp) * u128::from(gain) / 100) as u64
            }
        }
    }

    /// QuantizationBudget: room for offload bursts and delayed ACKs.
    fn quantization_budget(&self, cap: u64) -> u64 {
        // TCP's offload budget: three send quanta (§5.5.8).
        let mut cap = cap.max(3 * self.send_quantum()).max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeBwUp {
            cap += 2 * self.smss();
        }
        cap
    }

    /// Inflight(gain) at BBR.bw.
    fn inflight(&self, gain: u64) -> u64 {
        self.quantization_budget(self.bdp_multiple(self.bw, gain))
    }

    /// BBR.max_inflight.
    fn max_inflight(&self) -> u64 {
        let cap = self
            .bdp_multiple(self.bw, self.cwnd_gain)
            .saturating_add(self.extra_acked);
        self.quantization_budget(cap)
    }

    /// SetCwnd (§5.6.4.6).
    fn set_cwnd(&mut self) {
        let max_inflight = self.max_inflight();
        let acked = self.ack.rs.newly_acked;
        if self.full_bw_reached {
            self.cwnd = (self.cwnd + acked).min(max_inflight);
        } else if self.cwnd < max_inflight || self.ack.rs.total_delivered < self.initial_cwnd() {
            self.cwnd += acked;
        }
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        if self.state == BbrState::ProbeRtt {
            self.cwnd = self.cwnd.min(self.probe_rtt_cwnd());
        }
        self.bound_cwnd_for_model();
    }

    /// ProbeRTTCwnd: half the BDP, at least the pipelining minimum.
    fn probe_rtt_cwnd(&self) -> u64 {
        self.bdp_multiple(self.bw, PROBE_RTT_CWND_GAIN)
            .max(self.min_pipe_cwnd())
    }

    /// BoundCwndForModel (§5.6.4.8).
    fn bound_cwnd_for_model(&mut self) {
        let mut cap = u64::MAX;
        if self.state.is_probe_bw() && self.state != BbrState::ProbeBwCruise {
            cap = self.inflight_longterm;
        } else if matches!(self.state, BbrState::ProbeRtt | BbrState::ProbeBwCruise) {
            cap = self.inflight_with_headroom();
        }
        cap = cap.min(self.inflight_shortterm).max(self.min_pipe_cwnd());
        self.cwnd = self.cwnd.min(cap);
    }

    /// InflightWithHeadroom: inflight_longterm less 15% for other flows.
    fn inflight_with_headroom(&self) -> u64 {
        if self.inflight_longterm == u64::MAX {
            return u64::MAX;
        }
        let headroom = (self.inflight_longterm / 100 * HEADROOM).max(self.smss());
        self.inflight_longterm
            .saturating_sub(headroom)
            .max(self.min_pipe_cwnd())
    }

    /// TargetInflight: the BDP, unless congestion cut the window below it.
    fn target_inflight(&self) -> u64 {
        self.bdp_multiple(self.bw, 100).min(self.cwnd)
    }

    /// SaveCwnd (§5.6.4.4).
    fn save_cwnd(&mut self) {
        if !self.in_recovery && self.state != BbrState::ProbeRtt {
            self.prior_cwnd = self.cwnd;
        } else {
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        }
    }

    /// RestoreCwnd.
    fn restore_cwnd(&mut self) {
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    /// SaveStateUponLoss (§5.5.11.1).
    fn save_state_upon_loss(&mut self) {
        self.save_cwnd();
        self.undo = Undo {
            state: None,
            bw_shortterm: self.bw_shortterm,
            inflight_shortterm: self.inflight_shortterm,
            inflight_longterm: self.inflight_longterm,
        };
    }

    /// A pseudo-random draw in `[0, n)`, from the controller's own state
    /// mixed with the time (deterministic in a simulation).
    fn draw(&mut self, n: u64) -> u64 {
        let mut x = self.rng ^ self.ack.now.as_micros().rotate_left(29);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        if n == 0 { 0 } else { x % n }
    }
}

/// `bw` bytes per second over `d`, in bytes.
fn mul_rate(bw: u64, d: Duration) -> u64 {
    (u128::from(bw) * u128::from(d.as_micros()) / 1_000_000).min(u128::from(u64::MAX)) as u64
}

/// Do loss signals say the flight was too high (IsInflightTooHigh): more
/// than 2% of what was in flight lost.
fn inflight_too_high(lost: u64, tx_in_flight: u64) -> bool {
    lost.saturating_mul(LOSS_THRESH_INV) > tx_in_flight
}

impl CongestionControl for Bbr {
    fn algorithm(&self) -> CcAlgorithm {
        CcAlgorithm::Bbr
    }

    fn cwnd(&self) -> u64 {
        self.cwnd
    }

    /// BBR keeps no slow-start threshold.
    fn ssthresh(&self) -> u64 {
        u64::MAX
    }

    fn on_ack(&mut self, ack: &AckEvent, ctx: &CcContext<'_>) {
        if !self.pacing_from_rtt && self.max_bw.get() == 0 && ctx.srtt.is_some() {
            self.pacing_from_rtt = true;
            self.init_pacing_rate(ctx.srtt);
        }
        let Some(rs) = ack.rate else {
            return;
        };
        if self.in_recovery && !rs.in_loss_recovery {
            // §5.6.4.4: leaving recovery restores the last good window;
            // the model then bounds it.
            self.in_recovery = false;
            self.restore_cwnd();
        }
        self.in_recovery = rs.in_loss_recovery;
        self.ack = AckView {
            now: ack.now,
            rs,
            rtt: ack.rtt,
            cwnd_limited: ack.cwnd_limited,
        };
        self.update_on_ack();
    }

    /// OnEnterFastRecovery.
    fn on_congestion_event(&mut self, loss: &LossEvent, _ctx: &CcContext<'_>) {
        self.save_state_upon_loss();
        self.in_recovery = true;
        self.recovery_start_round.get_or_insert(self.round_count);
        let _ = loss;
    }

    /// OnEnterRTO: everything in flight is now marked lost; one segment
    /// may go.
    fn on_rto(&mut self, _now: Instant, _in_flight: u64, _ctx: &CcContext<'_>) {
        self.save_state_upon_loss();
        self.in_recovery = true;
        self.cwnd = self.smss();
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        self.handle_spurious_loss();
    }

    fn exit_slow_start(&mut self) {}

    /// Startup is not a slow start: the subflow's HyStart++ stays out.
    fn in_slow_start(&self) -> bool {
        false
    }

    fn pacing_rate(&self) -> Option<u64> {
        Some(self.pacing_rate.max(1))
    }

    fn sets_recovery_window(&self) -> bool {
        true
    }

    fn on_segment_lost(&mut self, lost: &LostSegment) {
        self.handle_lost_segment(lost);
    }

    fn on_send(&mut self, now: Instant, in_flight: u64, app_limited: bool) {
        // HandleRestartFromIdle (§5.4.1).
        if in_flight == 0 && app_limited {
            self.idle_restart = true;
            self.extra_acked_interval_start = now;
            if self.state.is_probe_bw() {
                self.set_pacing_rate_with_gain(100);
            } else if self.state == BbrState::ProbeRtt {
                self.ack.now = now;
                self.check_probe_rtt_done();
            }
        }
    }

    fn samples_app_limited(&self) -> bool {
        self.state == BbrState::ProbeRtt
    }
}

#[cfg(test)]
mod tests;
