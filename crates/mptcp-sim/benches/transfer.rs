//! Simulated bytes per wall-clock second and engine segments per second,
//! plain TCP over one 100 Mbit/s and one 10 Gbit/s path.
//!
//! `engine`: the application neither verifies nor hashes the stream, so the
//! figure is the engine at both ends plus the simulator. `verified`: the
//! full test harness (every byte checked, SHA-256 at both ends).
//! Segments are every packet both endpoints emitted (data and ACKs); one
//! core runs both endpoints, so per-core engine throughput is this figure.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mptcp_sim::scenario::{PathSpec, Scenario, TransferSpec};
use std::time::Duration;

fn spec(path: &str, bytes: u64, verify: bool) -> TransferSpec {
    let mut s = TransferSpec::new(vec![PathSpec::parse(path).expect("path")], bytes);
    s.tcp_only = true;
    s.verify = verify;
    s
}

/// Run once and count the packets both hosts sent.
fn packets(spec: &TransferSpec) -> u64 {
    let sc = Scenario::build(spec).expect("build");
    let mut sc = sc;
    let (c, s) = (sc.client, sc.server);
    let _ = sc.sim.run_while(|sim| !Scenario::is_done(sim, c, s));
    sc.sim.stats().packets_transmitted
}

fn transfers(c: &mut Criterion) {
    let cases = [
        ("100mbit", "100mbit/10ms", 16u64 << 20),
        ("10gbit", "10gbit/1ms", 128 << 20),
    ];
    for verify in [false, true] {
        let mode = if verify { "verified" } else { "engine" };
        let mut bytes = c.benchmark_group(format!("sim_tcp_bytes/{mode}"));
        bytes
            .sample_size(10)
            .measurement_time(Duration::from_secs(8));
        for (name, path, size) in cases {
            let s = spec(path, size, verify);
            bytes.throughput(Throughput::Bytes(size));
            bytes.bench_with_input(BenchmarkId::from_parameter(name), &s, |b, s| {
                b.iter(|| {
                    let report = Scenario::build(s).expect("build").run();
                    assert!(report.error.is_none(), "{report:?}");
                })
            });
        }
        bytes.finish();
        let mut segs = c.benchmark_group(format!("sim_tcp_segments/{mode}"));
        segs.sample_size(10)
            .measurement_time(Duration::from_secs(8));
        for (name, path, size) in cases {
            let s = spec(path, size, verify);
            segs.throughput(Throughput::Elements(packets(&s)));
            segs.bench_with_input(BenchmarkId::from_parameter(name), &s, |b, s| {
                b.iter(|| Scenario::build(s).expect("build").run())
            });
        }
        segs.finish();
    }
}

criterion_group!(benches, transfers);
criterion_main!(benches);
