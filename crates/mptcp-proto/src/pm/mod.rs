//! Path managers: which subflows a connection opens and accepts, and which
//! addresses it announces (RFC 8684 §3.4 leaves this policy to the host).
//!
//! As in the Linux kernel, the policy sits behind one interface
//! ([`PathManager`]) with two implementations:
//! - [`KernelPm`], the in-kernel one: local *endpoints* (as configured with
//!   `ip mptcp endpoint`) with the flags `signal`, `subflow`, `backup`,
//!   `fullmesh` and `laminar`, and the limits of `ip mptcp limits`; a
//!   subflow of its own that fails comes back, with backoff;
//! - [`UserspacePm`]: decides nothing; the application announces and
//!   removes addresses and creates and destroys subflows itself (the
//!   endpoint's path-manager calls), as a userspace daemon does on Linux.
//!
//! The connection calls the hooks and carries out the [`PmAction`]s they
//! return; it tells the application what happened with [`PmEvent`]s named
//! as the kernel's MPTCP netlink events.

mod config;
mod event;
mod kernel;
mod userspace;

#[cfg(test)]
mod tests;

pub use config::{EndpointFlags, PmConfig, PmEndpoint, PmKind, PmLimits};
pub use event::{PmEvent, SubflowAttrs, errno};
pub use kernel::{JOIN_RETRIES, JOIN_RETRY_BASE, KernelPm};
pub use userspace::UserspacePm;

use crate::connection::Role;
use crate::connection::mptcp::RemoteAddr;
use crate::subflow::FourTuple;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// What a new connection gets from its endpoint for path management.
#[derive(Clone, Debug, Default)]
pub struct PmSetup {
    /// The endpoint's addresses.
    pub local_addrs: Vec<IpAddr>,
    /// The path manager's endpoints, their ids resolved.
    pub endpoints: Vec<PmEndpoint>,
    /// Its limits.
    pub limits: PmLimits,
}

/// What a path manager sees of its connection when it decides.
#[derive(Clone, Copy, Debug)]
pub struct PmView<'a> {
    /// Which side we are.
    pub role: Role,
    /// The first subflow's addresses (the peer's initial address is its
    /// address id 0).
    pub first: FourTuple,
    /// The peer set flag C in its MP_CAPABLE (RFC 8684 §3.1): no subflow
    /// to its initial address and port.
    pub deny_join_id0: bool,
    /// Subflows beyond the first that are live or about to be opened.
    pub extra_subflows: usize,
    /// Live subflows and those about to be opened: (our address, the
    /// peer's address and port).
    pub paths: &'a [(IpAddr, SocketAddr)],
    /// The addresses the peer announced that were accepted.
    pub remotes: &'a [RemoteAddr],
    /// The current time.
    pub now: Instant,
}

impl PmView<'_> {
    /// Whether a subflow from `local` to `remote` exists or is asked for.
    pub fn has_path(&self, local: IpAddr, remote: SocketAddr) -> bool {
        self.paths.iter().any(|&(l, r)| l == local && r == remote)
    }
}

/// A decision of the path manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmAction {
    /// Open a subflow (MP_JOIN) from our address `local` to `remote`.
    Join {
        /// Our address.
        local: IpAddr,
        /// The peer's address and port.
        remote: SocketAddr,
        /// A failed subflow comes back (counted as `MPJoinSynTxRetry`).
        retry: bool,
    },
    /// Announce one of our addresses with ADD_ADDR (RFC 8684 §3.4.1).
    Announce {
        /// The address ADD_ADDR carries.
        addr: IpAddr,
        /// Its port, when not the connection's.
        port: Option<u16>,
        /// Our address that joins to it arrive at: `addr` unless a NAT or
        /// balancer translates it ([`PmEndpoint::announce_as`]).
        local: IpAddr,
    },
}

/// Why a subflow ended, as the path manager needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubflowEnd {
    /// Closed in order, or by our own decision (removal, abort).
    Ours,
    /// Failed: reset by the peer, refused, or timed out.
    Failed,
    /// The peer removed its address (REMOVE_ADDR).
    PeerRemoved,
    /// Reset because the path interferes: data altered or mappings lost
    /// (our checksum or mapping check failed, or the peer's RST said so
    /// with MP_FAIL or MP_TCPRST reason 6). The path establishes joins
    /// and breaks them again once data flows.
    Interfered,
}

/// Cloning a boxed path manager (a connection can be copied whole).
/// Implemented for every `Clone` path manager.
pub trait ClonePathManager {
    /// A copy in a new box.
    fn clone_box(&self) -> Box<dyn PathManager>;
}

impl<T: PathManager + Clone + 'static> ClonePathManager for T {
    fn clone_box(&self) -> Box<dyn PathManager> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn PathManager> {
    fn clone(&self) -> Box<dyn PathManager> {
        self.clone_box()
    }
}

/// A path-manager policy, one instance per connection.
pub trait PathManager: std::fmt::Debug + Send + ClonePathManager {
    /// Which kind it is.
    fn kind(&self) -> PmKind;

    /// The connection is fully established (RFC 8684 §3.1: no join before
    /// the peer showed it has our keys): the first subflows and
    /// announcements.
    fn on_established(&mut self, view: &PmView<'_>, out: &mut Vec<PmAction>);

    /// The peer announced `remote` (its HMAC checked). Returns whether it
    /// is accepted (used for subflows).
    fn on_announced(
        &mut self,
        view: &PmView<'_>,
        remote: RemoteAddr,
        out: &mut Vec<PmAction>,
    ) -> bool;

    /// A subflow from `local` to `remote` reached the established state.
    fn on_subflow_established(&mut self, local: IpAddr, remote: SocketAddr);

    /// A subflow from `local` to `remote` ended.
    fn on_subflow_closed(
        &mut self,
        view: &PmView<'_>,
        local: IpAddr,
        remote: SocketAddr,
        end: SubflowEnd,
    );

    /// The peer withdrew `remote`, an announced address this policy had
    /// accepted: it no longer counts against `add_addr_accepted` (as the
    /// kernel's counter goes down on REMOVE_ADDR).
    fn on_accepted_removed(&mut self, _remote: RemoteAddr) {}

    /// A local endpoint appeared while the connection runs (an interface
    /// came back, or the application added one).
    fn on_endpoint_added(&mut self, view: &PmView<'_>, ep: PmEndpoint, out: &mut Vec<PmAction>);

    /// A local endpoint went away: its subflows are not retried.
    fn on_endpoint_removed(&mut self, addr: IpAddr);

    /// Whether the peer may open one more subflow (an MP_JOIN SYN), with
    /// `extra` subflows beyond the first live.
    fn accept_join(&self, extra: usize) -> bool;

    /// The next deadline (a retry), if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Time passed: retries that are due.
    fn on_timeout(&mut self, view: &PmView<'_>, out: &mut Vec<PmAction>);
}

/// A path manager of `kind` over `endpoints` (the host's local endpoints,
/// their ids resolved) within `limits`.
pub fn build(kind: PmKind, limits: PmLimits, endpoints: Vec<PmEndpoint>) -> Box<dyn PathManager> {
    match kind {
        PmKind::Kernel => Box::new(KernelPm::new(endpoints, limits)),
        PmKind::Userspace => Box::new(UserspacePm::new(limits)),
    }
}
