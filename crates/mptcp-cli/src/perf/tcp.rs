//! The kernel's transports: plain TCP, or MPTCP through `IPPROTO_MPTCP`
//! sockets (Linux 5.6 and later, with `net.mptcp.enabled = 1`).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{Acceptor, Transport};

/// `IPPROTO_MPTCP` (Linux).
const IPPROTO_MPTCP: i32 = 262;
/// Backlog of the listening socket.
const BACKLOG: i32 = 128;

/// Connections through the kernel: TCP, or MPTCP when `mptcp` is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpTransport {
    /// Open `IPPROTO_MPTCP` sockets (the kernel's MPTCP) instead of TCP.
    pub mptcp: bool,
}

impl Transport for TcpTransport {
    type Stream = TcpStream;

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let socket = match self.mptcp {
            false => return TcpStream::connect(addr).await,
            true => mptcp_socket(addr)?,
        };
        socket.set_nonblocking(true)?;
        TcpSocket::from_std_stream(socket.into())
            .connect(addr)
            .await
    }

    fn local_addr(&self, stream: &TcpStream) -> Option<SocketAddr> {
        stream.local_addr().ok()
    }

    fn tune_control(&self, stream: &TcpStream) {
        // Without it a state byte can wait for the delayed ACK of the
        // previous one (40 ms on Linux). Not fatal if it fails.
        let _ = stream.set_nodelay(true);
    }
}

/// A socket of the kernel's MPTCP, with a hint when the kernel has none.
fn mptcp_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let protocol = Protocol::from(IPPROTO_MPTCP);
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(protocol)).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open an MPTCP socket ({e}); is net.mptcp.enabled set?"),
        )
    })
}

/// A listening socket of the kernel: TCP, or MPTCP.
#[derive(Debug)]
pub struct TcpAcceptor {
    listener: TcpListener,
}

impl TcpAcceptor {
    /// Listen on `addr` (with `SO_REUSEADDR`; an unspecified IPv6 address
    /// accepts IPv4 too). Call within a tokio runtime.
    pub fn bind(addr: SocketAddr, mptcp: bool) -> std::io::Result<TcpAcceptor> {
        let socket = match mptcp {
            true => mptcp_socket(addr)?,
            false => Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?,
        };
        if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            socket.set_only_v6(false)?;
        }
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(TcpAcceptor {
            listener: TcpListener::from_std(socket.into())?,
        })
    }

    /// The address it listens on (with the port the kernel chose for 0).
    pub fn listen_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Acceptor for TcpAcceptor {
    type Stream = TcpStream;

    async fn accept(&mut self) -> std::io::Result<(TcpStream, SocketAddr)> {
        self.listener.accept().await
    }

    fn local_addr(&self, stream: &TcpStream) -> Option<SocketAddr> {
        stream.local_addr().ok()
    }

    fn tune_control(&self, stream: &TcpStream) {
        // Without it a state byte can wait for the delayed ACK of the
        // previous one (40 ms on Linux). Not fatal if it fails.
        let _ = stream.set_nodelay(true);
    }
}
