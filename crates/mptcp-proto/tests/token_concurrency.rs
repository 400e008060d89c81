//! The token table under several threads: allocation never hands out a token twice, racing
//! promotions have exactly one winner, lookups see established entries throughout.

use std::collections::HashSet;
use std::sync::Barrier;

use mptcp_proto::crypto::{KeyMaterial, MptcpVersion, Token};
use mptcp_proto::error::TokenError;
use mptcp_proto::stats::Mib;
use mptcp_proto::token::{
    FourTuple, KeyGenerator, KeySource, Removed, TokenTable, TokenTableConfig,
};
use mptcp_proto::{Duration, Instant};

const V1: MptcpVersion = MptcpVersion::V1;
const THREADS: usize = 4;
const PER_THREAD: usize = 20_000;

fn tuple(i: usize) -> FourTuple {
    FourTuple::new(
        format!("10.0.0.{}:{}", i + 1, 40_000 + i)
            .parse()
            .expect("local"),
        "10.0.1.1:443".parse().expect("remote"),
    )
    .expect("same family")
}

/// The real generator with tokens squeezed into 17 bits: 80,000 entries fill 61% of that space,
/// so later allocations collide most of the time (and token 0 comes up now and then).
struct Squeezed(KeyGenerator);

impl KeySource for Squeezed {
    fn next_key(&self, t: &FourTuple) -> u64 {
        self.0.next_key(t)
    }
    fn next_material(&self, t: &FourTuple, v: MptcpVersion) -> KeyMaterial {
        let mut m = KeyMaterial::derive(self.next_key(t), v);
        m.token = Token(m.token.0 & 0x1_ffff);
        m
    }
}

fn big_budget_table<V: Clone>() -> TokenTable<V> {
    TokenTable::new(TokenTableConfig {
        max_attempts: 10_000,
        shards: 16,
    })
}

#[test]
fn concurrent_allocation_never_duplicates() {
    let table: TokenTable<(usize, usize)> = big_budget_table();
    let keys = Squeezed(KeyGenerator::new([9; 16], 0));
    let start = Barrier::new(THREADS);
    let per_thread: Vec<Vec<(Token, usize, u32)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|th| {
                let (table, keys, start) = (&table, &keys, &start);
                s.spawn(move || {
                    start.wait();
                    let mut got = Vec::with_capacity(PER_THREAD);
                    for i in 0..PER_THREAD {
                        let a = if i % 2 == 0 {
                            table.allocate_active(keys, &tuple(th), V1, (th, i))
                        } else {
                            // Passive: pending, then promoted by its own request.
                            let far = Instant::from_micros(u64::MAX);
                            table
                                .allocate_passive(keys, &tuple(th), V1, far)
                                .and_then(|a| {
                                    table.promote(a.handle, (th, i), Instant::ZERO).map(|()| a)
                                })
                        }
                        .expect("allocation within budget");
                        got.push((a.keys.token, i, a.attempts));
                    }
                    got
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });

    let mut all = HashSet::new();
    let mut attempts = 0u64;
    for (th, got) in per_thread.iter().enumerate() {
        for &(tok, i, n) in got {
            assert_ne!(tok, Token(0));
            assert!(all.insert(tok), "token {tok} issued twice");
            assert_eq!(table.lookup(tok), Some((th, i)), "token {tok}");
            attempts += u64::from(n);
        }
    }
    assert_eq!(all.len(), THREADS * PER_THREAD);
    assert_eq!(table.len(), THREADS * PER_THREAD);
    let collisions = table.stats().get(Mib::TokenCollision);
    assert_eq!(attempts, (THREADS * PER_THREAD) as u64 + collisions);
    assert!(
        collisions > 10_000,
        "expected many collisions, got {collisions}"
    );
    // Every attempt, retries included, took one counter value.
    assert_eq!(u64::from(keys.0.peek_seed()), attempts);
    assert_eq!(table.stats().get(Mib::MPFallbackTokenInit), 0);
}

#[test]
fn racing_promotions_have_one_winner() {
    const N: usize = 5_000;
    let table: TokenTable<usize> = big_budget_table();
    let keys = KeyGenerator::new([4; 16], 0);
    let expires = Instant::ZERO + Duration::from_secs(10);
    let pending: Vec<_> = (0..N)
        .map(|i| {
            table
                .allocate_passive(&keys, &tuple(i % 7), V1, expires)
                .expect("alloc")
                .handle
        })
        .collect();
    let start = Barrier::new(2);
    let results: Vec<Vec<Result<(), TokenError>>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|th| {
                let (table, pending, start) = (&table, &pending, &start);
                s.spawn(move || {
                    start.wait();
                    pending
                        .iter()
                        .map(|&h| table.promote(h, th, Instant::ZERO))
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut wins = [0usize; 2];
    for (k, h) in pending.iter().enumerate() {
        let (r0, r1) = (&results[0][k], &results[1][k]);
        let winner = match (r0, r1) {
            (Ok(()), Err(TokenError::NotPending { .. })) => 0,
            (Err(TokenError::NotPending { .. }), Ok(())) => 1,
            other => panic!("entry {k}: {other:?}"),
        };
        wins[winner] += 1;
        // The loser changed nothing: the winner's value is in place.
        assert_eq!(table.lookup(h.token()), Some(winner));
    }
    assert_eq!(wins[0] + wins[1], N);
    for h in pending {
        assert!(matches!(table.remove(h), Ok(Removed::Established(_))));
    }
    assert!(table.is_empty());
}

#[test]
fn lookups_run_alongside_churn() {
    let table: TokenTable<u32> = big_budget_table();
    let keys = KeyGenerator::new([5; 16], 0);
    let stable: Vec<_> = (0..2_000u32)
        .map(|i| {
            table
                .allocate_active(&keys, &tuple(0), V1, i)
                .expect("alloc")
        })
        .collect();
    std::thread::scope(|s| {
        // Two threads churn: allocate and remove connections (active and passive).
        for th in 0..2 {
            let (table, keys) = (&table, &keys);
            s.spawn(move || {
                for i in 0..5_000u32 {
                    let a = if i % 2 == 0 {
                        table.allocate_active(keys, &tuple(th + 1), V1, u32::MAX)
                    } else {
                        table.allocate_passive(keys, &tuple(th + 1), V1, Instant::ZERO)
                    }
                    .expect("alloc");
                    assert!(table.remove(a.handle).is_ok());
                }
            });
        }
        // Two threads look the stable connections up the whole time.
        for _ in 0..2 {
            let (table, stable) = (&table, &stable);
            s.spawn(move || {
                for _ in 0..5 {
                    for (i, a) in stable.iter().enumerate() {
                        assert_eq!(table.lookup(a.keys.token), Some(i as u32));
                    }
                }
            });
        }
    });
    assert_eq!(table.len(), stable.len());
}
