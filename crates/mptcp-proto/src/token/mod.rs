//! Connection initiation: local keys, tokens and the shared token table (the seed,
//! `mptcp_connect_init`, in this design).
//!
//! - [`KeyGenerator`]: the local key is SipHash-2-4, keyed by a per-endpoint 128-bit secret, over
//!   the 4-tuple and a counter that advances on every attempt (IPv4 and IPv6 forms; the exact
//!   bytes are documented in [`keygen`]). It implements [`KeySource`], which tests replace to
//!   force collisions. [`KeyGenerator::with_shard`] makes it serve one [`Shard`] of several:
//!   the table then keeps only keys whose token names that shard, so the owner of a connection
//!   is known from any MP_JOIN's token ([`Shard::owner`]).
//! - Token and IDSN come from the key through [`crate::crypto`], for the connection's version.
//! - [`TokenTable`]: one map whose entries are `Pending` (passive side, between SYN and third
//!   ACK) or `Established`; a token is unique across both, and the uniqueness check and the
//!   insertion are one atomic step.
//!
//! # Lifecycle
//!
//! ```
//! use mptcp_proto::crypto::MptcpVersion;
//! use mptcp_proto::token::{FourTuple, KeyGenerator, TokenTable, Removed};
//! use mptcp_proto::{Duration, Instant};
//!
//! let table: TokenTable<u32> = TokenTable::default();
//! let keys = KeyGenerator::new([7; 16], 0);
//! let tuple = FourTuple::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap())
//!     .unwrap();
//!
//! // Active side: the entry is established at connect.
//! let client = table.allocate_active(&keys, &tuple, MptcpVersion::V1, 1).unwrap();
//! assert_eq!(table.lookup(client.keys.token), Some(1));
//!
//! // Passive side: pending on the SYN, promoted on the third ACK.
//! let now = Instant::ZERO;
//! let server = table
//!     .allocate_passive(&keys, &tuple, MptcpVersion::V1, now + Duration::from_secs(3))
//!     .unwrap();
//! assert_eq!(table.lookup(server.keys.token), None); // no joins before the third ACK
//! table.promote(server.handle, 2, now + Duration::from_millis(10)).unwrap();
//! assert_eq!(table.lookup(server.keys.token), Some(2));
//!
//! // Both connections close: their entries go with them.
//! assert_eq!(table.remove(client.handle), Ok(Removed::Established(1)));
//! assert_eq!(table.remove(server.handle), Ok(Removed::Established(2)));
//! assert!(table.is_empty());
//! ```

pub mod keygen;
mod table;

pub use keygen::{FourTuple, KeyGenerator, KeyInput, KeySource, Shard, key_input};
pub use table::{
    Allocation, DEFAULT_MAX_ATTEMPTS, DEFAULT_SHARDS, EntryId, EntryState, Removed, TokenHandle,
    TokenTable, TokenTableConfig,
};
