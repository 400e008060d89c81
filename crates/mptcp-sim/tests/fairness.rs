//! "Do no harm" (RFC 6356 §2): an MPTCP connection whose two subflows
//! share one bottleneck must take no more than a plain TCP flow competing
//! with it there. Topology: client (two interfaces) and competitor (one)
//! reach the server through one 50 Mbit/s, 10 ms bottleneck with a
//! bandwidth-delay product of queue.

use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::connection::ConnectionHandle;
use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_sim::app::{AppConfig, AppRole, SizeRange, StreamApp};
use mptcp_sim::host::Host;
use mptcp_sim::topology::SharedBottleneck;
use mptcp_sim::{Duration, IfaceId, Instant, LinkConfig, Node, SimConfig, Simulator};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The server: accepts every connection and reads it, counting bytes per
/// connection inside a measurement window.
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

fn sender(seed: u64, local: IpAddr, mptcp: bool, cc: CcAlgorithm, addrs: &[IpAddr]) -> Peer {
    let mut config = EndpointConfig {
        seed,
        ..EndpointConfig::default()
    };
    config.connection.mptcp.enabled = mptcp;
    config.connection.mptcp.cc = cc;
    config.connection.subflow.cc = CcAlgorithm::Reno;
    let mut ep = Endpoint::new(config);
    for a in addrs {
        ep.add_address(*a, 1500);
    }
    let app = StreamApp::new(AppConfig {
        role: AppRole::Client {
            local,
            remote: SocketAddr::new(IpAddr::V4(SERVER), 80),
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

/// Bytes per second the MPTCP client and the TCP competitor get between
/// 10 s and 40 s.
fn share(cc: CcAlgorithm) -> (f64, f64) {
    let c0 = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
    let c1 = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
    let comp = IpAddr::V4(Ipv4Addr::new(10, 3, 0, 1));
    let bottleneck = LinkConfig::new(50_000_000, Duration::from_millis(10));
    let mut sim = Simulator::new(SimConfig::with_seed(5));
    let mut server = Endpoint::new(EndpointConfig {
        seed: 99,
        ..EndpointConfig::default()
    });
    server.add_address(IpAddr::V4(SERVER), 1500);
    server.listen(80);
    let (from, to) = (
        Instant::from_micros(10_000_000),
        Instant::from_micros(40_000_000),
    );
    let sink = Peer::Sink(Box::new(Sink {
        ep: server,
        conns: Vec::new(),
        window: (from, to),
        counted: BTreeMap::new(),
        now: Instant::ZERO,
    }));
    let net = SharedBottleneck::new([c0, c1], comp, SERVER, bottleneck).build(
        &mut sim,
        sender(1, c0, true, cc, &[c0, c1]),
        sender(2, comp, false, CcAlgorithm::Reno, &[comp]),
        sink,
    );
    sim.run_until(to + Duration::from_millis(1)).expect("run");
    let Peer::Sink(s) = sim.node(net.server) else {
        unreachable!("the server is the sink")
    };
    // Connection 0 was accepted first: the MPTCP client connects at the
    // same instant but its SYN is first in line; identify by subflow count.
    let secs = (to - from).as_secs_f64();
    let mut mptcp = 0.0;
    let mut tcp = 0.0;
    for (&h, &bytes) in &s.counted {
        let subflows = s.ep.connection(h).map_or(0, |c| c.subflows().count());
        if subflows > 1 {
            mptcp += bytes as f64 / secs;
        } else {
            tcp += bytes as f64 / secs;
        }
    }
    (mptcp, tcp)
}

#[test]
fn coupled_controllers_take_about_a_fair_half() {
    for cc in [CcAlgorithm::Lia, CcAlgorithm::Olia, CcAlgorithm::Balia] {
        let (mptcp, tcp) = share(cc);
        let ratio = mptcp / tcp;
        eprintln!(
            "{cc}: MPTCP {:.2} Mbit/s, TCP {:.2} Mbit/s, ratio {ratio:.2}",
            mptcp * 8e-6,
            tcp * 8e-6
        );
        // Fair is 1; the tolerance covers the sawtooth phases of a 30 s
        // window. Two uncoupled flows would take about twice as much.
        assert!((0.6..=1.45).contains(&ratio), "{cc}: ratio {ratio:.2}");
        assert!(
            (mptcp + tcp) * 8.0 > 0.85 * 50e6,
            "the bottleneck stays busy"
        );
    }
}

#[test]
fn uncoupled_subflows_take_more_than_their_share() {
    let (mptcp, tcp) = share(CcAlgorithm::Reno);
    let ratio = mptcp / tcp;
    eprintln!("reno (uncoupled): ratio {ratio:.2}");
    assert!(
        ratio > 1.45,
        "two uncoupled Reno subflows vs one: {ratio:.2}"
    );
}
