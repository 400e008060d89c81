//! The token table shared by the endpoints of a process: one map from token to an entry that is
//! either `Pending` (a passive-side MP_CAPABLE request being answered) or `Established` (a
//! connection), with the check for uniqueness and the insertion done as one atomic step.

use core::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::crypto::{KeyMaterial, MptcpVersion, Token};
use crate::error::TokenError;
use crate::stats::{AtomicCounters, Mib};
use crate::time::Instant;
use crate::token::keygen::{FourTuple, KeySource};

/// Default retry budget of an allocation: how many keys are generated before giving up.
///
/// The seed loops until it finds a free token; Linux's current implementation gives up after
/// `MPTCP_TOKEN_MAX_RETRIES` = 4 and falls back to TCP. We allow 32: with a million entries a
/// fresh key collides with probability 2^-12, so 32 attempts fail only under a broken key source,
/// which the `MPFallbackTokenInit` counter then makes visible.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 32;

/// Default number of shards (each an `RwLock`ed hash map) in the table.
pub const DEFAULT_SHARDS: usize = 64;

/// Settings of a [`TokenTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenTableConfig {
    /// Keys generated per allocation before it fails with
    /// [`TokenError::RetriesExhausted`]; at least 1. A key source serving
    /// one shard of N ([`KeySource::shard`]) gets N times as many.
    pub max_attempts: u32,
    /// Number of shards; rounded up to a power of two, at least 2.
    pub shards: usize,
}

impl Default for TokenTableConfig {
    fn default() -> TokenTableConfig {
        TokenTableConfig {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            shards: DEFAULT_SHARDS,
        }
    }
}

/// Identity of one table entry, unique over the table's lifetime (never reused). For a pending
/// entry it is the identity of the request that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryId(u64);

/// What an allocation returns to its owner: the token and the identity of the entry.
///
/// This is not an RAII guard: dropping it leaves the entry in the table. The owner keeps it with
/// the request or connection and passes it to [`TokenTable::promote`] (passive side, third ACK)
/// and to [`TokenTable::remove`] when the request expires or the connection closes. Because the
/// handle names the entry and not only the token, a late `remove` or `promote` from an owner
/// whose entry already expired can never touch the entry of a newer owner of the same token.
#[must_use = "the entry stays in the table until TokenTable::remove is called with this handle"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHandle {
    token: Token,
    id: EntryId,
}

impl TokenHandle {
    /// The entry's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The entry's identity.
    pub fn id(&self) -> EntryId {
        self.id
    }
}

/// A successful allocation.
#[must_use = "the entry stays in the table until TokenTable::remove is called with its handle"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The handle to promote and remove the entry with.
    pub handle: TokenHandle,
    /// The local key, its token and IDSN.
    pub keys: KeyMaterial,
    /// How many keys were generated (1 when the first was unique).
    pub attempts: u32,
}

/// The state of an entry, as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// A passive-side request waiting for its third ACK.
    Pending {
        /// When the request expires (see [`TokenTable::expire_pending`]).
        expires: Instant,
    },
    /// A connection; MP_JOINs for this token are routed to it.
    Established,
}

/// What [`TokenTable::remove`] took out of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed<V> {
    /// A pending request's entry.
    Pending,
    /// A connection's entry, with its value.
    Established(V),
}

#[derive(Clone)]
struct Slot<V> {
    id: EntryId,
    state: SlotState<V>,
}

#[derive(Clone)]
enum SlotState<V> {
    Pending { expires: Instant },
    Established(V),
}

/// The process-wide token table: `Send + Sync`, shared (e.g. in an `Arc`) by every endpoint.
///
/// `V` is what an endpoint stores with an established entry so that an MP_JOIN arriving anywhere
/// can be routed to the right endpoint and connection (e.g. an endpoint index and a connection
/// handle); [`lookup`](Self::lookup) returns a clone of it, made under the shard's read lock, so
/// `V::clone` must be cheap and must not touch the table.
///
/// # Concurrency
///
/// The map is sharded (`dashmap`): every shard is an `RwLock`ed hash map and a token belongs to
/// exactly one shard. Allocation takes the token's shard write lock once per attempt, checks
/// that the token is absent from *both* states and inserts it under that same lock, so two
/// threads can never obtain the same token (the seed holds one global lock across its two
/// lookups and the insertion; one map with a state per entry gives the same guarantee with one
/// lookup). [`lookup`](Self::lookup) takes only its shard's read lock: lookups never block each
/// other, and a writer delays only readers of its own shard.
///
/// Tokens are hashed with a fixed multiplicative mix, not a keyed hash: stored tokens come out
/// of SHA-1/SHA-256 over keys derived from a secret, so a peer cannot choose them to crowd one
/// bucket, and a lookup of an arbitrary token costs one probe sequence whatever its value.
///
/// # Counters
///
/// The table counts, in its own [`AtomicCounters`] ([`stats`](Self::stats)), what only it
/// knows: `MPFallbackTokenInit` (an allocation gave up) and the extra `TokenCollision` (a
/// generated token was in use or zero); both are rare. [`lookup`](Self::lookup) counts nothing:
/// the caller counts `MPJoinNoTokenFound` in its own [`Counters`](crate::stats::Counters) when it
/// gets `None`. Misses are what a flood of forged MP_JOIN SYNs produces, and a shared atomic
/// counter on that path would make every thread that handles them fight over one cache line
/// (the kernel uses per-CPU counters for the same reason). Endpoints count everything else
/// (e.g. `MPCapableSYNTX` when the SYN actually leaves) themselves.
pub struct TokenTable<V> {
    map: DashMap<Token, Slot<V>, TokenHashBuilder>,
    next_id: AtomicU64,
    max_attempts: u32,
    shards: usize,
    stats: AtomicCounters,
}

impl<V: Clone> TokenTable<V> {
    /// An independent copy of the table as it is now (entries, entry ids
    /// to come, counters): what one changes, the other does not see.
    pub fn deep_clone(&self) -> TokenTable<V> {
        let map = DashMap::with_capacity_and_hasher_and_shard_amount(
            self.map.len(),
            TokenHashBuilder,
            self.shards,
        );
        for e in self.map.iter() {
            map.insert(*e.key(), e.value().clone());
        }
        let stats = AtomicCounters::new();
        let snap = self.stats.snapshot();
        for &m in Mib::ALL {
            stats.add(m, snap.get(m));
        }
        TokenTable {
            map,
            next_id: AtomicU64::new(self.next_id.load(Ordering::Relaxed)),
            max_attempts: self.max_attempts,
            shards: self.shards,
            stats,
        }
    }

    /// Insert these keys' token as pending until `expires`, if it is
    /// unique and not zero: one attempt (the keys cannot change, as when a
    /// SYN cookie derived them).
    pub fn insert_pending(
        &self,
        keys: KeyMaterial,
        expires: Instant,
    ) -> Result<TokenHandle, TokenError> {
        if keys.token.0 == 0 {
            self.stats.inc(Mib::TokenCollision);
            return Err(TokenError::RetriesExhausted { attempts: 1 });
        }
        match self.map.entry(keys.token) {
            Entry::Occupied(_) => {
                self.stats.inc(Mib::TokenCollision);
                Err(TokenError::RetriesExhausted { attempts: 1 })
            }
            Entry::Vacant(vacant) => {
                let id = EntryId(self.next_id.fetch_add(1, Ordering::Relaxed));
                vacant.insert(Slot {
                    id,
                    state: SlotState::Pending { expires },
                });
                Ok(TokenHandle {
                    token: keys.token,
                    id,
                })
            }
        }
    }

    /// An empty table.
    pub fn new(config: TokenTableConfig) -> TokenTable<V> {
        TokenTable::with_capacity(config, 0)
    }

    /// An empty table with room for `capacity` entries.
    pub fn with_capacity(config: TokenTableConfig, capacity: usize) -> TokenTable<V> {
        let shards = config.shards.max(2).next_power_of_two();
        TokenTable {
            map: DashMap::with_capacity_and_hasher_and_shard_amount(
                capacity,
                TokenHashBuilder,
                shards,
            ),
            next_id: AtomicU64::new(0),
            max_attempts: config.max_attempts.max(1),
            shards,
            stats: AtomicCounters::new(),
        }
    }

    /// Active side (`connect`): generate keys until one gives a unique, non-zero token and insert
    /// it as `Established` with `value`, since the active side's connection exists from connect
    /// on (the seed's `mptcp_connect_init`).
    ///
    /// RFC 8684 §3.1: the key MUST be unique for the sending host across all its current MPTCP
    /// connections; an implementation SHOULD check its tokens for collisions before sending a
    /// key. On [`TokenError::RetriesExhausted`] the connection falls back to plain TCP.
    pub fn allocate_active<K: KeySource + ?Sized>(
        &self,
        keys: &K,
        tuple: &FourTuple,
        version: MptcpVersion,
        value: V,
    ) -> Result<Allocation, TokenError> {
        self.allocate(keys, tuple, version, SlotState::Established(value))
    }

    /// Passive side (a SYN with MP_CAPABLE): allocate like
    /// [`allocate_active`](Self::allocate_active) but insert a `Pending` entry owned by this
    /// request and expiring at `expires`. Joins for the token are refused until
    /// [`promote`](Self::promote).
    pub fn allocate_passive<K: KeySource + ?Sized>(
        &self,
        keys: &K,
        tuple: &FourTuple,
        version: MptcpVersion,
        expires: Instant,
    ) -> Result<Allocation, TokenError> {
        self.allocate(keys, tuple, version, SlotState::Pending { expires })
    }

    fn allocate<K: KeySource + ?Sized>(
        &self,
        keys: &K,
        tuple: &FourTuple,
        version: MptcpVersion,
        state: SlotState<V>,
    ) -> Result<Allocation, TokenError> {
        // A source serving one shard of N keeps one key in N on average:
        // the budget grows with N so that giving up stays as unlikely as
        // with one shard ((1 - 1/N)^(32 N) < e^-32).
        let shard = keys.shard();
        let budget = self.max_attempts.saturating_mul(shard.count());
        for attempt in 1..=budget {
            let material = keys.next_material(tuple, version);
            // Token 0 is never issued (Linux treats it as busy, too).
            if material.token.0 == 0 {
                self.stats.inc(Mib::TokenCollision);
                continue;
            }
            if !shard.contains(material.token) {
                // Another shard's token: not a collision, draw again.
                continue;
            }
            // The uniqueness check and the insertion happen under one shard write lock.
            match self.map.entry(material.token) {
                Entry::Occupied(_) => self.stats.inc(Mib::TokenCollision),
                Entry::Vacant(vacant) => {
                    let id = EntryId(self.next_id.fetch_add(1, Ordering::Relaxed));
                    vacant.insert(Slot { id, state });
                    return Ok(Allocation {
                        handle: TokenHandle {
                            token: material.token,
                            id,
                        },
                        keys: material,
                        attempts: attempt,
                    });
                }
            }
        }
        self.stats.inc(Mib::MPFallbackTokenInit);
        Err(TokenError::RetriesExhausted { attempts: budget })
    }

    /// Passive side, on the third ACK: turn the request's pending entry into an established one
    /// carrying `value`, re-checking under the shard lock as the original does.
    ///
    /// Fails, changing nothing, with [`TokenError::NotFound`] if the entry is gone (removed or
    /// swept), [`TokenError::WrongRequest`] if the token now belongs to another request or
    /// connection, [`TokenError::NotPending`] if this entry was already promoted (a racing
    /// duplicate loses and the winner keeps its value). If `now` is at or past the entry's expiry
    /// the entry is removed and the result is [`TokenError::Expired`].
    pub fn promote(&self, handle: TokenHandle, value: V, now: Instant) -> Result<(), TokenError> {
        let token = handle.token;
        let Entry::Occupied(mut occupied) = self.map.entry(token) else {
            return Err(TokenError::NotFound { token });
        };
        let slot = occupied.get_mut();
        if slot.id != handle.id {
            return Err(TokenError::WrongRequest { token });
        }
        match slot.state {
            SlotState::Established(_) => Err(TokenError::NotPending { token }),
            SlotState::Pending { expires } if now >= expires => {
                occupied.remove();
                Err(TokenError::Expired { token })
            }
            SlotState::Pending { .. } => {
                slot.state = SlotState::Established(value);
                Ok(())
            }
        }
    }

    /// Remove the entry named by `handle`: when a pending request is dropped or expires, or
    /// when a connection closes. Fails with [`TokenError::NotFound`] if it is already gone and
    /// [`TokenError::WrongRequest`] if the token now belongs to someone else (which is left in
    /// place).
    pub fn remove(&self, handle: TokenHandle) -> Result<Removed<V>, TokenError> {
        let token = handle.token;
        let Entry::Occupied(occupied) = self.map.entry(token) else {
            return Err(TokenError::NotFound { token });
        };
        if occupied.get().id != handle.id {
            return Err(TokenError::WrongRequest { token });
        }
        Ok(match occupied.remove().state {
            SlotState::Pending { .. } => Removed::Pending,
            SlotState::Established(v) => Removed::Established(v),
        })
    }

    /// Route an MP_JOIN SYN: the value of the *established* entry with this token.
    ///
    /// Returns `None` when there is no entry or only a pending one: joins are accepted only for
    /// connections whose MP_CAPABLE handshake completed (RFC 8684 §3.2: MP_JOIN uses the keys
    /// exchanged in that handshake), and Linux does not look at request sockets either. The
    /// caller then counts `MPJoinNoTokenFound` and answers with a RST (RFC 8684 §3.2: "If the
    /// token is unknown ..."). Takes only the token's shard read lock and writes no shared state.
    pub fn lookup(&self, token: Token) -> Option<V> {
        self.map.get(&token).and_then(|slot| match &slot.state {
            SlotState::Established(v) => Some(v.clone()),
            SlotState::Pending { .. } => None,
        })
    }

    /// The state of the entry with this token, if any (for diagnostics and tests; uncounted).
    pub fn state(&self, token: Token) -> Option<EntryState> {
        self.map.get(&token).map(|slot| match slot.state {
            SlotState::Pending { expires } => EntryState::Pending { expires },
            SlotState::Established(_) => EntryState::Established,
        })
    }

    /// Whether any entry, pending or established, holds this token.
    pub fn contains(&self, token: Token) -> bool {
        self.map.contains_key(&token)
    }

    /// Remove every pending entry whose expiry is at or before `now`; returns how many.
    ///
    /// A backstop sweep, O(entries), taking each shard's write lock in turn: the owner of a
    /// request normally removes its own entry with [`remove`](Self::remove) when its timer
    /// fires. A promotion arriving after the sweep fails with [`TokenError::NotFound`].
    pub fn expire_pending(&self, now: Instant) -> usize {
        let mut removed = 0;
        self.map.retain(|_, slot| match slot.state {
            SlotState::Pending { expires } if expires <= now => {
                removed += 1;
                false
            }
            _ => true,
        });
        removed
    }

    /// Number of entries, pending and established (a sum over shards, not an atomic snapshot).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every token in the table with its state (a walk over the shards, not an atomic snapshot).
    pub fn entries(&self) -> Vec<(Token, EntryState)> {
        self.map
            .iter()
            .map(|r| {
                let state = match r.value().state {
                    SlotState::Pending { expires } => EntryState::Pending { expires },
                    SlotState::Established(_) => EntryState::Established,
                };
                (*r.key(), state)
            })
            .collect()
    }

    /// The retry budget of one allocation.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The table's own counters (see the type's documentation).
    pub fn stats(&self) -> &AtomicCounters {
        &self.stats
    }
}

impl<V: Clone> Default for TokenTable<V> {
    fn default() -> TokenTable<V> {
        TokenTable::new(TokenTableConfig::default())
    }
}

impl<V> core::fmt::Debug for TokenTable<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenTable")
            .field("entries", &self.map.len())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Builds [`TokenHasher`]s.
#[derive(Clone, Copy, Debug, Default)]
struct TokenHashBuilder;

impl BuildHasher for TokenHashBuilder {
    type Hasher = TokenHasher;
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher(0)
    }
}

/// A multiply-fold hash for `u32` tokens (see [`TokenTable`] on why it need not be keyed).
/// The 128-bit product spreads every token bit into both the low bits (bucket index) and the
/// high bits (dashmap's shard choice and hashbrown's control tag).
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached if `Token`'s `Hash` ever stops being a single `write_u32`.
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
