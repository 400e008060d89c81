//! Tests of shared bottleneck detection (RFC 8382): the statistics and the
//! grouping against cases computed by hand from the RFC's definitions.

use super::sbd::weight;
use super::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// N = M = F = `len`: every interval weighs the same.
fn flat(len: usize) -> SbdConfig {
    SbdConfig {
        n: len,
        m: len,
        f: len,
        warmup: 0,
        ..SbdConfig::default()
    }
}

fn interval(flow: &mut FlowStats, samples_ms: &[u64]) -> Option<SbdStats> {
    for &s in samples_ms {
        flow.on_sample(ms(s));
    }
    flow.end_interval(0, 100)
}

#[test]
fn weights_are_flat_then_declining() {
    // RFC 8382 §4.1 with M = 30, F = 20: M - F + 1 = 11 for the 20 most
    // recent, then M - F = 10 down to 1.
    assert!((1..=20).all(|i| weight(i, 30, 20) == 11));
    assert_eq!(weight(21, 30, 20), 10);
    assert_eq!(weight(30, 30, 20), 1);
    // F = M: a plain moving average.
    assert!((1..=30).all(|i| weight(i, 30, 30) == 1));
}

#[test]
fn skew_var_and_freq_by_hand() {
    let mut flow = FlowStats::new(flat(4));
    // Interval 1: mean 15 ms, nothing to compare with yet.
    assert_eq!(interval(&mut flow, &[10, 20]), None);
    // Interval 2: mean_delay = 15 ms, previous mean 15 ms. One sample
    // below, three above: skew_base = 1 - 3 = -2; var_base = 5 + 3 * 15
    // = 50 ms over 4 samples.
    let s = interval(&mut flow, &[10, 30, 30, 30]).expect("stats");
    assert_eq!(s.skew_est, -0.5);
    assert_eq!(s.var_est, 12_500.0);
    assert!(s.bottleneck, "skew -0.5 < c_s");
    // Its mean, 25 ms, lies above 15 + 0.7 * 12.5: the first significant
    // side, not a crossing.
    assert_eq!(s.freq_est, 0.0);
    // Interval 3: mean_delay = (15 + 25) / 2 = 20 ms, previous mean 25 ms.
    // Four samples below: skew_base = 4, var_base = 4 * 15 = 60 ms.
    let s = interval(&mut flow, &[10, 10, 10, 10]).expect("stats");
    assert_eq!(s.skew_est, (-2.0 + 4.0) / 8.0);
    // 0.25 is above c_s but below c_h, and the flow was a bottleneck.
    assert!(s.bottleneck);
    assert_eq!(s.var_est, (50_000.0 + 60_000.0) / 8.0);
    // 10 ms < 20 - 0.7 * 13.75: below, after above: one crossing in N = 4.
    assert_eq!(s.freq_est, 0.25);
}

#[test]
fn hysteresis_needs_a_previous_bottleneck() {
    let mut flow = FlowStats::new(flat(4));
    interval(&mut flow, &[10, 20]);
    // Interval 2: three below 15 ms, one above: skew_est = 0.5.
    let s = interval(&mut flow, &[10, 10, 10, 30]).expect("stats");
    assert_eq!(s.skew_est, 0.5);
    assert!(!s.bottleneck);
    // §4.2: its var_base is dropped, so var_est has nothing.
    assert_eq!(s.var_est, 0.0);
    // Interval 3 (mean_delay 15 ms): two above, two below, skew_base 0;
    // skew_est = (2 + 0) / 8 = 0.25, between c_s and c_h: no bottleneck
    // without one before.
    let s = interval(&mut flow, &[10, 10, 30, 30]).expect("stats");
    assert_eq!(s.skew_est, 0.25);
    assert!(!s.bottleneck);
}

#[test]
fn weighted_skew_follows_the_declining_weights() {
    // M = 3, F = 1: weights 3, 2, 1 from the most recent.
    let config = SbdConfig {
        m: 3,
        f: 1,
        ..flat(3)
    };
    let mut flow = FlowStats::new(config);
    interval(&mut flow, &[20]);
    // mean_delay 20: skew_base +2 (2 samples).
    interval(&mut flow, &[10, 10]);
    // mean_delay 15: skew_base -1 (1 sample).
    interval(&mut flow, &[30]);
    // mean_delay (20 + 10 + 30) / 3 = 20: skew_base -2 + 1 = -1 (3).
    let s = interval(&mut flow, &[30, 30, 10]).expect("stats");
    // Weighted skew_base over weighted sample counts, newest first.
    let expected = (-3.0 - 2.0 + 2.0) / (3.0 * 3.0 + 2.0 * 1.0 + 2.0);
    assert!((s.skew_est - expected).abs() < 1e-12, "{}", s.skew_est);
}

#[test]
fn loss_is_summed_over_n_intervals() {
    let mut flow = FlowStats::new(flat(2));
    flow.on_sample(ms(10));
    flow.end_interval(50, 100);
    for _ in 0..2 {
        flow.on_sample(ms(10));
        flow.on_sample(ms(12));
    }
    flow.end_interval(1, 100);
    flow.on_sample(ms(10));
    // The first interval (50 of 100) left the window of N = 2.
    let s = flow.end_interval(3, 100).expect("stats");
    assert_eq!(s.pkt_loss, 4.0 / 200.0);
    // More lost than sent is bad input, counted as all lost.
    let s = flow.end_interval(500, 100).expect("stats");
    assert_eq!(s.pkt_loss, 103.0 / 200.0);
    assert!(s.bottleneck, "loss above p_l marks a bottleneck");
}

#[test]
fn a_steady_delay_is_no_bottleneck_whatever_its_skew() {
    let mut flow = FlowStats::new(flat(4));
    flow.on_sample(Duration::from_micros(30_000));
    flow.end_interval(0, 100);
    // Mostly just above the mean, 30 ms: skew_est = -0.5, but a deviation
    // of 0.1 ms is under 2% of the mean delay.
    let mut s = None;
    for _ in 0..4 {
        for us in [29_990, 30_010, 30_010, 30_010] {
            flow.on_sample(Duration::from_micros(us));
        }
        s = flow.end_interval(0, 100);
    }
    let s = s.expect("stats");
    assert!(s.skew_est < 0.0, "{}", s.skew_est);
    assert!(!s.bottleneck);
}

fn stats(freq: f64, var: f64, skew: f64, loss: f64) -> SbdStats {
    SbdStats {
        skew_est: skew,
        var_est: var,
        freq_est: freq,
        pkt_loss: loss,
        bottleneck: true,
    }
}

#[test]
fn grouping_divides_step_by_step() {
    let c = SbdConfig::default();
    let flows = [
        stats(0.20, 5000.0, -0.10, 0.001), // 0: with 1
        stats(0.22, 4800.0, -0.05, 0.002), // 1
        stats(0.50, 5000.0, -0.10, 0.001), // 2: freq differs by 0.28
        stats(0.20, 1000.0, -0.10, 0.001), // 3: var differs by 3800 > 500
        stats(0.21, 4900.0, 0.12, 0.001),  // 4: skew differs by 0.17
        SbdStats {
            bottleneck: false,
            ..stats(0.20, 5000.0, -0.10, 0.001) // 5: crosses no bottleneck
        },
    ];
    let g = sbd_group(&flows, &c);
    assert_eq!(g[0], g[1]);
    let distinct = [g[0], g[2], g[3], g[4], g[5]];
    for (i, a) in distinct.iter().enumerate() {
        assert!(distinct[i + 1..].iter().all(|b| a != b), "{g:?}");
    }
}

#[test]
fn grouping_compares_sorted_neighbours() {
    let c = SbdConfig::default();
    // freq 0.2, 0.28, 0.36: each neighbour within p_f = 0.1, the ends not.
    let flows = [
        stats(0.20, 5000.0, -0.1, 0.0),
        stats(0.36, 5000.0, -0.1, 0.0),
        stats(0.28, 5000.0, -0.1, 0.0),
    ];
    let g = sbd_group(&flows, &c);
    assert!(g.iter().all(|&x| x == g[0]), "{g:?}");
    // var: the threshold is p_mad times the higher of the two: 1000 vs
    // 905 differ by 95 < 100; 1000 vs 895 by 105 >= 100.
    let g = sbd_group(
        &[stats(0.2, 1000.0, 0.0, 0.0), stats(0.2, 905.0, 0.0, 0.0)],
        &c,
    );
    assert_eq!(g[0], g[1]);
    let g = sbd_group(
        &[stats(0.2, 1000.0, 0.0, 0.0), stats(0.2, 895.0, 0.0, 0.0)],
        &c,
    );
    assert_ne!(g[0], g[1]);
}

#[test]
fn only_reliable_loss_splits() {
    let c = SbdConfig::default();
    // Above p_l = 0.1: 0.3 and 0.2 differ by more than p_d * 0.3.
    let g = sbd_group(
        &[stats(0.2, 1000.0, 0.0, 0.3), stats(0.2, 1000.0, 0.0, 0.2)],
        &c,
    );
    assert_ne!(g[0], g[1]);
    // 0.3 and 0.28 differ by less.
    let g = sbd_group(
        &[stats(0.2, 1000.0, 0.0, 0.3), stats(0.2, 1000.0, 0.0, 0.28)],
        &c,
    );
    assert_eq!(g[0], g[1]);
    // Below p_l loss is too noisy to split on.
    let g = sbd_group(
        &[stats(0.2, 1000.0, 0.0, 0.05), stats(0.2, 1000.0, 0.0, 0.01)],
        &c,
    );
    assert_eq!(g[0], g[1]);
}

fn input(samples: u64, rtt_ms: u64) -> SbdInput {
    SbdInput {
        rtt_samples: samples,
        latest_rtt: Some(ms(rtt_ms)),
        bytes_sent: 1000 * samples,
        bytes_retrans: 0,
    }
}

/// Drive flows 1 and 2 with the delays `delays(flow, sample)` (ms), ten
/// samples per 350 ms interval, for `intervals` intervals from sample `*k`.
fn drive(
    sbd: &mut SharedBottleneck,
    k: &mut u64,
    intervals: u64,
    delays: impl Fn(u32, u64) -> u64,
) {
    for _ in 0..intervals * 10 {
        let now = Instant::ZERO + Duration::from_millis(35 * *k);
        for flow in [1, 2] {
            sbd.observe(now, flow, input(*k + 1, delays(flow, *k)));
        }
        *k += 1;
    }
}

/// A queue that fills and drains over 8 intervals, high most of the time.
fn queue(k: u64) -> u64 {
    let phase = (k / 10) % 8;
    20 + [30, 30, 30, 30, 30, 20, 10, 0][phase as usize] + k % 3
}

#[test]
fn detector_groups_alike_flows_after_the_warmup() {
    let config = SbdConfig {
        warmup: 10,
        ..SbdConfig::default()
    };
    let mut sbd = SharedBottleneck::new(config);
    let mut k = 0;
    drive(&mut sbd, &mut k, 5, |_, k| queue(k));
    assert_eq!(sbd.group(1), None, "undecided during the warmup");
    assert!(sbd.couples(1, 2));
    drive(&mut sbd, &mut k, 40, |_, k| queue(k));
    assert!(sbd.intervals() >= config.warmup);
    assert!(sbd.group(1).is_some());
    assert_eq!(sbd.group(1), sbd.group(2));
    assert!(sbd.couples(1, 2));
    // An unknown flow is undecided: coupled with everything.
    assert!(sbd.couples(1, 7));
    sbd.forget(2);
    assert_eq!(sbd.group(2), None);
}

#[test]
fn detector_separates_a_steady_path_from_a_queue() {
    let mut sbd = SharedBottleneck::new(SbdConfig::default());
    let mut k = 0;
    drive(
        &mut sbd,
        &mut k,
        40,
        |flow, k| {
            if flow == 1 { queue(k) } else { 30 }
        },
    );
    assert!(sbd.group(1).is_some() && sbd.group(2).is_some());
    assert!(!sbd.couples(1, 2));
    assert!(!sbd.couples(2, 1));
}

#[test]
fn decoupling_waits_for_stable_decisions_and_recoupling_does_not() {
    let config = SbdConfig {
        warmup: 0,
        stable: 20,
        quick: 20,
        ..SbdConfig::default()
    };
    let mut sbd = SharedBottleneck::new(config);
    let mut k = 0;
    drive(
        &mut sbd,
        &mut k,
        12,
        |flow, k| if flow == 1 { queue(k) } else { 30 },
    );
    assert!(sbd.group(1).is_some() && sbd.group(1) != sbd.group(2));
    assert!(sbd.couples(1, 2), "apart for fewer than 20 decisions");
    drive(
        &mut sbd,
        &mut k,
        12,
        |flow, k| if flow == 1 { queue(k) } else { 30 },
    );
    assert!(!sbd.couples(1, 2), "apart for 20 decisions in a row");
    // The steady flow starts queueing alike: grouped, and coupled at once.
    while sbd.group(1) != sbd.group(2) && k < 2400 {
        drive(&mut sbd, &mut k, 1, |_, k| queue(k));
    }
    assert_eq!(sbd.group(1), sbd.group(2));
    assert!(sbd.couples(1, 2));
}

/// Drive flows 1 and 2 one interval at a time for `intervals` intervals
/// and check after each that they are coupled exactly while fewer than
/// `needed` decisions in a row put them in different groups. Returns the
/// longest such run.
fn check_decoupling(
    sbd: &mut SharedBottleneck,
    intervals: u64,
    needed: usize,
    delays: impl Fn(u32, u64) -> u64,
) -> usize {
    let (mut k, mut run, mut longest) = (0, 0, 0);
    for _ in 0..intervals {
        let before = sbd.intervals();
        drive(sbd, &mut k, 1, &delays);
        if sbd.intervals() == before {
            continue;
        }
        let (a, b) = (sbd.group(1), sbd.group(2));
        run = if a.is_some() && b.is_some() && a != b {
            run + 1
        } else {
            0
        };
        longest = longest.max(run);
        assert_eq!(
            sbd.couples(1, 2),
            run < needed,
            "after {run} decisions apart (interval {})",
            sbd.intervals()
        );
    }
    longest
}

#[test]
fn a_flow_crossing_no_bottleneck_is_decoupled_after_quick_decisions() {
    let config = SbdConfig {
        warmup: 0,
        stable: 20,
        quick: 4,
        ..SbdConfig::default()
    };
    let mut sbd = SharedBottleneck::new(config);
    // Flow 2's delay never varies: it crosses no bottleneck.
    let longest = check_decoupling(
        &mut sbd,
        40,
        4,
        |flow, k| {
            if flow == 1 { queue(k) } else { 30 }
        },
    );
    assert!(longest >= 10, "apart for {longest} decisions only");
}

#[test]
fn two_bottlenecked_flows_kept_apart_wait_for_the_stable_rule() {
    // Decisions once the statistics have settled: in the first intervals
    // no flow is found crossing a bottleneck yet.
    let config = SbdConfig {
        warmup: 10,
        stable: 20,
        quick: 4,
        ..SbdConfig::default()
    };
    let mut sbd = SharedBottleneck::new(config);
    // Both queue most of the time, flow 2 three times as deep: split by
    // var_est, and only the long rule may decouple them.
    // Noise within each interval keeps var_est above p_q of the mean.
    let longest = check_decoupling(&mut sbd, 60, 20, |flow, k| {
        let noisy = queue(k) + 3 * (k % 3);
        if flow == 1 { noisy } else { 3 * noisy - 40 }
    });
    assert!(longest >= 25, "apart for {longest} decisions only");
}

#[test]
fn repeated_input_is_not_a_new_sample() {
    let mut sbd = SharedBottleneck::new(SbdConfig {
        warmup: 0,
        ..SbdConfig::default()
    });
    // One sample only, reported many times: never enough to compare.
    for k in 0..100 {
        let now = Instant::ZERO + Duration::from_millis(100 * k);
        sbd.observe(now, 1, input(1, 10 + k % 7));
    }
    assert_eq!(sbd.group(1), None);
}

#[test]
fn odd_configurations_do_not_panic() {
    for config in [
        SbdConfig {
            interval: Duration::from_micros(0),
            n: 0,
            m: 0,
            f: 0,
            warmup: 0,
            ..SbdConfig::default()
        },
        SbdConfig {
            n: 2,
            m: 5,
            f: 9,
            ..SbdConfig::default()
        },
    ] {
        let mut sbd = SharedBottleneck::new(config);
        let mut k = 0;
        drive(&mut sbd, &mut k, 3, |_, k| queue(k));
        // A jump far ahead closes at most a history's worth of intervals.
        sbd.observe(
            Instant::ZERO + Duration::from_secs(1_000_000),
            1,
            input(10_000, 1),
        );
    }
}
