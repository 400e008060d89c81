//! Forged MP_JOINs are refused and counted while the real connection
//! carries on (RFC 8684 §3.2), and MP_FASTCLOSE tears a connection down
//! (§3.5). Two real endpoints over an ideal wire; the attacker injects
//! packets at the server.

mod support;

use mptcp_proto::connection::ConnectionHandle;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::endpoint::Event;
use mptcp_proto::segment::SegmentIn;
use mptcp_proto::stats::Mib;
use mptcp_wire::{BackupFlags, IpPacket, MpJoin, MptcpOption, ResetReason, TcpFlags};
use std::net::IpAddr;
use support::{Dir, Net, SERVER, ip};

/// Whether a packet carries an ADD_ADDR (not an echo).
fn carries_add_addr(pkt: &[u8]) -> bool {
    let Ok(ipk) = IpPacket::parse(pkt) else {
        return false;
    };
    let Ok(tcp) = ipk.tcp() else { return false };
    SegmentIn::from_tcp(&tcp)
        .mptcp
        .iter()
        .any(|o| matches!(o, MptcpOption::AddAddr(_)))
}

/// The MP_TCPRST reason of the last RST the server sent to the attacker.
fn last_reset_reason(net: &Net) -> Option<ResetReason> {
    let pkt = net.to_attacker.last()?;
    let ipk = IpPacket::parse(pkt).ok()?;
    let tcp = ipk.tcp().ok()?;
    let seg = SegmentIn::from_tcp(&tcp);
    assert!(seg.has(TcpFlags::RST), "a RST");
    seg.mptcp.iter().find_map(|o| match o {
        MptcpOption::TcpRst(r) => Some(r.reason),
        _ => None,
    })
}

#[test]
fn join_with_unknown_token_is_reset_and_counted() {
    let mut net = Net::new(false, |_, _| {});
    net.run(20);
    net.transfer(50_000);
    net.inject(
        5000,
        1000,
        0,
        TcpFlags::SYN,
        MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 3,
            token: net.server_token() ^ 0x5555_5555,
            nonce: 42,
        },
    );
    assert_eq!(net.server_mib(Mib::MPJoinNoTokenFound), 1);
    assert_eq!(last_reset_reason(&net), Some(ResetReason::MPTCP_SPECIFIC));
    net.transfer(200_000);
    let h = net.accepted.expect("accepted");
    assert_eq!(
        net.server.connection(h).expect("conn").subflows().count(),
        1
    );
}

#[test]
fn join_with_a_wrong_hmac_is_reset_and_counted() {
    let mut net = Net::new(false, |_, _| {});
    net.run(20);
    net.transfer(50_000);
    let token = net.server_token();
    net.inject(
        5001,
        7000,
        0,
        TcpFlags::SYN,
        MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 3,
            token,
            nonce: 42,
        },
    );
    assert_eq!(net.server_mib(Mib::MPJoinSynRx), 1);
    // The server answered with its SYN-ACK and MP_JOIN (its HMAC, nonce).
    let synack = net.to_attacker.last().cloned().expect("SYN-ACK");
    let ipk = IpPacket::parse(&synack).expect("ip");
    let tcp = ipk.tcp().expect("tcp");
    assert!(tcp.flags().syn() && tcp.flags().ack());
    let seg = SegmentIn::from_tcp(&tcp);
    assert!(
        seg.mptcp
            .iter()
            .any(|o| matches!(o, MptcpOption::Join(MpJoin::SynAck { .. })))
    );
    // The attacker cannot compute HMAC-A without the keys.
    net.inject(
        5001,
        7001,
        tcp.seq().0.wrapping_add(1),
        TcpFlags::ACK,
        MpJoin::Ack {
            reserved: 0,
            hmac: [0xab; 20],
        },
    );
    assert_eq!(net.server_mib(Mib::MPJoinAckHMacFailure), 1);
    assert_eq!(net.server_mib(Mib::MPJoinAckRx), 0);
    assert_eq!(last_reset_reason(&net), Some(ResetReason::MPTCP_SPECIFIC));
    net.transfer(200_000);
}

#[test]
fn abort_sends_mp_fastclose_and_the_peer_resets() {
    let mut net = Net::new(false, |_, _| {});
    net.run(20);
    net.transfer(20_000);
    net.client.abort(net.conn()).expect("abort");
    let mut closed = false;
    let mut buf = vec![0u8; 2048];
    while let Some(t) = net.client.poll_transmit(net.now, &mut buf) {
        let pkt = buf[..t.len].to_vec();
        net.server.handle(net.now, &pkt);
    }
    while let Some(ev) = net.server.poll_event() {
        if let Event::Closed(_, Some(_)) = ev {
            closed = true;
        }
    }
    assert!(closed, "the server's connection reset");
    assert_eq!(net.client.mib_total().get(Mib::MPFastcloseTx), 1);
    assert_eq!(net.server.mib_total().get(Mib::MPFastcloseRx), 1);
}

#[test]
fn connection_info_agrees_across_the_two_ends() {
    use mptcp_proto::crypto::{KeyMaterial, MptcpVersion};
    let mut net = Net::new(false, |_, _| {});
    net.run(20);
    net.transfer(30_000);
    let client = net.client.connection(net.conn()).expect("client").info();
    let server = net
        .server
        .connection(net.accepted.expect("accepted"))
        .expect("server")
        .info();
    let (c, s) = (client.mptcp.expect("mptcp"), server.mptcp.expect("mptcp"));
    assert_eq!(c.version, MptcpVersion::V1);
    assert_eq!((c.fallback, s.fallback), (None, None));
    // Each side holds the other's key, and the token it derives from it is
    // the token the other side registered.
    assert_eq!(c.remote, Some(s.local));
    assert_eq!(s.remote, Some(c.local));
    assert_eq!(
        KeyMaterial::derive(s.local.key, MptcpVersion::V1).token,
        c.remote.expect("remote").token
    );
    assert_eq!(client.subflows.len(), 1);
    assert_eq!(
        client.subflows[0].tuple.local,
        server.subflows[0].tuple.remote
    );
    assert!(client.subflows[0].bytes_sent >= 30_000);
    assert_eq!(server.subflows[0].bytes_received, 30_000);
    assert!(client.subflows[0].srtt.is_some());
}

/// A client and a server that announces `second` besides its own
/// address, speaking `version`, seeded from `seed`; the client connecting.
fn signalling_pair(second: IpAddr, version: MptcpVersion, seed: u64) -> (Net, ConnectionHandle) {
    let mut net = Net::seeded((seed, seed + 1), false, |_, c| {
        c.connection.mptcp.version = version;
    });
    net.server.add_address(second, 1500);
    net.server.signal_address(second, None);
    let conn = net.conn();
    (net, conn)
}

#[test]
fn a_signalled_address_is_announced_echoed_and_joined() {
    let second = ip("192.0.2.3");
    let (mut net, conn) = signalling_pair(second, MptcpVersion::V1, 21);
    net.run(20);
    net.transfer(100_000);
    net.run(1100);
    assert_eq!(
        net.server_mib(Mib::AddAddrTx),
        1,
        "sent once: it was echoed"
    );
    assert_eq!(net.server_mib(Mib::EchoAdd), 1);
    assert_eq!(net.client.mib_total().get(Mib::AddAddr), 1);
    assert_eq!(net.server_mib(Mib::MPJoinAckRx), 1);
    let info = net.client.connection(conn).expect("client").info();
    let remotes: Vec<_> = info.subflows.iter().map(|s| s.tuple.remote.ip()).collect();
    assert_eq!(remotes, vec![ip(SERVER), second]);
    net.transfer(100_000);
}

/// RFC 6824 §3.4.1: a v0 ADD_ADDR carries no HMAC and is never echoed;
/// the client still joins the address. The server sends it once (no echo
/// to wait for) and nothing counts an echo at either end.
#[test]
fn a_v0_add_addr_is_not_echoed_and_is_joined() {
    let second = ip("192.0.2.3");
    let (mut net, conn) = signalling_pair(second, MptcpVersion::V0, 23);
    net.run(20);
    net.transfer(100_000);
    net.run(3000);
    let info = net.client.connection(conn).expect("client").info();
    assert_eq!(
        info.mptcp.as_ref().map(|m| m.version),
        Some(MptcpVersion::V0)
    );
    assert_eq!(
        net.server_mib(Mib::AddAddrTx),
        1,
        "sent once, no echo awaited"
    );
    assert_eq!(net.client.mib_total().get(Mib::AddAddr), 1);
    assert_eq!(net.client.mib_total().get(Mib::EchoAddTx), 0, "v0: no echo");
    assert_eq!(net.server_mib(Mib::EchoAdd), 0);
    assert_eq!(net.server_mib(Mib::MPJoinAckRx), 1);
    let remotes: Vec<_> = info.subflows.iter().map(|s| s.tuple.remote.ip()).collect();
    assert_eq!(remotes, vec![ip(SERVER), second]);
    net.transfer(100_000);
}

#[test]
fn a_lost_add_addr_is_sent_again_on_an_idle_connection() {
    let second = ip("192.0.2.3");
    let mut net = Net::new(false, |_, _| {});
    net.server.add_address(second, 1500);
    net.server.signal_address(second, None);
    let mut lose = 1;
    net.tamper = Box::new(move |_, dir, pkt| {
        if lose > 0 && dir == Dir::ToClient && carries_add_addr(pkt) {
            lose -= 1;
            return false;
        }
        true
    });
    // No data either way: only the retransmission timer can resend it.
    net.run(3000);
    assert_eq!(net.server_mib(Mib::AddAddrTx), 2, "sent, lost, sent again");
    assert_eq!(net.server_mib(Mib::EchoAdd), 1);
    assert_eq!(net.server_mib(Mib::MPJoinAckRx), 1, "and joined");
}

#[test]
fn refused_joins_leave_no_state_and_half_open_ones_are_few_and_short_lived() {
    let mut net = Net::new(false, |_, _| {});
    net.run(20);
    net.transfer(50_000);
    let token = net.server_token();
    let h = net.accepted.expect("accepted");
    let table = |net: &Net| net.server.connection(h).expect("conn").paths().count();
    // Join, then a third ACK with a wrong HMAC: refused, 500 times.
    for i in 0..500u16 {
        let port = 10_000 + i;
        let syn = MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 3,
            token,
            nonce: u32::from(i),
        };
        net.inject(port, 7000, 0, TcpFlags::SYN, syn);
        let synack = net.to_attacker.last().cloned().expect("SYN-ACK");
        let seq = IpPacket::parse(&synack)
            .expect("ip")
            .tcp()
            .expect("tcp")
            .seq();
        let ack = MpJoin::Ack {
            reserved: 0,
            hmac: [0xab; 20],
        };
        net.inject(port, 7001, seq.0.wrapping_add(1), TcpFlags::ACK, ack);
    }
    assert_eq!(net.server_mib(Mib::MPJoinAckHMacFailure), 500);
    assert_eq!(table(&net), 1, "a refused join leaves nothing");
    // Join SYNs that never complete: at most three wait at a time.
    for i in 0..1000u16 {
        let syn = MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 4,
            token,
            nonce: u32::from(i),
        };
        net.inject(20_000 + i, 9000, 0, TcpFlags::SYN, syn);
    }
    assert!(table(&net) <= 1 + 3, "{} entries", table(&net));
    assert!(net.server_mib(Mib::MPJoinRejected) >= 997);
    net.transfer(200_000);
    // They give up within seconds and leave nothing.
    net.run(10_000);
    assert_eq!(table(&net), 1);
    net.transfer(100_000);
}
