//! Host routes: a host's destination routes override the source-address rule;
//! the `MultiPath` topology relies on them.

mod common;

use std::net::{IpAddr, Ipv6Addr};

use common::*;
use mptcp_sim::topology::MultiPath;
use mptcp_sim::{
    DropReason, Duration, IfaceConfig, IfaceId, Instant, LinkConfig, Node, NodeId, Prefix,
    SimConfig, Simulator,
};

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

const SERVER: std::net::Ipv4Addr = B;

/// A host S (10.0.0.2 on interface 0 only, sending `flows`) with `n`
/// interfaces, interface `i` linked to its own sink host. Returns the sim, S,
/// and the sinks.
fn fan_out(n: usize, flows: Vec<Flow>) -> (Simulator<Toy>, NodeId, Vec<NodeId>) {
    let mut sim = Simulator::new(SimConfig::with_seed(1));
    let s = sim.add_host(Toy::sending(flows));
    let sinks = (0..n)
        .map(|i| {
            let config = if i == 0 {
                IfaceConfig::new(SERVER)
            } else {
                IfaceConfig::unnumbered()
            };
            let si = sim.add_iface(s, config);
            let t = sim.add_host(Toy::sink());
            let ti = sim.add_iface(t, IfaceConfig::new(ip(172, 16, i as u8, 1)));
            let link = LinkConfig::new(100_000_000, Duration::from_millis(1));
            sim.connect(s, si, t, ti, link.clone(), link);
            t
        })
        .collect();
    (sim, s, sinks)
}

/// Which sink received each flow (flow id → sink index).
fn receivers(sim: &Simulator<Toy>, sinks: &[NodeId], flows: u32) -> Vec<Option<usize>> {
    (0..flows)
        .map(|f| {
            let got: Vec<usize> = (0..sinks.len())
                .filter(|&i| !sim.node(sinks[i]).seqs(f).is_empty())
                .collect();
            assert!(got.len() <= 1, "flow {f} reached {got:?}");
            got.first().copied()
        })
        .collect()
}

#[test]
fn routes_win_over_the_source_rule_longest_prefix_first() {
    let to = |id: u32, dst| Flow::new(id, SERVER, dst, 100, 2);
    let flows = vec![
        to(0, ip(10, 1, 0, 5)),    // 10.1.0.0/16 → iface 1, over the /8
        to(1, ip(10, 3, 0, 1)),    // only 10.0.0.0/8 → iface 2
        to(2, ip(10, 1, 9, 9)),    // 10.1.9.0/24 → iface 3
        to(3, ip(192, 168, 1, 1)), // no route: source rule → iface 0
        // A source no interface owns still leaves by a matching route.
        Flow::new(4, ip(10, 9, 9, 9), ip(10, 1, 0, 6), 100, 2),
        // ... but is dropped without one.
        Flow::new(5, ip(10, 9, 9, 9), ip(192, 168, 0, 1), 100, 2),
    ];
    let (mut sim, s, sinks) = fan_out(4, flows);
    sim.add_host_route(s, pfx("10.0.0.0/8"), IfaceId(2));
    sim.add_host_route(s, pfx("10.1.0.0/16"), IfaceId(1));
    sim.add_host_route(s, pfx("10.1.9.0/24"), IfaceId(3));
    // Same length as an earlier route: the first one added wins.
    sim.add_host_route(s, pfx("10.1.0.0/16"), IfaceId(2));
    assert_eq!(sim.routes(s).len(), 4);
    sim.run_until(Instant::from_micros(100_000)).unwrap();
    assert_eq!(
        receivers(&sim, &sinks, 6),
        [Some(1), Some(2), Some(3), Some(0), Some(1), None]
    );
    assert_eq!(sim.stats().dropped.packets(DropReason::NoSourceIface), 2);
    assert_eq!(sim.iface_stats(s, IfaceId(1)).sent_packets, 4);
}

#[test]
fn without_routes_the_source_rule_applies() {
    let flows = vec![
        Flow::new(0, SERVER, ip(10, 1, 0, 5), 100, 3),
        Flow::new(1, ip(10, 9, 9, 9), ip(10, 1, 0, 5), 100, 1),
    ];
    let (mut sim, s, sinks) = fan_out(2, flows);
    sim.run_until(Instant::from_micros(100_000)).unwrap();
    assert_eq!(receivers(&sim, &sinks, 2), [Some(0), None]);
    assert_eq!(sim.stats().dropped.packets(DropReason::NoSourceIface), 1);
    assert!(sim.routes(s).is_empty());
}

#[test]
#[should_panic(expected = "is a router")]
fn host_routes_are_for_hosts() {
    let mut sim: Simulator<Toy> = Simulator::new(SimConfig::default());
    let r = sim.add_router();
    let i = sim.add_iface(r, IfaceConfig::unnumbered());
    sim.add_host_route(r, Prefix::default_v4(), i);
}

/// Sends one 60-byte IPv6 packet per (source, destination) pair, and counts
/// what it receives per interface.
#[derive(Default)]
struct V6 {
    out: Vec<(Ipv6Addr, Ipv6Addr)>,
    received: Vec<IfaceId>,
}

impl Node for V6 {
    fn handle(&mut self, _: Instant, iface: IfaceId, _: &[u8]) {
        self.received.push(iface);
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
        let (src, dst) = self.out.pop()?;
        buf[..60].fill(0);
        buf[0] = 0x60;
        buf[4..6].copy_from_slice(&20u16.to_be_bytes());
        buf[6] = 17;
        buf[8..24].copy_from_slice(&src.octets());
        buf[24..40].copy_from_slice(&dst.octets());
        Some(60)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn ipv6_host_routes() {
    let me = v6("2001:db8::2");
    let mut sim = Simulator::new(SimConfig::with_seed(1));
    let s = sim.add_host(V6 {
        // Popped from the back.
        out: vec![
            (me, v6("2001:db8:9::1")),    // no route: source rule → 0
            (me, v6("2001:db8:1:2::1")),  // /64 → 2
            (me, v6("2001:db8:1:ff::1")), // /48 → 1
        ],
        ..V6::default()
    });
    let sinks: Vec<NodeId> = (0..3)
        .map(|i| {
            // The one address on every interface (weak-host receiving).
            let si = sim.add_iface(s, IfaceConfig::new(me));
            let t = sim.add_host(V6::default());
            let ti = sim.add_iface(t, IfaceConfig::new(v6(&format!("2001:db8:f::{i}"))));
            sim.connect(s, si, t, ti, LinkConfig::ideal(), LinkConfig::ideal());
            t
        })
        .collect();
    sim.add_host_route(s, pfx("2001:db8:1::/48"), IfaceId(1));
    sim.add_host_route(s, pfx("2001:db8:1:2::/64"), IfaceId(2));
    // An IPv4 route never matches an IPv6 destination.
    sim.add_host_route(s, Prefix::default_v4(), IfaceId(1));
    sim.run_until(Instant::from_micros(10)).unwrap();
    let counts: Vec<usize> = sinks.iter().map(|&t| sim.node(t).received.len()).collect();
    assert_eq!(counts, [1, 1, 1]);
    for (i, _) in sinks.iter().enumerate() {
        assert_eq!(sim.iface_stats(s, IfaceId(i)).sent_packets, 1);
    }
}

const CLIENT_ADDRS: [[u8; 4]; 3] = [[10, 1, 0, 1], [10, 2, 0, 1], [10, 3, 0, 1]];

#[test]
fn multipath_routes_deliver_both_ways_on_each_path() {
    let path = |ms| LinkConfig::new(20_000_000, Duration::from_millis(ms));
    let mut mp = MultiPath::new(SERVER);
    for (i, a) in CLIENT_ADDRS.iter().enumerate() {
        let d = 5 * (i as u64 + 1);
        mp = mp.path(*a, path(d), path(d + 1));
    }
    let n = CLIENT_ADDRS.len();
    let ups = (0..n).map(|i| Flow::new(i as u32, CLIENT_ADDRS[i].into(), SERVER, 200, 10));
    let downs = (0..n).map(|i| Flow::new(10 + i as u32, SERVER, CLIENT_ADDRS[i].into(), 300, 7));
    let mut sim = Simulator::new(SimConfig::with_seed(2));
    let net = mp.build(
        &mut sim,
        Toy::sending(ups.collect()),
        Toy::sending(downs.collect()),
    );
    assert_eq!(net.server_addr, IpAddr::from(SERVER));
    sim.run_until(Instant::from_micros(200_000)).unwrap();

    let (client, server) = (sim.node(net.client), sim.node(net.server));
    for (i, p) in net.paths.iter().enumerate() {
        assert_eq!(p.client_addr, IpAddr::from(CLIENT_ADDRS[i]));
        assert_eq!((p.client_iface, p.server_iface), (IfaceId(i), IfaceId(i)));
        // Up: flow i arrives on server interface i.
        let up: Vec<_> = server
            .received
            .iter()
            .filter(|r| r.flow == i as u32)
            .collect();
        assert_eq!(up.len(), 10);
        assert!(up.iter().all(|r| r.iface == p.server_iface));
        // Down: flow 10 + i, sent from the single server address, arrives on
        // client interface i.
        let down: Vec<_> = client
            .received
            .iter()
            .filter(|r| r.flow == 10 + i as u32)
            .collect();
        assert_eq!(down.len(), 7);
        assert!(down.iter().all(|r| r.iface == p.client_iface));
        assert_eq!(sim.link_stats(p.links.forward).delivered_packets, 10);
        assert_eq!(sim.link_stats(p.links.backward).delivered_packets, 7);
        let ends = sim.link_ends(p.links.forward);
        assert_eq!(
            ends,
            ((net.client, p.client_iface), (net.server, p.server_iface))
        );
        // The first packet's one-way delay is the path's.
        let d = 5_000 * (i as u64 + 1);
        assert!(up[0].at.as_micros() >= d && up[0].at.as_micros() < d + 200);
    }
    assert_eq!(sim.stats().dropped.total_packets(), 0);
}

#[test]
fn multipath_over_ipv6() {
    let server = v6("2001:db8::2");
    let clients = [v6("2001:db8:1::1"), v6("2001:db8:2::1")];
    let mp = MultiPath::new(server)
        .path(clients[0], LinkConfig::ideal(), LinkConfig::ideal())
        .path(clients[1], LinkConfig::ideal(), LinkConfig::ideal());
    let mut sim = Simulator::new(SimConfig::with_seed(1));
    let net = mp.build(
        &mut sim,
        V6 {
            out: vec![
                (clients[0], server),
                (clients[1], server),
                (clients[1], server),
            ],
            ..V6::default()
        },
        V6 {
            out: vec![
                (server, clients[1]),
                (server, clients[0]),
                (server, clients[1]),
            ],
            ..V6::default()
        },
    );
    sim.run_until(Instant::from_micros(10)).unwrap();
    let mut up = sim.node(net.server).received.clone();
    up.sort();
    assert_eq!(up, [IfaceId(0), IfaceId(1), IfaceId(1)]);
    let mut down = sim.node(net.client).received.clone();
    down.sort();
    assert_eq!(down, [IfaceId(0), IfaceId(1), IfaceId(1)]);
}

#[test]
#[should_panic(expected = "used twice")]
fn multipath_refuses_duplicate_addresses() {
    let mp = MultiPath::new(SERVER)
        .path(A, LinkConfig::ideal(), LinkConfig::ideal())
        .path(A, LinkConfig::ideal(), LinkConfig::ideal());
    let mut sim = Simulator::new(SimConfig::default());
    mp.build(&mut sim, Toy::sink(), Toy::sink());
}
