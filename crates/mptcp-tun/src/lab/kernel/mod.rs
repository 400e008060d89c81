//! The Linux kernel's own MPTCP, as the peer in interop tests: sockets with
//! `IPPROTO_MPTCP`, and what the kernel tells about them (`MPTCP_INFO`,
//! `MPTCP_SUBFLOW_ADDRS`).
//!
//! Call these from inside [`Netns::run`](super::Netns::run) so that the
//! sockets live in the lab's namespace. The sockets are ordinary blocking
//! `std::net` sockets; for tokio, `set_nonblocking(true)` and
//! `tokio::net::TcpStream::from_std`.
//!
//! Observed on Linux 6.18 (and checked by the `lab` integration tests):
//! - `MPTCP_INFO` on a plain TCP socket fails with `EOPNOTSUPP`;
//! - on an MPTCP socket that fell back to TCP (peer without MPTCP) it fails
//!   with `EOPNOTSUPP` too: the kernel hands SOL_MPTCP options of a
//!   fallen-back socket to TCP, which does not know them. So an error means
//!   "not MPTCP (any more)"; [`MptcpInfo::fallback`] is not what reports a
//!   completed fallback;
//! - an MPTCP listener accepting a client without MPTCP returns a plain TCP
//!   socket (`SO_PROTOCOL` is TCP, [`is_mptcp`] false);
//! - on a listening MPTCP socket it succeeds, with token 0;
//! - the kernel returns 96 bytes; older kernels return fewer, and the
//!   missing fields read 0 (see [`MptcpInfo::len`]);
//! - the in-kernel path manager of a client opens extra subflows (and
//!   answers ADD_ADDRs) only once the connection is fully established,
//!   i.e. after the server acknowledged data: a client that waits for its
//!   join before writing anything waits for ever.

mod info;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

pub use info::{MptcpInfo, MptcpInfoFlags, mptcp_info, subflow_addrs};

/// `IPPROTO_MPTCP`.
pub const IPPROTO_MPTCP: i32 = 262;
/// `SOL_MPTCP`, the socket option level of MPTCP.
pub const SOL_MPTCP: i32 = 284;

/// The domain of `addr`.
fn domain_of(addr: &SocketAddr) -> Domain {
    if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// A new, unbound MPTCP stream socket (`socket(domain, SOCK_STREAM,
/// IPPROTO_MPTCP)`); fails with `EPROTONOSUPPORT`/`ENOPROTOOPT` if the
/// kernel has no MPTCP or `net.mptcp.enabled` is 0 in this namespace.
pub fn mptcp_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::STREAM, Some(Protocol::from(IPPROTO_MPTCP)))
}

/// A new stream socket: MPTCP if `mptcp`, plain TCP otherwise.
pub fn stream_socket(domain: Domain, mptcp: bool) -> io::Result<Socket> {
    if mptcp {
        mptcp_socket(domain)
    } else {
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
    }
}

/// Sets the socket's send buffer to `bytes` past `net.core.wmem_max`
/// (`SO_SNDBUFFORCE`, which needs CAP_NET_ADMIN): a writer then copies a
/// whole large write into the socket in one call, holding the socket's
/// lock all along.
pub fn force_send_buffer(socket: impl AsFd, bytes: usize) -> io::Result<()> {
    let bytes = libc::c_int::try_from(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "send buffer too large"))?;
    super::sys::setsockopt_int(
        socket.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUFFORCE,
        bytes,
    )
}

/// A listening socket bound to `addr` (port 0 picks one; see
/// `local_addr()`), MPTCP if `mptcp`, with `SO_REUSEADDR` and backlog 128.
pub fn listen(addr: SocketAddr, mptcp: bool) -> io::Result<TcpListener> {
    let socket = stream_socket(domain_of(&addr), mptcp)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Connects to `addr` (MPTCP if `mptcp`), giving up after `timeout`.
pub fn connect(addr: SocketAddr, mptcp: bool, timeout: Duration) -> io::Result<TcpStream> {
    let socket = stream_socket(domain_of(&addr), mptcp)?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// Like [`connect`], from the local address `local` (port 0: any port), so
/// that the initial subflow starts on the path that owns `local`.
pub fn connect_from(
    local: SocketAddr,
    addr: SocketAddr,
    mptcp: bool,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = stream_socket(domain_of(&addr), mptcp)?;
    socket.bind(&local.into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// Whether `fd` is an MPTCP socket (`SO_PROTOCOL` is `IPPROTO_MPTCP`). Stays
/// true after a fallback to TCP; use [`mptcp_info`] to tell those apart.
pub fn is_mptcp(fd: impl AsFd) -> io::Result<bool> {
    let protocol = SockRef::from(&fd).protocol()?;
    Ok(protocol == Some(Protocol::from(IPPROTO_MPTCP)))
}
