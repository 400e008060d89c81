//! `mptcp proxy` as deployed: a client host with two uplinks (veth pairs
//! shaped with tbf, 40 and 20 Mbit/s) through a router doing NAT to a
//! server, and a web server behind the server. `curl --socks5-hostname`
//! in the client host downloads and uploads through `mptcp proxy client`,
//! with our `proxy server` or a stock SOCKS5 server (microsocks) under
//! `mptcpize` on the server side. Asserts integrity, that both uplinks
//! carried the data (their own interface counters), that the host setup
//! is gone after exit, many concurrent connections, and bad SOCKS input.
//! Throughput is reported (docs/proxy.md), not asserted.
//!
//! Needs root, curl, python3, microsocks and mptcpize; without root it
//! prints one `SKIPPED` line, under `CI=true` it fails.

use mptcp_tun::lab::Netns;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{Output, STEP, Watched, count, pattern, veth};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp");
const MIB: usize = 1 << 20;
/// Where the proxy client listens, in the client host.
const SOCKS: &str = "127.0.0.1:1080";
/// The server host's address, as the router sees it.
const SERVER: &str = "10.9.0.2:1080";

fn can_run() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !mptcp_tun::lab::is_root() {
        assert!(
            !ci,
            "proxy tests need root (CI=true: failing, not skipping)"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED: proxy tests need root");
        return false;
    }
    for tool in ["curl", "python3", "microsocks", "mptcpize", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is required (install curl python3 microsocks mptcpd nftables)"
        );
    }
    true
}

/// The namespaces: client host (uplinks c0, c1), router, server, web.
struct Testbed {
    client: Netns,
    _router: Netns,
    server: Netns,
    web: Netns,
    dir: PathBuf,
    /// `/etc/netns/<server>`: the server's /etc/hosts names the web host.
    etc: PathBuf,
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.etc);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Testbed {
    fn new(tag: &str) -> Testbed {
        let client = Netns::create(&format!("pxc{tag}")).expect("netns");
        let router = Netns::create(&format!("pxr{tag}")).expect("netns");
        let server = Netns::create(&format!("pxs{tag}")).expect("netns");
        let web = Netns::create(&format!("pxw{tag}")).expect("netns");
        veth(&client, "c0", &router, "r0");
        veth(&client, "c1", &router, "r1");
        veth(&router, "r2", &server, "s0");
        veth(&server, "s1", &web, "w0");
        client
            .ip_batch(&[
                "addr add 10.1.0.2/24 dev c0",
                "addr add 10.2.0.2/24 dev c1",
                "link set c0 up",
                "link set c1 up",
                // The second uplink's gateway comes from here.
                "route add default via 10.2.0.1 dev c1 metric 200",
            ])
            .expect("client");
        router
            .ip_batch(&[
                "addr add 10.1.0.1/24 dev r0",
                "addr add 10.2.0.1/24 dev r1",
                "addr add 10.9.0.1/24 dev r2",
                "link set r0 up",
                "link set r1 up",
                "link set r2 up",
            ])
            .expect("router");
        server
            .ip_batch(&[
                "addr add 10.9.0.2/24 dev s0",
                "addr add 10.8.0.1/24 dev s1",
                "link set s0 up",
                "link set s1 up",
                "route add default via 10.9.0.1",
            ])
            .expect("server");
        web.ip_batch(&[
            "addr add 10.8.0.2/24 dev w0",
            "link set w0 up",
            "route add default via 10.8.0.1",
        ])
        .expect("web");
        router
            .sysctl("net.ipv4.ip_forward", "1")
            .expect("forwarding");
        server
            .sysctl("net.ipv4.ip_forward", "1")
            .expect("forwarding");
        let nat = "table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"r2\" masquerade\n  }\n}\n";
        let mut nft = router
            .exec(&["nft", "-f", "-"])
            .expect("nft")
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        nft.stdin.take().unwrap().write_all(nat.as_bytes()).unwrap();
        assert!(nft.wait().unwrap().success(), "router NAT");
        // Uplinks: 40 and 20 Mbit/s both ways.
        for (ns, dev, rate) in [
            (&client, "c0", "40mbit"),
            (&router, "r0", "40mbit"),
            (&client, "c1", "20mbit"),
            (&router, "r1", "20mbit"),
        ] {
            ns.tc(&[
                "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb",
                "latency", "100ms",
            ])
            .expect("tbf");
        }
        server
            .ip(&[
                "mptcp",
                "limits",
                "set",
                "subflows",
                "4",
                "add_addr_accepted",
                "4",
            ])
            .expect("limits");
        let etc = PathBuf::from("/etc/netns").join(server.name());
        std::fs::create_dir_all(&etc).expect("/etc/netns");
        std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n10.8.0.2 web\n").expect("hosts");
        let dir = std::env::temp_dir().join(format!("proxy-{}", server.name()));
        std::fs::create_dir_all(&dir).expect("dir");
        Testbed {
            client,
            _router: router,
            server,
            web,
            dir,
            etc,
        }
    }
}

/// A process in a namespace, killed when the test ends; its stderr lines
/// watched.
struct Proc(Watched);

impl Proc {
    fn start(ns: &Netns, args: &[&str]) -> Proc {
        let cmd = ns.exec(args).expect("ip netns exec");
        Proc(Watched::spawn(cmd, Output::Stderr, &args.join(" ")))
    }

    /// The next stderr line containing `text`.
    fn wait_for(&mut self, text: &str) -> String {
        self.0
            .wait_line(|l| l.contains(text), &format!("containing {text:?}"))
    }

    /// Asks for the status line until no connection is active and at
    /// least `total` were seen.
    fn wait_idle(&mut self, total: u64) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            // `ip netns exec` execs the program: the child is the proxy.
            self.0.signal("USR1");
            let line = self.wait_for("connections active");
            if count(&line, "active") == 0 && count(&line, "total") >= total {
                return line;
            }
            assert!(Instant::now() < deadline, "still {line}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGINT, then its exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.0.stop_with("INT")
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.pid()))
            .expect("/proc status");
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .expect("VmRSS")
    }
}

/// Our proxy server (SOCKS5) in the server host, once it is ready.
fn our_server(bed: &Testbed, extra: &[&str]) -> Proc {
    let mut args = vec![
        BIN,
        "proxy",
        "server",
        "--listen",
        "1080",
        "--tun",
        "mps0=10.251.0.2",
        "--socks",
    ];
    args.extend_from_slice(extra);
    let mut server = Proc::start(&bed.server, &args);
    server.wait_for("mptcp proxy server:");
    server
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The web server: GET /NAME serves a file of the directory, POST answers
/// the SHA-256 of what it received.
const WEB: &str = r#"
import hashlib, http.server, os, sys
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def do_GET(self):
        path = os.path.join(root, os.path.basename(self.path))
        if not os.path.isfile(path):
            self.send_error(404); return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size)); self.end_headers()
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 16)
                if not b: break
                self.wfile.write(b)
    def do_POST(self):
        n = int(self.headers["Content-Length"]); h = hashlib.sha256(); left = n
        while left:
            b = self.rfile.read(min(left, 1 << 16))
            if not b: break
            h.update(b); left -= len(b)
        body = h.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: with 200 connections at
    # once the kernel drops SYNs and a connect can take over two minutes.
    request_queue_size = 1024
    daemon_threads = True
S(("10.8.0.2", 80), H).serve_forever()
"#;

/// Starts the web server with a file `name` of `len` bytes; its hash.
fn web_server(bed: &Testbed, files: &[(&str, usize)]) -> (Proc, Vec<String>) {
    let mut sums = Vec::new();
    for (i, (name, len)) in files.iter().enumerate() {
        let data = pattern(*len, i as u64 + 7);
        sums.push(sha256_hex(&data));
        std::fs::write(bed.dir.join(name), data).expect("file");
    }
    let script = bed.dir.join("web.py");
    std::fs::write(&script, WEB).expect("web.py");
    let web = Proc::start(
        &bed.web,
        &[
            "python3",
            script.to_str().unwrap(),
            bed.dir.to_str().unwrap(),
        ],
    );
    let deadline = Instant::now() + STEP;
    while bed.web.run(|| TcpStream::connect("10.8.0.2:80")).is_err() {
        assert!(Instant::now() < deadline, "the web server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    (web, sums)
}

/// curl in the client host (after `wrap`, like `mptcpize run`) through
/// `socks`, with `args`.
fn curl_cmd(bed: &Testbed, wrap: &[&str], socks: &str, args: &[&str]) -> Command {
    let mut all = wrap.to_vec();
    all.extend([
        "curl",
        "-sS",
        "--fail",
        "--max-time",
        "300",
        "--socks5-hostname",
        socks,
    ]);
    all.extend_from_slice(args);
    bed.client.exec(&all).expect("curl")
}

/// curl fetching `http://web/NAME` into the test's directory.
fn fetch_cmd(bed: &Testbed, wrap: &[&str], socks: &str, name: &str) -> Command {
    let got = bed.dir.join("got");
    let url = format!("http://web/{name}");
    curl_cmd(bed, wrap, socks, &["-o", got.to_str().unwrap(), &url])
}

/// The fetched bytes, once curl has exited successfully.
fn fetched(bed: &Testbed, out: std::process::Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(bed.dir.join("got")).expect("downloaded")
}

/// Downloads `http://web/NAME` through `socks`: the bytes.
fn download(bed: &Testbed, socks: &str, name: &str) -> Vec<u8> {
    fetched(
        bed,
        fetch_cmd(bed, &[], socks, name).output().expect("curl"),
    )
}

fn curl(bed: &Testbed, args: &[&str]) -> String {
    let all = args;
    let out = curl_cmd(bed, &[], SOCKS, args).output().expect("curl");
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_client(bed: &Testbed) -> Proc {
    start_client_with(bed, "c1")
}

/// The client with uplink c0 (gateway given) and `second` (c1 and flags).
fn start_client_with(bed: &Testbed, second: &str) -> Proc {
    let mut c = Proc::start(
        &bed.client,
        &[
            BIN,
            "proxy",
            "client",
            "--listen",
            SOCKS,
            "--server",
            SERVER,
            "--uplink",
            "c0=10.1.0.1",
            "--uplink",
            second,
            "--events",
            "-",
        ],
    );
    c.wait_for("mptcp proxy client:");
    c
}

fn received(bed: &Testbed, dev: &str) -> u64 {
    bed.client.link_stats(dev).expect("link stats").rx_bytes
}

/// `nft list tables` in `ns`.
fn nft_tables(ns: &Netns) -> String {
    let out = ns
        .exec(&["nft", "list", "tables"])
        .unwrap()
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// After the client exits, nothing of its host setup is left.
fn assert_client_cleaned_up(bed: &Testbed) {
    let rules = bed.client.ip(&["rule", "show"]).expect("rules");
    assert!(
        !rules.contains("2500") && !rules.contains("2501"),
        "{rules}"
    );
    let tables = nft_tables(&bed.client);
    assert!(!tables.contains("mptcp_proxy"), "{tables}");
    assert!(
        bed.client.ip(&["link", "show", "mpx0"]).is_err(),
        "mpx0 left"
    );
}

/// Download and upload through our client and our server; both uplinks
/// carry the data; everything is removed on exit.
#[test]
fn curl_through_our_client_and_our_server() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("a");
    let (_web, sums) = web_server(&bed, &[("file", 64 * MIB)]);
    let server = our_server(&bed, &[]);
    let client = start_client(&bed);

    let before = [received(&bed, "c0"), received(&bed, "c1")];
    let start = Instant::now();
    let data = download(&bed, SOCKS, "file");
    let secs = start.elapsed().as_secs_f64();
    // `--events -`: the connection and its join, as the kernel names them.
    let mut client = client;
    client.wait_for(r#""type":"established""#);
    client.wait_for(r#""type":"sub_established""#);
    assert_eq!(data.len(), 64 * MIB, "bytes downloaded");
    assert_eq!(sha256_hex(&data), sums[0], "the download is corrupted");
    let per_uplink = [
        received(&bed, "c0") - before[0],
        received(&bed, "c1") - before[1],
    ];
    eprintln!(
        "64 MiB download in {secs:.1} s: {:.1} Mbit/s (uplinks 40 + 20 Mbit/s); received c0 {} c1 {}",
        64.0 * 8.388_608 / secs,
        per_uplink[0],
        per_uplink[1]
    );
    for (dev, bytes) in ["c0", "c1"].iter().zip(per_uplink) {
        assert!(bytes > 8 * MIB as u64, "uplink {dev} carried {bytes} bytes");
    }

    // Upload: the web server answers the hash of what it got.
    let up = pattern(16 * MIB, 99);
    let file = bed.dir.join("up");
    std::fs::write(&file, &up).unwrap();
    let answer = curl(
        &bed,
        &[
            "--data-binary",
            &format!("@{}", file.display()),
            "http://web/upload",
        ],
    );
    assert_eq!(answer.trim(), sha256_hex(&up), "the upload is corrupted");

    assert!(client.stop().success(), "the client's exit status");
    assert_client_cleaned_up(&bed);
    let tables = nft_tables(&bed.server);
    assert!(server.stop().success(), "the server's exit status");
    assert!(tables.contains("mptcp_proxy_server"));
    let tables = nft_tables(&bed.server);
    assert!(
        !tables.contains("mptcp_proxy"),
        "server setup left: {tables}"
    );
}

/// One uplink goes down for 2 s in the middle of a 128 MiB download (about
/// 19 s) and comes back: the download completes intact, the client says
/// the uplink is back, and the returning uplink carries data again (its
/// subflow resumes once the server's retransmission timer, backed off
/// during the outage, fires again: seconds, well within the download).
#[test]
fn an_uplink_goes_down_and_comes_back() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("e");
    let (_web, sums) = web_server(&bed, &[("file", 128 * MIB)]);
    let server = our_server(&bed, &[]);
    let mut client = start_client(&bed);
    let download = fetch_cmd(&bed, &[], SOCKS, "file")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(Duration::from_secs(2));
    bed.client.ip(&["link", "set", "c1", "down"]).expect("down");
    client.wait_for("uplink c1 is down");
    std::thread::sleep(Duration::from_secs(2));
    bed.client.ip(&["link", "set", "c1", "up"]).expect("up");
    client.wait_for("uplink c1 is up again");
    let at_return = received(&bed, "c1");
    let data = fetched(&bed, download.wait_with_output().expect("curl"));
    assert_eq!(sha256_hex(&data), sums[0], "the download is corrupted");
    let after = received(&bed, "c1") - at_return;
    assert!(
        after > MIB as u64,
        "the returning uplink carried {after} bytes"
    );
    assert!(client.stop().success());
    assert_client_cleaned_up(&bed);
    assert!(server.stop().success());
}

/// `--uplink c1,backup`: the server is asked (MP_JOIN with flag B) to use
/// c1 only when c0 fails, so c0 carries the download and c1 next to none.
#[test]
fn a_backup_uplink_stays_idle() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("f");
    let (_web, sums) = web_server(&bed, &[("file", 16 * MIB)]);
    let server = our_server(&bed, &[]);
    let client = start_client_with(&bed, "c1,backup");
    let before = [received(&bed, "c0"), received(&bed, "c1")];
    let data = download(&bed, SOCKS, "file");
    assert_eq!(sha256_hex(&data), sums[0], "the download is corrupted");
    let c0 = received(&bed, "c0") - before[0];
    let c1 = received(&bed, "c1") - before[1];
    assert!(c0 > 15 * MIB as u64, "c0 carried {c0} bytes");
    assert!(c1 < MIB as u64, "the backup uplink carried {c1} bytes");
    assert!(client.stop().success());
    assert!(server.stop().success());
}

/// Our client against the kernel's MPTCP: a stock SOCKS5 server
/// (microsocks) made MPTCP with mptcpize. Our joins reach the kernel.
#[test]
fn curl_through_our_client_and_a_stock_socks_server() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("b");
    let (_web, sums) = web_server(&bed, &[("file", 16 * MIB)]);
    let before = bed.server.counters().expect("counters");
    let _socks = Proc::start(
        &bed.server,
        &[
            "mptcpize",
            "run",
            "microsocks",
            "-i",
            "10.9.0.2",
            "-p",
            "1080",
        ],
    );
    let deadline = Instant::now() + STEP;
    while bed
        .server
        .run(|| TcpStream::connect("10.9.0.2:1080"))
        .is_err()
    {
        assert!(Instant::now() < deadline, "microsocks never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let client = start_client(&bed);
    let data = download(&bed, SOCKS, "file");
    assert_eq!(sha256_hex(&data), sums[0], "the download is corrupted");
    let seen = bed.server.counters().expect("counters").delta(&before);
    assert!(seen.get("MPCapableSYNRX") >= 1, "not MPTCP: {seen:?}");
    assert!(seen.get("MPJoinAckRx") >= 1, "no join: {seen:?}");
    assert!(client.stop().success(), "the client's exit status");
    assert_client_cleaned_up(&bed);
}

/// The kernel's MPTCP as the client: curl under `mptcpize` straight to our
/// server, with a `subflow` endpoint on the other uplink. The download
/// is intact and crossed both uplinks; the kernel saw our join answer.
#[test]
fn kernel_client_through_our_server() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("d");
    let (_web, sums) = web_server(&bed, &[("file", 16 * MIB)]);
    let mut server = our_server(&bed, &["--stats"]);
    bed.client
        .ip_batch(&[
            // The main table's default route is c1's: the initial subflow
            // leaves by c1, the join from c0's address by c0.
            "rule add from 10.1.0.2 table 101 pref 101",
            "route add default via 10.1.0.1 dev c0 table 101",
            "mptcp limits set subflows 2 add_addr_accepted 2",
            "mptcp endpoint add 10.1.0.2 dev c0 subflow",
        ])
        .expect("kernel client endpoints");
    let before = bed.client.counters().expect("counters");
    let links = [received(&bed, "c0"), received(&bed, "c1")];
    let out = fetch_cmd(&bed, &["mptcpize", "run"], SERVER, "file")
        .output()
        .expect("curl");
    let data = fetched(&bed, out);
    assert_eq!(sha256_hex(&data), sums[0], "the download is corrupted");
    let seen = bed.client.counters().expect("counters").delta(&before);
    assert!(
        seen.get("MPJoinSynAckRx") >= 1,
        "no join answered: {seen:?}"
    );
    for (i, dev) in ["c0", "c1"].iter().enumerate() {
        let bytes = received(&bed, dev) - links[i];
        assert!(bytes > 2 * MIB as u64, "uplink {dev} carried {bytes} bytes");
    }
    // The server's own account: the file (and the HTTP header) went out.
    let done = server.wait_for("web:80");
    let to_client: u64 = done
        .split(", ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(to_client > 16 * MIB as u64, "{done}");
    assert!(server.stop().success());
}

/// A SOCKS5 CONNECT by hand (no authentication): the reply code.
fn socks_connect(s: &mut TcpStream, host: &str, port: u16) -> u8 {
    s.write_all(&[5, 1, 0]).unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).unwrap();
    assert_eq!(m, [5, 0], "method selection");
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    reply[1]
}

/// 200 connections at once, each byte-exact; then bad input: garbage,
/// a closed port, a client vanishing mid-handshake. Afterwards both sides
/// hold no connection, failed ones are counted, and the client's memory
/// is back near its idle size.
#[test]
fn many_connections_and_bad_input() {
    if !can_run() {
        return;
    }
    let bed = Testbed::new("c");
    let (_web, sums) = web_server(&bed, &[("small", 256 << 10)]);
    let mut server = our_server(&bed, &[]);
    let mut client = start_client(&bed);
    let idle = client.rss_kib();

    let results: Vec<Result<String, String>> = bed.client.run(|| {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                std::thread::spawn(|| -> Result<String, String> {
                    let mut s = TcpStream::connect(SOCKS).map_err(|e| e.to_string())?;
                    s.set_read_timeout(Some(STEP)).unwrap();
                    let rep = socks_connect(&mut s, "web", 80);
                    if rep != 0 {
                        return Err(format!("SOCKS reply {rep}"));
                    }
                    s.write_all(b"GET /small HTTP/1.0\r\n\r\n")
                        .map_err(|e| e.to_string())?;
                    let mut all = Vec::new();
                    s.read_to_end(&mut all).map_err(|e| e.to_string())?;
                    let body = all
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|i| &all[i + 4..])
                        .ok_or("no HTTP header")?;
                    Ok(sha256_hex(body))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let bad: Vec<_> = results
        .iter()
        .filter(|r| r.as_ref() != Ok(&sums[0]))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of 200 failed: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );

    bed.client.run(|| {
        // Garbage: closed without an answer.
        let mut s = TcpStream::connect(SOCKS).unwrap();
        s.set_read_timeout(Some(STEP)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "garbage got an answer: {rest:?}");
        // A closed port: X'05' connection refused.
        let mut s = TcpStream::connect(SOCKS).unwrap();
        s.set_read_timeout(Some(STEP)).unwrap();
        assert_eq!(socks_connect(&mut s, "web", 9), 5, "reply to a closed port");
        // Gone mid-handshake.
        let mut s = TcpStream::connect(SOCKS).unwrap();
        s.write_all(&[5, 2, 0]).unwrap();
        s.shutdown(Shutdown::Both).unwrap();
    });

    let line = server.wait_idle(203);
    assert!(count(&line, "failed") >= 2, "bad input not counted: {line}");
    client.wait_idle(203);
    let after = client.rss_kib();
    eprintln!("proxy client RSS: idle {idle} KiB, after 200 connections {after} KiB");
    assert!(
        after <= idle + 64 * 1024,
        "the client holds {after} KiB after its connections ended (idle {idle} KiB)"
    );
    assert!(client.stop().success());
    assert!(server.stop().success());
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["proxy", "client", "--server", "10.0.0.1:1080"][..],
        &["proxy", "client", "--server", "host:1080", "--uplink", "lo"],
        &[
            "proxy",
            "client",
            "--server",
            "10.0.0.1:1",
            "--uplink",
            "lo,fast",
        ],
        &["proxy", "server", "--listen", "1080", "--tun", "x=10.0.0.2"],
        &[
            "proxy",
            "server",
            "--listen",
            "1080",
            "--tun",
            "x=10.0.0.2",
            "--socks",
            "--auth",
            "nopass",
        ],
    ] {
        let out = Command::new(BIN).args(args).output().expect("run");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
