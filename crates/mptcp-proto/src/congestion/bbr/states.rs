//! BBR's state machine (draft-ietf-ccwg-bbr §5.3) and its responses to
//! loss (§5.5.10, §5.5.11).

use super::{
    AckPhase, BETA, Bbr, BbrState, DEFAULT_CWND_GAIN, DOWN_PACING_GAIN, DRAIN_PACING_GAIN,
    FULL_BW_ROUNDS, MAX_PROBE_UP_ROUNDS, MAX_RENO_ROUNDS, PROBE_RTT_CWND_GAIN, PROBE_RTT_DURATION,
    STARTUP_FULL_LOSS_COUNT, STARTUP_PACING_GAIN, UP_CWND_GAIN, UP_PACING_GAIN, inflight_too_high,
};
use crate::congestion::LostSegment;
use crate::time::Duration;

impl Bbr {
    pub(super) fn enter_startup(&mut self) {
        self.state = BbrState::Startup;
        self.pacing_gain = STARTUP_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn reset_full_bw(&mut self) {
        self.full_bw = 0;
        self.full_bw_count = 0;
        self.full_bw_now = false;
    }

    /// CheckFullBWReached (§5.3.1.2): three rounds without 25% growth.
    pub(super) fn check_full_bw_reached(&mut self) {
        let rs = self.ack.rs;
        if self.full_bw_now || !self.round_start || rs.is_app_limited {
            return;
        }
        if u128::from(rs.delivery_rate) * 4 >= u128::from(self.full_bw) * 5 {
            self.reset_full_bw();
            self.full_bw = rs.delivery_rate;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_now = self.full_bw_count >= FULL_BW_ROUNDS;
        if self.full_bw_now {
            self.full_bw_reached = true;
        }
    }

    pub(super) fn check_startup_done(&mut self) {
        self.check_startup_high_loss();
        if self.state == BbrState::Startup && self.full_bw_reached {
            self.enter_drain();
        }
    }

    /// CheckStartupHighLoss (§5.3.1.3): at the end of a round spent in fast
    /// recovery, with more than 2% lost over it in at least six loss
    /// events, the pipe is full.
    fn check_startup_high_loss(&mut self) {
        if self.state != BbrState::Startup || !self.loss_round_start {
            return;
        }
        let rounds_in_recovery = self
            .recovery_start_round
            .filter(|_| self.in_recovery)
            .map_or(0, |r| self.round_count.saturating_sub(r));
        let rs = self.ack.rs;
        if rounds_in_recovery >= 1
            && self.loss_events_in_round >= STARTUP_FULL_LOSS_COUNT
            && inflight_too_high(rs.lost, rs.tx_in_flight)
        {
            self.undo.state = Some(BbrState::Startup);
            self.full_bw_reached = true;
            self.inflight_longterm = self
                .bdp_multiple(self.max_bw.get(), 100)
                .max(self.inflight_latest);
        }
    }

    fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.pacing_gain = DRAIN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
        self.drain_start_round = self.round_count;
    }

    /// CheckDrainDone (§5.3.2): the queue is gone, or three rounds passed.
    pub(super) fn check_drain_done(&mut self) {
        if self.state == BbrState::Drain
            && (self.ack.rs.in_flight <= self.inflight(100)
                || self.round_count > self.drain_start_round + 3)
        {
            self.cwnd_gain = DEFAULT_CWND_GAIN;
            self.start_probe_bw_down();
        }
    }

    fn start_probe_bw_down(&mut self) {
        self.reset_congestion_signals();
        self.probe_up_acked_per_inc = u64::MAX;
        self.pick_probe_wait();
        self.cycle_stamp = self.ack.now;
        self.ack_phase = AckPhase::ProbeStopping;
        self.start_round();
        self.state = BbrState::ProbeBwDown;
        self.pacing_gain = DOWN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_cruise(&mut self) {
        self.state = BbrState::ProbeBwCruise;
        self.pacing_gain = 100;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_refill(&mut self) {
        self.reset_short_term_model();
        self.bw_probe_up_rounds = 0;
        self.bw_probe_up_acked = 0;
        self.prev_probe_precautionary = false;
        self.ack_phase = AckPhase::Refilling;
        self.start_round();
        self.state = BbrState::ProbeBwRefill;
        self.pacing_gain = 100;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_up(&mut self) {
        self.ack_phase = AckPhase::ProbeStarting;
        self.start_round();
        self.reset_full_bw();
        self.full_bw = self.ack.rs.delivery_rate;
        self.state = BbrState::ProbeBwUp;
        self.pacing_gain = UP_PACING_GAIN;
        self.cwnd_gain = UP_CWND_GAIN;
        self.raise_inflight_longterm_slope();
    }

    /// UpdateProbeBWCyclePhase (§5.3.3.6).
    pub(super) fn update_probe_bw_cycle_phase(&mut self) {
        if !self.full_bw_reached || self.adapt_long_term_model() || !self.state.is_probe_bw() {
            return;
        }
        let state = self.state;
        match state {
            BbrState::ProbeBwDown if !self.is_time_to_probe_bw() && self.is_time_to_cruise() => {
                self.start_probe_bw_cruise();
            }
            BbrState::ProbeBwCruise => {
                self.is_time_to_probe_bw();
            }
            // One round of REFILL, then UP.
            BbrState::ProbeBwRefill if self.round_start => {
                self.is_bw_probe_sample = true;
                self.start_probe_bw_up();
            }
            BbrState::ProbeBwUp if self.is_time_to_go_down() => {
                self.prev_probe_too_high = false;
                self.start_probe_bw_down();
            }
            _ => {}
        }
    }

    /// IsTimeToProbeBW: after the randomized wait, or after as many
    /// rounds as Reno would need to use the BDP (at most 63); starts
    /// REFILL when it is.
    fn is_time_to_probe_bw(&mut self) -> bool {
        let waited = self.ack.now > self.cycle_stamp + self.bw_probe_wait;
        let reno_rounds = (self.target_inflight() / self.smss()).min(MAX_RENO_ROUNDS);
        if waited || self.rounds_since_probe_up >= reno_rounds {
            self.start_probe_bw_refill();
            return true;
        }
        false
    }

    /// PickProbeWait: 0 or 1 rounds, 2 to 3 seconds.
    fn pick_probe_wait(&mut self) {
        self.rounds_since_probe_up = self.draw(2);
        self.bw_probe_wait = Duration::from_secs(2) + Duration::from_micros(self.draw(1_000_001));
    }

    fn is_time_to_cruise(&self) -> bool {
        let inflight = self.ack.rs.in_flight;
        inflight <= self.inflight_with_headroom()
            && inflight <= self.quantization_budget(self.bdp_multiple(self.max_bw.get(), 100))
    }

    /// IsTimeToGoDown: the precautionary probe reached the level that
    /// lost too much last time, or the bandwidth stopped growing.
    fn is_time_to_go_down(&mut self) -> bool {
        let inflight = self.ack.rs.in_flight;
        if self.prev_probe_too_high && inflight >= self.inflight_longterm {
            self.prev_probe_precautionary = true;
            return true;
        }
        if self.ack.cwnd_limited && self.cwnd >= self.inflight_longterm {
            // Held back by inflight_longterm: the bandwidth was not
            // really explored.
            self.reset_full_bw();
            self.full_bw = self.ack.rs.delivery_rate;
        } else if self.full_bw_now {
            return true;
        }
        false
    }

    fn raise_inflight_longterm_slope(&mut self) {
        let growth = 1u64 << self.bw_probe_up_rounds;
        self.bw_probe_up_rounds = (self.bw_probe_up_rounds + 1).min(MAX_PROBE_UP_ROUNDS);
        self.probe_up_acked_per_inc = (self.cwnd / growth).max(self.smss());
    }

    /// ProbeInflightLongtermUpward: grow inflight_longterm by 1, 2, 4...
    /// segments per round while it limits the window.
    fn probe_inflight_longterm_upward(&mut self) {
        if !self.ack.cwnd_limited || self.cwnd < self.inflight_longterm {
            return;
        }
        self.bw_probe_up_acked += self.ack.rs.newly_acked;
        if self.bw_probe_up_acked >= self.probe_up_acked_per_inc {
            let delta = self.bw_probe_up_acked / self.probe_up_acked_per_inc;
            self.bw_probe_up_acked -= delta * self.probe_up_acked_per_inc;
            self.inflight_longterm = self.inflight_longterm.saturating_add(delta * self.smss());
        }
        if self.round_start {
            self.raise_inflight_longterm_slope();
        }
    }

    /// AdaptLongTermModel: track the probing feedback; raise the upper
    /// bounds while loss stays below the threshold. Returns whether it
    /// changed the state.
    fn adapt_long_term_model(&mut self) -> bool {
        if self.ack_phase == AckPhase::ProbeStarting && self.round_start {
            self.ack_phase = AckPhase::ProbeFeedback;
        }
        if self.ack_phase == AckPhase::ProbeStopping && self.round_start {
            self.is_bw_probe_sample = false;
            self.ack_phase = AckPhase::Init;
            if self.state.is_probe_bw() && !self.ack.rs.is_app_limited {
                self.max_bw.advance();
            }
            if self.state.is_probe_bw()
                && self.prev_probe_precautionary
                && !self.prev_probe_too_high
            {
                self.start_probe_bw_refill();
                return true;
            }
        }
        let rs = self.ack.rs;
        if !inflight_too_high(rs.lost, rs.tx_in_flight) {
            if self.inflight_longterm == u64::MAX {
                return false;
            }
            self.inflight_longterm = self.inflight_longterm.max(rs.tx_in_flight);
            if self.state == BbrState::ProbeBwUp {
                self.probe_inflight_longterm_upward();
            }
        }
        false
    }

    /// CheckProbeRTT (§5.3.4.4).
    pub(super) fn check_probe_rtt(&mut self) {
        if self.state != BbrState::ProbeRtt && self.probe_rtt_expired && !self.idle_restart {
            self.state = BbrState::ProbeRtt;
            self.pacing_gain = 100;
            self.cwnd_gain = PROBE_RTT_CWND_GAIN;
            self.save_cwnd();
            self.probe_rtt_done_stamp = None;
            self.ack_phase = AckPhase::ProbeStopping;
            self.start_round();
        }
        if self.state == BbrState::ProbeRtt {
            self.handle_probe_rtt();
        }
        if self.ack.rs.delivered > 0 {
            self.idle_restart = false;
        }
    }

    fn handle_probe_rtt(&mut self) {
        // The subflow marks samples application-limited meanwhile (see
        // `samples_app_limited`).
        if self.probe_rtt_done_stamp.is_none() && self.ack.rs.in_flight <= self.probe_rtt_cwnd() {
            self.probe_rtt_done_stamp = Some(self.ack.now + PROBE_RTT_DURATION);
            self.probe_rtt_round_done = false;
            self.start_round();
        } else if self.probe_rtt_done_stamp.is_some() {
            if self.round_start {
                self.probe_rtt_round_done = true;
            }
            if self.probe_rtt_round_done {
                self.check_probe_rtt_done();
            }
        }
    }

    /// CheckProbeRTTDone and ExitProbeRTT.
    pub(super) fn check_probe_rtt_done(&mut self) {
        let now = self.ack.now;
        if self.probe_rtt_done_stamp.is_none_or(|t| now <= t) {
            return;
        }
        self.probe_rtt_min_stamp = now;
        self.restore_cwnd();
        self.reset_short_term_model();
        if self.full_bw_reached {
            self.start_probe_bw_down();
            self.start_probe_bw_cruise();
        } else {
            self.enter_startup();
        }
    }

    // Loss (§5.5.10).

    /// UpdateLatestDeliverySignals, near the start of ACK processing.
    pub(super) fn update_latest_delivery_signals(&mut self) {
        let rs = self.ack.rs;
        self.loss_round_start = false;
        self.bw_latest = self.bw_latest.max(rs.delivery_rate);
        self.inflight_latest = self.inflight_latest.max(rs.delivered);
        if rs.prior_delivered >= self.loss_round_delivered {
            self.loss_round_delivered = rs.total_delivered;
            self.loss_round_start = true;
        }
    }

    /// AdvanceLatestDeliverySignals, near the end.
    pub(super) fn advance_latest_delivery_signals(&mut self) {
        if self.loss_round_start {
            self.bw_latest = self.ack.rs.delivery_rate;
            self.inflight_latest = self.ack.rs.delivered;
            self.loss_events_in_round = 0;
        }
    }

    fn reset_congestion_signals(&mut self) {
        self.is_loss_in_round = false;
        self.bw_latest = 0;
        self.inflight_latest = 0;
    }

    pub(super) fn reset_short_term_model(&mut self) {
        self.bw_shortterm = u64::MAX;
        self.inflight_shortterm = u64::MAX;
    }

    /// UpdateCongestionSignals: once per round trip, losses lower the
    /// short-term model when BBR was not probing.
    pub(super) fn update_congestion_signals(&mut self) {
        self.update_max_bw();
        if !self.loss_round_start {
            return;
        }
        if !self.state.is_probing_bw() && self.is_loss_in_round {
            if self.bw_shortterm == u64::MAX {
                self.bw_shortterm = self.max_bw.get();
            }
            if self.inflight_shortterm == u64::MAX {
                self.inflight_shortterm = self.cwnd;
            }
            self.bw_shortterm = self.bw_latest.max(self.bw_shortterm / 100 * BETA);
            self.inflight_shortterm = self
                .inflight_latest
                .max(self.inflight_shortterm / 100 * BETA);
        }
        self.is_loss_in_round = false;
    }

    /// HandleLostPacket: note the loss; during a bandwidth probe, a loss
    /// rate above 2% since the segment was sent ends the probe and sets
    /// inflight_longterm where the threshold was crossed.
    pub(super) fn handle_lost_segment(&mut self, lost: &LostSegment) {
        if !self.is_loss_in_round {
            self.loss_round_delivered = lost.total_delivered;
            self.save_state_upon_loss();
        }
        self.is_loss_in_round = true;
        self.loss_events_in_round = self.loss_events_in_round.saturating_add(1);
        if !self.is_bw_probe_sample {
            return;
        }
        let lost_since = lost.total_lost - lost.lost_at_send;
        if !inflight_too_high(lost_since, lost.tx_in_flight) {
            return;
        }
        self.ack.now = lost.now;
        let at_loss = inflight_at_loss(lost.size, lost.tx_in_flight, lost_since);
        // HandleInflightTooHigh.
        self.prev_probe_too_high = true;
        self.is_bw_probe_sample = false;
        if !lost.is_app_limited {
            let floor = u128::from(self.target_inflight()) * u128::from(BETA) / 100;
            self.inflight_longterm = at_loss.max(floor as u64);
        }
        if self.state == BbrState::ProbeBwUp {
            self.undo.state = Some(BbrState::ProbeBwUp);
            self.start_probe_bw_down();
        }
    }

    /// HandleSpuriousLossDetection (§5.5.11.2).
    pub(super) fn handle_spurious_loss(&mut self) {
        self.restore_cwnd();
        self.is_loss_in_round = false;
        self.reset_full_bw();
        self.bw_shortterm = self.bw_shortterm.max(self.undo.bw_shortterm);
        self.inflight_shortterm = self.inflight_shortterm.max(self.undo.inflight_shortterm);
        self.inflight_longterm = self.inflight_longterm.max(self.undo.inflight_longterm);
        match self.undo.state {
            Some(BbrState::Startup) if self.state != BbrState::Startup => {
                self.full_bw_reached = false;
                if self.state != BbrState::ProbeRtt {
                    self.enter_startup();
                }
            }
            Some(BbrState::ProbeBwUp)
                if self.state != BbrState::ProbeBwUp && self.state != BbrState::ProbeRtt =>
            {
                self.start_probe_bw_refill();
            }
            _ => {}
        }
        self.undo.state = None;
    }
}

/// InflightAtLoss: where, within the lost segment, the loss rate crossed
/// 2% (the segment may be an offload burst): the flight before it plus
/// the prefix that solves (lost_prev + prefix) / (inflight_prev + prefix)
/// = 2%.
fn inflight_at_loss(size: u64, tx_in_flight: u64, lost: u64) -> u64 {
    let inflight_prev = tx_in_flight.saturating_sub(size);
    let lost_prev = lost.saturating_sub(size);
    // (thresh * inflight_prev - lost_prev) / (1 - thresh), thresh = 1/50.
    let prefix = (inflight_prev / super::LOSS_THRESH_INV).saturating_sub(lost_prev) * 50 / 49;
    inflight_prev + prefix
}
