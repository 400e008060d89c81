//! The NAT on crafted segments: outbound source translation, the reply
//! translated back (a round trip gives the original addresses), checksums
//! valid throughout, inbound segments without a mapping dropped.

#[path = "support/packets.rs"]
mod packets;

use std::net::IpAddr;

use mptcp_sim::{MiddleboxStats, Nat, NatSide, NatVerdict, Verdict};
use mptcp_wire::TcpFlags;
use packets::*;

fn public(v6_addrs: bool) -> IpAddr {
    if v6_addrs {
        v6("2001:db8:64::1").into()
    } else {
        "100.64.1.1".parse().unwrap()
    }
}

/// The reply to a segment from `src` to `dst`.
fn reply(v6_addrs: bool, from: (IpAddr, u16), to: (IpAddr, u16)) -> Vec<u8> {
    let mut s = Seg::new(TcpFlags::ACK, &[TS, dss()], PAYLOAD).v6(v6_addrs);
    s.src = Some((from.0, to.0));
    s.ports = (from.1, to.1);
    s.build()
}

#[test]
fn outbound_and_back_round_trip() {
    for v6_addrs in [false, true] {
        let mut nat = Nat::new(public(v6_addrs));
        let mut stats = MiddleboxStats::default();
        let original = packet(v6_addrs, TcpFlags::SYN, &[TS, mp_capable_syn()], &[]);
        let before = view(&original);
        let mut p = original.clone();
        let verdict = nat.translate(NatSide::Outbound, &mut p, &mut stats);
        assert_eq!(verdict, NatVerdict::Pass(Verdict::Rewritten));
        let out = view(&p);
        assert!(out.tcp_ok && out.ip_ok, "v6 {v6_addrs}");
        assert_eq!(out.src, (public(v6_addrs), Nat::FIRST_PORT));
        assert_eq!(out.dst, before.dst);
        assert_eq!(out.options, before.options);
        assert_eq!(nat.mapping(before.src), Some(Nat::FIRST_PORT));

        // The peer answers the public address; the NAT restores the private.
        let mut back = reply(v6_addrs, out.dst, out.src);
        let verdict = nat.translate(NatSide::Inbound, &mut back, &mut stats);
        assert_eq!(verdict, NatVerdict::Pass(Verdict::Rewritten));
        let v = view(&back);
        assert!(v.tcp_ok && v.ip_ok);
        assert_eq!((v.src, v.dst), (before.dst, before.src));
        assert_eq!(back, reply(v6_addrs, before.dst, before.src), "bit for bit");

        // Later segments reuse the mapping.
        let mut again = original.clone();
        nat.translate(NatSide::Outbound, &mut again, &mut stats);
        assert_eq!(again, p);
        assert_eq!(
            (nat.len(), stats.nat_mappings, stats.nat_translated),
            (1, 1, 3)
        );
    }
}

#[test]
fn each_private_port_gets_its_own_public_port() {
    let mut nat = Nat::new(public(false));
    let mut stats = MiddleboxStats::default();
    for (i, port) in [40_000u16, 40_001, 40_000].into_iter().enumerate() {
        let mut s = Seg::new(TcpFlags::SYN, &[], &[]);
        s.ports = (port, 80);
        let mut p = s.build();
        nat.translate(NatSide::Outbound, &mut p, &mut stats);
        let want = if i == 1 {
            Nat::FIRST_PORT + 1
        } else {
            Nat::FIRST_PORT
        };
        assert_eq!(view(&p).src.1, want);
    }
    assert_eq!(nat.len(), 2);
}

#[test]
fn inbound_without_a_mapping_is_dropped() {
    let mut nat = Nat::new(public(false));
    let mut stats = MiddleboxStats::default();
    let server = (IpAddr::from(V4_DST), 80);
    // Unknown port on the public address, and the private address itself.
    for to in [(public(false), 33_333), (IpAddr::from(V4_SRC), 40_000)] {
        let mut p = reply(false, server, to);
        assert_eq!(
            nat.translate(NatSide::Inbound, &mut p, &mut stats),
            NatVerdict::Drop
        );
    }
    assert_eq!(stats.nat_dropped, 2);
    // Not TCP, or the other family: passed untouched.
    let mut udp = packet(false, TcpFlags::ACK, &[], PAYLOAD);
    udp[9] = 17;
    let mut v6_packet = packet(true, TcpFlags::ACK, &[], PAYLOAD);
    for p in [&mut udp, &mut v6_packet] {
        let copy = p.clone();
        let verdict = nat.translate(NatSide::Inbound, p, &mut stats);
        assert_eq!(
            (verdict, &*p),
            (NatVerdict::Pass(Verdict::Unchanged), &copy)
        );
    }
    assert!(nat.is_empty());
}
