//! The network tools as a user runs them, against the kernel's MPTCP in a
//! network namespace: `mptcp perf` against a stock iperf3 made MPTCP with
//! `mptcpize` (both roles, both directions), `mptcp connect` and
//! `mptcp listen` with their statistics.
//!
//! They need root, `iperf3` and `mptcpize` (Debian: iperf3, mptcpd).
//! Without root they print one `SKIPPED` line; under `CI=true` anything
//! missing fails them.

use mptcp_tun::lab::{TunLab, kernel};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
const MIB: u64 = 1 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A lab with two paths, if the tests can run here.
fn lab() -> Option<(TunLab, MutexGuard<'static, ()>)> {
    if !mptcp_tun::lab::is_root() {
        assert!(
            !ci(),
            "interop tests need root (CI=true: failing, not skipping)"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED: interop tests need root");
        return None;
    }
    for tool in ["iperf3", "mptcpize"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                !ci(),
                "{tool} is required (CI=true); install iperf3 and mptcpd"
            );
            let _ = writeln!(std::io::stderr(), "SKIPPED: {tool} is not installed");
            return None;
        }
    }
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    Some((TunLab::new("mptc", 2).expect("lab"), guard))
}

/// `--tun` arguments for both paths.
fn tun_args(lab: &TunLab) -> Vec<String> {
    lab.paths()
        .iter()
        .flat_map(|p| ["--tun".to_owned(), p.tun_arg(false)])
        .collect()
}

/// A command inside the lab's namespace.
fn inside(lab: &TunLab, args: &[&str]) -> Command {
    lab.ns().exec(args).expect("ip netns exec")
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Wait for a child's stdout to print a line containing `needle`.
fn wait_for_line(child: &mut Child, needle: &str) {
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.expect("stdout").contains(needle) {
            break;
        }
    }
    // Keep draining so that the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
}

/// How long a tool may take for a transfer of a few MiB here, far beyond a
/// loaded CI run; a hang then fails with what it shows, not after CI's limit.
const LIMIT: Duration = Duration::from_secs(120);

/// Wait for a child whose output is piped, for at most [`LIMIT`]. Past
/// that it is killed and the test fails with its output, the kernel's view
/// of its sockets and where the child's threads slept.
fn finish(lab: &TunLab, mut child: Child, what: &str) -> Output {
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|o| Box::new(o) as _));
    let stderr = drain(child.stderr.take().map(|e| Box::new(e) as _));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(status) = status else {
        let sockets = inside(lab, &["ss", "-tinmH"]).output().map(|o| o.stdout);
        let sockets = String::from_utf8_lossy(&sockets.unwrap_or_default()).into_owned();
        let tasks = format!("/proc/{}/task", child.id());
        let wchan: Vec<String> = std::fs::read_dir(&tasks)
            .into_iter()
            .flatten()
            .flatten()
            .map(|t| std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default())
            .collect();
        let _ = child.kill();
        let _ = child.wait();
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        panic!(
            "{what} still ran after {LIMIT:?}; its threads slept in {wchan:?}\n\
             kernel sockets:\n{sockets}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// Run a command to its end within [`LIMIT`], its output collected.
fn run(lab: &TunLab, mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    finish(lab, child, what)
}

/// A stock iperf3 server made MPTCP with mptcpize, serving one test.
fn stock_server(lab: &TunLab) -> Child {
    let bind = lab.path(0).kernel_v4.to_string();
    let mut child = inside(
        lab,
        &["mptcpize", "run", "iperf3", "-s", "-1", "-J", "-B", &bind],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("iperf3 -s");
    // iperf3 -J prints nothing before the test: wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(5);
    let listening = |lab: &TunLab| {
        inside(lab, &["ss", "-Hltn", "sport = :5201"])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    };
    while !listening(lab) {
        assert!(Instant::now() < deadline, "iperf3 never listened");
        if let Ok(Some(st)) = child.try_wait() {
            panic!("iperf3 -s exited: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Test 10, first half: our perf client against the stock server, forward
/// and reverse; the stock server counts what we count, and our report
/// shows both subflows.
#[test]
fn perf_client_against_a_stock_iperf3_server() {
    let Some((lab, _serial)) = lab() else { return };
    for reverse in [false, true] {
        let before = lab.ns().counters().expect("counters");
        let server = stock_server(&lab);
        let host = lab.path(0).kernel_v4.to_string();
        let mut args = vec![BIN, "perf", "client", &host, "-n", "16M", "--json"];
        if reverse {
            args.push("-R");
        }
        let tun = tun_args(&lab);
        args.extend(tun.iter().map(String::as_str));
        let ours = run(&lab, inside(&lab, &args), "mptcp perf client");
        ok(&ours, "mptcp perf client");
        let theirs = finish(&lab, server, "iperf3 -s");
        ok(&theirs, "iperf3 -s");
        let ours = json(&ours.stdout, "our report");
        let theirs = json(&theirs.stdout, "iperf3's report");
        if reverse {
            // iperf3's sender checks its byte count after each block, so
            // it may send one block more; we count all it sends.
            let sent = theirs["end"]["sum_sent"]["bytes"].as_u64().expect("bytes");
            assert!(sent >= 16 * MIB, "iperf3 sent it all: {}", theirs["end"]);
            assert_eq!(
                ours["end"]["sum_received"]["bytes"], sent,
                "we got what it sent"
            );
        } else {
            // The stock server stops reading its streams when TEST_END
            // comes in on the control connection, even with data still in
            // its socket (acknowledged: our byte-limited test ends only
            // then), so it may count less than arrived: at most what its
            // receive buffer holds (tcp_rmem's maximum; a CI loop under
            // load saw 0.7 MiB more than an earlier 1 MiB allowance).
            let rmem = lab.ns().sysctl_get("net.ipv4.tcp_rmem").expect("tcp_rmem");
            let rcvbuf: u64 = rmem
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse().ok())
                .expect("tcp_rmem max");
            let got = theirs["end"]["sum_received"]["bytes"]
                .as_u64()
                .expect("bytes");
            let floor = (16 * MIB).saturating_sub(rcvbuf);
            assert!(
                (floor..=16 * MIB).contains(&got),
                "iperf3 counted all but what its buffer held ({rcvbuf}): {}",
                theirs["end"]
            );
            assert_eq!(
                ours["end"]["sum_sent"]["bytes"],
                16 * MIB,
                "we counted it all"
            );
        }
        let subflows = ours["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .filter_map(|i| i["subflows"].as_array().map(Vec::len))
            .max();
        assert_eq!(subflows, Some(2), "both subflows in the interval reports");
        let delta = lab.ns().counters().expect("counters").delta(&before);
        assert!(
            delta.get("MPJoinSynRx") >= 1,
            "the stock server took our join: {delta}"
        );
    }
}

/// Test 10, second half: the stock client (mptcpize) against our perf
/// server, forward and reverse.
#[test]
fn stock_iperf3_client_against_our_perf_server() {
    let Some((lab, _serial)) = lab() else { return };
    for reverse in [false, true] {
        let before = lab.ns().counters().expect("counters");
        let mut args = vec![BIN, "perf", "server", "-1"];
        let tun = tun_args(&lab);
        args.extend(tun.iter().map(String::as_str));
        let mut ours = inside(&lab, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mptcp perf server");
        wait_for_line(&mut ours, "Server listening");
        let host = lab.path(0).stack_v4.to_string();
        let mut client = vec!["mptcpize", "run", "iperf3", "-c", &host, "-n", "16M", "-J"];
        if reverse {
            client.push("-R");
        }
        let theirs = run(&lab, inside(&lab, &client), "iperf3 -c");
        ok(&theirs, "iperf3 -c");
        let out = finish(&lab, ours, "mptcp perf server");
        // Our server's failure comes with what the stock client printed.
        let what = format!(
            "mptcp perf server (iperf3 -c printed: {}{})",
            String::from_utf8_lossy(&theirs.stdout),
            String::from_utf8_lossy(&theirs.stderr)
        );
        ok(&out, &what);
        let theirs = json(&theirs.stdout, "iperf3's report");
        let counted = if reverse {
            &theirs["end"]["sum_received"]["bytes"]
        } else {
            &theirs["end"]["sum_sent"]["bytes"]
        };
        assert!(counted.as_u64().is_some_and(|b| b >= 16 * MIB), "{counted}");
        let delta = lab.ns().counters().expect("counters");
        let delta = delta.delta(&before);
        assert!(
            delta.get("MPCapableSYNACKRX") >= 1,
            "the client spoke MPTCP: {delta}"
        );
    }
}

/// `mptcp connect`: standard input to the kernel, the kernel's answer to
/// standard output, and the statistics file with the documented fields.
#[test]
fn connect_relays_and_writes_its_statistics() {
    let Some((lab, _serial)) = lab() else { return };
    let addr = SocketAddr::new(lab.path(0).kernel_addr(false), 7000);
    let listener = lab.ns().run(|| kernel::listen(addr, true)).expect("listen");
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read to DATA_FIN");
        let token = kernel::mptcp_info(&s).expect("MPTCP_INFO").token;
        s.write_all(b"answer from the kernel").expect("write");
        s.shutdown(Shutdown::Write).expect("DATA_FIN");
        (got, token)
    });
    let stats = std::env::temp_dir().join(format!("mptcp-connect-{}.json", std::process::id()));
    let target = addr.to_string();
    let stats_arg = stats.to_string_lossy().into_owned();
    let mut args = vec![BIN, "connect", &target, "--stats-json", &stats_arg];
    let tun = tun_args(&lab);
    args.extend(tun.iter().map(String::as_str));
    let mut child = inside(&lab, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mptcp connect");
    let input: Vec<u8> = (0..(2 * MIB) as u32).map(|i| (i % 251) as u8).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = {
        let input = input.clone();
        std::thread::spawn(move || stdin.write_all(&input))
    };
    let out = finish(&lab, child, "mptcp connect");
    feeder.join().expect("feeder").expect("stdin");
    ok(&out, "mptcp connect");
    let (got, token) = kernel.join().expect("kernel");
    assert!(
        got == input,
        "the kernel got standard input ({} bytes)",
        got.len()
    );
    assert_eq!(out.stdout, b"answer from the kernel");
    let v = json(&std::fs::read(&stats).expect("stats file"), "stats");
    let _ = std::fs::remove_file(&stats);
    assert_eq!(v["version"], 1);
    assert_eq!(v["fallback"], false);
    assert_eq!(v["fallback_reason"], Value::Null);
    assert_eq!(v["remote_token"], token, "the kernel's token");
    assert!(v["local_key"].is_u64() && v["remote_key"].is_u64() && v["local_token"].is_u64());
    let subflows = v["subflows"].as_array().expect("subflows");
    assert_eq!(subflows.len(), 2, "{subflows:?}");
    let sent: u64 = subflows
        .iter()
        .map(|s| s["bytes_sent"].as_u64().expect("bytes"))
        .sum();
    assert!(sent >= 2 * MIB);
    for s in subflows {
        for key in ["local", "remote", "bytes_received", "retransmits"] {
            assert!(!s[key].is_null(), "subflow field {key}: {s}");
        }
    }
}

/// `mptcp listen --signal`: a kernel client is served, learns our second
/// address, and joins it.
#[test]
fn listen_serves_a_kernel_client_and_announces() {
    let Some((lab, _serial)) = lab() else { return };
    let stats = std::env::temp_dir().join(format!("mptcp-listen-{}.json", std::process::id()));
    let stats_arg = stats.to_string_lossy().into_owned();
    let signal = lab.path(1).stack_v4.to_string();
    let mut args = vec![
        BIN,
        "listen",
        "7001",
        "--signal",
        &signal,
        "--stats-json",
        &stats_arg,
    ];
    let tun = tun_args(&lab);
    args.extend(tun.iter().map(String::as_str));
    let mut child = inside(&lab, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mptcp listen");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"answer from our server").expect("stdin");
    let addr = SocketAddr::new(lab.path(0).stack_addr(false), 7001);
    let data: Vec<u8> = (0..MIB as u32).map(|i| (i % 253) as u8).collect();
    let sent = data.clone();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let kernel = lab.ns().spawn(move || {
        // Until `mptcp listen` is up: refused (our stack answers, the
        // listener is not there yet) or unanswered (no stack yet).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut s = loop {
            match kernel::connect(addr, true, Duration::from_secs(5)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("connect: {e}"),
            }
        };
        s.write_all(&sent).expect("write");
        // Hold the connection open until told the join is there.
        let _ = wait.recv();
        s.shutdown(Shutdown::Write).expect("DATA_FIN");
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).expect("read");
        reply
    });
    // Our end shuts its side (DATA_FIN) only once the kernel's path
    // manager joined what we announce: the kernel completes a join of its
    // own only while its connection is established, and resets it if our
    // DATA_FIN came first. Its join's SYN-ACK counted at the kernel, then.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lab.ns().counters().expect("counters").get("MPJoinSynAckRx") < 1 {
        if Instant::now() >= deadline {
            let counters = lab.ns().counters().map(|c| c.to_string());
            let _ = child.kill();
            let out = child.wait_with_output().expect("mptcp listen");
            panic!(
                "the kernel never joined; its counters: {counters:?}; mptcp listen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stdin);
    go.send(()).expect("kernel thread");
    let reply = kernel.join().expect("kernel thread");
    let out = finish(&lab, child, "mptcp listen");
    ok(&out, "mptcp listen");
    assert_eq!(reply, b"answer from our server");
    assert!(out.stdout == data, "our stdout has the kernel's bytes");
    let v = json(&std::fs::read(&stats).expect("stats file"), "stats");
    let _ = std::fs::remove_file(&stats);
    assert_eq!(v["fallback"], false);
    assert_eq!(v["counters"]["AddAddrTx"], 1, "{}", v["counters"]);
    assert_eq!(v["counters"]["EchoAdd"], 1, "{}", v["counters"]);
    // The join completed at both ends (its SYN-ACK counted by the kernel
    // before it closed), so the subflow stays in the list.
    assert_eq!(v["counters"]["MPJoinSynRx"], 1, "{}", v["counters"]);
    assert_eq!(v["counters"]["MPJoinAckRx"], 1, "{}", v["counters"]);
    let subflows = v["subflows"].as_array().expect("subflows");
    assert!(
        subflows
            .iter()
            .any(|s| s["local"].as_str().is_some_and(|l| l.starts_with(&signal))),
        "the kernel joined the announced address: {subflows:?}"
    );
}
