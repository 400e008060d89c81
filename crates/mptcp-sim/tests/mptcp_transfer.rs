//! MPTCP transfers between two simulated hosts running the real engine at
//! both ends (the connection engine's acceptance tests). Each failure
//! prints the `mptcp sim` command that reproduces it.

#[path = "support/transfer.rs"]
mod transfer;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_sim::StripWhich;
use mptcp_sim::scenario::{Outage, PathSpec, Scenario, TransferReport, TransferSpec, run};
use mptcp_sim::{Duration, Instant};
use transfer::check;

const MIB: u64 = 1 << 20;

fn spec(paths: &[&str], bytes: u64) -> TransferSpec {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    TransferSpec::new(paths, bytes)
}

fn summary(name: &str, r: &TransferReport) {
    let per_path: Vec<String> = r
        .subflows
        .iter()
        .map(|s| format!("path {}: {} B, {} retx", s.path, s.bytes, s.retransmits))
        .collect();
    eprintln!(
        "{name}: efficiency {:.4}, {:.3} s, {:.2} Mbit/s; {}",
        r.efficiency,
        r.duration_s,
        r.goodput_bps / 1e6,
        per_path.join("; ")
    );
}

fn counter(r: &TransferReport, side: &str, name: &str) -> u64 {
    let map = if side == "client" {
        &r.counters.client
    } else {
        &r.counters.server
    };
    map.get(name).copied().unwrap_or(0)
}

const PAIR: [&str; 2] = ["100mbit/10ms", "40mbit/30ms"];

fn assert_both_paths_used(r: &TransferReport) {
    assert_eq!(r.subflows.len(), 2, "{:?}", r.subflows);
    for s in &r.subflows {
        assert!(
            s.bytes > 1 << 20,
            "path {} carried only {} bytes",
            s.path,
            s.bytes
        );
    }
    assert_eq!(counter(r, "server", "MPJoinAckRx"), 1);
    assert_eq!(counter(r, "client", "MPJoinSynAckRx"), 1);
}

#[test]
fn two_paths_v1_reach_090_of_the_sum() {
    let r = run(&spec(&PAIR, 64 * MIB)).expect("run");
    check(&r);
    summary("v1 100+40", &r);
    let mp = r.mptcp.as_ref().expect("MPTCP in use");
    assert_eq!((mp.version, mp.fallback.as_deref()), (1, None));
    assert_both_paths_used(&r);
    assert!(
        r.efficiency >= 0.90,
        "efficiency {:.4}\nreproduce with: {}",
        r.efficiency,
        r.command
    );
}

#[test]
fn two_paths_v0_reach_090_of_the_sum() {
    let mut s = spec(&PAIR, 64 * MIB);
    s.version = MptcpVersion::V0;
    let r = run(&s).expect("run");
    check(&r);
    summary("v0 100+40", &r);
    assert_eq!(r.mptcp.as_ref().map(|m| m.version), Some(0));
    assert_both_paths_used(&r);
    assert!(
        r.efficiency >= 0.90,
        "efficiency {:.4}\nreproduce with: {}",
        r.efficiency,
        r.command
    );
}

#[test]
fn one_percent_loss_on_each_path_keeps_integrity() {
    for version in [MptcpVersion::V1, MptcpVersion::V0] {
        let mut s = spec(&["100mbit/10ms/1%", "40mbit/30ms/1%"], 64 * MIB);
        s.version = version;
        let r = run(&s).expect("run");
        check(&r);
        summary("1% loss", &r);
        assert_both_paths_used(&r);
    }
}

#[test]
fn path_down_for_good_completes_on_the_other() {
    let mut s = spec(&PAIR, 64 * MIB);
    s.outages.push(Outage {
        path: 0,
        at: Instant::from_micros(2_000_000),
        up: None,
    });
    let r = run(&s).expect("run");
    check(&r);
    summary("path 0 down at 2 s", &r);
    assert!(counter(&r, "client", "SubflowStale") >= 1);
    // 64 MiB at 40 Mbit/s alone would take 13.4 s. Both paths carry about
    // 32 MB in the first 2 s, path 1 the other 35 MB in 7.3 s: about 9.3 s
    // plus the time to find path 0 dead.
    assert!(
        r.duration_s < 11.0,
        "{} s\nreproduce with: {}",
        r.duration_s,
        r.command
    );
}

#[test]
fn flapping_path_keeps_integrity() {
    let mut s = spec(&PAIR, 32 * MIB);
    for k in 0..30u64 {
        s.outages.push(Outage {
            path: 0,
            at: Instant::from_micros(500_000 + k * 1_000_000),
            up: Some(Instant::from_micros(1_000_000 + k * 1_000_000)),
        });
    }
    // Path 0 carries data again in each second after it comes back.
    let mut sc = Scenario::build(&s).expect("scenario");
    let sent_on_path0 = |sc: &Scenario| {
        let ep = &sc.sim.node(sc.client).endpoint;
        ep.connections()
            .next()
            .and_then(|h| ep.connection(h))
            .and_then(|c| c.subflows().next().map(|sf| sf.stats().bytes_sent))
            .unwrap_or(0)
    };
    let mut windows = Vec::new();
    for k in 0..2u64 {
        let back = Instant::from_micros(1_000_000 + k * 1_000_000);
        sc.step_until(back).expect("run");
        let before = sent_on_path0(&sc);
        sc.step_until(back + Duration::from_millis(500))
            .expect("run");
        windows.push(sent_on_path0(&sc) - before);
    }
    while !sc
        .step_until(sc.sim.now() + Duration::from_secs(1))
        .expect("run")
    {}
    let r = sc.finish(None);
    check(&r);
    summary("flapping every 500 ms", &r);
    assert!(
        windows.iter().all(|&b| b > 250_000),
        "bytes path 0 sent in its first two up-windows after an outage: {windows:?}\n{}",
        r.command
    );
}

#[test]
fn options_stripped_on_the_syn_fall_back_to_tcp() {
    let mut s = spec(&PAIR, 16 * MIB);
    s.strip.push((0, StripWhich::Syn));
    let r = run(&s).expect("run");
    check(&r);
    let mp = r.mptcp.as_ref().expect("MPTCP was offered");
    assert_eq!(mp.fallback.as_deref(), Some("no MP_CAPABLE in SYN-ACK"));
    assert_eq!(counter(&r, "client", "MPCapableFallbackSYNACK"), 1);
    // The server never saw MPTCP: a plain TCP connection.
    assert_eq!(counter(&r, "server", "MPCapableSYNRX"), 0);
    assert_eq!(r.subflows.len(), 1, "no joins after fallback");
}

#[test]
fn options_stripped_on_a_joined_subflows_data_reset_it() {
    let mut s = spec(&PAIR, 32 * MIB);
    s.strip.push((1, StripWhich::Data));
    let r = run(&s).expect("run");
    check(&r);
    summary("data options stripped on path 1", &r);
    // RFC 8684 §3.7: the receiver resets the subflow with MP_TCPRST
    // "middlebox interference" (6); the data goes over path 0.
    assert!(counter(&r, "server", "DssReset") >= 1);
    assert!(counter(&r, "server", "MPRstTx") >= 1);
    assert!(counter(&r, "client", "MPRstRx") >= 1);
    assert_eq!(r.mptcp.as_ref().and_then(|m| m.fallback.clone()), None);
}

#[test]
fn checksums_are_negotiated_as_the_rfc_says() {
    // RFC 8684 §3.1: checksums are used if either side asks for them.
    for (client, server, used) in [
        (false, false, false),
        (true, false, true),
        (false, true, true),
        (true, true, true),
    ] {
        let mut s = spec(&["50mbit/10ms/0.2%", "20mbit/20ms"], 8 * MIB);
        s.checksum = (client, server);
        let r = run(&s).expect("run");
        check(&r);
        assert_eq!(
            r.mptcp.as_ref().map(|m| m.checksum),
            Some(used),
            "client {client} server {server}\nreproduce with: {}",
            r.command
        );
        assert_eq!(counter(&r, "server", "DataCsumErr"), 0);
        assert_both_paths_used(&r);
    }
}

#[test]
fn bidirectional_with_small_random_io_keeps_integrity() {
    let mut s = spec(&["30mbit/5ms/0.5%", "10mbit/25ms/0.5%"], 4 * MIB);
    s.direction = mptcp_sim::scenario::Direction::Both;
    s.write_size = mptcp_sim::app::SizeRange { min: 1, max: 3000 };
    s.read_size = mptcp_sim::app::SizeRange { min: 1, max: 5000 };
    let r = run(&s).expect("run");
    check(&r);
    summary("both directions", &r);
}

#[test]
fn receiver_pause_keeps_integrity() {
    let mut s = spec(&PAIR, 16 * MIB);
    s.read_pause = Some((Instant::from_micros(300_000), Duration::from_secs(3)));
    let r = run(&s).expect("run");
    check(&r);
    assert!(r.duration_s > 3.3);
    // A stream smaller than the buffer: everything waits unread when the
    // connection finishes (once the application was taken for done then).
    for bytes in [1500, 100_000] {
        let mut s = spec(&PAIR, bytes);
        s.read_pause = Some((Instant::from_micros(1_000), Duration::from_secs(2)));
        let r = run(&s).expect("run");
        check(&r);
        assert!(r.duration_s >= 2.0, "{}", r.command);
    }
}

/// Three subflows into one small buffer that the reader drains slowly and
/// stops draining: each subflow advertises the connection's free space
/// relative to the DATA_ACK (RFC 8684 §3.3.4), so the sender never puts
/// more in the receiver's buffer than it holds, even on a subflow that
/// last spoke when the buffer was empty.
#[test]
fn a_shared_window_keeps_the_sender_inside_the_buffer() {
    const BUFFER: u64 = 256 * 1024;
    let mut s = spec(&["50mbit/5ms", "50mbit/20ms", "20mbit/40ms"], 16 * MIB);
    s.buffer = Some(BUFFER as usize);
    s.read_size = mptcp_sim::app::SizeRange {
        min: 1000,
        max: 40_000,
    };
    s.read_pause = Some((Instant::from_micros(500_000), Duration::from_secs(1)));
    let mut sc = Scenario::build(&s).expect("scenario");
    let mut most = 0;
    for ms in 1.. {
        let done = sc
            .step_until(Instant::from_micros(ms * 1000))
            .expect("simulation");
        let ep = &sc.sim.node(sc.server).endpoint;
        if let Some(c) = ep.connections().next().and_then(|h| ep.connection(h)) {
            let recv = &c.data().recv;
            most = most.max(recv.readable() + recv.out_of_order());
        }
        if done {
            break;
        }
    }
    let r = sc.finish(None);
    check(&r);
    assert!(
        most <= BUFFER,
        "the receiver held {most} bytes in a {BUFFER}-byte buffer\n{}",
        r.command
    );
    assert_eq!(counter(&r, "server", "RcvPruned"), 0, "{}", r.command);
}

#[test]
fn skewed_pair_beats_the_best_path_alone() {
    // 100 Mbit/s at 10 ms RTT and 50 Mbit/s at 200 ms RTT: head-of-line
    // blocking behind the slow path is what drags schedulers down here.
    let r = run(&spec(&["100mbit/5ms", "50mbit/100ms"], 64 * MIB)).expect("run");
    check(&r);
    let mut alone = spec(&["100mbit/5ms"], 64 * MIB);
    alone.tcp_only = true;
    let best = run(&alone).expect("run");
    check(&best);
    summary("skewed 100/5ms + 50/100ms", &r);
    eprintln!(
        "best path alone {:.2} Mbit/s; MPTCP {:.2} Mbit/s = {:.3} of the sum of rates",
        best.goodput_bps / 1e6,
        r.goodput_bps / 1e6,
        r.efficiency
    );
    // Well above the best path (a scheduler ignoring path 1 gets 1.0x), and
    // path 1 really carries its share.
    assert!(
        r.goodput_bps >= 1.1 * best.goodput_bps,
        "MPTCP {:.2} < 1.1 x best path alone {:.2}\nreproduce with: {}",
        r.goodput_bps / 1e6,
        best.goodput_bps / 1e6,
        r.command
    );
    let total: u64 = r.subflows.iter().map(|f| f.bytes).sum();
    assert!(
        r.subflows.get(1).is_some_and(|f| f.bytes * 10 >= total),
        "path 1 carried under 10%: {:?}",
        r.subflows
    );
}
