//! The round-robin scheduler.

use super::{backup, path, pick};
use crate::scheduler::{RoundRobin, Scheduler, SchedulerKind};
use crate::subflow::SubflowId;

#[test]
fn takes_each_path_with_room_in_turn() {
    let mut rr = RoundRobin::new();
    assert_eq!(rr.kind(), SchedulerKind::RoundRobin);
    assert_eq!(rr.last(), None);
    // RTTs do not matter, identifiers do.
    let paths = [path(1, 30, 5000), path(2, 10, 5000), path(3, 20, 5000)];
    let got: Vec<Vec<usize>> = (0..5).map(|_| pick(&mut rr, &paths, 10_000)).collect();
    assert_eq!(got, [[0], [1], [2], [0], [1]]);
    assert_eq!(rr.last(), Some(SubflowId(2)));
}

#[test]
fn skips_full_paths_without_losing_its_place() {
    let mut rr = RoundRobin::new();
    let all = [path(1, 10, 5000), path(2, 10, 5000), path(3, 10, 5000)];
    let two_full = [path(1, 10, 5000), path(2, 10, 0), path(3, 10, 5000)];
    assert_eq!(pick(&mut rr, &all, 1), [0]);
    assert_eq!(pick(&mut rr, &two_full, 1), [2]);
    assert_eq!(pick(&mut rr, &all, 1), [0]);
    assert_eq!(pick(&mut rr, &all, 1), [1]);
}

#[test]
fn rotates_by_identifier_not_position() {
    let mut rr = RoundRobin::new();
    let paths = [path(5, 10, 5000), path(9, 10, 5000), path(2, 10, 5000)];
    // Lowest id first: sf2 at index 2, then sf5, then sf9, then sf2.
    assert_eq!(pick(&mut rr, &paths, 1), [2]);
    assert_eq!(pick(&mut rr, &paths, 1), [0]);
    // The connection reorders its view: the turn still goes to sf9.
    let reordered = [paths[1], paths[2], paths[0]];
    assert_eq!(pick(&mut rr, &reordered, 1), [0]);
    assert_eq!(pick(&mut rr, &reordered, 1), [1]);
}

#[test]
fn continues_after_the_last_subflow_disappears() {
    let mut rr = RoundRobin::new();
    let paths = [path(1, 10, 5000), path(2, 10, 5000), path(3, 10, 5000)];
    assert_eq!(pick(&mut rr, &paths, 1), [0]);
    assert_eq!(pick(&mut rr, &paths, 1), [1]);
    // sf2 closed: the next id after it is sf3.
    assert_eq!(pick(&mut rr, &[paths[0], paths[2]], 1), [1]);
}

#[test]
fn waiting_keeps_the_turn() {
    let mut rr = RoundRobin::new();
    let paths = [path(1, 10, 5000), path(2, 10, 5000)];
    assert_eq!(pick(&mut rr, &paths, 1), [0]);
    assert!(pick(&mut rr, &[path(1, 10, 0), path(2, 10, 0)], 1).is_empty());
    assert_eq!(rr.last(), Some(SubflowId(1)));
    assert_eq!(pick(&mut rr, &paths, 1), [1]);
}

#[test]
fn backups_only_without_regular_paths() {
    let mut rr = RoundRobin::new();
    let mixed = [path(1, 10, 0), backup(path(2, 10, 5000))];
    assert!(pick(&mut rr, &mixed, 1).is_empty());
    let backups = [backup(path(1, 10, 5000)), backup(path(2, 10, 5000))];
    assert_eq!(pick(&mut rr, &backups, 1), [0]);
    assert_eq!(pick(&mut rr, &backups, 1), [1]);
    assert_eq!(pick(&mut rr, &backups, 1), [0]);
}
