//! Path signals sent on the application's request, mid-transfer: MP_PRIO
//! (RFC 8684 §3.3.8) moves the peer's traffic off a subflow and back,
//! REMOVE_ADDR (§3.4.2) withdraws an address and its subflows while the
//! transfer goes on over the others.

use mptcp_proto::connection::{AddressError, ConnectionHandle, SubflowInfo};
use mptcp_proto::endpoint::{ApiMisuse, Endpoint};
use mptcp_proto::subflow::TcpState;
use mptcp_sim::scenario::{Direction, PathSpec, Scenario, TransferReport, TransferSpec, path_addr};
use mptcp_sim::{Duration, Instant};
use std::net::IpAddr;

const MIB: u64 = 1 << 20;

fn scenario(paths: &[&str], bytes: u64, direction: Direction) -> Scenario {
    let paths = paths
        .iter()
        .map(|p| PathSpec::parse(p).expect("path"))
        .collect();
    let mut spec = TransferSpec::new(paths, bytes);
    spec.direction = direction;
    Scenario::build(&spec).expect("scenario")
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn step(sc: &mut Scenario, ms: u64) {
    let done = sc.step_until(at(ms)).expect("simulation");
    assert!(!done, "the transfer ended before {ms} ms");
}

fn conn(ep: &Endpoint) -> ConnectionHandle {
    ep.connections().next().expect("a connection")
}

/// The subflow of `node` whose address on the client's side is `client`.
fn subflow(sc: &Scenario, server: bool, client: IpAddr) -> SubflowInfo {
    let node = if server { sc.server } else { sc.client };
    let ep = &sc.sim.node(node).endpoint;
    let info = ep.connection(conn(ep)).expect("connection").info();
    info.subflows
        .into_iter()
        .find(|s| {
            let end = if server {
                s.tuple.remote
            } else {
                s.tuple.local
            };
            end.ip() == client
        })
        .expect("a subflow from that address")
}

fn counter(r: &TransferReport, side: &str, name: &str) -> u64 {
    let map = if side == "client" {
        &r.counters.client
    } else {
        &r.counters.server
    };
    map.get(name).copied().unwrap_or(0)
}

fn finish(mut sc: Scenario) -> TransferReport {
    let done = sc.step_until(at(600_000));
    let r = sc.finish(done.err());
    assert!(
        r.is_ok(),
        "integrity {:?}, error {:?}\nreproduce with: {}",
        r.integrity,
        r.error,
        r.command
    );
    r
}

#[test]
fn mp_prio_moves_the_peers_traffic_off_a_subflow_and_back() {
    let mut sc = scenario(&["50mbit/10ms", "50mbit/10ms"], 48 * MIB, Direction::Down);
    let second = path_addr(false, 1, 1);
    step(&mut sc, 1_000);
    let before = subflow(&sc, true, second).bytes_sent;
    assert!(before > MIB, "path 1 carried {before} bytes before");
    let told = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        h.endpoint.set_backup(c, second, true)
    });
    assert_eq!(told, Ok(1));
    // One RTT for the MP_PRIO to arrive; what was in flight drains.
    step(&mut sc, 1_200);
    let marked = subflow(&sc, true, second);
    assert!(
        marked.backup,
        "the server sees {second}'s subflow as backup"
    );
    step(&mut sc, 3_000);
    let idle = subflow(&sc, true, second).bytes_sent - marked.bytes_sent;
    assert!(
        idle < 64 * 1024,
        "{idle} bytes went over the backup subflow while the other was usable"
    );
    let told = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        h.endpoint.set_backup(c, second, false)
    });
    assert_eq!(told, Ok(1));
    step(&mut sc, 4_000);
    let again = subflow(&sc, true, second);
    assert!(!again.backup);
    assert!(
        again.bytes_sent - marked.bytes_sent > 2 * MIB,
        "the subflow carried only {} bytes once usable again",
        again.bytes_sent - marked.bytes_sent
    );
    let r = finish(sc);
    assert_eq!(counter(&r, "client", "MPPrioTx"), 2);
    assert_eq!(counter(&r, "server", "MPPrioRx"), 2);
}

#[test]
fn a_join_from_a_backup_address_carries_flag_b() {
    let mut sc = scenario(&["50mbit/10ms", "50mbit/10ms"], 16 * MIB, Direction::Down);
    let second = path_addr(false, 1, 1);
    // Before the join: the client marks the address, the join says so.
    step(&mut sc, 1);
    let told = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        h.endpoint.set_backup(c, second, true)
    });
    assert_eq!(told, Ok(0), "no subflow from {second} yet");
    step(&mut sc, 1_000);
    let sf = subflow(&sc, true, second);
    // (The client, with nothing to send, has closed its direction.)
    assert!(sf.backup && sf.state == TcpState::CloseWait, "{sf:?}");
    assert!(
        sf.bytes_sent < 64 * 1024,
        "{} bytes on the backup",
        sf.bytes_sent
    );
    let r = finish(sc);
    assert_eq!(counter(&r, "client", "MPPrioTx"), 0);
}

#[test]
fn remove_addr_withdraws_a_joined_subflow_and_the_transfer_goes_on() {
    let mut sc = scenario(&["50mbit/10ms", "50mbit/10ms"], 32 * MIB, Direction::Up);
    let second = path_addr(false, 1, 1);
    step(&mut sc, 1_000);
    let reset = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        h.endpoint.remove_address(c, second)
    });
    assert_eq!(reset, Ok(1));
    let gone = subflow(&sc, false, second);
    assert_eq!(gone.state, TcpState::Closed);
    step(&mut sc, 1_200);
    assert_eq!(subflow(&sc, true, second).state, TcpState::Closed);
    step(&mut sc, 2_000);
    let later = subflow(&sc, false, second);
    assert_eq!(
        later.bytes_sent, gone.bytes_sent,
        "nothing sent after removal"
    );
    let r = finish(sc);
    assert_eq!(counter(&r, "client", "RmAddrTx"), 1);
    assert_eq!(counter(&r, "server", "RmAddr"), 1);
}

#[test]
fn remove_addr_of_the_initial_subflow_moves_the_connection_over() {
    let mut sc = scenario(&["50mbit/10ms", "50mbit/10ms"], 32 * MIB, Direction::Both);
    let first = path_addr(false, 0, 1);
    step(&mut sc, 1_000);
    let reset = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        h.endpoint.remove_address(c, first)
    });
    assert_eq!(reset, Ok(1));
    step(&mut sc, 1_200);
    assert_eq!(subflow(&sc, true, first).state, TcpState::Closed);
    let r = finish(sc);
    assert_eq!(counter(&r, "server", "RmAddr"), 1);
}

#[test]
fn removing_the_last_address_or_an_unknown_one_is_refused() {
    let mut sc = scenario(&["50mbit/10ms"], 4 * MIB, Direction::Up);
    step(&mut sc, 500);
    let first = path_addr(false, 0, 1);
    let other: IpAddr = "192.0.2.9".parse().expect("addr");
    let (last, unknown) = sc.sim.with_node(sc.client, |h, _| {
        let c = conn(&h.endpoint);
        (
            h.endpoint.remove_address(c, first),
            h.endpoint.remove_address(c, other),
        )
    });
    assert_eq!(
        last,
        Err(ApiMisuse::Address(AddressError::LastSubflow(first)))
    );
    assert_eq!(
        unknown,
        Err(ApiMisuse::Address(AddressError::Unknown(other)))
    );
    let r = finish(sc);
    assert_eq!(counter(&r, "client", "RmAddrTx"), 0);
}
