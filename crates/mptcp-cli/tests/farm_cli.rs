//! Many machines behind an existing L4 load balancer (docs/scaling.md):
//! kernel MPTCP clients with two paths reach a shared address that an
//! nftables balancer spreads over two backends (`dnat to numgen`); each
//! backend runs our `mptcp proxy server --no-join-initial`, announcing an
//! address of its own (a second `--tun DEV=ADDR,signal`), which the
//! balancer routes to it statically, or (backends without an address of
//! their own) the shared address with a port of its own
//! (`--tun DEV=ADDR,signal,port=N,announce=SHARED`), which the balancer
//! maps to the backend with a static DNAT per port. Flag C keeps the kernel
//! from joining the shared address, so every join reaches the backend
//! that holds its connection. Asserts: every echo byte-exact, every join
//! on its connection's backend (the backends' `--events`), none to the
//! shared address (the balancer's counter), the kernel's join counters,
//! and that a backend that stops loses only its own connections.
//!
//! Needs root, `ip`, `nft` and a kernel with MPTCP: a missing one fails the
//! test (it is meant to run in CI), it is not skipped.

use mptcp_tun::lab::Netns;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{Output, Watched, veth};
/// Longest the joins may take.
const STEP: Duration = Duration::from_secs(20);

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
/// Connections the kernel clients open.
const CONNECTIONS: usize = 40;
/// Bytes each connection sends (and gets back) before a backend stops.
const ROUND1: usize = 256 << 10;
/// Bytes each sends after it stopped.
const ROUND2: usize = 64 << 10;
/// The shared address and port the clients connect to.
const SHARED: &str = "10.70.0.1:8080";
/// The clients' two paths.
const CLIENT: [&str; 2] = ["10.70.1.2", "10.70.2.2"];
/// Each backend's stack address (the balancer's DNAT target), and the
/// address of its own it announces.
const BACKEND: [(&str, &str); 2] = [("10.72.1.1", "10.73.1.1"), ("10.72.2.1", "10.73.2.1")];
/// Where each backend's proxy forwards: an echo server of the test.
const ECHO: &str = "127.0.0.1:7000";

/// What each backend announces for its joins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// An address of its own ([`BACKEND`]'s second), port 8080.
    OwnAddress,
    /// The shared address with a port of its own ([`Form::port`]).
    SharedPort,
}

impl Form {
    /// Backend `i`'s port for joins in the shared-address form.
    fn port(i: usize) -> u16 {
        9001 + i as u16
    }

    /// Where the clients join backend `i` (before the balancer), and where
    /// the join reaches it (after).
    fn join_at(self, i: usize) -> (SocketAddr, SocketAddr) {
        let (vip, port) = SHARED.split_once(':').expect("addr:port");
        let port: u16 = port.parse().expect("port");
        let (addr, own) = BACKEND[i];
        match self {
            Form::OwnAddress => {
                let a = SocketAddr::new(own.parse().expect("own"), port);
                (a, a)
            }
            Form::SharedPort => (
                SocketAddr::new(vip.parse().expect("vip"), Form::port(i)),
                SocketAddr::new(addr.parse().expect("addr"), Form::port(i)),
            ),
        }
    }
}

fn require() {
    assert!(
        mptcp_tun::lab::is_root(),
        "the balancer test needs root (it is not skipped: run it as root)"
    );
    for tool in ["ip", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is required (install iproute2 nftables)");
    }
    assert!(
        Path::new("/proc/sys/net/mptcp/enabled").exists(),
        "the kernel has no MPTCP (CONFIG_MPTCP)"
    );
}

fn nft(ns: &Netns, rules: &str) {
    let mut child = ns
        .exec(&["nft", "-f", "-"])
        .expect("nft")
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("nft rules");
    assert!(child.wait().expect("nft").success(), "nft rules:\n{rules}");
}

/// The balancer's rules: the shared address spread over the backends (one
/// choice per connection, kept by conntrack), each backend's announced
/// address routed as is, or each backend's port of the shared address
/// mapped to it. Counters (before NAT, every packet): MP_JOIN SYNs to the
/// shared address and port and to each backend's announced address and
/// port.
fn balancer_rules(form: Form) -> String {
    let (vip, port) = SHARED.split_once(':').expect("addr:port");
    let [(b1, _), (b2, _)] = BACKEND;
    let (j1, j2) = (form.join_at(0).0, form.join_at(1).0);
    let (a1, p1, a2, p2) = (j1.ip(), j1.port(), j2.ip(), j2.port());
    let ports = match form {
        Form::OwnAddress => String::new(),
        Form::SharedPort => format!(
            "    ip daddr {a1} tcp dport {p1} dnat to {b1}\n    ip daddr {a2} tcp dport {p2} dnat to {b2}\n"
        ),
    };
    format!(
        "table ip farm {{
  counter join_shared {{}}
  counter join_b1 {{}}
  counter join_b2 {{}}
  chain count {{
    type filter hook prerouting priority -200; policy accept;
    tcp flags & (syn | ack) == syn tcp option mptcp subtype 1 jump joins
  }}
  chain joins {{
    ip daddr {vip} tcp dport {port} counter name join_shared
    ip daddr {a1} tcp dport {p1} counter name join_b1
    ip daddr {a2} tcp dport {p2} counter name join_b2
  }}
  chain spread {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {vip} tcp dport {port} dnat to numgen inc mod 2 map {{ 0 : {b1}, 1 : {b2} }}
{ports}  }}
}}
"
    )
}

/// The packets of a named counter of the balancer.
fn counter(ns: &Netns, name: &str) -> u64 {
    let out = ns
        .exec(&["nft", "list", "counter", "ip", "farm", name])
        .expect("nft")
        .output()
        .expect("nft");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("packets ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("counter {name}: {text}"))
}

/// The namespaces: the clients' host (two paths), the balancer, two
/// backends; deleted (with everything running inside) on drop, also when
/// the test fails.
struct Farm {
    client: Netns,
    balancer: Netns,
    backends: [Netns; 2],
    dir: PathBuf,
}

impl Drop for Farm {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Farm {
    fn new(form: Form) -> Farm {
        let client = Netns::create("farmc").expect("netns");
        let balancer = Netns::create("farml").expect("netns");
        let backends = [
            Netns::create("farmb").expect("netns"),
            Netns::create("farmb").expect("netns"),
        ];
        veth(&client, "c0", &balancer, "l0");
        veth(&client, "c1", &balancer, "l1");
        veth(&balancer, "lb0", &backends[0], "b0");
        veth(&balancer, "lb1", &backends[1], "b0");
        client
            .ip_batch(&[
                &format!("addr add {}/24 dev c0", CLIENT[0]),
                &format!("addr add {}/24 dev c1", CLIENT[1]),
                "link set c0 up",
                "link set c1 up",
                "route add default via 10.70.1.1 dev c0",
                // The second path's own way out.
                &format!("rule add from {} table 100", CLIENT[1]),
                "route add default via 10.70.2.1 dev c1 table 100",
                // As `ip mptcp`: joins from the second path to every
                // announced address, one announcement accepted.
                "mptcp limits set subflows 2 add_addr_accepted 1",
                &format!("mptcp endpoint add {} dev c1 subflow fullmesh", CLIENT[1]),
            ])
            .expect("client");
        balancer
            .ip_batch(&[
                "addr add 10.70.1.1/24 dev l0",
                "addr add 10.70.2.1/24 dev l1",
                "addr add 10.71.1.1/24 dev lb0",
                "addr add 10.71.2.1/24 dev lb1",
                "link set l0 up",
                "link set l1 up",
                "link set lb0 up",
                "link set lb1 up",
                &format!("route add {}/32 via 10.71.1.2", BACKEND[0].0),
                &format!("route add {}/32 via 10.71.2.2", BACKEND[1].0),
                &format!("route add {}/32 via 10.71.1.2", BACKEND[0].1),
                &format!("route add {}/32 via 10.71.2.2", BACKEND[1].1),
            ])
            .expect("balancer");
        for (i, b) in backends.iter().enumerate() {
            b.ip_batch(&[
                &format!("addr add 10.71.{}.2/24 dev b0", i + 1),
                "link set b0 up",
                &format!("route add default via 10.71.{}.1", i + 1),
            ])
            .expect("backend");
        }
        for ns in [&balancer, &backends[0], &backends[1]] {
            ns.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
        }
        for ns in [&client, &balancer, &backends[0], &backends[1]] {
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0")
                .expect("rp_filter");
        }
        nft(&balancer, &balancer_rules(form));
        let dir = std::env::temp_dir().join(format!("farm-{}", balancer.name()));
        std::fs::create_dir_all(&dir).expect("dir");
        Farm {
            client,
            balancer,
            backends,
            dir,
        }
    }

    fn events_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("events{i}"))
    }
}

/// Backend `i`: our proxy server, once it is ready.
fn backend(farm: &Farm, i: usize, form: Form) -> Watched {
    let (addr, own) = BACKEND[i];
    let vip = SHARED.split_once(':').expect("addr:port").0;
    let (tun, announced) = match form {
        Form::OwnAddress => (format!("farm{i}={addr}"), format!("farmj{i}={own},signal")),
        Form::SharedPort => (
            format!(
                "farm{i}={addr},signal,port={},announce={vip}",
                Form::port(i)
            ),
            String::new(),
        ),
    };
    let events = farm.events_path(i);
    let mut args = vec![BIN, "proxy", "server", "--listen", "8080", "--no-setup"];
    args.extend(["--tun", &tun]);
    if !announced.is_empty() {
        args.extend(["--tun", &announced]);
    }
    args.extend([
        "--forward",
        ECHO,
        "--events",
        events.to_str().expect("path"),
    ]);
    args.push("--no-join-initial");
    let cmd = farm.backends[i].exec(&args).expect("exec");
    let mut w = Watched::spawn(cmd, Output::Stderr, &format!("backend {i}"));
    w.wait_line(|l| l.contains("mptcp proxy server:"), "(ready)");
    w
}

/// One path-manager event of a backend: its type, token, and the client's
/// address and port.
struct Ev {
    kind: String,
    token: u64,
    local: SocketAddr,
    remote: SocketAddr,
}

fn events(path: &Path) -> Vec<Ev> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let sa = |a: &str, p: &str| -> Option<SocketAddr> {
                let ip = v[a].as_str()?.parse().ok()?;
                Some(SocketAddr::new(ip, u16::try_from(v[p].as_u64()?).ok()?))
            };
            Some(Ev {
                kind: v["type"].as_str()?.to_owned(),
                token: v["token"].as_u64()?,
                local: sa("saddr4", "sport")?,
                remote: sa("daddr4", "dport")?,
            })
        })
        .collect()
}

/// `n` bytes for connection `i`, round `round`.
fn connection_bytes(i: usize, round: u8, n: usize) -> Vec<u8> {
    let seed = (i as u64 + 1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(u64::from(round));
    support::pattern(n, seed)
}

/// Sends `data` on `s` and reads as much back; whether the echo is exact.
/// Fails (false) on an error, an early end or a read timeout.
fn echo(s: &TcpStream, data: Vec<u8>) -> bool {
    let mut w = s.try_clone().expect("clone");
    let n = data.len();
    let writer = std::thread::spawn(move || w.write_all(&data).map(|()| data));
    let mut got = vec![0u8; n];
    let read = (&*s).read_exact(&mut got);
    let sent = writer.join().expect("writer");
    matches!((read, sent), (Ok(()), Ok(d)) if d == got)
}

/// Every connection's echo of its round's bytes, in parallel.
fn round(conns: &[TcpStream], round: u8, len: usize) -> Vec<bool> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = conns
            .iter()
            .enumerate()
            .map(|(i, s)| scope.spawn(move || echo(s, connection_bytes(i, round, len))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("echo"))
            .collect()
    })
}

/// Waits until the backends reported `joins` joins in all.
fn wait_joins(farm: &Farm, joins: usize) {
    let deadline = Instant::now() + STEP;
    loop {
        let seen: usize = (0..2)
            .map(|i| {
                events(&farm.events_path(i))
                    .iter()
                    .filter(|e| e.kind == "sub_established")
                    .count()
            })
            .sum();
        if seen >= joins {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{seen} joins of {joins} after {STEP:?}; events: {:?} {:?}; client: {:?}",
            std::fs::read_to_string(farm.events_path(0)).unwrap_or_default(),
            std::fs::read_to_string(farm.events_path(1)).unwrap_or_default(),
            farm.client.counters().map(|c| c
                .nonzero()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn joins_reach_their_backend_behind_a_balancer() {
    farm(Form::OwnAddress);
}

#[test]
fn joins_reach_their_backend_at_its_port_of_the_shared_address() {
    farm(Form::SharedPort);
}

fn farm(form: Form) {
    require();
    let farm = Farm::new(form);
    for b in &farm.backends {
        support::echo_server(b, ECHO);
    }
    let mut servers: Vec<Option<Watched>> = (0..2).map(|i| Some(backend(&farm, i, form))).collect();

    // The kernel clients: MPTCP sockets (protocol 262) from the first path.
    let shared: SocketAddr = SHARED.parse().expect("shared");
    let conns: Vec<TcpStream> = farm.client.run(move || {
        (0..CONNECTIONS)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262)))
                    .expect("an MPTCP socket (kernel MPTCP enabled?)");
                s.connect(&shared.into()).expect("connect");
                TcpStream::from(s)
            })
            .collect()
    });
    // A first exchange (the kernel client acts on the announcement once
    // the server's data-level ACK made the connection fully established),
    // then each connection's join.
    let ok = round(&conns, 0, 1024);
    assert!(ok.iter().all(|&o| o), "first echo: {ok:?}");
    wait_joins(&farm, CONNECTIONS);
    let ok = round(&conns, 1, ROUND1);
    let failed: Vec<usize> = (0..CONNECTIONS).filter(|&i| !ok[i]).collect();
    assert!(
        failed.is_empty(),
        "echo not exact on connections {failed:?}"
    );

    // Which backend holds which connection, and where its joins landed.
    let mut owner: BTreeMap<u16, usize> = BTreeMap::new();
    let mut per_backend = [(0usize, 0usize); 2];
    for (i, counts) in per_backend.iter_mut().enumerate() {
        let evs = events(&farm.events_path(i));
        let tokens: BTreeSet<u64> = evs
            .iter()
            .filter(|e| e.kind == "established")
            .map(|e| {
                assert_eq!(e.local.port(), 8080, "{}", e.local);
                assert_eq!(e.remote.ip().to_string(), CLIENT[0]);
                owner.insert(e.remote.port(), i);
                e.token
            })
            .collect();
        let joins: Vec<&Ev> = evs.iter().filter(|e| e.kind == "sub_established").collect();
        for j in &joins {
            assert!(
                tokens.contains(&j.token),
                "backend {i}: a join for a connection it does not hold ({:#x})",
                j.token
            );
            assert_eq!(
                j.local,
                form.join_at(i).1,
                "backend {i}: where joins arrive"
            );
        }
        let joined: BTreeSet<u64> = joins.iter().map(|j| j.token).collect();
        assert_eq!(joined, tokens, "backend {i}: every connection joined");
        *counts = (tokens.len(), joins.len());
    }
    let ports: BTreeSet<u16> = conns
        .iter()
        .map(|s| s.local_addr().expect("local").port())
        .collect();
    assert_eq!(
        ports,
        owner.keys().copied().collect(),
        "every connection on one backend"
    );
    for (i, (c, _)) in per_backend.iter().enumerate() {
        assert!(*c > 0, "backend {i} got no connection: {per_backend:?}");
    }
    let joins: usize = per_backend.iter().map(|(_, j)| j).sum();

    // Flag C honoured: no join SYN to the shared address; the announced
    // ones saw them all.
    assert_eq!(
        counter(&farm.balancer, "join_shared"),
        0,
        "joins to {SHARED}"
    );
    let syns = counter(&farm.balancer, "join_b1") + counter(&farm.balancer, "join_b2");
    assert!(syns >= joins as u64, "{syns} join SYNs for {joins} joins");
    let k = farm.client.counters().expect("MPTcpExt");
    assert_eq!(k.get("MPJoinSynAckRx"), joins as u64, "{k:?}");
    assert_eq!(k.get("MPJoinSynAckHMacFailure"), 0, "{k:?}");
    assert_eq!(k.get("MPJoinAckHMacFailure"), 0, "{k:?}");

    // Backend 0 stops: its connections are lost, the others carry on.
    drop(servers[0].take());
    for s in &conns {
        // A lost connection's echo never comes: give up on it after this.
        let lost = Some(Duration::from_secs(20));
        s.set_read_timeout(lost).expect("timeout");
        s.set_write_timeout(lost).expect("timeout");
    }
    let ok = round(&conns, 2, ROUND2);
    for (i, s) in conns.iter().enumerate() {
        let port = s.local_addr().expect("local").port();
        let on = owner[&port];
        assert_eq!(ok[i], on == 1, "connection {i} on backend {on}");
    }
    eprintln!(
        "farm: {CONNECTIONS} connections, {joins} joins; backend 0: {} connections, {} joins; backend 1: {} connections, {} joins; join SYNs to the shared address: 0",
        per_backend[0].0, per_backend[0].1, per_backend[1].0, per_backend[1].1
    );
    drop(servers);
}
