//! Connection-initiation throughput and MP_JOIN token lookups: this crate's sharded
//! `TokenTable` against a baseline done the original's way (one global lock over two hash maps,
//! a request map and an established map, with the double lookup per attempt and the key
//! generated under the lock, as in the seed's `mptcp_connect_init`).
//!
//! Both sides use the same key generator (SipHash-2-4 + SHA-256) and the same token hash, so the
//! ratio shows the table's structure. The original read the established map under RCU for joins;
//! the baseline takes its one lock for lookups too, as a userspace program without RCU would.
//!
//! Sized for a small machine: `cargo bench -p mptcp-proto --bench token`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mptcp_proto::crypto::{MptcpVersion, Token};
use mptcp_proto::token::{FourTuple, KeyGenerator, KeySource, Shard, TokenTable, TokenTableConfig};

const V1: MptcpVersion = MptcpVersion::V1;
const ENTRIES: usize = 1_000_000;

fn tuple(i: u8) -> FourTuple {
    FourTuple::new(
        format!("10.0.0.{}:40000", i + 1).parse().expect("local"),
        "10.0.1.1:443".parse().expect("remote"),
    )
    .expect("same family")
}

/// The same multiply-fold token hash as the table's, for the baseline's maps.
#[derive(Clone, Copy, Default)]
struct FoldHash;
struct FoldHasher(u64);

impl BuildHasher for FoldHash {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
    fn finish(&self) -> u64 {
        let p = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15_u128;
        (p as u64) ^ ((p >> 64) as u64)
    }
}

/// The original's structure: one lock, a request map (passive side) and an established map.
struct Baseline {
    maps: Mutex<Maps>,
}

struct Maps {
    requests: HashMap<Token, u64, FoldHash>,
    established: HashMap<Token, u64, FoldHash>,
}

impl Baseline {
    fn with_capacity(n: usize) -> Baseline {
        Baseline {
            maps: Mutex::new(Maps {
                requests: HashMap::with_hasher(FoldHash),
                established: HashMap::with_capacity_and_hasher(n, FoldHash),
            }),
        }
    }

    /// `mptcp_connect_init`: under the lock, generate keys until the token is in neither map,
    /// then insert it into the established map.
    fn allocate_active(&self, keys: &KeyGenerator, tuple: &FourTuple, value: u64) -> Token {
        let mut maps = self.maps.lock().expect("lock");
        loop {
            let m = keys.next_material(tuple, V1);
            if m.token.0 != 0
                && !maps.requests.contains_key(&m.token)
                && !maps.established.contains_key(&m.token)
            {
                maps.established.insert(m.token, value);
                return m.token;
            }
        }
    }

    fn lookup(&self, token: Token) -> Option<u64> {
        self.maps
            .lock()
            .expect("lock")
            .established
            .get(&token)
            .copied()
    }
}

fn ours_with_capacity(n: usize) -> TokenTable<u64> {
    TokenTable::with_capacity(TokenTableConfig::default(), n)
}

/// Run `per_thread(thread, n)` on `threads` threads, `iters` operations in all, and return the
/// wall time from the common start to the last finish.
fn timed_threads(threads: u64, iters: u64, per_thread: impl Fn(u8, u64) + Sync) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (start, f) = (&start, &per_thread);
                let n = iters / threads + u64::from(t < iters % threads);
                s.spawn(move || {
                    start.wait();
                    f(t as u8, n);
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        for h in hs {
            h.join().expect("thread");
        }
        t0.elapsed()
    })
}

fn connect_init(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect_init");
    g.throughput(Throughput::Elements(1));
    for threads in [1u64, 2] {
        g.bench_with_input(BenchmarkId::new("sharded", threads), &threads, |b, &th| {
            b.iter_custom(|iters| {
                let table = ours_with_capacity(iters as usize);
                let keys = KeyGenerator::new([0x5a; 16], 0);
                let d = timed_threads(th, iters, |t, n| {
                    let tp = tuple(t);
                    for i in 0..n {
                        let a = table.allocate_active(&keys, &tp, V1, i).expect("alloc");
                        black_box(a.handle.token());
                    }
                });
                drop(table);
                d
            })
        });
        g.bench_with_input(
            BenchmarkId::new("global_lock", threads),
            &threads,
            |b, &th| {
                b.iter_custom(|iters| {
                    let table = Baseline::with_capacity(iters as usize);
                    let keys = KeyGenerator::new([0x5a; 16], 0);
                    let d = timed_threads(th, iters, |t, n| {
                        let tp = tuple(t);
                        for i in 0..n {
                            black_box(table.allocate_active(&keys, &tp, i));
                        }
                    });
                    drop(table);
                    d
                })
            },
        );
    }
    g.finish();
}

/// A small xorshift, to visit tokens in a random order without a dependency.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn join_lookup(c: &mut Criterion) {
    // Both tables are built once, with the same 1,000,000 tokens.
    let keys = KeyGenerator::new([0xa5; 16], 0);
    let ours = ours_with_capacity(ENTRIES);
    let base = Baseline::with_capacity(ENTRIES);
    let mut hits = Vec::with_capacity(ENTRIES);
    for i in 0..ENTRIES as u64 {
        let a = ours
            .allocate_active(&keys, &tuple(0), V1, i)
            .expect("alloc");
        base.maps
            .lock()
            .expect("lock")
            .established
            .insert(a.keys.token, i);
        hits.push(a.keys.token);
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..hits.len()).rev() {
        let j = (xorshift(&mut rng) % (i as u64 + 1)) as usize;
        hits.swap(i, j);
    }
    let mut misses = Vec::with_capacity(ENTRIES);
    while misses.len() < ENTRIES {
        let t = Token(xorshift(&mut rng) as u32);
        if t.0 != 0 && !ours.contains(t) {
            misses.push(t);
        }
    }

    let mut g = c.benchmark_group("join_lookup_1M");
    g.throughput(Throughput::Elements(1));
    for (name, tokens) in [("hit", &hits), ("miss", &misses)] {
        g.bench_function(BenchmarkId::new("sharded", name), |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == tokens.len() { 0 } else { i + 1 };
                black_box(ours.lookup(tokens[i]))
            })
        });
        g.bench_function(BenchmarkId::new("global_lock", name), |b| {
            let mut i = 0;
            b.iter(|| {
                i = if i + 1 == tokens.len() { 0 } else { i + 1 };
                black_box(base.lookup(tokens[i]))
            })
        });
    }
    // Two threads looking up at once (aggregate rate): where a global lock serialises readers.
    g.bench_function(BenchmarkId::new("sharded", "hit_2threads"), |b| {
        b.iter_custom(|iters| {
            timed_threads(2, iters, |t, n| {
                let mut i = usize::from(t) * (ENTRIES / 2);
                for _ in 0..n {
                    i = if i + 1 == ENTRIES { 0 } else { i + 1 };
                    black_box(ours.lookup(hits[i]));
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("global_lock", "hit_2threads"), |b| {
        b.iter_custom(|iters| {
            timed_threads(2, iters, |t, n| {
                let mut i = usize::from(t) * (ENTRIES / 2);
                for _ in 0..n {
                    i = if i + 1 == ENTRIES { 0 } else { i + 1 };
                    black_box(base.lookup(hits[i]));
                }
            })
        })
    });
    g.finish();
}

/// Key generation for one shard of N (issue: many engines, the owner of a
/// join known from its token): time per connection, and the mean attempts
/// printed beside it. N = 1 is today's unsharded allocation.
fn shard_alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect_init_shard");
    g.throughput(Throughput::Elements(1));
    for n in [1u32, 2, 4, 16, 64] {
        let shard = Shard::new(n - 1, n).expect("shard");
        // The mean number of keys drawn per connection, over 100,000.
        let table = ours_with_capacity(100_000);
        let keys = KeyGenerator::new([0x3c; 16], 0).with_shard(shard);
        let attempts: u64 = (0..100_000u64)
            .map(|i| {
                let a = table
                    .allocate_active(&keys, &tuple(0), V1, i)
                    .expect("alloc");
                u64::from(a.attempts)
            })
            .sum();
        eprintln!(
            "shard {}/{n}: {:.2} keys per connection (100,000 connections)",
            shard.index(),
            attempts as f64 / 100_000.0
        );
        drop(table);
        g.bench_with_input(BenchmarkId::new("shards", n), &shard, |b, &shard| {
            b.iter_custom(|iters| {
                let table = ours_with_capacity(iters as usize);
                let keys = KeyGenerator::new([0x5a; 16], 0).with_shard(shard);
                let t0 = Instant::now();
                for i in 0..iters {
                    let a = table
                        .allocate_active(&keys, &tuple(0), V1, i)
                        .expect("alloc");
                    black_box(a.handle.token());
                }
                let d = t0.elapsed();
                drop(table);
                d
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    targets = connect_init, shard_alloc, join_lookup
}
criterion_main!(benches);
