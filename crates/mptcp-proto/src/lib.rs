//! The sans-IO MPTCP engine.
//!
//! Foundations so far:
//! - [`crypto`]: keys, tokens, IDSNs and the MP_JOIN / ADD_ADDR HMACs (RFC 8684, RFC 6824);
//! - [`token`]: local key generation and the shared token table (connection initiation);
//! - [`stats`]: counters named after the Linux kernel's MPTCP MIB;
//! - [`error`]: error types;
//! - [`time`]: the engine's microsecond clock types.
#![forbid(unsafe_code)]

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
pub mod token;

pub use time::{Duration, Instant};
