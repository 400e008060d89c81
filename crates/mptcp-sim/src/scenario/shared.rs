//! One MPTCP connection with two subflows through a single bottleneck
//! beside one plain TCP flow: how much of the link each takes ("do no harm",
//! RFC 6356 §2). The topology is [`SharedBottleneck`]: the client's two
//! interfaces and the competitor's one reach the server through one link.

use crate::SimError;
use crate::app::{AppConfig, AppRole, SizeRange, StreamApp};
use crate::host::Host;
use crate::link::config::LinkConfig;
use crate::node::{IfaceId, Node};
use crate::sim::{SimConfig, Simulator};
use crate::topology::SharedBottleneck;
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::connection::ConnectionHandle;
use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_proto::time::{Duration, Instant};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The shared-bottleneck run: who competes, over what, measured when.
#[derive(Clone, Debug)]
pub struct ShareSpec {
    /// The MPTCP connection's congestion control.
    pub cc: CcAlgorithm,
    /// The plain TCP competitor's congestion control (and that of the
    /// MPTCP client's plain-TCP fallback).
    pub tcp_cc: CcAlgorithm,
    /// The MPTCP connection's scheduler.
    pub scheduler: SchedulerKind,
    /// The shared link, both directions.
    pub bottleneck: LinkConfig,
    /// The simulator's seed.
    pub seed: u64,
    /// Bytes are counted when the server reads them inside this window.
    pub window: (Instant, Instant),
    /// Shared bottleneck detection at the MPTCP client.
    pub sbd: bool,
    /// How long the client's join waits before it carries data (see
    /// `MptcpConfig::join_data_delay`). Zero here, not the default: this
    /// lossless scenario is one deterministic trajectory, and the figures
    /// measured on it (`docs/performance.md`) hold for that trajectory;
    /// starting the join's data 1 to 40 ms later moves the share of looks
    /// at which the two subflows are grouped between 0.37 and 1.00.
    pub join_data_delay: Duration,
}

impl ShareSpec {
    /// MPTCP with `cc` against plain TCP of the same family (NewReno for a
    /// coupled controller, `cc` itself otherwise) through one 50 Mbit/s,
    /// 10 ms link with the default queue, counted from 10 s to 40 s.
    pub fn new(cc: CcAlgorithm) -> ShareSpec {
        ShareSpec {
            cc,
            tcp_cc: if cc.is_coupled() {
                CcAlgorithm::Reno
            } else {
                cc
            },
            scheduler: SchedulerKind::MinRtt,
            bottleneck: LinkConfig::new(50_000_000, Duration::from_millis(10)),
            seed: 5,
            window: (
                Instant::from_micros(10_000_000),
                Instant::from_micros(40_000_000),
            ),
            sbd: EndpointConfig::default().connection.mptcp.sbd,
            join_data_delay: Duration::ZERO,
        }
    }
}

/// What each flow got inside the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share {
    /// The MPTCP connection, stream bits per second.
    pub mptcp_bps: f64,
    /// The plain TCP flow, stream bits per second.
    pub tcp_bps: f64,
    /// Subflows the MPTCP connection had at the end (2 when both joined).
    pub subflows: usize,
    /// Share of the once-a-second looks inside the window at which shared
    /// bottleneck detection had decided on all the client's subflows and
    /// their controllers coupled them all (0 without detection).
    pub grouped: f64,
}

impl Share {
    /// MPTCP's goodput over the TCP's (1 is an even split).
    pub fn ratio(&self) -> f64 {
        if self.tcp_bps > 0.0 {
            self.mptcp_bps / self.tcp_bps
        } else {
            f64::INFINITY
        }
    }
}

/// The server: accepts every connection and reads it, counting bytes per
/// connection inside the window.
struct Sink {
    ep: Endpoint,
    conns: Vec<ConnectionHandle>,
    window: (Instant, Instant),
    counted: BTreeMap<ConnectionHandle, u64>,
    now: Instant,
}

impl Sink {
    fn drain(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            if let Event::Incoming(_) = ev
                && let Some(h) = self.ep.accept()
            {
                self.conns.push(h);
            }
        }
        let mut buf = [0u8; 65536];
        for &h in &self.conns {
            while let Ok(Some(n)) = self.ep.read(h, &mut buf) {
                if n == 0 {
                    break;
                }
                if self.now >= self.window.0 && self.now < self.window.1 {
                    *self.counted.entry(h).or_default() += n as u64;
                }
            }
        }
    }
}

/// The two senders are ordinary hosts; the server is the sink.
enum Peer {
    Host(Box<Host>),
    Sink(Box<Sink>),
}

impl Node for Peer {
    fn handle(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        match self {
            Peer::Host(h) => h.handle(now, iface, packet),
            Peer::Sink(s) => {
                s.now = now;
                s.ep.handle(now, packet);
                s.drain();
            }
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Peer::Host(h) => h.handle_timeout(now),
            Peer::Sink(s) => {
                s.now = now;
                s.ep.handle_timeout(now);
                s.drain();
            }
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Peer::Host(h) => h.poll_transmit(now, buf),
            Peer::Sink(s) => s.ep.poll_transmit(now, buf).map(|t| t.len),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Peer::Host(h) => h.poll_timeout(),
            Peer::Sink(s) => s.ep.poll_timeout(),
        }
    }
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const PORT: u16 = 80;

/// A sender that never runs out of data: MPTCP over every address of
/// `addrs` when `mptcp`, plain TCP otherwise.
fn sender(seed: u64, spec: &ShareSpec, mptcp: bool, addrs: &[IpAddr]) -> Peer {
    let mut config = EndpointConfig {
        seed,
        ..EndpointConfig::default()
    };
    config.connection.mptcp.enabled = mptcp;
    config.connection.mptcp.cc = spec.cc;
    config.connection.mptcp.scheduler = spec.scheduler;
    config.connection.mptcp.sbd = spec.sbd;
    config.connection.mptcp.join_data_delay = spec.join_data_delay;
    config.connection.subflow.cc = spec.tcp_cc;
    let mut ep = Endpoint::new(config);
    for a in addrs {
        ep.add_address(*a, 1500);
    }
    let app = StreamApp::new(AppConfig {
        role: AppRole::Client {
            local: addrs[0],
            remote: SocketAddr::new(IpAddr::V4(SERVER), PORT),
            start: Instant::ZERO,
        },
        send_bytes: 1 << 40,
        send_seed: seed,
        recv_seed: 0,
        write_size: SizeRange::fixed(64 * 1024),
        read_size: SizeRange::fixed(64 * 1024),
        read_pause: None,
        io_seed: seed,
        verify: false,
    });
    Peer::Host(Box::new(Host::new(ep, app)))
}

/// Run `spec` to the end of its window and measure each flow's share.
pub fn run_share(spec: &ShareSpec) -> Result<Share, SimError> {
    let c0 = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
    let c1 = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
    let comp = IpAddr::V4(Ipv4Addr::new(10, 3, 0, 1));
    let mut sim = Simulator::new(SimConfig::with_seed(spec.seed));
    let mut server = Endpoint::new(EndpointConfig {
        seed: 99,
        ..EndpointConfig::default()
    });
    server.add_address(IpAddr::V4(SERVER), 1500);
    server.listen(PORT);
    let sink = Peer::Sink(Box::new(Sink {
        ep: server,
        conns: Vec::new(),
        window: spec.window,
        counted: BTreeMap::new(),
        now: Instant::ZERO,
    }));
    let net = SharedBottleneck::new([c0, c1], comp, SERVER, spec.bottleneck.clone()).build(
        &mut sim,
        sender(1, spec, true, &[c0, c1]),
        sender(2, spec, false, &[comp]),
        sink,
    );
    let (mut looks, mut grouped) = (0u32, 0u32);
    let mut at = spec.window.0;
    while at < spec.window.1 {
        sim.run_until(at)?;
        looks += 1;
        grouped += u32::from(one_group(sim.node(net.client)));
        at += Duration::from_secs(1);
    }
    sim.run_until(spec.window.1 + Duration::from_millis(1))?;
    let Peer::Sink(s) = sim.node(net.server) else {
        unreachable!("the server is the sink")
    };
    // Both connect at the same instant; tell them apart by their subflows.
    let secs = (spec.window.1 - spec.window.0).as_secs_f64();
    let mut share = Share {
        mptcp_bps: 0.0,
        tcp_bps: 0.0,
        subflows: 0,
        grouped: f64::from(grouped) / f64::from(looks.max(1)),
    };
    for (&h, &bytes) in &s.counted {
        let subflows = s.ep.connection(h).map_or(0, |c| c.subflows().count());
        let bps = bytes as f64 * 8.0 / secs;
        if subflows > 1 {
            share.mptcp_bps += bps;
            share.subflows = subflows;
        } else {
            share.tcp_bps += bps;
        }
    }
    Ok(share)
}

/// Whether the client's connection has subflows, all decided on by
/// shared bottleneck detection and all coupled.
fn one_group(client: &Peer) -> bool {
    let Peer::Host(h) = client else {
        return false;
    };
    h.endpoint.connections().any(|c| {
        let Some(conn) = h.endpoint.connection(c) else {
            return false;
        };
        let ids: Vec<_> = conn.subflows().map(|s| s.id()).collect();
        ids.iter()
            .all(|&a| conn.sbd_group(a).is_some() && ids.iter().all(|&b| conn.sbd_couples(a, b)))
    })
}
