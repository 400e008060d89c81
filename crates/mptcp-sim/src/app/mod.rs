//! The application on a simulated host: one connection carrying a
//! deterministic stream in either or both directions.
//!
//! Every byte read is checked against the stream as it arrives (delivered
//! bytes must be a prefix of the sent bytes), and both ends hash the stream,
//! so a transfer's integrity is known exactly.

pub mod stream;

use mptcp_proto::connection::{ConnectionError, ConnectionHandle};
use mptcp_proto::endpoint::{Endpoint, Event};
use mptcp_proto::random::Random;
use mptcp_proto::stats::Counters;
use mptcp_proto::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};
use stream::{StreamGen, StreamHash};

/// How the host takes part.
#[derive(Clone, Copy, Debug)]
pub enum AppRole {
    /// Connect from `local` to `remote` at `start`.
    Client {
        /// Local address.
        local: IpAddr,
        /// Server address.
        remote: SocketAddr,
        /// When to connect.
        start: Instant,
    },
    /// Accept the first connection.
    Server,
}

/// A range of I/O sizes; each call picks one uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeRange {
    /// Smallest size (at least 1).
    pub min: usize,
    /// Largest size.
    pub max: usize,
}

impl SizeRange {
    /// Always `n` bytes.
    pub const fn fixed(n: usize) -> SizeRange {
        SizeRange { min: n, max: n }
    }

    fn pick(self, rng: &mut Random) -> usize {
        let min = self.min.max(1);
        let max = self.max.max(min);
        min + rng.below((max - min + 1) as u64) as usize
    }
}

/// What the application does.
#[derive(Clone, Copy, Debug)]
pub struct AppConfig {
    /// Client or server.
    pub role: AppRole,
    /// Bytes to send (0: none; the direction is then closed at once).
    pub send_bytes: u64,
    /// Seed of the stream this side sends.
    pub send_seed: u64,
    /// Seed of the stream the peer sends (to check what arrives).
    pub recv_seed: u64,
    /// Sizes of writes.
    pub write_size: SizeRange,
    /// Sizes of reads.
    pub read_size: SizeRange,
    /// Stop reading from `.0` for `.1`.
    pub read_pause: Option<(Instant, Duration)>,
    /// Seed of the I/O size choices.
    pub io_seed: u64,
    /// Check every byte read against the stream and hash both directions
    /// (on for tests; benchmarks of the engine turn it off).
    pub verify: bool,
}

/// One subflow as the application last saw it.
pub use mptcp_proto::connection::SubflowInfo as SubflowSnapshot;

/// The connection as the application last saw it.
#[derive(Clone, Debug, Default)]
pub struct ConnSnapshot {
    /// Every subflow.
    pub subflows: Vec<SubflowSnapshot>,
    /// Connection counters.
    pub mib: Counters,
    /// MPTCP details, if MPTCP was offered or accepted.
    pub mptcp: Option<MptcpSnapshot>,
}

/// What MPTCP negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MptcpSnapshot {
    /// Version in use.
    pub version: u8,
    /// Why the connection fell back to TCP, if it did.
    pub fallback: Option<&'static str>,
    /// Whether DSS checksums were in use.
    pub checksum: bool,
    /// Our token.
    pub local_token: Option<u32>,
    /// The peer's token.
    pub remote_token: Option<u32>,
}

/// The application's progress and findings.
#[derive(Clone, Debug, Default)]
pub struct AppStatus {
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// Bytes handed to the endpoint.
    pub written: u64,
    /// Bytes read.
    pub read: u64,
    /// When the end of stream was read.
    pub eof_at: Option<Instant>,
    /// When the last byte before the end of stream was read.
    pub last_byte_at: Option<Instant>,
    /// First offset where received data differed from the stream.
    pub mismatch: Option<u64>,
    /// How the connection ended, if it did (`Some(None)`: gracefully).
    pub closed: Option<Option<ConnectionError>>,
    /// Whether the application released the connection.
    pub released: bool,
    /// Statistics taken just before release (or on the last event).
    pub snapshot: ConnSnapshot,
}

/// A stream application.
pub struct StreamApp {
    config: AppConfig,
    conn: Option<ConnectionHandle>,
    rng: Random,
    shut: bool,
    gen_out: StreamGen,
    gen_in: StreamGen,
    tx_hash: StreamHash,
    rx_hash: StreamHash,
    status: AppStatus,
    scratch: Vec<u8>,
    /// When `drive` last ran (a pause's end is a wakeup only until then).
    last_drive: Instant,
}

impl StreamApp {
    /// An application that has not started.
    pub fn new(config: AppConfig) -> StreamApp {
        StreamApp {
            rng: Random::from_seed(config.io_seed),
            gen_out: StreamGen::new(config.send_seed),
            gen_in: StreamGen::new(config.recv_seed),
            config,
            conn: None,
            shut: false,
            tx_hash: StreamHash::default(),
            rx_hash: StreamHash::default(),
            status: AppStatus::default(),
            scratch: vec![0; 64 * 1024],
            last_drive: Instant::ZERO,
        }
    }

    /// Progress so far.
    pub fn status(&self) -> &AppStatus {
        &self.status
    }

    /// SHA-256 of what was written.
    pub fn sent_hash(&self) -> String {
        self.tx_hash.hex()
    }

    /// SHA-256 of what was read.
    pub fn received_hash(&self) -> String {
        self.rx_hash.hex()
    }

    /// The connection, once open or accepted.
    pub fn connection(&self) -> Option<ConnectionHandle> {
        self.conn
    }

    /// Whether the connection ended with an error.
    pub fn failed(&self) -> bool {
        matches!(self.status.closed, Some(Some(_)))
    }

    /// Whether the application is done: it released the connection, or the
    /// connection failed. A connection closed gracefully with data still
    /// unread is not done until the application read it.
    pub fn is_done(&self) -> bool {
        self.status.released || self.failed()
    }

    /// When the application next wants to run without network input.
    pub fn wakeup(&self) -> Option<Instant> {
        match self.config.role {
            AppRole::Client { start, .. } if self.conn.is_none() => return Some(start),
            _ => {}
        }
        let (from, len) = self.config.read_pause?;
        let resume = from + len;
        (self.conn.is_some() && self.status.eof_at.is_none() && self.last_drive < resume)
            .then_some(resume)
    }

    /// React to the endpoint: open, accept, write, read, close.
    pub fn drive(&mut self, now: Instant, ep: &mut Endpoint) {
        self.last_drive = now;
        self.open(now, ep);
        while let Some(ev) = ep.poll_event() {
            self.on_event(now, ep, ev);
        }
        let Some(h) = self.conn else { return };
        if self.status.released || self.failed() {
            return;
        }
        self.write(ep, h);
        self.read(now, ep, h);
        // Release once the peer finished and everything we sent is
        // acknowledged, so the snapshot sees the whole transfer.
        let drained = ep.connection(h).is_none_or(|c| c.data().send.is_empty());
        if self.status.eof_at.is_some() && self.shut && drained {
            self.snapshot(ep, h);
            let _ = ep.close(h);
            self.status.released = true;
        }
    }

    fn open(&mut self, now: Instant, ep: &mut Endpoint) {
        if let AppRole::Client {
            local,
            remote,
            start,
        } = self.config.role
            && self.conn.is_none()
            && now >= start
        {
            match ep.connect(now, local, remote) {
                Ok(h) => self.conn = Some(h),
                Err(_) => self.status.closed = Some(Some(ConnectionError::Aborted)),
            }
        }
    }

    fn on_event(&mut self, now: Instant, ep: &mut Endpoint, ev: Event) {
        match ev {
            Event::Incoming(_) if self.conn.is_none() => {
                self.conn = ep.accept();
                self.status.connected_at = Some(now);
            }
            Event::Connected(h) if Some(h) == self.conn => self.status.connected_at = Some(now),
            // A connection that closed gracefully may still hold data the
            // application has not read: reading goes on to the end of stream.
            Event::Closed(h, err) if Some(h) == self.conn => {
                self.snapshot(ep, h);
                self.status.closed = Some(err);
            }
            _ => {}
        }
    }

    fn write(&mut self, ep: &mut Endpoint, h: ConnectionHandle) {
        while self.status.written < self.config.send_bytes {
            let left = self.config.send_bytes - self.status.written;
            let want = (self.config.write_size.pick(&mut self.rng) as u64).min(left) as usize;
            let room = ep.connection(h).map_or(0, |c| c.send_capacity());
            let want = want.min(self.scratch.len()).min(room);
            if want == 0 {
                return;
            }
            if self.config.verify {
                self.gen_out
                    .fill(self.status.written, &mut self.scratch[..want]);
            }
            let n = ep.write(h, &self.scratch[..want]).unwrap_or(0);
            if self.config.verify {
                self.tx_hash.update(&self.scratch[..n]);
            }
            self.status.written += n as u64;
            if n < want {
                return;
            }
        }
        if !self.shut {
            self.shut = true;
            let _ = ep.shutdown(h);
        }
    }

    fn read(&mut self, now: Instant, ep: &mut Endpoint, h: ConnectionHandle) {
        if let Some((from, len)) = self.config.read_pause
            && now >= from
            && now < from + len
        {
            return;
        }
        while self.status.eof_at.is_none() {
            let want = self
                .config
                .read_size
                .pick(&mut self.rng)
                .min(self.scratch.len());
            match ep.read(h, &mut self.scratch[..want]) {
                Ok(Some(0)) => self.status.eof_at = Some(now),
                Ok(Some(n)) => {
                    let data = &self.scratch[..n];
                    if self.config.verify {
                        if self.status.mismatch.is_none() {
                            self.status.mismatch =
                                self.gen_in.first_mismatch(self.status.read, data);
                        }
                        self.rx_hash.update(data);
                    }
                    self.status.read += n as u64;
                    self.status.last_byte_at = Some(now);
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn snapshot(&mut self, ep: &Endpoint, h: ConnectionHandle) {
        let Some(conn) = ep.connection(h) else { return };
        let info = conn.info();
        self.status.snapshot = ConnSnapshot {
            subflows: info.subflows,
            mib: info.counters,
            mptcp: info.mptcp.map(|m| MptcpSnapshot {
                version: m.version.number(),
                fallback: m.fallback.map(|r| r.name()),
                checksum: m.checksum,
                local_token: Some(m.local.token.0),
                remote_token: m.remote.map(|r| r.token.0),
            }),
        };
    }
}
