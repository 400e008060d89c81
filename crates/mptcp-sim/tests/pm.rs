//! The in-kernel path manager between two of our ends over the simulator:
//! which subflows each endpoint flag opens (`subflow`, `fullmesh`,
//! `laminar`), which addresses are announced (`signal`), flag B on joins
//! (`backup`), both limits, and a failed subflow that comes back with
//! backoff while its endpoint exists and not once it is removed.
//!
//! Both hosts have several addresses, each on its own access link to one
//! router, so any address of the client reaches any of the server's and a
//! subflow's packets take the access links of its two addresses.

use mptcp_proto::endpoint::{Endpoint, EndpointConfig};
use mptcp_proto::pm::{EndpointFlags as F, PmEndpoint, PmLimits};
use mptcp_proto::stats::{Counters, Mib};
use mptcp_proto::subflow::TcpState;
use mptcp_sim::app::{AppConfig, AppRole, SizeRange, StreamApp};
use mptcp_sim::host::Host;
use mptcp_sim::topology::LinkPair;
use mptcp_sim::{
    Duration, IfaceConfig, Instant, LinkConfig, LinkState, NodeId, Prefix, SimConfig, Simulator,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

const PORT: u16 = 5201;
const C1: &str = "10.1.0.1";
const C2: &str = "10.2.0.1";
const C3: &str = "10.3.0.1";
const S1: &str = "10.9.0.1";
const S2: &str = "10.8.0.1";
const S3: &str = "10.7.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn at(s: &str) -> SocketAddr {
    SocketAddr::new(ip(s), PORT)
}

fn secs(s: f64) -> Instant {
    Instant::ZERO + Duration::from_micros((s * 1e6) as u64)
}

/// One side: its addresses (the first one the connection's), its
/// path-manager endpoints and limits.
#[derive(Clone, Default)]
struct Side {
    addrs: Vec<&'static str>,
    endpoints: Vec<(&'static str, &'static [F])>,
    limits: Option<PmLimits>,
}

fn side(addrs: &[&'static str], endpoints: &[(&'static str, &'static [F])]) -> Side {
    Side {
        addrs: addrs.to_vec(),
        endpoints: endpoints.to_vec(),
        limits: None,
    }
}

fn limits(subflows: u8, add_addr_accepted: u8) -> Option<PmLimits> {
    Some(PmLimits {
        subflows,
        add_addr_accepted,
    })
}

struct Net {
    sim: Simulator<Host>,
    client: NodeId,
    server: NodeId,
    /// Each address's access link (forward: toward the router).
    access: HashMap<IpAddr, LinkPair>,
}

fn endpoint(s: &Side, seed: u64, tweak: impl Fn(&mut EndpointConfig)) -> Endpoint {
    let mut config = EndpointConfig {
        seed,
        ..EndpointConfig::default()
    };
    config.connection.mptcp.pm.limits = s.limits;
    tweak(&mut config);
    let mut ep = Endpoint::new(config);
    for a in &s.addrs {
        ep.add_address(ip(a), 1500);
    }
    for (a, flags) in &s.endpoints {
        let f = flags.iter().fold(F::NONE, |x, y| x.union(*y));
        ep.add_endpoint(PmEndpoint::new(ip(a), f))
            .expect("endpoint");
    }
    ep
}

/// An application that writes far more than the peer reads (neither side
/// reads for the whole test): the connection carries data, so it becomes
/// fully established, and then stays open with its windows full.
fn app(role: AppRole, seed: u64) -> StreamApp {
    StreamApp::new(AppConfig {
        role,
        send_bytes: 1 << 30,
        send_seed: seed,
        recv_seed: seed ^ 1,
        write_size: SizeRange::fixed(16 * 1024),
        read_size: SizeRange::fixed(16 * 1024),
        read_pause: Some((Instant::ZERO, Duration::from_secs(100_000))),
        io_seed: seed,
        verify: false,
    })
}

impl Net {
    fn build(client: &Side, server: &Side) -> Net {
        Net::build_with(client, server, |_| {})
    }

    /// The client connects from its first address to the server's first;
    /// `tweak` adjusts the client's configuration.
    fn build_with(client: &Side, server: &Side, tweak: impl Fn(&mut EndpointConfig)) -> Net {
        let mut sim = Simulator::new(SimConfig::with_seed(7));
        let mut server_ep = endpoint(server, 2, |_| {});
        server_ep.listen(PORT);
        let client_app = app(
            AppRole::Client {
                local: ip(client.addrs[0]),
                remote: at(server.addrs[0]),
                start: Instant::ZERO,
            },
            11,
        );
        let c = sim.add_host(Host::new(endpoint(client, 1, tweak), client_app));
        let s = sim.add_host(Host::new(server_ep, app(AppRole::Server, 12)));
        let router = sim.add_router();
        let link = LinkConfig::new(100_000_000, Duration::from_millis(5));
        let mut access = HashMap::new();
        for (node, addrs) in [(c, &client.addrs), (s, &server.addrs)] {
            for a in addrs {
                let hi = sim.add_iface(node, IfaceConfig::new(ip(a)));
                let ri = sim.add_iface(router, IfaceConfig::unnumbered());
                let (forward, backward) =
                    sim.connect(node, hi, router, ri, link.clone(), link.clone());
                sim.add_route(router, Prefix::host(ip(a)), ri);
                access.insert(ip(a), LinkPair { forward, backward });
            }
        }
        Net {
            sim,
            client: c,
            server: s,
            access,
        }
    }

    fn run_to(&mut self, s: f64) {
        self.sim.run_until(secs(s)).expect("simulation");
    }

    fn host(&self, server: bool) -> &Host {
        self.sim
            .node(if server { self.server } else { self.client })
    }

    /// Established subflows of one side's connection: (client address,
    /// server address), whichever side it is.
    fn paths(&self, server: bool) -> Vec<(IpAddr, SocketAddr)> {
        let ep = &self.host(server).endpoint;
        let h = ep.connections().next().expect("a connection");
        let info = ep.connection(h).expect("connection").info();
        info.subflows
            .iter()
            .filter(|s| s.state == TcpState::Established)
            .map(|s| {
                let t = s.tuple;
                if server {
                    (t.remote.ip(), t.local)
                } else {
                    (t.local.ip(), t.remote)
                }
            })
            .collect()
    }

    /// Client addresses of the server's subflows marked backup.
    fn backup_seen_by_server(&self) -> Vec<IpAddr> {
        let ep = &self.host(SERVER).endpoint;
        let h = ep.connections().next().expect("a connection");
        let info = ep.connection(h).expect("connection").info();
        info.subflows
            .iter()
            .filter(|s| s.backup)
            .map(|s| s.tuple.remote.ip())
            .collect()
    }

    fn mib(&self, server: bool) -> Counters {
        self.host(server).endpoint.mib_total()
    }

    /// Take an address's access link down or up, both ways, at `s`.
    fn link(&mut self, addr: &str, s: f64, state: LinkState) {
        let pair = self.access[&ip(addr)];
        self.sim.schedule_link_state(pair.forward, secs(s), state);
        self.sim.schedule_link_state(pair.backward, secs(s), state);
    }
}

fn paths(list: &[(&str, &str)]) -> Vec<(IpAddr, SocketAddr)> {
    let mut v: Vec<_> = list.iter().map(|(c, s)| (ip(c), at(s))).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(IpAddr, SocketAddr)>) -> Vec<(IpAddr, SocketAddr)> {
    v.sort();
    v
}

/// One row: both sides' configuration, the subflows both sides end up
/// with, and counters that must have these values.
struct Case {
    name: &'static str,
    client: Side,
    server: Side,
    subflows: &'static [(&'static str, &'static str)],
    counters: &'static [(bool, Mib, u64)],
    /// Client addresses whose subflow the server sees as a backup.
    backup: &'static [&'static str],
}

const SERVER: bool = true;
const CLIENT: bool = false;

fn cases() -> Vec<Case> {
    let two = [C1, C2];
    let three = [C1, C2, C3];
    let servers = [S1, S2, S3];
    vec![
        Case {
            name: "subflow: one join to the server's initial address, none from the first address",
            client: side(&three, &[(C1, &[F::SUBFLOW]), (C2, &[F::SUBFLOW])]),
            server: side(&servers, &[]),
            subflows: &[(C1, S1), (C2, S1)],
            counters: &[(CLIENT, Mib::MPJoinSynTx, 1), (SERVER, Mib::MPJoinSynRx, 1)],
            backup: &[],
        },
        Case {
            name: "signal: announced once fully established, joined from the first address",
            client: Side {
                limits: limits(2, 1),
                ..side(&two, &[(C1, &[])])
            },
            server: side(&servers, &[(S2, &[F::SIGNAL])]),
            subflows: &[(C1, S1), (C1, S2)],
            counters: &[
                (SERVER, Mib::AddAddrTx, 1),
                (CLIENT, Mib::AddAddr, 1),
                (SERVER, Mib::EchoAdd, 1),
                (SERVER, Mib::MPJoinSynRx, 1),
            ],
            backup: &[],
        },
        Case {
            name: "add_addr_accepted 0: the announcement is echoed, not joined",
            client: Side {
                limits: limits(2, 0),
                ..side(&two, &[(C1, &[])])
            },
            server: side(&servers, &[(S2, &[F::SIGNAL]), (S3, &[F::SIGNAL])]),
            subflows: &[(C1, S1)],
            counters: &[
                (CLIENT, Mib::AddAddr, 2),
                (CLIENT, Mib::EchoAddTx, 2),
                (CLIENT, Mib::MPJoinSynTx, 0),
            ],
            backup: &[],
        },
        Case {
            name: "add_addr_accepted 1 of two announcements",
            client: Side {
                limits: limits(4, 1),
                ..side(&two, &[(C1, &[])])
            },
            server: side(&servers, &[(S2, &[F::SIGNAL]), (S3, &[F::SIGNAL])]),
            subflows: &[(C1, S1), (C1, S2)],
            counters: &[(CLIENT, Mib::AddAddr, 2), (CLIENT, Mib::MPJoinSynTx, 1)],
            backup: &[],
        },
        Case {
            name: "backup: the join from a backup endpoint carries flag B",
            client: side(&two, &[(C2, &[F::SUBFLOW, F::BACKUP])]),
            server: side(&servers, &[]),
            subflows: &[(C1, S1), (C2, S1)],
            counters: &[(SERVER, Mib::MPJoinSynRx, 1)],
            backup: &[C2],
        },
        Case {
            name: "fullmesh: every server address from the endpoint, none from the first",
            client: Side {
                limits: limits(8, 8),
                ..side(&two, &[(C2, &[F::SUBFLOW, F::FULLMESH])])
            },
            server: side(&servers, &[(S2, &[F::SIGNAL]), (S3, &[F::SIGNAL])]),
            subflows: &[(C1, S1), (C2, S1), (C2, S2), (C2, S3)],
            counters: &[(CLIENT, Mib::MPJoinSynTx, 3), (CLIENT, Mib::AddAddr, 2)],
            backup: &[],
        },
        Case {
            name: "laminar: one announced address per endpoint, none to the initial address",
            client: Side {
                limits: limits(8, 8),
                ..side(&three, &[(C2, &[F::LAMINAR]), (C3, &[F::LAMINAR])])
            },
            server: side(&servers, &[(S2, &[F::SIGNAL]), (S3, &[F::SIGNAL])]),
            subflows: &[(C1, S1), (C2, S2), (C3, S3)],
            counters: &[(CLIENT, Mib::MPJoinSynTx, 2)],
            backup: &[],
        },
        Case {
            name: "subflows 1 bounds the joins opened",
            client: Side {
                limits: limits(1, 0),
                ..side(&three, &[(C2, &[F::SUBFLOW]), (C3, &[F::SUBFLOW])])
            },
            server: side(&servers, &[]),
            subflows: &[(C1, S1), (C2, S1)],
            counters: &[(CLIENT, Mib::MPJoinSynTx, 1)],
            backup: &[],
        },
        Case {
            name: "the server's subflows 1 refuses the second join",
            client: side(&three, &[(C2, &[F::SUBFLOW]), (C3, &[F::SUBFLOW])]),
            server: Side {
                limits: limits(1, 0),
                ..side(&servers, &[])
            },
            subflows: &[(C1, S1), (C2, S1)],
            counters: &[
                (SERVER, Mib::MPJoinSynRx, 2),
                (SERVER, Mib::MPJoinRejected, 1),
            ],
            backup: &[],
        },
    ]
}

#[test]
fn each_endpoint_flag_and_limit_opens_the_subflows_the_kernel_would() {
    let mut failures = Vec::new();
    for case in cases() {
        let mut net = Net::build(&case.client, &case.server);
        // Long enough for every join and announcement; short of the first
        // retry of a refused join (1 s after the refusal).
        net.run_to(0.9);
        let want = paths(case.subflows);
        for server in [CLIENT, SERVER] {
            let got = sorted(net.paths(server));
            if got != want {
                let who = if server { "server" } else { "client" };
                failures.push(format!("{}: {who} has {got:?}, want {want:?}", case.name));
            }
        }
        let seen = net.backup_seen_by_server();
        if seen != case.backup.iter().map(|a| ip(a)).collect::<Vec<_>>() {
            failures.push(format!(
                "{}: backups {seen:?}, want {:?}",
                case.name, case.backup
            ));
        }
        for &(server, mib, value) in case.counters {
            let got = net.mib(server).get(mib);
            if got != value {
                failures.push(format!("{}: {mib:?} {got}, want {value}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_backup_subflow_carries_nothing_while_the_other_works() {
    let client = side(&[C1, C2], &[(C2, &[F::SUBFLOW, F::BACKUP])]);
    let mut net = Net::build(&client, &side(&[S1], &[]));
    net.run_to(3.0);
    let ep = &net.host(CLIENT).endpoint;
    let h = ep.connections().next().expect("connection");
    let subs = ep.connection(h).expect("connection").info().subflows;
    let backup = subs.iter().find(|s| s.tuple.local.ip() == ip(C2));
    let backup = backup.expect("the backup subflow");
    assert!(backup.backup, "{backup:?}");
    assert_eq!(backup.bytes_sent, 0, "data went over the backup subflow");
    assert!(subs[0].bytes_sent > 1 << 20, "{:?}", subs[0]);
}

/// A client whose join from `C2` times out while `C2`'s link is down: one
/// SYN retransmission, so an attempt fails 3 s after it starts (1 s + 2 s).
fn unreachable_join() -> Net {
    let client = side(&[C1, C2], &[(C2, &[F::SUBFLOW])]);
    let mut net = Net::build_with(&client, &side(&[S1], &[]), |c| {
        c.connection.subflow.syn_retries = 1;
    });
    net.link(C2, 0.0, LinkState::Down);
    net
}

#[test]
fn a_timed_out_join_comes_back_with_backoff_and_joins_once_the_path_works() {
    let mut net = unreachable_join();
    // The join at ~0.03 s fails at ~3.03 s; retries wait 1, 2, 4, 8 s after
    // each failure: at ~4.03 s (fails ~7.03), ~9.03 s (fails ~12.03),
    // ~16.03 s.
    let mut retries = Vec::new();
    for t in [3.5, 5.0, 8.5, 10.0, 13.0] {
        net.run_to(t);
        retries.push(net.mib(CLIENT).get(Mib::MPJoinSynTxRetry));
    }
    assert_eq!(retries, [0, 1, 1, 2, 2]);
    assert_eq!(net.paths(CLIENT), paths(&[(C1, S1)]));
    net.link(C2, 13.0, LinkState::Up);
    net.run_to(17.0);
    assert_eq!(net.mib(CLIENT).get(Mib::MPJoinSynTxRetry), 3);
    assert_eq!(sorted(net.paths(CLIENT)), paths(&[(C1, S1), (C2, S1)]));
    assert_eq!(net.mib(SERVER).get(Mib::MPJoinSynRx), 1);
}

#[test]
fn a_failing_join_is_not_retried_once_its_endpoint_is_removed() {
    let mut net = unreachable_join();
    net.run_to(10.0);
    assert_eq!(net.mib(CLIENT).get(Mib::MPJoinSynTxRetry), 2);
    let client = net.client;
    let removed = net
        .sim
        .with_node(client, |h, _| h.endpoint.remove_endpoint(ip(C2)));
    assert!(removed.is_some());
    net.link(C2, 10.0, LinkState::Up);
    net.run_to(60.0);
    assert_eq!(net.mib(CLIENT).get(Mib::MPJoinSynTxRetry), 2);
    assert_eq!(net.mib(SERVER).get(Mib::MPJoinSynRx), 0);
    assert_eq!(net.paths(CLIENT), paths(&[(C1, S1)]));
}
