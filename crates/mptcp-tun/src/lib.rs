//! The Linux runtime of the userspace MPTCP stack.
//!
//! The engine (`mptcp-proto`) runs in a driver task that owns one
//! [`Endpoint`](mptcp_proto::endpoint::Endpoint) and the TUN devices it
//! speaks through, one per path. This is the only crate that touches the
//! operating system or uses `unsafe` (the TUN ioctls, rtnetlink, network
//! namespaces and the kernel's MPTCP socket options, each wrapped in a safe
//! function), and the one place that reads the real clock.
//!
//! A path is a TUN device and the address our stack uses on it: the kernel
//! routes packets for that address into the device, where the stack reads
//! them; what the stack writes comes out of the device into the kernel's
//! IP layer, as if from a neighbour. So the peer can be the local kernel
//! (its MPTCP, in the same network namespace) or anything it routes to.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mptcp_tun::{MptcpStream, Stack};
//! use tokio::io::AsyncWriteExt;
//!
//! let stack = Stack::builder()
//!     .path("mptcp0", "10.200.0.2".parse().unwrap())
//!     .path("mptcp1", "10.200.1.2".parse().unwrap())
//!     .build()?;
//! let mut stream = MptcpStream::connect(&stack, "10.200.0.1:5201".parse().unwrap()).await?;
//! stream.write_all(&[0u8; 1 << 20]).await?;
//! stream.shutdown().await?;
//! stream.closed().await?;
//! for sf in stream.info()?.subflows {
//!     println!("{} -> {}: {} bytes", sf.tuple.local, sf.tuple.remote, sf.bytes_acked);
//! }
//! # Ok(()) }
//! ```

mod device;
mod driver;
mod gso;
pub mod lab;
mod links;
mod listener;
mod routes;
mod shared;
mod stack;
mod stream;
mod sys;

pub use device::{DeviceStats, PathConfig};
pub use listener::MptcpListener;
pub use mptcp_proto::congestion::CcAlgorithm;
pub use mptcp_proto::connection::{
    ConnectionError, ConnectionInfo, FallbackReason, MptcpInfo, SubflowInfo,
};
pub use mptcp_proto::crypto::MptcpVersion;
pub use mptcp_proto::pm::{EndpointFlags, PmEndpoint, PmEvent, PmKind, PmLimits};
pub use mptcp_proto::scheduler::SchedulerKind;
pub use mptcp_proto::stats::{Counters, Mib};
pub use mptcp_proto::subflow::{TcpFeatures, TcpState};
pub use shared::DriverStats;
pub use stack::{PmEvents, Stack, StackBuilder};
pub use stream::{MptcpStream, ReadHalf, WriteHalf};
/// The addresses configured on a network interface of this namespace
/// (`getifaddrs(3)`; none if it does not exist), as the runtime's device
/// watcher sees them.
pub use sys::ifaddrs::addresses as interface_addresses;

/// If `fd` is a pipe, ask the kernel for a buffer of `bytes` (as
/// `F_SETPIPE_SZ`): a tool relaying a pipe then reads and writes it in
/// large pieces rather than the default 64 KiB. Returns the pipe's size
/// then, or `None` if `fd` is no pipe or the kernel refused.
pub fn grow_pipe(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> Option<usize> {
    sys::grow_pipe(fd, bytes)
}

/// Raise this process's soft limit on open files to its hard limit (a
/// server relaying many connections to TCP holds a descriptor for each);
/// returns the limit in force then.
pub fn raise_open_files() -> std::io::Result<u64> {
    sys::raise_open_files()
}
