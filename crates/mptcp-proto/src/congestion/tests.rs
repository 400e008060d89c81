use super::*;

const MSS: u32 = 1000;

fn ctx(view: &[SubflowCcView]) -> CcContext<'_> {
    CcContext {
        mss: MSS,
        srtt: Some(Duration::from_millis(20)),
        min_rtt: Some(Duration::from_millis(20)),
        siblings: view,
    }
}

fn ack(now_ms: u64, bytes: u64) -> AckEvent {
    AckEvent {
        now: Instant::from_micros(now_ms * 1000),
        acked_bytes: bytes,
        in_flight_before: 0,
        rtt: Some(Duration::from_millis(20)),
        in_recovery: false,
        cwnd_limited: true,
        rate: None,
    }
}

fn loss(now_ms: u64, in_flight: u64) -> LossEvent {
    LossEvent {
        now: Instant::from_micros(now_ms * 1000),
        in_flight,
    }
}

#[test]
fn reno_slow_start_then_linear() {
    let mut cc = NewReno::new(MSS);
    assert_eq!(cc.cwnd(), 10_000);
    // Slow start: ABC with L = 2 SMSS.
    cc.on_ack(&ack(0, 5000), &ctx(&[]));
    assert_eq!(cc.cwnd(), 12_000);
    cc.on_congestion_event(&loss(1, 12_000), &ctx(&[]));
    assert_eq!(cc.ssthresh(), 6_000);
    assert_eq!(cc.cwnd(), 6_000);
    // Congestion avoidance: one MSS per cwnd of acked bytes.
    for _ in 0..6 {
        cc.on_ack(&ack(2, 1000), &ctx(&[]));
    }
    assert_eq!(cc.cwnd(), 7_000);
    cc.on_rto(Instant::ZERO, 7_000, &ctx(&[]));
    assert_eq!(cc.cwnd(), 1_000);
    assert_eq!(cc.ssthresh(), 3_500);
}

#[test]
fn reno_does_not_grow_when_not_window_limited_or_in_recovery() {
    let mut cc = NewReno::new(MSS);
    let mut a = ack(0, 5000);
    a.cwnd_limited = false;
    cc.on_ack(&a, &ctx(&[]));
    a.cwnd_limited = true;
    a.in_recovery = true;
    cc.on_ack(&a, &ctx(&[]));
    assert_eq!(cc.cwnd(), 10_000);
}

#[test]
fn reno_never_below_two_segments() {
    let mut cc = NewReno::new(MSS);
    cc.on_congestion_event(&loss(0, 100), &ctx(&[]));
    assert_eq!(cc.cwnd(), 2 * u64::from(MSS));
}

#[test]
fn cubic_reduces_by_beta_and_regrows_to_w_max() {
    // A long-RTT path, where the cubic curve (not the Reno-friendly
    // estimate) governs growth: W_max = 1000 segments, RTT = 100 ms.
    let view: [SubflowCcView; 0] = [];
    let ctx = CcContext {
        srtt: Some(Duration::from_millis(100)),
        ..ctx(&view)
    };
    let mut cc = Cubic::new(MSS);
    while cc.cwnd() < 1_000_000 {
        cc.on_ack(&ack(0, 2000), &ctx);
    }
    assert_eq!(cc.cwnd(), 1_000_000);
    cc.on_congestion_event(&loss(0, 1_000_000), &ctx);
    assert_eq!(cc.cwnd(), 700_000);
    // K = cbrt(300 / 0.4) ~ 9.09 s. Acking one window per RTT, the window
    // is back near W_max about K seconds later (the target looks one RTT
    // ahead), flat around it, and grows beyond it afterwards.
    let mut t = 0;
    let mut at_half_k = 0;
    while t <= 8_900 {
        let per_rtt = cc.cwnd();
        cc.on_ack(&ack(t, per_rtt), &ctx);
        t += 100;
        if t == 4_500 {
            at_half_k = cc.cwnd();
        }
    }
    let w = cc.cwnd();
    // Concave: W_cubic(K/2) = W_max - C (K/2)^3 = 1000 - 300/8 = 962.5
    // segments, while a linear climb would be at 850.
    assert!(
        (955_000..970_000).contains(&at_half_k),
        "cwnd at K/2: {at_half_k}"
    );
    assert!((985_000..=1_010_000).contains(&w), "cwnd near K: {w}");
    for _ in 0..50 {
        let per_rtt = cc.cwnd();
        cc.on_ack(&ack(t, per_rtt), &ctx);
        t += 100;
    }
    assert!(
        cc.cwnd() > w + 20_000,
        "convex growth past W_max: {}",
        cc.cwnd()
    );
}

#[test]
fn cubic_is_reno_friendly_on_short_rtts() {
    // At 20 ms RTT the Reno estimate (alpha = 0.53 segment per RTT) outgrows
    // the cubic curve: RFC 9438 §4.3 says follow it.
    let mut cc = Cubic::new(MSS);
    cc.on_congestion_event(&loss(0, 100_000), &ctx(&[]));
    let start = cc.cwnd();
    let mut t = 0;
    for _ in 0..100 {
        let per_rtt = cc.cwnd();
        cc.on_ack(&ack(t, per_rtt), &ctx(&[]));
        t += 20;
    }
    let grown_segments = (cc.cwnd() - start) / u64::from(MSS);
    assert!((45..=60).contains(&grown_segments), "{grown_segments}");
}

#[test]
fn cubic_fast_convergence_lowers_w_max() {
    let mut cc = Cubic::new(MSS);
    cc.on_congestion_event(&loss(0, 10_000), &ctx(&[]));
    let first = cc.w_max;
    cc.on_congestion_event(&loss(1, 7_000), &ctx(&[]));
    assert!(cc.w_max < first * 0.9, "{} vs {first}", cc.w_max);
}

#[test]
fn algorithm_names_round_trip() {
    for a in CcAlgorithm::ALL {
        assert_eq!(CcAlgorithm::from_name(a.name()), Some(*a));
        assert_eq!(a.build(MSS).algorithm(), *a);
    }
    assert_eq!(CcAlgorithm::from_name("vegas"), None);
}

#[test]
fn reno_undoes_a_spurious_reduction_once() {
    let mut cc = NewReno::new(MSS);
    cc.on_ack(&ack(0, 5000), &ctx(&[]));
    assert_eq!(cc.cwnd(), 12_000);
    cc.on_congestion_event(&loss(1, 12_000), &ctx(&[]));
    assert_eq!(cc.cwnd(), 6_000);
    cc.on_spurious_congestion(Instant::ZERO);
    assert_eq!(cc.cwnd(), 12_000);
    assert_eq!(
        cc.ssthresh(),
        12_000,
        "in congestion avoidance: HyStart++ is over"
    );
    cc.on_congestion_event(&loss(2, 12_000), &ctx(&[]));
    cc.on_rto(Instant::ZERO, 12_000, &ctx(&[]));
    cc.on_spurious_congestion(Instant::ZERO);
    assert_eq!(cc.cwnd(), 1_000, "a timeout is not undone");
}

#[test]
fn cubic_undo_restores_the_state_saved_at_the_event() {
    let mut cc = Cubic::new(MSS);
    cc.exit_slow_start();
    // Some congestion avoidance, then a first (real) event.
    for t in 0..50 {
        cc.on_ack(&ack(t * 20, 10_000), &ctx(&[]));
    }
    cc.on_congestion_event(&loss(1_000, cc.cwnd()), &ctx(&[]));
    for t in 0..20 {
        cc.on_ack(&ack(1_020 + t * 20, 10_000), &ctx(&[]));
    }
    let before = cc.clone();
    cc.on_congestion_event(&loss(1_500, cc.cwnd()), &ctx(&[]));
    assert!(cc.cwnd() < before.cwnd());
    cc.on_spurious_congestion(Instant::from_micros(1_510_000));
    assert_eq!(cc.cwnd(), before.cwnd());
    assert_eq!(cc.ssthresh(), before.ssthresh());
    assert_eq!(cc.w_max, before.w_max);
    // The same growth from here as without the event.
    let mut reference = before.clone();
    for t in 0..10 {
        let a = ack(1_520 + t * 20, 10_000);
        cc.on_ack(&a, &ctx(&[]));
        reference.on_ack(&a, &ctx(&[]));
    }
    assert_eq!(cc.cwnd(), reference.cwnd());
}

#[test]
fn cubic_keeps_a_window_that_grew_past_the_saved_one() {
    let mut cc = Cubic::new(MSS);
    cc.on_congestion_event(&loss(0, 10_000), &ctx(&[]));
    cc.on_rto(Instant::ZERO, 7_000, &ctx(&[]));
    cc.on_spurious_congestion(Instant::ZERO);
    assert_eq!(cc.cwnd(), 1_000, "nothing saved after a timeout");
    let mut cc = Cubic::new(MSS);
    cc.on_congestion_event(&loss(0, 10_000), &ctx(&[]));
    // Grown back above the saved window before the undo comes.
    for t in 0..30 {
        cc.on_ack(&ack(t, 2_000), &ctx(&[]));
    }
    let grown = cc.cwnd();
    assert!(grown > 10_000);
    cc.on_spurious_congestion(Instant::ZERO);
    assert_eq!(cc.cwnd(), grown);
}

#[test]
fn every_controller_undoes_a_spurious_event_but_not_a_timeout() {
    let view = [SubflowCcView {
        cwnd: 10_000,
        srtt: Duration::from_millis(20),
        mss: MSS,
        is_self: true,
        loss_interval: 0,
    }];
    // BBR keeps its window on entering recovery (its model bounds it on
    // the next ACKs): bbr/tests.rs covers its undo.
    let window_based = CcAlgorithm::ALL.iter().filter(|a| **a != CcAlgorithm::Bbr);
    for &alg in window_based {
        let mut cc = alg.build(MSS);
        let before = cc.cwnd();
        cc.on_congestion_event(&loss(1, before), &ctx(&view));
        assert!(cc.cwnd() < before, "{alg}");
        cc.on_spurious_congestion(Instant::ZERO);
        assert_eq!(cc.cwnd(), before, "{alg}");
        cc.on_spurious_congestion(Instant::ZERO);
        assert_eq!(cc.cwnd(), before, "{alg}: once");
        cc.on_congestion_event(&loss(2, before), &ctx(&view));
        cc.on_rto(Instant::ZERO, before, &ctx(&view));
        cc.on_spurious_congestion(Instant::ZERO);
        assert_eq!(cc.cwnd(), u64::from(MSS), "{alg}: a timeout stays");
    }
}
