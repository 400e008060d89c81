//! Events per wall-clock second of the event loop: a toy sender pushes paced
//! 1500-byte packets to a sink over one link (100 Mbit/s, then 10 Gbit/s).
//! Each packet costs three events: the sender's timer, the end of its
//! serialization and its arrival.
#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Toy, flow_ab, pair};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mptcp_sim::{Duration, LinkConfig, Simulator};

const PACKETS: u64 = 20_000;

fn build(rate_bps: u64) -> Simulator<Toy> {
    let link = LinkConfig::new(rate_bps, Duration::from_millis(10)).queue_bytes(64 << 20);
    let us = (1500 * 8 * 1_000_000 / rate_bps).max(1);
    let flow = flow_ab(1500, PACKETS).every(Duration::from_micros(us));
    pair(1, vec![flow], link).0
}

fn event_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_loop");
    for (name, rate) in [("100mbit", 100_000_000), ("10gbit", 10_000_000_000)] {
        let mut probe = build(rate);
        probe.run_until_idle().unwrap();
        assert_eq!(
            probe.link_stats(mptcp_sim::LinkId(0)).delivered_packets,
            PACKETS
        );
        group.throughput(Throughput::Elements(probe.stats().events));
        group.bench_function(name, |b| {
            b.iter_batched(
                || build(rate),
                |mut sim| {
                    sim.run_until_idle().unwrap();
                    black_box(sim.stats().events)
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, event_loop);
criterion_main!(benches);
