//! Middleboxes on simulated links: the pipeline runs them at the link's
//! entrance, a splitter's two packets both cross, a coalescer's held segment
//! leaves by a simulator event (or is lost when the link goes down), and a
//! NAT shared by the two links of a path translates both ways.

#[path = "support/packets.rs"]
mod packets;

use std::net::IpAddr;

use mptcp_sim::{
    CoalesceMode, DropReason, Duration, IfaceConfig, IfaceId, Instant, LinkConfig, Middlebox,
    MiddleboxStats, Nat, Node, SimConfig, Simulator, StripWhich,
};
use mptcp_wire::{TcpFlags, TcpOption};
use packets::*;

/// Sends its packets (from the back) at `start`, records what it receives
/// (with the time) and, if `echo`, answers each packet with its reply.
#[derive(Default)]
struct Replay {
    out: Vec<Vec<u8>>,
    start: Instant,
    received: Vec<(IfaceId, Vec<u8>)>,
    times: Vec<Instant>,
    echo: bool,
}

impl Node for Replay {
    fn handle(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        self.received.push((iface, packet.to_vec()));
        self.times.push(now);
        if self.echo {
            let v = view(packet);
            let mut s = Seg::new(TcpFlags::ACK, &[], b"reply");
            s.src = Some((v.dst.0, v.src.0));
            s.ports = (v.dst.1, v.src.1);
            self.out.insert(0, s.build());
        }
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if now < self.start {
            return None;
        }
        let p = self.out.pop()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (!self.out.is_empty()).then_some(self.start)
    }
}

#[test]
fn middleboxes_on_a_simulated_link() {
    let syn = packet(
        false,
        TcpFlags::SYN,
        &[TcpOption::Mss(1460), mp_capable_syn()],
        &[],
    );
    let data = packet(false, TcpFlags::ACK, &[TS, dss()], PAYLOAD);
    let udp = {
        let mut u = data.clone();
        u[9] = 17;
        u
    };
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let sender = Replay {
        // Popped from the back: SYN, data, UDP.
        out: vec![udp.clone(), data.clone(), syn.clone()],
        ..Replay::default()
    };
    let a = sim.add_host(sender);
    let b = sim.add_host(Replay::default());
    let a0 = sim.add_iface(a, IfaceConfig::new(V4_SRC));
    let b0 = sim.add_iface(b, IfaceConfig::new(V4_DST));
    let link = LinkConfig::new(10_000_000, Duration::from_millis(5))
        .middlebox(Middlebox::strip_mptcp(StripWhich::Syn));
    let (ab, ba) = sim.connect(a, a0, b, b0, link, LinkConfig::ideal());
    sim.add_middlebox(ab, Middlebox::strip_mptcp(StripWhich::NonSyn));
    assert_eq!(sim.link_config(ab).middleboxes.len(), 2);
    sim.run_until(Instant::from_micros(100_000)).unwrap();

    let rx = &sim.node(b).received;
    assert_eq!(rx.len(), 3);
    let syn_rx = view(&rx[0].1);
    assert!(syn_rx.tcp_ok);
    assert_eq!(mptcp_count(&syn_rx.options), 0);
    assert_eq!(syn_rx.options[0], TcpOption::Mss(1460));
    let data_rx = view(&rx[1].1);
    assert!(data_rx.tcp_ok && data_rx.payload == PAYLOAD);
    assert_eq!(mptcp_count(&data_rx.options), 0);
    assert_eq!(rx[2].1, udp);
    // Same lengths: nothing else about the link changed.
    assert_eq!(
        sim.link_stats(ab).delivered_bytes,
        (syn.len() + data.len() + udp.len()) as u64
    );

    let s = sim.middlebox_stats(ab);
    assert_eq!(s.inspected_packets, 3);
    assert_eq!((s.stripped_packets, s.stripped_options), (2, 2));
    // The UDP packet is counted by each of the two middleboxes.
    assert_eq!(s.unparsed_packets, 2);
    assert_eq!(sim.middlebox_stats(ba), &MiddleboxStats::default());
}

#[test]
fn a_down_link_does_not_run_its_middleboxes() {
    let data = packet(false, TcpFlags::ACK, &[dss()], PAYLOAD);
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let a = sim.add_host(Replay {
        out: vec![data],
        start: Instant::from_micros(1),
        ..Replay::default()
    });
    let b = sim.add_host(Replay::default());
    let a0 = sim.add_iface(a, IfaceConfig::new(V4_SRC));
    let b0 = sim.add_iface(b, IfaceConfig::new(V4_DST));
    let link = LinkConfig::ideal()
        .middlebox(Middlebox::strip_mptcp(StripWhich::All))
        .down_at(Instant::ZERO);
    let (ab, _) = sim.connect(a, a0, b, b0, link, LinkConfig::ideal());
    sim.run_until(Instant::from_micros(10)).unwrap();
    assert!(sim.node(b).received.is_empty());
    assert_eq!(sim.middlebox_stats(ab), &MiddleboxStats::default());
}

/// A sender of `packets` at time 1 µs and a receiver (an echo if `echo`)
/// joined by `link` one way and an ideal link back.
fn pair(packets: Vec<Vec<u8>>, link: LinkConfig, echo: bool) -> Simulator<Replay> {
    let mut sim = Simulator::new(SimConfig::with_seed(3));
    let mut out = packets;
    out.reverse();
    let a = sim.add_host(Replay {
        out,
        start: Instant::from_micros(1),
        ..Replay::default()
    });
    let b = sim.add_host(Replay {
        echo,
        ..Replay::default()
    });
    let a0 = sim.add_iface(a, IfaceConfig::new(V4_SRC));
    let b0 = sim.add_iface(b, IfaceConfig::new(V4_DST));
    sim.connect(a, a0, b, b0, link, LinkConfig::ideal());
    sim
}

/// Small in-order data segments of 100 bytes.
fn small_segments(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            Seg::new(TcpFlags::ACK, &[TS], &[i as u8; 100])
                .seq(SEQ + i * 100)
                .build()
        })
        .collect()
}

#[test]
fn a_split_segment_crosses_as_two_packets() {
    let data = packet(false, TcpFlags::ACK, &[TS, dss()], PAYLOAD);
    let link = LinkConfig::new(10_000_000, Duration::from_millis(5)).middlebox(Middlebox::Split);
    let mut sim = pair(vec![data.clone()], link, false);
    sim.run_until(Instant::from_micros(100_000)).unwrap();
    let rx = &sim.node(mptcp_sim::NodeId(1)).received;
    assert_eq!(rx.len(), 2);
    let payload: Vec<u8> = rx
        .iter()
        .flat_map(|(_, p)| view(p).payload.to_vec())
        .collect();
    assert_eq!(payload, PAYLOAD);
    let link = mptcp_sim::LinkId(0);
    assert_eq!(sim.link_stats(link).offered_packets, 1);
    assert_eq!(sim.link_stats(link).delivered_packets, 2);
    assert_eq!(sim.middlebox_stats(link).split_segments, 1);
}

#[test]
fn a_held_segment_leaves_by_a_simulator_event() {
    let hold = Duration::from_micros(300);
    let link = LinkConfig::ideal().middlebox(Middlebox::Coalesce {
        mode: CoalesceMode::Gro,
        hold,
    });
    let mut sim = pair(small_segments(4), link, false);
    sim.run_until(Instant::from_micros(10_000)).unwrap();
    let b = sim.node(mptcp_sim::NodeId(1));
    assert_eq!(
        b.received.len(),
        1,
        "four segments sent at once leave as one"
    );
    let merged = view(&b.received[0].1);
    assert!(merged.tcp_ok && merged.ip_ok);
    assert_eq!(merged.payload.len(), 400);
    assert_eq!(b.times, [Instant::from_micros(1) + hold]);
    let stats = sim.middlebox_stats(mptcp_sim::LinkId(0));
    assert_eq!(stats.coalesced_segments, 3);
    assert_eq!(sim.pending_events(), 0, "nothing left behind");
}

#[test]
fn a_held_segment_is_lost_when_the_link_goes_down() {
    let link = LinkConfig::ideal()
        .middlebox(Middlebox::coalesce(CoalesceMode::Lro))
        .down_at(Instant::from_micros(100))
        .up_at(Instant::from_micros(150));
    let mut sim = pair(small_segments(2), link, false);
    sim.run_until(Instant::from_micros(10_000)).unwrap();
    assert!(sim.node(mptcp_sim::NodeId(1)).received.is_empty());
    let stats = sim.link_stats(mptcp_sim::LinkId(0));
    assert_eq!(stats.dropped.packets(DropReason::LinkDown), 1);
}

#[test]
fn a_nat_translates_both_ways() {
    let public: IpAddr = "100.64.1.1".parse().unwrap();
    let data = packet(false, TcpFlags::ACK, &[TS, dss()], PAYLOAD);
    let mut sim = pair(vec![data.clone()], LinkConfig::ideal(), true);
    let nat = sim.add_nat(mptcp_sim::LinkId(0), mptcp_sim::LinkId(1), Nat::new(public));
    sim.run_until(Instant::from_micros(10_000)).unwrap();
    let seen = view(&sim.node(mptcp_sim::NodeId(1)).received[0].1);
    assert!(seen.tcp_ok && seen.ip_ok);
    assert_eq!(seen.src, (public, Nat::FIRST_PORT));
    assert_eq!(seen.payload, PAYLOAD);
    let back = &sim.node(mptcp_sim::NodeId(0)).received;
    assert_eq!(back.len(), 1);
    let reply = view(&back[0].1);
    assert!(reply.tcp_ok && reply.ip_ok);
    assert_eq!(
        reply.dst,
        view(&data).src,
        "translated back to the private side"
    );
    assert_eq!(sim.nat(nat).len(), 1);
    let (out, inb) = (
        sim.middlebox_stats(mptcp_sim::LinkId(0)),
        sim.middlebox_stats(mptcp_sim::LinkId(1)),
    );
    assert_eq!((out.nat_translated, out.nat_mappings), (1, 1));
    assert_eq!((inb.nat_translated, inb.nat_dropped), (1, 0));
    assert_eq!(
        MiddleboxStats {
            inspected_packets: 1,
            nat_translated: 1,
            ..MiddleboxStats::default()
        },
        *inb
    );
}
