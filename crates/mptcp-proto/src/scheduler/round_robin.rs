//! Round robin: each subflow with room in turn.
//!
//! The scheduler remembers the subflow it used last and picks, among the
//! subflows of the data-carrying class with room (regular ones, or backup
//! ones when there is no regular one, RFC 8684 §3.3.8), the one with the
//! next higher [`SubflowId`], wrapping around to the lowest. Rotating by
//! identifier rather than by position keeps the turn fair when subflows
//! come and go or the connection reorders its view.

use super::{PathView, SchedContext, Scheduler, SchedulerKind, eligible};
use crate::subflow::SubflowId;

/// The round-robin scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundRobin {
    /// The subflow that carried the last chunk.
    last: Option<SubflowId>,
}

impl RoundRobin {
    /// A new scheduler; its first choice is the lowest identifier with room.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }

    /// The subflow that carried the last chunk, if any.
    pub fn last(&self) -> Option<SubflowId> {
        self.last
    }
}

impl Scheduler for RoundRobin {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::RoundRobin
    }

    fn select(&mut self, paths: &[PathView], _ctx: &SchedContext, out: &mut Vec<usize>) {
        let last = self.last;
        // Subflows after `last` sort first (`false < true`), then by id.
        let next = eligible(paths)
            .filter(|(_, p)| p.has_room())
            .min_by_key(|(i, p)| (last.is_some_and(|l| p.id <= l), p.id, *i));
        if let Some((i, p)) = next {
            self.last = Some(p.id);
            out.push(i);
        }
    }
}
