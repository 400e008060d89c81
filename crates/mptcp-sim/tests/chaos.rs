//! Seeded chaos over the whole scenario space (see `mptcp_sim::chaos` for
//! what is drawn and checked): a fixed range of draws, each checked for
//! integrity, liveness and multipath use, with the `mptcp sim` command that
//! reproduces every failure. The same checks run as `mptcp chaos`.

use mptcp_sim::chaos::{ChaosOutcome, Verdict, run_one};
use mptcp_sim::scenario::{Direction, TransferReport};

/// Draws per test; four tests cover seeds 0 to 4 × `DRAWS` (they run in
/// parallel).
const DRAWS: u64 = 500;

fn outcomes(range: std::ops::Range<u64>) -> Vec<ChaosOutcome> {
    range
        .map(|seed| run_one(seed).expect("chaos scenarios build"))
        .collect()
}

/// Checks a range: any failure fails the test, listing every failing
/// seed with the command that reproduces it.
fn check_range(outcomes: &[ChaosOutcome]) {
    let failures: Vec<String> = outcomes.iter().filter_map(|o| o.failure_line()).collect();
    assert!(
        failures.is_empty(),
        "{} chaos runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The report of a run that did not panic.
fn report(o: &ChaosOutcome) -> &TransferReport {
    o.report.as_ref().expect("a report")
}

fn counter(o: &ChaosOutcome, side: &str, name: &str) -> u64 {
    let c = if side == "client" {
        &report(o).counters.client
    } else {
        &report(o).counters.server
    };
    c.get(name).copied().unwrap_or(0)
}

/// The draws must cover the space: both transports, every direction, joins
/// in most multipath runs, every middlebox kind at work, outages, losses
/// recovered.
fn check_coverage(outcomes: &[ChaosOutcome]) {
    let passed: Vec<&ChaosOutcome> = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Passed)
        .collect();
    let count = |f: &dyn Fn(&ChaosOutcome) -> bool| passed.iter().filter(|o| f(o)).count();
    let n = outcomes.len();
    assert!(
        passed.len() * 100 >= n * 95,
        "{} of {n} passed",
        passed.len()
    );
    assert!(count(&|o| o.spec.tcp_only) >= n / 20);
    for d in [Direction::Up, Direction::Down, Direction::Both] {
        assert!(count(&|o| o.spec.direction == d) >= n / 5, "{d:?}");
    }
    let multipath = count(&|o| !o.spec.tcp_only && o.spec.paths.len() > 1);
    let joined = count(&|o| counter(o, "client", "MPJoinSynAckRx") > 0);
    assert!(
        joined * 3 >= multipath * 2,
        "{joined} of {multipath} joined"
    );
    // The wire check of every mapped byte ran in (nearly) every run that
    // carried data over MPTCP.
    let mptcp_data = count(&|o| !o.spec.tcp_only && o.spec.bytes > 0);
    let wire_checked = count(&|o| report(o).wire_data_checked > 0);
    assert!(
        wire_checked * 10 >= mptcp_data * 9,
        "{wire_checked} of {mptcp_data} runs had their mapped bytes checked"
    );
    let reinjected =
        count(&|o| counter(o, "client", "MPTCPRetrans") + counter(o, "server", "MPTCPRetrans") > 0);
    assert!(reinjected >= n / 20, "{reinjected} runs reinjected");
    assert!(count(&|o| !o.spec.outages.is_empty()) >= n / 10);
    // Shared-bottleneck detection on, bursty loss and batched delivery.
    assert!(count(&|o| o.spec.sbd) >= n / 5);
    let on_a_path =
        |f: fn(&mptcp_sim::LinkConfig) -> bool| count(&|o| o.spec.paths.iter().any(|p| f(&p.link)));
    assert!(on_a_path(|l| l.burst_loss.is_some()) >= n / 20);
    assert!(on_a_path(|l| l.batch > mptcp_proto::time::Duration::ZERO) >= n / 20);
    assert!(count(&|o| report(o).sim_drops > 0) >= n / 4);
    let mb = |f: fn(&mptcp_sim::MiddleboxStats) -> u64| count(&|o| f(&report(o).middleboxes) > 0);
    assert!(mb(|m| m.syn_options_stripped) >= n / 50);
    assert!(mb(|m| m.split_segments) >= n / 50);
    assert!(mb(|m| m.coalesced_segments) >= n / 50);
    assert!(mb(|m| m.nat_translated) >= n / 50);
    assert!(mb(|m| m.stripped_options) >= n / 200);
    assert!(mb(|m| m.rewritten_segments) >= n / 200);
    let csum_caught =
        count(&|o| counter(o, "client", "DataCsumErr") + counter(o, "server", "DataCsumErr") > 0);
    assert!(csum_caught >= 1, "a rewriter was caught by a DSS checksum");
}

fn chaos_quarter(k: u64) {
    let outcomes = outcomes(k * DRAWS..(k + 1) * DRAWS);
    check_range(&outcomes);
    check_coverage(&outcomes);
}

#[test]
fn chaos_seeds_0_to_500() {
    chaos_quarter(0);
}

#[test]
fn chaos_seeds_500_to_1000() {
    chaos_quarter(1);
}

#[test]
fn chaos_seeds_1000_to_1500() {
    chaos_quarter(2);
}

#[test]
fn chaos_seeds_1500_to_2000() {
    chaos_quarter(3);
}

/// Seeds from wider sweeps (`mptcp chaos --runs 60000 --seed 100000`)
/// that once failed, each for the reason given.
#[test]
fn seeds_that_once_failed_pass() {
    let seeds = [
        // No SACK, a queue of three packets: the ACK after a timeout's
        // retransmission timed never-resent segments sent before the hole,
        // 10 s samples, and the RTO grew to a minute (Karn's rule).
        140_696, 152_558,
        // Data waiting on a window too small for a chunk (the receiver had
        // offered more before), nothing in flight, the window update lost
        // in an outage: no probe was armed, as it was only for a window of
        // exactly zero, and both ends waited for ever.
        113_209, 131_661, 147_415,
        // BLEST waited for ever for its fastest subflow, which had nothing
        // in flight (its path died while the peer's window was shut).
        204_241,
        // A rewriter on path 0 (its subflow reset after the checksum
        // failed), path 1 gone for good: no path can carry the stream, and
        // the last subflow backs off on the dead path past the bound. A
        // stall there is now tolerated (see `stalled_intact`).
        210_547,
        // LRO on path 0, path 1 gone for good: the server's last subflow
        // timed out after the bound (tolerated as 210547).
        113_039,
        // Gilbert-Elliott loss of 80% in the bad state, the chain stepping
        // per packet: every retransmission lost while the sender backed
        // off; the client gave up (119643) or outlived the server's
        // TIME-WAIT and was reset (206799). Tolerated: `retries_may_fail`.
        119_643, 206_799,
        // A payload rewriter on the fastest path: each join there was
        // reset by the checksum once data flowed, and the path manager
        // opened it again, 92 times, while the data waited on it.
        311_332,
    ];
    let outcomes: Vec<ChaosOutcome> = seeds
        .iter()
        .map(|&s| run_one(s).expect("chaos scenarios build"))
        .collect();
    check_range(&outcomes);
}

#[test]
fn a_seed_reproduces_its_run_bit_for_bit() {
    for seed in [3, 17, 101, 202] {
        let (a, b) = (run_one(seed).unwrap(), run_one(seed).unwrap());
        assert_eq!(a.spec.command_line(), b.spec.command_line());
        let summary = |o: &ChaosOutcome| {
            (
                report(o).sim_events,
                report(o).finished_s,
                report(o).received_sha256.clone(),
                report(o).counters.client.clone(),
                report(o).counters.server.clone(),
                report(o).middleboxes.clone(),
            )
        };
        assert_eq!(summary(&a), summary(&b), "seed {seed}");
    }
}
