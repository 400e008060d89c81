//! Local key generation: SipHash-2-4 over the 4-tuple and a counter, keyed by a per-endpoint
//! secret (the seed's `mptcp_v4_get_key` / `mptcp_v6_get_key`).
//!
//! # The bytes hashed
//!
//! The SipHash-2-4 key is the 16-byte secret as given to [`KeyGenerator::new`], fed as in the
//! SipHash reference (`k0` = bytes 0..8 read little-endian, `k1` = bytes 8..16 read
//! little-endian). The message is, with "source" = the local host and "destination" = the peer:
//!
//! IPv4, 16 bytes:
//!
//! | offset | bytes | field                                   |
//! |-------:|------:|-----------------------------------------|
//! |      0 |     4 | destination address (network order)     |
//! |      4 |     4 | source address (network order)          |
//! |      8 |     2 | destination port (network order)        |
//! |     10 |     2 | source port (network order)             |
//! |     12 |     4 | seed counter (**little-endian**)        |
//!
//! IPv6, 40 bytes:
//!
//! | offset | bytes | field                                   |
//! |-------:|------:|-----------------------------------------|
//! |      0 |    16 | source address (network order)          |
//! |     16 |    16 | destination address (network order)     |
//! |     32 |     4 | seed counter (**little-endian**)        |
//! |     36 |     2 | source port (network order)             |
//! |     38 |     2 | destination port (network order)        |
//!
//! These are exactly the bytes the original hashes on a little-endian host (x86-64, arm64):
//! IPv4 is `siphash_2u64((u64)saddr << 32 | daddr, (u64)seed << 32 | sport << 16 | dport)` on the
//! raw `__be32`/`__be16` values, whose two words, stored little-endian, put the destination
//! first; IPv6 is `siphash()` over the packed struct `{ saddr, daddr, u32 seed, sport, dport }`.
//! Here the layout is fixed whatever the host's byte order. The key is the 64-bit SipHash
//! output, used as a number (it goes on the wire in network order like any MPTCP key).
//!
//! For the passive side the original hashed the SYN's addresses as they came
//! (`saddr` = the peer); this crate always hashes (local, peer), on both sides.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use siphasher::sip::SipHasher24;

use crate::crypto::{KeyMaterial, MptcpVersion, Token};

/// Which tokens a key source's keys may have: those whose value modulo
/// `count` is `index`. An engine that owns shard `index` of `count` issues
/// only such tokens, so any engine (or anything that can read an MP_JOIN's
/// token) finds the owner of a connection from its token alone, with
/// [`Shard::owner`] and no shared table. [`Shard::ALL`] (one shard) is no
/// constraint. For a power-of-two `count` this is the token's low bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Every token: the only shard of one.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// This shard's number.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether `token` belongs to this shard.
    pub fn contains(&self, token: Token) -> bool {
        token.0 % self.count == self.index
    }

    /// The shard of `count` that owns `token`.
    pub fn owner(token: Token, count: u32) -> Shard {
        let count = count.max(1);
        Shard {
            index: token.0 % count,
            count,
        }
    }
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::ALL
    }
}

/// The addresses and ports of a connection, seen from the local host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourTuple {
    /// An IPv4 connection.
    V4 {
        /// Local address.
        saddr: Ipv4Addr,
        /// Peer address.
        daddr: Ipv4Addr,
        /// Local port.
        sport: u16,
        /// Peer port.
        dport: u16,
    },
    /// An IPv6 connection.
    V6 {
        /// Local address.
        saddr: Ipv6Addr,
        /// Peer address.
        daddr: Ipv6Addr,
        /// Local port.
        sport: u16,
        /// Peer port.
        dport: u16,
    },
}

impl FourTuple {
    /// The tuple of a connection from `local` to `remote`; `None` when their families differ.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Option<FourTuple> {
        match (local, remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(FourTuple::V4 {
                saddr: *l.ip(),
                daddr: *r.ip(),
                sport: l.port(),
                dport: r.port(),
            }),
            (SocketAddr::V6(l), SocketAddr::V6(r)) => Some(FourTuple::V6 {
                saddr: *l.ip(),
                daddr: *r.ip(),
                sport: l.port(),
                dport: r.port(),
            }),
            _ => None,
        }
    }
}

/// The exact bytes hashed for one key (see the [module documentation](self)).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyInput {
    buf: [u8; 40],
    len: u8,
}

impl KeyInput {
    /// The message bytes fed to SipHash-2-4: 16 for IPv4, 40 for IPv6.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyInput(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// The bytes hashed for `tuple` with counter value `seed`.
pub fn key_input(tuple: &FourTuple, seed: u32) -> KeyInput {
    let mut buf = [0u8; 40];
    let len = match *tuple {
        FourTuple::V4 {
            saddr,
            daddr,
            sport,
            dport,
        } => {
            buf[0..4].copy_from_slice(&daddr.octets());
            buf[4..8].copy_from_slice(&saddr.octets());
            buf[8..10].copy_from_slice(&dport.to_be_bytes());
            buf[10..12].copy_from_slice(&sport.to_be_bytes());
            buf[12..16].copy_from_slice(&seed.to_le_bytes());
            16
        }
        FourTuple::V6 {
            saddr,
            daddr,
            sport,
            dport,
        } => {
            buf[0..16].copy_from_slice(&saddr.octets());
            buf[16..32].copy_from_slice(&daddr.octets());
            buf[32..36].copy_from_slice(&seed.to_le_bytes());
            buf[36..38].copy_from_slice(&sport.to_be_bytes());
            buf[38..40].copy_from_slice(&dport.to_be_bytes());
            40
        }
    };
    KeyInput { buf, len }
}

/// Where the token table gets candidate keys from. One call is one attempt: a source with a
/// counter advances it on every call, including each retry after a collision.
///
/// [`KeyGenerator`] is the real one; tests plug in sources that force collisions or token 0.
pub trait KeySource: Send + Sync {
    /// The next candidate key for a connection on `tuple`.
    fn next_key(&self, tuple: &FourTuple) -> u64;

    /// The next candidate key with its token and IDSN for `version`. The default derives them
    /// with [`KeyMaterial::derive`]; only a test source has reason to override it.
    fn next_material(&self, tuple: &FourTuple, version: MptcpVersion) -> KeyMaterial {
        KeyMaterial::derive(self.next_key(tuple), version)
    }

    /// The tokens this source's keys must have ([`Shard::ALL`] unless it
    /// serves one shard of several): the token table draws keys until one
    /// falls in it, with a retry budget scaled by the shard count.
    fn shard(&self) -> Shard {
        Shard::ALL
    }
}

/// The seed's key generator: SipHash-2-4 keyed by a per-endpoint secret over the 4-tuple and a
/// counter (the seed's `mptcp_seed`) that advances on every attempt.
///
/// The secret and the counter's starting value are injected: the runtime draws them from the
/// OS, tests fix them. The counter is atomic, so one generator can serve several threads.
pub struct KeyGenerator {
    hasher: SipHasher24,
    seed: AtomicU32,
    shard: Shard,
}

impl Clone for KeyGenerator {
    /// An independent generator with the same secret, continuing from the
    /// same counter value.
    fn clone(&self) -> KeyGenerator {
        KeyGenerator {
            hasher: self.hasher,
            seed: AtomicU32::new(self.seed.load(Ordering::Relaxed)),
            shard: self.shard,
        }
    }
}

impl KeyGenerator {
    /// A generator keyed by `secret`, whose first attempt uses counter value `seed_start`.
    pub fn new(secret: [u8; 16], seed_start: u32) -> KeyGenerator {
        KeyGenerator {
            hasher: SipHasher24::new_with_key(&secret),
            seed: AtomicU32::new(seed_start),
            shard: Shard::ALL,
        }
    }

    /// The same generator serving `shard`: the token table keeps only keys
    /// whose token falls in it (the seed's regeneration loop, with "unique
    /// and mine" for "unique").
    pub fn with_shard(mut self, shard: Shard) -> KeyGenerator {
        self.shard = shard;
        self
    }

    /// The key for `tuple` with counter value `seed`; a pure function (no counter advance).
    pub fn key_for(&self, tuple: &FourTuple, seed: u32) -> u64 {
        self.hasher.hash(key_input(tuple, seed).as_bytes())
    }

    /// Take the counter's current value and advance it by one (wrapping, like the seed's `u32`).
    pub fn next_seed(&self) -> u32 {
        self.seed.fetch_add(1, Ordering::Relaxed)
    }

    /// The counter value the next attempt will use.
    pub fn peek_seed(&self) -> u32 {
        self.seed.load(Ordering::Relaxed)
    }
}

impl KeySource for KeyGenerator {
    fn next_key(&self, tuple: &FourTuple) -> u64 {
        self.key_for(tuple, self.next_seed())
    }
    fn shard(&self) -> Shard {
        self.shard
    }
}

impl fmt::Debug for KeyGenerator {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyGenerator")
            .field("secret", &"<redacted>")
            .field("seed", &self.peek_seed())
            .field("shard", &self.shard)
            .finish()
    }
}

impl<K: KeySource + ?Sized> KeySource for &K {
    fn next_key(&self, tuple: &FourTuple) -> u64 {
        (**self).next_key(tuple)
    }
    fn next_material(&self, tuple: &FourTuple, version: MptcpVersion) -> KeyMaterial {
        (**self).next_material(tuple, version)
    }
    fn shard(&self) -> Shard {
        (**self).shard()
    }
}

impl<K: KeySource + ?Sized> KeySource for std::sync::Arc<K> {
    fn next_key(&self, tuple: &FourTuple) -> u64 {
        (**self).next_key(tuple)
    }
    fn next_material(&self, tuple: &FourTuple, version: MptcpVersion) -> KeyMaterial {
        (**self).next_material(tuple, version)
    }
    fn shard(&self) -> Shard {
        (**self).shard()
    }
}
