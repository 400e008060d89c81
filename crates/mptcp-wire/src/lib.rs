//! Wire formats for a userspace MPTCP stack.
#![forbid(unsafe_code)]

pub mod seq;

pub use seq::{DataSeq, SubflowSeq};
