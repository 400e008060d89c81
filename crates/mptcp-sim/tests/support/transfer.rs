//! What the transfer tests share: building a spec from `--path` texts and
//! checking a report, with the command that reproduces a failed run.
#![allow(dead_code)]

use mptcp_sim::scenario::{PathSpec, TransferReport, TransferSpec};

/// A transfer of `bytes` over paths written as `mptcp sim --path` takes them.
pub fn spec(paths: &[&str], bytes: u64) -> TransferSpec {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    TransferSpec::new(paths, bytes)
}

/// The run delivered the stream intact and ended without error.
pub fn check(r: &TransferReport) {
    assert!(
        r.is_ok(),
        "integrity {:?}, error {:?}\nreproduce with: {}",
        r.integrity,
        r.error,
        r.command
    );
}
