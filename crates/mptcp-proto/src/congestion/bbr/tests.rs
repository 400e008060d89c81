//! BBR's filters and state transitions, driven by hand-made rate samples.

use super::*;
use crate::congestion::SubflowCcView;

const MSS: u32 = 1000;
const SEG: u64 = MSS as u64;
/// 10 MB/s over a 20 ms path: a BDP of 200 segments.
const BW: u64 = 10_000_000;
const RTT_MS: u64 = 20;
const BDP: u64 = 200 * SEG;

fn ctx() -> CcContext<'static> {
    const VIEWS: &[SubflowCcView] = &[];
    CcContext {
        mss: MSS,
        srtt: Some(Duration::from_millis(RTT_MS)),
        min_rtt: Some(Duration::from_millis(RTT_MS)),
        siblings: VIEWS,
    }
}

/// Feeds a controller one packet-timed round trip per call.
struct Feed {
    bbr: Bbr,
    now: Instant,
    delivered: u64,
    lost: u64,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            bbr: Bbr::new(MSS),
            now: Instant::from_micros(1_000_000),
            delivered: 0,
            lost: 0,
        }
    }

    /// One round trip of `rtt_ms` delivering at `bw` with `in_flight`
    /// left: an ACK of a segment sent when the previous round ended.
    fn round_with(&mut self, bw: u64, in_flight: u64, rtt_ms: u64, app_limited: bool) {
        let bytes = (bw * rtt_ms / 1000).max(SEG);
        let prior = self.delivered;
        self.delivered += bytes;
        self.now += Duration::from_millis(rtt_ms);
        let rs = RateSample {
            delivery_rate: bw,
            delivered: bytes,
            interval: Duration::from_millis(rtt_ms),
            prior_delivered: prior,
            is_app_limited: app_limited,
            tx_in_flight: in_flight.max(SEG),
            lost: 0,
            newly_acked: bytes,
            newly_lost: 0,
            total_delivered: self.delivered,
            in_flight,
            in_loss_recovery: false,
        };
        let ack = AckEvent {
            now: self.now,
            acked_bytes: bytes,
            in_flight_before: in_flight + bytes,
            rtt: Some(Duration::from_millis(rtt_ms)),
            in_recovery: false,
            cwnd_limited: true,
            rate: Some(rs),
        };
        self.bbr.on_ack(&ack, &ctx());
    }

    fn round(&mut self, bw: u64, in_flight: u64) {
        self.round_with(bw, in_flight, RTT_MS, false);
    }

    /// Rounds at `bw` until `state` (at most `limit` of them).
    fn until(&mut self, state: BbrState, bw: u64, in_flight: u64, limit: usize) -> usize {
        for n in 0..limit {
            if self.bbr.state() == state {
                return n;
            }
            self.round(bw, in_flight);
        }
        panic!(
            "not in {state:?} after {limit} rounds: {:?}",
            self.bbr.state()
        );
    }

    /// A segment of one MSS, sent with `tx_in_flight` in flight when
    /// `lost_at_send` bytes had been lost, is marked lost now, along with
    /// `also` bytes lost since it was sent.
    fn lose(&mut self, tx_in_flight: u64, also: u64) {
        let lost_at_send = self.lost;
        self.lost += also + SEG;
        self.bbr.on_segment_lost(&LostSegment {
            now: self.now,
            size: SEG,
            tx_in_flight,
            lost_at_send,
            total_lost: self.lost,
            total_delivered: self.delivered,
            is_app_limited: false,
        });
    }

    /// Startup at a growing rate with `in_flight`, then the plateau:
    /// Drain.
    fn reach_drain(&mut self, in_flight: u64) {
        for bw in [BW / 8, BW / 4, BW / 2] {
            self.round(bw, in_flight);
        }
        self.until(BbrState::Drain, BW, in_flight, 5);
    }

    /// Then a Drain that gives up on a standing queue: ProbeBW_DOWN.
    fn reach_probe_bw(&mut self) {
        self.reach_drain(2 * BDP);
        self.until(BbrState::ProbeBwDown, BW, 2 * BDP, 5);
    }
}

#[test]
fn max_bw_filter_spans_two_cycles() {
    let mut f = MaxBwFilter::default();
    f.update(100);
    f.update(70);
    assert_eq!(f.get(), 100);
    f.advance();
    f.update(50);
    assert_eq!(f.get(), 100, "the previous cycle still counts");
    f.advance();
    assert_eq!(f.get(), 50, "two cycles later it is forgotten");
    f.advance();
    assert_eq!(f.get(), 0);
}

#[test]
fn windowed_max_forgets_values_older_than_the_window() {
    let mut w = WindowedMax::default();
    assert_eq!(w.update(0, 10, 3), 10);
    assert_eq!(w.update(1, 5, 3), 10);
    assert_eq!(w.update(2, 7, 3), 10);
    assert_eq!(w.update(3, 1, 3), 7, "10 was at time 0, out of (0, 3]");
    assert_eq!(w.update(3, 6, 3), 7);
    assert_eq!(w.update(5, 2, 3), 6);
    assert_eq!(w.update(9, 4, 3), 4);
    // A window of one keeps only the current time's maximum.
    assert_eq!(w.update(10, 3, 1), 3);
    assert_eq!(w.update(10, 8, 1), 8);
    assert_eq!(w.update(10, 1, 1), 8);
}

#[test]
fn startup_paces_at_its_gain_and_grows_the_window() {
    let mut f = Feed::new();
    assert_eq!(f.bbr.state(), BbrState::Startup);
    assert_eq!(f.bbr.pacing_gain(), STARTUP_PACING_GAIN);
    let before = f.bbr.cwnd();
    f.round(BW / 4, 10 * SEG);
    assert_eq!(f.bbr.max_bw(), BW / 4);
    // 2.77 x bw less the 1% margin.
    assert_eq!(f.bbr.pacing_rate(), Some(BW / 4 * 277 * 99 / 10_000));
    assert!(f.bbr.cwnd() > before, "the window grows by what was acked");
    assert_eq!(f.bbr.min_rtt(), Some(Duration::from_millis(RTT_MS)));
}

#[test]
fn startup_ends_after_three_rounds_without_a_quarter_more_bandwidth() {
    let mut f = Feed::new();
    for bw in [BW / 8, BW / 4, BW / 2, BW] {
        f.round(bw, 2 * BDP);
        assert_eq!(f.bbr.state(), BbrState::Startup);
    }
    // 20% growth is not growth.
    f.round(BW * 6 / 5, 2 * BDP);
    f.round(BW * 6 / 5, 2 * BDP);
    assert_eq!(f.bbr.state(), BbrState::Startup);
    assert!(!f.bbr.full_bw_reached());
    f.round(BW * 6 / 5, 2 * BDP);
    assert!(f.bbr.full_bw_reached());
    assert_eq!(f.bbr.state(), BbrState::Drain);
    assert_eq!(f.bbr.pacing_gain(), DRAIN_PACING_GAIN);
}

#[test]
fn application_limited_rounds_do_not_end_startup() {
    let mut f = Feed::new();
    for _ in 0..10 {
        f.round_with(BW / 4, SEG, RTT_MS, true);
    }
    assert_eq!(f.bbr.state(), BbrState::Startup);
    assert_eq!(
        f.bbr.max_bw(),
        BW / 4,
        "a raising app-limited sample counts"
    );
}

#[test]
fn drain_ends_once_the_flight_fits_the_bdp() {
    let mut f = Feed::new();
    f.reach_drain(2 * BDP);
    f.round(BW, BDP * 3 / 2);
    assert_eq!(f.bbr.state(), BbrState::Drain, "still a queue");
    // No queue: ProbeBW_DOWN, whose own exit condition holds as well, so
    // CRUISE at once.
    f.round(BW, BDP);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwCruise);
    assert_eq!(f.bbr.pacing_gain(), 100);
}

#[test]
fn drain_gives_up_after_three_rounds() {
    let mut f = Feed::new();
    f.reach_drain(3 * BDP);
    let rounds = f.until(BbrState::ProbeBwDown, BW, 3 * BDP, 10);
    assert_eq!(rounds, 4);
    assert_eq!(f.bbr.pacing_gain(), DOWN_PACING_GAIN);
    // DOWN holds while the queue stands.
    f.round(BW, 3 * BDP);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwDown);
}

#[test]
fn probe_bw_cycles_down_cruise_refill_up_down() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    // DOWN -> CRUISE once the flight is within the BDP.
    f.round(BW, BDP / 2);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwCruise);
    assert_eq!(f.bbr.pacing_gain(), 100);
    // CRUISE lasts 2 to 3 s, or as many rounds as Reno needs to use the
    // BDP (200 segments), at most 63: here 63 rounds less 0 or 1 come
    // first.
    let rounds = f.until(BbrState::ProbeBwRefill, BW, BDP, 200);
    assert!((61..=63).contains(&rounds), "{rounds} rounds of 20 ms");
    assert_eq!(
        f.bbr.bw_shortterm(),
        u64::MAX,
        "REFILL resets the short-term model"
    );
    // REFILL lasts one round, then UP.
    f.round(BW, BDP);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwUp);
    assert_eq!(f.bbr.pacing_gain(), UP_PACING_GAIN);
    assert_eq!(f.bbr.cwnd_gain(), UP_CWND_GAIN);
    // No more bandwidth for three rounds: back DOWN.
    let rounds = f.until(BbrState::ProbeBwDown, BW, BDP, 10);
    assert_eq!(rounds, 3);
}

#[test]
fn the_wall_clock_bounds_cruise_on_long_rounds() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    f.round(BW, BDP / 2);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwCruise);
    // Rounds of 100 ms: 2 to 3 s is 20 to 30 of them, before 63.
    let mut rounds = 0;
    while f.bbr.state() == BbrState::ProbeBwCruise {
        f.round_with(BW, BDP, 100, false);
        rounds += 1;
        assert!(rounds < 63, "no REFILL after {rounds} rounds");
    }
    assert_eq!(f.bbr.state(), BbrState::ProbeBwRefill);
    assert!((20..=31).contains(&rounds), "{rounds} rounds of 100 ms");
}

#[test]
fn excess_loss_while_probing_up_sets_inflight_longterm_and_goes_down() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    f.until(BbrState::ProbeBwUp, BW, BDP, 200);
    assert_eq!(f.bbr.inflight_longterm(), u64::MAX);
    // 1% lost: below the 2% threshold, the probe goes on.
    f.lose(BDP, BDP / 100 - SEG);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwUp);
    // 3% lost since the segment left with 1.2 BDP in flight.
    let tx = BDP * 6 / 5;
    f.lose(tx, tx * 3 / 100);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwDown);
    let hi = f.bbr.inflight_longterm();
    assert!(hi < tx && hi >= BDP * 7 / 10, "{hi}");
}

#[test]
fn loss_when_not_probing_lowers_the_short_term_model_once_a_round() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    f.round(BW, BDP / 2);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwCruise);
    // A round at half rate, then one in which a loss is seen, also at
    // half rate.
    f.round(BW / 2, BDP / 2);
    let cwnd = f.bbr.cwnd();
    f.lose(BDP, 0);
    f.round(BW / 2, BDP / 2);
    assert_eq!(
        f.bbr.bw_shortterm(),
        BW / 100 * BETA,
        "max(bw_latest, 0.7 bw)"
    );
    assert_eq!(f.bbr.inflight_shortterm(), cwnd / 100 * BETA);
    assert_eq!(f.bbr.bw(), BW / 100 * BETA);
    // A round without loss leaves it.
    f.round(BW, BDP / 2);
    assert_eq!(f.bbr.bw_shortterm(), BW / 100 * BETA);
    assert!(f.bbr.cwnd() <= cwnd / 100 * BETA);
}

#[test]
fn probe_rtt_after_five_seconds_without_a_lower_rtt() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    let mut rounds = 0;
    // Every round sees a queue: 25 ms, never the 20 ms minimum.
    while f.bbr.state() != BbrState::ProbeRtt {
        f.round_with(BW, BDP, 25, false);
        rounds += 1;
        assert!(rounds < 400, "no ProbeRTT after {rounds} rounds");
    }
    assert!((190..=210).contains(&rounds), "{rounds} rounds of 25 ms");
    assert!(f.bbr.samples_app_limited());
    assert!(f.bbr.cwnd() <= BDP / 2 + 3 * SEG, "{}", f.bbr.cwnd());
    // At least 200 ms and a round once the flight is down, then back.
    f.round_with(BW, BDP / 4, 20, false);
    assert_eq!(f.bbr.state(), BbrState::ProbeRtt);
    let rounds = f.until(BbrState::ProbeBwCruise, BW, BDP / 4, 20);
    assert_eq!(rounds, 11, "past 200 ms");
    assert!(!f.bbr.samples_app_limited());
    assert!(f.bbr.cwnd() > BDP, "restored: {}", f.bbr.cwnd());
}

#[test]
fn a_lower_rtt_postpones_probe_rtt() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    for i in 0..400u64 {
        // A new minimum every 3.75 s.
        let rtt = if i % 150 == 149 { 19 - i / 150 } else { 25 };
        f.round_with(BW, BDP, rtt, false);
        assert_ne!(f.bbr.state(), BbrState::ProbeRtt, "round {i}");
    }
}

#[test]
fn timeout_leaves_one_segment_and_recovery_end_restores() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    let cwnd = f.bbr.cwnd();
    f.bbr.on_rto(f.now, BDP, &ctx());
    assert_eq!(f.bbr.cwnd(), SEG);
    // Acknowledgments in recovery grow it back slowly; the end of
    // recovery restores the last good window.
    let mut rs = RateSample {
        newly_acked: SEG,
        delivered: SEG,
        prior_delivered: f.delivered,
        total_delivered: f.delivered + SEG,
        in_loss_recovery: true,
        ..RateSample::default()
    };
    let mut ack = AckEvent {
        now: f.now,
        acked_bytes: SEG,
        in_flight_before: SEG,
        rtt: None,
        in_recovery: false,
        cwnd_limited: true,
        rate: Some(rs),
    };
    f.bbr.on_ack(&ack, &ctx());
    assert!(f.bbr.cwnd() < cwnd / 2);
    rs.in_loss_recovery = false;
    ack.rate = Some(rs);
    f.bbr.on_ack(&ack, &ctx());
    assert!(f.bbr.cwnd() >= cwnd, "{} < {cwnd}", f.bbr.cwnd());
}

#[test]
fn a_spurious_loss_undoes_the_end_of_a_probe() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    f.until(BbrState::ProbeBwUp, BW, BDP, 200);
    let tx = BDP * 6 / 5;
    f.lose(tx, tx * 3 / 100);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwDown);
    f.bbr.on_spurious_congestion(f.now);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwRefill, "back to probing");
    assert_eq!(
        f.bbr.inflight_longterm(),
        u64::MAX,
        "the bound is taken back"
    );
}

#[test]
fn restart_from_idle_paces_at_the_estimated_bandwidth() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    f.round(BW, BDP / 2);
    assert_eq!(f.bbr.state(), BbrState::ProbeBwCruise);
    f.bbr.on_send(f.now, 0, true);
    assert_eq!(f.bbr.pacing_rate(), Some(BW * 99 / 100));
}

#[test]
fn cwnd_is_two_bdp_plus_aggregation_in_probe_bw() {
    let mut f = Feed::new();
    f.reach_probe_bw();
    for _ in 0..20 {
        f.round(BW, BDP / 2);
    }
    // A round's data in one ACK each time: as much aggregation as there
    // can be, a BDP, on top of twice the BDP.
    assert_eq!(f.bbr.extra_acked(), BDP);
    assert_eq!(f.bbr.cwnd(), 3 * BDP);
    assert!(f.bbr.sets_recovery_window());
    assert!(!f.bbr.in_slow_start());
}
