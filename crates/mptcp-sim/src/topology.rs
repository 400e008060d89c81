//! Ready-made networks for multipath experiments, generic over the node type.
//!
//! - [`MultiPath`]: a client with one interface per path and a server with a
//!   single address reachable over every path, each path one point-to-point
//!   link pair. The server's host routes send its replies to client address
//!   `i` over path `i`.
//! - [`SharedBottleneck`]: a multi-homed client and a single-homed
//!   competitor reaching one server through two routers joined by a single
//!   bottleneck link; every other link is fast.
//!
//! Every route is a host route (`/32` or `/128`) to a known address: a packet
//! to any other address is dropped with
//! [`DropReason::NoRoute`](crate::DropReason::NoRoute) (routers) or leaves by
//! the source-address rule (hosts), so no routing loop can form. Addresses
//! may be IPv4 or IPv6; a path works when the client and server addresses of
//! that path are of the same family.

use std::net::IpAddr;

use mptcp_proto::time::Duration;

use crate::ip::Prefix;
use crate::link::config::LinkConfig;
use crate::node::{IfaceConfig, IfaceId, LinkId, Node, NodeId};
use crate::sim::Simulator;

/// The two directions of a duplex connection between two interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkPair {
    /// The direction toward the server.
    pub forward: LinkId,
    /// The direction toward the client (or competitor).
    pub backward: LinkId,
}

/// One path of a [`MultiPath`] network.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSpec {
    /// The client's address on this path (on its own interface).
    pub client_addr: IpAddr,
    /// The client → server link.
    pub forward: LinkConfig,
    /// The server → client link.
    pub backward: LinkConfig,
}

/// A client and a server joined by N disjoint point-to-point paths.
///
/// Path `i` connects client interface `i` (owning the path's client address)
/// to server interface `i` with one link each way. The server has one
/// address, configured on every one of its interfaces (it receives on all of
/// them; its packets with a destination no route claims leave through
/// interface 0), and one host route per path: a packet to client address `i`
/// leaves through server interface `i`, so a reply follows the path its
/// request came over.
///
/// ```
/// # use mptcp_sim::{Duration, Instant, LinkConfig, IfaceId, Node, Simulator, SimConfig};
/// # use mptcp_sim::topology::MultiPath;
/// # struct Quiet;
/// # impl Node for Quiet {
/// #     fn handle(&mut self, _: Instant, _: IfaceId, _: &[u8]) {}
/// #     fn handle_timeout(&mut self, _: Instant) {}
/// #     fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> { None }
/// #     fn poll_timeout(&self) -> Option<Instant> { None }
/// # }
/// let wifi = LinkConfig::new(50_000_000, Duration::from_millis(10));
/// let lte = LinkConfig::new(20_000_000, Duration::from_millis(40));
/// let net = MultiPath::new([10, 0, 0, 2])
///     .path([10, 1, 0, 1], wifi.clone(), wifi)
///     .path([10, 2, 0, 1], lte.clone(), lte);
/// let mut sim = Simulator::new(SimConfig::with_seed(1));
/// let ids = net.build(&mut sim, Quiet, Quiet);
/// assert_eq!(ids.paths.len(), 2);
/// assert_eq!(ids.paths[1].client_iface, IfaceId(1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiPath {
    server_addr: IpAddr,
    paths: Vec<PathSpec>,
}

/// The identifiers of one path of a built [`MultiPath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathIds {
    /// The client's address on this path.
    pub client_addr: IpAddr,
    /// The client's interface.
    pub client_iface: IfaceId,
    /// The server's interface.
    pub server_iface: IfaceId,
    /// Client → server (`forward`) and server → client (`backward`).
    pub links: LinkPair,
}

/// What [`MultiPath::build`] created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiPathNet {
    /// The client host.
    pub client: NodeId,
    /// The server host.
    pub server: NodeId,
    /// The server's address.
    pub server_addr: IpAddr,
    /// The paths, in the order they were specified.
    pub paths: Vec<PathIds>,
}

impl MultiPath {
    /// A network without paths yet, around a server with address
    /// `server_addr`.
    pub fn new(server_addr: impl Into<IpAddr>) -> MultiPath {
        MultiPath {
            server_addr: server_addr.into(),
            paths: Vec::new(),
        }
    }

    /// Adds a path from the client address `client_addr` (on a new client
    /// interface) to the server, with a `forward` (client → server) and a
    /// `backward` (server → client) link.
    pub fn path(
        mut self,
        client_addr: impl Into<IpAddr>,
        forward: LinkConfig,
        backward: LinkConfig,
    ) -> MultiPath {
        self.paths.push(PathSpec {
            client_addr: client_addr.into(),
            forward,
            backward,
        });
        self
    }

    /// The server's address.
    pub fn server_addr(&self) -> IpAddr {
        self.server_addr
    }

    /// The paths specified so far.
    pub fn paths(&self) -> &[PathSpec] {
        &self.paths
    }

    /// Adds the client and server hosts to `sim` and wires them; see
    /// [`attach`](Self::attach).
    ///
    /// # Panics
    /// As [`attach`](Self::attach).
    pub fn build<N: Node>(&self, sim: &mut Simulator<N>, client: N, server: N) -> MultiPathNet {
        let client = sim.add_host(client);
        let server = sim.add_host(server);
        self.attach(sim, client, server)
    }

    /// Wires hosts already in `sim`: one new interface per path on each, the
    /// links, and the server's host routes. Interface numbers continue after
    /// the hosts' existing interfaces.
    ///
    /// # Panics
    /// If there is no path, two paths share a client address, a client
    /// address equals the server's, a node is a router, or a link
    /// configuration is invalid.
    pub fn attach<N: Node>(
        &self,
        sim: &mut Simulator<N>,
        client: NodeId,
        server: NodeId,
    ) -> MultiPathNet {
        assert!(!self.paths.is_empty(), "a multipath network needs a path");
        let addrs: Vec<IpAddr> = self.paths.iter().map(|p| p.client_addr).collect();
        assert_distinct(addrs.iter().copied().chain([self.server_addr]));
        let paths = self
            .paths
            .iter()
            .map(|p| {
                // Each end's interface has the MTU of the link it sends on.
                let client_iface = sim.add_iface(
                    client,
                    IfaceConfig::new(p.client_addr).with_mtu(p.forward.mtu),
                );
                let server_iface = sim.add_iface(
                    server,
                    IfaceConfig::new(self.server_addr).with_mtu(p.backward.mtu),
                );
                let (forward, backward) = sim.connect(
                    client,
                    client_iface,
                    server,
                    server_iface,
                    p.forward.clone(),
                    p.backward.clone(),
                );
                sim.add_host_route(server, Prefix::host(p.client_addr), server_iface);
                PathIds {
                    client_addr: p.client_addr,
                    client_iface,
                    server_iface,
                    links: LinkPair { forward, backward },
                }
            })
            .collect();
        MultiPathNet {
            client,
            server,
            server_addr: self.server_addr,
            paths,
        }
    }
}

/// A dumbbell: a multi-homed client and a competitor share one bottleneck.
///
/// ```text
/// client iface 0 ──┐
/// client iface 1 ──┤                                   ┌── server
///      ...         ├── router 1 ══ bottleneck ══ router 2
/// client iface K-1 ┤
/// competitor ──────┘
/// ```
/// Every host interface has its own access link pair to its router (default
/// [`SharedBottleneck::ACCESS_RATE_BPS`] and
/// [`SharedBottleneck::ACCESS_DELAY`]); router 1 → router 2 is the
/// bottleneck, router 2 → router 1 its return direction (by default the same
/// configuration). Router 1 routes the server's address over the bottleneck
/// and each client and competitor address to its access link; router 2
/// routes the server's address to the server and every other known address
/// back over the bottleneck. Hosts leave by their source address (each
/// interface owns one address).
#[derive(Clone, Debug, PartialEq)]
pub struct SharedBottleneck {
    client_addrs: Vec<IpAddr>,
    competitor_addr: IpAddr,
    server_addr: IpAddr,
    bottleneck: LinkConfig,
    bottleneck_back: LinkConfig,
    access: LinkConfig,
}

/// What [`SharedBottleneck::build`] created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BottleneckNet {
    /// The multi-homed client host.
    pub client: NodeId,
    /// The client's interfaces, in the order of its addresses.
    pub client_ifaces: Vec<IfaceId>,
    /// The client's access links (forward: client → router 1), per interface.
    pub client_access: Vec<LinkPair>,
    /// The single-homed competitor host.
    pub competitor: NodeId,
    /// The competitor's interface.
    pub competitor_iface: IfaceId,
    /// The competitor's access links (forward: competitor → router 1).
    pub competitor_access: LinkPair,
    /// The server host.
    pub server: NodeId,
    /// The server's interface.
    pub server_iface: IfaceId,
    /// The server's access links (forward: router 2 → server).
    pub server_access: LinkPair,
    /// The router on the clients' side.
    pub router1: NodeId,
    /// The router on the server's side.
    pub router2: NodeId,
    /// Router 1 → router 2 (`forward`, the bottleneck) and back.
    pub bottleneck: LinkPair,
}

impl SharedBottleneck {
    /// Default rate of the access links: 10 Gbit/s.
    pub const ACCESS_RATE_BPS: u64 = 10_000_000_000;
    /// Default one-way delay of the access links: 1 ms.
    pub const ACCESS_DELAY: Duration = Duration::from_millis(1);

    /// A client with one interface per address of `client_addrs`, a
    /// competitor at `competitor_addr` and a server at `server_addr`, with
    /// `bottleneck` (rate, delay, queue, ...) between the routers in both
    /// directions and the default access links.
    pub fn new<A: Into<IpAddr>>(
        client_addrs: impl IntoIterator<Item = A>,
        competitor_addr: impl Into<IpAddr>,
        server_addr: impl Into<IpAddr>,
        bottleneck: LinkConfig,
    ) -> SharedBottleneck {
        SharedBottleneck {
            client_addrs: client_addrs.into_iter().map(Into::into).collect(),
            competitor_addr: competitor_addr.into(),
            server_addr: server_addr.into(),
            bottleneck_back: bottleneck.clone(),
            bottleneck,
            access: LinkConfig::new(Self::ACCESS_RATE_BPS, Self::ACCESS_DELAY),
        }
    }

    /// Sets the router 2 → router 1 link (the bottleneck's return direction).
    pub fn bottleneck_back(mut self, config: LinkConfig) -> SharedBottleneck {
        self.bottleneck_back = config;
        self
    }

    /// Sets the configuration of every access link (both directions).
    pub fn access(mut self, config: LinkConfig) -> SharedBottleneck {
        self.access = config;
        self
    }

    /// The client's addresses.
    pub fn client_addrs(&self) -> &[IpAddr] {
        &self.client_addrs
    }

    /// The competitor's address.
    pub fn competitor_addr(&self) -> IpAddr {
        self.competitor_addr
    }

    /// The server's address.
    pub fn server_addr(&self) -> IpAddr {
        self.server_addr
    }

    /// Adds the three hosts and two routers to `sim` and wires them.
    ///
    /// # Panics
    /// If the client has no address, two hosts' addresses coincide, or a link
    /// configuration is invalid.
    pub fn build<N: Node>(
        &self,
        sim: &mut Simulator<N>,
        client: N,
        competitor: N,
        server: N,
    ) -> BottleneckNet {
        assert!(!self.client_addrs.is_empty(), "the client needs an address");
        let all = self.client_addrs.iter().copied();
        assert_distinct(all.chain([self.competitor_addr, self.server_addr]));
        let client = sim.add_host(client);
        let competitor = sim.add_host(competitor);
        let server = sim.add_host(server);
        let (router1, router2) = (sim.add_router(), sim.add_router());
        let r1_out = sim.add_iface(
            router1,
            IfaceConfig::unnumbered().with_mtu(self.bottleneck.mtu),
        );
        let r2_in = sim.add_iface(
            router2,
            IfaceConfig::unnumbered().with_mtu(self.bottleneck_back.mtu),
        );
        let (forward, backward) = sim.connect(
            router1,
            r1_out,
            router2,
            r2_in,
            self.bottleneck.clone(),
            self.bottleneck_back.clone(),
        );
        let server_host = Prefix::host(self.server_addr);
        sim.add_route(router1, server_host, r1_out);
        let (client_ifaces, client_access) = self
            .client_addrs
            .iter()
            .map(|&addr| self.attach(sim, client, addr, router1, router2, r2_in))
            .unzip();
        let (competitor_iface, competitor_access) = self.attach(
            sim,
            competitor,
            self.competitor_addr,
            router1,
            router2,
            r2_in,
        );
        let server_iface = sim.add_iface(
            server,
            IfaceConfig::new(self.server_addr).with_mtu(self.access.mtu),
        );
        let r2_out = sim.add_iface(router2, IfaceConfig::unnumbered().with_mtu(self.access.mtu));
        let (down, up) = sim.connect(
            router2,
            r2_out,
            server,
            server_iface,
            self.access.clone(),
            self.access.clone(),
        );
        sim.add_route(router2, server_host, r2_out);
        BottleneckNet {
            client,
            client_ifaces,
            client_access,
            competitor,
            competitor_iface,
            competitor_access,
            server,
            server_iface,
            server_access: LinkPair {
                forward: down,
                backward: up,
            },
            router1,
            router2,
            bottleneck: LinkPair { forward, backward },
        }
    }

    /// Gives `host` an interface with `addr`, an access link pair to router
    /// 1, and the routes to `addr` on both routers.
    fn attach<N: Node>(
        &self,
        sim: &mut Simulator<N>,
        host: NodeId,
        addr: IpAddr,
        router1: NodeId,
        router2: NodeId,
        r2_back: IfaceId,
    ) -> (IfaceId, LinkPair) {
        let iface = sim.add_iface(host, IfaceConfig::new(addr).with_mtu(self.access.mtu));
        let r1_iface = sim.add_iface(router1, IfaceConfig::unnumbered().with_mtu(self.access.mtu));
        let (forward, backward) = sim.connect(
            host,
            iface,
            router1,
            r1_iface,
            self.access.clone(),
            self.access.clone(),
        );
        sim.add_route(router1, Prefix::host(addr), r1_iface);
        sim.add_route(router2, Prefix::host(addr), r2_back);
        (iface, LinkPair { forward, backward })
    }
}

/// Panics if an address occurs twice.
fn assert_distinct(addrs: impl Iterator<Item = IpAddr>) {
    let mut seen = Vec::new();
    for a in addrs {
        assert!(!seen.contains(&a), "address {a} is used twice");
        seen.push(a);
    }
}
