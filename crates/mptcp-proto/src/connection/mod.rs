//! One application-level connection: a byte stream over one or more
//! subflows.
//!
//! The connection owns its subflows and a data level (send and receive
//! buffers in data sequence space, counters, MPTCP state). A subflow talks
//! to the data level only through [`SubflowOwner`], implemented by
//! [`owner::Owner`], which borrows the data level and that subflow's
//! per-path state for the duration of a call.
//!
//! Without MPTCP (disabled, or after fallback) the data level maps one to
//! one onto the first subflow's byte stream.

mod capable;
mod dss;
mod events;
mod info;
mod join;
pub mod mptcp;
mod owner;
pub mod path_state;
mod paths;
mod pm;
pub mod recv;
mod reinject;
mod sbd;
pub mod send;
mod signals;
mod timers;
mod transmit;

#[cfg(test)]
mod tests;

pub use capable::accept_syn as accept_capable_syn;
pub use capable::syn_ack_option as capable_syn_ack;
pub use info::{ConnectionInfo, MptcpInfo, SubflowInfo};
pub use join::find_syn as join_syn;
pub use mptcp::{FallbackReason, Mode, MptcpConfig};
pub use paths::{AddressError, PathRequest};

use crate::congestion::{SharedBottleneck, SubflowCcView};
pub use crate::error::ProtocolViolation;
use crate::pm::{EndpointFlags, PathManager, PmEvent, PmSetup};
use crate::random::Random;
use crate::scheduler::Scheduler;
use crate::stats::{Counters, Mib};
use crate::subflow::{Subflow, SubflowConfig};
use crate::time::Instant;
use crate::token::TokenHandle;
use mptcp::{MptcpConn, RemoteAddr};
use mptcp_wire::DataSeq;
use path_state::PathState;
use recv::RecvBuffer;
use send::SendBuffer;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Identifies a connection within its endpoint: a slot and the
/// generation of the connection in it, so that a handle kept after its
/// connection ended never reaches a newer connection in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: usize,
    generation: u32,
}

impl ConnectionHandle {
    pub(crate) const fn new(index: usize, generation: u32) -> ConnectionHandle {
        ConnectionHandle { index, generation }
    }

    /// The connection's slot in its endpoint (reused after it ends).
    pub const fn index(self) -> usize {
        self.index
    }

    /// Which of the connections that used this slot it is.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}.{}", self.index, self.generation)
    }
}

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the first SYN.
    Client,
    /// We answered it.
    Server,
}

/// Why a connection ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionError {
    /// The peer reset it (or fast-closed it).
    Reset,
    /// A middlebox altered data on the only path (a DSS checksum failed,
    /// RFC 8684 §3.7), and going on would have meant handing the altered
    /// bytes to the application: nothing after them was delivered.
    Corrupted,
    /// The peer refused it.
    Refused,
    /// Retransmissions were exhausted.
    TimedOut,
    /// We aborted it (the application asked, or a subflow could not go on
    /// for a reason of ours).
    Aborted,
    /// The peer broke the protocol: its last subflow was reset for this.
    ProtocolViolation(ProtocolViolation),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionError::Reset => "connection reset by peer",
            ConnectionError::Corrupted => "data altered on the path (DSS checksum failed)",
            ConnectionError::Refused => "connection refused",
            ConnectionError::TimedOut => "connection timed out",
            ConnectionError::Aborted => "connection aborted",
            ConnectionError::ProtocolViolation(v) => {
                return write!(f, "the peer broke the protocol: {v}");
            }
        })
    }
}

impl std::error::Error for ConnectionError {}

/// What the application should know, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// The handshake completed; data may flow.
    Connected,
    /// Data is ready to read.
    Readable,
    /// Buffer space freed up for writing.
    Writable,
    /// The peer finished sending (end of stream after the readable data).
    PeerClosed,
    /// The connection is over: `None` when both sides closed gracefully.
    Closed(Option<ConnectionError>),
}

/// Buffer sizes, subflow tunables and MPTCP settings.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionConfig {
    /// Send buffer bytes.
    pub send_buffer: usize,
    /// Receive buffer bytes (the most the connection advertises).
    pub recv_buffer: usize,
    /// Tunables of each subflow.
    pub subflow: SubflowConfig,
    /// MPTCP settings.
    pub mptcp: MptcpConfig,
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            send_buffer: 8 << 20,
            recv_buffer: 8 << 20,
            subflow: SubflowConfig::default(),
            mptcp: MptcpConfig::default(),
        }
    }
}

/// Where the connection stands, as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// The first subflow's handshake is under way.
    Handshaking,
    /// Data may flow.
    Open,
    /// Over.
    Closed(Option<ConnectionError>),
}

/// A subflow and its path state.
#[derive(Clone, Debug)]
pub struct PathEntry {
    /// The TCP machine.
    pub sf: Subflow,
    /// The MPTCP view of it.
    pub path: PathState,
}

/// The connection-level state a subflow's hooks may touch.
#[derive(Clone, Debug)]
pub struct DataLevel {
    /// Send buffer.
    pub send: SendBuffer,
    /// Receive buffer.
    pub recv: RecvBuffer,
    /// Counters named after the kernel's MIB.
    pub mib: Counters,
    /// How the data level maps onto subflows.
    pub mode: Mode,
    /// Which side we are.
    pub role: Role,
    events: VecDeque<ConnEvent>,
    readable_signalled: bool,
    peer_fin_signalled: bool,
    writable_wanted: bool,
    /// Subflows that are not closed.
    live_subflows: usize,
    /// Both streams still run one to one over the first subflow (no join
    /// was ever established, no data was reinjected, every mapping the
    /// peer sent there was aligned), so the connection may still fall
    /// back to TCP there (the kernel's `allow_infinite_fallback`).
    infinite_fallback_ok: bool,
    /// A hook found that the connection cannot go on: it ends with this
    /// error, every subflow reset.
    fatal: Option<ConnectionError>,
    /// A join got past its SYN (we answered one, or ours was answered):
    /// the peer may count a second subflow.
    join_answered: bool,
    /// Server: the keys arrived; the endpoint promotes the token entry.
    promote_token: bool,
    /// A token entry the endpoint should remove (after fallback).
    token_release: Option<TokenHandle>,
    /// Addresses the peer announced, for the path manager.
    join_requests: Vec<RemoteAddr>,
}

/// The connection's path manager and what it reported.
#[derive(Clone, Debug)]
struct PmState {
    /// The policy.
    manager: Box<dyn PathManager>,
    /// Whether it was told the connection is fully established.
    started: bool,
    /// The peer's announced addresses it accepted.
    accepted: Vec<RemoteAddr>,
    /// Events for the application, when asked for.
    events: Option<VecDeque<PmEvent>>,
    /// Whether `created` was reported.
    created: bool,
}

/// One connection.
#[derive(Clone, Debug)]
pub struct Connection {
    role: Role,
    config: ConnectionConfig,
    subflows: Vec<PathEntry>,
    data: DataLevel,
    state: ConnState,
    /// The application asked to close its sending direction.
    shutdown: bool,
    /// The application gave the connection up (no more reads or writes).
    released: bool,
    scheduler: Box<dyn Scheduler>,
    rng: Random,
    next_subflow_id: u32,
    /// The endpoint's addresses.
    local_addrs: Vec<IpAddr>,
    pm: PmState,
    /// Address ids of our addresses, 0 for the first subflow's.
    local_ids: Vec<(IpAddr, u8)>,
    /// Ids of the first subflow's address announced with another port:
    /// an endpoint of its own (the Linux kernel only echoes an ADD_ADDR
    /// with id 0 and never joins it).
    port_ids: Vec<(SocketAddr, u8)>,
    /// Our addresses whose subflows are backups (MP_JOIN flag B, MP_PRIO).
    backup_addrs: Vec<IpAddr>,
    path_requests: VecDeque<PathRequest>,
    rtx: timers::DataRtx,
    /// The connection's own deadlines (see [`timers::Timer`]).
    timers: timers::Timers,
    /// Data resent opportunistically reaches up to here.
    opportunistic_high: DataSeq,
    cc_scratch: Vec<SubflowCcView>,
    /// Shared bottleneck detection, when configured and the controller is
    /// coupled (created with the first sample).
    sbd: Option<SharedBottleneck>,
    last_now: Instant,
}

impl Connection {
    /// A connection around its first subflow; `mode` says whether MPTCP is
    /// off, or offered/accepted (with our keys); `setup` gives the path
    /// manager's addresses, endpoints and limits (see [`crate::pm`]).
    pub fn new(
        role: Role,
        config: ConnectionConfig,
        mut first: Subflow,
        mode: Mode,
        rng: Random,
        setup: PmSetup,
    ) -> Connection {
        let PmSetup {
            local_addrs,
            endpoints,
            limits,
        } = setup;
        let start = match &mode {
            Mode::Mptcp(mp) => mp.send_start(),
            _ => DataSeq(0),
        };
        if let Mode::Mptcp(mp) = &mode {
            first.set_option_reserve(transmit::dss_reserve(mp.checksum));
        }
        let first_local = first.tuple().local.ip();
        let mut local_ids = vec![(first_local, 0)];
        for e in &endpoints {
            if let Some(id) = e.id.filter(|_| e.addr != first_local) {
                local_ids.push((e.addr, id));
            }
        }
        let backup_addrs = endpoints
            .iter()
            .filter(|e| e.has(EndpointFlags::BACKUP))
            .map(|e| e.addr)
            .collect();
        let pm = PmState {
            manager: crate::pm::build(config.mptcp.pm.kind, limits, endpoints),
            started: false,
            accepted: Vec::new(),
            events: config.mptcp.pm.events.then(VecDeque::new),
            created: false,
        };
        Connection {
            role,
            config,
            subflows: vec![PathEntry {
                sf: first,
                path: PathState::new(path_state::PathKind::Initial, 0, 0, false),
            }],
            data: DataLevel {
                send: SendBuffer::new(start, config.send_buffer),
                recv: RecvBuffer::new(DataSeq(0), config.recv_buffer),
                mib: Counters::default(),
                mode,
                role,
                events: VecDeque::new(),
                readable_signalled: false,
                peer_fin_signalled: false,
                writable_wanted: false,
                live_subflows: 1,
                infinite_fallback_ok: true,
                fatal: None,
                join_answered: false,
                promote_token: false,
                token_release: None,
                join_requests: Vec::new(),
            },
            state: ConnState::Handshaking,
            shutdown: false,
            released: false,
            scheduler: config.mptcp.scheduler.build(),
            rng,
            next_subflow_id: 1,
            local_addrs,
            pm,
            local_ids,
            port_ids: Vec::new(),
            backup_addrs,
            path_requests: VecDeque::new(),
            rtx: timers::DataRtx::default(),
            timers: timers::Timers::default(),
            opportunistic_high: DataSeq(0),
            cc_scratch: Vec::new(),
            sbd: None,
            last_now: Instant::ZERO,
        }
    }

    /// Which side we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The overall state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The subflows, in creation order (closed ones included).
    pub fn subflows(&self) -> impl Iterator<Item = &Subflow> {
        self.subflows.iter().map(|e| &e.sf)
    }

    /// The subflows with their MPTCP state.
    pub fn paths(&self) -> impl Iterator<Item = &PathEntry> {
        self.subflows.iter()
    }

    /// The data level (buffers, counters, MPTCP state).
    pub fn data(&self) -> &DataLevel {
        &self.data
    }

    /// The MPTCP state, if MPTCP is in use.
    pub fn mptcp(&self) -> Option<&MptcpConn> {
        self.data.mode.mptcp()
    }

    /// Why the connection fell back to TCP, if it did.
    pub fn fallback(&self) -> Option<FallbackReason> {
        match self.data.mode {
            Mode::Fallback { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Whether the application released the connection.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Whether nothing remains to do: closed, every subflow closed, and no
    /// RST still to send.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, ConnState::Closed(_))
            && self.subflows.iter().all(|e| {
                e.sf.state() == crate::subflow::TcpState::Closed && !e.sf.has_pending_rst()
            })
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.data.events.pop_front()
    }

    /// Queue application data; returns how much was taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.write_with(data.len(), |send| send.write(data))
    }

    /// [`Connection::write`] without a copy of a large `data`: the send
    /// buffer keeps (a slice of) it until the peer acknowledges it, and
    /// segments are cut from it as views.
    pub fn write_bytes(&mut self, data: bytes::Bytes) -> usize {
        self.write_with(data.len(), |send| send.write_bytes(data))
    }

    fn write_with(&mut self, len: usize, put: impl FnOnce(&mut SendBuffer) -> usize) -> usize {
        if self.shutdown || matches!(self.state, ConnState::Closed(_)) {
            return 0;
        }
        if self.data.send.unsent() == 0 && len > 0 {
            // The application had run out of data (delivery rate sampling).
            for e in &mut self.subflows {
                e.sf.on_owner_idle();
            }
        }
        let n = put(&mut self.data.send);
        if n < len {
            self.data.writable_wanted = true;
        }
        n
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.data.send.free()
    }

    /// Whether everything written was acknowledged at the data level (the
    /// peer has it: with MPTCP, a DATA_ACK covers it). If not, a
    /// `Writable` event follows the next acknowledgment.
    pub fn flushed(&mut self) -> bool {
        let done = self.data.send.is_empty();
        if !done {
            self.data.writable_wanted = true;
        }
        done
    }

    /// Copy readable data into `buf`. Returns `Some(0)` at the end of the
    /// stream and `None` when nothing is readable yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.data.recv.read(buf);
        if n == 0 {
            self.data.readable_signalled = false;
            return self.data.recv.is_finished().then_some(0);
        }
        let space = self.data.recv.space();
        for e in &mut self.subflows {
            e.sf.on_receive_space(space);
        }
        if self.data.recv.readable() == 0 {
            self.data.readable_signalled = false;
        }
        self.arm_trim(self.last_now);
        Some(n)
    }

    /// Close the sending direction once the buffered data is sent
    /// (a FIN, or with MPTCP a DATA_FIN).
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Give the connection up gracefully: shut down, read no more.
    pub fn close(&mut self) {
        self.shutdown = true;
        self.released = true;
    }

    /// Reset the connection at once: RST on every subflow, with
    /// MP_FASTCLOSE when MPTCP is in use (RFC 8684 §3.5).
    pub fn abort(&mut self) {
        self.released = true;
        for e in &mut self.subflows {
            // A reset already decided keeps its MP_TCPRST reason.
            let cause = e.path.reset.and_then(path_state::OurReset::cause);
            e.path.reset = Some(path_state::OurReset::FastClose(cause));
            e.sf.abort();
        }
        self.finish(Some(ConnectionError::Aborted));
    }

    /// Counters of the connection.
    pub fn mib(&self) -> &Counters {
        &self.data.mib
    }

    fn finish(&mut self, err: Option<ConnectionError>) {
        if !matches!(self.state, ConnState::Closed(_)) {
            self.state = ConnState::Closed(err);
            self.data.events.push_back(ConnEvent::Closed(err));
            self.pm_closed();
        }
    }
}

impl DataLevel {
    /// Stop using MPTCP: the data level now follows the first subflow's
    /// byte stream from where it stands.
    ///
    /// Callers fall back only before the handshake ends or while
    /// [`DataLevel::may_fall_back`] holds: both streams then map one to one
    /// onto the first subflow from their first byte, so the subflow's
    /// acknowledgments count from the stream's start. After the handshake
    /// the peer is told with an infinite mapping.
    fn fall_back(&mut self, reason: FallbackReason) {
        let Mode::Mptcp(mp) = std::mem::replace(&mut self.mode, Mode::Plain) else {
            return;
        };
        self.token_release = mp.token;
        let told = matches!(
            reason,
            FallbackReason::NoCapableInSynAck
                | FallbackReason::NoCapableInAck
                | FallbackReason::InfiniteMapping
        );
        self.mode = Mode::Fallback {
            reason,
            dsn_base: mp.send_start(),
            acked_base: Some(0),
            keys: Some((mp.local, mp.remote)),
            version: mp.version,
            owed: mptcp::FallbackSignals {
                infinite_map: !told && mp.remote.is_some(),
                fail_echo: None,
                checksum: mp.checksum,
            },
            recv_start: if mp.is_established() {
                mp.recv_start()
            } else {
                None
            },
        };
    }

    /// After a fallback past the handshake (the peer's key known): where
    /// the peer's stream starts, its bytes mapping one to one onto the
    /// first subflow from there.
    fn fallback_recv_start(&self) -> Option<DataSeq> {
        match &self.mode {
            Mode::Fallback { recv_start, .. } => *recv_start,
            _ => None,
        }
    }

    /// Whether the connection may still fall back to TCP on its first
    /// subflow (RFC 8684 §3.7: only while all data is contiguous there).
    pub fn may_fall_back(&self) -> bool {
        self.infinite_fallback_ok && matches!(self.mode, Mode::Mptcp(_))
    }

    /// Whether we sent MP_FAIL and dropped what followed the failed
    /// mapping (RFC 8684 §3.7): the stream can no longer continue as TCP.
    pub(super) fn fail_pending(&self) -> bool {
        self.mode.mptcp().is_some_and(|m| m.fail_sent.is_some())
    }

    /// Whether a fallback decided here, alone, cannot leave the peer behind:
    /// [`DataLevel::may_fall_back`] and no join past its SYN (one the peer
    /// may already count as established: it could not follow).
    /// Otherwise a broken first subflow is reset, and the data goes on the
    /// others.
    pub fn may_fall_back_alone(&self) -> bool {
        self.may_fall_back() && !self.join_answered
    }

    /// Something broke the one-to-one run of the streams over the first
    /// subflow (a join, a reinjection, a misaligned mapping): no fallback
    /// from now on.
    pub(super) fn forbid_fallback(&mut self) {
        self.infinite_fallback_ok = false;
    }

    /// Data found at `dsn` (from any subflow).
    fn deliver(&mut self, dsn: DataSeq, bytes: &[u8]) {
        let (ins, advanced) = self.recv.insert(dsn, bytes);
        if ins.duplicate > 0 {
            self.mib.inc(Mib::DuplicateData);
        }
        if !advanced && ins.new > 0 {
            self.mib.inc(Mib::OFOQueue);
        }
        if ins.beyond_limit > 0 {
            self.mib.inc(Mib::RcvPruned);
        }
        if ins.pruned > 0 {
            self.mib.inc(Mib::OFOPruned);
        }
        if advanced && !self.readable_signalled {
            self.readable_signalled = true;
            self.events.push_back(ConnEvent::Readable);
        }
        self.note_peer_fin();
    }

    /// TCP mode: bytes that continue the stream.
    fn deliver_in_order(&mut self, bytes: &[u8]) {
        let at = self.recv.nxt();
        self.deliver(at, bytes);
    }

    /// Signal the end of the peer's stream once reached.
    fn note_peer_fin(&mut self) {
        if self.recv.is_eof() && !self.peer_fin_signalled {
            self.peer_fin_signalled = true;
            self.events.push_back(ConnEvent::PeerClosed);
        }
    }

    /// Acknowledged data freed buffer space.
    fn on_send_progress(&mut self) {
        if self.writable_wanted && self.send.free() > 0 {
            self.writable_wanted = false;
            self.events.push_back(ConnEvent::Writable);
        }
    }
}
