//! Hooks for invariant checkers, statistics and captures.

use core::any::Any;
use core::fmt;

use mptcp_proto::time::Instant;

use crate::link::config::LinkState;
use crate::node::{IfaceId, LinkId, NodeId};

/// Why the network dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Neither IPv4 nor IPv6, or shorter than its fixed header.
    Malformed,
    /// A host sent a packet whose source address belongs to none of its
    /// interfaces.
    NoSourceIface,
    /// The outgoing interface has no link attached.
    NotConnected,
    /// Larger than the outgoing interface's MTU.
    IfaceMtu,
    /// A router has no route for the destination.
    NoRoute,
    /// The link was down when the packet was offered, or went down while the
    /// packet was queued, being serialized or propagating.
    LinkDown,
    /// Larger than the link's MTU.
    LinkMtu,
    /// The link's drop-tail queue had no room.
    QueueFull,
    /// Random loss on the wire.
    Loss,
    /// A middlebox refused it (a NAT without a mapping for an inbound
    /// packet).
    Middlebox,
}

impl DropReason {
    /// Every reason, in declaration order (the index used by
    /// [`DropCounts`](crate::DropCounts)).
    pub const ALL: [DropReason; 10] = [
        DropReason::Malformed,
        DropReason::NoSourceIface,
        DropReason::NotConnected,
        DropReason::IfaceMtu,
        DropReason::NoRoute,
        DropReason::LinkDown,
        DropReason::LinkMtu,
        DropReason::QueueFull,
        DropReason::Loss,
        DropReason::Middlebox,
    ];

    /// A short snake_case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NoSourceIface => "no_source_iface",
            DropReason::NotConnected => "not_connected",
            DropReason::IfaceMtu => "iface_mtu",
            DropReason::NoRoute => "no_route",
            DropReason::LinkDown => "link_down",
            DropReason::LinkMtu => "link_mtu",
            DropReason::QueueFull => "queue_full",
            DropReason::Loss => "loss",
            DropReason::Middlebox => "middlebox",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropSite {
    /// Inside a node, before an interface was chosen
    /// ([`DropReason::Malformed`], [`DropReason::NoSourceIface`],
    /// [`DropReason::NoRoute`]).
    Node(NodeId),
    /// At an outgoing interface ([`DropReason::NotConnected`],
    /// [`DropReason::IfaceMtu`]).
    Iface(NodeId, IfaceId),
    /// On a link (every other reason).
    Link(LinkId),
}

/// A handle to an observer added with
/// [`Simulator::add_observer`](crate::Simulator::add_observer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObserverId(pub usize);

/// Callbacks on every packet movement, for invariant checks and statistics.
///
/// The simulator does not parse anything above IP; an observer may. Every
/// method has an empty default. For one packet the calls come in this order:
/// `on_sent` (it left a node through an interface), `on_enqueued` (a link
/// accepted it), then either `on_dropped` or `on_delivered` (it reached the
/// far interface; a duplicated packet is delivered twice). Packets dropped
/// before reaching a link get `on_dropped` without `on_enqueued`.
pub trait Observer: Any {
    /// A node (host or router) handed `packet` to its interface `iface`.
    fn on_sent(&mut self, now: Instant, node: NodeId, iface: IfaceId, packet: &[u8]) {
        let _ = (now, node, iface, packet);
    }

    /// `link` accepted `packet` into its queue, which now holds `queue_bytes`
    /// (including this packet).
    fn on_enqueued(&mut self, now: Instant, link: LinkId, packet: &[u8], queue_bytes: u64) {
        let _ = (now, link, packet, queue_bytes);
    }

    /// The network dropped `packet` at `site` for `reason`. Packets lost in
    /// flight when their link goes down are reported when they would have
    /// arrived.
    fn on_dropped(&mut self, now: Instant, site: DropSite, reason: DropReason, packet: &[u8]) {
        let _ = (now, site, reason, packet);
    }

    /// `packet` crossed `link` and arrived at interface `iface` of `node`.
    fn on_delivered(
        &mut self,
        now: Instant,
        link: LinkId,
        node: NodeId,
        iface: IfaceId,
        packet: &[u8],
    ) {
        let _ = (now, link, node, iface, packet);
    }

    /// `link` changed state.
    fn on_link_state(&mut self, now: Instant, link: LinkId, state: LinkState) {
        let _ = (now, link, state);
    }

    /// The run is over: flush and close outputs. Called by
    /// [`Simulator::finish_observers`](crate::Simulator::finish_observers).
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
