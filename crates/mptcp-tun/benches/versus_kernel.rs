//! Our stack against the kernel's own MPTCP, on this machine.
//!
//! Three measurements per path count, taken side by side in each round:
//! - send: our client (this process, over TUN devices) sends to a kernel
//!   MPTCP server in a lab namespace;
//! - receive: a kernel MPTCP client (with a `subflow` endpoint on every
//!   further path) sends to our server;
//! - kernel: a kernel MPTCP client sends to a kernel MPTCP server across
//!   veth pairs between two namespaces (the same either way round).
//!
//! Each over one path and over two, the same number of bytes each time;
//! the median run of each (by time) is reported. Reported: throughput,
//! the ratio ours/kernel, CPU seconds per GiB (all cores' busy time, the
//! kernel's softirq work included, which is where most of the kernel's
//! cost is; in parentheses this process's, which includes the kernel
//! socket's thread on the other end), and for ours per GiB: system calls
//! on the devices (reads, those that found nothing included, and writes),
//! rounds of the driver task (its wakeups) and application tasks woken.
//!
//! Needs root. `cargo bench -p mptcp-tun --bench versus_kernel`
//! (`-- --bytes 256MiB --runs 5` to change the size and repetitions,
//! `-- --only send1` for one measurement alone, to profile it;
//! `--write bytes`: our sender hands its blocks over as `Bytes`, which the
//! stack sends from without copying, instead of `write_all`'s copy);
//! `scripts/bench-vs-kernel.sh` runs it.

mod common;

use common::{arg, median_by, parse_size, runtime, send_zeros};
use mptcp_tun::lab::{CpuMeter, CpuUsage, Side, TunLab, VethLab, kernel};
use mptcp_tun::{DriverStats, Stack};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 1 << 20;
/// Distinct blocks the sender writes in turn (32 MiB: more than a cache).
const BLOCKS: usize = 32;

#[derive(Clone, Copy, Debug, Default)]
struct Run {
    secs: f64,
    cpu: CpuUsage,
    /// Ours only: device reads and writes, driver rounds, app wakeups.
    syscalls: u64,
    writes: u64,
    /// Ours only: segments written (a train's counted one by one).
    segments: u64,
    rounds: u64,
    app_wakeups: u64,
}

/// What the runtime counted so far.
#[derive(Clone, Copy, Default)]
struct Tally {
    syscalls: u64,
    writes: u64,
    segments: u64,
    driver: DriverStats,
}

fn tally(stack: &Stack) -> Tally {
    Tally {
        syscalls: stack
            .device_stats()
            .iter()
            .map(|(_, d)| d.reads + d.writes)
            .sum(),
        writes: stack.device_stats().iter().map(|(_, d)| d.writes).sum(),
        segments: stack
            .device_stats()
            .iter()
            .map(|(_, d)| d.packets_out)
            .sum(),
        driver: stack.driver_stats(),
    }
}

fn finish(t: Instant, meter: &CpuMeter, before: Tally, stack: &Stack) -> Run {
    let secs = t.elapsed().as_secs_f64();
    let cpu = meter.stop().expect("cpu");
    let after = tally(stack);
    Run {
        secs,
        cpu,
        syscalls: after.syscalls - before.syscalls,
        writes: after.writes - before.writes,
        segments: after.segments - before.segments,
        rounds: after.driver.rounds - before.driver.rounds,
        app_wakeups: after.driver.app_wakeups - before.driver.app_wakeups,
    }
}

/// Reads `bytes` from `s` in large reads and answers one byte.
fn drain(s: &mut impl Read, bytes: u64) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    while n < bytes {
        let k = s.read(&mut buf).expect("read");
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    n
}

/// Writes `bytes` to `s` in chunks, then waits for the one-byte answer.
fn fill(s: &mut (impl Read + Write), bytes: u64) {
    send_zeros(s, bytes);
    let mut one = [0u8; 1];
    s.read_exact(&mut one).expect("answer");
}

/// A kernel server that reads `bytes` and answers one byte, on a thread
/// inside the namespace the listener was made in.
fn sink(listener: std::net::TcpListener, bytes: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let n = drain(&mut s, bytes);
        s.write_all(b"k").expect("answer");
        n
    })
}

fn stack_on(lab: &TunLab) -> Stack {
    let mut b = Stack::builder();
    for p in lab.paths() {
        b = b.path(p.dev.clone(), p.stack_v4.into());
    }
    b.build().expect("stack")
}

/// Our client sends `bytes` to a kernel server.
fn ours_send(paths: usize, bytes: u64) -> Run {
    let lab = TunLab::new("mptb", paths).expect("lab");
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let received = sink(listener, bytes);
    let run = lab.ns().run(|| {
        runtime().block_on(async {
            let stack = stack_on(&lab);
            let mut s = stack.connect(server).await.expect("connect");
            // Blocks in turn, more of them than a cache holds, as an
            // application producing new data would write.
            let blocks: Vec<bytes::Bytes> = (0..BLOCKS)
                .map(|i| bytes::Bytes::from(vec![i as u8; CHUNK]))
                .collect();
            let zero_copy = arg("--write").is_some_and(|w| w == "bytes");
            let before = tally(&stack);
            let meter = CpuMeter::start().expect("cpu");
            let t = Instant::now();
            let mut left = bytes;
            for block in blocks.iter().cycle() {
                if left == 0 {
                    break;
                }
                let n = left.min(CHUNK as u64) as usize;
                if zero_copy {
                    s.write_all_bytes(block.slice(..n)).await.expect("write");
                } else {
                    s.write_all(&block[..n]).await.expect("write");
                }
                left -= n as u64;
            }
            let mut one = [0u8; 1];
            s.read_exact(&mut one).await.expect("answer");
            finish(t, &meter, before, &stack)
        })
    });
    assert_eq!(received.join().expect("sink"), bytes);
    run
}

/// A kernel client (joining from every further path) sends `bytes` to our
/// server.
fn ours_receive(paths: usize, bytes: u64) -> Run {
    let lab = TunLab::new("mptr", paths).expect("lab");
    for i in 1..paths {
        lab.endpoint(i, "subflow").expect("endpoint");
    }
    let server = SocketAddr::new(lab.path(0).stack_addr(false), 5201);
    lab.ns().run(|| {
        runtime().block_on(async {
            let stack = stack_on(&lab);
            let listener = stack.listen(5201).expect("listen");
            let client = std::thread::spawn(move || {
                let mut s = kernel::connect(server, true, Duration::from_secs(5)).expect("connect");
                fill(&mut s, bytes);
            });
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; CHUNK];
            let before = tally(&stack);
            let meter = CpuMeter::start().expect("cpu");
            let t = Instant::now();
            let mut n = 0u64;
            while n < bytes {
                let k = s.read(&mut buf).await.expect("read");
                assert!(k > 0, "end of stream after {n} of {bytes} bytes");
                n += k as u64;
            }
            let run = finish(t, &meter, before, &stack);
            s.write_all(b"k").await.expect("answer");
            tokio::task::spawn_blocking(move || client.join().expect("kernel client"))
                .await
                .expect("join");
            run
        })
    })
}

/// A kernel client sends `bytes` to a kernel server over veth pairs, with
/// MPTCP (a `subflow` endpoint on every further path) or plain TCP.
fn kernel_to_kernel(paths: usize, bytes: u64, mptcp: bool) -> Run {
    let lab = VethLab::new("mptk", paths).expect("lab");
    for i in 1..paths {
        lab.endpoint(Side::Client, i, "subflow").expect("endpoint");
    }
    let server = SocketAddr::new(lab.path(0).addr(Side::Server, false), 5201);
    let listener = lab
        .server()
        .run(|| kernel::listen(server, mptcp))
        .expect("listen");
    let received = sink(listener, bytes);
    let run = lab.client().run(|| {
        let mut s = kernel::connect(server, mptcp, Duration::from_secs(5)).expect("connect");
        let meter = CpuMeter::start().expect("cpu");
        let t = Instant::now();
        fill(&mut s, bytes);
        let secs = t.elapsed().as_secs_f64();
        let cpu = meter.stop().expect("cpu");
        let _ = s.shutdown(Shutdown::Both);
        Run {
            secs,
            cpu,
            ..Run::default()
        }
    });
    assert_eq!(received.join().expect("sink"), bytes);
    run
}

fn main() {
    if !mptcp_tun::lab::is_root() {
        eprintln!("versus_kernel: needs root (network namespaces, TUN devices); not run");
        return;
    }
    let bytes = arg("--bytes").map(|s| parse_size(&s)).unwrap_or(1 << 30);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(5);
    let gib = bytes as f64 / f64::from(1u32 << 30);
    // `--only send1` (receive2, ...): that measurement alone, for profiling.
    if let Some(only) = arg("--only") {
        let (what, paths) = only.split_at(only.len() - 1);
        let paths: usize = paths.parse().expect("--only send1, receive2, ...");
        let f = match what {
            "send" => ours_send,
            "receive" => ours_receive,
            _ => panic!("--only send<N> or receive<N>"),
        };
        for _ in 0..runs {
            let r = f(paths, bytes);
            println!(
                "{only}: {:.2} Gbit/s, {:.2} ({:.2}) CPU s/GiB, per GiB {:.0} reads {:.0} \
                 writes ({:.1} segments each) {:.0} driver wakeups {:.0} app wakeups",
                bytes as f64 * 8.0 / r.secs / 1e9,
                r.cpu.system_busy_s / gib,
                r.cpu.process_s / gib,
                (r.syscalls - r.writes) as f64 / gib,
                r.writes as f64 / gib,
                r.segments as f64 / r.writes.max(1) as f64,
                r.rounds as f64 / gib,
                r.app_wakeups as f64 / gib,
            );
        }
        return;
    }
    let mut table: Vec<[Vec<Run>; 4]> = vec![Default::default(), Default::default()];
    for _ in 0..runs {
        for (p, row) in table.iter_mut().enumerate() {
            let paths = p + 1;
            row[0].push(ours_send(paths, bytes));
            row[1].push(ours_receive(paths, bytes));
            row[2].push(kernel_to_kernel(paths, bytes, true));
            row[3].push(kernel_to_kernel(1, bytes, false));
        }
    }
    println!("{bytes} bytes per run, median of {runs}");
    println!("CPU s/GiB: all cores busy (this process); per GiB for ours: device");
    println!("syscalls, driver wakeups, application wakeups; TCP: the kernel's plain TCP");
    println!("over one veth pair, for reference");
    println!(
        "{:<5} {:<8} {:>8} {:>8} {:>6} {:>15} {:>7} {:>6} {:>9} {:>9} {:>9}",
        "paths",
        "ours",
        "ours",
        "kernel",
        "ratio",
        "ours CPU",
        "kernel",
        "TCP",
        "syscalls",
        "driver",
        "app"
    );
    println!(
        "{:<5} {:<8} {:>8} {:>8} {:>6} {:>15} {:>7} {:>6} {:>9} {:>9} {:>9}",
        "", "", "Gbit/s", "Gbit/s", "", "s/GiB", "CPU", "Gbit/s", "/GiB", "wake/GiB", "wake/GiB"
    );
    let rate = |r: &Run| bytes as f64 * 8.0 / r.secs / 1e9;
    for (p, row) in table.into_iter().enumerate() {
        let [send, recv, k, tcp] = row.map(median);
        for (name, o) in [("send", send), ("receive", recv)] {
            println!(
                "{:<5} {:<8} {:>8.2} {:>8.2} {:>6.3} {:>7.2} ({:>5.2}) {:>7.2} {:>6.2} {:>9.0} {:>9.0} {:>9.0}",
                p + 1,
                name,
                rate(&o),
                rate(&k),
                rate(&o) / rate(&k),
                o.cpu.system_busy_s / gib,
                o.cpu.process_s / gib,
                k.cpu.system_busy_s / gib,
                rate(&tcp),
                o.syscalls as f64 / gib,
                o.rounds as f64 / gib,
                o.app_wakeups as f64 / gib,
            );
        }
    }
}

/// The run of median time.
fn median(runs: Vec<Run>) -> Run {
    median_by(runs, |r| r.secs)
}
