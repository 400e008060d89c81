//! Seeded chaos for MPTCP: each seed draws 1-4 paths (loss, reordering,
//! duplication, jitter, small queues, outages and flaps), a transfer size
//! (tiny and odd ones included), a direction, I/O sizes, the MPTCP version,
//! checksums, the scheduler and the congestion control. Every run must
//! deliver the stream intact within a bounded virtual time. A failure lists
//! each failing seed with the `mptcp sim` command that reproduces it.

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::random::Random;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_sim::app::SizeRange;
use mptcp_sim::scenario::{Direction, Outage, PathSpec, TransferSpec, run};
use mptcp_sim::{Duration, Instant};

fn path_profile(r: &mut Random) -> String {
    let rate = [2, 10, 30, 100][r.below(4) as usize];
    let delay = 1 + r.below(60);
    let mut path = format!("{rate}mbit/{delay}ms");
    if r.below(2) == 0 {
        path.push_str(&format!("/{}.{}%", r.below(2), r.below(10)));
    }
    if r.below(3) == 0 {
        path.push_str(&format!(",dup={}%", 1 + r.below(3)));
    }
    if r.below(3) == 0 {
        path.push_str(&format!(
            ",reorder={}%@{}ms",
            1 + r.below(4),
            1 + r.below(8)
        ));
    }
    if r.below(4) == 0 {
        path.push_str(&format!(",jitter={}us", 100 + r.below(2000)));
    }
    if r.below(5) == 0 {
        path.push_str(&format!(",queue={}", 30_000 + r.below(100_000)));
    }
    path
}

/// Build the scenario for one chaos seed.
fn chaos_spec(seed: u64) -> TransferSpec {
    let mut r = Random::from_seed(seed ^ 0x3a17_c4a0);
    let n = 1 + r.below(4) as usize;
    let paths = (0..n)
        .map(|_| PathSpec::parse(&path_profile(&mut r)).expect("profile parses"))
        .collect();
    let bytes = match r.below(6) {
        0 => [0, 1, 1423, 1424, 1425, 4000][r.below(6) as usize],
        1 => r.below(20_000),
        _ => r.below(500_000),
    };
    let mut spec = TransferSpec::new(paths, bytes);
    spec.seed = seed;
    spec.direction = [Direction::Up, Direction::Down, Direction::Both][r.below(3) as usize];
    let io = |r: &mut Random| {
        let min = 1 + r.below(3000) as usize;
        SizeRange {
            min,
            max: min + r.below(20_000) as usize,
        }
    };
    spec.write_size = io(&mut r);
    spec.read_size = io(&mut r);
    spec.version = if r.below(4) == 0 {
        MptcpVersion::V0
    } else {
        MptcpVersion::V1
    };
    spec.checksum = (r.below(4) == 0, r.below(4) == 0);
    spec.scheduler = SchedulerKind::ALL[r.below(SchedulerKind::ALL.len() as u64) as usize];
    let coupled = [
        CcAlgorithm::Lia,
        CcAlgorithm::Olia,
        CcAlgorithm::Balia,
        CcAlgorithm::Cubic,
        CcAlgorithm::Reno,
    ];
    spec.cc = Some(coupled[r.below(coupled.len() as u64) as usize]);
    if n > 1 && r.below(3) == 0 {
        // A path goes away for a while, or flaps, but one always survives.
        let path = r.below(n as u64) as usize;
        let at = 100_000 + r.below(1_000_000);
        let flaps = 1 + r.below(4);
        for k in 0..flaps {
            let down = Instant::from_micros(at + k * 600_000);
            let up = Some(down + Duration::from_millis(100 + r.below(400)));
            spec.outages.push(Outage { path, at: down, up });
        }
    }
    spec.time_limit = Duration::from_secs(300);
    spec
}

fn run_seeds(range: std::ops::Range<u64>) {
    let mut failures = Vec::new();
    let (mut bytes, mut joins, mut reinjected, mut runs) = (0u64, 0u64, 0u64, 0u64);
    for seed in range {
        let spec = chaos_spec(seed);
        let wall = std::time::Instant::now();
        let report = run(&spec).expect("run");
        if std::env::var_os("CHAOS_TRACE").is_some() {
            eprintln!(
                "seed {seed}: {:.2}s wall, {:.1}s virtual, {} events, ok {}",
                wall.elapsed().as_secs_f64(),
                report.duration_s,
                report.sim_events,
                report.is_ok()
            );
        }
        runs += 1;
        let ways = if spec.direction == Direction::Both {
            2
        } else {
            1
        };
        bytes += report.bytes * ways;
        joins += report
            .counters
            .server
            .get("MPJoinAckRx")
            .copied()
            .unwrap_or(0);
        reinjected += report
            .counters
            .client
            .get("MPTCPRetrans")
            .copied()
            .unwrap_or(0)
            + report
                .counters
                .server
                .get("MPTCPRetrans")
                .copied()
                .unwrap_or(0);
        if !report.is_ok() {
            failures.push(format!(
                "seed {seed}: {} ({:?})\n  reproduce with: {}",
                report.integrity, report.error, report.command
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} chaos runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{runs} runs: {bytes} bytes, {joins} joins, {reinjected} reinjections");
    // The suite must really exercise multipath: joins and reinjections.
    assert!(bytes > runs * 50_000, "{bytes} bytes in {runs} runs");
    assert!(joins > runs / 2, "{joins} joins in {runs} runs");
    assert!(reinjected > 0, "no reinjection in {runs} runs");
}

/// `CHAOS_SEED=n cargo test --test mptcp_chaos one_seed -- --nocapture`
/// runs a single seed (for reproducing one failure with its trace).
#[test]
fn one_seed() {
    if let Some(seed) = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let spec = chaos_spec(seed);
        eprintln!("{}", spec.command_line());
        let report = run(&spec).expect("run");
        eprintln!("{report:#?}");
        assert!(report.is_ok());
    }
}

#[test]
fn chaos_seeds_0_to_80() {
    run_seeds(0..80);
}

#[test]
fn chaos_seeds_80_to_160() {
    run_seeds(80..160);
}

#[test]
fn chaos_seeds_160_to_240() {
    run_seeds(160..240);
}

#[test]
fn chaos_seeds_240_to_320() {
    run_seeds(240..320);
}
