//! The node contract and the handles the simulator gives out.

use std::net::IpAddr;

use mptcp_proto::time::Instant;

/// A simulated host: a sans-IO protocol stack (or a toy in tests).
///
/// The simulator calls [`handle`](Node::handle) or
/// [`handle_timeout`](Node::handle_timeout), then drains
/// [`poll_transmit`](Node::poll_transmit) until it returns `None` and reads
/// [`poll_timeout`](Node::poll_timeout) once. It does the same after
/// [`Simulator::with_node`](crate::Simulator::with_node).
pub trait Node {
    /// A packet (a complete IPv4 or IPv6 packet) arrived on interface `iface`
    /// of this host. Hosts receive every packet that reaches their interfaces,
    /// whatever its destination address.
    fn handle(&mut self, now: Instant, iface: IfaceId, packet: &[u8]);

    /// A previously announced timeout is due. May be called early or
    /// spuriously; it must then be harmless.
    fn handle_timeout(&mut self, now: Instant);

    /// Write the next outgoing IP packet into `buf` (65535 bytes) and return
    /// its length, or `None` when there is nothing to send. The simulator picks
    /// the outgoing interface by the host's destination routes
    /// ([`Simulator::add_host_route`](crate::Simulator::add_host_route)), and
    /// when none matches, by the packet's source address.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;

    /// The earliest time the node wants [`handle_timeout`](Node::handle_timeout),
    /// if any. A time in the past means "now".
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A host or router in one [`Simulator`](crate::Simulator), in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

/// An interface of one node, numbered from 0 in creation order per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfaceId(pub usize);

/// A one-way link, numbered from 0 in creation order; the number also selects
/// the link's random stream (see [`derive_seed`](crate::derive_seed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// The default interface MTU, in IP bytes.
pub const DEFAULT_MTU: u32 = 1500;

/// An interface's addresses and MTU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceConfig {
    /// The addresses that select this interface as a packet's way out (hosts,
    /// for packets no host route claims) and that the interface answers to.
    /// May mix IPv4 and IPv6; the same address may be on several interfaces
    /// (the first one is the source-rule choice).
    pub addrs: Vec<IpAddr>,
    /// Largest IP packet this interface sends; larger ones are dropped with
    /// [`DropReason::IfaceMtu`](crate::DropReason::IfaceMtu). Default 1500.
    pub mtu: u32,
}

impl IfaceConfig {
    /// An interface with one address and the default MTU of 1500 bytes.
    pub fn new(addr: impl Into<IpAddr>) -> IfaceConfig {
        IfaceConfig {
            addrs: vec![addr.into()],
            mtu: DEFAULT_MTU,
        }
    }

    /// An interface without addresses (typical for router interfaces).
    pub fn unnumbered() -> IfaceConfig {
        IfaceConfig {
            addrs: Vec::new(),
            mtu: DEFAULT_MTU,
        }
    }

    /// Adds another address.
    pub fn with_addr(mut self, addr: impl Into<IpAddr>) -> IfaceConfig {
        self.addrs.push(addr.into());
        self
    }

    /// Sets the MTU.
    pub fn with_mtu(mut self, mtu: u32) -> IfaceConfig {
        self.mtu = mtu;
        self
    }
}
