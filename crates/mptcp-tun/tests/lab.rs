//! The network-namespace labs against the real kernel: namespaces come and
//! go, kernel MPTCP talks to kernel MPTCP (loopback, veth with a join), and
//! packets cross the TUN plumbing both ways without our stack.
//!
//! They need root. Without root they print one `SKIPPED` line and pass,
//! except under `CI=true`, where they fail.
//!
//! They run one at a time (see [`SERIAL`]), and wait for the state they
//! are about (a carrier gone, a join counted, a packet read) rather than
//! for a fixed time: [`BOUND`] only turns a hang into a failure.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::lab::{self, CommandFailed, CpuMeter, Netns, Side, TunLab, VethLab, kernel};

/// The last resort against a hang: how long a wait for a state, a packet
/// or a connection may take before the test fails. Never a measure of
/// speed: the states waited for come in milliseconds.
const BOUND: Duration = Duration::from_secs(60);

/// One test at a time. A child process holds a copy of the parent's file
/// descriptors between its clone and its exec (close-on-exec acts only
/// then), so an `ip` that another test spawns at the wrong moment keeps a
/// TUN device attached after this test closed it; and the tests share
/// the machine's two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// The serializing lock if the tests can run; `None` (after one loud
/// line) if they must skip; panics without root under CI.
fn root_or_skip() -> Option<MutexGuard<'static, ()>> {
    if lab::is_root() {
        return Some(SERIAL.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "the lab tests need root for network namespaces (CI=true: failing, not skipping)"
    );
    // Straight to stderr: libtest captures `eprintln!`, and this must show.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: needs root for network namespaces"
    );
    None
}

/// Waits until `done()` holds, checking every millisecond; panics with
/// `what` if it still does not after [`BOUND`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < give_up, "{what}: not within {BOUND:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Whether `ip netns list` shows `name`.
fn listed(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// The network namespace of the calling thread, as `net:[inode]`.
fn thread_netns() -> String {
    let link = fs::read_link("/proc/thread-self/ns/net").unwrap();
    link.to_string_lossy().into_owned()
}

#[test]
fn netns_lives_until_dropped_also_on_panic() {
    let Some(_serial) = root_or_skip() else {
        return;
    };
    let ns = Netns::create("labt-ns").unwrap();
    let name = ns.name().to_owned();
    assert!(listed(&name) && Netns::exists(&name));

    // run, spawn and their child threads are inside; the caller is not.
    let inode = fs::metadata(ns.path()).unwrap().ino();
    let inside = ns.run(thread_netns);
    assert_eq!(inside, format!("net:[{inode}]"));
    assert_ne!(thread_netns(), inside);
    assert_eq!(ns.spawn(thread_netns).join().unwrap(), inside);
    assert_eq!(
        ns.run(|| thread::spawn(thread_netns).join().unwrap()),
        inside
    );
    let in_tokio = ns.run(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async { tokio::spawn(async { thread_netns() }).await.unwrap() })
    });
    assert_eq!(in_tokio, inside, "a tokio runtime built inside runs inside");
    let local = 41;
    assert_eq!(ns.run(|| local + 1), 42, "run borrows and returns");
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| ns.run(|| panic!("inside"))));
    assert!(
        panicked.is_err(),
        "a panic inside run resumes in the caller"
    );

    // ip, sysctl and exec act on the namespace.
    assert!(ns.ip(&["link", "show", "lo"]).unwrap().contains(",UP"));
    let err = ns.ip(&["link", "show", "nosuchdev0"]).unwrap_err();
    let failed = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<CommandFailed>())
        .unwrap();
    assert!(failed.stderr.contains("does not exist"), "{failed}");
    let host_csum = fs::read_to_string("/proc/sys/net/mptcp/checksum_enabled").unwrap();
    ns.sysctl("net.mptcp.checksum_enabled", "1").unwrap();
    assert_eq!(ns.sysctl_get("net.mptcp.checksum_enabled").unwrap(), "1");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/mptcp/checksum_enabled").unwrap(),
        host_csum
    );
    let out = ns
        .exec(&["cat", "/proc/sys/net/mptcp/checksum_enabled"])
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    // A process left inside is killed when the namespace goes.
    let mut sleeper = ns.exec(&["sleep", "600"]).unwrap().spawn().unwrap();
    wait_until("the sleeper is in the namespace", || {
        !ns.pids().unwrap().is_empty()
    });
    drop(ns);
    assert!(!listed(&name));
    let mut status = None;
    wait_until("the sleeper ends with its namespace", || {
        status = sleeper.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    assert!(!status.success(), "the sleeper was killed: {status}");

    // Unwinding drops the namespace too.
    let name = Mutex::new(String::new());
    let result = panic::catch_unwind(|| {
        let ns = Netns::create("labt-panic").unwrap();
        *name.lock().unwrap() = ns.name().to_owned();
        assert!(listed(ns.name()));
        ns.run(|| panic!("test panic inside the namespace"));
    });
    assert!(result.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty() && !listed(&name), "{name} is gone");
}

#[test]
fn api_reads_as_documented() -> std::io::Result<()> {
    let Some(_serial) = root_or_skip() else {
        return Ok(());
    };
    let meter = CpuMeter::start()?;
    let ns = Netns::create("mpt")?;
    assert!(ns.name().starts_with("mpt-"));
    ns.ip(&["mptcp", "limits", "set", "subflows", "4"])?;
    assert!(ns.ip(&["mptcp", "limits", "show"])?.contains("subflows 4"));
    let iperf = ns.exec(&["iperf3", "-s", "-1"])?;
    assert_eq!(iperf.get_program(), "ip");
    ns.sysctl("net.mptcp.checksum_enabled", "1")?;
    let v = ns.run(|| 6 * 7);
    let h = ns.spawn(|| "spawned");
    let c: MptcpCounters = ns.counters()?;
    assert_eq!(
        (v, h.join().unwrap(), c.get("MPJoinSynRx")),
        (42, "spawned", 0)
    );
    assert!(c.delta(&c).nonzero().next().is_none());
    assert!(ns.exec(&[]).is_err());

    let lab = TunLab::new("mpt", 2)?;
    assert!(lab.ns().name().starts_with("mpt-"));
    let p = lab.path(1);
    assert_eq!(
        (
            p.dev.as_str(),
            p.kernel_v4.to_string(),
            p.stack_v4.to_string()
        ),
        ("mpt1", "10.200.1.1".into(), "10.200.1.2".into())
    );
    assert_eq!(
        (p.kernel_v6.to_string(), p.stack_v6.to_string()),
        ("fd00:200:1::1".into(), "fd00:200:1::2".into())
    );
    lab.endpoint(1, "subflow fullmesh")?;
    assert!(lab.endpoint(0, "nonsense").is_err());
    lab.flush_endpoints()?;
    assert!(TunLab::new("mpt", 0).is_err() && Netns::create("no spaces").is_err());
    let usage = meter.stop()?;
    assert!(usage.wall_s > 0.0 && usage.process_s >= 0.0);
    Ok(())
}

/// Sends `total` bytes from `client` to whoever accepts on `listener`,
/// reading them all; `after_first` runs once the first 64 KiB are written.
/// Returns (bytes read, client info, server info), both infos taken after
/// the data arrived and while both ends are still open: the server, once
/// it has `server_subflows` subflows, answers one byte and keeps its end
/// open until the client, having taken its info, closes. (A server that
/// closed first could take subflows down under the client's feet: the
/// kernel counts only live ones.)
fn transfer(
    listener: std::net::TcpListener,
    mut client: TcpStream,
    total: usize,
    server_subflows: u8,
    after_first: impl FnOnce(&TcpStream),
) -> (usize, kernel::MptcpInfo, kernel::MptcpInfo) {
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < total {
            match s.read(&mut buf).unwrap() {
                0 => break,
                n => got += n,
            }
        }
        wait_until("the server counts its subflows", || {
            kernel::mptcp_info(&s).unwrap().subflows_total >= server_subflows
        });
        let info = kernel::mptcp_info(&s).unwrap();
        s.write_all(b"k").unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 0, "the client closes");
        (got, info)
    });
    let chunk = vec![0x5au8; 1 << 16];
    let mut sent = 0;
    let mut after_first = Some(after_first);
    while sent < total {
        let n = chunk.len().min(total - sent);
        client.write_all(&chunk[..n]).unwrap();
        sent += n;
        if let Some(f) = after_first.take() {
            f(&client);
        }
    }
    let mut ack = [0u8; 1];
    client.set_read_timeout(Some(BOUND)).unwrap();
    client.read_exact(&mut ack).unwrap();
    let client_info = kernel::mptcp_info(&client).unwrap();
    client.shutdown(Shutdown::Both).ok();
    let (got, server_info) = server.join().unwrap();
    (got, client_info, server_info)
}

#[test]
fn kernel_mptcp_over_loopback_with_per_namespace_counters() {
    let Some(_serial) = root_or_skip() else {
        return;
    };
    let ns = Netns::create("labt-lo").unwrap();
    let idle = Netns::create("labt-idle").unwrap();
    const TOTAL: usize = 4 << 20;
    let (got, c, s) = ns.run(|| {
        let listener = kernel::listen("127.0.0.1:0".parse().unwrap(), true).unwrap();
        assert!(kernel::is_mptcp(&listener).unwrap());
        let listen_info = kernel::mptcp_info(&listener).unwrap();
        assert_eq!(listen_info.token, 0, "{listen_info:?}");
        let client = kernel::connect(listener.local_addr().unwrap(), true, BOUND).unwrap();
        transfer(listener, client, TOTAL, 1, |_| {})
    });
    assert_eq!(got, TOTAL);
    for info in [&c, &s] {
        assert!(!info.fallback() && info.remote_key_received(), "{info:?}");
        assert_eq!(info.len, 96);
        assert_ne!(info.token, 0);
        assert_eq!(info.subflows_total, 1);
    }
    assert_ne!(c.token, s.token, "each side reports its own token");
    assert!(
        c.bytes_sent >= TOTAL as u64 && s.bytes_received >= TOTAL as u64,
        "{c:?} {s:?}"
    );

    let counters = ns.counters().unwrap();
    assert!(counters.get("MPCapableSYNRX") >= 1, "{counters}");
    assert!(counters.get("MPCapableSYNTX") >= 1 && counters.get("MPCapableACKRX") >= 1);
    let quiet = idle.counters().unwrap();
    assert!(quiet.contains("MPCapableSYNRX") && quiet.len() == counters.len());
    assert_eq!(
        quiet.get("MPCapableSYNRX"),
        0,
        "another namespace saw nothing: {quiet}"
    );
    assert_eq!(quiet.nonzero().count(), 0);
}

#[test]
fn kernel_mptcp_info_on_plain_tcp_and_fallback() {
    let Some(_serial) = root_or_skip() else {
        return;
    };
    let ns = Netns::create("labt-fb").unwrap();
    ns.run(|| {
        // A plain TCP listener: the MPTCP client falls back.
        let listener = kernel::listen("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let plain = kernel::mptcp_info(&listener).unwrap_err();
        let client = kernel::connect(listener.local_addr().unwrap(), true, BOUND).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(kernel::is_mptcp(&client).unwrap() && !kernel::is_mptcp(&server).unwrap());
        // MPTCP_INFO fails alike on plain TCP and after a fallback.
        let fallback = kernel::mptcp_info(&client).unwrap_err();
        assert_eq!(plain.raw_os_error(), Some(libc_eopnotsupp()));
        assert_eq!(fallback.raw_os_error(), Some(libc_eopnotsupp()));
        drop(server);

        // An MPTCP listener and a plain TCP client: the server side.
        let listener = kernel::listen("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let client = kernel::connect(listener.local_addr().unwrap(), false, BOUND).unwrap();
        let (server, _) = listener.accept().unwrap();
        // ... is handed a plain TCP socket.
        assert!(!kernel::is_mptcp(&server).unwrap());
        let err = kernel::mptcp_info(&server).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc_eopnotsupp()));
        drop(client);
    });
    let counters = ns.counters().unwrap();
    assert!(counters.get("MPCapableFallbackSYNACK") >= 1, "{counters}");
}

/// `EOPNOTSUPP` on Linux.
fn libc_eopnotsupp() -> i32 {
    95
}

#[test]
fn veth_lab_kernel_client_joins_on_the_second_path() {
    let Some(_serial) = root_or_skip() else {
        return;
    };
    let lab = VethLab::new("labt-veth", 2).unwrap();
    lab.shape(0, 200).unwrap();
    lab.shape(1, 200).unwrap();
    assert!(
        lab.client()
            .tc(&["qdisc", "show", "dev", "veth1"])
            .unwrap()
            .contains("tbf")
    );
    lab.endpoint(Side::Client, 1, "subflow").unwrap();
    let (p0, p1) = (lab.path(0).clone(), lab.path(1).clone());
    let listener = lab
        .server()
        .run(|| kernel::listen(SocketAddr::new(p0.server_v4.into(), 0), true))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    const TOTAL: usize = 16 << 20;
    let (got, c, s, addrs) = lab.client().run(|| {
        let client = kernel::connect(addr, true, BOUND).unwrap();
        let mut addrs = Vec::new();
        // The kernel's path manager opens subflows once the connection is
        // fully established, that is once the server acknowledged data.
        let (got, c, s) = transfer(listener, client, TOTAL, 2, |client| {
            // `subflows_total` counts a join from the moment the path
            // manager starts it; the counters tell when its handshake
            // completed at both ends.
            wait_until("the client's join is established", || {
                let synack = lab.client().counters().unwrap().get("MPJoinSynAckRx");
                let ack = lab.server().counters().unwrap().get("MPJoinAckRx");
                synack >= 1 && ack >= 1
            });
            wait_until("the client counts its join", || {
                kernel::mptcp_info(client).unwrap().subflows_total >= 2
            });
            addrs = kernel::subflow_addrs(client).unwrap();
        });
        (got, c, s, addrs)
    });
    assert_eq!(got, TOTAL);
    assert_eq!((c.subflows, c.subflows_total), (1, 2), "one join: {c:?}");
    assert_eq!(s.subflows_total, 2, "{s:?}");
    assert!(!c.fallback() && c.token != s.token);
    let joined = (SocketAddr::new(p1.client_v4.into(), 0), addr);
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert!(
        addrs
            .iter()
            .any(|&(l, r)| l.ip() == joined.0.ip() && r == joined.1),
        "{addrs:?}"
    );

    let server = lab.server().counters().unwrap();
    assert!(
        server.get("MPJoinSynRx") >= 1 && server.get("MPJoinAckRx") >= 1,
        "{server}"
    );
    let client = lab.client().counters().unwrap();
    assert!(client.get("MPJoinSynAckRx") >= 1, "{client}");
    // Data went out on both links, and the server answered the join on the
    // link the client chose (veth1), though it was sent to path 0's address.
    for dev in [&p0.dev, &p1.dev] {
        let tx = lab.client().link_stats(dev).unwrap();
        assert!(tx.tx_bytes > (TOTAL as u64) / 8, "{dev}: {tx:?}");
    }
    let server_veth1 = lab.server().link_stats(&p1.dev).unwrap();
    assert!(server_veth1.tx_packets > 100, "{server_veth1:?}");

    let names = [
        lab.client().name().to_owned(),
        lab.server().name().to_owned(),
    ];
    drop(lab);
    assert!(names.iter().all(|n| !listed(n)), "both namespaces are gone");
}

/// Reads one packet from the TUN `fd` that `want` accepts, skipping others
/// (IPv6 router solicitations, MLD reports...); fails after [`BOUND`].
fn read_packet(fd: &mut fs::File, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let mut packet = None;
    wait_until("a matching packet on the TUN", || {
        match fd.read(&mut buf) {
            Ok(n) if want(&buf[..n]) => packet = Some(buf[..n].to_vec()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the TUN: {e}"),
        }
        packet.is_some()
    });
    packet.unwrap_or_default()
}

/// The Internet checksum (RFC 1071) of `parts` laid end to end.
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP header and payload; `checksum` is filled in by the caller.
fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    [
        &sport.to_be_bytes()[..],
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ]
    .concat()
}

/// An IPv4 packet carrying UDP (checksum 0: none, allowed over IPv4).
fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = udp(sport, dport, payload);
    let total = (20 + udp.len()) as u16;
    let mut ip = [
        &[0x45, 0][..],
        &total.to_be_bytes(),
        &[0, 0, 0x40, 0, 64, 17, 0, 0],
        &src,
        &dst,
    ]
    .concat();
    let sum = internet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    [ip, udp].concat()
}

/// An IPv6 packet carrying UDP, with the mandatory UDP checksum.
fn ipv6_udp(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = udp(sport, dport, payload);
    let len = udp.len() as u32;
    let pseudo = [&src[..], &dst, &len.to_be_bytes(), &[0, 0, 0, 17]].concat();
    let sum = match internet_checksum(&[&pseudo, &udp]) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let header = [
        &[0x60, 0, 0, 0][..],
        &(len as u16).to_be_bytes(),
        &[17, 64],
        &src,
        &dst,
    ]
    .concat();
    [header, udp].concat()
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[test]
fn tun_lab_is_configured_and_carries_packets_both_ways() {
    let Some(_serial) = root_or_skip() else {
        return;
    };
    let lab = TunLab::new("labt", 2).unwrap();
    let ns = lab.ns();
    let (p0, p1) = (lab.path(0).clone(), lab.path(1).clone());
    assert_eq!((p0.dev.as_str(), p1.dev.as_str()), ("labt0", "labt1"));
    assert_eq!(p1.kernel_v4.to_string(), "10.200.1.1");
    assert_eq!(p1.stack_v6.to_string(), "fd00:200:1::2");
    assert_eq!(p1.tun_arg(false), "labt1=10.200.1.2");

    // Configured before anyone attaches (NO-CARRIER).
    for p in [&p0, &p1] {
        let link = ns.ip(&["link", "show", "dev", &p.dev]).unwrap();
        assert!(
            link.contains("NO-CARRIER") && link.contains(",UP"),
            "{link}"
        );
        let addrs = ns.ip(&["addr", "show", "dev", &p.dev]).unwrap();
        assert!(addrs.contains(&format!("{}/24", p.kernel_v4)), "{addrs}");
        assert!(addrs.contains(&format!("{}/64", p.kernel_v6)), "{addrs}");
        let table = p.table.to_string();
        let routes = ns.ip(&["route", "show", "table", &table]).unwrap();
        assert!(
            routes.contains(&format!("default dev {}", p.dev)),
            "{routes}"
        );
        assert!(
            routes.contains(&format!("10.200.{}.0/24 dev {}", p.index, p.dev)),
            "{routes}"
        );
        let routes6 = ns.ip(&["-6", "route", "show", "table", &table]).unwrap();
        assert!(
            routes6.contains(&format!("default dev {}", p.dev)),
            "{routes6}"
        );
        let rules = ns.ip(&["rule", "show"]).unwrap();
        assert!(
            rules.contains(&format!("from {} lookup {table}", p.kernel_v4)),
            "{rules}"
        );
        let rules6 = ns.ip(&["-6", "rule", "show"]).unwrap();
        assert!(
            rules6.contains(&format!("from {} lookup {table}", p.kernel_v6)),
            "{rules6}"
        );
    }
    assert_eq!(ns.sysctl_get("net.ipv4.conf.all.rp_filter").unwrap(), "0");
    let limits = ns.ip(&["mptcp", "limits", "show"]).unwrap();
    assert!(
        limits.contains("add_addr_accepted 8") && limits.contains("subflows 8"),
        "{limits}"
    );
    lab.endpoint(1, "signal").unwrap();
    lab.endpoint_v6(1, "signal").unwrap();
    let endpoints = ns.ip(&["mptcp", "endpoint", "show"]).unwrap();
    assert!(
        endpoints.contains("10.200.1.1 id 1 signal dev labt1"),
        "{endpoints}"
    );
    assert!(
        endpoints.contains("fd00:200:1::1 id 2 signal dev labt1"),
        "{endpoints}"
    );
    // Sockets can use the kernel's addresses before the attach.
    let listener = ns
        .run(|| kernel::listen(SocketAddr::new(p1.kernel_v4.into(), 0), true))
        .unwrap();
    drop(listener);

    let mut tun1 = lab.attach(1).unwrap();
    let link = ns.ip(&["link", "show", "dev", &p1.dev]).unwrap();
    assert!(!link.contains("NO-CARRIER"), "attached: {link}");
    ns.run(|| {
        udp_round_trip_v4(&mut tun1, &p0, &p1);
        udp_round_trip_v6(&mut tun1, &p0, &p1);
        mptcp_syn_leaves_by_its_source_path(&mut tun1, &p1);
    });
    drop(tun1);
    // Closing the only descriptor detaches at once; wait for the state
    // anyway: the carrier is what the test is about.
    wait_until("the carrier goes with the descriptor", || {
        let link = ns.ip(&["link", "show", "dev", &p1.dev]).unwrap();
        link.contains("NO-CARRIER")
    });

    let name = ns.name().to_owned();
    drop(lab);
    assert!(!listed(&name), "the namespace is gone");
    let host = Command::new("ip")
        .args(["link", "show", "dev", &p1.dev])
        .output()
        .unwrap();
    assert!(
        !host.status.success(),
        "no device came back to the host namespace"
    );
}

/// From path 1's kernel address to path 0's stack address: policy routing
/// sends it out of path 1's device. Then a crafted reply goes back in.
fn udp_round_trip_v4(tun: &mut fs::File, p0: &lab::TunPath, p1: &lab::TunPath) {
    let sock = UdpSocket::bind(SocketAddr::new(p1.kernel_v4.into(), 0)).unwrap();
    sock.set_read_timeout(Some(BOUND)).unwrap();
    let kport = sock.local_addr().unwrap().port();
    sock.send_to(b"ping", SocketAddr::new(p0.stack_v4.into(), 9999))
        .unwrap();
    let pkt = read_packet(tun, |p| p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 17);
    assert_eq!(&pkt[12..16], p1.kernel_v4.octets());
    assert_eq!(&pkt[16..20], p0.stack_v4.octets());
    assert_eq!((be16(&pkt, 20), be16(&pkt, 22)), (kport, 9999));
    assert_eq!(&pkt[28..], b"ping");
    assert_eq!(
        internet_checksum(&[&pkt[..20]]),
        0,
        "the kernel's header checksum"
    );

    let reply = ipv4_udp(
        p0.stack_v4.octets(),
        p1.kernel_v4.octets(),
        9999,
        kport,
        b"pong",
    );
    assert_eq!(tun.write(&reply).unwrap(), reply.len());
    let mut buf = [0u8; 16];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"pong"[..], SocketAddr::new(p0.stack_v4.into(), 9999))
    );
}

/// The same over IPv6, with the UDP checksum computed.
fn udp_round_trip_v6(tun: &mut fs::File, p0: &lab::TunPath, p1: &lab::TunPath) {
    let sock = UdpSocket::bind(SocketAddr::new(p1.kernel_v6.into(), 0)).unwrap();
    sock.set_read_timeout(Some(BOUND)).unwrap();
    let kport = sock.local_addr().unwrap().port();
    sock.send_to(b"ping6", SocketAddr::new(p0.stack_v6.into(), 9999))
        .unwrap();
    let pkt = read_packet(tun, |p| p.len() >= 48 && p[0] >> 4 == 6 && p[6] == 17);
    assert_eq!(&pkt[8..24], p1.kernel_v6.octets());
    assert_eq!(&pkt[24..40], p0.stack_v6.octets());
    assert_eq!((be16(&pkt, 40), be16(&pkt, 42)), (kport, 9999));
    assert_eq!(&pkt[48..], b"ping6");

    let reply = ipv6_udp(
        p0.stack_v6.octets(),
        p1.kernel_v6.octets(),
        9999,
        kport,
        b"pong6",
    );
    assert_eq!(tun.write(&reply).unwrap(), reply.len());
    let mut buf = [0u8; 16];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong6");
    assert_eq!(from.ip(), IpAddr::from(p0.stack_v6));
}

/// A kernel MPTCP connect from path 1's address: its SYN comes out of path
/// 1's TUN with an MP_CAPABLE option (kind 30, subtype 0, version 1).
fn mptcp_syn_leaves_by_its_source_path(tun: &mut fs::File, p1: &lab::TunPath) {
    let socket = kernel::mptcp_socket(socket2::Domain::IPV4).unwrap();
    socket
        .bind(&SocketAddr::new(p1.kernel_v4.into(), 0).into())
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    let target = SocketAddr::new(p1.stack_v4.into(), 5201);
    match socket.connect(&target.into()) {
        Err(e) if e.raw_os_error() == Some(115) => {} // EINPROGRESS
        other => panic!("non-blocking connect: {other:?}"),
    }
    let syn = read_packet(tun, |p| p.len() >= 40 && p[0] >> 4 == 4 && p[9] == 6);
    let tcp = &syn[20..];
    assert_eq!(be16(tcp, 2), 5201);
    assert_eq!(tcp[13] & 0x12, 0x02, "a SYN");
    let options = &tcp[20..usize::from(tcp[12] >> 4) * 4];
    let mut i = 0;
    let mut mp_capable = None;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(options[i + 1]).max(2);
                if kind == 30 {
                    mp_capable = Some(options[i + 2]);
                }
                i += len;
            }
        }
    }
    assert_eq!(
        mp_capable,
        Some(0x01),
        "MP_CAPABLE subtype 0 version 1 in {options:02x?}"
    );
}
