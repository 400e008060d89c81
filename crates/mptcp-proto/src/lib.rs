//! The sans-IO MPTCP engine: bytes and instants in, bytes and deadlines
//! out, no OS calls (see `docs/architecture.md` for the map).
//!
//! - [`endpoint`]: the entry point, one per host (or per shard): packets in
//!   and out, connections by handle, timers, events;
//! - [`connection`]: the data level of one MPTCP connection (or plain TCP),
//!   its subflows, DSS mappings, DATA_ACK, DATA_FIN, signals, fallback;
//! - [`subflow`]: a full TCP per subflow (RFC 9293 with SACK, RACK-TLP, PRR,
//!   RFC 6298 RTO, window scaling, timestamps, delivery-rate sampling);
//! - [`pm`]: the path manager (the kernel's endpoint model, a userspace
//!   policy, events with the kernel's names);
//! - [`scheduler`] and [`congestion`]: which subflow sends, and how much
//!   (LIA, OLIA, BALIA coupled within the groups shared-bottleneck detection
//!   finds; Reno, CUBIC, BBR);
//! - [`crypto`]: keys, tokens, IDSNs and the MP_JOIN / ADD_ADDR HMACs (RFC 8684, RFC 6824);
//! - [`token`]: local key generation and the shared token table (connection initiation),
//!   optionally for one shard of several;
//! - [`reassembly`], [`segment`]: out-of-order data and segment views;
//! - [`stats`]: counters named after the Linux kernel's MPTCP MIB;
//! - [`error`]: error types; [`random`], [`time`]: randomness and the
//!   microsecond clock, both injected; [`forge`]: crafted segments for the
//!   security tests and the fuzz target.
#![forbid(unsafe_code)]

mod chunks;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod forge;
pub mod pm;
pub mod random;
pub mod reassembly;
pub mod scheduler;
pub mod segment;
pub mod stats;
pub mod subflow;
pub mod time;
mod timer;
pub mod token;

pub use time::{Duration, Instant};

// The crate's one two-end test harness (`tests/support`), shared with the
// integration tests; it names the crate as they do.
#[cfg(test)]
extern crate self as mptcp_proto;
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;
