//! The simulator: topology, accessors and the run loop.

mod forward;
mod run;

use std::path::Path;

use mptcp_proto::time::{Duration, Instant};

use crate::event::{Event, EventQueue};
use crate::ip::Prefix;
use crate::link::Link;
use crate::link::config::{LinkConfig, LinkState};
use crate::middlebox::{Middlebox, MiddleboxStats, Nat, NatSide};
use crate::node::{IfaceConfig, IfaceId, LinkId, Node, NodeId};
use crate::observer::{Observer, ObserverId};
use crate::pcap::PcapCapture;
use crate::rng;
use crate::stats::{IfaceStats, LinkStats, SimStats, ThroughputSeries};

pub use run::StopReason;

/// Run-wide settings: the seed and the guard rails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The run seed; every random stream derives from it.
    pub seed: u64,
    /// Most events one simulator processes over its lifetime before runs fail
    /// with [`SimError::EventLimit`](crate::SimError::EventLimit).
    /// Default 100 million.
    pub max_events: u64,
    /// Latest virtual time a run may reach before failing with
    /// [`SimError::TimeLimit`](crate::SimError::TimeLimit). Default one hour.
    pub time_limit: Instant,
    /// Most packets drained from one node in one step; the rest are drained
    /// by a follow-up event at the same instant. Default 10,000.
    pub transmit_cap: usize,
    /// Bin width of the per-interface throughput series; zero disables them.
    /// Default 100 ms.
    pub throughput_bin: Duration,
}

impl SimConfig {
    /// The defaults with the given seed.
    pub fn with_seed(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            ..SimConfig::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 0,
            max_events: 100_000_000,
            time_limit: Instant::from_micros(3_600_000_000),
            transmit_cap: 10_000,
            throughput_bin: Duration::from_millis(100),
        }
    }
}

/// A NAT added with [`Simulator::add_nat`], numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatId(pub usize);

/// A host's node, or a router.
enum Kind<N> {
    Host(N),
    Router,
}

struct Iface {
    config: IfaceConfig,
    /// The outgoing link, if connected.
    link: Option<LinkId>,
    stats: IfaceStats,
}

/// Where a link goes: its interfaces, and the NAT it crosses.
struct Wiring {
    /// The sending interface.
    from: (NodeId, IfaceId),
    /// The receiving interface.
    to: (NodeId, IfaceId),
    /// The NAT (an index into the simulator's NATs) this link crosses, and
    /// which way.
    nat: Option<(usize, NatSide)>,
}

struct NodeSlot<N> {
    kind: Kind<N>,
    ifaces: Vec<Iface>,
    /// Static routes by destination prefix: a router's routing table, or a
    /// host's routes (which override the source-address rule).
    routes: Vec<(Prefix, IfaceId)>,
    /// The timeout currently scheduled, as last read from `poll_timeout`.
    timer: Option<Instant>,
    /// Bumped on every reschedule; older timer events are stale.
    timer_generation: u64,
}

/// A deterministic network of hosts (`N`), routers and links in virtual time.
pub struct Simulator<N> {
    config: SimConfig,
    now: Instant,
    events: EventQueue,
    nodes: Vec<NodeSlot<N>>,
    links: Vec<Link>,
    /// Where each link goes, by link number.
    wiring: Vec<Wiring>,
    observers: Vec<Box<dyn Observer>>,
    stats: SimStats,
    /// The buffer hosts write into.
    scratch: Vec<u8>,
    /// Recycled packet buffers.
    pool: Vec<Vec<u8>>,
    /// NATs, each shared by the two links of a path.
    nats: Vec<Nat>,
    /// Reused buffer for what a link's middleboxes let through.
    middlebox_out: Vec<Vec<u8>>,
}

impl<N: Node> Simulator<N> {
    /// An empty network at time zero.
    pub fn new(config: SimConfig) -> Simulator<N> {
        Simulator {
            config,
            now: Instant::ZERO,
            events: EventQueue::default(),
            nodes: Vec::new(),
            links: Vec::new(),
            wiring: Vec::new(),
            observers: Vec::new(),
            stats: SimStats::default(),
            scratch: vec![0; 65_535],
            pool: Vec::new(),
            nats: Vec::new(),
            middlebox_out: Vec::new(),
        }
    }

    /// The run settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a host. It is polled (transmit and timeout) at the current time
    /// once the run starts, so it may already have packets queued.
    pub fn add_host(&mut self, node: N) -> NodeId {
        let id = self.push_node(Kind::Host(node));
        self.events.push(self.now, Event::Wake { node: id });
        id
    }

    /// Adds a router with an empty routing table.
    pub fn add_router(&mut self) -> NodeId {
        self.push_node(Kind::Router)
    }

    fn push_node(&mut self, kind: Kind<N>) -> NodeId {
        self.nodes.push(NodeSlot {
            kind,
            ifaces: Vec::new(),
            routes: Vec::new(),
            timer: None,
            timer_generation: 0,
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Adds an interface to a host or router.
    pub fn add_iface(&mut self, node: NodeId, config: IfaceConfig) -> IfaceId {
        let bin = self.config.throughput_bin;
        let stats = IfaceStats {
            sent_series: ThroughputSeries::new(bin),
            received_series: ThroughputSeries::new(bin),
            ..IfaceStats::default()
        };
        let ifaces = &mut self.nodes[node.0].ifaces;
        ifaces.push(Iface {
            config,
            link: None,
            stats,
        });
        IfaceId(ifaces.len() - 1)
    }

    /// Adds a static route to a router: packets whose destination is in
    /// `prefix` leave through `iface`. The longest matching prefix wins; among
    /// equal lengths, the route added first.
    ///
    /// # Panics
    /// If `router` is a host or `iface` does not exist.
    pub fn add_route(&mut self, router: NodeId, prefix: Prefix, iface: IfaceId) {
        assert!(self.is_router(router), "{router:?} is a host, not a router");
        self.push_route(router, prefix, iface);
    }

    /// Adds a destination route to a host: a packet the host sends whose
    /// destination is in `prefix` leaves through `iface`, whatever its source
    /// address (even one no interface owns). The longest matching prefix
    /// wins; among equal lengths, the route added first. A packet whose
    /// destination matches none of the host's routes (or a host without
    /// routes) leaves by the source-address rule: through the first
    /// interface owning its source address.
    ///
    /// Use it for a host with one address reachable over several paths, to
    /// answer each peer over the path that peer lives on. Receiving needs no
    /// route: a host accepts every packet reaching any of its interfaces.
    ///
    /// # Panics
    /// If `host` is a router or `iface` does not exist.
    pub fn add_host_route(&mut self, host: NodeId, prefix: Prefix, iface: IfaceId) {
        assert!(!self.is_router(host), "{host:?} is a router, not a host");
        self.push_route(host, prefix, iface);
    }

    fn push_route(&mut self, node: NodeId, prefix: Prefix, iface: IfaceId) {
        let slot = &mut self.nodes[node.0];
        assert!(
            iface.0 < slot.ifaces.len(),
            "node {node:?} has no interface {iface:?}"
        );
        slot.routes.push((prefix, iface));
    }

    /// The static routes of a router or host, in the order they were added.
    pub fn routes(&self, node: NodeId) -> &[(Prefix, IfaceId)] {
        &self.nodes[node.0].routes
    }

    /// Adds a one-way link from interface `from` to interface `to` and
    /// schedules its up/down transitions.
    ///
    /// # Panics
    /// If `config` fails [`LinkConfig::validate`], an interface does not exist,
    /// or `from` already has an outgoing link.
    pub fn add_link(
        &mut self,
        from: (NodeId, IfaceId),
        to: (NodeId, IfaceId),
        config: LinkConfig,
    ) -> LinkId {
        if let Err(e) = config.validate() {
            panic!("invalid link configuration: {e}");
        }
        let id = LinkId(self.links.len());
        assert!(
            to.1.0 < self.nodes[to.0.0].ifaces.len(),
            "no interface {to:?}"
        );
        let out = &mut self.nodes[from.0.0].ifaces[from.1.0];
        assert!(
            out.link.is_none(),
            "interface {from:?} already has an outgoing link"
        );
        out.link = Some(id);
        let mut schedule = config.schedule.clone();
        schedule.sort_by_key(|&(at, _)| at);
        for (at, state) in schedule {
            let up = state == LinkState::Up;
            self.events
                .push(at.max(self.now), Event::LinkState { link: id, up });
        }
        let stream = rng::stream(self.config.seed, "link", id.0 as u64);
        self.links.push(Link::new(config, stream));
        self.wiring.push(Wiring {
            from,
            to,
            nat: None,
        });
        id
    }

    /// Connects two interfaces with a link each way; returns
    /// (`a`→`b`, `b`→`a`).
    pub fn connect(
        &mut self,
        a: NodeId,
        a_iface: IfaceId,
        b: NodeId,
        b_iface: IfaceId,
        forward: LinkConfig,
        backward: LinkConfig,
    ) -> (LinkId, LinkId) {
        let ab = self.add_link((a, a_iface), (b, b_iface), forward);
        let ba = self.add_link((b, b_iface), (a, a_iface), backward);
        (ab, ba)
    }

    /// Schedules a transition of `link` at `at` (or now, if `at` is past).
    pub fn schedule_link_state(&mut self, link: LinkId, at: Instant, state: LinkState) {
        let up = state == LinkState::Up;
        self.events
            .push(at.max(self.now), Event::LinkState { link, up });
    }

    /// The host `id`.
    ///
    /// # Panics
    /// If `id` is a router.
    pub fn node(&self, id: NodeId) -> &N {
        match &self.nodes[id.0].kind {
            Kind::Host(n) => n,
            Kind::Router => panic!("{id:?} is a router, not a host"),
        }
    }

    /// The host `id`, mutably. Prefer [`with_node`](Self::with_node) to change
    /// what the host sends: it polls the host afterwards.
    ///
    /// # Panics
    /// If `id` is a router.
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        match &mut self.nodes[id.0].kind {
            Kind::Host(n) => n,
            Kind::Router => panic!("{id:?} is a router, not a host"),
        }
    }

    /// Runs `f` on host `id` at the current time (e.g. an application call),
    /// then drains its transmissions and rereads its timeout.
    ///
    /// # Panics
    /// If `id` is a router.
    pub fn with_node<R>(&mut self, id: NodeId, f: impl FnOnce(&mut N, Instant) -> R) -> R {
        let now = self.now;
        let r = f(self.node_mut(id), now);
        self.service(id);
        r
    }

    /// Number of nodes (hosts and routers).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of one-way links.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Whether `id` is a router.
    pub fn is_router(&self, id: NodeId) -> bool {
        matches!(self.nodes[id.0].kind, Kind::Router)
    }

    /// The interfaces of `node`.
    pub fn ifaces(&self, node: NodeId) -> impl Iterator<Item = (IfaceId, &IfaceConfig)> {
        self.nodes[node.0]
            .ifaces
            .iter()
            .enumerate()
            .map(|(i, f)| (IfaceId(i), &f.config))
    }

    /// The counters of one interface.
    pub fn iface_stats(&self, node: NodeId, iface: IfaceId) -> &IfaceStats {
        &self.nodes[node.0].ifaces[iface.0].stats
    }

    /// The outgoing link of an interface, if connected.
    pub fn iface_link(&self, node: NodeId, iface: IfaceId) -> Option<LinkId> {
        self.nodes[node.0].ifaces[iface.0].link
    }

    /// The counters of one link.
    pub fn link_stats(&self, link: LinkId) -> &LinkStats {
        &self.links[link.0].stats
    }

    /// The configuration of one link.
    pub fn link_config(&self, link: LinkId) -> &LinkConfig {
        &self.links[link.0].config
    }

    /// The (sending, receiving) interfaces of one link.
    pub fn link_ends(&self, link: LinkId) -> ((NodeId, IfaceId), (NodeId, IfaceId)) {
        let w = &self.wiring[link.0];
        (w.from, w.to)
    }

    /// Appends a middlebox to `link`: it rewrites every packet offered from
    /// now on, after the link's earlier middleboxes (see
    /// [`LinkConfig`]'s stages). [`link_config`](Self::link_config) lists it.
    pub fn add_middlebox(&mut self, link: LinkId, middlebox: Middlebox) {
        self.links[link.0].config.middleboxes.push(middlebox);
    }

    /// What the middleboxes of `link` did (its NAT's work included).
    pub fn middlebox_stats(&self, link: LinkId) -> &MiddleboxStats {
        &self.links[link.0].middlebox_stats
    }

    /// Puts `nat` between two links in opposite directions: packets offered
    /// to `outbound` (leaving the private side) have their source
    /// translated, packets offered to `inbound` (toward the private side)
    /// their destination translated back, or are dropped
    /// ([`DropReason::Middlebox`](crate::DropReason::Middlebox)) when no
    /// mapping matches. The NAT runs at each link's entrance before its
    /// middleboxes; its counts go to each link's
    /// [`middlebox_stats`](Self::middlebox_stats). The peer on the public
    /// side needs a route to the NAT's public address over `inbound`.
    ///
    /// # Panics
    /// If either link already has a NAT.
    pub fn add_nat(&mut self, outbound: LinkId, inbound: LinkId, nat: Nat) -> NatId {
        let id = self.nats.len();
        for (link, side) in [(outbound, NatSide::Outbound), (inbound, NatSide::Inbound)] {
            let w = &mut self.wiring[link.0];
            assert!(w.nat.is_none(), "{link:?} already has a NAT");
            w.nat = Some((id, side));
        }
        self.nats.push(nat);
        NatId(id)
    }

    /// The NAT `id`, with its translation table.
    pub fn nat(&self, id: NatId) -> &Nat {
        &self.nats[id.0]
    }

    /// Whether a link is currently up.
    pub fn link_is_up(&self, link: LinkId) -> bool {
        self.links[link.0].is_up()
    }

    /// The run-wide counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Adds an observer; it sees every packet movement from now on.
    pub fn add_observer(&mut self, observer: Box<dyn Observer>) -> ObserverId {
        self.observers.push(observer);
        ObserverId(self.observers.len() - 1)
    }

    /// The observer `id`, if it is a `T`.
    pub fn observer<T: Observer>(&self, id: ObserverId) -> Option<&T> {
        let any: &dyn core::any::Any = self.observers.get(id.0)?.as_ref();
        any.downcast_ref()
    }

    /// The observer `id` mutably, if it is a `T`.
    pub fn observer_mut<T: Observer>(&mut self, id: ObserverId) -> Option<&mut T> {
        let any: &mut dyn core::any::Any = self.observers.get_mut(id.0)?.as_mut();
        any.downcast_mut()
    }

    /// Calls [`Observer::finish`] on every observer (flushing captures);
    /// returns the first error.
    pub fn finish_observers(&mut self) -> std::io::Result<()> {
        let mut result = Ok(());
        for o in &mut self.observers {
            let r = o.finish();
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Captures everything interface `iface` of `node` sends and receives into
    /// a pcap file at `path` (raw IP, microsecond timestamps). Call
    /// [`finish_observers`](Self::finish_observers) at the end to flush it.
    pub fn capture_pcap(
        &mut self,
        node: NodeId,
        iface: IfaceId,
        path: impl AsRef<Path>,
    ) -> std::io::Result<ObserverId> {
        let capture = PcapCapture::create(node, iface, path)?;
        Ok(self.add_observer(Box::new(capture)))
    }
}
