//! Routers: longest-prefix match and a shared bottleneck.

mod common;

use common::*;
use mptcp_sim::{
    DropReason, Duration, IfaceConfig, IfaceId, Instant, LinkConfig, NodeId, Prefix, SimConfig,
    Simulator,
};

const RATE: u64 = 50_000_000;

struct Net {
    sim: Simulator<Toy>,
    a: NodeId,
    b: NodeId,
    c: NodeId,
    r1: NodeId,
    bottleneck: mptcp_sim::LinkId,
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

/// A (10.0.1.1 and 10.0.2.1) and C (10.0.3.1) reach B (10.0.9.1) through
/// R1 → R2 at 50 Mbit/s; access links run at 100 Mbit/s.
fn dumbbell(seed: u64, a_flows: Vec<Flow>, c_flows: Vec<Flow>) -> Net {
    let mut sim = Simulator::new(SimConfig::with_seed(seed));
    let a = sim.add_host(Toy::sending(a_flows));
    let c = sim.add_host(Toy::sending(c_flows));
    let b = sim.add_host(Toy::sink());
    let (r1, r2) = (sim.add_router(), sim.add_router());
    let access = LinkConfig::new(100_000_000, Duration::from_millis(1));
    let attach = |sim: &mut Simulator<Toy>, host, addr, router, net: &str| {
        let h = sim.add_iface(host, IfaceConfig::new(addr));
        let r = sim.add_iface(router, IfaceConfig::unnumbered());
        sim.connect(host, h, router, r, access.clone(), access.clone());
        sim.add_route(router, pfx(net), r);
    };
    attach(&mut sim, a, ip(10, 0, 1, 1), r1, "10.0.1.0/24");
    attach(&mut sim, a, ip(10, 0, 2, 1), r1, "10.0.2.0/24");
    attach(&mut sim, c, ip(10, 0, 3, 1), r1, "10.0.3.0/24");
    attach(&mut sim, b, ip(10, 0, 9, 1), r2, "10.0.9.0/24");
    let r1_out = sim.add_iface(r1, IfaceConfig::unnumbered());
    let r2_in = sim.add_iface(r2, IfaceConfig::unnumbered());
    let narrow = LinkConfig::new(RATE, Duration::from_millis(10));
    let (bottleneck, _) = sim.connect(r1, r1_out, r2, r2_in, narrow.clone(), narrow);
    // A less specific route that must lose to the /24s above.
    sim.add_route(r1, pfx("10.0.0.0/8"), r1_out);
    sim.add_route(r2, Prefix::default_v4(), r2_in);
    Net {
        sim,
        a,
        b,
        c,
        r1,
        bottleneck,
    }
}

#[test]
fn two_senders_share_the_bottleneck() {
    let to_b = ip(10, 0, 9, 1);
    // Three flows (two from A, one from C), 90 Mbit/s offered to 50 Mbit/s.
    // Different rates avoid the lock-out of perfectly synchronized flows.
    let rates = [27_000_000, 30_000_000, 33_000_000];
    let srcs = [ip(10, 0, 1, 1), ip(10, 0, 2, 1), ip(10, 0, 3, 1)];
    let flow = |i: usize| Flow::new(i as u32, srcs[i], to_b, 1500, 100_000).at_rate(rates[i]);
    let mut net = dumbbell(5, vec![flow(0), flow(1)], vec![flow(2)]);
    let end = Instant::from_micros(2_000_000);
    net.sim.run_until(end).unwrap();

    let b0 = IfaceId(0);
    let series = &net.sim.iface_stats(net.b, b0).received_series;
    let total = series.mean_bps(Instant::from_micros(500_000), end);
    assert!(
        (total - RATE as f64).abs() < RATE as f64 * 0.005,
        "total {total}"
    );
    let per_flow: Vec<usize> = (0..3).map(|f| net.sim.node(net.b).seqs(f).len()).collect();
    assert!(per_flow.iter().all(|&n| n > 500), "{per_flow:?}");
    let s = net.sim.link_stats(net.bottleneck);
    assert!(s.dropped.packets(DropReason::QueueFull) > 0);
    let limit = LinkConfig::new(RATE, Duration::from_millis(10)).queue_limit();
    assert!(s.max_queue_bytes > limit - 1500 && s.max_queue_bytes <= limit);
    // A's two flows left through the interface owning their source address.
    for (i, rate) in rates.iter().take(2).enumerate() {
        let sent = net
            .sim
            .iface_stats(net.a, IfaceId(i))
            .sent_series
            .mean_bps(Instant::ZERO, end);
        assert!(
            (sent - *rate as f64).abs() < 0.01 * *rate as f64,
            "iface {i} sent {sent}"
        );
    }
    assert_eq!(net.sim.node(net.c).received.len(), 0);
}

#[test]
fn unroutable_and_unowned_packets_are_dropped() {
    let stray = Flow::new(1, ip(10, 0, 1, 1), ip(192, 168, 0, 1), 100, 3);
    let spoofed = Flow::new(2, ip(10, 9, 9, 9), ip(10, 0, 9, 1), 100, 2);
    let back = Flow::new(3, ip(10, 0, 1, 1), ip(10, 0, 2, 1), 100, 1);
    let mut net = dumbbell(1, vec![stray, spoofed, back], vec![]);
    net.sim.run_until(Instant::from_micros(100_000)).unwrap();
    let stats = net.sim.stats();
    assert_eq!(stats.dropped.packets(DropReason::NoRoute), 3);
    assert_eq!(stats.dropped.packets(DropReason::NoSourceIface), 2);
    // A packet from A's first address to its second is routed back to A.
    let rx = &net.sim.node(net.a).received;
    assert_eq!(rx.len(), 1);
    assert_eq!((rx[0].flow, rx[0].iface), (3, IfaceId(1)));
    assert!(net.sim.is_router(net.r1));
}

#[test]
fn ipv6_routes() {
    use std::net::Ipv6Addr;
    let mut sim = Simulator::new(SimConfig::with_seed(1));
    let a = sim.add_host(V6 {
        send: true,
        received: 0,
    });
    let b = sim.add_host(V6 {
        send: false,
        received: 0,
    });
    let r = sim.add_router();
    let a6: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let b6: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
    let a0 = sim.add_iface(a, IfaceConfig::new(a6));
    let b0 = sim.add_iface(b, IfaceConfig::new(ip(10, 0, 0, 2)).with_addr(b6));
    let ra = sim.add_iface(r, IfaceConfig::unnumbered());
    let rb = sim.add_iface(r, IfaceConfig::unnumbered());
    sim.connect(a, a0, r, ra, LinkConfig::ideal(), LinkConfig::ideal());
    sim.connect(b, b0, r, rb, LinkConfig::ideal(), LinkConfig::ideal());
    sim.add_route(r, pfx("2001:db8:2::/48"), rb);
    sim.add_route(r, Prefix::default_v6(), ra);
    sim.run_until(Instant::from_micros(10)).unwrap();
    assert_eq!(sim.node(b).received, 1);
    assert_eq!(sim.iface_stats(b, b0).received_bytes, 60);
}

/// Sends (once, if `send`) a 60-byte IPv6 packet from 2001:db8:1::1 to
/// 2001:db8:2::1, and counts what it receives.
struct V6 {
    send: bool,
    received: usize,
}

impl mptcp_sim::Node for V6 {
    fn handle(&mut self, _: Instant, _: IfaceId, _: &[u8]) {
        self.received += 1;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
        if !std::mem::take(&mut self.send) {
            return None;
        }
        let addr = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        buf[..60].fill(0);
        buf[0] = 0x60;
        buf[4..6].copy_from_slice(&20u16.to_be_bytes());
        buf[6] = 17;
        buf[8..24].copy_from_slice(&addr("2001:db8:1::1"));
        buf[24..40].copy_from_slice(&addr("2001:db8:2::1"));
        Some(60)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
