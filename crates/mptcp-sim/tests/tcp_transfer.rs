//! Plain-TCP transfers between two simulated hosts running the real engine
//! (the subflow engine's acceptance tests). Each failure prints the
//! `mptcp sim` command that reproduces it.

use mptcp_sim::scenario::{Direction, Outage, PathSpec, TransferReport, TransferSpec, run};
use mptcp_sim::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn spec(path: &str, bytes: u64) -> TransferSpec {
    let mut s = TransferSpec::new(vec![PathSpec::parse(path).expect("path")], bytes);
    s.tcp_only = true;
    s
}

fn check(report: &TransferReport) {
    assert!(
        report.is_ok(),
        "integrity {:?}, error {:?}\nreproduce with: {}",
        report.integrity,
        report.error,
        report.command
    );
}

fn summary(name: &str, r: &TransferReport) {
    let sf = &r.subflows[0];
    eprintln!(
        "{name}: efficiency {:.4}, {:.3} s, goodput {:.2} Mbit/s, retransmits {}, RTOs {}",
        r.efficiency,
        r.duration_s,
        r.goodput_bps / 1e6,
        sf.retransmits,
        sf.rto_expirations
    );
}

#[test]
fn clean_100mbit_10ms_reaches_093_efficiency() {
    let r = run(&spec("100mbit/10ms", 64 * MIB)).expect("run");
    check(&r);
    summary("100mbit/10ms", &r);
    assert!(
        r.efficiency >= 0.93,
        "efficiency {:.4}\nreproduce with: {}",
        r.efficiency,
        r.command
    );
    assert_eq!(r.subflows[0].bytes, 64 * MIB, "every byte acknowledged");
}

#[test]
fn one_percent_loss_completes() {
    let r = run(&spec("100mbit/10ms/1%", 64 * MIB)).expect("run");
    check(&r);
    summary("100mbit/10ms/1%", &r);
    assert!(r.subflows[0].retransmits > 0);
}

#[test]
fn two_percent_loss_long_rtt_completes() {
    let r = run(&spec("20mbit/50ms/2%", 64 * MIB)).expect("run");
    check(&r);
    summary("20mbit/50ms/2%", &r);
}

#[test]
fn reordering_profile_keeps_integrity() {
    let mut s = spec("50mbit/10ms,reorder=3%@4ms,jitter=1ms", 16 * MIB);
    s.direction = Direction::Both;
    let r = run(&s).expect("run");
    check(&r);
    summary("reordering", &r);
}

#[test]
fn duplication_profile_keeps_integrity() {
    let r = run(&spec("50mbit/10ms/0.5%,dup=5%", 16 * MIB)).expect("run");
    check(&r);
    summary("duplication", &r);
}

#[test]
fn receiver_pausing_five_seconds_completes() {
    let mut s = spec("100mbit/10ms", 32 * MIB);
    s.read_pause = Some((Instant::from_micros(500_000), Duration::from_secs(5)));
    let r = run(&s).expect("run");
    check(&r);
    summary("zero window", &r);
    assert!(
        r.duration_s > 5.5,
        "the pause is part of the transfer: {}",
        r.duration_s
    );
}

#[test]
fn link_down_three_seconds_completes_after_it_returns() {
    let mut s = spec("100mbit/10ms", 64 * MIB);
    s.outages.push(Outage {
        path: 0,
        at: Instant::from_micros(2_000_000),
        up: Some(Instant::from_micros(5_000_000)),
    });
    let r = run(&s).expect("run");
    check(&r);
    summary("3 s outage", &r);
    assert!(r.subflows[0].rto_expirations >= 2);
    assert!(r.duration_s > 8.0, "{}", r.duration_s);
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let a = run(&spec("20mbit/10ms/1%", 2 * MIB)).expect("run");
    let b = run(&spec("20mbit/10ms/1%", 2 * MIB)).expect("run");
    let mut other = spec("20mbit/10ms/1%", 2 * MIB);
    other.seed = 2;
    let c = run(&other).expect("run");
    check(&a);
    check(&c);
    assert_eq!(a.duration_s, b.duration_s);
    assert_eq!(a.sim_events, b.sim_events);
    assert_eq!(a.subflows[0].retransmits, b.subflows[0].retransmits);
    assert_ne!(a.sim_events, c.sim_events);
}
