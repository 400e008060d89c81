//! One process, many cores (issue 14 §2): `mptcp proxy server --workers 2`
//! runs two engines, each on its own queue of the multi-queue TUN device,
//! with tokens in its own shard. The kernel spreads flows over the queues
//! by hash, blind to MPTCP, so about half the joins reach the engine that
//! does not hold their connection; it hands them over by token.
//!
//! Kernel MPTCP clients (a namespace with two paths, the second joining
//! from its own address) open many concurrent connections through the
//! proxy to an echo server. Asserts: every echo byte-exact; every join
//! accepted (the kernel's MPJoinSynAckRx equals the connections, and no
//! engine saw a join for a token it does not hold); both engines took
//! connections; joins were handed over.
//!
//! Needs root, `ip` and a kernel with MPTCP: a missing one fails the test
//! (it is meant to run in CI), it is not skipped.

use mptcp_tun::lab::Netns;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod support;

use support::{Output, Watched, veth};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
/// Concurrent connections, each with one join.
const CONNECTIONS: usize = 1000;
/// Bytes each connection echoes.
const BYTES: usize = 32 << 10;
/// Threads driving the echoes.
const THREADS: usize = 32;
/// Our stack's address and port.
const SERVER: &str = "10.91.0.1:8080";
/// The client's two paths, and the server namespace's end of each.
const CLIENT: [(&str, &str); 2] = [("10.90.1.2", "10.90.1.1"), ("10.90.2.2", "10.90.2.1")];
/// The proxy's target: an echo server of the test.
const ECHO: &str = "127.0.0.1:7000";
/// Longest the joins may take.
const JOINS_WAIT: Duration = Duration::from_secs(60);

fn require() {
    assert!(
        mptcp_tun::lab::is_root(),
        "the workers test needs root (it is not skipped: run it as root)"
    );
    let found = Command::new("sh")
        .args(["-c", "command -v ip"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "ip is required (install iproute2)");
    assert!(
        Path::new("/proc/sys/net/mptcp/enabled").exists(),
        "the kernel has no MPTCP (CONFIG_MPTCP)"
    );
}

/// The client's host and the server's, linked by two veth pairs; deleted
/// (with everything running inside) on drop, also when the test fails.
struct Lab {
    client: Netns,
    server: Netns,
}

impl Lab {
    fn new() -> Lab {
        let client = Netns::create("wkc").expect("netns");
        let server = Netns::create("wks").expect("netns");
        veth(&client, "c0", &server, "s0");
        veth(&client, "c1", &server, "s1");
        let (ours, _) = SERVER.split_once(':').expect("addr:port");
        client
            .ip_batch(&[
                &format!("addr add {}/24 dev c0", CLIENT[0].0),
                &format!("addr add {}/24 dev c1", CLIENT[1].0),
                "link set c0 up",
                "link set c1 up",
                &format!("route add {ours}/32 via {} dev c0", CLIENT[0].1),
                // The second path's own way there.
                &format!("rule add from {} table 100", CLIENT[1].0),
                &format!("route add {ours}/32 via {} dev c1 table 100", CLIENT[1].1),
                // As `ip mptcp`: a join from the second path to the
                // server's address.
                "mptcp limits set subflows 1 add_addr_accepted 0",
                &format!("mptcp endpoint add {} dev c1 subflow", CLIENT[1].0),
            ])
            .expect("client");
        server
            .ip_batch(&[
                &format!("addr add {}/24 dev s0", CLIENT[0].1),
                &format!("addr add {}/24 dev s1", CLIENT[1].1),
                "link set s0 up",
                "link set s1 up",
            ])
            .expect("server");
        server
            .sysctl("net.ipv4.ip_forward", "1")
            .expect("forwarding");
        for ns in [&client, &server] {
            ns.sysctl("net.ipv4.conf.all.rp_filter", "0")
                .expect("rp_filter");
        }
        Lab { client, server }
    }
}

/// Sends `data` on `s` and reads as much back; whether the echo is exact.
fn echo(s: &TcpStream, data: &[u8]) -> bool {
    let mut w = s.try_clone().expect("clone");
    let n = data.len();
    let out = data.to_vec();
    let writer = std::thread::spawn(move || w.write_all(&out));
    let mut got = vec![0u8; n];
    let read = (&*s).read_exact(&mut got);
    let sent = writer.join().expect("writer");
    read.is_ok() && sent.is_ok() && got == data
}

/// Every connection's echo of its own bytes, [`THREADS`] at a time;
/// returns the connections whose echo was not exact.
fn echo_all(conns: &[TcpStream], len: usize) -> Vec<usize> {
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(s) = conns.get(i) else { return };
                    let data = support::pattern(len, i as u64 + 1);
                    if !echo(s, &data) {
                        failed.lock().expect("lock").push(i);
                    }
                }
            });
        }
    });
    failed.into_inner().expect("lock")
}

/// A number after `key` in a status line (`key N`).
fn field(line: &str, key: &str) -> u64 {
    support::count(line, key)
}

#[test]
fn two_workers_take_a_thousand_kernel_clients_each_join_on_its_owner() {
    require();
    // Two thousand sockets here (the clients', the echo server's).
    mptcp_tun::raise_open_files().expect("open-files limit");
    let lab = Lab::new();
    support::echo_server(&lab.server, ECHO);
    let (ours, _) = SERVER.split_once(':').expect("addr:port");
    let tun = format!("wk0={ours}");
    let args = [
        BIN,
        "proxy",
        "server",
        "--listen",
        "8080",
        "--no-setup",
        "--tun",
        &tun,
        "--forward",
        ECHO,
        "--workers",
        "2",
    ];
    let cmd = lab.server.exec(&args).expect("exec");
    let mut proxy = Watched::spawn(cmd, Output::Stderr, "proxy");
    proxy.wait_line(|l| l.contains("mptcp proxy server:"), "(ready)");

    // The kernel clients: MPTCP sockets (protocol 262) from the first path.
    let server: SocketAddr = SERVER.parse().expect("server");
    let conns: Vec<TcpStream> = lab.client.run(move || {
        (0..CONNECTIONS)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262)))
                    .expect("an MPTCP socket (kernel MPTCP enabled?)");
                s.connect(&server.into()).expect("connect");
                let s = TcpStream::from(s);
                let limit = Some(Duration::from_secs(60));
                s.set_read_timeout(limit).expect("timeout");
                s.set_write_timeout(limit).expect("timeout");
                s
            })
            .collect()
    });
    // A first exchange makes each connection fully established at the
    // kernel client, which then opens its join.
    let failed = echo_all(&conns, 100);
    assert!(failed.is_empty(), "first echo failed on {failed:?}");
    let deadline = Instant::now() + JOINS_WAIT;
    loop {
        let k = lab.client.counters().expect("MPTcpExt");
        if k.get("MPJoinSynAckRx") >= CONNECTIONS as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} joins of {CONNECTIONS} after {JOINS_WAIT:?}: {:?}",
            k.get("MPJoinSynAckRx"),
            k.nonzero().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let failed = echo_all(&conns, BYTES);
    assert!(
        failed.is_empty(),
        "echo not exact on connections {failed:?}"
    );

    let k = lab.client.counters().expect("MPTcpExt");
    assert_eq!(k.get("MPJoinSynAckRx"), CONNECTIONS as u64, "{k:?}");
    for c in ["MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure"] {
        assert_eq!(k.get(c), 0, "{c}: {k:?}");
    }

    // The engines' own account (SIGUSR1 prints it).
    proxy.signal("USR1");
    let line = proxy.wait_line(|l| l.contains("joins handed over"), "(status)");
    eprintln!("status: {line}");
    let mut total = (0, 0);
    for w in 0..2 {
        let part = line
            .split(&format!("worker {w} "))
            .nth(1)
            .unwrap_or_else(|| panic!("worker {w} in {line}"));
        let (conns, joins) = (field(part, "connections"), field(part, "joins"));
        assert_eq!(field(part, "unknown-token"), 0, "worker {w}: {line}");
        assert!(conns > 0, "worker {w} took no connection: {line}");
        assert_eq!(
            joins, conns,
            "worker {w}: each connection's join here: {line}"
        );
        total = (total.0 + conns, total.1 + joins);
    }
    assert_eq!(total, (CONNECTIONS as u64, CONNECTIONS as u64), "{line}");
    let handed = field(&line, "joins handed over");
    assert!(
        handed >= CONNECTIONS as u64 / 10,
        "the kernel's hash sends about half the joins to the other queue: {line}"
    );
    drop(conns);
    proxy.stop_with("TERM");
}
