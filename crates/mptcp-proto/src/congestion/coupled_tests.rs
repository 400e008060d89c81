//! Tests of the coupled controllers: LIA, OLIA, BALIA.

use super::balia::{balia_alpha, balia_increase};
use super::coupled::{self, Own, Path};
use super::lia::{lia_alpha, lia_bytes_per_increment};
use super::olia::{olia_alpha, olia_increase};
use super::*;
use proptest::prelude::*;

const MSS: u32 = 1000;
const SEG: u64 = MSS as u64;

fn view(cwnd_segs: u64, rtt_ms: u64, loss_interval: u64, is_self: bool) -> SubflowCcView {
    SubflowCcView {
        cwnd: cwnd_segs * SEG,
        srtt: Duration::from_millis(rtt_ms),
        mss: MSS,
        is_self,
        loss_interval,
    }
}

fn ctx(views: &[SubflowCcView]) -> CcContext<'_> {
    CcContext {
        mss: MSS,
        srtt: Some(Duration::from_millis(20)),
        min_rtt: Some(Duration::from_millis(20)),
        siblings: views,
    }
}

fn ack(bytes: u64) -> AckEvent {
    AckEvent {
        now: Instant::ZERO,
        acked_bytes: bytes,
        in_flight_before: 0,
        rtt: None,
        in_recovery: false,
        cwnd_limited: true,
        rate: None,
    }
}

/// An acknowledgment that counts towards OLIA's loss interval, not growth.
fn idle_ack(bytes: u64) -> AckEvent {
    AckEvent {
        cwnd_limited: false,
        ..ack(bytes)
    }
}

fn loss(in_flight: u64) -> LossEvent {
    LossEvent {
        now: Instant::ZERO,
        in_flight,
    }
}

fn path(cwnd_segs: u64, rtt_ms: u64, loss_interval: u64, is_self: bool) -> Path {
    Path {
        cwnd: cwnd_segs * SEG,
        mss: MSS,
        rtt: rtt_ms as f64 / 1000.0,
        loss_interval,
        is_self,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn names_round_trip_and_coupling() {
    for &alg in CcAlgorithm::ALL {
        assert_eq!(CcAlgorithm::from_name(alg.name()), Some(alg));
        let cc = alg.build(MSS);
        assert_eq!(cc.algorithm(), alg);
        assert_eq!(cc.cwnd(), 10 * SEG);
    }
    assert_eq!(CcAlgorithm::from_name("olia"), Some(CcAlgorithm::Olia));
    let coupled: Vec<_> = CcAlgorithm::ALL
        .iter()
        .filter(|a| a.is_coupled())
        .map(|a| a.name())
        .collect();
    assert_eq!(coupled, ["lia", "olia", "balia"]);
}

#[test]
fn own_state_replaces_the_stale_self_view_or_is_added() {
    let own = Own {
        cwnd: 7 * SEG,
        mss: MSS,
        loss_interval: 42,
    };
    let views = [
        view(99, 10, 0, true),
        view(5, 30, 9, false),
        view(0, 10, 0, false),
    ];
    let got: Vec<Path> = coupled::paths(&ctx(&views), own).collect();
    // The empty window cannot send and is left out.
    assert_eq!(got, [path(7, 10, 42, true), path(5, 30, 9, false)]);
    let got: Vec<Path> = coupled::paths(&ctx(&[]), own).collect();
    assert_eq!(got, [path(7, 20, 42, true)]);
}

// ---- LIA -----------------------------------------------------------------

#[test]
fn lia_alpha_hand_computed() {
    // One path: alpha = 1.
    assert!(close(lia_alpha([path(10, 20, 0, true)].into_iter()), 1.0));
    // Equal RTTs, equal windows: 20 * 10 / 20^2 = 1/2.
    let equal = [path(10, 20, 0, true), path(10, 20, 0, false)];
    assert!(close(lia_alpha(equal.into_iter()), 0.5));
    // Equal RTTs, windows 10 and 30: 40 * 30 / 40^2 = 3/4.
    let uneven = [path(10, 20, 0, true), path(30, 20, 0, false)];
    assert!(close(lia_alpha(uneven.into_iter()), 0.75));
    // Equal windows, RTTs 10 and 20 ms (in ms): max(10/100, 10/400) = 0.1,
    // (10/10 + 10/20)^2 = 2.25, alpha = 20 * 0.1 / 2.25 = 8/9.
    let rtts = [path(10, 10, 0, true), path(10, 20, 0, false)];
    assert!(close(lia_alpha(rtts.into_iter()), 8.0 / 9.0));
}

#[test]
fn lia_increase_is_the_smaller_of_coupled_and_reno() {
    // Equal paths: cwnd_total / alpha = 20000 / (1/2) = 40000 bytes per MSS.
    let equal = [path(10, 20, 0, true), path(10, 20, 0, false)];
    assert_eq!(lia_bytes_per_increment(equal.into_iter(), 10 * SEG), 40_000);
    // Alpha 8/9: 20000 * 9 / 8 = 22500 bytes.
    let rtts = [path(10, 10, 0, true), path(10, 20, 0, false)];
    assert_eq!(lia_bytes_per_increment(rtts.into_iter(), 10 * SEG), 22_500);
    // A tiny fast path makes alpha large: (1 + 100 * 1/100)^2 / 1 = 4
    // segments, less than the slow path's own window, so the Reno term
    // (one MSS per cwnd) binds there.
    let skewed = [path(1, 1, 0, false), path(100, 100, 0, true)];
    assert_eq!(
        lia_bytes_per_increment(skewed.into_iter(), 100 * SEG),
        100 * SEG
    );
}

#[derive(Clone, Debug)]
enum Event {
    Ack {
        bytes: u64,
        limited: bool,
        recovery: bool,
    },
    Loss(u64),
    Rto(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0u64..6000, any::<bool>(), any::<bool>()).prop_map(|(bytes, l, r)| Event::Ack {
            bytes,
            limited: l || bytes % 3 != 0,
            recovery: r && bytes % 5 == 0,
        }),
        1 => (0u64..100_000).prop_map(Event::Loss),
        1 => (0u64..100_000).prop_map(Event::Rto),
    ]
}

fn apply(cc: &mut dyn CongestionControl, e: &Event, ctx: &CcContext<'_>) {
    match *e {
        Event::Ack {
            bytes,
            limited,
            recovery,
        } => {
            let a = AckEvent {
                cwnd_limited: limited,
                in_recovery: recovery,
                ..ack(bytes)
            };
            cc.on_ack(&a, ctx);
        }
        Event::Loss(f) => cc.on_congestion_event(&loss(f), ctx),
        Event::Rto(f) => cc.on_rto(Instant::ZERO, f, ctx),
    }
}

proptest! {
    /// RFC 6356 with one subflow is NewReno, whether the siblings are empty
    /// or hold only a (stale) view of the subflow itself.
    #[test]
    fn lia_single_path_is_newreno(
        events in prop::collection::vec(event(), 0..300),
        stale in 0u64..1000,
        rtt_ms in 0u64..2000,
    ) {
        let alone = [view(stale, rtt_ms, 0, true)];
        for siblings in [&[][..], &alone[..]] {
            let mut reno = NewReno::new(MSS);
            let mut lia = Lia::new(MSS);
            for e in &events {
                apply(&mut reno, e, &ctx(siblings));
                apply(&mut lia, e, &ctx(siblings));
                prop_assert_eq!(lia.cwnd(), reno.cwnd());
                prop_assert_eq!(lia.ssthresh(), reno.ssthresh());
            }
        }
    }

    /// BALIA with one subflow has NewReno's increase; its decrease halves
    /// the window, which is NewReno's when the flight fills the window.
    #[test]
    fn balia_single_path_is_newreno_when_the_window_is_full(
        events in prop::collection::vec(event(), 0..300),
    ) {
        let mut reno = NewReno::new(MSS);
        let mut balia = Balia::new(MSS);
        for e in &events {
            let e = match *e {
                Event::Loss(_) => Event::Loss(balia.cwnd()),
                Event::Rto(_) => Event::Rto(balia.cwnd()),
                ref a => a.clone(),
            };
            apply(&mut reno, &e, &ctx(&[]));
            apply(&mut balia, &e, &ctx(&[]));
            prop_assert_eq!(balia.cwnd(), reno.cwnd());
            prop_assert_eq!(balia.ssthresh(), reno.ssthresh());
        }
    }
}

#[test]
fn lia_decrease_is_newreno() {
    let mut cc = Lia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 20, 0, true), view(10, 20, 0, false)];
    cc.on_congestion_event(&loss(10 * SEG), &ctx(&views));
    assert_eq!((cc.cwnd(), cc.ssthresh()), (5 * SEG, 5 * SEG));
    cc.on_congestion_event(&loss(3 * SEG), &ctx(&views));
    assert_eq!(cc.cwnd(), 2 * SEG);
    cc.on_rto(Instant::ZERO, 9 * SEG, &ctx(&views));
    assert_eq!((cc.cwnd(), cc.ssthresh()), (SEG, 4500));
}

#[test]
fn lia_two_equal_subflows_count_acked_bytes_exactly() {
    // 40000 bytes per MSS, even in one-byte acknowledgments.
    let mut cc = Lia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 20, 0, true), view(10, 20, 0, false)];
    for _ in 0..39_999 {
        cc.on_ack(&ack(1), &ctx(&views));
    }
    assert_eq!(cc.cwnd(), 10 * SEG);
    cc.on_ack(&ack(1), &ctx(&views));
    assert_eq!(cc.cwnd(), 11 * SEG);
}

// ---- OLIA ----------------------------------------------------------------

#[test]
fn olia_alpha_and_increase_hand_computed() {
    // A (10 segments, l = 1e5) is the best path; B (20 segments, l = 1e3)
    // has the largest window. n = 2, |B \ M| = 1, |M| = 1.
    let a = path(10, 10, 100_000, true);
    let b = path(20, 10, 1000, false);
    let from_a = [a, b];
    let from_b = [
        Path {
            is_self: false,
            ..a
        },
        Path { is_self: true, ..b },
    ];
    assert!(close(olia_alpha(from_a.into_iter()), 0.5));
    assert!(close(olia_alpha(from_b.into_iter()), -0.5));
    // 10 / 30^2 + 0.5 / 10 = 1/90 + 1/20; 20 / 30^2 - 0.5 / 20 = -1/360.
    assert!(close(olia_increase(from_a.into_iter()), 1.0 / 90.0 + 0.05));
    assert!(close(olia_increase(from_b.into_iter()), -1.0 / 360.0));

    // Equal windows: M holds both, B \ M is empty, alpha = 0. RTTs 10 and
    // 20 ms: w_A / (10 + 10 * 10/20)^2 = 10/225, w_B / (10 * 20/10 + 10)^2.
    let rtts = [path(10, 10, 5000, true), path(10, 20, 5000, false)];
    assert!(close(olia_alpha(rtts.into_iter()), 0.0));
    assert!(close(olia_increase(rtts.into_iter()), 10.0 / 225.0));
    let rtts_b = [path(10, 10, 5000, false), path(10, 20, 5000, true)];
    assert!(close(olia_increase(rtts_b.into_iter()), 10.0 / 900.0));

    // Three paths, two of them with the largest window: C gets
    // 1/(3 * 1), each of A and B -1/(3 * 2).
    let c = path(5, 10, 1 << 30, true);
    let big = path(20, 10, 10, false);
    assert!(close(olia_alpha([big, big, c].into_iter()), 1.0 / 3.0));
    let big_self = Path {
        is_self: true,
        ..big
    };
    let c_other = Path {
        is_self: false,
        ..c
    };
    assert!(close(
        olia_alpha([big_self, big, c_other].into_iter()),
        -1.0 / 6.0
    ));

    // One path: alpha = 0 and the increase is NewReno's 1 / w.
    assert!(close(
        olia_increase([path(8, 20, 0, true)].into_iter()),
        1.0 / 8.0
    ));
}

#[test]
fn olia_moves_window_to_the_best_path() {
    // The best, smaller path grows by (1/90 + 1/20) MSS per acked MSS:
    // 16 acknowledgments of a segment are not enough, 17 are.
    let mut a = Olia::with_cwnd(MSS, 10 * SEG);
    a.on_ack(&idle_ack(100_000), &ctx(&[]));
    assert_eq!(a.loss_interval(), 100_000);
    let views = [view(10, 10, 0, true), view(20, 10, 1000, false)];
    for _ in 0..16 {
        a.on_ack(&ack(SEG), &ctx(&views));
    }
    assert_eq!(a.cwnd(), 10 * SEG);
    a.on_ack(&ack(SEG), &ctx(&views));
    assert_eq!(a.cwnd(), 11 * SEG);

    // The larger path shrinks by 1/360 MSS per acked MSS, without going
    // back to slow start.
    let mut b = Olia::with_cwnd(MSS, 20 * SEG);
    b.on_ack(&idle_ack(1000), &ctx(&[]));
    let views = [view(10, 10, 1 << 40, false), view(20, 10, 0, true)];
    for _ in 0..355 {
        b.on_ack(&ack(SEG), &ctx(&views));
    }
    assert_eq!(b.cwnd(), 20 * SEG);
    for _ in 0..45 {
        b.on_ack(&ack(SEG), &ctx(&views));
    }
    assert_eq!(b.cwnd(), 19 * SEG);
    assert_eq!(b.ssthresh(), 19 * SEG);
    assert!(!b.in_slow_start());
}

#[test]
fn olia_loss_interval_and_decrease() {
    let mut cc = Olia::with_cwnd(MSS, 10 * SEG);
    let none = ctx(&[]);
    cc.on_ack(&idle_ack(5000), &none);
    assert_eq!(cc.loss_interval(), 5000);
    cc.on_congestion_event(&loss(0), &none);
    // Halved (regardless of the flight size), l1 = 5000, l2 = 0.
    assert_eq!((cc.cwnd(), cc.ssthresh()), (5 * SEG, 5 * SEG));
    assert_eq!(cc.loss_interval(), 5000);
    cc.on_ack(&idle_ack(2000), &none);
    assert_eq!(cc.loss_interval(), 5000);
    cc.on_ack(&idle_ack(4000), &none);
    assert_eq!(cc.loss_interval(), 6000);
    cc.on_congestion_event(&loss(0), &none);
    assert_eq!(cc.cwnd(), 2500);
    cc.on_congestion_event(&loss(0), &none);
    // Never below two segments; a loss with nothing acknowledged since
    // the previous one keeps the interval.
    assert_eq!(cc.cwnd(), 2 * SEG);
    assert_eq!(cc.loss_interval(), 6000);
    cc.on_ack(&idle_ack(1000), &none);
    cc.on_rto(Instant::ZERO, 0, &none);
    assert_eq!((cc.cwnd(), cc.ssthresh()), (SEG, 2 * SEG));
    assert_eq!(cc.loss_interval(), 1000);
}

#[test]
fn olia_accumulates_tiny_acks() {
    // One path, w = 10: 0.1 byte per acknowledged byte.
    let mut cc = Olia::with_cwnd(MSS, 10 * SEG);
    for _ in 0..9_990 {
        cc.on_ack(&ack(1), &ctx(&[]));
    }
    assert_eq!(cc.cwnd(), 10 * SEG);
    for _ in 0..20 {
        cc.on_ack(&ack(1), &ctx(&[]));
    }
    assert_eq!(cc.cwnd(), 11 * SEG);
}

// ---- BALIA ---------------------------------------------------------------

#[test]
fn balia_increase_hand_computed() {
    // x_A = 10 / 0.01 = 1000/s, x_B = 10 / 0.02 = 500/s, sum = 1500/s.
    let from_a = [path(10, 10, 0, true), path(10, 20, 0, false)];
    let from_b = [path(10, 10, 0, false), path(10, 20, 0, true)];
    assert!(close(balia_alpha(from_a.into_iter()), 1.0));
    assert!(close(balia_alpha(from_b.into_iter()), 2.0));
    // A: 1000 / (0.01 * 1500^2) * 1 * 1 = 2/45.
    assert!(close(balia_increase(from_a.into_iter()), 2.0 / 45.0));
    // B: 500 / (0.02 * 1500^2) * (3/2) * (6/5) = 1/90 * 1.8 = 0.02.
    assert!(close(balia_increase(from_b.into_iter()), 0.02));
    // One path: NewReno's 1 / w.
    assert!(close(
        balia_increase([path(8, 20, 0, true)].into_iter()),
        1.0 / 8.0
    ));

    // A takes MSS / (2/45) = 22500 bytes per MSS.
    let mut cc = Balia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 10, 0, true), view(10, 20, 0, false)];
    for _ in 0..22 {
        cc.on_ack(&ack(SEG), &ctx(&views));
    }
    assert_eq!(cc.cwnd(), 10 * SEG);
    cc.on_ack(&ack(SEG), &ctx(&views));
    assert_eq!(cc.cwnd(), 11 * SEG);
}

#[test]
fn balia_decrease_hand_computed() {
    // The fastest path halves: alpha = 1.
    let mut a = Balia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 10, 0, true), view(10, 20, 0, false)];
    a.on_congestion_event(&loss(0), &ctx(&views));
    assert_eq!((a.cwnd(), a.ssthresh()), (5 * SEG, 5 * SEG));
    // alpha = 2, capped at 1.5: 10 - 5 * 1.5 = 2.5 segments.
    let mut b = Balia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 10, 0, false), view(10, 20, 0, true)];
    b.on_congestion_event(&loss(0), &ctx(&views));
    assert_eq!(b.cwnd(), 2500);
    // alpha = 1.2: 10 - 5 * 1.2 = 4 segments.
    let mut c = Balia::with_cwnd(MSS, 10 * SEG);
    let views = [view(12, 10, 0, false), view(10, 10, 0, true)];
    c.on_congestion_event(&loss(0), &ctx(&views));
    assert_eq!(c.cwnd(), 4 * SEG);
    // Never below two segments; RTO: one segment, ssthresh as on loss.
    let mut d = Balia::with_cwnd(MSS, 3 * SEG);
    let views = [view(10, 10, 0, false), view(3, 10, 0, true)];
    d.on_congestion_event(&loss(0), &ctx(&views));
    assert_eq!(d.cwnd(), 2 * SEG);
    let mut e = Balia::with_cwnd(MSS, 10 * SEG);
    let views = [view(10, 10, 0, true), view(10, 20, 0, false)];
    e.on_rto(Instant::ZERO, 0, &ctx(&views));
    assert_eq!((e.cwnd(), e.ssthresh()), (SEG, 5 * SEG));
}

// ---- All three -----------------------------------------------------------

fn coupled_algorithms() -> [CcAlgorithm; 3] {
    [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia]
}

/// A controller of `alg` in congestion avoidance with `segs` segments.
fn in_avoidance(alg: CcAlgorithm, segs: u64) -> Box<dyn CongestionControl> {
    match alg {
        CcAlgorithm::Lia => Box::new(Lia::with_cwnd(MSS, segs * SEG)),
        CcAlgorithm::Olia => Box::new(Olia::with_cwnd(MSS, segs * SEG)),
        CcAlgorithm::Balia => Box::new(Balia::with_cwnd(MSS, segs * SEG)),
        CcAlgorithm::Reno | CcAlgorithm::Cubic | CcAlgorithm::Bbr => {
            let mut cc = alg.build(MSS);
            cc.on_congestion_event(&loss(2 * segs * SEG), &ctx(&[]));
            cc
        }
    }
}

fn views_of(ccs: &[Box<dyn CongestionControl>], me: usize) -> Vec<SubflowCcView> {
    ccs.iter()
        .enumerate()
        .map(|(i, cc)| SubflowCcView {
            cwnd: cc.cwnd(),
            srtt: Duration::from_millis(20),
            mss: MSS,
            is_self: i == me,
            loss_interval: cc.loss_interval(),
        })
        .collect()
}

/// One RTT on identical paths: each subflow sends its window and has every
/// segment acknowledged; every `loss_every`-th segment of a path is lost
/// instead, with one congestion event at the end of the round.
fn round(ccs: &mut [Box<dyn CongestionControl>], sent: &mut [u64], loss_every: u64) {
    for i in 0..ccs.len() {
        let window = ccs[i].cwnd();
        let mut lost = false;
        for _ in 0..window / SEG {
            sent[i] += 1;
            if sent[i].is_multiple_of(loss_every) {
                lost = true;
                continue;
            }
            let views = views_of(ccs, i);
            ccs[i].on_ack(&ack(SEG), &ctx(&views));
        }
        if lost {
            let views = views_of(ccs, i);
            ccs[i].on_congestion_event(&loss(window), &ctx(&views));
        }
    }
}

fn total_segments(ccs: &[Box<dyn CongestionControl>]) -> f64 {
    ccs.iter().map(|cc| cc.cwnd() as f64 / SEG as f64).sum()
}

#[test]
fn no_more_aggressive_than_one_reno_flow_per_rtt() {
    // RFC 6356 §2 goal 2 ("do no harm"): on paths sharing a bottleneck the
    // aggregate grows no faster than one TCP flow, 1 MSS per RTT.
    for alg in coupled_algorithms() {
        for windows in [[20, 20], [10, 30]] {
            let mut ccs: Vec<_> = windows.iter().map(|&w| in_avoidance(alg, w)).collect();
            let mut sent = vec![0; 2];
            let before = total_segments(&ccs);
            for _ in 0..40 {
                round(&mut ccs, &mut sent, u64::MAX);
            }
            let growth = total_segments(&ccs) - before;
            assert!(
                growth <= 40.0,
                "{alg} {windows:?}: {growth} segments in 40 RTTs"
            );
            // Equal windows: alpha = 1/2, half a segment per RTT in total.
            assert!(
                growth >= 15.0,
                "{alg} {windows:?}: {growth} segments in 40 RTTs"
            );
        }
    }
}

#[test]
fn two_identical_subflows_match_one_reno_flow() {
    // The same loss rate on each of two identical paths: the coupled total
    // window matches one NewReno flow's (RFC 6356 §2 goals 1 and 2); in
    // the fluid limit both reach sqrt(8 K / 3) with a loss every K segments.
    const LOSS_EVERY: u64 = 3000;
    const ROUNDS: usize = 3000;
    let mean = |ccs: &mut Vec<Box<dyn CongestionControl>>| {
        let mut sent = vec![0; ccs.len()];
        let mut sum = 0.0;
        for r in 0..ROUNDS {
            round(ccs, &mut sent, LOSS_EVERY);
            if r >= ROUNDS / 4 {
                sum += total_segments(ccs);
            }
        }
        sum / (ROUNDS - ROUNDS / 4) as f64
    };
    let reno = mean(&mut vec![in_avoidance(CcAlgorithm::Reno, 20)]);
    // Uncoupled, the pair would take twice as much.
    let reno_pair = mean(&mut vec![
        in_avoidance(CcAlgorithm::Reno, 10),
        in_avoidance(CcAlgorithm::Reno, 10),
    ]);
    assert!(reno_pair >= 1.8 * reno, "{reno_pair:.1} vs {reno:.1}");
    for alg in coupled_algorithms() {
        let pair = mean(&mut vec![in_avoidance(alg, 10), in_avoidance(alg, 10)]);
        assert!(
            (pair - reno).abs() <= 0.05 * reno,
            "{alg}: {pair:.1} segments, NewReno {reno:.1}"
        );
    }
}

#[test]
fn no_growth_when_not_window_limited_or_in_recovery() {
    for alg in coupled_algorithms() {
        for segs in [None, Some(10)] {
            let mut cc = match segs {
                None => alg.build(MSS),
                Some(w) => in_avoidance(alg, w),
            };
            let views = [view(10, 20, 0, true), view(10, 20, 0, false)];
            let before = cc.cwnd();
            for _ in 0..1000 {
                let a = AckEvent {
                    cwnd_limited: false,
                    ..ack(SEG)
                };
                cc.on_ack(&a, &ctx(&views));
                let a = AckEvent {
                    in_recovery: true,
                    ..ack(SEG)
                };
                cc.on_ack(&a, &ctx(&views));
            }
            assert_eq!(cc.cwnd(), before, "{alg}");
        }
    }
}

#[test]
fn slow_start_is_newreno() {
    for alg in coupled_algorithms() {
        let mut cc = alg.build(MSS);
        let views = [view(10, 20, 0, true), view(50, 5, 0, false)];
        cc.on_ack(&ack(5000), &ctx(&views));
        assert_eq!(cc.cwnd(), 12 * SEG, "{alg}");
        assert!(cc.in_slow_start());
    }
}

#[test]
fn rto_leaves_one_segment_and_losses_two() {
    for alg in coupled_algorithms() {
        let views = [view(10, 20, 0, true), view(10, 20, 0, false)];
        let mut cc = in_avoidance(alg, 3);
        cc.on_congestion_event(&loss(SEG), &ctx(&views));
        assert_eq!(cc.cwnd(), 2 * SEG, "{alg}");
        cc.on_rto(Instant::ZERO, 2 * SEG, &ctx(&views));
        assert_eq!(cc.cwnd(), SEG, "{alg}");
        assert_eq!(cc.ssthresh(), 2 * SEG, "{alg}");
    }
}

fn any_view() -> impl Strategy<Value = SubflowCcView> {
    (
        prop_oneof![Just(0u64), Just(u64::MAX), 0u64..10_000_000, any::<u64>()],
        prop_oneof![Just(0u64), Just(u64::MAX), 0u64..10_000_000],
        prop_oneof![Just(0u32), Just(u32::MAX), 1u32..9000],
        any::<bool>(),
        prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
    )
        .prop_map(|(cwnd, rtt, mss, is_self, loss_interval)| SubflowCcView {
            cwnd,
            srtt: Duration::from_micros(rtt),
            mss,
            is_self,
            loss_interval,
        })
}

proptest! {
    /// Arbitrary siblings (zero RTTs, empty windows, zero MSS, extremes, no
    /// or several self entries) never panic, never empty a window, and
    /// never grow a subflow faster than NewReno would (OLIA excepted: its
    /// alpha adds up to half a segment per window towards a best path).
    #[test]
    fn arbitrary_views_are_harmless(
        views in prop::collection::vec(any_view(), 0..5),
        srtt in prop::option::of(0u64..10_000_000),
        mss in prop_oneof![Just(0u32), 1u32..9000],
        events in prop::collection::vec(event(), 0..40),
    ) {
        let ctx = CcContext {
            mss,
            srtt: srtt.map(Duration::from_micros),
            min_rtt: None,
            siblings: &views,
        };
        for alg in coupled_algorithms() {
            let mut cc = alg.build(mss);
            for e in &events {
                apply(cc.as_mut(), e, &ctx);
                prop_assert!(cc.cwnd() >= 1);
                prop_assert!(cc.ssthresh() >= 2);
            }
        }
        let own = Own { cwnd: 10 * u64::from(mss.max(1)), mss, loss_interval: 7 };
        let paths = coupled::paths(&ctx, own);
        let w = 10.0;
        let lia = lia_alpha(paths.clone());
        prop_assert!(lia.is_finite() && lia >= 0.0);
        prop_assert!(lia_bytes_per_increment(paths.clone(), own.cwnd) >= own.cwnd);
        let balia = balia_increase(paths.clone());
        prop_assert!(balia.is_finite() && balia >= 0.0 && balia * w <= 1.0 + 1e-9);
        prop_assert!(balia_alpha(paths.clone()) >= 1.0);
        let olia = olia_increase(paths.clone());
        prop_assert!(olia.is_finite() && olia * w <= 2.0 + 1e-9);
        prop_assert!(olia_alpha(paths).abs() <= 1.0);
    }
}
