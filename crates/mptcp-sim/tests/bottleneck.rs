//! The `SharedBottleneck` topology: routes in both directions, and senders
//! sharing the bottleneck's rate.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use mptcp_sim::topology::{BottleneckNet, SharedBottleneck};
use mptcp_sim::{DropReason, Duration, IfaceId, Instant, LinkConfig, SimConfig, Simulator};

const RATE: u64 = 40_000_000;
const CLIENT: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1)];
const COMPETITOR: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

fn spec() -> SharedBottleneck {
    let narrow = LinkConfig::new(RATE, Duration::from_millis(10)).queue_bytes(150_000);
    SharedBottleneck::new(CLIENT, COMPETITOR, SERVER, narrow)
}

fn build(client: Toy, competitor: Toy, server: Toy) -> (Simulator<Toy>, BottleneckNet) {
    let mut sim = Simulator::new(SimConfig::with_seed(11));
    let net = spec().build(&mut sim, client, competitor, server);
    (sim, net)
}

#[test]
fn routes_deliver_in_both_directions() {
    let up = |id, src| Flow::new(id, src, SERVER, 500, 5);
    let down = |id, dst| Flow::new(id, SERVER, dst, 700, 4);
    let (mut sim, net) = build(
        Toy::sending(vec![up(0, CLIENT[0]), up(1, CLIENT[1])]),
        Toy::sending(vec![up(2, COMPETITOR)]),
        Toy::sending(vec![
            down(10, CLIENT[0]),
            down(11, CLIENT[1]),
            down(12, COMPETITOR),
        ]),
    );
    sim.run_until(Instant::from_micros(100_000)).unwrap();
    assert_eq!(sim.stats().dropped.total_packets(), 0);

    let server = sim.node(net.server);
    for f in 0..3 {
        assert_eq!(server.seqs(f), [0, 1, 2, 3, 4], "flow {f}");
    }
    let client = sim.node(net.client);
    for (i, &iface) in net.client_ifaces.iter().enumerate() {
        let rx: Vec<_> = client
            .received
            .iter()
            .filter(|r| r.flow == 10 + i as u32)
            .collect();
        assert_eq!(rx.len(), 4);
        assert!(rx.iter().all(|r| r.iface == iface));
        let access = net.client_access[i];
        assert_eq!(sim.link_stats(access.forward).delivered_packets, 5);
        assert_eq!(sim.link_stats(access.backward).delivered_packets, 4);
    }
    assert_eq!(sim.node(net.competitor).seqs(12), [0, 1, 2, 3]);
    assert_eq!(sim.link_stats(net.bottleneck.forward).delivered_packets, 15);
    assert_eq!(
        sim.link_stats(net.bottleneck.backward).delivered_packets,
        12
    );
    assert_eq!(
        sim.link_stats(net.server_access.forward).delivered_packets,
        15
    );
    assert_eq!(
        sim.link_stats(net.server_access.backward).delivered_packets,
        12
    );
    assert_eq!(
        sim.link_stats(net.competitor_access.forward)
            .delivered_packets,
        5
    );

    // One-way delay: two 1 ms access links plus the 10 ms bottleneck.
    let first = server
        .received
        .iter()
        .map(|r| r.at.as_micros())
        .min()
        .unwrap();
    assert!((12_000..12_300).contains(&first), "{first}");
    // The wiring is as documented.
    assert_eq!(net.client_ifaces, [IfaceId(0), IfaceId(1)]);
    let ends = sim.link_ends(net.bottleneck.forward);
    assert_eq!((ends.0.0, ends.1.0), (net.router1, net.router2));
    assert_eq!(sim.link_config(net.bottleneck.forward).rate_bps, RATE);
    let access = sim.link_config(net.client_access[0].forward);
    assert_eq!(access.rate_bps, SharedBottleneck::ACCESS_RATE_BPS);
    assert_eq!(access.delay, SharedBottleneck::ACCESS_DELAY);
    assert_eq!(spec().client_addrs(), CLIENT.map(IpAddr::from));
}

#[test]
fn client_and_competitor_share_the_bottleneck() {
    // 70 Mbit/s offered to 40 Mbit/s: two client flows (one per interface)
    // and the competitor; different rates avoid lock-out by synchronization.
    let flow = |id, src, rate| Flow::new(id, src, SERVER, 1500, 1_000_000).at_rate(rate);
    let (mut sim, net) = build(
        Toy::sending(vec![
            flow(0, CLIENT[0], 21_000_000),
            flow(1, CLIENT[1], 23_000_000),
        ]),
        Toy::sending(vec![flow(2, COMPETITOR, 26_000_000)]),
        Toy::sink(),
    );
    let end = Instant::from_micros(3_000_000);
    sim.run_until(end).unwrap();

    let rx = &sim
        .iface_stats(net.server, net.server_iface)
        .received_series;
    let total = rx.mean_bps(Instant::from_micros(500_000), end);
    assert!(
        (total - RATE as f64).abs() < 0.02 * RATE as f64,
        "total {total}"
    );
    let server = sim.node(net.server);
    let client_pkts = server.seqs(0).len() + server.seqs(1).len();
    let competitor_pkts = server.seqs(2).len();
    assert!(
        client_pkts > 1000 && competitor_pkts > 1000,
        "{client_pkts} {competitor_pkts}"
    );
    let s = sim.link_stats(net.bottleneck.forward);
    assert!(s.dropped.packets(DropReason::QueueFull) > 0);
    assert!(s.max_queue_bytes <= 150_000);
    // Only the bottleneck drops.
    assert_eq!(sim.stats().dropped.total_packets(), 0);
    for pair in net.client_access.iter().chain([&net.competitor_access]) {
        assert_eq!(sim.link_stats(pair.forward).dropped.total_packets(), 0);
    }
}
