//! Our server with one worker and with two (`StackBuilder::workers`), side
//! by side in each round, against kernel MPTCP clients in a lab namespace
//! (two paths; every client connection joins from the second):
//! - connections per second: batches of connections opened at once, each
//!   answered once (which makes it fully established, so the kernel opens
//!   its join), the batch closed once every join was accepted;
//! - bulk: several kernel clients send at once to our server, which reads
//!   everything; aggregate throughput.
//!
//! Reported: the median run of each and the ratio two workers / one, with
//! the joins handed between workers. On this 2-core machine the kernel
//! clients, the kernel's forwarding and our workers share the two cores.
//!
//! Needs root. `cargo bench -p mptcp-tun --bench workers`
//! (`-- --conns 2000 --bulk 1GiB --runs 5` to change the sizes and
//! repetitions).

mod common;

use common::{arg, median_by, parse_size, runtime, send_zeros};
use mptcp_tun::lab::{CpuMeter, TunLab, counters, kernel};
use mptcp_tun::{MptcpListener, Stack};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connections opened at once in the rate test.
const BATCH: usize = 100;
/// Kernel clients sending at once in the bulk test.
const SENDERS: usize = 8;
const CHUNK: usize = 1 << 20;

#[derive(Clone, Copy, Debug, Default)]
struct Run {
    secs: f64,
    /// Busy CPU seconds of all cores.
    cpu: f64,
    handed_over: u64,
}

fn stack_on(lab: &TunLab, workers: usize) -> Stack {
    let mut b = Stack::builder().workers(workers);
    for p in lab.paths() {
        b = b.path(p.dev.clone(), p.stack_v4.into());
    }
    b.build().expect("stack")
}

/// Our server: each connection answers its first byte, then reads to the
/// end of the stream and answers once more.
fn serve(listener: MptcpListener) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; CHUNK];
                let Ok(n) = s.read(&mut buf).await else {
                    return;
                };
                if n == 0 || s.write_all(b"k").await.is_err() {
                    return;
                }
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"k").await;
                let _ = s.shutdown().await;
            });
        }
    });
}

/// A kernel MPTCP connection to `server` that got its first answer.
fn open(server: SocketAddr) -> TcpStream {
    let mut s = kernel::connect(server, true, Duration::from_secs(5)).expect("connect");
    s.write_all(b"h").expect("write");
    let mut one = [0u8; 1];
    s.read_exact(&mut one).expect("answer");
    s
}

/// Waits (in the lab's namespace) until the kernel counted `joins` joins.
fn wait_joins(joins: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters::read_current()
        .expect("netstat")
        .get("MPJoinSynAckRx")
        < joins
    {
        assert!(Instant::now() < deadline, "joins stuck below {joins}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A lab with two paths (the kernel joining from the second) and our
/// server with `workers` on it; `measure`, given the server's address,
/// returns the seconds and busy CPU seconds of what it measured.
fn with_our_server<F, Fut>(prefix: &str, workers: usize, measure: F) -> Run
where
    F: FnOnce(SocketAddr) -> Fut + Send,
    Fut: std::future::Future<Output = (f64, f64)>,
{
    let lab = TunLab::multi_queue(prefix, 2).expect("lab");
    lab.endpoint(1, "subflow").expect("endpoint");
    let server = SocketAddr::new(lab.path(0).stack_addr(false), 5201);
    lab.ns().run(|| {
        runtime().block_on(async {
            let stack = stack_on(&lab, workers);
            serve(stack.listen(5201).expect("listen"));
            let (secs, cpu) = measure(server).await;
            Run {
                secs,
                cpu,
                handed_over: stack.driver_stats().joins_handed_over,
            }
        })
    })
}

/// `conns` connections, [`BATCH`] at a time, each with its join.
fn rate(workers: usize, conns: usize) -> Run {
    with_our_server("mpwr", workers, |server| async move {
        let meter = CpuMeter::start().expect("cpu");
        let t = Instant::now();
        let client = std::thread::spawn(move || {
            let base = counters::read_current()
                .expect("netstat")
                .get("MPJoinSynAckRx");
            let mut done = 0;
            while done < conns {
                let n = BATCH.min(conns - done);
                let batch: Vec<TcpStream> = (0..n).map(|_| open(server)).collect();
                done += n;
                wait_joins(base + done as u64);
                drop(batch);
            }
        });
        tokio::task::spawn_blocking(move || client.join().expect("kernel clients"))
            .await
            .expect("join");
        let secs = t.elapsed().as_secs_f64();
        (secs, meter.stop().expect("cpu").system_busy_s)
    })
}

/// [`SENDERS`] kernel clients send `bytes` in all to our server.
fn bulk(workers: usize, bytes: u64) -> Run {
    with_our_server("mpwb", workers, |server| async move {
        let each = bytes / SENDERS as u64;
        let conns: Vec<TcpStream> = (0..SENDERS).map(|_| open(server)).collect();
        let meter = CpuMeter::start().expect("cpu");
        let t = Instant::now();
        let senders: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    send_zeros(&mut s, each);
                    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                    let mut one = [0u8; 1];
                    s.read_exact(&mut one).expect("answer");
                })
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            for s in senders {
                s.join().expect("sender");
            }
        })
        .await
        .expect("join");
        let secs = t.elapsed().as_secs_f64();
        (secs, meter.stop().expect("cpu").system_busy_s)
    })
}

fn main() {
    if !mptcp_tun::lab::is_root() {
        eprintln!("workers: needs root (network namespaces, TUN devices); not run");
        return;
    }
    let conns: usize = arg("--conns").and_then(|s| s.parse().ok()).unwrap_or(2000);
    let bytes = arg("--bulk").map(|s| parse_size(&s)).unwrap_or(1 << 30);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut table: [[Vec<Run>; 2]; 2] = Default::default();
    for _ in 0..runs {
        for (w, row) in table.iter_mut().enumerate() {
            row[0].push(rate(w + 1, conns));
            row[1].push(bulk(w + 1, bytes));
        }
    }
    println!(
        "{conns} connections with a join each ({BATCH} at a time); {bytes} bytes from \
         {SENDERS} kernel clients at once; median of {runs}"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}",
        "workers", "conn/s", "CPU ms/c", "handed", "Gbit/s", "CPU s/GiB", "handed"
    );
    let [one, two] = table.map(|row| row.map(median));
    let gib = bytes as f64 / f64::from(1u32 << 30);
    for (w, [r, b]) in [one, two].iter().enumerate() {
        println!(
            "{:<8} {:>10.0} {:>10.3} {:>8} {:>10.2} {:>10.2} {:>8}",
            w + 1,
            conns as f64 / r.secs,
            r.cpu * 1e3 / conns as f64,
            r.handed_over,
            bytes as f64 * 8.0 / b.secs / 1e9,
            b.cpu / gib,
            b.handed_over,
        );
    }
    println!(
        "ratio 2/1: connections/s {:.2}, bulk {:.2}",
        one[0].secs / two[0].secs,
        one[1].secs / two[1].secs
    );
}

/// The run of median time.
fn median(runs: Vec<Run>) -> Run {
    median_by(runs, |r| r.secs)
}
