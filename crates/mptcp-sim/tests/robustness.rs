//! Configurations outside the defaults: jumbo and small MTUs, peers that
//! offer no timestamps, SACK or window scaling, receivers that pause. Each
//! test names a case that once failed; each failure prints the `mptcp sim`
//! command that reproduces it.

use mptcp_proto::subflow::TcpFeatures;
use mptcp_sim::scenario::{Direction, PathSpec, TransferReport, TransferSpec, run};
use mptcp_sim::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn spec(paths: &[&str], bytes: u64) -> TransferSpec {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    let mut s = TransferSpec::new(paths, bytes);
    s.time_limit = Duration::from_secs(300);
    s
}

fn check(r: &TransferReport) {
    assert!(
        r.is_ok(),
        "integrity {:?}, error {:?}, violations {:?}\nreproduce with: {}",
        r.integrity,
        r.error,
        r.invariant_violations,
        r.command
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

fn features(list: &str) -> TcpFeatures {
    list.parse().expect("features")
}

#[test]
fn plain_tcp_over_a_jumbo_path_completes() {
    // The interfaces once kept the default MTU of 1500 on a 9000-byte path:
    // every full segment was dropped at the interface.
    let mut s = spec(&["50mbit/15ms,mtu=9000"], 2 * MIB);
    s.tcp_only = true;
    let r = run(&s).expect("run");
    // The check includes the simulator's invariant that no host sends a
    // packet larger than its interface's MTU.
    check(&r);
    assert!(r.duration_s < 2.0, "{} s: {}", r.duration_s, r.command);
}

#[test]
fn mptcp_over_paths_of_different_mtus_never_sends_oversized_packets() {
    for (paths, dir) in [
        (
            vec!["50mbit/15ms,mtu=9000", "20mbit/30ms", "10mbit/5ms,mtu=576"],
            Direction::Up,
        ),
        (vec!["20mbit/10ms", "50mbit/5ms,mtu=9000"], Direction::Down),
        (
            vec!["10mbit/10ms,mtu=576", "50mbit/5ms,mtu=9000"],
            Direction::Both,
        ),
    ] {
        let mut s = spec(&paths, 4 * MIB);
        s.direction = dir;
        let r = run(&s).expect("run");
        check(&r);
        assert_eq!(r.subflows.len(), paths.len(), "{}", r.command);
        assert!(
            r.subflows.iter().all(|f| f.bytes > 0),
            "every path carries data: {:?}\n{}",
            r.subflows,
            r.command
        );
    }
}

#[test]
fn a_receiver_that_pauses_with_more_than_its_buffer_unread_still_sees_the_end() {
    // The connection finished at the protocol level while 2.3 MB waited
    // unread; the application was taken for done and stopped reading.
    let mut s = spec(&["100mbit/15ms"], 6 * MIB);
    s.read_pause = Some((Instant::from_micros(500_000), Duration::from_secs(2)));
    let r = run(&s).expect("run");
    check(&r);
    assert!(
        r.duration_s >= 2.5,
        "reading resumed at 2.5 s: {}",
        r.command
    );
    // Over two paths, a stream smaller than one segment.
    let mut s = spec(&["100mbit/15ms", "50mbit/20ms"], 1500);
    s.read_pause = Some((Instant::from_micros(10_000), Duration::from_secs(2)));
    let r = run(&s).expect("run");
    check(&r);
    // And the other way, with both directions paused.
    let mut s = spec(&["100mbit/15ms", "50mbit/20ms"], 3 * MIB);
    s.direction = Direction::Both;
    s.buffer = Some(256 * 1024);
    s.read_pause = Some((Instant::from_micros(100_000), Duration::from_secs(1)));
    let r = run(&s).expect("run");
    check(&r);
}

#[test]
fn every_data_segment_carries_its_mapping_without_timestamps() {
    // Without the 12 bytes of timestamps the DSS (26 bytes) did not fit
    // the 24 the MSS left for it: data left without a mapping and, between
    // two of our ends, the receiver fell back while the sender did not.
    for (client, server, csum) in [
        ("no-timestamps", "no-timestamps", (false, false)),
        ("no-timestamps", "", (false, false)),
        ("", "no-timestamps", (true, true)),
        ("no-timestamps,no-sack", "no-wscale", (false, false)),
        (
            "no-timestamps,mss=1000",
            "no-timestamps,no-sack,no-wscale",
            (true, false),
        ),
    ] {
        for dir in [Direction::Up, Direction::Down] {
            let mut s = spec(&["100mbit/10ms", "40mbit/30ms"], 4 * MIB);
            s.client_tcp = features(client);
            s.server_tcp = features(server);
            s.checksum = csum;
            s.direction = dir;
            let r = run(&s).expect("run");
            check(&r);
            let m = r.mptcp.as_ref().expect("mptcp");
            assert_eq!(m.fallback, None, "no fallback: {}", r.command);
            for side in ["client", "server"] {
                assert_eq!(counter(&r, side, "DssNoRoomTx"), 0, "{}", r.command);
                assert_eq!(counter(&r, side, "DssFallback"), 0, "{}", r.command);
                assert_eq!(counter(&r, side, "DssReset"), 0, "{}", r.command);
            }
            // Without window scaling the shared window is 64 KiB: the
            // fast path alone fills it, so only then may a path stay idle.
            let scaled = s.client_tcp.window_scaling && s.server_tcp.window_scaling;
            if scaled {
                assert!(r.subflows.iter().all(|f| f.bytes > 0), "{}", r.command);
            }
        }
    }
}

#[test]
fn an_mss_clamp_bounds_every_segment() {
    let mut s = spec(&["100mbit/10ms"], 2 * MIB);
    s.server_tcp = features("mss=536");
    let r = run(&s).expect("run");
    check(&r);
    assert!(
        s.command_line().contains("--server-tcp mss=536"),
        "{}",
        s.command_line()
    );
}
