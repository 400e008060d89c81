//! Our stack against the kernel's own MPTCP, on this machine.
//!
//! - ours: our client (this process, over TUN devices) sends to a kernel
//!   MPTCP server in a lab namespace;
//! - kernel: a kernel MPTCP client sends to a kernel MPTCP server across
//!   veth pairs between two namespaces.
//!
//! Each over one path and over two, the same number of bytes each time.
//! Reported: throughput, the ratio ours/kernel, and CPU seconds per GiB:
//! all cores' busy time (the kernel's softirq work included, which is
//! where most of the kernel's cost is), and for ours also this process's.
//!
//! Needs root. `cargo bench -p mptcp-tun --bench versus_kernel`
//! (`-- --bytes 256MiB --runs 3` to change the size and repetitions);
//! `scripts/bench-vs-kernel.sh` runs it.

use mptcp_tun::Stack;
use mptcp_tun::lab::{CpuMeter, CpuUsage, Side, TunLab, VethLab, kernel};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const CHUNK: usize = 1 << 20;

struct Run {
    secs: f64,
    cpu: CpuUsage,
}

/// A kernel server on `addr` that reads `bytes` and answers one byte, on a
/// thread inside the namespace the listener was made in.
fn sink(listener: std::net::TcpListener, bytes: u64) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut n = 0u64;
        while n < bytes {
            let k = s.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        s.write_all(b"k").expect("answer");
        n
    })
}

fn ours(paths: usize, bytes: u64) -> Run {
    let lab = TunLab::new("mptb", paths).expect("lab");
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let received = sink(listener, bytes);
    let run = lab.ns().run(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut b = Stack::builder();
            for p in lab.paths() {
                b = b.path(p.dev.clone(), p.stack_v4.into());
            }
            let stack = b.build().expect("stack");
            let mut s = stack.connect(server).await.expect("connect");
            let block = vec![0x5au8; CHUNK];
            let meter = CpuMeter::start().expect("cpu");
            let t = Instant::now();
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                s.write_all(&block[..n]).await.expect("write");
                left -= n as u64;
            }
            let mut one = [0u8; 1];
            tokio::io::AsyncReadExt::read_exact(&mut s, &mut one)
                .await
                .expect("answer");
            let secs = t.elapsed().as_secs_f64();
            Run {
                secs,
                cpu: meter.stop().expect("cpu"),
            }
        })
    });
    assert_eq!(received.join().expect("sink"), bytes);
    run
}

fn kernel_to_kernel(paths: usize, bytes: u64) -> Run {
    let lab = VethLab::new("mptk", paths).expect("lab");
    if paths > 1 {
        for i in 1..paths {
            lab.endpoint(Side::Client, i, "subflow").expect("endpoint");
        }
    }
    let server = SocketAddr::new(lab.path(0).addr(Side::Server, false), 5201);
    let listener = lab
        .server()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let received = sink(listener, bytes);
    let run = lab.client().run(|| {
        let mut s = kernel::connect(server, true, Duration::from_secs(5)).expect("connect");
        let block = vec![0x5au8; CHUNK];
        let meter = CpuMeter::start().expect("cpu");
        let t = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            s.write_all(&block[..n]).expect("write");
            left -= n as u64;
        }
        let mut one = [0u8; 1];
        s.read_exact(&mut one).expect("answer");
        let secs = t.elapsed().as_secs_f64();
        let cpu = meter.stop().expect("cpu");
        let _ = s.shutdown(Shutdown::Both);
        Run { secs, cpu }
    });
    assert_eq!(received.join().expect("sink"), bytes);
    run
}

fn best(runs: usize, f: impl Fn() -> Run) -> Run {
    (0..runs)
        .map(|_| f())
        .min_by(|a, b| a.secs.total_cmp(&b.secs))
        .expect("one run")
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() {
    if !mptcp_tun::lab::is_root() {
        eprintln!("versus_kernel: needs root (network namespaces, TUN devices); not run");
        return;
    }
    let bytes = arg("--bytes").map(|s| parse_size(&s)).unwrap_or(1 << 30);
    let runs: usize = arg("--runs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let gib = bytes as f64 / f64::from(1u32 << 30);
    println!("{bytes} bytes per run, best of {runs}; CPU s/GiB: all cores busy (this process)");
    println!(
        "{:<8} {:>14} {:>14} {:>7} {:>16} {:>16}",
        "paths", "ours Gbit/s", "kernel Gbit/s", "ratio", "ours CPU s/GiB", "kernel CPU s/GiB"
    );
    for paths in [1, 2] {
        let o = best(runs, || ours(paths, bytes));
        let k = best(runs, || kernel_to_kernel(paths, bytes));
        let rate = |r: &Run| bytes as f64 * 8.0 / r.secs / 1e9;
        println!(
            "{:<8} {:>14.2} {:>14.2} {:>7.3} {:>7.2} ({:>5.2}) {:>16.2}",
            paths,
            rate(&o),
            rate(&k),
            rate(&o) / rate(&k),
            o.cpu.system_busy_s / gib,
            o.cpu.process_s / gib,
            k.cpu.system_busy_s / gib,
        );
    }
}

fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().expect("size");
    n << match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => panic!("unknown size unit {other:?}"),
    }
}
