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

mod codecs;
mod ours;
mod stock;
mod unhappy;
