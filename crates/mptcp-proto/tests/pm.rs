//! The path manager between two endpoints: each endpoint flag and limit,
//! subflows that come back, the userspace calls, and the events.

mod support;

use mptcp_proto::endpoint::ApiMisuse;
use mptcp_proto::pm::{EndpointFlags as F, PmEndpoint, PmEvent, PmKind, PmLimits};
use mptcp_proto::stats::Mib;
use mptcp_proto::subflow::TcpState;
use std::net::SocketAddr;
use support::{CLIENT, CLIENT2, Dir, Net, SERVER, ip, pattern};

const SERVER2: &str = "192.0.2.4";
const CLIENT3: &str = "192.0.2.5";

fn endpoint(addr: &str, flags: &[F]) -> PmEndpoint {
    PmEndpoint::new(ip(addr), flags.iter().fold(F::NONE, |a, b| a.union(*b)))
}

fn limits(subflows: u8, add_addr_accepted: u8) -> PmLimits {
    PmLimits {
        subflows,
        add_addr_accepted,
    }
}

/// A pair with the given limits on each side (`None`: derived), the
/// client's second address added as endpoint `client_ep`.
fn pair(client: Option<PmLimits>, server: Option<PmLimits>) -> Net {
    let mut net = Net::new(false, |is_client, c| {
        c.connection.mptcp.pm.limits = if is_client { client } else { server };
        c.connection.mptcp.pm.events = true;
    });
    net.client.add_address(ip(CLIENT2), 1500);
    net.client.add_address(ip(CLIENT3), 1500);
    net.server.add_address(ip(SERVER2), 1500);
    open(&mut net);
    net
}

/// Some data from the client: the server's DATA_ACK makes the connection
/// fully established at the client (RFC 8684 §3.1), and nothing closes.
fn open(net: &mut Net) {
    net.client.write(net.conn(), &[7; 100]).expect("write");
}

/// Add a path-manager endpoint.
fn add(ep: &mut mptcp_proto::endpoint::Endpoint, e: PmEndpoint) {
    ep.add_endpoint(e).expect("endpoint added");
}

/// Live subflows of the client's connection: (local, remote).
fn client_paths(net: &Net) -> Vec<(String, SocketAddr)> {
    let conn = net.client.connection(net.conn()).expect("connection");
    conn.paths()
        .filter(|e| e.sf.state() == TcpState::Established)
        .map(|e| (e.sf.tuple().local.ip().to_string(), e.sf.tuple().remote))
        .collect()
}

fn server_at(port: u16) -> SocketAddr {
    SocketAddr::new(ip(SERVER), port)
}

#[test]
fn a_subflow_endpoint_joins_the_servers_address_and_backup_sets_flag_b() {
    let mut net = pair(None, None);
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW, F::BACKUP]));
    net.run(200);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 1);
    assert_eq!(net.server_mib(Mib::MPJoinSynRx), 1);
    assert_eq!(
        net.server_mib(Mib::MPJoinSynBackupRx),
        1,
        "counted as backup"
    );
    assert!(client_paths(&net).contains(&(CLIENT2.to_string(), server_at(80))));
    let h = net.accepted.expect("accepted");
    let server = net.server.connection(h).unwrap();
    let join = server.paths().nth(1).expect("join");
    assert!(join.path.peer_backup, "MP_JOIN SYN carried flag B");
    assert_eq!(join.path.remote_id, 1, "the endpoint's id");
}

#[test]
fn the_subflows_limit_bounds_the_joins_opened() {
    let mut net = pair(Some(limits(1, 0)), None);
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    add(&mut net.client, endpoint(CLIENT3, &[F::SUBFLOW]));
    net.run(300);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 1);
    assert_eq!(client_paths(&net).len(), 2);
}

#[test]
fn the_servers_subflows_limit_refuses_joins() {
    let mut net = pair(None, Some(limits(1, 0)));
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    add(&mut net.client, endpoint(CLIENT3, &[F::SUBFLOW]));
    net.run(300);
    // As the kernel counts: every join SYN, then the refusal.
    assert_eq!(net.server_mib(Mib::MPJoinSynRx), 2);
    assert_eq!(net.server_mib(Mib::MPJoinRejected), 1);
    assert_eq!(client_paths(&net).len(), 2);
}

#[test]
fn a_signal_endpoint_with_a_port_is_announced_and_joined_when_accepted() {
    let mut net = pair(Some(limits(2, 1)), None);
    let mut ep = endpoint(SERVER2, &[F::SIGNAL]);
    ep.port = Some(8080);
    net.server.add_endpoint(ep).unwrap();
    net.run(300);
    assert_eq!(net.server_mib(Mib::AddAddrTx), 1);
    assert_eq!(net.client_mib(Mib::AddAddr), 1);
    assert_eq!(net.client_mib(Mib::PortAdd), 1);
    assert_eq!(net.server_mib(Mib::EchoAdd), 1);
    // From the first subflow's address, as routing would pick.
    let to = SocketAddr::new(ip(SERVER2), 8080);
    assert!(client_paths(&net).contains(&(CLIENT.to_string(), to)));
    assert!(net.pm_events[0].iter().any(|e| matches!(
        e,
        PmEvent::Announced { remote, remote_id: 1, .. } if *remote == to
    )));
}

#[test]
fn an_announcement_beyond_add_addr_accepted_is_echoed_but_not_joined() {
    let mut net = pair(Some(limits(2, 0)), None);
    add(&mut net.server, endpoint(SERVER2, &[F::SIGNAL]));
    net.run(300);
    assert_eq!(net.client_mib(Mib::AddAddr), 1);
    assert_eq!(net.client_mib(Mib::EchoAddTx), 1);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 0);
}

#[test]
fn a_fullmesh_endpoint_joins_every_address_of_the_server() {
    let mut net = pair(Some(limits(4, 2)), None);
    add(
        &mut net.client,
        endpoint(CLIENT2, &[F::SUBFLOW, F::FULLMESH]),
    );
    add(&mut net.server, endpoint(SERVER2, &[F::SIGNAL]));
    net.run(400);
    let paths = client_paths(&net);
    let s2 = SocketAddr::new(ip(SERVER2), 80);
    assert!(paths.contains(&(CLIENT2.to_string(), server_at(80))));
    assert!(paths.contains(&(CLIENT2.to_string(), s2)));
    // The fullmesh endpoint, not the first address, serves the announcement.
    assert!(!paths.contains(&(CLIENT.to_string(), s2)));
    assert_eq!(paths.len(), 3);
}

#[test]
fn a_laminar_endpoint_serves_an_announced_address() {
    let mut net = pair(Some(limits(4, 2)), None);
    add(&mut net.client, endpoint(CLIENT2, &[F::LAMINAR]));
    add(&mut net.server, endpoint(SERVER2, &[F::SIGNAL]));
    net.run(400);
    let paths = client_paths(&net);
    let s2 = SocketAddr::new(ip(SERVER2), 80);
    assert_eq!(
        paths,
        vec![
            (CLIENT.to_string(), server_at(80)),
            (CLIENT2.to_string(), s2)
        ]
    );
}

#[test]
fn a_refused_subflow_comes_back_with_backoff_a_bounded_number_of_times() {
    // The server takes no join at all: each attempt is refused.
    let mut net = pair(None, Some(limits(0, 0)));
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    net.run(1_500);
    // The first retry waits a second: by now one.
    assert_eq!(net.client_mib(Mib::MPJoinSynTxRetry), 1);
    net.run(60_000);
    assert_eq!(net.client_mib(Mib::MPJoinSynTxRetry), 5);
    assert_eq!(net.server_mib(Mib::MPJoinRejected), 6);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 6);
}

#[test]
fn the_retries_come_from_the_path_managers_own_timer() {
    // As above, driven deadline to deadline: nothing but the path
    // manager's timer (Timer::PathManager) brings the idle connection back
    // for a retry (`run`'s 1 ms ticks would).
    let mut net = pair(None, Some(limits(0, 0)));
    net.run(300);
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    let end = net.now + mptcp_proto::time::Duration::from_secs(60);
    while net.now < end && net.step() {}
    assert_eq!(net.client_mib(Mib::MPJoinSynTxRetry), 5);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 6);
}

#[test]
fn a_removed_endpoint_is_withdrawn_and_not_retried() {
    let mut net = pair(None, None);
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    net.run(200);
    assert_eq!(client_paths(&net).len(), 2);
    net.client.remove_endpoint(ip(CLIENT2)).expect("endpoint");
    net.run(5_000);
    assert_eq!(net.client_mib(Mib::RmAddrTx), 1);
    assert_eq!(net.server_mib(Mib::RmAddr), 1);
    assert_eq!(net.client_mib(Mib::MPJoinSynTxRetry), 0);
    assert_eq!(client_paths(&net).len(), 1);
    assert!(net.pm_events[0].iter().any(|e| matches!(
        e,
        PmEvent::SubClosed { sub, error: Some(103) } if sub.local.ip() == ip(CLIENT2)
    )));
    assert!(
        net.pm_events[1]
            .iter()
            .any(|e| matches!(e, PmEvent::Removed { remote_id: 1, .. }))
    );
    // Back: joined again.
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    net.run(200);
    assert_eq!(client_paths(&net).len(), 2);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 2);
}

#[test]
fn the_userspace_path_manager_opens_nothing_until_told() {
    let mut net = Net::new(true, |_, c| {
        c.connection.mptcp.pm.kind = PmKind::Userspace;
    });
    net.server.add_address(ip(SERVER2), 1500);
    net.server.signal_address(ip(SERVER2), None);
    open(&mut net);
    net.run(300);
    // Two local addresses and an announcement, and no join.
    assert_eq!(
        net.client_mib(Mib::AddAddr),
        0,
        "userspace servers announce nothing"
    );
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 0);
    let s2 = SocketAddr::new(ip(SERVER2), 80);
    net.client
        .create_subflow(net.conn(), ip(CLIENT2), s2)
        .unwrap();
    net.run(200);
    assert!(client_paths(&net).contains(&(CLIENT2.to_string(), s2)));
    // The same subflow again is refused, as is a foreign address.
    assert!(
        net.client
            .create_subflow(net.conn(), ip(CLIENT2), s2)
            .is_err()
    );
    assert_eq!(
        net.client
            .create_subflow(net.conn(), ip("198.51.100.1"), s2),
        Err(ApiMisuse::NotLocal(ip("198.51.100.1")))
    );
    net.client
        .set_backup(net.conn(), ip(CLIENT2), true)
        .unwrap();
    net.run(100);
    assert_eq!(net.server_mib(Mib::MPPrioRx), 1);
    let local = SocketAddr::new(ip(CLIENT2), 0);
    net.client.destroy_subflow(net.conn(), local, s2).unwrap();
    net.run(100);
    assert_eq!(client_paths(&net).len(), 1);
    // The last one stays.
    let first = SocketAddr::new(ip(CLIENT), 0);
    assert!(
        net.client
            .destroy_subflow(net.conn(), first, server_at(80))
            .is_err()
    );
    // Data still flows end to end.
    net.to_send = [pattern(1, 50_000), pattern(2, 50_000)];
    net.run_to_end(10_000);
    // (after the 100 bytes that opened the connection)
    assert!(
        net.got[1][100..] == pattern(1, 50_000)[..],
        "client to server"
    );
    assert!(net.got[0] == pattern(2, 50_000), "server to client");
}

#[test]
fn events_follow_the_kernels_sequence() {
    let mut net = pair(None, None);
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    net.to_send = [pattern(3, 10_000), pattern(4, 10_000)];
    net.run_to_end(10_000);
    net.run(1_000);
    let names = |side: usize| -> Vec<&'static str> {
        net.pm_events[side].iter().map(|e| e.name()).collect()
    };
    assert_eq!(
        names(0)[..4],
        ["created", "established", "sub_established", "closed"]
    );
    assert_eq!(
        names(1)[..5],
        [
            "listener_created",
            "created",
            "established",
            "sub_established",
            "closed"
        ]
    );
    let token = net.pm_events[0]
        .iter()
        .find_map(|e| match e {
            PmEvent::SubEstablished(s) => Some(s),
            _ => None,
        })
        .expect("sub_established");
    assert_eq!((token.local_id, token.remote_id), (1, 0));
    assert_eq!(token.local.ip(), ip(CLIENT2));
    // A graceful end reports no error.
    assert!(
        net.pm_events[0]
            .iter()
            .all(|e| !matches!(e, PmEvent::SubClosed { error: Some(_), .. }))
    );
}

#[test]
fn no_event_is_queued_unless_asked_for() {
    let mut net = Net::new(true, |_, _| {});
    open(&mut net);
    net.run(300);
    assert!(net.pm_events.iter().all(|v| v.is_empty()));
    // Today's default: the client joins from its second address.
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 1);
}

#[test]
fn an_interface_that_goes_down_withdraws_its_address_and_comes_back_joined() {
    // Today's defaults: every local address joins; no endpoint configured.
    let mut net = Net::new(true, |_, _| {});
    open(&mut net);
    net.run(300);
    assert_eq!(client_paths(&net).len(), 2);
    net.client.set_link(ip(CLIENT2), false);
    net.run(2_000);
    assert_eq!(net.server_mib(Mib::RmAddr), 1);
    assert_eq!(client_paths(&net).len(), 1);
    // Down twice is once.
    net.client.set_link(ip(CLIENT2), false);
    net.run(2_000);
    assert_eq!(net.client_mib(Mib::RmAddrTx), 1);
    net.client.set_link(ip(CLIENT2), true);
    net.run(300);
    assert_eq!(net.server_mib(Mib::MPJoinSynRx), 2);
    assert!(client_paths(&net).contains(&(CLIENT2.to_string(), server_at(80))));
}

/// The `sub_closed` events of one side for subflows from `from`.
fn sub_closed_from(net: &Net, side: usize, from: &str) -> Vec<Option<u32>> {
    net.pm_events[side]
        .iter()
        .filter_map(|e| match e {
            PmEvent::SubClosed { sub, error } if sub.local.ip() == ip(from) => Some(*error),
            PmEvent::SubClosed { sub, error } if sub.remote.ip() == ip(from) => Some(*error),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refused_join_is_reported_closed_with_econnrefused() {
    // The server takes no join: its RST answers the MP_JOIN SYN.
    let mut net = pair(None, Some(limits(0, 0)));
    add(&mut net.client, endpoint(CLIENT2, &[F::SUBFLOW]));
    // Before the first retry (a second after the refusal).
    net.run(500);
    assert_eq!(net.server_mib(Mib::MPJoinRejected), 1);
    assert_eq!(sub_closed_from(&net, 0, CLIENT2), [Some(111)]);
    // The server never had the subflow.
    assert_eq!(sub_closed_from(&net, 1, CLIENT2), []);
    assert!(
        !net.pm_events[0]
            .iter()
            .any(|e| matches!(e, PmEvent::SubEstablished(_)))
    );
}

#[test]
fn a_timed_out_join_is_reported_closed_with_etimedout_and_the_peers_half_open_one_not_at_all() {
    let mut net = Net::new(true, |is_client, c| {
        c.connection.mptcp.pm.events = true;
        if is_client {
            c.connection.subflow.syn_retries = 1;
        }
    });
    // Nothing reaches the client's second address: its join's SYN arrives,
    // the server's SYN-ACKs do not.
    let second = match ip(CLIENT2) {
        std::net::IpAddr::V4(a) => a.octets(),
        std::net::IpAddr::V6(_) => unreachable!(),
    };
    net.tamper = Box::new(move |_, dir, pkt| !(dir == Dir::ToClient && pkt[16..20] == second));
    open(&mut net);
    // One SYN retransmission: the attempt gives up after 1 + 2 s.
    net.run(3_500);
    assert_eq!(net.client_mib(Mib::MPJoinSynTx), 1);
    assert_eq!(net.server_mib(Mib::MPJoinSynRx), 1);
    assert_eq!(sub_closed_from(&net, 0, CLIENT2), [Some(110)]);
    net.run(30_000);
    assert_eq!(sub_closed_from(&net, 1, CLIENT2), []);
}

#[test]
fn no_event_comes_before_created() {
    // The server refuses the connection itself: no MPTCP connection ever
    // existed, so nothing is reported (not even its subflow's end).
    let mut net = Net::new(false, |_, c| c.connection.mptcp.pm.events = true);
    net.server.unlisten(80);
    net.run(3_000);
    assert!(net.closed[0].is_some(), "the connection failed");
    assert_eq!(net.pm_events[0], []);
}

#[test]
fn a_signal_address_whose_link_comes_back_is_announced_and_joined_again() {
    let mut net = pair(Some(limits(2, 1)), None);
    add(&mut net.server, endpoint(SERVER2, &[F::SIGNAL]));
    net.run(300);
    let s2 = SocketAddr::new(ip(SERVER2), 80);
    assert!(client_paths(&net).contains(&(CLIENT.to_string(), s2)));
    net.server.set_link(ip(SERVER2), false);
    net.run(2_000);
    assert_eq!(net.client_mib(Mib::RmAddr), 1);
    assert!(!client_paths(&net).contains(&(CLIENT.to_string(), s2)));
    net.server.set_link(ip(SERVER2), true);
    net.run(300);
    assert_eq!(net.server_mib(Mib::AddAddrTx), 2);
    assert_eq!(net.client_mib(Mib::AddAddr), 2);
    // The withdrawn address no longer counts against add_addr_accepted.
    assert!(client_paths(&net).contains(&(CLIENT.to_string(), s2)));
}

#[test]
fn an_announcement_whose_echo_is_lost_is_sent_again_until_the_bound() {
    // The client's echoes never arrive, and nothing else moves on the
    // idle connection: only the announcement's timer (Timer::AddAddr)
    // brings the connection back to resend it, once a second, four sends
    // in all. Driven deadline to deadline, this fails without that timer;
    // the tests that drive in 1 ms ticks did not (each tick polls the
    // connection as a timer would).
    let mut net = pair(Some(limits(2, 1)), None);
    net.run(300);
    let times = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = times.clone();
    net.tamper = Box::new(move |now, dir, pkt| {
        let announces = support::mptcp_options(pkt)
            .iter()
            .any(|o| matches!(o, mptcp_wire::MptcpOption::AddAddr(a) if !a.is_echo()));
        if dir == Dir::ToClient && announces {
            seen.borrow_mut().push(now);
        }
        let echoes = support::mptcp_options(pkt)
            .iter()
            .any(|o| matches!(o, mptcp_wire::MptcpOption::AddAddr(a) if a.is_echo()));
        !(dir == Dir::ToServer && echoes)
    });
    add(&mut net.server, endpoint(SERVER2, &[F::SIGNAL]));
    // From deadline to deadline (`run`'s 1 ms ticks would poll the
    // connection as if a timer had fired).
    let end = net.now + mptcp_proto::time::Duration::from_secs(10);
    while net.now < end && net.step() {}
    let times = times.borrow();
    assert_eq!(times.len(), 4, "{times:?}");
    assert_eq!(net.server_mib(Mib::AddAddrTx), 4);
    for pair in times.windows(2) {
        let gap = pair[1].saturating_duration_since(pair[0]).as_millis();
        assert!(
            (900..=1100).contains(&gap),
            "{gap} ms between sends: {times:?}"
        );
    }
}
