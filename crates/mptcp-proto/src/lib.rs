//! The sans-IO MPTCP engine.
#![forbid(unsafe_code)]

pub mod time;

pub use time::{Duration, Instant};
