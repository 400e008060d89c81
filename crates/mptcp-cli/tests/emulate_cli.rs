//! `mptcp emulate` as a user runs it: two namespaces joined by an emulated
//! lossy path, the kernel's TCP across it. Asserts what the emulator must
//! do whatever the machine's load: the bytes arrive intact, the model's
//! loss was applied (packets counted as lost, the transfer still whole),
//! its delay too (a handshake takes at least the round trip), and
//! everything it set up is gone when it exits on SIGINT. No throughput.
//!
//! Needs root; without it prints one `SKIPPED` line, under `CI=true` fails.

use mptcp_tun::lab::{Netns, kernel};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{Output, STEP, Watched, count};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");

fn can_run() -> bool {
    if mptcp_tun::lab::is_root() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci,
        "emulate tests need root (CI=true: failing, not skipping)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: emulate tests need root");
    false
}

/// The emulator process, killed if the test ends before it exits.
struct Emulator(Watched);

impl Emulator {
    fn start(left: &Netns, right: &Netns, args: &[&str]) -> Emulator {
        let mut cmd = Command::new(BIN);
        cmd.args(["emulate", "--left", left.name(), "--right", right.name()])
            .args(args)
            .args(["--time", "300s"]);
        Emulator(Watched::spawn(cmd, Output::Stdout, "mptcp emulate"))
    }

    /// Waits for a line starting with `prefix`; fails loudly after [`STEP`].
    fn wait_for(&mut self, prefix: &str) -> String {
        self.0
            .wait_line(|l| l.starts_with(prefix), &format!("starting {prefix:?}"))
    }

    /// SIGINT, then its exit status (fails after [`STEP`]).
    fn interrupt(&mut self) -> std::process::ExitStatus {
        self.0.stop_with("INT")
    }
}

/// A kernel TCP (or MPTCP) listener in `ns` at `addr` taking one
/// connection and reading it to the end: the bytes and the peer's address.
fn kernel_sink(
    ns: &Netns,
    addr: SocketAddr,
    mptcp: bool,
) -> std::thread::JoinHandle<(Vec<u8>, SocketAddr)> {
    let listener = ns.run(|| kernel::listen(addr, mptcp)).expect("listen");
    std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        s.set_read_timeout(Some(STEP)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("server read");
        (got, peer)
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn kernel_tcp_over_an_emulated_lossy_path() {
    if !can_run() {
        return;
    }
    let left = Netns::create("emul").expect("netns");
    let right = Netns::create("emur").expect("netns");
    let mut emu = Emulator::start(&left, &right, &["--path", "50mbit/10ms/2%"]);
    let path0 = emu.wait_for("path 0:");
    assert!(
        path0.contains("10.240.0.1/24") && path0.contains("10.240.0.2/24"),
        "{path0}"
    );
    emu.wait_for("ready");

    let server_addr: SocketAddr = "10.240.0.2:5201".parse().unwrap();
    let server = kernel_sink(&right, server_addr, false);
    let data = pattern(1 << 20);
    let sent = data.clone();
    let handshake = left.run(move || {
        let start = Instant::now();
        let mut c = kernel::connect(server_addr, false, STEP).expect("connect");
        let handshake = start.elapsed();
        c.set_write_timeout(Some(STEP)).unwrap();
        c.write_all(&sent).expect("client write");
        c.shutdown(Shutdown::Write).expect("shutdown");
        handshake
    });
    let (got, _) = server.join().expect("server thread");
    assert_eq!(got.len(), data.len(), "bytes received");
    assert!(got == data, "the stream arrived corrupted");
    // Two crossings of 10 ms each at least: the delay was applied.
    assert!(
        handshake >= Duration::from_millis(20),
        "handshake in {handshake:?}"
    );

    let status = emu.interrupt();
    let forward = emu.wait_for("path 0 left->right");
    let backward = emu.wait_for("path 0 right->left");
    let lateness = emu.wait_for("lateness:");
    assert!(status.success(), "mptcp emulate exited with {status}");
    assert!(count(&forward, "Loss") > 0, "no loss applied: {forward}");
    assert!(count(&forward, "delivered") >= 700, "{forward}");
    assert!(count(&backward, "delivered") > 0, "{backward}");
    assert!(lateness.contains("write errors 0"), "{lateness}");
    // Torn down: the device (with its addresses) and the rules are gone.
    for ns in [&left, &right] {
        assert!(
            ns.ip(&["link", "show", "emu0"]).is_err(),
            "emu0 left in {}",
            ns.name()
        );
        let rules = ns.ip(&["rule", "show"]).expect("ip rule");
        assert!(
            !rules.contains("2400"),
            "rule left in {}: {rules}",
            ns.name()
        );
    }
}

/// `--addr` puts the addresses the user chose on a path (here on the
/// second path, IPv4 and IPv6), and a kernel TCP connection between them
/// crosses that path, not the first.
#[test]
fn addresses_chosen_by_the_user() {
    if !can_run() {
        return;
    }
    let left = Netns::create("emual").expect("netns");
    let right = Netns::create("emuar").expect("netns");
    let mut emu = Emulator::start(
        &left,
        &right,
        &[
            "--path",
            "200mbit/1ms",
            "--path",
            "200mbit/1ms",
            "--addr",
            "1=192.168.77.10/24,192.168.77.1/24",
            "--addr",
            "1=2001:db8:77::10/64,2001:db8:77::1/64",
        ],
    );
    emu.wait_for("path 0:");
    let path1 = emu.wait_for("path 1:");
    assert!(
        path1.contains("192.168.77.10/24 2001:db8:77::10/64")
            && path1.contains("192.168.77.1/24 2001:db8:77::1/64"),
        "{path1}"
    );
    emu.wait_for("ready");
    let data = pattern(64 << 10);
    for server_addr in ["192.168.77.1:5202", "[2001:db8:77::1]:5202"] {
        let server_addr: SocketAddr = server_addr.parse().unwrap();
        let server = kernel_sink(&right, server_addr, false);
        let sent = data.clone();
        left.run(move || {
            let mut c = kernel::connect(server_addr, false, STEP).expect("connect");
            c.set_write_timeout(Some(STEP)).unwrap();
            c.write_all(&sent).expect("client write");
            c.shutdown(Shutdown::Write).expect("shutdown");
        });
        let (got, peer) = server.join().expect("server thread");
        assert!(got == data, "{server_addr}: the stream arrived corrupted");
        let expected = if server_addr.is_ipv4() {
            "192.168.77.10"
        } else {
            "2001:db8:77::10"
        };
        assert_eq!(peer.ip().to_string(), expected, "the client's address");
    }
    let status = emu.interrupt();
    let first = emu.wait_for("path 0 left->right");
    let second = emu.wait_for("path 1 left->right");
    assert!(status.success(), "mptcp emulate exited with {status}");
    // Both connections crossed path 1; path 0 carried none of their data.
    assert!(count(&second, "delivered") >= 2 * 45, "{second}");
    assert!(count(&first, "delivered") < 10, "{first}");
}

#[test]
fn bad_arguments_are_refused() {
    let out = Command::new(BIN)
        .args([
            "emulate",
            "--left",
            "a",
            "--right",
            "a",
            "--path",
            "10mbit/1ms",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args([
            "emulate", "--left", "x", "--right", "y", "--path", "fast/1ms",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Overlapping subnets, an address for a path that is not there: refused
    // before anything is made.
    for addr in ["0=10.240.1.5/16,10.240.1.6/16", "3=10.9.0.1,10.9.0.2"] {
        let out = Command::new(BIN)
            .args(["emulate", "--left", "x", "--right", "y"])
            .args([
                "--path",
                "10mbit/1ms",
                "--path",
                "10mbit/1ms",
                "--addr",
                addr,
            ])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
        assert!(
            err.contains("overlap") || err.contains("no such path"),
            "{err}"
        );
    }
}

/// `scripts/mptcp-lab.sh down --name NAME`, also when the test fails.
struct LabDown(String);

impl Drop for LabDown {
    fn drop(&mut self) {
        let _ = lab_script(&["down", "--name", &self.0]);
    }
}

fn lab_script(args: &[&str]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/mptcp-lab.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("MPTCP", BIN)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/mptcp-lab.sh")
}

/// The lab script with `--emulate`: the kernel's MPTCP alone in the lab's
/// namespace, our `mptcp connect` in the other one, two emulated paths
/// between them. The bytes arrive whole, our join reached the kernel,
/// both paths carried data, and `down` removes both namespaces and stops
/// the emulator.
#[test]
fn the_lab_script_puts_emulated_paths_between_the_kernel_and_us() {
    if !can_run() {
        return;
    }
    let name = format!("emlab{}", std::process::id());
    let guard = LabDown(name.clone());
    let up = lab_script(&[
        "up",
        "--name",
        &name,
        "--emulate",
        "100mbit/2ms",
        "--emulate",
        "60mbit/5ms/0.1%",
    ]);
    let said = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(
        up.status.success() && said.contains("kernel at 10.240.i.2"),
        "lab up failed: {said}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let kernel_ns = Netns::existing(&name).expect("the kernel's namespace");
    let ours_ns = Netns::existing(&format!("{name}-ours")).expect("our namespace");
    let before = kernel_ns.counters().expect("counters");

    let server_addr: SocketAddr = "10.240.0.2:7000".parse().unwrap();
    let server = kernel_sink(&kernel_ns, server_addr, true);
    let data = pattern(4 << 20);
    let mut client = ours_ns
        .exec(&[
            BIN,
            "connect",
            "10.240.0.2:7000",
            "--tun",
            "mptcp0=10.200.0.2",
            "--tun",
            "mptcp1=10.200.1.2",
        ])
        .expect("ip netns exec")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mptcp connect");
    let mut stdin = client.stdin.take().expect("stdin");
    let sent = data.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&sent));
    let (got, _) = server.join().expect("server thread");
    writer
        .join()
        .expect("writer")
        .expect("write to mptcp connect");
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(st) = client.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            panic!("mptcp connect did not exit after the server closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    let _ = client.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(status.success(), "mptcp connect: {status}: {err}");
    assert_eq!(got.len(), data.len(), "bytes received");
    assert!(got == data, "the stream arrived corrupted");
    let joins = kernel_ns.counters().expect("counters").delta(&before);
    assert!(
        joins.get("MPJoinAckRx") >= 1,
        "no join completed: {joins:?}"
    );

    let down = lab_script(&["down", "--name", &name]);
    assert!(down.status.success(), "lab down failed");
    std::mem::forget(guard);
    let log = std::fs::read_to_string(format!("/run/mptcp-lab-{name}.emulate.log"))
        .expect("the emulator's log");
    let _ = std::fs::remove_file(format!("/run/mptcp-lab-{name}.emulate.log"));
    for path in ["path 0 left->right", "path 1 left->right"] {
        let line = log
            .lines()
            .find(|l| l.starts_with(path))
            .unwrap_or_else(|| panic!("no {path:?} in the emulator's report: {log}"));
        assert!(count(line, "delivered") >= 100, "{line}");
    }
    for ns in [name.clone(), format!("{name}-ours")] {
        assert!(Netns::existing(&ns).is_err(), "{ns} left behind");
    }
}
