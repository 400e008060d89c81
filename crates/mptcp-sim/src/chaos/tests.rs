use super::*;
use crate::middlebox::{CoalesceMode, MiddleboxSpec};
use crate::scenario::{Outage, PathSpec};
use mptcp_proto::time::Instant;

#[test]
fn draws_are_deterministic_and_well_formed() {
    for seed in 0..3000 {
        let spec = draw(seed);
        assert_eq!(spec.command_line(), draw(seed).command_line());
        assert_eq!(spec.seed, seed);
        let n = spec.paths.len();
        assert!((1..=4).contains(&n), "seed {seed}: {n} paths");
        assert!(!spec.tcp_only || n == 1);
        assert!(spec.time_limit > Duration::from_secs(30));
        assert!(spec.time_limit <= TransferSpec::DEFAULT_TIME_LIMIT);
        for p in &spec.paths {
            let floor = if spec.ipv6 { 1280 } else { 576 };
            assert!((floor..=9000).contains(&p.link.mtu), "seed {seed}");
            assert!(p.link.queue_limit() >= 3 * u64::from(p.link.mtu));
        }
        for o in &spec.outages {
            assert!(o.path < n);
            assert!(
                o.up.is_some() || o.path != 0,
                "the first path always comes back"
            );
        }
    }
}

#[test]
fn rewriters_are_drawn_only_where_a_checksum_can_catch_them() {
    let mut rewriting = 0;
    for seed in 0..5000 {
        let spec = draw(seed);
        if !rewrites(&spec) {
            continue;
        }
        rewriting += 1;
        assert!(!spec.tcp_only && (spec.checksum.0 || spec.checksum.1));
        for (_, m) in &spec.middleboxes {
            assert!(
                !matches!(
                    m.kind,
                    MiddleboxKind::StripMptcp(_) | MiddleboxKind::Coalesce(CoalesceMode::Lro)
                ),
                "seed {seed}: {}",
                spec.command_line()
            );
        }
    }
    assert!(rewriting > 20, "{rewriting} runs with a rewriter");
}

fn one_path(path: &str, bytes: u64) -> TransferSpec {
    TransferSpec::new(vec![PathSpec::parse(path).unwrap()], bytes)
}

/// Two clean paths with `boxes` (`PATH:KIND`) on them.
fn two_paths(boxes: &[&str], bytes: u64) -> TransferSpec {
    let paths = ["10mbit/10ms", "10mbit/20ms"]
        .map(|p| PathSpec::parse(p).unwrap())
        .to_vec();
    let mut s = TransferSpec::new(paths, bytes);
    for b in boxes {
        s.middleboxes.push(MiddleboxSpec::parse_on_path(b).unwrap());
    }
    s
}

#[test]
fn the_bound_grows_with_what_slows_a_transfer() {
    let base = liveness_bound(&one_path("10mbit/10ms", 1_000_000));
    // 1 MB at 10 Mbit/s takes 0.8 s; the bound allows three times that
    // plus the allowances, which are seconds, not minutes.
    assert!((2.4..20.0).contains(&base), "{base}");
    for slower in [
        one_path("10mbit/10ms", 4_000_000),
        one_path("2mbit/10ms", 1_000_000),
        one_path("10mbit/10ms/2%", 1_000_000),
        one_path("10mbit/80ms", 1_000_000),
        one_path("10mbit/10ms,queue=4500", 1_000_000),
        one_path("10mbit/10ms,loss=ge:1%/30%/50%", 1_000_000),
        one_path("10mbit/10ms,batch=8ms", 1_000_000),
    ] {
        assert!(liveness_bound(&slower) > base, "{}", slower.command_line());
    }
    let mut outage = one_path("10mbit/10ms", 1_000_000);
    outage.outages.push(Outage {
        path: 0,
        at: Instant::from_micros(100_000),
        up: Some(Instant::from_micros(2_100_000)),
    });
    assert!(liveness_bound(&outage) >= base + 4.0);
    let mut paused = one_path("10mbit/10ms", 1_000_000);
    paused.read_pause = Some((Instant::ZERO, Duration::from_secs(3)));
    assert!(liveness_bound(&paused) >= base + 6.0);
    let mut unscaled = one_path("10mbit/10ms", 1_000_000);
    unscaled
        .middleboxes
        .push((0, "strip-wscale".parse::<MiddleboxSpec>().unwrap()));
    unscaled.paths[0] = PathSpec::parse("1gbit/50ms").unwrap();
    let mut scaled = unscaled.clone();
    scaled.middleboxes.clear();
    assert!(liveness_bound(&unscaled) > liveness_bound(&scaled));
}

#[test]
fn joins_are_expected_only_where_nothing_prevents_them() {
    let two = |boxes: &[&str]| two_paths(boxes, 1_000_000);
    let deadline = join_deadline(&two(&[])).expect("a join is expected");
    assert!(deadline > 0.0 && deadline < 1.0, "{deadline}");
    assert!(join_deadline(&two(&["1:nat", "0:split", "1:coalesce"])).is_some());
    assert_eq!(join_deadline(&two(&["1:strip-mptcp:syn"])), None);
    assert_eq!(join_deadline(&two(&["0:coalesce=lro"])), None);
    let mut tcp = two(&[]);
    tcp.tcp_only = true;
    assert_eq!(join_deadline(&tcp), None);
    let mut flapping = two(&[]);
    flapping.outages.push(Outage {
        path: 1,
        at: Instant::ZERO,
        up: None,
    });
    assert_eq!(join_deadline(&flapping), None);
}

#[test]
fn the_verdict_follows_the_checks() {
    let spec = one_path("10mbit/10ms", 100_000);
    let report = run(&spec).unwrap();
    assert_eq!(judge(&spec, &report), Verdict::Passed);

    let mut slow = report.clone();
    slow.finished_s = liveness_bound(&spec) + 1.0;
    assert!(matches!(
        judge(&spec, &slow),
        Verdict::Failed(ChaosFailure::Slow { .. })
    ));

    let mut errored = report.clone();
    errored.integrity = "receiver read 0 of 100000 bytes; client: connection aborted".into();
    let broken = judge(&spec, &errored);
    assert!(matches!(
        broken,
        Verdict::Failed(ChaosFailure::Broken { .. })
    ));
    // With a rewriter, a clean connection error is tolerated; a stall or
    // altered bytes delivered over MPTCP are not.
    let mut rewriting = spec.clone();
    rewriting.checksum = (true, true);
    rewriting.middleboxes.push((0, "rewrite".parse().unwrap()));
    assert!(matches!(judge(&rewriting, &errored), Verdict::Tolerated(_)));
    let mut stalled = errored.clone();
    stalled.error = Some("time limit reached".into());
    assert!(matches!(judge(&rewriting, &stalled), Verdict::Failed(_)));
    let mut altered = report.clone();
    altered.integrity = "data mismatch at byte 7; sha256 differs".into();
    assert!(matches!(judge(&rewriting, &altered), Verdict::Failed(_)));
    // LRO on every path may take every subflow down: a clean error is
    // tolerated there, not where a path is left clean.
    let two = |boxes: &[&str]| two_paths(boxes, 100_000);
    let everywhere = two(&["0:coalesce=lro", "1:coalesce=lro"]);
    assert!(matches!(
        judge(&everywhere, &errored),
        Verdict::Tolerated(_)
    ));
    let one_clean = two(&["0:coalesce=lro"]);
    assert!(matches!(judge(&one_clean, &errored), Verdict::Failed(_)));
    assert!(matches!(judge(&everywhere, &altered), Verdict::Failed(_)));
    // The clean path goes down for good: only the broken one stays.
    let mut left_broken = one_clean.clone();
    left_broken.outages.push(Outage {
        path: 1,
        at: Instant::ZERO,
        up: None,
    });
    assert!(matches!(
        judge(&left_broken, &errored),
        Verdict::Tolerated(_)
    ));
    // There, a stall with intact data is tolerated too (the last subflow
    // may be backing off on the dead path); not where no path died, nor
    // with altered bytes.
    assert!(matches!(
        judge(&left_broken, &stalled),
        Verdict::Tolerated(_)
    ));
    assert!(matches!(judge(&everywhere, &stalled), Verdict::Failed(_)));
    let mut stalled_altered = altered.clone();
    stalled_altered.error = Some("time limit reached".into());
    assert!(matches!(
        judge(&left_broken, &stalled_altered),
        Verdict::Failed(_)
    ));
    // A handshake that never completed: tolerated only where every SYN
    // may be lost with a chance above the tail.
    let mut unanswered = errored.clone();
    unanswered.counters.client.clear();
    assert!(matches!(judge(&spec, &unanswered), Verdict::Failed(_)));
    let bursty = one_path("10mbit/10ms/3%,loss=ge:3%/30%/80%", 100_000);
    assert!(matches!(judge(&bursty, &unanswered), Verdict::Tolerated(_)));
    assert!(matches!(judge(&bursty, &errored), Verdict::Failed(_)));
    // There a subflow that gave up (every retransmission lost while the
    // chain stayed bad) is tolerated; on a path without bursts it is not.
    let mut timed_out = report.clone();
    timed_out.integrity = "no end of stream; client: connection timed out".into();
    assert!(matches!(judge(&bursty, &timed_out), Verdict::Tolerated(_)));
    assert!(matches!(judge(&spec, &timed_out), Verdict::Failed(_)));

    let line = ChaosOutcome {
        seed: 9,
        spec: spec.clone(),
        report: Some(slow),
        verdict: judge(&spec, &{
            let mut r = report;
            r.finished_s = 1e6;
            r
        }),
    }
    .failure_line()
    .unwrap();
    assert!(line.starts_with("seed 9: slow: "), "{line}");
    assert!(line.ends_with(&format!("; reproduce with: {}", spec.command_line())));
}
