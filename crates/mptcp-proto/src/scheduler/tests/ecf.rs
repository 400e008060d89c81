//! Earliest Completion First, with the paper's tests worked out by hand.
//!
//! Notation as in `ecf.rs`: x_f the fastest subflow, x_s the fastest other
//! one with room, k the unsent bytes, n = 1 + k/CWND_f, δ = max(σ_f, σ_s),
//! β = 1/4. Wait iff
//!   (1) n·RTT_f < (1 + waiting·β)·(RTT_s + δ)  and
//!   (2) max(k/CWND_s, 1)·RTT_s ≥ 2·RTT_f + δ.

use super::{CWND, backup, pick};
use crate::scheduler::{Ecf, PathView, Scheduler, SchedulerKind};
use crate::subflow::SubflowId;
use crate::time::Duration;

/// A regular subflow with explicit RTT, RTT variation (ms) and room, and a
/// 10 000-byte congestion window.
fn p(id: u32, srtt_ms: u64, rttvar_ms: u64, space: u64) -> PathView {
    PathView {
        id: SubflowId(id),
        srtt: Duration::from_millis(srtt_ms),
        rttvar: Duration::from_millis(rttvar_ms),
        cwnd: CWND,
        in_flight: CWND - space.min(CWND),
        unacked: CWND - space.min(CWND),
        send_space: space,
        mss: 1000,
        backup: false,
        in_recovery: false,
    }
}

/// Fast path full (RTT 10 ms, σ 2 ms), slow path with room (RTT 100 ms,
/// σ 5 ms): δ = 5 ms, RTT_s + δ = 105 ms, 2·RTT_f + δ = 25 ms.
fn fast_full_slow_free() -> [PathView; 2] {
    [p(1, 10, 2, 0), p(2, 100, 5, CWND)]
}

#[test]
fn uses_the_fastest_path_when_it_has_room() {
    let mut ecf = Ecf::new();
    assert_eq!(ecf.kind(), SchedulerKind::Ecf);
    let paths = [p(1, 100, 5, CWND), p(2, 10, 2, 1)];
    assert_eq!(pick(&mut ecf, &paths, 1_000_000), [1]);
    assert!(!ecf.is_waiting());
}

#[test]
fn waits_for_the_fast_path_when_it_finishes_first() {
    // k = 20 000: n = 1 + 2 = 3, n·RTT_f = 30 ms < 105 ms          (1) holds
    // max(2, 1)·100 ms = 200 ms ≥ 25 ms                            (2) holds
    let mut ecf = Ecf::new();
    assert!(pick(&mut ecf, &fast_full_slow_free(), 20_000).is_empty());
    assert!(ecf.is_waiting());
}

#[test]
fn uses_the_slow_path_for_a_large_backlog_and_stops_waiting() {
    let mut ecf = Ecf::new();
    assert!(pick(&mut ecf, &fast_full_slow_free(), 20_000).is_empty());
    // k = 1 000 000: n = 101, n·RTT_f = 1010 ms ≥ 1.25·105 = 131.25 ms:
    // (1) fails even with the hysteresis; use x_s and clear `waiting`.
    assert_eq!(pick(&mut ecf, &fast_full_slow_free(), 1_000_000), [1]);
    assert!(!ecf.is_waiting());
}

#[test]
fn keeps_the_tail_of_a_transfer_off_the_slow_path() {
    // k = 1000: n = 1.1, 11 ms < 105 ms                            (1) holds
    // max(0.1, 1)·100 ms = 100 ms ≥ 25 ms                          (2) holds
    // (Read literally, 0.1·100 = 10 ms < 25 ms would send the last bytes
    // over the 100 ms path, arriving 75 ms after the fast path could.)
    let mut ecf = Ecf::new();
    assert!(pick(&mut ecf, &fast_full_slow_free(), 1000).is_empty());
    assert!(ecf.is_waiting());
}

#[test]
fn uses_a_slightly_slower_path_when_it_keeps_up() {
    // x_f: 10 ms σ 1, x_s: 15 ms σ 1, δ = 1 ms, k = 2000:
    // n = 1.2, 12 ms < 16 ms                                       (1) holds
    // max(0.2, 1)·15 ms = 15 ms < 2·10 + 1 = 21 ms                 (2) fails
    let paths = [p(1, 10, 1, 0), p(2, 15, 1, CWND)];
    let mut ecf = Ecf::new();
    assert_eq!(pick(&mut ecf, &paths, 2000), [1]);
    assert!(!ecf.is_waiting());
    // The same answer leaves an earlier decision to wait in place.
    assert!(pick(&mut ecf, &fast_full_slow_free(), 20_000).is_empty());
    assert_eq!(pick(&mut ecf, &paths, 2000), [1]);
    assert!(ecf.is_waiting());
}

/// x_f 10 ms, x_s 40 ms, no variance (δ = 0): (2) holds for every k here
/// (max(k/CWND_s, 1)·40 ≥ 40 > 20), so (1) alone decides:
/// (1 + k/10 000)·10 < 40 without hysteresis, < 50 with it.
fn hysteresis_paths() -> [PathView; 2] {
    [p(1, 10, 0, 0), p(2, 40, 0, CWND)]
}

#[test]
fn hysteresis_keeps_waiting_until_the_margin_is_exceeded() {
    let paths = hysteresis_paths();
    // Not waiting, k = 35 000: n·RTT_f = 45 ms ≥ 40 ms: use x_s.
    let mut fresh = Ecf::new();
    assert_eq!(pick(&mut fresh, &paths, 35_000), [1]);
    assert!(!fresh.is_waiting());

    let mut ecf = Ecf::new();
    // k = 20 000: 30 ms < 40 ms: wait.
    assert!(pick(&mut ecf, &paths, 20_000).is_empty());
    // Waiting, k = 35 000: 45 ms < 1.25·40 = 50 ms: keep waiting.
    assert!(pick(&mut ecf, &paths, 35_000).is_empty());
    assert!(ecf.is_waiting());
    // k = 45 000: 55 ms ≥ 50 ms: use x_s, stop waiting.
    assert_eq!(pick(&mut ecf, &paths, 45_000), [1]);
    assert!(!ecf.is_waiting());
    // k = 35 000 again: no margin any more, 45 ms ≥ 40 ms: use x_s.
    assert_eq!(pick(&mut ecf, &paths, 35_000), [1]);
}

#[test]
fn the_first_test_is_strict() {
    let paths = hysteresis_paths();
    // Not waiting, k = 30 000: n·RTT_f = 40 ms, not < 40 ms.
    assert_eq!(pick(&mut Ecf::new(), &paths, 30_000), [1]);
    // Waiting, k = 40 000: 50 ms, not < 50 ms.
    let mut ecf = Ecf::new();
    assert!(pick(&mut ecf, &paths, 20_000).is_empty());
    assert_eq!(pick(&mut ecf, &paths, 40_000), [1]);
}

#[test]
fn the_second_test_includes_equality() {
    // x_f 10 ms, x_s 20 ms, δ = 0, k = 5000:
    // n = 1.5, 15 ms < 20 ms                                       (1) holds
    // max(0.5, 1)·20 ms = 20 ms ≥ 2·10 ms = 20 ms                  (2) holds
    let paths = [p(1, 10, 0, 0), p(2, 20, 0, CWND)];
    assert!(pick(&mut Ecf::new(), &paths, 5000).is_empty());
}

#[test]
fn the_fastest_path_counts_even_when_full() {
    // x_f = sf1 (full); x_s is the fastest *other* path with room, sf3.
    let paths = [p(1, 10, 2, 0), p(2, 100, 5, CWND), p(3, 50, 5, CWND)];
    // k = 1 000 000: n = 101, 1010 ms ≥ 55 ms: use x_s.
    assert_eq!(pick(&mut Ecf::new(), &paths, 1_000_000), [2]);
    // k = 20 000: 30 ms < 55 ms, and 2·50 = 100 ms ≥ 25 ms: wait.
    assert!(pick(&mut Ecf::new(), &paths, 20_000).is_empty());
}

#[test]
fn equal_paths_never_wait_for_each_other() {
    // Same RTT r: (2) needs k/CWND ≥ 2 + δ/r, then (1) would need
    // (3 + δ/r)·r < 1.25·(r + δ), impossible. Ties pick index 0 as x_f.
    let paths = [p(1, 20, 10, 0), p(2, 20, 10, CWND)];
    for k in [0, 1000, 5000, 20_000, 35_000, 1_000_000] {
        assert_eq!(pick(&mut Ecf::new(), &paths, k), [1], "k = {k}");
    }
}

#[test]
fn waits_when_no_other_path_has_room() {
    let mut ecf = Ecf::new();
    let paths = [p(1, 10, 2, 0), p(2, 100, 5, 0)];
    assert!(pick(&mut ecf, &paths, 1_000_000).is_empty());
    assert!(!ecf.is_waiting(), "no decision was taken");
    assert!(pick(&mut ecf, &[], 1).is_empty());
}

#[test]
fn never_waits_for_a_zero_window() {
    // CWND_f = 0: n is infinite, (1) fails, use x_s.
    let fast = PathView {
        cwnd: 0,
        ..p(1, 10, 2, 0)
    };
    let paths = [fast, p(2, 100, 5, CWND)];
    assert_eq!(pick(&mut Ecf::new(), &paths, 1000), [1]);
}

#[test]
fn backups_stay_idle_while_a_regular_path_exists() {
    // The only regular path is full; x_s must come from the same class,
    // so there is none: wait, whatever k.
    let paths = [p(1, 10, 2, 0), backup(p(2, 100, 5, CWND))];
    let mut ecf = Ecf::new();
    assert!(pick(&mut ecf, &paths, 1_000_000).is_empty());
    assert!(!ecf.is_waiting());
}

#[test]
fn decides_among_backups_when_no_regular_path_exists() {
    let [fast, slow] = fast_full_slow_free();
    let paths = [backup(fast), backup(slow)];
    assert!(pick(&mut Ecf::new(), &paths, 20_000).is_empty());
    assert_eq!(pick(&mut Ecf::new(), &paths, 1_000_000), [1]);
}

#[test]
fn a_fast_path_with_nothing_in_flight_is_not_waited_for() {
    // As in `waits_for_the_fast_path_when_it_finishes_first`, but x_f has
    // nothing in flight (its peer's window holds it): no ACK will come.
    let mut ecf = Ecf::new();
    let mut paths = fast_full_slow_free();
    assert!(pick(&mut ecf, &paths, 20_000).is_empty());
    assert!(ecf.is_waiting());
    paths[0].in_flight = 0;
    assert_eq!(pick(&mut ecf, &paths, 20_000), [1]);
    assert!(!ecf.is_waiting());
}
