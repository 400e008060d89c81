//! Blocking Estimation, with the paper's test worked out by hand.
//!
//! Notation as in `blest.rs`: x_f the fastest subflow, x_s the fastest
//! other one with room, rtts = RTT_s/RTT_f,
//! X = (CWND_f + MSS_f·(rtts − 1)/2)·rtts bytes. Wait iff
//!   λ·X > |SW| − (inflight_s + MSS_s).
//!
//! Unless a test says otherwise: x_f has RTT 10 ms, a 10 000-byte window
//! and 1000-byte segments, and is full; x_s has RTT 50 ms. Then rtts = 5,
//! X = (10 000 + 1000·4/2)·5 = 60 000 bytes. The worked examples start
//! at λ = 1 ([`unit`]), not at the default 0.8.

use super::{CWND, backup};
use crate::scheduler::{Blest, PathView, SchedContext, Scheduler, SchedulerKind};
use crate::subflow::SubflowId;
use crate::time::{Duration, Instant};

/// A regular subflow with RTT `srtt_ms`, `space` bytes of room and
/// `unacked` bytes held, a 10 000-byte window and 1000-byte segments.
fn p(id: u32, srtt_ms: u64, space: u64, unacked: u64) -> PathView {
    PathView {
        id: SubflowId(id),
        srtt: Duration::from_millis(srtt_ms),
        rttvar: Duration::from_millis(srtt_ms / 4),
        cwnd: CWND,
        in_flight: CWND - space.min(CWND),
        unacked,
        send_space: space,
        mss: 1000,
        backup: false,
        in_recovery: false,
    }
}

/// x_f full (10 ms), x_s free (50 ms) holding `unacked` bytes.
fn fast_full_slow_holding(unacked: u64) -> [PathView; 2] {
    [p(1, 10, 0, CWND), p(2, 50, CWND, unacked)]
}

/// A context at `now_ms` with a send window of `send_window` bytes, a
/// large backlog and plenty of room (x_f is not blocked by the window).
fn at(now_ms: u64, send_window: u64) -> SchedContext {
    SchedContext {
        now: Instant::from_micros(now_ms * 1000),
        unsent: 1 << 30,
        window_room: send_window,
        send_window,
    }
}

/// A scheduler at λ = 1.
fn unit() -> Blest {
    Blest::with_lambda(1000)
}

/// One `select` call with an empty `out`, returning `out`.
fn pick(s: &mut Blest, paths: &[PathView], ctx: &SchedContext) -> Vec<usize> {
    let mut out = Vec::new();
    s.select(paths, ctx, &mut out);
    out
}

#[test]
fn uses_the_fastest_path_when_it_has_room() {
    let mut blest = Blest::new();
    assert_eq!(blest.kind(), SchedulerKind::Blest);
    assert_eq!(blest.lambda(), Blest::LAMBDA_INITIAL);
    // Even with no window to spare for the slow path.
    let paths = [p(1, 50, CWND, 0), p(2, 10, 1, 0)];
    assert_eq!(pick(&mut blest, &paths, &at(0, 0)), [1]);
}

#[test]
fn uses_the_slow_path_when_the_window_has_room_for_both() {
    // |SW| = 100 000: 60 000 ≤ 100 000 − (0 + 1000) = 99 000.
    let mut blest = unit();
    assert_eq!(
        pick(&mut blest, &fast_full_slow_holding(0), &at(0, 100_000)),
        [1]
    );
}

#[test]
fn waits_when_the_slow_path_would_block_the_fast_one() {
    // inflight_s = 40 000: 60 000 > 100 000 − 41 000 = 59 000.
    let mut blest = unit();
    assert!(pick(&mut blest, &fast_full_slow_holding(40_000), &at(0, 100_000)).is_empty());
}

#[test]
fn the_test_is_strict() {
    // inflight_s = 39 000: 60 000 is not > 100 000 − 40 000 = 60 000.
    let mut blest = unit();
    assert_eq!(
        pick(&mut blest, &fast_full_slow_holding(39_000), &at(0, 100_000)),
        [1]
    );
}

#[test]
fn a_large_send_window_never_blocks() {
    // The default 8 MiB buffer: the slow path may hold megabytes.
    let mut blest = unit();
    let paths = fast_full_slow_holding(4 << 20);
    assert_eq!(pick(&mut blest, &paths, &at(0, 8 << 20)), [1]);
}

#[test]
fn the_estimate_grows_with_the_rtt_ratio() {
    // x_s at 100 ms: rtts = 10, X = (10 000 + 1000·9/2)·10 = 145 000.
    let slow = |unacked| [p(1, 10, 0, CWND), p(2, 100, CWND, unacked)];
    let mut blest = unit();
    // 145 000 ≤ 200 000 − 55 000 = 145 000: send.
    assert_eq!(pick(&mut blest, &slow(54_000), &at(0, 200_000)), [1]);
    // 145 000 > 200 000 − 56 000 = 144 000: wait.
    assert!(pick(&mut blest, &slow(55_000), &at(0, 200_000)).is_empty());
}

#[test]
fn equal_rtts_count_one_window() {
    // rtts = 1: X = CWND_f = 10 000.
    let paths = |unacked| [p(1, 20, 0, CWND), p(2, 20, CWND, unacked)];
    let mut blest = unit();
    // 10 000 ≤ 20 000 − 10 000: send; 10 000 > 20 000 − 10 001: wait.
    assert_eq!(pick(&mut blest, &paths(9000), &at(0, 20_000)), [1]);
    assert!(pick(&mut blest, &paths(9001), &at(0, 20_000)).is_empty());
}

#[test]
fn a_slow_path_holding_the_whole_window_waits() {
    // inflight_s + MSS_s beyond |SW|: nothing left for x_f.
    let mut blest = unit();
    let paths = fast_full_slow_holding(u64::MAX);
    assert!(pick(&mut blest, &paths, &at(0, 100_000)).is_empty());
    assert!(pick(&mut blest, &fast_full_slow_holding(0), &at(0, 0)).is_empty());
}

#[test]
fn a_fast_path_that_sends_nothing_never_blocks() {
    // CWND_f = 0 and equal RTTs: X = 0, not > 0, even with no window.
    let fast = PathView {
        cwnd: 0,
        ..p(1, 20, 0, 0)
    };
    let paths = [fast, p(2, 20, CWND, 0)];
    assert_eq!(pick(&mut unit(), &paths, &at(0, 0)), [1]);
}

#[test]
fn the_fastest_path_counts_even_when_full() {
    // x_f = sf1 (full); x_s is the fastest *other* path with room, sf3.
    let paths = [p(1, 10, 0, CWND), p(2, 100, CWND, 0), p(3, 50, CWND, 0)];
    // Judged against sf3 (X = 60 000): 60 000 ≤ 100 000 − 1000.
    assert_eq!(pick(&mut unit(), &paths, &at(0, 100_000)), [2]);
    // Blocked: wait, without falling through to sf2.
    let paths = [
        p(1, 10, 0, CWND),
        p(2, 100, CWND, 0),
        p(3, 50, CWND, 40_000),
    ];
    assert!(pick(&mut unit(), &paths, &at(0, 100_000)).is_empty());
}

#[test]
fn waits_when_no_other_path_has_room() {
    let mut blest = unit();
    let paths = [p(1, 10, 0, CWND), p(2, 50, 0, 0)];
    assert!(pick(&mut blest, &paths, &at(0, 8 << 20)).is_empty());
    assert!(pick(&mut blest, &[], &at(0, 8 << 20)).is_empty());
}

#[test]
fn backups_stay_idle_while_a_regular_path_exists() {
    let paths = [p(1, 10, 0, CWND), backup(p(2, 50, CWND, 0))];
    assert!(pick(&mut unit(), &paths, &at(0, 8 << 20)).is_empty());
}

#[test]
fn decides_among_backups_when_no_regular_path_exists() {
    let [fast, slow] = fast_full_slow_holding(0);
    let paths = [backup(fast), backup(slow)];
    assert_eq!(pick(&mut unit(), &paths, &at(0, 100_000)), [1]);
    let [fast, slow] = fast_full_slow_holding(40_000);
    let paths = [backup(fast), backup(slow)];
    assert!(pick(&mut unit(), &paths, &at(0, 100_000)).is_empty());
}

/// x_f with room but more than the window leaves (`window_room` 5000 <
/// its 10 000 bytes of room, and more is waiting): blocked by the window.
fn blocked_at(now_ms: u64) -> SchedContext {
    SchedContext {
        window_room: 5000,
        ..at(now_ms, 100_000)
    }
}

/// x_f with room (10 ms), x_s (50 ms): a λ period lasts 50 ms.
fn fast_free() -> [PathView; 2] {
    [p(1, 10, CWND, 0), p(2, 50, CWND, 0)]
}

#[test]
fn lambda_rises_after_a_period_with_blocking() {
    let mut blest = unit();
    assert_eq!(pick(&mut blest, &fast_free(), &blocked_at(0)), [0]);
    // Not a whole period yet.
    pick(&mut blest, &fast_free(), &at(49, 100_000));
    assert_eq!(blest.lambda(), 1000);
    // The period is over; x_f was blocked in it.
    pick(&mut blest, &fast_free(), &at(50, 100_000));
    assert_eq!(blest.lambda(), 1000 + Blest::LAMBDA_UP);
    // The next period saw no blocking.
    pick(&mut blest, &fast_free(), &at(100, 100_000));
    assert_eq!(blest.lambda(), 1000 + Blest::LAMBDA_UP - Blest::LAMBDA_DOWN);
}

#[test]
fn lambda_stays_within_its_bounds() {
    let mut blest = unit();
    for period in 0..100 {
        pick(&mut blest, &fast_free(), &blocked_at(period * 50));
    }
    assert_eq!(blest.lambda(), Blest::LAMBDA_MAX);
    for period in 100..300 {
        pick(&mut blest, &fast_free(), &at(period * 50, 100_000));
    }
    assert_eq!(blest.lambda(), Blest::LAMBDA_MIN);
}

#[test]
fn no_blocking_when_the_window_is_not_what_limits() {
    // Little room in the window, but x_f has even less of its own, or
    // the window takes everything that waits: not blocked.
    let mut blest = unit();
    let tight = SchedContext {
        unsent: 3000,
        ..blocked_at(0)
    };
    pick(&mut blest, &fast_free(), &tight);
    let small = [p(1, 10, 4000, 0), p(2, 50, CWND, 0)];
    pick(&mut blest, &small, &blocked_at(10));
    pick(&mut blest, &fast_free(), &at(50, 100_000));
    assert_eq!(blest.lambda(), 1000 - Blest::LAMBDA_DOWN);
}

#[test]
fn lambda_scales_the_estimate() {
    // λ = 1.05: X·λ = 63 000. inflight_s = 38 000: 100 000 − 39 000 =
    // 61 000; λ = 1 would send (60 000 ≤ 61 000), λ = 1.05 waits.
    let mut blest = unit();
    let paths = fast_full_slow_holding(38_000);
    assert_eq!(pick(&mut blest, &paths, &at(0, 100_000)), [1]);
    pick(&mut blest, &fast_free(), &blocked_at(1));
    pick(&mut blest, &fast_free(), &at(50, 100_000));
    assert_eq!(blest.lambda(), 1050);
    assert!(pick(&mut blest, &paths, &at(51, 100_000)).is_empty());
}

#[test]
fn time_going_back_leaves_lambda_alone() {
    let mut blest = Blest::new();
    pick(&mut blest, &fast_free(), &blocked_at(1000));
    pick(&mut blest, &fast_free(), &blocked_at(0));
    pick(&mut blest, &fast_free(), &blocked_at(1049));
    assert_eq!(blest.lambda(), Blest::LAMBDA_INITIAL);
}

#[test]
fn the_default_lambda_leaves_the_slow_path_more_room() {
    // inflight_s = 40 000: λ = 1 waits (60 000 > 59 000), the default
    // λ = 0.8 sends (48 000 ≤ 59 000); inflight_s = 52 000: 48 000 >
    // 47 000, it waits too.
    let paths = fast_full_slow_holding(40_000);
    assert!(pick(&mut unit(), &paths, &at(0, 100_000)).is_empty());
    assert_eq!(Blest::new().lambda(), 800);
    assert_eq!(pick(&mut Blest::new(), &paths, &at(0, 100_000)), [1]);
    let paths = fast_full_slow_holding(52_000);
    assert!(pick(&mut Blest::new(), &paths, &at(0, 100_000)).is_empty());
}

#[test]
fn a_starting_lambda_is_kept_within_the_bounds() {
    assert_eq!(Blest::with_lambda(0).lambda(), Blest::LAMBDA_MIN);
    assert_eq!(Blest::with_lambda(u32::MAX).lambda(), Blest::LAMBDA_MAX);
    assert_eq!(Blest::with_lambda(1234).lambda(), 1234);
}

#[test]
fn a_fast_path_with_nothing_in_flight_is_not_waited_for() {
    // x_f has no room and nothing in flight (its peer's window is shut, or
    // its path died): no ACK will free it, so x_s is used even where the
    // estimate says it would block x_f. Chaos seed 204241 waited for ever.
    let mut blest = unit();
    let mut paths = fast_full_slow_holding(40_000);
    assert!(pick(&mut blest, &paths, &at(0, 100_000)).is_empty());
    paths[0].in_flight = 0;
    assert_eq!(pick(&mut blest, &paths, &at(0, 100_000)), [1]);
}
