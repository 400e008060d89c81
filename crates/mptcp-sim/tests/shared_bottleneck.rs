//! Shared bottleneck detection (RFC 8382) under the coupled controllers:
//! subflows over disjoint lossy paths are told apart and each takes what a
//! plain TCP would there; subflows through one bottleneck are grouped and
//! together take no more than a TCP beside them.

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_sim::scenario::{PathSpec, Scenario, ShareSpec, TransferSpec, run_share};
use mptcp_sim::{Duration, Instant};

/// Seeds of the disjoint-path runs (a 1% loss rate makes one run's
/// throughput vary by several percent).
const SEEDS: std::ops::Range<u64> = 1..4;

/// Virtual time each disjoint-path transfer runs.
const RUN: Duration = Duration::from_secs(60);

/// A transfer over `paths` that runs for [`RUN`]: bytes delivered, and the
/// client's subflow groups sampled once a second after the first 10 s.
fn run(paths: &[&str], seed: u64, tcp: bool, cc: CcAlgorithm, sbd: bool) -> (u64, Vec<bool>) {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    let mut spec = TransferSpec::new(paths, 1 << 40);
    spec.seed = seed;
    spec.tcp_only = tcp;
    spec.cc = Some(cc);
    spec.sbd = sbd;
    spec.verify = false;
    let mut scenario = Scenario::build(&spec).expect("scenario");
    let mut looks = Vec::new();
    let mut at = Instant::ZERO + Duration::from_secs(10);
    while at <= Instant::ZERO + RUN {
        let done = scenario.step_until(at).expect("run");
        assert!(!done, "the transfer outlives the run");
        let ep = &scenario.sim.node(scenario.client).endpoint;
        looks.extend(ep.connections().filter_map(|h| {
            let conn = ep.connection(h)?;
            let ids: Vec<_> = conn.subflows().map(|s| s.id()).collect();
            // Every subflow decided on, and none coupled with another.
            Some(
                ids.len() >= 2
                    && ids.iter().all(|&a| {
                        conn.sbd_group(a).is_some()
                            && ids.iter().all(|&b| a == b || !conn.sbd_couples(a, b))
                    }),
            )
        }));
        at += Duration::from_secs(1);
    }
    (scenario.bytes_read(), looks)
}

/// Share of the looks at which the subflows were apart.
fn apart(looks: &[bool]) -> f64 {
    looks.iter().filter(|a| **a).count() as f64 / looks.len().max(1) as f64
}

/// MPTCP with `cc` and detection over two disjoint paths against two
/// independent plain NewReno transfers on the same paths.
fn disjoint(a: &str, b: &str, cc: CcAlgorithm) {
    let (mut sum, mut coupled, mut detected, mut groups) = (0, 0, 0, Vec::new());
    for seed in SEEDS {
        sum += run(&[a], seed, true, CcAlgorithm::Reno, false).0;
        sum += run(&[b], seed + 100, true, CcAlgorithm::Reno, false).0;
        coupled += run(&[a, b], seed, false, cc, false).0;
        let (bytes, g) = run(&[a, b], seed, false, cc, true);
        detected += bytes;
        groups.extend(g);
    }
    let sum = sum as f64;
    let ratio = detected as f64 / sum;
    eprintln!(
        "{a} + {b}, {cc}: coupled {:.2} of the sum of two TCPs, with SBD {ratio:.2}, apart in {:.2} of the samples",
        coupled as f64 / sum,
        apart(&groups)
    );
    assert!(apart(&groups) >= 0.9, "{cc}: apart at {groups:?}");
    assert!(ratio >= 0.9, "{cc}: {ratio:.2} of two independent TCPs");
}

#[test]
fn disjoint_lossy_paths_are_told_apart() {
    disjoint("40mbit/15ms/1%", "40mbit/15ms/1%", CcAlgorithm::Lia);
}

#[test]
fn wifi_and_lte_are_told_apart() {
    disjoint(
        "50mbit/10ms/0.3%,jitter=3ms",
        "20mbit/40ms/0.1%,jitter=8ms",
        CcAlgorithm::Olia,
    );
}

#[test]
fn one_bottleneck_is_one_group() {
    // The topology of tests/fairness.rs: two subflows and a NewReno flow
    // through one 50 Mbit/s link, counted from 10 s to 40 s.
    for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia] {
        let mut spec = ShareSpec::new(cc);
        spec.sbd = true;
        let s = run_share(&spec).expect("run");
        let ratio = s.ratio();
        eprintln!(
            "{cc}: MPTCP {:.2} Mbit/s, TCP {:.2} Mbit/s, ratio {ratio:.2}, decided and coupled at {:.2} of the looks",
            s.mptcp_bps * 1e-6,
            s.tcp_bps * 1e-6,
            s.grouped
        );
        assert_eq!(s.subflows, 2, "{cc}: both subflows joined");
        assert!(
            s.grouped >= 0.9,
            "{cc}: decided and coupled at {:.2} of the looks",
            s.grouped
        );
        assert!(
            ratio <= 1.25,
            "{cc}: MPTCP takes {ratio:.2} of the TCP's share"
        );
    }
}
