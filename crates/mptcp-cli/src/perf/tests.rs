//! Tests of `mptcp perf`: codecs and parsers, our client against our
//! server, both against a stock iperf3 (3.x, from PATH), and the
//! protocol's unhappy paths. Everything runs over 127.0.0.1 with the
//! kernel's TCP (and MPTCP where the kernel has it); no root needed.
//!
//! Tests that need iperf3 fail when it is missing and `CI=true`, and
//! print one `SKIPPED` line otherwise.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;

use super::args::{Args, ClientArgs, Role, TransportChoice, parse_seconds, parse_size};
use super::client::run_client;
use super::data::DataStream;
use super::error::{PerfError, Side, Unsupported, Violation};
use super::format::{bytes_text, interval_lines, rate_text, to_json};
use super::protocol::{COOKIE_SIZE, Cookie, Results, State, TestParams, stream_id};
use super::report::{Meter, PerfReport};
use super::server::run_server;
use super::tcp::{TcpAcceptor, TcpTransport};
use super::{ClientOptions, ServerOptions, SubflowSample};

const MIB: u64 = 1024 * 1024;
/// Every test body gets this long before it counts as hung.
const TEST_LIMIT: Duration = Duration::from_secs(25);

// ---------------------------------------------------------------------
// Harness

/// Fail a hung test instead of hanging the suite.
async fn limit<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, fut)
        .await
        .expect("test hung: no result within its time limit")
}

fn bind_local(mptcp: bool) -> std::io::Result<(TcpAcceptor, SocketAddr)> {
    let acceptor = TcpAcceptor::bind((Ipv4Addr::LOCALHOST, 0).into(), mptcp)?;
    let addr = acceptor.listen_addr()?;
    Ok((acceptor, addr))
}

fn client_opts(server: SocketAddr) -> ClientOptions {
    ClientOptions {
        interval: Duration::from_millis(250),
        json: true,
        timeout: Duration::from_secs(5),
        ..ClientOptions::new(server)
    }
}

fn server_opts() -> ServerOptions {
    ServerOptions {
        one_off: true,
        interval: Duration::from_millis(250),
        json: true,
        timeout: Duration::from_secs(5),
    }
}

/// Our client against our server; returns the client's report, the
/// client's JSON and the server's JSON.
async fn ours_to_ours(opts: ClientOptions, mptcp: bool) -> (PerfReport, Value, Value) {
    let (mut acceptor, addr) = bind_local(mptcp).expect("bind");
    let opts = ClientOptions {
        server: addr,
        ..opts
    };
    let (mut server_out, mut client_out) = (Vec::new(), Vec::new());
    let transport = TcpTransport { mptcp };
    let sopts = server_opts();
    let (served, measured) = limit(async {
        tokio::join!(
            run_server(&mut acceptor, &sopts, &mut server_out),
            run_client(&transport, &opts, &mut client_out),
        )
    })
    .await;
    served.expect("server");
    let report = measured.expect("client");
    (report, parse(&client_out), parse(&server_out))
}

fn parse(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(out)
        )
    })
}

fn bytes_at(doc: &Value, pointer: &str) -> u64 {
    doc.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {pointer} in {doc}"))
}

/// The stock iperf3, or `None` after one loud SKIPPED line; with
/// `CI=true` a missing iperf3 fails the test.
fn stock_iperf3(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("iperf3"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: iperf3 is required (CI=true) but is not on PATH; install iperf3 3.x")
        }
        None => {
            loud(&format!(
                "SKIPPED {test}: iperf3 is not on PATH (install iperf3 3.x to run it)"
            ));
            None
        }
    }
}

/// One line on the real stderr, past the test harness's capture.
fn loud(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A stock iperf3 process, killed if the test ends early; its stdout is
/// collected by a thread so it never blocks on a full pipe.
struct Stock {
    child: Child,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Stock {
    fn spawn(iperf3: &PathBuf, args: &[&str]) -> Stock {
        let mut child = Command::new(iperf3)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn iperf3");
        let mut pipe = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        });
        Stock {
            child,
            stdout: Some(stdout),
        }
    }

    /// Wait for it to exit; its exit status and JSON output.
    async fn finish(mut self) -> (std::process::ExitStatus, Value) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "iperf3 did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let out = self.stdout.take().expect("stdout").join().expect("reader");
        (status, parse(&out))
    }
}

impl Drop for Stock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Wait until something listens on `port` (per /proc/net/tcp*), without
/// connecting: a probe would count as a test for `iperf3 -s -1`.
async fn wait_listening(port: u16) {
    let needle = format!(":{port:04X} ");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listening = ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|table| {
                table.lines().any(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    cols.len() > 3 && format!("{} ", cols[1]).ends_with(&needle) && cols[3] == "0A"
                })
            })
        });
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Our client against `iperf3 -s -1 -J`; our report and the server's
/// JSON.
async fn ours_to_stock(iperf3: &PathBuf, opts: ClientOptions) -> (PerfReport, Value) {
    let port = free_port();
    let stock = Stock::spawn(iperf3, &["-s", "-1", "-J", "-p", &port.to_string()]);
    wait_listening(port).await;
    let opts = ClientOptions {
        server: (Ipv4Addr::LOCALHOST, port).into(),
        ..opts
    };
    let mut out = Vec::new();
    let report = limit(run_client(&TcpTransport::default(), &opts, &mut out))
        .await
        .expect("client");
    parse(&out);
    let (status, doc) = limit(stock.finish()).await;
    assert!(status.success(), "iperf3 -s: {status}");
    (report, doc)
}

/// `iperf3 -c ... -J` with `args` against our server; the stock client's
/// JSON and ours.
async fn stock_to_ours(iperf3: &PathBuf, args: &[&str]) -> (Value, Value) {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let port = addr.port().to_string();
    let mut argv = vec!["-c", "127.0.0.1", "-p", &port, "-J"];
    argv.extend_from_slice(args);
    let stock = Stock::spawn(iperf3, &argv);
    let mut out = Vec::new();
    limit(run_server(&mut acceptor, &server_opts(), &mut out))
        .await
        .expect("server");
    let (status, doc) = limit(stock.finish()).await;
    assert!(status.success(), "iperf3 -c {args:?}: {status}\n{doc}");
    (doc, parse(&out))
}

// ---------------------------------------------------------------------
// Codecs, parsers, formatting

#[test]
fn states_have_iperf3_values() {
    let states = [
        (State::TEST_START, 1),
        (State::TEST_RUNNING, 2),
        (State::TEST_END, 4),
        (State::PARAM_EXCHANGE, 9),
        (State::CREATE_STREAMS, 10),
        (State::SERVER_TERMINATE, 11),
        (State::CLIENT_TERMINATE, 12),
        (State::EXCHANGE_RESULTS, 13),
        (State::DISPLAY_RESULTS, 14),
        (State::IPERF_START, 15),
        (State::IPERF_DONE, 16),
        (State::ACCESS_DENIED, -1),
        (State::SERVER_ERROR, -2),
    ];
    for (state, value) in states {
        assert_eq!(state.0, value);
        assert_eq!(State::from_byte(state.byte()), state);
        assert!(state.name().is_some());
    }
    assert_eq!(State::ACCESS_DENIED.byte(), 0xff);
    assert_eq!(State::from_byte(77).to_string(), "unknown state 77");
}

#[test]
fn cookies_are_36_chars_and_a_nul() {
    let a = Cookie::random();
    let b = Cookie::random();
    assert_ne!(a, b);
    assert_eq!(a.0.len(), COOKIE_SIZE);
    assert_eq!(a.0[36], 0);
    let text = a.text();
    assert_eq!(text.len(), 36);
    assert!(
        text.bytes()
            .all(|c| b"abcdefghijklmnopqrstuvwxyz234567".contains(&c))
    );
}

#[test]
fn stream_ids_skip_two_like_iperf3() {
    let ids: Vec<u32> = (0..4).map(stream_id).collect();
    assert_eq!(ids, [1, 3, 4, 5]);
}

#[test]
fn sizes_are_1024_based() {
    assert_eq!(parse_size("1500"), Ok(1500));
    assert_eq!(parse_size("128K"), Ok(128 * 1024));
    assert_eq!(parse_size("10M"), Ok(10 * MIB));
    assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
    assert_eq!(parse_size("16m"), Ok(16 * MIB));
    assert_eq!(parse_size("1.5G"), Ok(3 * 512 * MIB));
    assert_eq!(parse_size("2T"), Ok(2 << 40));
    for bad in ["", "M", "12X", "-5", "1.2.3K", "10 M"] {
        assert!(parse_size(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn times_are_seconds() {
    assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
    assert_eq!(parse_seconds("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_seconds("3s"), Ok(Duration::from_secs(3)));
    assert!(parse_seconds("soon").is_err());
    assert!(parse_seconds("-1").is_err());
}

#[test]
fn units_print_like_iperf3() {
    assert_eq!(bytes_text(11.2 * MIB as f64), "11.2 MBytes");
    assert_eq!(bytes_text(1536.0), "1.50 KBytes");
    assert_eq!(bytes_text(0.0), "0.00 Bytes");
    assert_eq!(bytes_text(112.0 * MIB as f64), " 112 MBytes");
    assert_eq!(rate_text(94.1e6), "94.1 Mbits/sec");
    assert_eq!(rate_text(1.25e9), "1.25 Gbits/sec");
    assert_eq!(rate_text(938e6), " 938 Mbits/sec");
}

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    perf: Args,
}

#[test]
fn arguments_use_iperf3_letters() {
    let cli = Cli::try_parse_from([
        "perf",
        "client",
        "example.org",
        "-p",
        "5202",
        "-n",
        "10M",
        "-R",
        "-P",
        "4",
        "-l",
        "64K",
        "-i",
        "0.5",
        "--json",
        "--tun",
        "t0=10.0.0.2",
        "--cc",
        "olia",
    ])
    .expect("parse");
    assert_eq!(cli.perf.transport(), TransportChoice::Tun);
    let Role::Client(c) = &cli.perf.role else {
        panic!("not a client: {cli:?}")
    };
    let expected = ClientArgs {
        host: "example.org".into(),
        port: 5202,
        time: None,
        bytes: Some(10 * MIB),
        reverse: true,
        parallel: 4,
        length: 64 * 1024,
        interval: Duration::from_millis(500),
        json: true,
        stack: crate::cmd::net::StackArgs {
            tun: vec!["t0=10.0.0.2".parse().expect("path")],
            version: 1,
            no_mptcp: false,
            scheduler: "minrtt".into(),
            cc: "olia".into(),
            checksum: false,
            no_subflows: false,
        },
    };
    assert_eq!(c, &expected);
    let addr: SocketAddr = "10.0.0.1:5202".parse().expect("addr");
    let opts = c.options(addr);
    assert_eq!((opts.parallel, opts.block_len), (4, 64 * 1024));

    let cli =
        Cli::try_parse_from(["perf", "server", "-1", "-p", "6000", "--kernel"]).expect("parse");
    assert_eq!(
        cli.perf.transport(),
        TransportChoice::Kernel { mptcp: true }
    );
    let Role::Server(s) = &cli.perf.role else {
        panic!("not a server: {cli:?}")
    };
    assert!(s.one_off);
    assert_eq!(s.listen_addr().port(), 6000);

    for bad in [
        &["perf", "client", "h", "-t", "2", "-n", "1M"][..],
        &["perf", "client", "h", "-P", "0"],
        &["perf", "client", "h", "-P", "129"],
        &["perf", "client", "h", "-l", "2M"],
        &["perf", "client", "h", "-n", "0"],
        &["perf", "client", "h", "-t", "0"],
        &["perf", "client", "h", "-i", "0.01"],
        &["perf", "--kernel", "--kernel-tcp", "server"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn stock_parameters_parse() {
    // What iperf3 3.12 sends for `-c host -t 2 -P 2 -R`.
    let stock = json!({
        "tcp": true, "omit": 0, "time": 2, "num": 0, "blockcount": 0, "parallel": 2,
        "reverse": true, "len": 131072, "pacing_timer": 1000, "client_version": "3.12"
    });
    let Value::Object(map) = stock else {
        unreachable!()
    };
    let p = TestParams::from_json(&map).expect("params");
    assert_eq!(
        (p.parallel, p.reverse, p.time_secs, p.bytes),
        (2, true, 2, 0)
    );
    assert_eq!(p.block_len, 131072);
    let Value::Object(ours) = p.to_json() else {
        panic!("not an object")
    };
    assert_eq!(TestParams::from_json(&ours), Ok(p));

    for (extra, why) in [
        (json!({"udp": true}), Unsupported::Udp),
        (json!({"bidirectional": true}), Unsupported::Bidirectional),
        (json!({"omit": 2}), Unsupported::Omit),
        (json!({"parallel": 500}), Unsupported::Streams(500)),
        (json!({"len": 4_000_000}), Unsupported::BlockLen(4_000_000)),
    ] {
        let Value::Object(map) = extra else {
            unreachable!()
        };
        assert_eq!(TestParams::from_json(&map), Err(why));
    }
}

#[test]
fn results_parse_iperf3_numbers() {
    // cJSON prints large integers as doubles.
    let stock = json!({
        "cpu_util_total": 12.5, "cpu_util_user": 2.5, "cpu_util_system": 10.0,
        "sender_has_retransmits": 1, "congestion_used": "cubic",
        "streams": [{"id": 1, "bytes": 1.2e15, "retransmits": 3, "jitter": 0, "errors": 0,
                     "omitted_errors": 0, "packets": 0, "start_time": 0, "end_time": 10.0002}]
    });
    let Value::Object(map) = stock else {
        unreachable!()
    };
    let r = Results::from_json(&map).expect("results");
    assert_eq!(r.streams[0].bytes, 1_200_000_000_000_000);
    assert_eq!(r.streams[0].retransmits, 3);
    assert!((r.streams[0].seconds - 10.0002).abs() < 1e-9);
    let Value::Object(again) = r.to_json() else {
        panic!("not an object")
    };
    assert_eq!(Results::from_json(&again).expect("round trip"), r);

    let Value::Object(no_streams) = json!({"cpu_util_total": 1, "cpu_util_user": 0,
        "cpu_util_system": 1, "sender_has_retransmits": -1})
    else {
        unreachable!()
    };
    assert!(matches!(
        Results::from_json(&no_streams),
        Err(Violation::MissingField("streams"))
    ));
}

#[test]
fn subflow_counters_become_interval_deltas() {
    let (io, _peer) = tokio::io::duplex(64);
    let mut streams: Vec<DataStream<DuplexStream>> = vec![DataStream::new(
        1,
        io,
        None,
        "10.0.0.2:5201".parse().expect("addr"),
    )];
    let sf = |sent, retr| SubflowSample {
        local: "10.0.0.1:40000".parse().expect("addr"),
        remote: "10.0.0.2:5201".parse().expect("addr"),
        bytes_sent: sent,
        bytes_received: 0,
        retransmits: retr,
        srtt_us: 1500,
        cwnd: 65536,
    };
    let samples = std::cell::Cell::new(0u64);
    let sampler = |_: &DuplexStream| {
        let n = samples.get();
        vec![sf(n * 1_000_000, n)]
    };
    let start = Instant::now();
    let mut meter = Meter::new(start, Duration::from_secs(1), &streams, &sampler);
    for second in 1..=2u64 {
        samples.set(second);
        streams[0].bytes += 1_000_000;
        let iv = meter.tick(start + Duration::from_secs(second), &streams, &sampler);
        assert_eq!(iv.bytes(), 1_000_000);
        assert_eq!(iv.subflows.len(), 1);
        assert_eq!(iv.subflows[0].bytes_sent, 1_000_000);
        assert_eq!(iv.subflows[0].retransmits, 1);
        let lines = interval_lines(iv);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("[  1] "), "{lines:?}");
        assert!(
            lines[0].contains("sec   977 KBytes  8.00 Mbits/sec"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("subflow 10.0.0.1:40000 -> 10.0.0.2:5201"),
            "{lines:?}"
        );
        assert!(lines[1].contains("8.00 Mbits/sec"), "{lines:?}");
    }
    assert_eq!(meter.retransmits(1), Some(2));
    assert_eq!(meter.retransmits(3), None);
}

// ---------------------------------------------------------------------
// Our client and our server

fn check_consistent(report: &PerfReport, client: &Value, server: &Value) {
    // Both ends count every byte: what was sent was received.
    assert_eq!(report.sent_bytes, report.received_bytes, "{report:?}");
    assert!(report.sent_bytes > 0);
    for doc in [client, server] {
        assert_eq!(bytes_at(doc, "/end/sum_sent/bytes"), report.sent_bytes);
        assert_eq!(
            bytes_at(doc, "/end/sum_received/bytes"),
            report.received_bytes
        );
    }
    let streams: u64 = report.streams.iter().map(|s| s.sent_bytes).sum();
    assert_eq!(streams, report.sent_bytes);
    let expected = report.sent_bytes as f64 * 8.0 / report.sender_seconds();
    assert!((report.sender_bps - expected).abs() <= expected * 1e-9);
    // The printed document is the report's.
    let printed = to_json(report);
    for pointer in [
        "/end/sum_sent/bytes",
        "/end/sum_received/bytes",
        "/start/cookie",
    ] {
        assert_eq!(
            client.pointer(pointer),
            printed.pointer(pointer),
            "{pointer}"
        );
    }
    assert_eq!(
        client["intervals"].as_array().map(Vec::len),
        Some(report.intervals.len())
    );
    assert!(!report.intervals.is_empty(), "{report:?}");
    assert_eq!(
        bytes_at(server, "/start/test_start/reverse"),
        u64::from(report.reverse)
    );
    // Intervals count this end's bytes up to TEST_END.
    let local: u64 = report.intervals.iter().map(|iv| iv.bytes()).sum();
    let own = match report.reverse {
        false => report.sent_bytes,
        true => report.received_bytes,
    };
    assert!(local <= own, "intervals {local} > total {own}");
}

#[tokio::test]
async fn ours_bytes_forward_and_reverse() {
    for reverse in [false, true] {
        let opts = ClientOptions {
            bytes: Some(8 * MIB),
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, client, server) = ours_to_ours(opts, false).await;
        assert_eq!(report.sent_bytes, 8 * MIB, "reverse {reverse}");
        assert_eq!(report.received_bytes, 8 * MIB, "reverse {reverse}");
        assert_eq!(report.reverse, reverse);
        check_consistent(&report, &client, &server);
    }
}

#[tokio::test]
async fn ours_time_forward_and_reverse() {
    let (forward, reverse) = tokio::join!(
        ours_to_ours(
            ClientOptions {
                time: Some(Duration::from_secs(1)),
                ..client_opts(([0, 0, 0, 0], 0).into())
            },
            false
        ),
        ours_to_ours(
            ClientOptions {
                time: Some(Duration::from_secs(1)),
                reverse: true,
                ..client_opts(([0, 0, 0, 0], 0).into())
            },
            false
        ),
    );
    for (report, client, server) in [forward, reverse] {
        check_consistent(&report, &client, &server);
        let secs = report.duration.as_secs_f64();
        assert!((0.95..3.0).contains(&secs), "{secs}");
        assert!(report.intervals.len() >= 2, "{:?}", report.intervals);
        assert!(
            !server["intervals"]
                .as_array()
                .expect("intervals")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn ours_parallel_streams() {
    let opts = ClientOptions {
        bytes: Some(8 * MIB),
        parallel: 3,
        block_len: 100_000,
        ..client_opts(([0, 0, 0, 0], 0).into())
    };
    let (report, client, server) = ours_to_ours(opts, false).await;
    let ids: Vec<u32> = report.streams.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 3, 4]);
    assert_eq!(report.sent_bytes, 8 * MIB);
    check_consistent(&report, &client, &server);
    let per_stream = client
        .pointer("/end/streams")
        .and_then(Value::as_array)
        .expect("streams");
    assert_eq!(per_stream.len(), 3);
}

#[tokio::test]
async fn ours_text_output() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ClientOptions {
        bytes: Some(4 * MIB),
        json: false,
        ..client_opts(addr)
    };
    let sopts = ServerOptions {
        json: false,
        ..server_opts()
    };
    let (mut server_out, mut client_out) = (Vec::new(), Vec::new());
    let transport = TcpTransport::default();
    let (served, measured) = limit(async {
        tokio::join!(
            run_server(&mut acceptor, &sopts, &mut server_out),
            run_client(&transport, &opts, &mut client_out),
        )
    })
    .await;
    served.expect("server");
    measured.expect("client");
    let client = String::from_utf8(client_out).expect("utf8");
    let server = String::from_utf8(server_out).expect("utf8");
    assert!(client.starts_with(&format!(
        "Connecting to host 127.0.0.1, port {}\n",
        addr.port()
    )));
    assert!(client.contains("[  1] local 127.0.0.1 port "), "{client}");
    assert!(client.contains("4.00 MBytes"), "{client}");
    assert!(
        client.contains("  sender\n") && client.contains("  receiver\n"),
        "{client}"
    );
    assert!(
        server.starts_with("Accepted connection from 127.0.0.1"),
        "{server}"
    );
    assert!(server.contains("4.00 MBytes"), "{server}");
}

#[tokio::test]
async fn ours_over_kernel_mptcp() {
    if let Err(e) = bind_local(true) {
        loud(&format!(
            "SKIPPED ours_over_kernel_mptcp: no kernel MPTCP here ({e})"
        ));
        return;
    }
    for reverse in [false, true] {
        let opts = ClientOptions {
            bytes: Some(8 * MIB),
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, client, server) = ours_to_ours(opts, true).await;
        assert_eq!(report.received_bytes, 8 * MIB);
        check_consistent(&report, &client, &server);
    }
}

// ---------------------------------------------------------------------
// Against the stock iperf3

#[tokio::test]
async fn ours_to_stock_bytes() {
    let Some(iperf3) = stock_iperf3("ours_to_stock_bytes") else {
        return;
    };
    for reverse in [false, true] {
        let opts = ClientOptions {
            bytes: Some(16 * MIB),
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, stock) = ours_to_stock(&iperf3, opts).await;
        match reverse {
            false => {
                // We send exactly 16 MiB; iperf3 counts what it read by
                // TEST_END, and told us.
                assert_eq!(report.sent_bytes, 16 * MIB);
                assert_eq!(
                    bytes_at(&stock, "/end/sum_received/bytes"),
                    report.received_bytes
                );
                assert!(report.received_bytes > 0 && report.received_bytes <= report.sent_bytes);
            }
            true => {
                // iperf3 sends at least 16 MiB; we read all it sent.
                assert_eq!(bytes_at(&stock, "/end/sum_sent/bytes"), report.sent_bytes);
                assert!(report.sent_bytes >= 16 * MIB);
                assert_eq!(report.received_bytes, report.sent_bytes);
            }
        }
    }
}

#[tokio::test]
async fn ours_to_stock_time() {
    let Some(iperf3) = stock_iperf3("ours_to_stock_time") else {
        return;
    };
    let run = |reverse| {
        let iperf3 = iperf3.clone();
        async move {
            let opts = ClientOptions {
                time: Some(Duration::from_secs(2)),
                reverse,
                ..client_opts(([0, 0, 0, 0], 0).into())
            };
            (reverse, ours_to_stock(&iperf3, opts).await)
        }
    };
    let (a, b) = tokio::join!(run(false), run(true));
    for (reverse, (report, stock)) in [a, b] {
        let secs = report.duration.as_secs_f64();
        assert!((1.95..4.0).contains(&secs), "{secs}");
        assert!(report.intervals.len() >= 4, "{:?}", report.intervals);
        match reverse {
            false => {
                assert_eq!(
                    bytes_at(&stock, "/end/sum_received/bytes"),
                    report.received_bytes
                );
                assert!(report.received_bytes > 0 && report.received_bytes <= report.sent_bytes);
            }
            true => {
                assert_eq!(bytes_at(&stock, "/end/sum_sent/bytes"), report.sent_bytes);
                assert_eq!(report.received_bytes, report.sent_bytes);
            }
        }
    }
}

#[tokio::test]
async fn ours_to_stock_parallel() {
    let Some(iperf3) = stock_iperf3("ours_to_stock_parallel") else {
        return;
    };
    for reverse in [false, true] {
        let opts = ClientOptions {
            time: Some(Duration::from_secs(1)),
            parallel: 2,
            reverse,
            ..client_opts(([0, 0, 0, 0], 0).into())
        };
        let (report, stock) = ours_to_stock(&iperf3, opts).await;
        assert_eq!(report.streams.len(), 2);
        let stock_streams = stock
            .pointer("/end/streams")
            .and_then(Value::as_array)
            .expect("streams");
        assert_eq!(stock_streams.len(), 2);
        // The stock server matched our stream ids (1 and 3): every stream
        // has the peer's bytes.
        assert!(
            report
                .streams
                .iter()
                .all(|s| s.sent_bytes > 0 && s.received_bytes > 0),
            "{report:?}"
        );
        let pointer = match reverse {
            false => "/end/sum_received/bytes",
            true => "/end/sum_sent/bytes",
        };
        let ours = match reverse {
            false => report.received_bytes,
            true => report.sent_bytes,
        };
        assert_eq!(bytes_at(&stock, pointer), ours);
    }
}

async fn stock_client_case(iperf3: &PathBuf, args: &[&str], reverse: bool) {
    let (stock, ours) = stock_to_ours(iperf3, args).await;
    let received = bytes_at(&stock, "/end/sum_received/bytes");
    assert!(received > 0, "{stock}");
    assert_eq!(received, bytes_at(&ours, "/end/sum_received/bytes"));
    assert_eq!(
        bytes_at(&stock, "/end/sum_sent/bytes"),
        bytes_at(&ours, "/end/sum_sent/bytes")
    );
    if !reverse {
        // Our server reads what iperf3 says it sent, in flight or not.
        assert_eq!(received, bytes_at(&stock, "/end/sum_sent/bytes"));
    }
    assert!(stock.get("error").is_none(), "{stock}");
}

#[tokio::test]
async fn stock_to_ours_time_forward() {
    let Some(iperf3) = stock_iperf3("stock_to_ours_time_forward") else {
        return;
    };
    stock_client_case(&iperf3, &["-t", "2"], false).await;
}

#[tokio::test]
async fn stock_to_ours_time_reverse() {
    let Some(iperf3) = stock_iperf3("stock_to_ours_time_reverse") else {
        return;
    };
    stock_client_case(&iperf3, &["-t", "2", "-R"], true).await;
}

#[tokio::test]
async fn stock_to_ours_bytes_parallel() {
    let Some(iperf3) = stock_iperf3("stock_to_ours_bytes_parallel") else {
        return;
    };
    stock_client_case(&iperf3, &["-n", "16M", "-P", "2"], false).await;
    stock_client_case(&iperf3, &["-n", "16M", "-P", "2", "-R"], true).await;
}

#[tokio::test]
async fn stock_udp_is_refused() {
    let Some(iperf3) = stock_iperf3("stock_udp_is_refused") else {
        return;
    };
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let port = addr.port().to_string();
    let stock = Stock::spawn(
        &iperf3,
        &["-c", "127.0.0.1", "-p", &port, "-u", "-t", "1", "-J"],
    );
    let mut out = Vec::new();
    let served = limit(run_server(&mut acceptor, &server_opts(), &mut out)).await;
    assert!(
        matches!(served, Err(PerfError::Unsupported(Unsupported::Udp))),
        "{served:?}"
    );
    // iperf3 3.12 -J exits 0 even here; the error is in the document.
    let (_status, doc) = limit(stock.finish()).await;
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(error.contains("not implemented"), "{doc}");
}

#[tokio::test]
async fn stock_server_busy_is_access_denied() {
    let Some(iperf3) = stock_iperf3("stock_server_busy_is_access_denied") else {
        return;
    };
    let port = free_port();
    let stock = Stock::spawn(&iperf3, &["-s", "-1", "-J", "-p", &port.to_string()]);
    wait_listening(port).await;
    let addr: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
    let transport = TcpTransport::default();
    let first = ClientOptions {
        time: Some(Duration::from_millis(1500)),
        ..client_opts(addr)
    };
    let (mut first_out, mut second_out) = (Vec::new(), Vec::new());
    let (first, second) = limit(async {
        tokio::join!(run_client(&transport, &first, &mut first_out), async {
            // While the first test runs.
            tokio::time::sleep(Duration::from_millis(500)).await;
            run_client(&transport, &client_opts(addr), &mut second_out).await
        })
    })
    .await;
    assert!(matches!(second, Err(PerfError::AccessDenied)), "{second:?}");
    assert!(first.expect("first test").received_bytes > 0);
    let (status, _) = limit(stock.finish()).await;
    assert!(status.success());
}

// ---------------------------------------------------------------------
// Unhappy paths: typed errors, no panics, no hangs

/// A server that reads the cookie, then sends `reply` and closes.
async fn fake_server(reply: Vec<u8>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut cookie = [0u8; COOKIE_SIZE];
        s.read_exact(&mut cookie).await.expect("cookie");
        s.write_all(&reply).await.expect("reply");
        // Stay silent, then close.
        tokio::time::sleep(Duration::from_millis(800)).await;
    });
    addr
}

async fn client_against(reply: Vec<u8>) -> Result<PerfReport, PerfError> {
    let addr = fake_server(reply).await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(300),
        ..client_opts(addr)
    };
    limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await
}

#[tokio::test]
async fn client_errors_are_typed() {
    let denied = client_against(vec![0xff]).await;
    assert!(matches!(denied, Err(PerfError::AccessDenied)), "{denied:?}");

    let mut error = vec![0xfe];
    error.extend_from_slice(&13i32.to_be_bytes());
    error.extend_from_slice(&98i32.to_be_bytes());
    let failed = client_against(error).await;
    assert!(
        matches!(
            failed,
            Err(PerfError::ServerError {
                code: 13,
                errno: 98
            })
        ),
        "{failed:?}"
    );
    let text = failed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("not implemented"), "{text}");

    let odd = client_against(vec![77]).await;
    assert!(
        matches!(
            odd,
            Err(PerfError::Protocol {
                peer: Side::Server,
                violation: Violation::UnexpectedState(State(77)),
                ..
            })
        ),
        "{odd:?}"
    );

    let silent = client_against(vec![]).await;
    assert!(
        matches!(
            silent,
            Err(PerfError::Timeout {
                peer: Side::Server,
                ..
            })
        ),
        "{silent:?}"
    );

    // PARAM_EXCHANGE, then the server hangs up before CREATE_STREAMS.
    let addr = {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut cookie = [0u8; COOKIE_SIZE];
            s.read_exact(&mut cookie).await.expect("cookie");
            s.write_all(&[9]).await.expect("state");
            let len = s.read_u32().await.expect("len");
            let mut params = vec![0u8; len as usize];
            s.read_exact(&mut params).await.expect("params");
            serde_json::from_slice::<Value>(&params).expect("params are JSON");
        });
        addr
    };
    let opts = ClientOptions {
        timeout: Duration::from_secs(2),
        ..client_opts(addr)
    };
    let closed = limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await;
    assert!(
        matches!(
            closed,
            Err(PerfError::ControlClosed {
                peer: Side::Server,
                state: State::PARAM_EXCHANGE
            })
        ),
        "{closed:?}"
    );

    let nobody = {
        let port = free_port();
        let opts = client_opts((Ipv4Addr::LOCALHOST, port).into());
        limit(run_client(&TcpTransport::default(), &opts, &mut Vec::new())).await
    };
    assert!(matches!(nobody, Err(PerfError::Io { .. })), "{nobody:?}");
}

/// A raw client speaking the protocol by hand, for the server's tests.
struct Raw {
    ctrl: TcpStream,
    cookie: [u8; COOKIE_SIZE],
}

impl Raw {
    async fn connect(addr: SocketAddr, cookie: [u8; COOKIE_SIZE]) -> Raw {
        let mut ctrl = TcpStream::connect(addr).await.expect("connect");
        ctrl.write_all(&cookie).await.expect("cookie");
        Raw { ctrl, cookie }
    }

    async fn state(&mut self) -> i8 {
        self.ctrl.read_i8().await.expect("state")
    }

    async fn send_json(&mut self, v: Value) {
        let text = v.to_string();
        self.ctrl.write_u32(text.len() as u32).await.expect("len");
        self.ctrl.write_all(text.as_bytes()).await.expect("json");
    }

    async fn read_json(&mut self) -> Value {
        let len = self.ctrl.read_u32().await.expect("len");
        let mut text = vec![0u8; len as usize];
        self.ctrl.read_exact(&mut text).await.expect("json");
        serde_json::from_slice(&text).expect("JSON")
    }
}

fn raw_cookie(c: u8) -> [u8; COOKIE_SIZE] {
    let mut cookie = [c; COOKIE_SIZE];
    cookie[COOKIE_SIZE - 1] = 0;
    cookie
}

#[tokio::test]
async fn server_denies_strangers_and_counts_in_flight_bytes() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let mut out = Vec::new();
    let sent: u64 = 3_000_000;
    let client = async {
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        // A second client while the first one is at it: busy.
        let mut busy = Raw::connect(addr, raw_cookie(b'b')).await;
        assert_eq!(busy.state().await, -1);
        raw.send_json(
            json!({"tcp": true, "omit": 0, "time": 0, "num": sent, "parallel": 1,
            "len": 65536, "client_version": "raw"}),
        )
        .await;
        assert_eq!(raw.state().await, 10);
        // A data connection with the wrong cookie is turned away...
        let mut stranger = TcpStream::connect(addr).await.expect("connect");
        stranger.write_all(&raw_cookie(b'z')).await.expect("cookie");
        assert_eq!(stranger.read_i8().await.expect("denied"), -1);
        // ...and the right one joins the test.
        let mut data = TcpStream::connect(addr).await.expect("connect");
        data.write_all(&raw.cookie).await.expect("cookie");
        assert_eq!(raw.state().await, 1);
        assert_eq!(raw.state().await, 2);
        // Send, and end the test before the server could read it all.
        let payload = vec![7u8; sent as usize];
        let writer = tokio::spawn(async move {
            data.write_all(&payload).await.expect("data");
            data
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        raw.ctrl.write_all(&[4]).await.expect("TEST_END");
        assert_eq!(raw.state().await, 13);
        let _data = writer.await.expect("writer");
        raw.send_json(
            json!({"cpu_util_total": 0, "cpu_util_user": 0, "cpu_util_system": 0,
            "sender_has_retransmits": 0, "streams": [{"id": 1, "bytes": sent, "retransmits": -1,
            "jitter": 0, "errors": 0, "packets": 0, "start_time": 0, "end_time": 0.1}]}),
        )
        .await;
        let results = raw.read_json().await;
        assert_eq!(results["sender_has_retransmits"], json!(-1));
        assert_eq!(results["streams"][0]["id"], json!(1));
        assert_eq!(results["streams"][0]["bytes"], json!(sent));
        assert_eq!(raw.state().await, 14);
        raw.ctrl.write_all(&[16]).await.expect("IPERF_DONE");
    };
    let sopts = server_opts();
    let serve = run_server(&mut acceptor, &sopts, &mut out);
    let (served, ()) = limit(async { tokio::join!(serve, client) }).await;
    served.expect("server");
    let doc = parse(&out);
    assert_eq!(bytes_at(&doc, "/end/sum_received/bytes"), sent);
}

#[tokio::test]
async fn server_errors_are_typed() {
    let serve = |setup: fn(SocketAddr) -> tokio::task::JoinHandle<()>| async move {
        let (mut acceptor, addr) = bind_local(false).expect("bind");
        let peer = setup(addr);
        let opts = ServerOptions {
            timeout: Duration::from_millis(500),
            ..server_opts()
        };
        let result = limit(run_server(&mut acceptor, &opts, &mut Vec::new())).await;
        peer.await.expect("peer");
        result
    };

    // A client that hangs up after its cookie.
    let closed = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
        })
    })
    .await;
    assert!(
        matches!(
            closed,
            Err(PerfError::ControlClosed {
                peer: Side::Client,
                state: State::PARAM_EXCHANGE
            })
        ),
        "{closed:?}"
    );

    // A half cookie is nobody; the next client gets a test.
    let after_half_cookie = serve(|addr| {
        tokio::spawn(async move {
            let mut half = TcpStream::connect(addr).await.expect("connect");
            half.write_all(b"abc").await.expect("half");
            drop(half);
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.ctrl
                .write_all(&u32::MAX.to_be_bytes())
                .await
                .expect("len");
            let _ = raw.ctrl.read_i8().await;
        })
    })
    .await;
    assert!(
        matches!(
            after_half_cookie,
            Err(PerfError::Protocol {
                violation: Violation::MessageTooLong(u32::MAX),
                ..
            })
        ),
        "{after_half_cookie:?}"
    );

    // UDP: refused with iperf3's "not implemented".
    let udp = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.send_json(json!({"udp": true, "time": 1, "parallel": 1}))
                .await;
            assert_eq!(raw.state().await, -2);
            assert_eq!(raw.ctrl.read_i32().await.expect("code"), 13);
        })
    })
    .await;
    assert!(
        matches!(udp, Err(PerfError::Unsupported(Unsupported::Udp))),
        "{udp:?}"
    );

    // Streams that never come.
    let no_streams = serve(|addr| {
        tokio::spawn(async move {
            let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
            assert_eq!(raw.state().await, 9);
            raw.send_json(json!({"tcp": true, "time": 1, "parallel": 2}))
                .await;
            assert_eq!(raw.state().await, 10);
            let _ = raw.ctrl.read_i8().await;
        })
    })
    .await;
    assert!(
        matches!(
            no_streams,
            Err(PerfError::Timeout {
                peer: Side::Client,
                state: State::CREATE_STREAMS,
                ..
            })
        ),
        "{no_streams:?}"
    );
}

#[tokio::test]
async fn our_server_busy_is_access_denied_for_our_client() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ServerOptions {
        timeout: Duration::from_secs(2),
        ..server_opts()
    };
    let busy = async {
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        let mut out = Vec::new();
        let result = run_client(&TcpTransport::default(), &client_opts(addr), &mut out).await;
        drop(raw);
        result
    };
    let mut out = Vec::new();
    let serve = run_server(&mut acceptor, &opts, &mut out);
    let (served, result) = limit(async { tokio::join!(serve, busy) }).await;
    assert!(matches!(result, Err(PerfError::AccessDenied)), "{result:?}");
    assert!(
        matches!(served, Err(PerfError::ControlClosed { .. })),
        "{served:?}"
    );
}

#[tokio::test]
async fn server_goes_on_after_a_failed_test() {
    let (mut acceptor, addr) = bind_local(false).expect("bind");
    let opts = ServerOptions {
        one_off: false,
        ..server_opts()
    };
    let mut out = Vec::new();
    let clients = async {
        // First a client that gives up, then a real test.
        let mut raw = Raw::connect(addr, raw_cookie(b'a')).await;
        assert_eq!(raw.state().await, 9);
        drop(raw);
        let opts = ClientOptions {
            bytes: Some(MIB),
            ..client_opts(addr)
        };
        // Until the server has noticed, it is busy with the first.
        loop {
            match run_client(&TcpTransport::default(), &opts, &mut Vec::new()).await {
                Err(PerfError::AccessDenied) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    };
    // The server runs until dropped: stop it once the client is done.
    let report = limit(async {
        tokio::select! {
            r = run_server(&mut acceptor, &opts, &mut out) => panic!("server stopped: {r:?}"),
            report = clients => report,
        }
    })
    .await
    .expect("second test");
    assert_eq!(report.received_bytes, MIB);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("\"error\""), "{text}");
}
