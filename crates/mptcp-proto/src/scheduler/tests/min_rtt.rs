//! The lowest-RTT scheduler.

use super::{backup, path, pick};
use crate::scheduler::{MinRtt, Scheduler, SchedulerKind};

#[test]
fn picks_the_lowest_srtt_with_room() {
    let paths = [path(1, 30, 5000), path(2, 10, 5000), path(3, 20, 5000)];
    assert_eq!(pick(&mut MinRtt::new(), &paths, 10_000), [1]);
    assert_eq!(MinRtt::new().kind(), SchedulerKind::MinRtt);
}

#[test]
fn skips_full_paths() {
    let paths = [path(1, 30, 5000), path(2, 10, 0), path(3, 20, 1)];
    assert_eq!(pick(&mut MinRtt::new(), &paths, 10_000), [2]);
}

#[test]
fn ties_go_to_the_lowest_index() {
    let paths = [path(7, 20, 5000), path(3, 10, 5000), path(5, 10, 5000)];
    assert_eq!(pick(&mut MinRtt::new(), &paths, 1), [1]);
}

#[test]
fn waits_when_every_path_is_full() {
    let paths = [path(1, 10, 0), path(2, 20, 0)];
    assert!(pick(&mut MinRtt::new(), &paths, 10_000).is_empty());
    assert!(pick(&mut MinRtt::new(), &[], 10_000).is_empty());
}

#[test]
fn waits_for_full_regular_paths_rather_than_use_a_backup() {
    // RFC 8684 §3.3.8: a regular subflow exists, so the backup stays idle
    // even though the regular one is full and the backup is faster.
    let paths = [path(1, 50, 0), backup(path(2, 5, 5000))];
    assert!(pick(&mut MinRtt::new(), &paths, 10_000).is_empty());
}

#[test]
fn uses_backups_when_no_regular_path_exists() {
    let paths = [
        backup(path(1, 50, 5000)),
        backup(path(2, 5, 5000)),
        backup(path(3, 1, 0)),
    ];
    assert_eq!(pick(&mut MinRtt::new(), &paths, 10_000), [1]);
}
