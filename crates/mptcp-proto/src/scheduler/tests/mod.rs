//! Unit tests for the schedulers: shared helpers, the kind table, the
//! default reinjection choice and the properties every scheduler keeps.
//! Each scheduler's own behaviour is tested in its sibling file.

mod blest;
mod ecf;
mod min_rtt;
mod redundant;
mod round_robin;

use super::{MinRtt, PathView, SchedContext, Scheduler, SchedulerKind, default_reinject};
use crate::subflow::SubflowId;
use crate::time::{Duration, Instant};
use proptest::prelude::*;

/// A congestion window of ten 1000-byte segments.
const CWND: u64 = 10_000;

/// A regular subflow `id` with smoothed RTT `srtt_ms`, RTT variation half
/// of it, a 10 000-byte window and `space` bytes of room.
fn path(id: u32, srtt_ms: u64, space: u64) -> PathView {
    PathView {
        id: SubflowId(id),
        srtt: Duration::from_millis(srtt_ms),
        rttvar: Duration::from_millis(srtt_ms / 2),
        cwnd: CWND,
        in_flight: CWND - space.min(CWND),
        unacked: CWND - space.min(CWND),
        send_space: space,
        mss: 1000,
        backup: false,
        in_recovery: false,
    }
}

/// The same subflow marked backup.
fn backup(p: PathView) -> PathView {
    PathView { backup: true, ..p }
}

/// A context with `unsent` bytes waiting.
fn ctx(unsent: u64) -> SchedContext {
    SchedContext {
        now: Instant::from_micros(1_000_000),
        unsent,
        window_room: 1 << 20,
        send_window: 1 << 20,
    }
}

/// One `select` call with an empty `out`, returning `out`.
fn pick(s: &mut dyn Scheduler, paths: &[PathView], unsent: u64) -> Vec<usize> {
    let mut out = Vec::new();
    s.select(paths, &ctx(unsent), &mut out);
    out
}

#[test]
fn names_round_trip_and_build_their_kind() {
    for &kind in SchedulerKind::ALL {
        assert_eq!(SchedulerKind::from_name(kind.name()), Some(kind));
        assert_eq!(kind.to_string(), kind.name());
        assert_eq!(kind.build().kind(), kind);
    }
    let names: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, ["minrtt", "roundrobin", "redundant", "ecf", "blest"]);
}

#[test]
fn unknown_names_are_rejected() {
    for name in ["", "MinRtt", "min-rtt", "ECF", "lia", "roundrobin "] {
        assert_eq!(SchedulerKind::from_name(name), None, "{name:?}");
    }
}

#[test]
fn default_kind_is_the_kernels_default() {
    assert_eq!(SchedulerKind::default(), SchedulerKind::MinRtt);
}

#[test]
fn path_room_is_send_space() {
    assert!(path(1, 10, 1).has_room());
    assert!(!path(1, 10, 0).has_room());
}

#[test]
fn reinject_takes_the_fastest_with_room() {
    let paths = [path(1, 10, 5000), path(2, 30, 5000), path(3, 20, 5000)];
    assert_eq!(default_reinject(&paths), Some(0));
    let paths = [path(1, 10, 0), path(2, 30, 5000), path(3, 20, 5000)];
    assert_eq!(default_reinject(&paths), Some(2));
}

#[test]
fn reinject_goes_to_a_backup_only_when_no_regular_subflow_has_room() {
    let full_other = path(2, 5, 0);
    let regular = path(1, 10, 5000);
    let spare = backup(path(3, 1, 5000));
    // A regular subflow with room wins over a faster backup.
    assert_eq!(default_reinject(&[regular, full_other, spare]), Some(0));
    // No regular one has room: the backup takes it.
    let full = path(1, 10, 0);
    assert_eq!(default_reinject(&[full, full_other, spare]), Some(2));
}

#[test]
fn reinject_ties_go_to_the_lowest_index_and_full_paths_never_win() {
    let paths = [path(1, 20, 0), path(2, 20, 100), path(3, 20, 100)];
    assert_eq!(default_reinject(&paths), Some(1));
    assert_eq!(
        default_reinject(&[path(1, 20, 0), backup(path(2, 5, 0))]),
        None
    );
    assert_eq!(default_reinject(&[]), None);
}

#[test]
fn every_scheduler_reinjects_the_default_way() {
    let paths = [path(1, 10, 5000), path(2, 30, 5000), path(3, 20, 0)];
    for &kind in SchedulerKind::ALL {
        let mut s = kind.build();
        let got = s.select_reinject(&paths, &ctx(0));
        assert_eq!(got, Some(0), "{kind}");
    }
}

/// One subflow with arbitrary numbers; room is often zero.
fn arb_path() -> impl Strategy<Value = PathView> {
    (
        0u64..400_000,
        0u64..200_000,
        0u64..200_000,
        prop_oneof![Just(0u64), 1u64..100_000],
        prop_oneof![Just(u64::MAX), 0u64..400_000],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(srtt, rttvar, cwnd, space, unacked, backup, in_recovery)| PathView {
                id: SubflowId(0),
                srtt: Duration::from_micros(srtt),
                rttvar: Duration::from_micros(rttvar),
                cwnd,
                in_flight: cwnd.saturating_sub(space),
                unacked,
                send_space: space,
                mss: 1448,
                backup,
                in_recovery,
            },
        )
}

/// Up to eight subflows with distinct identifiers in shuffled order.
fn arb_paths() -> impl Strategy<Value = Vec<PathView>> {
    prop::collection::vec(arb_path(), 0..=8).prop_flat_map(|paths| {
        let ids: Vec<u32> = (0..paths.len() as u32).map(|i| i * 3 + 1).collect();
        (Just(paths), Just(ids).prop_shuffle()).prop_map(|(paths, ids)| {
            paths
                .into_iter()
                .zip(ids)
                .map(|(p, id)| PathView {
                    id: SubflowId(id),
                    ..p
                })
                .collect()
        })
    })
}

/// Whether a scheduler may leave every path idle although one has room
/// (to wait for the fastest one).
fn waits(kind: SchedulerKind) -> bool {
    matches!(kind, SchedulerKind::Ecf | SchedulerKind::Blest)
}

/// Checks one `select` answer against the invariants all schedulers keep.
fn check_selection(kind: SchedulerKind, paths: &[PathView], out: &[usize]) {
    let mut seen = out.to_vec();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), out.len(), "{kind}: duplicates in {out:?}");
    for &i in out {
        assert!(i < paths.len(), "{kind}: index {i} out of range");
        assert!(paths[i].has_room(), "{kind}: chose full path {i}");
        // RFC 8684 §3.3.8: backups carry new data only without regular paths.
        assert!(
            !paths[i].backup || paths.iter().all(|p| p.backup),
            "{kind}: backup {i}"
        );
    }
    if kind != SchedulerKind::Redundant {
        assert!(out.len() <= 1, "{kind}: several paths {out:?}");
    }
    let class_has_room = {
        let only_backup = paths.iter().all(|p| p.backup);
        paths
            .iter()
            .any(|p| p.backup == only_backup && p.has_room())
    };
    if !waits(kind) {
        assert_eq!(out.is_empty(), !class_has_room, "{kind}: {out:?}");
    }
}

/// A context with arbitrary numbers (time moves forward and back).
fn arb_ctx() -> impl Strategy<Value = SchedContext> {
    (
        0u64..10_000_000,
        0u64..5_000_000,
        prop_oneof![Just(0u64), 0u64..4_000_000],
        prop_oneof![Just(u64::MAX), 0u64..8_000_000],
    )
        .prop_map(|(now, unsent, window_room, send_window)| SchedContext {
            now: Instant::from_micros(now),
            unsent,
            window_room,
            send_window,
        })
}

proptest! {
    #[test]
    fn selections_are_in_range_with_room_and_distinct(
        rounds in prop::collection::vec((arb_paths(), arb_ctx()), 1..12),
    ) {
        for &kind in SchedulerKind::ALL {
            let mut s = kind.build();
            for (paths, ctx) in &rounds {
                let mut out = Vec::new();
                s.select(paths, ctx, &mut out);
                check_selection(kind, paths, &out);
                if waits(kind) {
                    // ECF and BLEST either wait or agree with the lowest-RTT
                    // choice, and wait only while the fastest path is full.
                    let mut min_rtt = Vec::new();
                    MinRtt::new().select(paths, ctx, &mut min_rtt);
                    prop_assert!(out.is_empty() || out == min_rtt, "{out:?} {min_rtt:?}");
                    let fastest = super::fastest(super::eligible(paths));
                    prop_assert!(!out.is_empty() || fastest.is_none_or(|f| !paths[f].has_room()));
                }
                if let Some(i) = s.select_reinject(paths, ctx) {
                    prop_assert!(i < paths.len() && paths[i].has_room());
                } else {
                    prop_assert!(paths.iter().all(|p| !p.has_room()));
                }
            }
        }
    }
}
