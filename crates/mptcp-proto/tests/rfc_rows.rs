//! RFC 8684 behaviours that docs/rfc-coverage.md marks "Yes", each shown by
//! a test that fails without it: handshake options repeated until the peer
//! shows it has them, acknowledgments sent at once where the RFC asks, and
//! signals that must be ignored when they cannot be right.

mod support;

use mptcp_proto::stats::Mib;
use mptcp_proto::time::Instant;
use mptcp_wire::{
    AddAddr, AddAddrFlags, CapableBody, Dss, IpPacket, MpFastClose, MpJoin, MptcpOption, TcpOption,
    WireSeq,
};
use std::cell::RefCell;
use std::rc::Rc;
use support::{Dir, Net, mptcp_options, pattern, strip_mptcp};

fn src_is(pkt: &[u8], addr: &str) -> bool {
    IpPacket::parse(pkt).is_ok_and(|ip| ip.src() == support::ip(addr))
}

fn dst_is(pkt: &[u8], addr: &str) -> bool {
    IpPacket::parse(pkt).is_ok_and(|ip| ip.dst() == support::ip(addr))
}

fn is_join_ack(o: &MptcpOption) -> bool {
    matches!(o, MptcpOption::Join(MpJoin::Ack { .. }))
}

#[test]
fn the_join_third_ack_is_repeated_until_acknowledged() {
    // RFC 8684 §3.2: A keeps sending its third ACK (with the HMAC) until B
    // acknowledges it; the first one is lost here.
    let mut n = Net::new(true, |_, _| {});
    n.to_send[0] = pattern(1, 200_000);
    let sent = Rc::new(RefCell::new(0));
    let s = sent.clone();
    let mut synacks = 0;
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToServer
            && src_is(pkt, support::CLIENT2)
            && mptcp_options(pkt).iter().any(is_join_ack)
        {
            *s.borrow_mut() += 1;
            return *s.borrow() > 1;
        }
        // Only the first SYN-ACK gets through: A's own timer must resend
        // (a repeated SYN-ACK would also draw the third ACK out again).
        let synack = mptcp_options(pkt)
            .iter()
            .any(|o| matches!(o, MptcpOption::Join(MpJoin::SynAck { .. })));
        if dir == Dir::ToClient && synack {
            synacks += 1;
            return synacks == 1;
        }
        true
    });
    n.run_to_end(10_000);
    assert!(*sent.borrow() >= 2, "the third ACK went out again");
    assert_eq!(n.server_mib(Mib::MPJoinAckRx), 1, "and completed the join");
    assert!(n.got[1] == pattern(1, 200_000));
}

#[test]
fn the_joined_host_acknowledges_the_third_ack_at_once() {
    // RFC 8684 §3.2: B answers A's third ACK with an ACK right away (not a
    // delayed one), so that A may send data.
    let mut n = Net::new(true, |_, _| {});
    n.to_send[0] = pattern(2, 100_000);
    let times = Rc::new(RefCell::new((None::<Instant>, None::<Instant>)));
    let t = times.clone();
    n.tamper = Box::new(move |now, dir, pkt| {
        let mut t = t.borrow_mut();
        match dir {
            Dir::ToServer
                if src_is(pkt, support::CLIENT2) && mptcp_options(pkt).iter().any(is_join_ack) =>
            {
                t.0.get_or_insert(now);
            }
            Dir::ToClient if dst_is(pkt, support::CLIENT2) && t.0.is_some() => {
                t.1.get_or_insert(now);
            }
            _ => {}
        }
        true
    });
    n.run_to_end(10_000);
    let (third, answer) = *times.borrow();
    let third = third.expect("a third ACK");
    let answer = answer.expect("an answer on the join");
    // 1 ms each way on this wire: the answer leaves when the ACK arrives.
    assert!(
        answer.saturating_duration_since(third).as_micros() <= 1_000,
        "answered {} us after the third ACK was sent",
        answer.saturating_duration_since(third).as_micros()
    );
}

#[test]
fn mp_capable_is_repeated_until_the_first_dss() {
    // RFC 8684 §3.1: the client repeats both keys until the server shows
    // (with a DSS) that it has them; the first third ACK is lost here.
    let mut n = Net::new(false, |_, _| {});
    n.to_send[1] = pattern(3, 100_000);
    let keys = Rc::new(RefCell::new(0));
    let k = keys.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        let carries_keys = mptcp_options(pkt).iter().any(|o| {
            matches!(
                o,
                MptcpOption::Capable(c) if matches!(c.body, CapableBody::BothKeys { .. })
            )
        });
        if dir == Dir::ToServer && carries_keys {
            *k.borrow_mut() += 1;
            return *k.borrow() > 1;
        }
        true
    });
    n.run_to_end(10_000);
    assert!(*keys.borrow() >= 2, "the keys went out again");
    assert_eq!(n.server_mib(Mib::MPCapableACKRX), 1);
    let c = n.client.connection(n.conn()).expect("client");
    assert_eq!(c.fallback(), None);
    assert!(n.got[0] == pattern(3, 100_000));
}

#[test]
fn an_add_addr_with_a_bad_hmac_is_dropped() {
    let mut n = Net::new(false, |_, _| {});
    n.to_send[1] = pattern(4, 20_000_000);
    n.run(20);
    let opt = [TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr::V1 {
        flags: AddAddrFlags::NONE,
        address_id: 5,
        addr: "198.51.100.9".parse().expect("addr"),
        port: None,
        hmac: Some(0x0102_0304_0506_0708),
    }))];
    let forged = support::forge_to_client(&n, &opt, |_| {});
    n.forged_to_client(&forged);
    n.run_to_end(10_000);
    assert_eq!(n.client_mib(Mib::AddAddrDrop), 1);
    assert_eq!(n.client_mib(Mib::AddAddr), 0);
    assert_eq!(n.client_mib(Mib::EchoAddTx), 0, "no echo");
    assert_eq!(n.client_mib(Mib::MPJoinSynTx), 0, "no join");
    assert!(n.got[0] == pattern(4, 20_000_000));
}

#[test]
fn an_mp_fastclose_with_a_wrong_key_is_ignored() {
    let mut n = Net::new(false, |_, _| {});
    n.to_send[1] = pattern(5, 20_000_000);
    n.run(20);
    let opt = [TcpOption::Mptcp(MptcpOption::FastClose(MpFastClose {
        reserved: 0,
        receiver_key: 0x1122_3344_5566_7788,
    }))];
    let forged = support::forge_to_client(&n, &opt, |_| {});
    n.forged_to_client(&forged);
    n.run_to_end(10_000);
    assert_eq!(n.client_mib(Mib::MPFastcloseRx), 0);
    assert!(n.got[0] == pattern(5, 20_000_000));
    assert!(n.closed[0].is_none_or(|e| e.is_none()), "{:?}", n.closed);
}

#[test]
fn data_acks_below_una_or_beyond_what_was_sent_are_ignored() {
    let mut n = Net::new(false, |_, _| {});
    // The client's data cannot all leave at once: there is unacknowledged
    // data to (wrongly) free.
    n.to_send[0] = pattern(6, 2_000_000);
    n.run(30);
    // Hold the server's acknowledgments back for a while.
    n.tamper = Box::new(|_, dir, _| dir == Dir::ToServer);
    n.run(5);
    let una = |n: &Net| {
        n.client
            .connection(n.conn())
            .expect("client")
            .data()
            .send
            .una()
    };
    let nxt = |n: &Net| {
        n.client
            .connection(n.conn())
            .expect("client")
            .data()
            .send
            .nxt()
    };
    let before = una(&n);
    assert!(nxt(&n).gt(before), "data in flight");
    for ack in [nxt(&n) + 1_000_000, before + (u64::MAX - 5000)] {
        let opt = [TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: Some(WireSeq::Long(ack.0)),
            mapping: None,
            data_fin: false,
            reserved: 0,
            unused_flags: 0,
        }))];
        let forged = support::forge_to_client(&n, &opt, |_| {});
        n.forged_to_client(&forged);
        assert_eq!(una(&n), before, "DATA_ACK {ack:?} ignored");
    }
    n.tamper = Box::new(|_, _, _| true);
    n.run_to_end(20_000);
    assert!(n.got[1] == pattern(6, 2_000_000));
}

/// The server's answer to a SYN with this MP_CAPABLE flag byte (v1, no
/// key): whether its SYN-ACK offers MPTCP.
fn server_offers_mptcp_to(flags: u8) -> bool {
    use mptcp_wire::{CapableFlags, MpCapable, TcpFlags, TcpRepr, Version};
    let mut n = Net::new(false, |_, _| {});
    let client: std::net::SocketAddr = "192.0.2.9:4444".parse().expect("addr");
    n.server.add_address(support::ip(support::SERVER), 1500);
    let server = std::net::SocketAddr::new(support::ip(support::SERVER), 80);
    let opts = [
        TcpOption::Mss(1460),
        TcpOption::Mptcp(MptcpOption::Capable(MpCapable {
            version: Version::V1,
            flags: CapableFlags(flags),
            body: CapableBody::NoKey,
        })),
    ];
    let repr = TcpRepr {
        src_port: client.port(),
        dst_port: 80,
        seq: mptcp_wire::SubflowSeq(1000),
        ack: mptcp_wire::SubflowSeq(0),
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
    };
    let mut buf = vec![0u8; 256];
    let len = mptcp_proto::segment::emit_ip_tcp(client, server, &repr, &opts, &[], &mut buf)
        .expect("emit");
    n.server.handle(n.now, &buf[..len]);
    let mut out = vec![0u8; 2048];
    let mut offered = None;
    while let Some(t) = n.server.poll_transmit(n.now, &mut out) {
        if t.dst == client.ip() {
            offered = Some(
                mptcp_options(&out[..t.len])
                    .iter()
                    .any(|o| matches!(o, MptcpOption::Capable(_))),
            );
        }
    }
    offered.expect("a SYN-ACK")
}

#[test]
fn mp_capable_with_b_or_without_a_crypto_bit_is_ignored() {
    // RFC 8684 §3.1: B (extensibility) set and not understood, or no
    // crypto algorithm bit: the option is ignored and the connection is
    // plain TCP.
    assert!(server_offers_mptcp_to(0x01), "H alone: MPTCP");
    assert!(server_offers_mptcp_to(0x81), "A and H: MPTCP");
    assert!(!server_offers_mptcp_to(0x41), "B set: ignored");
    assert!(!server_offers_mptcp_to(0x00), "no crypto bit: ignored");
}

#[test]
fn joins_are_refused_before_the_connection_is_fully_established() {
    // RFC 8684 §3.2: a join SYN naming a server connection whose third ACK
    // has not arrived is refused (its token is still pending); the same
    // join once the third ACK is in is answered with MP_JOIN.
    use mptcp_wire::{BackupFlags, SubflowSeq, TcpFlags, TcpRepr};
    let mut n = Net::new(true, |_, _| {});
    let hold = Rc::new(RefCell::new(true));
    let h = hold.clone();
    // Hold the client's third ACK (and anything after) back.
    n.tamper = Box::new(move |_, dir, pkt| {
        !(*h.borrow()
            && dir == Dir::ToServer
            && IpPacket::parse(pkt)
                .ok()
                .and_then(|ip| ip.tcp().ok().map(|t| !t.flags().syn()))
                .unwrap_or(false))
    });
    n.run(50);
    assert!(n.accepted.is_none());
    let token = n
        .client
        .connection(n.conn())
        .and_then(|c| c.mptcp())
        .and_then(|m| m.remote)
        .expect("the server's key")
        .token;
    let join_syn = |port: u16| {
        let repr = TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: SubflowSeq(77),
            ack: SubflowSeq(0),
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
        };
        let opts = [
            TcpOption::Mss(1460),
            TcpOption::Mptcp(MptcpOption::Join(MpJoin::Syn {
                flags: BackupFlags::NONE,
                address_id: 1,
                token: token.0,
                nonce: 5,
            })),
        ];
        let mut buf = vec![0u8; 256];
        let len = mptcp_proto::segment::emit_ip_tcp(
            std::net::SocketAddr::new(support::ip(support::CLIENT2), port),
            std::net::SocketAddr::new(support::ip(support::SERVER), 80),
            &repr,
            &opts,
            &[],
            &mut buf,
        )
        .expect("emit");
        buf.truncate(len);
        buf
    };
    // What the server answers a join SYN with: (RST, MP_JOIN SYN-ACK).
    let answer = |n: &mut Net, port: u16| {
        n.server.handle(n.now, &join_syn(port));
        let mut out = vec![0u8; 2048];
        let (mut rst, mut joined) = (false, false);
        while let Some(t) = n.server.poll_transmit(n.now, &mut out) {
            let pkt = &out[..t.len];
            let Ok(ip) = IpPacket::parse(pkt) else {
                continue;
            };
            let Ok(tcp) = ip.tcp() else { continue };
            if tcp.dst_port() != port {
                continue;
            }
            rst |= tcp.flags().rst();
            joined |= mptcp_options(pkt)
                .iter()
                .any(|o| matches!(o, MptcpOption::Join(MpJoin::SynAck { .. })));
        }
        (rst, joined)
    };
    assert_eq!(answer(&mut n, 6001), (true, false), "refused while pending");
    assert_eq!(n.server_mib(Mib::MPJoinNoTokenFound), 1);
    *hold.borrow_mut() = false;
    n.run(1500); // the server repeats its SYN-ACK, the client its third ACK
    assert!(n.accepted.is_some(), "the third ACK got through");
    assert_eq!(
        answer(&mut n, 6002),
        (false, true),
        "answered once established"
    );
}

#[test]
fn the_client_joins_only_after_the_servers_first_dss() {
    // RFC 8684 §3.1: the client knows the server has its key only from a
    // DSS; joins wait for it. Every client join SYN must follow the
    // server's first DSS.
    let mut n = Net::new(true, |_, _| {});
    n.to_send[1] = pattern(7, 100_000);
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        let opts = mptcp_options(pkt);
        if dir == Dir::ToClient && opts.iter().any(|x| matches!(x, MptcpOption::Dss(_))) {
            o.borrow_mut().push("dss");
        }
        if dir == Dir::ToServer
            && opts
                .iter()
                .any(|x| matches!(x, MptcpOption::Join(MpJoin::Syn { .. })))
        {
            o.borrow_mut().push("join");
        }
        true
    });
    n.run_to_end(10_000);
    let order = order.borrow();
    let first_join = order.iter().position(|e| *e == "join").expect("a join");
    let first_dss = order.iter().position(|e| *e == "dss").expect("a DSS");
    assert!(first_dss < first_join, "{order:?}");
}

#[test]
fn initial_sequence_numbers_differ_per_tuple_and_advance_with_time() {
    // RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock.
    let isn_of = |at_ms: u64, port_seed: u64| {
        let mut n = Net::new_at(
            Instant::from_micros(at_ms * 1000),
            false,
            move |client, c| {
                if client {
                    c.seed = 11 + port_seed;
                }
            },
        );
        n.run(1);
        let c = n.client.connection(n.conn()).expect("client");
        let sf = c.subflows().next().expect("subflow");
        (sf.tuple(), sf.snapshot().iss)
    };
    let (t1, a) = isn_of(0, 0);
    let (t2, b) = isn_of(0, 1);
    assert_ne!(t1, t2);
    assert_ne!(a, b, "another tuple, another ISN");
    let (t3, c) = isn_of(1000, 0);
    assert_eq!(t1, t3, "same tuple");
    // One second later on the same tuple: 250,000 ticks of 4 µs further.
    assert_eq!(c.0.wrapping_sub(a.0), 250_000);
}

/// Whether a packet is a SYN-ACK.
fn is_syn_ack(pkt: &[u8]) -> bool {
    IpPacket::parse(pkt)
        .ok()
        .and_then(|ip| ip.tcp().ok().map(|t| t.flags().syn() && t.flags().ack()))
        .unwrap_or(false)
}

/// The MP_TCPRST reason of a RST, `None` if `pkt` is no RST, `Some(None)`
/// for a RST without MP_TCPRST.
fn reset_reason(pkt: &[u8]) -> Option<Option<mptcp_wire::ResetReason>> {
    let ip = IpPacket::parse(pkt).ok()?;
    let tcp = ip.tcp().ok()?;
    if !tcp.flags().rst() {
        return None;
    }
    Some(mptcp_options(pkt).iter().find_map(|o| match o {
        MptcpOption::TcpRst(r) => Some(r.reason),
        _ => None,
    }))
}

#[test]
fn a_third_ack_without_mp_capable_makes_the_server_fall_back() {
    // RFC 8684 §3.1: the server that gets the third ACK (and the data after
    // it) without MP_CAPABLE falls back to TCP; the client, seeing no DSS
    // in the server's data, follows. Both directions stay exact.
    let mut n = Net::new(false, |_, _| {});
    n.to_send[0] = pattern(1, 50_000);
    n.to_send[1] = pattern(2, 50_000);
    n.tamper = Box::new(|_, dir, pkt| {
        if dir == Dir::ToServer && !is_syn(pkt) {
            strip_mptcp(pkt);
        }
        true
    });
    n.run_to_end(10_000);
    assert_eq!(n.server_mib(Mib::MPCapableFallbackACK), 1);
    assert!(
        n.got[0] == pattern(2, 50_000),
        "client got {}",
        n.got[0].len()
    );
    assert!(
        n.got[1] == pattern(1, 50_000),
        "server got {}",
        n.got[1].len()
    );
    assert!(n.eof[0] && n.eof[1]);
}

fn is_syn(pkt: &[u8]) -> bool {
    IpPacket::parse(pkt)
        .ok()
        .and_then(|ip| ip.tcp().ok().map(|t| t.flags().syn()))
        .unwrap_or(false)
}

#[test]
fn a_join_beyond_the_subflow_cap_is_refused_with_reason_3_and_not_retried() {
    // RFC 8684 §3.2 (refusal: MP_TCPRST "administratively prohibited") and
    // §3.9.3 (a host should not retry a join that failed to the same
    // address): a server that takes one subflow per connection refuses the
    // client's second address once, and the client does not try again.
    let mut n = Net::new(true, |client, c| {
        if !client {
            c.connection.mptcp.max_subflows = 1;
        }
    });
    n.to_send[0] = pattern(4, 2_000_000);
    let reasons = Rc::new(RefCell::new(Vec::new()));
    let r = reasons.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToClient
            && dst_is(pkt, support::CLIENT2)
            && let Some(reason) = reset_reason(pkt)
        {
            r.borrow_mut().push(reason);
        }
        true
    });
    n.run_to_end(30_000);
    assert!(n.got[1] == pattern(4, 2_000_000));
    assert_eq!(
        *reasons.borrow(),
        vec![Some(mptcp_wire::ResetReason::ADMINISTRATIVELY_PROHIBITED)]
    );
    assert_eq!(n.client_mib(Mib::MPJoinSynTx), 1, "one try");
}

#[test]
fn a_join_syn_ack_without_mp_join_is_reset_and_the_connection_goes_on() {
    // RFC 8684 §3.2: a SYN-ACK answering a join SYN without MP_JOIN (or
    // with a wrong HMAC) makes the initiator reset that subflow with
    // MP_TCPRST; the connection carries on over its first subflow.
    let mut n = Net::new(true, |_, _| {});
    n.to_send[0] = pattern(5, 1_000_000);
    let reasons = Rc::new(RefCell::new(Vec::new()));
    let r = reasons.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToClient && dst_is(pkt, support::CLIENT2) && is_syn_ack(pkt) {
            strip_mptcp(pkt);
        }
        if dir == Dir::ToServer
            && src_is(pkt, support::CLIENT2)
            && let Some(reason) = reset_reason(pkt)
        {
            r.borrow_mut().push(reason);
        }
        true
    });
    n.run_to_end(30_000);
    assert!(n.got[1] == pattern(5, 1_000_000));
    assert_eq!(
        *reasons.borrow(),
        vec![Some(mptcp_wire::ResetReason::MPTCP_SPECIFIC)]
    );
    assert_eq!(n.client_mib(Mib::MPJoinSynAckNoMPJoin), 1);
}

/// RFC 8684 §3.3.3: once our DATA_FIN is acknowledged our subflows close
/// (a FIN each, our direction only). A join the peer opens after that is
/// still answered and established, and then closed the same way: the
/// peer's direction is open and the new subflow carries its data (the
/// kernel joins an announced address whenever its path manager gets to
/// it, also after a server that had little to say shut its side).
#[test]
fn a_join_after_our_data_fin_was_acknowledged_is_established_and_carries_data() {
    let mut n = Net::new(true, |_, _| {});
    let up = pattern(11, 2_000_000);
    n.to_send[1] = b"ok".to_vec();
    // Hold the client's join SYNs back until the server's DATA_FIN was
    // acknowledged (a DATA_ACK from the client after it).
    let fin_seen = Rc::new(RefCell::new((false, false)));
    let state = fin_seen.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        let opts = mptcp_options(pkt);
        let mut s = state.borrow_mut();
        let dss = opts.iter().find_map(|o| match o {
            MptcpOption::Dss(d) => Some(*d),
            _ => None,
        });
        match dir {
            Dir::ToClient => s.0 |= dss.is_some_and(|d| d.data_fin),
            Dir::ToServer => s.1 |= s.0 && dss.is_some_and(|d| d.data_ack.is_some()),
        }
        let join_syn = is_syn(pkt) && opts.iter().any(|o| matches!(o, MptcpOption::Join(_)));
        !(dir == Dir::ToServer && join_syn && !s.1)
    });
    // The client writes only once the join is there.
    n.run(3000);
    assert!(
        fin_seen.borrow().1,
        "the server's DATA_FIN was acknowledged"
    );
    assert_eq!(n.server_mib(Mib::MPJoinAckRx), 1, "the join completed");
    n.to_send[0] = up.clone();
    n.run_to_end(30_000);
    assert!(n.got[0] == b"ok" && n.eof[0]);
    assert!(n.got[1] == up, "{} of {}", n.got[1].len(), up.len());
    assert!(n.eof[1]);
    let server = n
        .accepted
        .and_then(|h| n.server.connection(h))
        .expect("server");
    let joined = &server.info().subflows[1];
    assert!(
        joined.bytes_received > 0,
        "it carried the client's data: {joined:?}"
    );
}
