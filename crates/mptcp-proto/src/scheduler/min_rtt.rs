//! Lowest RTT first: the Linux kernel's default scheduler.
//!
//! Among the regular subflows with room, the one with the lowest smoothed
//! RTT carries the next chunk (ties to the lowest index). Backup subflows
//! are used the same way only when no regular subflow exists at all
//! (RFC 8684 §3.3.8); when regular subflows exist but are all full, the
//! scheduler waits for one of them.

use super::{PathView, SchedContext, Scheduler, SchedulerKind, eligible, fastest};

/// The lowest-RTT scheduler. Stateless.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MinRtt;

impl MinRtt {
    /// A new scheduler.
    pub fn new() -> MinRtt {
        MinRtt
    }
}

impl Scheduler for MinRtt {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::MinRtt
    }

    fn select(&mut self, paths: &[PathView], _ctx: &SchedContext, out: &mut Vec<usize>) {
        out.extend(fastest(eligible(paths).filter(|(_, p)| p.has_room())));
    }
}
