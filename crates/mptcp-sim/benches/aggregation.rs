//! Aggregation efficiency of MPTCP in the simulator, per scheduler, over a
//! fixed set of path pairs: goodput over the sum of the link rates, and
//! over the sum of what two independent plain-TCP transfers reach on the
//! same two paths. The runs are deterministic (one seed), so this prints a
//! table rather than timing anything; the last column is the wall-clock
//! speed of the simulation (simulated stream bytes per second).
//!
//! `cargo bench -p mptcp-sim --bench aggregation` (add `-- --bytes 16MiB`
//! for a quicker pass).

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_sim::parse::parse_size;
use mptcp_sim::scenario::{PathSpec, TransferReport, TransferSpec, run};
use std::time::Instant as WallClock;

const PAIRS: &[(&str, &str, &str)] = &[
    ("equal", "50mbit/10ms", "50mbit/10ms"),
    ("rate-skewed 5:1", "100mbit/10ms", "20mbit/10ms"),
    ("delay-skewed 10/100ms", "50mbit/5ms", "50mbit/50ms"),
    ("lossy 0.5%", "50mbit/10ms/0.5%", "50mbit/20ms/0.5%"),
    (
        "kernel reference 100+50, 10/40ms",
        "100mbit/5ms",
        "50mbit/20ms",
    ),
];

fn spec(paths: &[&str], bytes: u64) -> TransferSpec {
    TransferSpec::new(
        paths
            .iter()
            .map(|p| PathSpec::parse(p).expect("path"))
            .collect(),
        bytes,
    )
}

fn timed(s: &TransferSpec) -> (TransferReport, f64) {
    let wall = WallClock::now();
    let r = run(s).expect("run");
    (r, wall.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = args
        .iter()
        .position(|a| a == "--bytes")
        .and_then(|i| args.get(i + 1))
        .map(|s| parse_size(s).expect("size"))
        .unwrap_or(64 << 20);
    println!("MPTCP aggregation, {bytes} bytes per run, seed 1 (two TCPs: CUBIC)");
    println!(
        "{:<34} {:<13} {:>10} {:>8} {:>10} {:>12}",
        "paths", "sched/cc", "Mbit/s", "/sum", "/two TCPs", "sim MB/s"
    );
    for (name, a, b) in PAIRS {
        // Two independent plain-TCP transfers, one per path.
        let tcp: f64 = [a, b]
            .iter()
            .map(|p| {
                let mut s = spec(&[p], bytes);
                s.tcp_only = true;
                let (r, _) = timed(&s);
                assert!(r.is_ok(), "{}", r.command);
                r.goodput_bps
            })
            .sum();
        // Every scheduler with the default coupled LIA, then the Linux
        // kernel's own configuration: lowest-RTT-first over uncoupled CUBIC.
        let runs = SchedulerKind::ALL
            .iter()
            .map(|s| (*s, CcAlgorithm::Lia))
            .chain([(SchedulerKind::MinRtt, CcAlgorithm::Cubic)]);
        for (sched, cc) in runs {
            let mut s = spec(&[a, b], bytes);
            s.scheduler = sched;
            s.cc = Some(cc);
            let (r, wall) = timed(&s);
            let ok = if r.is_ok() { "" } else { "  FAILED" };
            println!(
                "{:<34} {:<13} {:>10.2} {:>8.3} {:>10.3} {:>12.1}{ok}",
                name,
                format!("{}/{cc}", sched.name()),
                r.goodput_bps / 1e6,
                r.efficiency,
                r.goodput_bps / tcp,
                bytes as f64 / wall / 1e6
            );
        }
        println!("{:<34} {:<13} {:>10.2}", name, "2 x TCP", tcp / 1e6);
    }
}
