//! The endpoint: every connection of one host, demultiplexed by 4-tuple.
//!
//! Sans-IO: packets and time go in ([`Endpoint::handle`],
//! [`Endpoint::handle_timeout`]), packets, deadlines and events come out
//! ([`Endpoint::poll_transmit`], [`Endpoint::poll_timeout`],
//! [`Endpoint::poll_event`]). After any input or application call, drain
//! `poll_transmit` until it returns `None`, then `poll_event`, then re-read
//! `poll_timeout`.

mod cookie;
mod input;
mod output;
mod pm;

pub use crate::error::Exhausted;
pub use cookie::{CookieJar, SynParams};

use crate::connection::{
    AddressError, Connection, ConnectionConfig, ConnectionError, ConnectionHandle, Role,
};
use crate::pm::{EndpointFlags, PmEndpoint, PmEvent};
use crate::random::Random;
use crate::stats::Counters;
use crate::subflow::{FourTuple, Subflow, SubflowId};
use crate::time::Instant;
use crate::token::{KeyGenerator, Shard, TokenTable, TokenTableConfig};
use mptcp_wire::{ResetReason, SubflowSeq};
use siphasher::sip::SipHasher24;
use slab::Slab;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Endpoint tunables.
#[derive(Clone, Copy, Debug)]
pub struct EndpointConfig {
    /// Seed of all the endpoint's randomness (the runtime draws it from the
    /// OS; tests fix it).
    pub seed: u64,
    /// Per-connection settings.
    pub connection: ConnectionConfig,
    /// Established server connections not yet accepted beyond which new
    /// connections are refused (the accept queue).
    pub backlog: usize,
    /// Half-open server connections (SYN received, handshake not complete)
    /// beyond which SYNs are answered statelessly, with SYN cookies.
    pub syn_backlog: usize,
    /// Ports used for outgoing connections.
    pub ephemeral_ports: (u16, u16),
    /// The tokens this endpoint's connections take: only those of this
    /// shard (a host running one endpoint per core, or a machine behind a
    /// balancer that routes joins by token, finds a connection's owner
    /// from its token alone; see [`Endpoint::steer`]). [`Shard::ALL`] by
    /// default.
    pub shard: Shard,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            seed: 0,
            connection: ConnectionConfig::default(),
            backlog: 128,
            syn_backlog: 128,
            ephemeral_ports: (32768, 60999),
            shard: Shard::ALL,
        }
    }
}

/// An application-facing event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An outgoing connection completed its handshake.
    Connected(ConnectionHandle),
    /// An incoming connection is ready to be taken with [`Endpoint::accept`].
    Incoming(ConnectionHandle),
    /// Data can be read.
    Readable(ConnectionHandle),
    /// Send buffer space freed up.
    Writable(ConnectionHandle),
    /// The peer finished sending.
    PeerClosed(ConnectionHandle),
    /// The connection ended (`None`: gracefully).
    Closed(ConnectionHandle, Option<ConnectionError>),
    /// A path-manager event, named as the kernel's (only with
    /// `MptcpConfig::pm.events`); the connection's handle, none for a
    /// listener's.
    Pm(Option<ConnectionHandle>, PmEvent),
}

/// A caller mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiMisuse {
    /// The handle names no connection (any more).
    UnknownConnection(ConnectionHandle),
    /// The local address is not one of the endpoint's.
    NotLocal(IpAddr),
    /// Local and remote addresses are of different families.
    FamilyMismatch,
    /// An address could not be marked backup or removed.
    Address(AddressError),
    /// Another path-manager endpoint has this id.
    EndpointIdTaken(u8),
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiMisuse::UnknownConnection(h) => write!(f, "unknown connection {h}"),
            ApiMisuse::NotLocal(a) => write!(f, "{a} is not a local address"),
            ApiMisuse::FamilyMismatch => f.write_str("address family mismatch"),
            ApiMisuse::Address(e) => e.fmt(f),
            ApiMisuse::EndpointIdTaken(id) => write!(f, "endpoint id {id} is taken"),
        }
    }
}

impl std::error::Error for ApiMisuse {}

/// Why [`Endpoint::connect`] failed: the caller's mistake, or a local
/// resource that ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The caller's mistake.
    Misuse(ApiMisuse),
    /// A local resource ran out.
    Exhausted(Exhausted),
}

impl From<ApiMisuse> for ConnectError {
    fn from(e: ApiMisuse) -> ConnectError {
        ConnectError::Misuse(e)
    }
}

impl From<Exhausted> for ConnectError {
    fn from(e: Exhausted) -> ConnectError {
        ConnectError::Exhausted(e)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Misuse(e) => e.fmt(f),
            ConnectError::Exhausted(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A packet written by [`Endpoint::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// Source address (picks the interface).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

/// Endpoint-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Packets received.
    pub packets_in: u64,
    /// Packets that did not parse as IP/TCP.
    pub malformed: u64,
    /// Packets that were not TCP, or were fragments.
    pub not_tcp: u64,
    /// Segments with a bad TCP checksum.
    pub bad_checksum: u64,
    /// RSTs sent for segments matching no connection.
    pub resets_sent: u64,
    /// SYNs (or cookie ACKs) dropped because the accept queue was full.
    pub syn_backlog_drops: u64,
    /// SYNs answered with a SYN cookie (the half-open backlog was full).
    pub syn_cookies_sent: u64,
    /// Cookie SYN-ACKs that could not be built (an address family the
    /// header writer refuses): dropped, the peer's SYN answered again
    /// when repeated.
    pub cookie_syn_acks_unsent: u64,
    /// Connections a valid SYN cookie opened.
    pub syn_cookies_accepted: u64,
    /// Connections opened by peers.
    pub passive_opens: u64,
    /// Connections we opened.
    pub active_opens: u64,
}

impl std::ops::AddAssign for EndpointStats {
    /// Sums (the endpoints of one host, one per shard).
    fn add_assign(&mut self, o: EndpointStats) {
        let EndpointStats {
            packets_in,
            malformed,
            not_tcp,
            bad_checksum,
            resets_sent,
            syn_backlog_drops,
            syn_cookies_sent,
            cookie_syn_acks_unsent,
            syn_cookies_accepted,
            passive_opens,
            active_opens,
        } = o;
        self.packets_in += packets_in;
        self.malformed += malformed;
        self.not_tcp += not_tcp;
        self.bad_checksum += bad_checksum;
        self.resets_sent += resets_sent;
        self.syn_backlog_drops += syn_backlog_drops;
        self.syn_cookies_sent += syn_cookies_sent;
        self.cookie_syn_acks_unsent += cookie_syn_acks_unsent;
        self.syn_cookies_accepted += syn_cookies_accepted;
        self.passive_opens += passive_opens;
        self.active_opens += active_opens;
    }
}

#[derive(Clone)]
struct Slot {
    conn: Connection,
    /// The generation of the handle naming this connection.
    generation: u32,
    /// A server connection whose handshake has not completed.
    half_open: bool,
    /// Counted in the accept queue (established, not accepted yet).
    awaiting_accept: bool,
    /// The deadline registered in the timer index.
    deadline: Option<Instant>,
    /// Whether it sits in the transmit queue.
    queued: bool,
    /// Whether the application knows the handle (connect, or accept).
    known: bool,
}

#[derive(Clone, Copy, Debug)]
struct ResetPlan {
    tuple: FourTuple,
    seq: SubflowSeq,
    ack: Option<SubflowSeq>,
    /// MP_TCPRST reason, when refusing an MP_JOIN.
    reason: Option<ResetReason>,
}

/// What an endpoint stores with its established tokens: enough to route
/// an MP_JOIN to the right endpoint and connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenOwner {
    /// The endpoint (see [`Endpoint::id`]).
    pub endpoint: u64,
    /// The connection within it.
    pub connection: ConnectionHandle,
    /// The endpoint's shard number ([`EndpointConfig::shard`]): where a
    /// host with one endpoint per shard sends the connection's joins.
    pub shard: u32,
}

/// Where a packet belongs on a host that runs one endpoint per shard, all
/// sharing one token table (see [`Endpoint::steer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steer {
    /// This endpoint handles it: one of its subflows, a new connection for
    /// a listener, or something no endpoint has (it answers).
    Here,
    /// The endpoint of this shard owns the connection an MP_JOIN SYN
    /// names.
    Shard(u32),
    /// A segment of a 4-tuple this endpoint does not know: another
    /// endpoint may (a subflow the device queued here after its flow was
    /// forgotten). Try the others before [`Endpoint::handle`] answers it.
    Elsewhere,
}

/// The token table endpoints share.
pub type SharedTokens = Arc<TokenTable<TokenOwner>>;

/// All connections of one host.
pub struct Endpoint {
    config: EndpointConfig,
    id: u64,
    rng: Random,
    tokens: SharedTokens,
    keys: Arc<KeyGenerator>,
    mib: Counters,
    isn_key: (u64, u64),
    addrs: Vec<(IpAddr, u16)>,
    listeners: BTreeSet<u16>,
    signal: Vec<(IpAddr, Option<u16>)>,
    /// The path manager's endpoints, once configured (until then they are
    /// derived: see [`Endpoint::add_endpoint`]).
    pm_endpoints: Option<Vec<PmEndpoint>>,
    /// Our addresses whose interface is down (see [`Endpoint::set_link`]).
    links_down: Vec<IpAddr>,
    conns: Slab<Slot>,
    tuples: HashMap<FourTuple, (usize, SubflowId)>,
    timers: BTreeSet<(Instant, usize)>,
    ready: VecDeque<usize>,
    resets: VecDeque<ResetPlan>,
    events: VecDeque<Event>,
    accept_queue: VecDeque<ConnectionHandle>,
    stats: EndpointStats,
    next_port: u16,
    /// The generation the next connection gets.
    next_generation: u32,
    /// Server connections whose handshake has not completed: bounded by
    /// the backlog; beyond it SYNs are answered with cookies.
    half_open: usize,
    /// Server connections established but not accepted by the application
    /// yet: bounded by the backlog too (the accept queue).
    unaccepted: usize,
    /// SYN cookies (RFC 4987 §3.6).
    cookies: CookieJar,
    /// Stateless SYN-ACKs to send.
    cookie_acks: VecDeque<input::CookieSynAck>,
    /// The latest time seen (for bookkeeping outside time-taking calls).
    last_now: Instant,
}

impl Clone for Endpoint {
    /// An independent copy: connections, timers, counters, and its own
    /// copy of the token table and key generator (an endpoint sharing a
    /// table with others gets a private copy). A fuzz target prepares a
    /// connection once and clones the endpoints for every input.
    fn clone(&self) -> Endpoint {
        Endpoint {
            config: self.config,
            id: self.id,
            rng: self.rng.clone(),
            tokens: Arc::new(self.tokens.deep_clone()),
            keys: Arc::new((*self.keys).clone()),
            mib: self.mib.clone(),
            isn_key: self.isn_key,
            addrs: self.addrs.clone(),
            listeners: self.listeners.clone(),
            signal: self.signal.clone(),
            pm_endpoints: self.pm_endpoints.clone(),
            links_down: self.links_down.clone(),
            conns: self.conns.clone(),
            tuples: self.tuples.clone(),
            timers: self.timers.clone(),
            ready: self.ready.clone(),
            resets: self.resets.clone(),
            events: self.events.clone(),
            accept_queue: self.accept_queue.clone(),
            stats: self.stats,
            next_port: self.next_port,
            next_generation: self.next_generation,
            half_open: self.half_open,
            unaccepted: self.unaccepted,
            cookies: self.cookies,
            cookie_acks: self.cookie_acks.clone(),
            last_now: self.last_now,
        }
    }
}

impl Endpoint {
    /// An endpoint with no addresses and no listeners, with its own token
    /// table.
    pub fn new(config: EndpointConfig) -> Endpoint {
        let tokens = Arc::new(TokenTable::new(TokenTableConfig::default()));
        Endpoint::with_tokens(config, tokens)
    }

    /// An endpoint sharing `tokens` with others (a multi-threaded server:
    /// tokens are unique across all of them, and an MP_JOIN names its
    /// endpoint through [`TokenOwner`]).
    pub fn with_tokens(config: EndpointConfig, tokens: SharedTokens) -> Endpoint {
        let mut rng = Random::from_seed(config.seed);
        let isn_key = (rng.next_u64(), rng.next_u64());
        let id = rng.next_u64();
        let cookie_key = (rng.next_u64(), rng.next_u64());
        let keys =
            Arc::new(KeyGenerator::new(rng.secret(), rng.next_u32()).with_shard(config.shard));
        let (lo, hi) = config.ephemeral_ports;
        let span = u64::from(hi.saturating_sub(lo)) + 1;
        let next_port = lo + rng.below(span) as u16;
        Endpoint {
            config,
            id,
            rng,
            tokens,
            keys,
            mib: Counters::default(),
            isn_key,
            addrs: Vec::new(),
            listeners: BTreeSet::new(),
            signal: Vec::new(),
            pm_endpoints: None,
            links_down: Vec::new(),
            conns: Slab::new(),
            tuples: HashMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            resets: VecDeque::new(),
            events: VecDeque::new(),
            accept_queue: VecDeque::new(),
            stats: EndpointStats::default(),
            next_port,
            next_generation: 0,
            half_open: 0,
            unaccepted: 0,
            cookies: CookieJar::new(cookie_key),
            cookie_acks: VecDeque::new(),
            last_now: Instant::ZERO,
        }
    }

    /// Use `addr` as a local address on an interface with this MTU.
    pub fn add_address(&mut self, addr: IpAddr, mtu: u16) {
        self.addrs.retain(|(a, _)| *a != addr);
        self.addrs.push((addr, mtu));
    }

    /// Accept connections to `port` on every local address.
    pub fn listen(&mut self, port: u16) {
        if self.listeners.insert(port) {
            self.pm_event(None, PmEvent::ListenerCreated { port });
        }
    }

    /// Stop accepting connections to `port` (those already accepted or
    /// under way are not affected).
    pub fn unlisten(&mut self, port: u16) {
        if self.listeners.remove(&port) {
            self.pm_event(None, PmEvent::ListenerClosed { port });
        }
    }

    /// Announce `addr` (and `port`, when not the connection's) with
    /// ADD_ADDR on every MPTCP connection accepted from now on, like the
    /// kernel's `signal` endpoints; peers may then join it.
    pub fn signal_address(&mut self, addr: IpAddr, port: Option<u16>) {
        if !self.signal.iter().any(|(a, _)| *a == addr) {
            self.signal.push((addr, port));
        }
        if self.pm_endpoints.is_some() {
            let mut ep = PmEndpoint::new(addr, EndpointFlags::SIGNAL);
            ep.port = port;
            let _ = self.add_endpoint(ep);
        }
    }

    /// The addresses announced on accepted connections.
    pub fn signalled(&self) -> &[(IpAddr, Option<u16>)] {
        &self.signal
    }

    /// Announce `addr` on one connection (RFC 8684 §3.4.1); nothing happens
    /// on a connection that does not use MPTCP.
    pub fn announce(
        &mut self,
        h: ConnectionHandle,
        addr: IpAddr,
        port: Option<u16>,
    ) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.announce(addr, port);
        self.refresh(h.index());
        Ok(())
    }

    /// Mark the subflows of connection `h` from our address `addr` as
    /// backups, or no longer (MP_PRIO, RFC 8684 §3.3.8); see
    /// [`Connection::set_backup`]. Returns how many subflows are told.
    pub fn set_backup(
        &mut self,
        h: ConnectionHandle,
        addr: IpAddr,
        backup: bool,
    ) -> Result<usize, ApiMisuse> {
        let told = self.slot(h)?.conn.set_backup(addr, backup);
        self.refresh(h.index());
        told.map_err(ApiMisuse::Address)
    }

    /// Withdraw our address `addr` from connection `h` (REMOVE_ADDR, RFC
    /// 8684 §3.4.2); see [`Connection::remove_address`]. Returns how many
    /// subflows were reset.
    pub fn remove_address(
        &mut self,
        h: ConnectionHandle,
        addr: IpAddr,
    ) -> Result<usize, ApiMisuse> {
        let reset = self.slot(h)?.conn.remove_address(addr);
        self.refresh(h.index());
        reset.map_err(ApiMisuse::Address)
    }

    /// Counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// A connection, for inspection.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.conns
            .get(h.index())
            .filter(|s| s.generation == h.generation())
            .map(|s| &s.conn)
    }

    /// A connection, for tests that set up states the wire cannot reach
    /// quickly (such as a data sequence space about to wrap).
    #[cfg(test)]
    pub(crate) fn connection_mut(&mut self, h: ConnectionHandle) -> Option<&mut Connection> {
        self.slot(h).ok().map(|s| &mut s.conn)
    }

    /// Handles of every connection.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.conns
            .iter()
            .map(|(i, s)| ConnectionHandle::new(i, s.generation))
    }

    fn mtu_of(&self, addr: IpAddr) -> Option<u16> {
        self.addrs.iter().find(|(a, _)| *a == addr).map(|(_, m)| *m)
    }

    /// RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock.
    fn isn(&self, tuple: &FourTuple, now: Instant) -> SubflowSeq {
        let mut h = SipHasher24::new_with_keys(self.isn_key.0, self.isn_key.1);
        h.write(format_tuple(tuple).as_slice());
        SubflowSeq((h.finish() as u32).wrapping_add((now.as_micros() / 4) as u32))
    }

    /// Open a connection from `local` (one of our addresses) to `remote`.
    /// With MPTCP enabled it offers MP_CAPABLE with a fresh key whose token
    /// is unique in the token table (RFC 8684 §3.1); if no unique token can
    /// be found it connects as plain TCP (MPFallbackTokenInit).
    pub fn connect(
        &mut self,
        now: Instant,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ConnectError> {
        let mtu = self.mtu_of(local).ok_or(ApiMisuse::NotLocal(local))?;
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(ApiMisuse::FamilyMismatch.into());
        }
        let tuple = self.free_tuple(local, remote)?;
        let mut config = self.config.connection;
        config.subflow.mtu = mtu;
        let iss = self.isn(&tuple, now);
        let h = self.next_handle();
        let mode = self.offer_mptcp(&tuple, h);
        if mode.mptcp().is_some() {
            config.subflow.cc = config.mptcp.cc;
        }
        let sf = Subflow::connect(SubflowId(0), tuple, iss, config.subflow);
        let setup = self.pm_setup(Role::Client);
        let conn = Connection::new(Role::Client, config, sf, mode, self.rng.fork(), setup);
        let got = self.insert(conn, true);
        debug_assert_eq!(got, h);
        self.tuples.insert(tuple, (h.index(), SubflowId(0)));
        self.stats.active_opens += 1;
        self.refresh(h.index());
        Ok(h)
    }

    /// Every local address.
    pub fn local_addrs(&self) -> Vec<IpAddr> {
        self.addrs.iter().map(|(a, _)| *a).collect()
    }

    /// This endpoint's identity in a shared token table.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The token table (shared with other endpoints, if built with one).
    pub fn tokens(&self) -> &SharedTokens {
        &self.tokens
    }

    /// Endpoint-level counters (SYNs, joins for unknown tokens, ...) plus
    /// those of the connections already removed; each live connection keeps
    /// its own ([`Connection::mib`]) until it is removed.
    pub fn mib(&self) -> &Counters {
        &self.mib
    }

    /// Counters of the endpoint and of all its live connections together.
    pub fn mib_total(&self) -> Counters {
        let mut total = self.mib.clone();
        for (_, slot) in &self.conns {
            total.merge(slot.conn.mib());
        }
        total
    }

    fn free_tuple(&mut self, local: IpAddr, remote: SocketAddr) -> Result<FourTuple, Exhausted> {
        let (lo, hi) = self.config.ephemeral_ports;
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port >= hi { lo } else { port + 1 };
            let tuple = FourTuple {
                local: SocketAddr::new(local, port),
                remote,
            };
            if !self.tuples.contains_key(&tuple) {
                return Ok(tuple);
            }
        }
        Err(Exhausted::EphemeralPorts)
    }

    /// The handle the next inserted connection gets.
    fn next_handle(&self) -> ConnectionHandle {
        ConnectionHandle::new(self.conns.vacant_key(), self.next_generation)
    }

    fn insert(&mut self, conn: Connection, known: bool) -> ConnectionHandle {
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        if !known {
            self.half_open += 1;
        }
        let idx = self.conns.insert(Slot {
            conn,
            generation,
            half_open: !known,
            awaiting_accept: false,
            deadline: None,
            queued: false,
            known,
        });
        ConnectionHandle::new(idx, generation)
    }

    /// Take the next incoming connection whose handshake completed.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        let h = self.accept_queue.pop_front()?;
        if let Ok(slot) = self.slot(h)
            && !slot.known
        {
            slot.known = true;
            if std::mem::take(&mut slot.awaiting_accept) {
                self.unaccepted -= 1;
            }
        }
        Some(h)
    }

    /// The earliest deadline of any connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn slot(&mut self, h: ConnectionHandle) -> Result<&mut Slot, ApiMisuse> {
        self.conns
            .get_mut(h.index())
            .filter(|s| s.generation == h.generation())
            .ok_or(ApiMisuse::UnknownConnection(h))
    }

    /// Queue data; returns how many bytes the send buffer took.
    pub fn write(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, ApiMisuse> {
        let n = self.slot(h)?.conn.write(data);
        self.refresh(h.index());
        Ok(n)
    }

    /// [`Endpoint::write`] without copying a large `data` (64 KiB or more
    /// taken): the connection keeps a reference to it until the peer
    /// acknowledges its bytes.
    pub fn write_bytes(
        &mut self,
        h: ConnectionHandle,
        data: bytes::Bytes,
    ) -> Result<usize, ApiMisuse> {
        let n = self.slot(h)?.conn.write_bytes(data);
        self.refresh(h.index());
        Ok(n)
    }

    /// Read data: `Some(n > 0)` bytes, `Some(0)` at the end of the stream,
    /// `None` when nothing is readable yet.
    pub fn read(
        &mut self,
        h: ConnectionHandle,
        buf: &mut [u8],
    ) -> Result<Option<usize>, ApiMisuse> {
        let n = self.slot(h)?.conn.read(buf);
        self.refresh(h.index());
        Ok(n)
    }

    /// Whether everything written to `h` was acknowledged by the peer; if
    /// not, an [`Event::Writable`] follows the next acknowledgment.
    pub fn flushed(&mut self, h: ConnectionHandle) -> Result<bool, ApiMisuse> {
        Ok(self.slot(h)?.conn.flushed())
    }

    /// Close the sending direction after the buffered data (FIN, or DATA_FIN).
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.shutdown();
        self.refresh(h.index());
        Ok(())
    }

    /// Release the connection: shut down gracefully; the handle becomes
    /// invalid once the connection is finished.
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.close();
        self.refresh(h.index());
        Ok(())
    }

    /// Reset the connection at once.
    pub fn abort(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.abort();
        self.refresh(h.index());
        Ok(())
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether a subflow between our `local` and the peer's `remote` is
    /// still here (a runtime forgets what it kept for the others).
    pub fn has_subflow(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.tuples.contains_key(&FourTuple { local, remote })
    }
}

/// The bytes of a 4-tuple, for hashing (local address, remote address,
/// local port, remote port).
fn format_tuple(t: &FourTuple) -> arrayvec::ArrayVec<u8, 36> {
    let mut out = arrayvec::ArrayVec::new();
    for addr in [t.local.ip(), t.remote.ip()] {
        match addr {
            IpAddr::V4(a) => out.extend(a.octets()),
            IpAddr::V6(a) => out.extend(a.octets()),
        }
    }
    out.extend(t.local.port().to_be_bytes());
    out.extend(t.remote.port().to_be_bytes());
    out
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.conns.len())
            .field("listeners", &self.listeners)
            .field("stats", &self.stats)
            .finish()
    }
}
