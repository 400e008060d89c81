//! Scheduler decisions per second: one `select` call over 2 and 8 subflows,
//! for every scheduler.
//!
//! The inputs cycle through a few views so that every branch is taken: all
//! subflows with room, the fastest one full (where ECF weighs waiting
//! against the slower ones), and everything full. Each call starts from an
//! empty, reused output vector, as the connection does.
//!
//! Sized for a small machine: `cargo bench -p mptcp-proto --bench scheduler`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mptcp_proto::scheduler::{PathView, SchedContext, SchedulerKind};
use mptcp_proto::subflow::SubflowId;
use mptcp_proto::{Duration as EngineDuration, Instant};

/// `n` subflows with RTTs from 10 ms upwards; room as `room(i)` says.
fn view(n: u32, room: impl Fn(u32) -> u64) -> Vec<PathView> {
    (0..n)
        .map(|i| PathView {
            id: SubflowId(i + 1),
            srtt: EngineDuration::from_millis(10 + 15 * u64::from(i)),
            rttvar: EngineDuration::from_millis(2 + u64::from(i)),
            cwnd: 14_480,
            in_flight: 14_480 - room(i),
            unacked: 14_480 - room(i),
            send_space: room(i),
            mss: 1448,
            backup: i == n - 1 && n > 2,
            in_recovery: false,
        })
        .collect()
}

/// The views one benchmark cycles through.
fn views(n: u32) -> Vec<Vec<PathView>> {
    vec![
        view(n, |_| 14_480),
        view(n, |i| if i == 0 { 0 } else { 2896 }),
        view(n, |i| if i % 2 == 0 { 0 } else { 1448 }),
        view(n, |_| 0),
    ]
}

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    group.throughput(Throughput::Elements(1));
    for n in [2, 8] {
        let views = views(n);
        for &kind in SchedulerKind::ALL {
            group.bench_with_input(BenchmarkId::new(kind.name(), n), &views, |b, views| {
                let mut sched = kind.build();
                let mut out = Vec::with_capacity(8);
                let mut call = 0u64;
                b.iter(|| {
                    let paths = &views[(call % views.len() as u64) as usize];
                    let ctx = SchedContext {
                        now: Instant::from_micros(call),
                        unsent: 1000 + (call % 64) * 4000,
                        window_room: 1 << 20,
                        send_window: 1 << 20,
                    };
                    call += 1;
                    out.clear();
                    sched.select(black_box(paths), black_box(&ctx), &mut out);
                    black_box(out.len())
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = select
}
criterion_main!(benches);
