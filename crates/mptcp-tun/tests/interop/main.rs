//! Interoperability with the Linux kernel's MPTCP, on this machine.
//!
//! Every test builds its own network namespace (a [`TunLab`]) with TUN
//! devices inside; our stack attaches to them from a thread in that
//! namespace, the kernel's sockets live there too, and nothing is sent
//! outside it. The kernel's own view (`MPTCP_INFO`, the namespace's
//! `MPTcpExt` counters) is the oracle next to our counters.
//!
//! They need root. Without it each test prints one `SKIPPED` line; under
//! `CI=true` it fails instead.
//!
//! [`TunLab`]: mptcp_tun::lab::TunLab

mod client;
mod close;
mod corrupt;
mod failover;
mod join_hole;
mod matrix;
mod server;
mod signals;
mod support;
