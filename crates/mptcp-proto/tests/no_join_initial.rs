//! A server behind a load balancer that spreads by 4-tuple
//! (`MptcpConfig::no_join_initial`): its SYN-ACK sets flag C (RFC 8684
//! §3.1), the client then joins only the addresses the server announces,
//! and a join to the initial address and port is refused all the same.

mod support;

use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::endpoint::EndpointConfig;
use mptcp_proto::stats::Mib;
use mptcp_wire::{
    AddAddr, CapableBody, CapableFlags, IpPacket, MpJoin, MptcpOption, ResetReason, TcpFlags,
};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use support::{Dir, Net, SERVER, fix_tcp_checksum, ip, mptcp_options, pattern};

/// The server's second address, announced with ADD_ADDR.
const SERVER2: &str = "192.0.2.4";

/// What crossed the wire.
#[derive(Default)]
struct Seen {
    /// The flags of every SYN-ACK's MP_CAPABLE.
    syn_ack_flags: Vec<CapableFlags>,
    /// Where every MP_JOIN SYN went.
    join_syns: Vec<SocketAddr>,
    /// The reasons of the server's MP_TCPRSTs.
    resets: Vec<ResetReason>,
}

fn dst(pkt: &[u8]) -> SocketAddr {
    let ip = IpPacket::parse(pkt).expect("IP");
    let tcp = ip.tcp().expect("TCP");
    SocketAddr::new(ip.dst(), tcp.dst_port())
}

fn flags(pkt: &[u8]) -> TcpFlags {
    IpPacket::parse(pkt)
        .expect("IP")
        .tcp()
        .expect("TCP")
        .flags()
}

/// Clear flag C in a packet's MP_CAPABLE, as a peer that does not honour
/// it would behave, and fix the TCP checksum.
fn clear_c(pkt: &mut [u8]) {
    let ip = IpPacket::parse(pkt).expect("IP");
    let tcp = ip.tcp().expect("TCP");
    let at: Vec<usize> = tcp
        .options()
        .raw()
        .filter_map(Result::ok)
        .filter(|r| r.kind() == 30 && r.bytes.len() >= 4 && r.bytes[2] >> 4 == 0)
        .map(|r| r.offset + 3)
        .collect();
    for i in at {
        pkt[i] &= !CapableFlags::NO_JOIN_TO_SOURCE.0;
    }
    fix_tcp_checksum(pkt);
}

/// A connection from a client with two addresses to a server with
/// `no_join_initial` as given, which announces SERVER2; `honour` false
/// hides flag C from the client. 200 KB each way.
fn run(no_join_initial: bool, honour: bool, tune: impl Fn(&mut EndpointConfig)) -> (Net, Seen) {
    let mut n = Net::new(true, |client, c| {
        if !client {
            c.connection.mptcp.no_join_initial = no_join_initial;
            tune(c);
        }
    });
    n.server.add_address(ip(SERVER2), 1500);
    n.server.signal_address(ip(SERVER2), None);
    let seen = Rc::new(RefCell::new(Seen::default()));
    let log = seen.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        let opts = mptcp_options(pkt);
        let f = flags(pkt);
        let mut log = log.borrow_mut();
        for o in &opts {
            match o {
                MptcpOption::Capable(c)
                    if f.contains(TcpFlags::SYN | TcpFlags::ACK)
                        && matches!(c.body, CapableBody::SenderKey(_)) =>
                {
                    log.syn_ack_flags.push(c.flags)
                }
                MptcpOption::Join(MpJoin::Syn { .. }) => log.join_syns.push(dst(pkt)),
                MptcpOption::TcpRst(r) if dir == Dir::ToClient => log.resets.push(r.reason),
                _ => {}
            }
        }
        if !honour && dir == Dir::ToClient && f.contains(TcpFlags::SYN) {
            clear_c(pkt);
        }
        true
    });
    n.to_send = [pattern(1, 200_000), pattern(2, 200_000)];
    n.run_to_end(20_000);
    assert_eq!(n.got[1], n.to_send[0], "client to server");
    assert_eq!(n.got[0], n.to_send[1], "server to client");
    let seen = std::mem::take(&mut *seen.borrow_mut());
    (n, seen)
}

fn has_c(f: CapableFlags) -> bool {
    f.0 & CapableFlags::NO_JOIN_TO_SOURCE.0 != 0
}

#[test]
fn flag_c_sent_and_the_client_joins_only_the_announced_address() {
    let initial = SocketAddr::new(ip(SERVER), 80);
    let (n, seen) = run(true, true, |_| {});
    assert_eq!(seen.syn_ack_flags.len(), 1, "one SYN-ACK");
    assert!(has_c(seen.syn_ack_flags[0]), "{:?}", seen.syn_ack_flags);
    assert!(!seen.join_syns.is_empty(), "the client joined");
    assert!(
        seen.join_syns.iter().all(|d| d.ip() == ip(SERVER2)),
        "joins only to the announced address: {:?}",
        seen.join_syns
    );
    assert!(!seen.join_syns.contains(&initial));
    assert_eq!(n.server_mib(Mib::MPJoinRejected), 0);
    assert!(n.server_mib(Mib::MPJoinSynRx) >= 1);

    // By default no flag, and the client's second address joins the
    // initial address too.
    let (_, seen) = run(false, true, |_| {});
    assert!(!has_c(seen.syn_ack_flags[0]), "{:?}", seen.syn_ack_flags);
    assert!(seen.join_syns.contains(&initial), "{:?}", seen.join_syns);
}

#[test]
fn a_join_to_the_initial_address_and_port_is_refused() {
    // The client never learns of flag C and joins the initial address from
    // its second address: the server resets that join (MP_TCPRST
    // "administratively prohibited") and counts it; the join to the
    // announced address is taken and the connection carries on.
    let initial = SocketAddr::new(ip(SERVER), 80);
    let (n, seen) = run(true, false, |_| {});
    assert!(seen.join_syns.contains(&initial), "{:?}", seen.join_syns);
    assert!(n.server_mib(Mib::MPJoinRejected) >= 1);
    assert!(
        seen.resets
            .contains(&ResetReason::ADMINISTRATIVELY_PROHIBITED),
        "{:?}",
        seen.resets
    );
    let c = n.server.connection(n.accepted.unwrap()).unwrap();
    let tuples: Vec<_> = c.subflows().map(|s| s.tuple()).collect();
    assert!(
        tuples.iter().skip(1).all(|t| t.local != initial),
        "no subflow at the initial address besides the first: {tuples:?}"
    );
    assert!(
        tuples.iter().any(|t| t.local.ip() == ip(SERVER2)),
        "the announced address was joined: {tuples:?}"
    );
}

#[test]
fn syn_cookies_carry_flag_c_and_refuse_as_well() {
    // Every SYN answered with a cookie: the stateless SYN-ACK sets C and
    // the connection the cookie opens refuses joins to the initial address.
    let cookies = |c: &mut EndpointConfig| c.syn_backlog = 0;
    let (n, seen) = run(true, false, cookies);
    assert!(n.server.stats().syn_cookies_accepted >= 1);
    assert!(seen.syn_ack_flags.iter().any(|f| has_c(*f)));
    assert!(n.server_mib(Mib::MPJoinRejected) >= 1);
}

#[test]
fn v0_has_no_flag_c() {
    // RFC 6824 reserves the bit: a v0 connection never gets it.
    let mut n = Net::new(false, |client, c| {
        c.connection.mptcp.version = MptcpVersion::V0;
        c.connection.mptcp.no_join_initial = !client;
    });
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    n.tamper = Box::new(move |_, _, pkt| {
        for o in mptcp_options(pkt) {
            if let MptcpOption::Capable(c) = o {
                log.borrow_mut().push(c.flags);
            }
        }
        true
    });
    n.run(100);
    let seen = seen.borrow();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|f| !has_c(*f)), "{seen:?}");
}

#[test]
fn the_initial_address_with_a_port_of_its_own_is_announced_and_joined() {
    // One address per backend: the server announces its initial address
    // with another port (`signal,port=N`); the client joins it there, and
    // the join is taken although nothing listens on that port.
    let mut n = Net::new(false, |client, c| {
        c.connection.mptcp.no_join_initial = !client;
    });
    n.server.signal_address(ip(SERVER), Some(9001));
    let joins = Rc::new(RefCell::new(Vec::new()));
    let log = joins.clone();
    // The ids the server announced and answered joins with.
    let ids = Rc::new(RefCell::new((Vec::new(), Vec::new())));
    let seen = ids.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        for o in mptcp_options(pkt) {
            match o {
                MptcpOption::Join(MpJoin::Syn { .. }) => log.borrow_mut().push(dst(pkt)),
                MptcpOption::Join(MpJoin::SynAck { address_id, .. }) => {
                    seen.borrow_mut().1.push(address_id)
                }
                MptcpOption::AddAddr(AddAddr::V1 {
                    flags, address_id, ..
                }) if dir == Dir::ToClient && !flags.echo() => seen.borrow_mut().0.push(address_id),
                _ => {}
            }
        }
        true
    });
    n.to_send = [pattern(3, 100_000), pattern(4, 100_000)];
    n.run_to_end(20_000);
    assert_eq!(n.got[1], n.to_send[0]);
    assert_eq!(n.got[0], n.to_send[1]);
    let port = SocketAddr::new(ip(SERVER), 9001);
    assert_eq!(*joins.borrow(), vec![port]);
    let c = n.server.connection(n.accepted.unwrap()).unwrap();
    assert!(c.subflows().any(|s| s.tuple().local == port));
    assert_eq!(n.server_mib(Mib::MPJoinRejected), 0);
    // An id of its own, not the initial address's 0 (which the Linux
    // kernel echoes but never joins), and the join answered under it.
    let (announced, answered) = ids.borrow().clone();
    assert!(!announced.is_empty());
    assert!(announced.iter().all(|&id| id != 0), "{announced:?}");
    assert_eq!(answered, vec![announced[0]]);
}

/// The balancer's shared address in front of the server.
const SHARED: &str = "203.0.113.9";

/// Rewrite a packet's IPv4 source (`src` true) or destination address to
/// `to`, fixing both checksums, as a NAT does.
fn translate(pkt: &mut [u8], src: bool, to: std::net::Ipv4Addr) {
    let at = if src { 12 } else { 16 };
    pkt[at..at + 4].copy_from_slice(&to.octets());
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    pkt[10] = 0;
    pkt[11] = 0;
    let sum = mptcp_wire::checksum::checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&sum.to_be_bytes());
    fix_tcp_checksum(pkt);
}

/// A server with flag C behind a balancer with `nat` on: it announces
/// the balancer's shared address with a port of its own
/// (`announce=SHARED,port=9001`), which the balancer maps to the server's
/// address statically. Returns the net, the ADD_ADDRs the client got
/// (address, port, id), where its joins went and the ids joins were
/// answered under.
type Announced = Vec<(std::net::IpAddr, Option<u16>, u8)>;
fn behind_a_balancer(nat: bool) -> (Net, Announced, Vec<SocketAddr>, Vec<u8>) {
    use mptcp_proto::pm::{EndpointFlags, PmEndpoint};
    let mut n = Net::new(false, |client, c| {
        c.connection.mptcp.no_join_initial = !client;
    });
    let ep = PmEndpoint {
        port: Some(9001),
        announce_as: Some(ip(SHARED)),
        ..PmEndpoint::new(ip(SERVER), EndpointFlags::SIGNAL)
    };
    n.server.add_endpoint(ep).expect("endpoint");
    let seen = Rc::new(RefCell::new((Vec::new(), Vec::new(), Vec::new())));
    let log = seen.clone();
    let shared: std::net::Ipv4Addr = SHARED.parse().unwrap();
    let server: std::net::Ipv4Addr = SERVER.parse().unwrap();
    n.tamper = Box::new(move |_, dir, pkt| {
        let mut log = log.borrow_mut();
        for o in mptcp_options(pkt) {
            match o {
                MptcpOption::AddAddr(a) if dir == Dir::ToClient && !a.is_echo() => {
                    log.0.push((a.addr(), a.port(), a.address_id()))
                }
                MptcpOption::Join(MpJoin::Syn { .. }) => log.1.push(dst(pkt)),
                MptcpOption::Join(MpJoin::SynAck { address_id, .. }) => log.2.push(address_id),
                _ => {}
            }
        }
        let to = dst(pkt);
        let from_port = IpPacket::parse(pkt)
            .expect("IP")
            .tcp()
            .expect("TCP")
            .src_port();
        if nat && dir == Dir::ToServer && to == SocketAddr::new(shared.into(), 9001) {
            translate(pkt, false, server);
        } else if nat && dir == Dir::ToClient && from_port == 9001 {
            translate(pkt, true, shared);
        }
        true
    });
    n.to_send = [pattern(5, 100_000), pattern(6, 100_000)];
    n.run_to_end(20_000);
    assert_eq!(n.got[1], n.to_send[0]);
    assert_eq!(n.got[0], n.to_send[1]);
    let (announced, joins, answered) = std::mem::take(&mut *seen.borrow_mut());
    (n, announced, joins, answered)
}

#[test]
fn a_backend_announces_the_shared_address_with_its_own_port() {
    // Backends without an address of their own: each announces the
    // balancer's address with its port, and the balancer maps each port
    // to its backend with a static rule (docs/scaling.md).
    let (n, announced, joins, answered) = behind_a_balancer(true);
    assert_eq!(announced.len(), 1, "{announced:?}");
    let (addr, port, id) = announced[0];
    assert_eq!((addr, port), (ip(SHARED), Some(9001)), "the shared address");
    assert_ne!(id, 0, "an id of its own");
    let public = SocketAddr::new(ip(SHARED), 9001);
    assert_eq!(joins, vec![public], "the client joined the shared address");
    assert_eq!(answered, vec![id], "answered under the announced id");
    let c = n.server.connection(n.accepted.unwrap()).unwrap();
    let local = SocketAddr::new(ip(SERVER), 9001);
    assert!(
        c.subflows().any(|s| s.tuple().local == local),
        "the join arrived at the server's own address and port"
    );
    assert_eq!(n.server_mib(Mib::MPJoinRejected), 0);
    assert!(n.server_mib(Mib::MPJoinSynRx) >= 1);

    // Without the balancer's rule the join goes nowhere: the shared
    // address is not the server's.
    let (n, _, joins, answered) = behind_a_balancer(false);
    assert_eq!(joins.first(), Some(&public));
    assert!(answered.is_empty(), "{answered:?}");
    assert_eq!(n.server_mib(Mib::MPJoinSynRx), 0);
}
