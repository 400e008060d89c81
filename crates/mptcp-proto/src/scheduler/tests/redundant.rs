//! The redundant scheduler.

use super::{backup, path, pick};
use crate::scheduler::{Redundant, Scheduler, SchedulerKind};

#[test]
fn every_regular_path_with_room_gets_the_chunk() {
    let paths = [
        path(1, 30, 5000),
        path(2, 10, 0),
        path(3, 20, 1),
        backup(path(4, 1, 5000)),
    ];
    assert_eq!(pick(&mut Redundant::new(), &paths, 10_000), [0, 2]);
    assert_eq!(Redundant::new().kind(), SchedulerKind::Redundant);
}

#[test]
fn a_single_path_with_room_is_enough() {
    let paths = [path(1, 30, 0), path(2, 10, 700)];
    assert_eq!(pick(&mut Redundant::new(), &paths, 10_000), [1]);
}

#[test]
fn waits_when_regular_paths_are_full_even_with_backup_room() {
    let paths = [path(1, 30, 0), backup(path(2, 10, 5000))];
    assert!(pick(&mut Redundant::new(), &paths, 10_000).is_empty());
    assert!(pick(&mut Redundant::new(), &[], 10_000).is_empty());
}

#[test]
fn duplicates_on_backups_when_no_regular_path_exists() {
    let paths = [
        backup(path(1, 30, 5000)),
        backup(path(2, 10, 0)),
        backup(path(3, 20, 9)),
    ];
    assert_eq!(pick(&mut Redundant::new(), &paths, 10_000), [0, 2]);
}
