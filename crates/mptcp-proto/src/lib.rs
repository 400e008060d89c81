//! The sans-IO MPTCP engine.
//!
//! Foundations so far:
//! - [`crypto`]: keys, tokens, IDSNs and the MP_JOIN / ADD_ADDR HMACs (RFC 8684, RFC 6824);
//! - [`stats`]: counters named after the Linux kernel's MPTCP MIB;
//! - [`time`]: the engine's microsecond clock types.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod stats;
pub mod time;

pub use time::{Duration, Instant};
