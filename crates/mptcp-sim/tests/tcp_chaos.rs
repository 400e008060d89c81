//! Seeded chaos for plain TCP: each seed draws a path profile (loss,
//! reordering, duplication, jitter, queue), a transfer size (tiny and odd
//! ones included), a direction and I/O sizes. Every run must deliver the
//! stream intact within a bounded virtual time. A failure lists each failing
//! seed with the `mptcp sim` command that reproduces it.

use mptcp_proto::random::Random;
use mptcp_sim::Duration;
use mptcp_sim::app::SizeRange;
use mptcp_sim::scenario::{Direction, PathSpec, TransferSpec, run};

/// Build the scenario for one chaos seed.
pub fn chaos_spec(seed: u64) -> TransferSpec {
    let mut r = Random::from_seed(seed ^ 0xc4a0_5eed);
    let rate = [1, 5, 10, 50, 100][r.below(5) as usize];
    let delay = 1 + r.below(40);
    let mut path = format!("{rate}mbit/{delay}ms");
    if r.below(3) > 0 {
        path.push_str(&format!("/{}.{}%", r.below(3), r.below(10)));
    }
    if r.below(2) == 0 {
        path.push_str(&format!(",dup={}%", 1 + r.below(3)));
    }
    if r.below(2) == 0 {
        path.push_str(&format!(
            ",reorder={}%@{}ms",
            1 + r.below(5),
            1 + r.below(8)
        ));
    }
    if r.below(3) == 0 {
        path.push_str(&format!(",jitter={}us", 100 + r.below(3000)));
    }
    if r.below(4) == 0 {
        path.push_str(&format!(",queue={}", 20_000 + r.below(100_000)));
    }
    let bytes = match r.below(6) {
        0 => [0, 1, 1447, 1448, 1449, 2896][r.below(6) as usize],
        1 => r.below(10_000),
        _ => r.below(400_000),
    };
    let mut spec = TransferSpec::new(vec![PathSpec::parse(&path).expect("profile parses")], bytes);
    spec.tcp_only = true;
    spec.seed = seed;
    spec.direction = [Direction::Up, Direction::Down, Direction::Both][r.below(3) as usize];
    let io = |r: &mut Random| {
        let min = 1 + r.below(4000) as usize;
        SizeRange {
            min,
            max: min + r.below(30_000) as usize,
        }
    };
    spec.write_size = io(&mut r);
    spec.read_size = io(&mut r);
    spec.time_limit = Duration::from_secs(300);
    spec
}

fn run_seeds(range: std::ops::Range<u64>) {
    let mut failures = Vec::new();
    let (mut bytes, mut retransmits, mut drops, mut runs) = (0u64, 0u64, 0u64, 0u64);
    for seed in range {
        let spec = chaos_spec(seed);
        let report = run(&spec).expect("run");
        runs += 1;
        let ways = if spec.direction == Direction::Both {
            2
        } else {
            1
        };
        bytes += report.bytes * ways;
        retransmits += report.subflows.iter().map(|s| s.retransmits).sum::<u64>();
        drops += report.sim_drops;
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
    eprintln!(
        "{runs} runs: {bytes} bytes delivered, {drops} packets dropped, {retransmits} retransmissions"
    );
    // The profiles are hostile: the suite must actually have lost packets
    // and recovered them, and moved real amounts of data.
    assert!(bytes > runs * 50_000, "{bytes} bytes in {runs} runs");
    assert!(
        drops > runs && retransmits > runs,
        "{drops} drops, {retransmits} retransmissions"
    );
}

#[test]
fn chaos_seeds_0_to_55() {
    run_seeds(0..55);
}

#[test]
fn chaos_seeds_55_to_110() {
    run_seeds(55..110);
}

#[test]
fn chaos_seeds_110_to_165() {
    run_seeds(110..165);
}

#[test]
fn chaos_seeds_165_to_220() {
    run_seeds(165..220);
}
