//! Packet schedulers: which subflow carries the next bytes.
//!
//! The connection asks its scheduler every time it has data to hand out
//! and some subflow has room. The scheduler sees a read-only [`PathView`]
//! of every subflow that can carry data now (handshake complete, MPTCP
//! fully established, not closing) and answers with indices into that
//! slice. New data and reinjections are chosen separately.
//!
//! Five schedulers, one file each:
//! - [`MinRtt`]: the lowest smoothed RTT among subflows with room (the
//!   Linux kernel's default);
//! - [`RoundRobin`]: each subflow with room in turn;
//! - [`Redundant`]: every subflow with room gets the same bytes;
//! - [`Ecf`]: Earliest Completion First (Lim et al., CoNEXT 2017), which
//!   may leave a slow subflow idle and wait for the fast one;
//! - [`Blest`]: Blocking Estimation (Ferlin et al., IFIP Networking 2016),
//!   which leaves a slow subflow idle when what it would hold of the
//!   connection's send window would block the fast one.
//!
//! Backup subflows (RFC 8684 §3.3.8, the `B` flag of MP_JOIN and MP_PRIO)
//! carry new data only when no regular subflow is established at all. A
//! regular subflow that is merely full does not count as absent: the
//! schedulers then wait, as the kernel's default scheduler does, rather
//! than spill onto a backup path the user asked to keep idle.
//!
//! Reinjections default to [`default_reinject`]: the fastest regular
//! subflow with room other than the one the bytes were first sent on, then
//! that subflow itself, then backup subflows.

mod blest;
mod ecf;
mod min_rtt;
mod redundant;
mod round_robin;

#[cfg(test)]
mod tests;

pub use blest::Blest;
pub use ecf::Ecf;
pub use min_rtt::MinRtt;
pub use redundant::Redundant;
pub use round_robin::RoundRobin;

use crate::subflow::SubflowId;
use crate::time::{Duration, Instant};
use core::fmt;

/// What a scheduler knows of one subflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathView {
    /// Which subflow.
    pub id: SubflowId,
    /// Smoothed RTT (the initial RTO's worth before any sample).
    pub srtt: Duration,
    /// RTT variation (half the SRTT before any sample).
    pub rttvar: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes in flight.
    pub in_flight: u64,
    /// Payload bytes handed to the subflow and not yet cumulatively
    /// acknowledged on it (sent or queued): what it holds of the
    /// connection's send window.
    pub unacked: u64,
    /// Payload bytes the subflow would take now (congestion window and
    /// peer window room, less what it already queued).
    pub send_space: u64,
    /// Payload bytes per segment.
    pub mss: u32,
    /// Whether the subflow is a backup path (RFC 8684 §3.3.8: use only when
    /// no regular path can carry data).
    pub backup: bool,
    /// Whether it is in loss recovery.
    pub in_recovery: bool,
}

impl PathView {
    /// Whether the subflow would take at least one byte now.
    pub fn has_room(&self) -> bool {
        self.send_space > 0
    }
}

/// What a scheduler knows of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedContext {
    /// Now.
    pub now: Instant,
    /// Bytes written by the application and never sent.
    pub unsent: u64,
    /// Room left in the peer's connection-level receive window.
    pub window_room: u64,
    /// The connection-level send window: how many bytes from the oldest
    /// unacknowledged one may be outstanding at once (the peer's receive
    /// window, capped by our send buffer).
    pub send_window: u64,
}

/// The schedulers the engine knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SchedulerKind {
    /// Lowest smoothed RTT first among subflows with room (the Linux
    /// kernel's default).
    #[default]
    MinRtt,
    /// Each subflow with room in turn.
    RoundRobin,
    /// Every byte on every subflow (lowest latency, no aggregation).
    Redundant,
    /// Earliest Completion First: wait for the fastest subflow rather than
    /// use a slow one when that finishes sooner (heterogeneous paths).
    Ecf,
    /// Blocking Estimation: leave a slow subflow idle when sending on it
    /// would leave the fast one short of send window (head-of-line
    /// blocking with a limited window).
    Blest,
}

impl SchedulerKind {
    /// All known schedulers, in the order of the enum.
    pub const ALL: &'static [SchedulerKind] = &[
        SchedulerKind::MinRtt,
        SchedulerKind::RoundRobin,
        SchedulerKind::Redundant,
        SchedulerKind::Ecf,
        SchedulerKind::Blest,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SchedulerKind::MinRtt => "minrtt",
            SchedulerKind::RoundRobin => "roundrobin",
            SchedulerKind::Redundant => "redundant",
            SchedulerKind::Ecf => "ecf",
            SchedulerKind::Blest => "blest",
        }
    }

    /// Parse a name as printed by [`SchedulerKind::name`].
    pub fn from_name(name: &str) -> Option<SchedulerKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// A fresh scheduler of this kind, for one connection.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::MinRtt => Box::new(MinRtt::new()),
            SchedulerKind::RoundRobin => Box::new(RoundRobin::new()),
            SchedulerKind::Redundant => Box::new(Redundant::new()),
            SchedulerKind::Ecf => Box::new(Ecf::new()),
            SchedulerKind::Blest => Box::new(Blest::new()),
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scheduler.
pub trait Scheduler: fmt::Debug + Send + CloneScheduler {
    /// Which one it is.
    fn kind(&self) -> SchedulerKind;

    /// Choose the subflows that carry the next chunk of new data, as indices
    /// into `paths` (pushed to `out`, which arrives empty). Several indices
    /// mean the same bytes go on each (redundant). Nothing means wait.
    fn select(&mut self, paths: &[PathView], ctx: &SchedContext, out: &mut Vec<usize>);

    /// Choose the subflow that resends bytes the data level reinjects (a
    /// closed subflow's, or the oldest unacknowledged after the data-level
    /// timeout; which subflow first carried them is not kept).
    ///
    /// The provided method is [`default_reinject`].
    fn select_reinject(&mut self, paths: &[PathView], ctx: &SchedContext) -> Option<usize> {
        let _ = ctx;
        default_reinject(paths)
    }
}

/// Cloning a boxed scheduler (an endpoint can be copied whole, e.g. by a
/// fuzz target that prepares a connection once). Implemented for every
/// `Clone` scheduler.
pub trait CloneScheduler {
    /// A copy in a new box.
    fn clone_box(&self) -> Box<dyn Scheduler>;
}

impl<T: Scheduler + Clone + 'static> CloneScheduler for T {
    fn clone_box(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Scheduler> {
    fn clone(&self) -> Box<dyn Scheduler> {
        self.clone_box()
    }
}

/// The reinjection choice shared by all schedulers: among subflows with
/// room, a regular one other than `from` with the lowest smoothed RTT;
/// failing that `from` itself if it is regular; then backup subflows the
/// same way (others first, `from` last). Ties go to the lowest index.
pub fn default_reinject(paths: &[PathView]) -> Option<usize> {
    paths
        .iter()
        .enumerate()
        .filter(|(_, p)| p.has_room())
        .min_by_key(|(i, p)| (p.backup, p.srtt, *i))
        .map(|(i, _)| i)
}

/// Whether new data goes to backup subflows: only when no regular subflow
/// is there at all (RFC 8684 §3.3.8), whatever their room.
fn backup_only(paths: &[PathView]) -> bool {
    paths.iter().all(|p| p.backup)
}

/// Indices of the subflows in the class that carries new data (regular, or
/// backup when there is no regular one), with or without room.
fn eligible(paths: &[PathView]) -> impl Iterator<Item = (usize, &PathView)> {
    let backup = backup_only(paths);
    paths
        .iter()
        .enumerate()
        .filter(move |(_, p)| p.backup == backup)
}

/// The index of the lowest smoothed RTT among `candidates`, ties to the
/// lowest index.
fn fastest<'a>(candidates: impl Iterator<Item = (usize, &'a PathView)>) -> Option<usize> {
    candidates.min_by_key(|(i, p)| (p.srtt, *i)).map(|(i, _)| i)
}
