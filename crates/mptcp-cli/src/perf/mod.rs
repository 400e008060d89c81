//! `mptcp perf`: throughput tests speaking the iperf3 protocol, over any
//! transport.
//!
//! The client measures against a stock `iperf3 -s` (or our server); the
//! server serves a stock `iperf3 -c` (or our client). TCP tests only:
//! forward and reverse (`-R`), by time (`-t`) or by bytes (`-n`), with one
//! or more parallel streams (`-P`).
//!
//! The transport is a parameter: [`Transport`] opens connections for the
//! client, [`Acceptor`] accepts them for the server. [`tcp`] has the
//! kernel's (TCP, or MPTCP with `IPPROTO_MPTCP` sockets); our userspace
//! stack plugs in the same way and can add per-subflow counters to the
//! interval reports through [`Transport::subflows`].
//!
//! # The protocol, as implemented
//! 1. The client connects the control connection and sends the cookie.
//! 2. The server sends `PARAM_EXCHANGE`; the client sends its parameters.
//! 3. The server sends `CREATE_STREAMS`; the client connects each data
//!    stream and sends the cookie on it. Streams are numbered 1, 3, 4, ...
//!    in connection order at both ends.
//! 4. The server sends `TEST_START` and `TEST_RUNNING`; data flows.
//! 5. The client sends `TEST_END` when its time is up or its bytes are
//!    through (sent, or received with `-R`).
//! 6. The server sends `EXCHANGE_RESULTS`; the client sends its results,
//!    the server its own and `DISPLAY_RESULTS`; the client ends with
//!    `IPERF_DONE`.
//!
//! Counting: the sender counts bytes as its transport accepts them. A
//! receiver of ours also counts what is still in flight at `TEST_END`: a
//! receiving client reads until the server closes its streams, a
//! receiving server until each stream has delivered what the client's
//! results say it sent (both bounded by a short deadline). So between
//! two ends of ours sent and received agree exactly; a stock iperf3
//! receiver stops counting at `TEST_END`.

pub mod args;
pub mod client;
mod clock;
pub mod command;
mod data;
pub mod error;
mod format;
pub mod protocol;
pub mod report;
pub mod server;
pub mod tcp;
#[cfg(test)]
mod tests;
pub mod tun;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub use args::Args;
pub use command::run;

/// How the client opens connections (control and data).
pub trait Transport: Send + Sync + 'static {
    /// A connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Open a connection to the server.
    fn connect(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;

    /// Per-subflow counters of a stream for interval reports (empty for
    /// plain TCP).
    fn subflows(&self, _stream: &Self::Stream) -> Vec<SubflowSample> {
        Vec::new()
    }

    /// The local address of a stream, for the "connected" lines.
    fn local_addr(&self, _stream: &Self::Stream) -> Option<SocketAddr> {
        None
    }

    /// Called once on the control connection. It carries small messages
    /// that each wait for an answer, so a transport should send them at
    /// once (TCP's `TCP_NODELAY`); by default nothing is done.
    fn tune_control(&self, _stream: &Self::Stream) {}
}

/// How the server accepts connections.
pub trait Acceptor: Send + 'static {
    /// A connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Accept the next connection and tell who made it. Must be cancel
    /// safe (the server selects over it and drops it when something else
    /// happens first): a dropped call loses no connection.
    fn accept(
        &mut self,
    ) -> impl Future<Output = std::io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// Per-subflow counters of a stream for interval reports (empty for
    /// plain TCP).
    fn subflows(&self, _stream: &Self::Stream) -> Vec<SubflowSample> {
        Vec::new()
    }

    /// The local address of a stream, for the "connected" lines.
    fn local_addr(&self, _stream: &Self::Stream) -> Option<SocketAddr> {
        None
    }

    /// Called once on the control connection. It carries small messages
    /// that each wait for an answer, so a transport should send them at
    /// once (TCP's `TCP_NODELAY`); by default nothing is done.
    fn tune_control(&self, _stream: &Self::Stream) {}
}

/// One subflow's counters at one moment. Counters (`bytes_*`,
/// `retransmits`) only grow over the subflow's life; the interval
/// reports show their differences.
#[derive(Clone, Debug, PartialEq)]
pub struct SubflowSample {
    /// Subflow's local address.
    pub local: SocketAddr,
    /// Subflow's remote address.
    pub remote: SocketAddr,
    /// Payload bytes sent on the subflow.
    pub bytes_sent: u64,
    /// Payload bytes received on the subflow.
    pub bytes_received: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Smoothed round-trip time, microseconds.
    pub srtt_us: u64,
    /// Congestion window, bytes.
    pub cwnd: u64,
}

/// Test length when neither time nor bytes are given (iperf3's).
pub const DEFAULT_TIME: Duration = Duration::from_secs(10);
/// How long we wait for the peer at any protocol step outside the
/// measurement, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the client measures.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// The server's control address.
    pub server: SocketAddr,
    /// Run this long (time mode). With neither `time` nor `bytes`:
    /// [`DEFAULT_TIME`].
    pub time: Option<Duration>,
    /// Move this many bytes in all (byte mode).
    pub bytes: Option<u64>,
    /// The server sends (`-R`).
    pub reverse: bool,
    /// Number of data streams (1 to 128).
    pub parallel: usize,
    /// Read/write size (1 byte to 1 MiB).
    pub block_len: usize,
    /// Interval between reports; zero: none.
    pub interval: Duration,
    /// One JSON document at the end instead of text.
    pub json: bool,
    /// How long to wait for the server at each protocol step.
    pub timeout: Duration,
}

impl ClientOptions {
    /// iperf3's defaults: 10 s, one stream, 128 KiB blocks, a report
    /// every second.
    pub fn new(server: SocketAddr) -> ClientOptions {
        ClientOptions {
            server,
            time: None,
            bytes: None,
            reverse: false,
            parallel: 1,
            block_len: protocol::DEFAULT_BLOCK_LEN,
            interval: Duration::from_secs(1),
            json: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// How the server serves.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerOptions {
    /// Serve one test, then return (`-1`).
    pub one_off: bool,
    /// Interval between reports; zero: none.
    pub interval: Duration,
    /// One JSON document per test instead of text.
    pub json: bool,
    /// How long to wait for a client at each protocol step.
    pub timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            one_off: false,
            interval: Duration::from_secs(1),
            json: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}
