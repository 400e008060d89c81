//! The token table's lifecycle, collision handling and retry budget, with key sources that force
//! collisions and token 0.

use std::collections::VecDeque;
use std::sync::Mutex;

use mptcp_proto::crypto::{KeyMaterial, MptcpVersion, Token};
use mptcp_proto::error::TokenError;
use mptcp_proto::stats::Mib;
use mptcp_proto::token::{
    DEFAULT_MAX_ATTEMPTS, EntryState, FourTuple, KeyGenerator, KeySource, Removed, TokenTable,
    TokenTableConfig,
};
use mptcp_proto::{Duration, Instant};

const V1: MptcpVersion = MptcpVersion::V1;

fn tuple() -> FourTuple {
    FourTuple::new(
        "10.77.1.1:40000".parse().expect("local"),
        "10.77.1.2:5001".parse().expect("remote"),
    )
    .expect("same family")
}

/// Hands out the given tokens in order (keys and IDSNs are made up), then panics.
struct Scripted(Mutex<VecDeque<u32>>);

impl Scripted {
    fn new(tokens: &[u32]) -> Scripted {
        Scripted(Mutex::new(tokens.iter().copied().collect()))
    }
    fn left(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
}

impl KeySource for Scripted {
    fn next_key(&self, _: &FourTuple) -> u64 {
        unreachable!("next_material is overridden")
    }
    fn next_material(&self, _: &FourTuple, _: MptcpVersion) -> KeyMaterial {
        let t = self
            .0
            .lock()
            .expect("lock")
            .pop_front()
            .expect("script ran out");
        KeyMaterial {
            key: u64::from(t) << 32 | 0xabcd,
            token: Token(t),
            idsn: u64::from(t) * 3,
        }
    }
}

/// The real generator, but every token forced to one value: every attempt collides once the
/// token is taken; the generator's counter still advances on every attempt.
struct Constant<'a>(&'a KeyGenerator, u32);

impl KeySource for Constant<'_> {
    fn next_key(&self, t: &FourTuple) -> u64 {
        self.0.next_key(t)
    }
    fn next_material(&self, t: &FourTuple, v: MptcpVersion) -> KeyMaterial {
        let mut m = KeyMaterial::derive(self.next_key(t), v);
        m.token = Token(self.1);
        m
    }
}

fn table(max_attempts: u32) -> TokenTable<&'static str> {
    TokenTable::new(TokenTableConfig {
        max_attempts,
        ..TokenTableConfig::default()
    })
}

#[test]
fn collisions_and_token_zero_are_retried() {
    let t = table(8);
    let src = Scripted::new(&[5, 0, 5, 0, 7, 5, 7, 9]);
    let a = t.allocate_active(&src, &tuple(), V1, "a").expect("first");
    assert_eq!((a.keys.token, a.attempts), (Token(5), 1));
    // 0 is skipped, 5 is taken, 0 again, then 7.
    let b = t.allocate_active(&src, &tuple(), V1, "b").expect("second");
    assert_eq!((b.keys.token, b.attempts), (Token(7), 4));
    assert_eq!(b.keys.key, 7 << 32 | 0xabcd);
    // Taken by an established and by a pending entry alike.
    let c = t
        .allocate_passive(&src, &tuple(), V1, Instant::from_micros(1))
        .expect("third");
    assert_eq!((c.keys.token, c.attempts), (Token(9), 3));
    assert_eq!(src.left(), 0);
    assert_eq!(t.stats().get(Mib::TokenCollision), 5);
    assert_eq!(t.stats().get(Mib::MPFallbackTokenInit), 0);
    assert_eq!(t.len(), 3);
}

#[test]
fn retries_exhausted_is_typed_and_counted() {
    let g = KeyGenerator::new([1; 16], 100);
    let t = table(DEFAULT_MAX_ATTEMPTS);
    let src = Constant(&g, 0x1234);
    let first = t.allocate_active(&src, &tuple(), V1, "a").expect("first");
    assert_eq!(first.keys.token, Token(0x1234));
    assert_eq!(g.peek_seed(), 101);

    let err = t.allocate_active(&src, &tuple(), V1, "b").unwrap_err();
    assert_eq!(
        err,
        TokenError::RetriesExhausted {
            attempts: DEFAULT_MAX_ATTEMPTS
        }
    );
    // The counter advanced once per attempt, retries included.
    assert_eq!(g.peek_seed(), 101 + DEFAULT_MAX_ATTEMPTS);
    assert_eq!(t.stats().get(Mib::MPFallbackTokenInit), 1);
    assert_eq!(
        t.stats().get(Mib::TokenCollision),
        u64::from(DEFAULT_MAX_ATTEMPTS)
    );
    // The passive side gives up the same way; the first entry is untouched.
    let err = t.allocate_passive(&src, &tuple(), V1, Instant::ZERO);
    assert!(matches!(err, Err(TokenError::RetriesExhausted { .. })));
    assert_eq!(t.stats().get(Mib::MPFallbackTokenInit), 2);
    assert_eq!(t.lookup(Token(0x1234)), Some("a"));
    assert_eq!(t.len(), 1);
}

#[test]
fn token_zero_is_never_issued() {
    let g = KeyGenerator::new([2; 16], 0);
    let t = table(5);
    let err = t.allocate_active(&Constant(&g, 0), &tuple(), V1, "z");
    assert_eq!(err, Err(TokenError::RetriesExhausted { attempts: 5 }));
    assert!(t.is_empty());
    assert!(!t.contains(Token(0)));
    assert_eq!(t.stats().get(Mib::TokenCollision), 5);
}

#[test]
fn real_generator_allocates_distinct_tokens_with_derived_material() {
    let g = KeyGenerator::new([3; 16], 0);
    let t = table(DEFAULT_MAX_ATTEMPTS);
    for (i, v) in [MptcpVersion::V0, MptcpVersion::V1].into_iter().enumerate() {
        let a = t.allocate_active(&g, &tuple(), v, "x").expect("alloc");
        assert_eq!(a.attempts, 1);
        assert_eq!(
            a.keys,
            KeyMaterial::derive(g.key_for(&tuple(), i as u32), v)
        );
        assert_eq!(a.handle.token(), a.keys.token);
    }
    assert_eq!(t.len(), 2);
}

#[test]
fn active_entry_lifecycle() {
    let t = table(4);
    let src = Scripted::new(&[11]);
    let a = t
        .allocate_active(&src, &tuple(), V1, "conn")
        .expect("alloc");
    assert_eq!(t.state(Token(11)), Some(EntryState::Established));
    assert_eq!(t.lookup(Token(11)), Some("conn"));
    // Already established: nothing to promote.
    assert_eq!(
        t.promote(a.handle, "other", Instant::ZERO),
        Err(TokenError::NotPending { token: Token(11) })
    );
    assert_eq!(t.lookup(Token(11)), Some("conn"));
    // Connection closes.
    assert_eq!(t.remove(a.handle), Ok(Removed::Established("conn")));
    assert_eq!(
        t.remove(a.handle),
        Err(TokenError::NotFound { token: Token(11) })
    );
    assert_eq!(t.lookup(Token(11)), None);
    assert!(t.is_empty());
}

#[test]
fn passive_entry_lifecycle_and_join_refusal() {
    let t = table(4);
    let src = Scripted::new(&[21]);
    let now = Instant::from_micros(1_000);
    let expires = now + Duration::from_secs(1);
    let p = t
        .allocate_passive(&src, &tuple(), V1, expires)
        .expect("alloc");
    assert_eq!(t.state(Token(21)), Some(EntryState::Pending { expires }));
    // RFC 8684 §3.2: a join for a connection that is not established is refused.
    assert_eq!(t.lookup(Token(21)), None);
    assert_eq!(t.lookup(Token(22)), None);
    // Lookups count nothing in the shared table: the caller counts MPJoinNoTokenFound.
    assert_eq!(t.stats().get(Mib::MPJoinNoTokenFound), 0);
    // Third ACK.
    t.promote(p.handle, "server-conn", now + Duration::from_millis(5))
        .expect("promote");
    assert_eq!(t.state(Token(21)), Some(EntryState::Established));
    assert_eq!(t.lookup(Token(21)), Some("server-conn"));
    // A retransmitted third ACK does not replace the value.
    assert_eq!(
        t.promote(p.handle, "dup", now + Duration::from_millis(6)),
        Err(TokenError::NotPending { token: Token(21) })
    );
    assert_eq!(t.lookup(Token(21)), Some("server-conn"));
    // Established entries are never swept.
    assert_eq!(t.expire_pending(expires + Duration::from_secs(60)), 0);
    assert_eq!(t.remove(p.handle), Ok(Removed::Established("server-conn")));
    assert!(t.is_empty());
}

#[test]
fn request_dropped_before_third_ack() {
    let t = table(4);
    let src = Scripted::new(&[31]);
    let p = t
        .allocate_passive(&src, &tuple(), V1, Instant::from_micros(10))
        .expect("alloc");
    assert_eq!(t.remove(p.handle), Ok(Removed::Pending));
    assert_eq!(
        t.promote(p.handle, "late", Instant::ZERO),
        Err(TokenError::NotFound { token: Token(31) })
    );
    assert!(t.is_empty());
}

#[test]
fn expiry_sweep_and_late_promotion() {
    let t = table(4);
    let src = Scripted::new(&[41, 42, 43]);
    let t0 = Instant::from_micros(1_000_000);
    let early = t
        .allocate_passive(&src, &tuple(), V1, t0 + Duration::from_millis(100))
        .expect("a");
    let late = t
        .allocate_passive(&src, &tuple(), V1, t0 + Duration::from_millis(300))
        .expect("b");
    let conn = t.allocate_active(&src, &tuple(), V1, "c").expect("c");
    assert_eq!(t.expire_pending(t0), 0);
    // Expiry is inclusive: at the expiry instant the entry goes.
    assert_eq!(t.expire_pending(t0 + Duration::from_millis(100)), 1);
    assert!(!t.contains(early.handle.token()));
    assert_eq!(
        t.promote(early.handle, "too late", t0 + Duration::from_millis(101)),
        Err(TokenError::NotFound { token: Token(41) })
    );
    // Not swept yet but past its expiry: promotion removes it and fails.
    assert_eq!(
        t.promote(late.handle, "too late", t0 + Duration::from_millis(300)),
        Err(TokenError::Expired { token: Token(42) })
    );
    assert!(!t.contains(Token(42)));
    assert_eq!(t.len(), 1);
    assert_eq!(t.remove(conn.handle), Ok(Removed::Established("c")));
}

/// After a request's entry expired, its token may be issued again; the old owner's handle must
/// not touch the new owner's entry.
#[test]
fn stale_handle_cannot_touch_a_reissued_token() {
    let t = table(4);
    let src = Scripted::new(&[51, 51]);
    let old = t
        .allocate_passive(&src, &tuple(), V1, Instant::from_micros(5))
        .expect("old");
    assert_eq!(t.expire_pending(Instant::from_micros(5)), 1);
    let new = t.allocate_active(&src, &tuple(), V1, "new").expect("new");
    assert_eq!(new.handle.token(), old.handle.token());
    assert_ne!(new.handle.id(), old.handle.id());
    assert_eq!(
        t.promote(old.handle, "old", Instant::ZERO),
        Err(TokenError::WrongRequest { token: Token(51) })
    );
    assert_eq!(
        t.remove(old.handle),
        Err(TokenError::WrongRequest { token: Token(51) })
    );
    assert_eq!(t.lookup(Token(51)), Some("new"));
    assert_eq!(t.remove(new.handle), Ok(Removed::Established("new")));
}

#[test]
fn entries_lists_every_state() {
    let t = table(4);
    let src = Scripted::new(&[61, 62]);
    let _a = t.allocate_active(&src, &tuple(), V1, "a").expect("a");
    let _p = t
        .allocate_passive(&src, &tuple(), V1, Instant::from_micros(9))
        .expect("p");
    let mut e = t.entries();
    e.sort_by_key(|(tok, _)| *tok);
    assert_eq!(
        e,
        vec![
            (Token(61), EntryState::Established),
            (
                Token(62),
                EntryState::Pending {
                    expires: Instant::from_micros(9)
                }
            ),
        ]
    );
}

#[test]
fn table_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenTable<u64>>();
    assert_send_sync::<TokenTable<std::sync::Arc<str>>>();
    assert_send_sync::<KeyGenerator>();
}

/// A scripted source serving one shard.
struct ScriptedShard(Scripted, mptcp_proto::token::Shard);

impl KeySource for ScriptedShard {
    fn next_key(&self, t: &FourTuple) -> u64 {
        self.0.next_key(t)
    }
    fn next_material(&self, t: &FourTuple, v: MptcpVersion) -> KeyMaterial {
        self.0.next_material(t, v)
    }
    fn shard(&self) -> mptcp_proto::token::Shard {
        self.1
    }
}

/// A source serving shard 2 of 4: tokens of other shards are drawn
/// again without counting as collisions; a taken token of its own shard
/// is a collision; the first free token of its shard is issued.
#[test]
fn a_shard_keeps_only_its_own_tokens() {
    use mptcp_proto::token::Shard;
    let shard = Shard::new(2, 4).unwrap();
    let t = table(DEFAULT_MAX_ATTEMPTS);
    let first = t
        .allocate_active(
            &ScriptedShard(Scripted::new(&[6]), shard),
            &tuple(),
            V1,
            "a",
        )
        .unwrap();
    assert_eq!(first.keys.token, Token(6));
    let keys = ScriptedShard(Scripted::new(&[5, 7, 6, 0, 8, 9, 10]), shard);
    let a = t.allocate_active(&keys, &tuple(), V1, "b").unwrap();
    assert_eq!(
        a.keys.token,
        Token(10),
        "5, 7, 8, 9 are other shards', 6 is taken"
    );
    assert_eq!(a.attempts, 7);
    assert_eq!(keys.0.left(), 0);
    // 6 taken and 0 are collisions; the other shards' tokens are not.
    assert_eq!(t.stats().get(Mib::TokenCollision), 2);
    assert_eq!(Shard::owner(a.keys.token, 4), shard);
    assert!(Shard::new(4, 4).is_none() && Shard::new(0, 0).is_none());
}

/// The budget grows with the shard count: a source that never hits its
/// shard gives up after max_attempts × count keys, counted as a fallback.
#[test]
fn a_shard_budget_scales_with_the_count() {
    use mptcp_proto::token::Shard;
    let t = table(3);
    let keys = ScriptedShard(Scripted::new(&[1; 48]), Shard::new(0, 16).unwrap());
    let e = t.allocate_active(&keys, &tuple(), V1, "x").unwrap_err();
    assert_eq!(e, TokenError::RetriesExhausted { attempts: 48 });
    assert_eq!(keys.0.left(), 0);
    assert_eq!(t.stats().get(Mib::MPFallbackTokenInit), 1);
}

proptest::proptest! {
    /// The real generator serving any shard of up to 64: every token it
    /// gets is unique and names its shard, found again by `Shard::owner`.
    #[test]
    fn the_real_generator_serves_any_shard(count in 1u32..=64, pick in 0u32..64, secret in proptest::prelude::any::<[u8; 16]>()) {
        use mptcp_proto::token::Shard;
        let shard = Shard::new(pick % count, count).unwrap();
        let keys = KeyGenerator::new(secret, 0).with_shard(shard);
        let t: TokenTable<u32> = TokenTable::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..50 {
            let a = t.allocate_active(&keys, &tuple(), V1, i).unwrap();
            proptest::prop_assert!(shard.contains(a.keys.token));
            proptest::prop_assert_eq!(Shard::owner(a.keys.token, count), shard);
            proptest::prop_assert!(seen.insert(a.keys.token));
        }
    }
}
