//! Redundant: the same bytes on every subflow with room.
//!
//! Every subflow of the data-carrying class (regular subflows, or backup
//! subflows when there is no regular one, RFC 8684 §3.3.8) that has room
//! gets the chunk; the receiver keeps the first copy to arrive. This buys
//! latency and loss resilience with bandwidth: the connection goes no
//! faster than its slowest subflow with room lets the others run ahead.

use super::{PathView, SchedContext, Scheduler, SchedulerKind, eligible};

/// The redundant scheduler. Stateless.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Redundant;

impl Redundant {
    /// A new scheduler.
    pub fn new() -> Redundant {
        Redundant
    }
}

impl Scheduler for Redundant {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Redundant
    }

    fn select(&mut self, paths: &[PathView], _ctx: &SchedContext, out: &mut Vec<usize>) {
        out.extend(
            eligible(paths)
                .filter(|(_, p)| p.has_room())
                .map(|(i, _)| i),
        );
    }
}
