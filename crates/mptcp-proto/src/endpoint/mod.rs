//! The endpoint: every connection of one host, demultiplexed by 4-tuple.
//!
//! Sans-IO: packets and time go in ([`Endpoint::handle`],
//! [`Endpoint::handle_timeout`]), packets, deadlines and events come out
//! ([`Endpoint::poll_transmit`], [`Endpoint::poll_timeout`],
//! [`Endpoint::poll_event`]). After any input or application call, drain
//! `poll_transmit` until it returns `None`, then `poll_event`, then re-read
//! `poll_timeout`.

use crate::connection::{
    ConnEvent, ConnState, Connection, ConnectionConfig, ConnectionError, ConnectionHandle, Role,
};
use crate::random::Random;
use crate::segment::{SegmentIn, emit_ip_tcp};
use crate::subflow::{FourTuple, Subflow, SubflowId};
use crate::time::Instant;
use mptcp_wire::{IpPacket, IpProtocol, SubflowSeq, TcpFlags, TcpRepr};
use siphasher::sip::SipHasher24;
use slab::Slab;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

/// Endpoint tunables.
#[derive(Clone, Copy, Debug)]
pub struct EndpointConfig {
    /// Seed of all the endpoint's randomness (the runtime draws it from the
    /// OS; tests fix it).
    pub seed: u64,
    /// Per-connection settings.
    pub connection: ConnectionConfig,
    /// Server connections not yet accepted (half-open ones included)
    /// beyond which new SYNs are dropped.
    pub backlog: usize,
    /// Ports used for outgoing connections.
    pub ephemeral_ports: (u16, u16),
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            seed: 0,
            connection: ConnectionConfig::default(),
            backlog: 128,
            ephemeral_ports: (32768, 60999),
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
    /// No ephemeral port is free for this destination.
    PortsExhausted,
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiMisuse::UnknownConnection(h) => write!(f, "unknown connection {h}"),
            ApiMisuse::NotLocal(a) => write!(f, "{a} is not a local address"),
            ApiMisuse::FamilyMismatch => f.write_str("address family mismatch"),
            ApiMisuse::PortsExhausted => f.write_str("no free ephemeral port"),
        }
    }
}

impl std::error::Error for ApiMisuse {}

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
    /// SYNs dropped because the backlog was full.
    pub syn_backlog_drops: u64,
    /// Connections opened by peers.
    pub passive_opens: u64,
    /// Connections we opened.
    pub active_opens: u64,
}

struct Slot {
    conn: Connection,
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
}

/// The most RSTs queued for unknown tuples; more are not sent.
const MAX_PENDING_RESETS: usize = 256;

/// All connections of one host.
pub struct Endpoint {
    config: EndpointConfig,
    isn_key: (u64, u64),
    addrs: Vec<(IpAddr, u16)>,
    listeners: BTreeSet<u16>,
    conns: Slab<Slot>,
    tuples: HashMap<FourTuple, (usize, SubflowId)>,
    timers: BTreeSet<(Instant, usize)>,
    ready: VecDeque<usize>,
    resets: VecDeque<ResetPlan>,
    events: VecDeque<Event>,
    accept_queue: VecDeque<ConnectionHandle>,
    stats: EndpointStats,
    next_port: u16,
}

impl Endpoint {
    /// An endpoint with no addresses and no listeners.
    pub fn new(config: EndpointConfig) -> Endpoint {
        let mut rng = Random::from_seed(config.seed);
        let isn_key = (rng.next_u64(), rng.next_u64());
        let (lo, hi) = config.ephemeral_ports;
        let span = u64::from(hi.saturating_sub(lo)) + 1;
        let next_port = lo + rng.below(span) as u16;
        Endpoint {
            config,
            isn_key,
            addrs: Vec::new(),
            listeners: BTreeSet::new(),
            conns: Slab::new(),
            tuples: HashMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            resets: VecDeque::new(),
            events: VecDeque::new(),
            accept_queue: VecDeque::new(),
            stats: EndpointStats::default(),
            next_port,
        }
    }

    /// Use `addr` as a local address on an interface with this MTU.
    pub fn add_address(&mut self, addr: IpAddr, mtu: u16) {
        self.addrs.retain(|(a, _)| *a != addr);
        self.addrs.push((addr, mtu));
    }

    /// Accept connections to `port` on every local address.
    pub fn listen(&mut self, port: u16) {
        self.listeners.insert(port);
    }

    /// Counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// A connection, for inspection.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.conns.get(h.0).map(|s| &s.conn)
    }

    /// Handles of every connection.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.conns.iter().map(|(i, _)| ConnectionHandle(i))
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
    pub fn connect(
        &mut self,
        now: Instant,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionHandle, ApiMisuse> {
        let mtu = self.mtu_of(local).ok_or(ApiMisuse::NotLocal(local))?;
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(ApiMisuse::FamilyMismatch);
        }
        let tuple = self.free_tuple(local, remote)?;
        let mut config = self.config.connection;
        config.subflow.mtu = mtu;
        let iss = self.isn(&tuple, now);
        let sf = Subflow::connect(SubflowId(0), tuple, iss, config.subflow);
        let idx = self.insert(Connection::new(Role::Client, config, sf), true);
        self.tuples.insert(tuple, (idx, SubflowId(0)));
        self.stats.active_opens += 1;
        self.refresh(idx);
        Ok(ConnectionHandle(idx))
    }

    fn free_tuple(&mut self, local: IpAddr, remote: SocketAddr) -> Result<FourTuple, ApiMisuse> {
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
        Err(ApiMisuse::PortsExhausted)
    }

    fn insert(&mut self, conn: Connection, known: bool) -> usize {
        self.conns.insert(Slot {
            conn,
            deadline: None,
            queued: false,
            known,
        })
    }

    /// Take the next incoming connection whose handshake completed.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        let h = self.accept_queue.pop_front()?;
        if let Some(slot) = self.conns.get_mut(h.0) {
            slot.known = true;
        }
        Some(h)
    }

    /// One IP packet from the network.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_in += 1;
        let Ok(ip) = IpPacket::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        if ip.protocol() != IpProtocol::TCP || ip.is_fragment() || ip.is_truncated() {
            self.stats.not_tcp += 1;
            return;
        }
        let Ok(tcp) = ip.tcp() else {
            self.stats.malformed += 1;
            return;
        };
        if !tcp.verify_checksum(ip.src(), ip.dst()) {
            self.stats.bad_checksum += 1;
            return;
        }
        let seg = SegmentIn::from_tcp(&tcp);
        let tuple = FourTuple {
            local: SocketAddr::new(ip.dst(), tcp.dst_port()),
            remote: SocketAddr::new(ip.src(), tcp.src_port()),
        };
        if let Some(&(idx, id)) = self.tuples.get(&tuple) {
            if let Some(slot) = self.conns.get_mut(idx) {
                slot.conn.handle_segment(now, id, &seg);
            }
            self.refresh(idx);
            return;
        }
        if seg.has(TcpFlags::RST) {
            return;
        }
        let is_syn = seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::ACK);
        if is_syn
            && self.listeners.contains(&tuple.local.port())
            && let Some(mtu) = self.mtu_of(tuple.local.ip())
        {
            self.accept_syn(now, tuple, mtu, &seg);
            return;
        }
        self.queue_reset(tuple, &seg);
    }

    fn accept_syn(&mut self, now: Instant, tuple: FourTuple, mtu: u16, syn: &SegmentIn<'_>) {
        let waiting = self.conns.iter().filter(|(_, s)| !s.known).count();
        if waiting >= self.config.backlog {
            self.stats.syn_backlog_drops += 1;
            return;
        }
        let mut config = self.config.connection;
        config.subflow.mtu = mtu;
        let iss = self.isn(&tuple, now);
        let sf = Subflow::accept(SubflowId(0), tuple, iss, config.subflow, syn);
        let idx = self.insert(Connection::new(Role::Server, config, sf), false);
        self.tuples.insert(tuple, (idx, SubflowId(0)));
        self.stats.passive_opens += 1;
        self.refresh(idx);
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST.
    fn queue_reset(&mut self, tuple: FourTuple, seg: &SegmentIn<'_>) {
        if self.resets.len() >= MAX_PENDING_RESETS {
            return;
        }
        let plan = if seg.has(TcpFlags::ACK) {
            ResetPlan {
                tuple,
                seq: seg.ack,
                ack: None,
            }
        } else {
            ResetPlan {
                tuple,
                seq: SubflowSeq(0),
                ack: Some(seg.seq + seg.seq_len()),
            }
        };
        self.resets.push_back(plan);
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(slot) = self.conns.get_mut(idx) {
                slot.deadline = None;
                slot.conn.handle_timeout(now);
            }
            self.refresh(idx);
        }
    }

    /// The earliest deadline of any connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Write the next packet into `buf` (at least the largest MTU).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(rst) = self.resets.pop_front() {
            return self.emit_reset(rst, buf);
        }
        while let Some(idx) = self.ready.pop_front() {
            let Some(slot) = self.conns.get_mut(idx) else {
                continue;
            };
            match slot.conn.poll_transmit(now, buf) {
                Some((len, tuple)) => {
                    // Round robin: back of the queue.
                    self.ready.push_back(idx);
                    self.refresh_quiet(idx);
                    return Some(Transmit {
                        len,
                        src: tuple.local.ip(),
                        dst: tuple.remote.ip(),
                    });
                }
                None => {
                    slot.queued = false;
                    self.refresh_quiet(idx);
                }
            }
        }
        None
    }

    fn emit_reset(&mut self, rst: ResetPlan, buf: &mut [u8]) -> Option<Transmit> {
        let flags = if rst.ack.is_some() {
            TcpFlags::RST | TcpFlags::ACK
        } else {
            TcpFlags::RST
        };
        let repr = TcpRepr {
            src_port: rst.tuple.local.port(),
            dst_port: rst.tuple.remote.port(),
            seq: rst.seq,
            ack: rst.ack.unwrap_or_default(),
            flags,
            window: 0,
            urgent: 0,
        };
        let len = emit_ip_tcp(rst.tuple.local, rst.tuple.remote, &repr, &[], &[], buf).ok()?;
        self.stats.resets_sent += 1;
        Some(Transmit {
            len,
            src: rst.tuple.local.ip(),
            dst: rst.tuple.remote.ip(),
        })
    }

    fn slot(&mut self, h: ConnectionHandle) -> Result<&mut Slot, ApiMisuse> {
        self.conns
            .get_mut(h.0)
            .ok_or(ApiMisuse::UnknownConnection(h))
    }

    /// Queue data; returns how many bytes the send buffer took.
    pub fn write(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, ApiMisuse> {
        let n = self.slot(h)?.conn.write(data);
        self.refresh(h.0);
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
        self.refresh(h.0);
        Ok(n)
    }

    /// Close the sending direction after the buffered data (FIN, or DATA_FIN).
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.shutdown();
        self.refresh(h.0);
        Ok(())
    }

    /// Release the connection: shut down gracefully; the handle becomes
    /// invalid once the connection is finished.
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.close();
        self.refresh(h.0);
        Ok(())
    }

    /// Reset the connection at once.
    pub fn abort(&mut self, h: ConnectionHandle) -> Result<(), ApiMisuse> {
        self.slot(h)?.conn.abort();
        self.refresh(h.0);
        Ok(())
    }

    /// After anything touched connection `idx`: forward its events, queue it
    /// for transmission, re-index its timer, and drop it once finished.
    fn refresh(&mut self, idx: usize) {
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(idx);
        }
        self.refresh_quiet(idx);
    }

    fn refresh_quiet(&mut self, idx: usize) {
        let h = ConnectionHandle(idx);
        let Some(slot) = self.conns.get_mut(idx) else {
            return;
        };
        while let Some(ev) = slot.conn.poll_event() {
            let event = match ev {
                ConnEvent::Connected if slot.conn.role() == Role::Server => {
                    self.accept_queue.push_back(h);
                    Event::Incoming(h)
                }
                ConnEvent::Connected => Event::Connected(h),
                ConnEvent::Readable => Event::Readable(h),
                ConnEvent::Writable => Event::Writable(h),
                ConnEvent::PeerClosed => Event::PeerClosed(h),
                ConnEvent::Closed(e) => Event::Closed(h, e),
            };
            let unaccepted = !slot.known && slot.conn.role() == Role::Server;
            if !unaccepted || matches!(event, Event::Incoming(_)) {
                self.events.push_back(event);
            }
        }
        let deadline = slot.conn.poll_timeout();
        if deadline != slot.deadline {
            if let Some(old) = slot.deadline {
                self.timers.remove(&(old, idx));
            }
            if let Some(new) = deadline {
                self.timers.insert((new, idx));
            }
            slot.deadline = deadline;
        }
        let gone = slot.conn.is_finished() && (slot.conn.is_released() || !slot.known);
        let dead_handshake = !slot.known && matches!(slot.conn.state(), ConnState::Closed(_));
        if gone || dead_handshake {
            self.remove(idx);
        }
    }

    fn remove(&mut self, idx: usize) {
        let Some(slot) = self.conns.try_remove(idx) else {
            return;
        };
        if let Some(t) = slot.deadline {
            self.timers.remove(&(t, idx));
        }
        for sf in slot.conn.subflows() {
            self.tuples.remove(&sf.tuple());
        }
        self.accept_queue.retain(|h| h.0 != idx);
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
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
