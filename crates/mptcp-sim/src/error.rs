//! Why a run stopped before its goal.

use core::fmt;

use mptcp_proto::time::Instant;

/// A guard rail of [`SimConfig`](crate::SimConfig) stopped the run. The
/// simulator is left in a consistent state at `now`; the event that would have
/// crossed the limit is still queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// More than [`SimConfig::max_events`](crate::SimConfig::max_events) events
    /// would have been processed.
    EventLimit {
        /// The configured limit.
        limit: u64,
        /// The virtual time when the limit was hit.
        now: Instant,
    },
    /// The run would have gone past
    /// [`SimConfig::time_limit`](crate::SimConfig::time_limit).
    TimeLimit {
        /// The configured limit.
        limit: Instant,
        /// The virtual time when the limit was hit.
        now: Instant,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::EventLimit { limit, now } => {
                write!(
                    f,
                    "simulation exceeded the limit of {limit} events at t={now:?}"
                )
            }
            SimError::TimeLimit { limit, now } => {
                write!(
                    f,
                    "simulation exceeded the virtual time limit {limit:?} (at t={now:?})"
                )
            }
        }
    }
}

impl std::error::Error for SimError {}
