//! The Linux runtime of the userspace MPTCP stack.
//!
//! The engine (`mptcp-proto`) runs in a driver task that owns one
//! [`Endpoint`](mptcp_proto::endpoint::Endpoint) and the TUN devices it
//! speaks through, one per path. This is the only crate that touches the
//! operating system or uses `unsafe` (the TUN ioctls, network namespaces and
//! the kernel's MPTCP socket options, each wrapped in a safe function), and
//! the one place that reads the real clock.

pub mod lab;
mod sys;
