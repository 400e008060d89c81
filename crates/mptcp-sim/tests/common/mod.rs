//! Toy nodes for the simulator's tests: constant-rate UDP-like senders and a
//! recording sink, over hand-rolled IPv4 headers.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use mptcp_sim::{DropReason, DropSite, Duration, IfaceId, Instant, LinkId, Node, NodeId, Observer};

/// Protocol number of the toy packets (UDP's, though nothing else is UDP).
pub const PROTO: u8 = 17;
/// Header (20) + flow id (4) + sequence number (8).
pub const MIN_LEN: usize = 32;

/// Writes an IPv4 packet of `len` bytes carrying (flow, seq) into `buf`.
pub fn write_ipv4(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, flow: u32, seq: u64, len: usize) {
    assert!(len >= MIN_LEN);
    let b = &mut buf[..len];
    b.fill(0);
    b[0] = 0x45;
    b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    b[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    b[8] = 64;
    b[9] = PROTO;
    b[12..16].copy_from_slice(&src.octets());
    b[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&b[..20]);
    b[10..12].copy_from_slice(&sum.to_be_bytes());
    b[20..24].copy_from_slice(&flow.to_be_bytes());
    b[24..32].copy_from_slice(&seq.to_be_bytes());
}

/// An owned IPv4 packet.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, flow: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    write_ipv4(&mut v, src, dst, flow, seq, len);
    v
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// (flow, seq) of a toy packet.
pub fn flow_seq(packet: &[u8]) -> (u32, u64) {
    let flow = u32::from_be_bytes(packet[20..24].try_into().unwrap());
    let seq = u64::from_be_bytes(packet[24..32].try_into().unwrap());
    (flow, seq)
}

/// `count` packets of `len` bytes from `src` to `dst`, one every `interval`
/// (all at once when zero), starting at `start`.
#[derive(Clone, Debug)]
pub struct Flow {
    pub id: u32,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub len: usize,
    pub count: u64,
    pub interval: Duration,
    pub sent: u64,
    pub next: Instant,
}

impl Flow {
    pub fn new(id: u32, src: Ipv4Addr, dst: Ipv4Addr, len: usize, count: u64) -> Flow {
        Flow {
            id,
            src,
            dst,
            len,
            count,
            interval: Duration::ZERO,
            sent: 0,
            next: Instant::ZERO,
        }
    }

    /// Sends one packet every `interval`.
    pub fn every(mut self, interval: Duration) -> Flow {
        self.interval = interval;
        self
    }

    /// Sends at `rate_bps` (the interval is rounded to microseconds).
    pub fn at_rate(self, rate_bps: u64) -> Flow {
        let us = self.len as u64 * 8 * 1_000_000 / rate_bps;
        self.every(Duration::from_micros(us))
    }

    fn due(&self, now: Instant) -> bool {
        self.sent < self.count && self.next <= now
    }
}

/// One received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rx {
    pub at: Instant,
    pub iface: IfaceId,
    pub flow: u32,
    pub seq: u64,
    pub len: usize,
}

/// Sends its flows and records what it receives.
#[derive(Clone, Debug, Default)]
pub struct Toy {
    pub flows: Vec<Flow>,
    pub received: Vec<Rx>,
    pub timeouts: u64,
}

impl Toy {
    pub fn sink() -> Toy {
        Toy::default()
    }

    pub fn sending(flows: Vec<Flow>) -> Toy {
        Toy {
            flows,
            ..Toy::default()
        }
    }

    /// Received sequence numbers of `flow`, in arrival order.
    pub fn seqs(&self, flow: u32) -> Vec<u64> {
        self.received
            .iter()
            .filter(|r| r.flow == flow)
            .map(|r| r.seq)
            .collect()
    }

    /// Arrival times of `flow` in microseconds.
    pub fn times(&self, flow: u32) -> Vec<u64> {
        self.received
            .iter()
            .filter(|r| r.flow == flow)
            .map(|r| r.at.as_micros())
            .collect()
    }
}

impl Node for Toy {
    fn handle(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        let (flow, seq) = flow_seq(packet);
        self.received.push(Rx {
            at: now,
            iface,
            flow,
            seq,
            len: packet.len(),
        });
    }

    fn handle_timeout(&mut self, _now: Instant) {
        self.timeouts += 1;
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let flow = self
            .flows
            .iter_mut()
            .filter(|f| f.due(now))
            .min_by_key(|f| f.next)?;
        write_ipv4(buf, flow.src, flow.dst, flow.id, flow.sent, flow.len);
        flow.sent += 1;
        flow.next += flow.interval;
        Some(flow.len)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flows
            .iter()
            .filter(|f| f.sent < f.count)
            .map(|f| f.next)
            .min()
    }
}

/// FNV-1a over every delivery and drop (time, place, bytes): equal hashes
/// mean equal packet traces.
#[derive(Default)]
pub struct TraceHash {
    pub hash: u64,
    pub delivered: u64,
    pub dropped: u64,
    /// When set, only links with a smaller number are hashed.
    pub links_below: Option<usize>,
}

impl TraceHash {
    fn wants(&self, link: LinkId) -> bool {
        self.links_below.is_none_or(|n| link.0 < n)
    }

    fn eat(&mut self, bytes: &[u8]) {
        if self.hash == 0 {
            self.hash = 0xcbf2_9ce4_8422_2325;
        }
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Observer for TraceHash {
    fn on_delivered(&mut self, now: Instant, link: LinkId, _: NodeId, _: IfaceId, p: &[u8]) {
        if !self.wants(link) {
            return;
        }
        self.delivered += 1;
        self.eat(&now.as_micros().to_be_bytes());
        self.eat(&(link.0 as u64).to_be_bytes());
        self.eat(p);
    }

    fn on_dropped(&mut self, now: Instant, site: DropSite, reason: DropReason, p: &[u8]) {
        if let DropSite::Link(link) = site
            && !self.wants(link)
        {
            return;
        }
        self.dropped += 1;
        self.eat(&now.as_micros().to_be_bytes());
        self.eat(format!("{site:?}{reason}").as_bytes());
        self.eat(p);
    }
}

pub fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

pub fn ms(n: u64) -> Instant {
    Instant::from_micros(n * 1000)
}

/// Address of the sender in [`pair`].
pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Address of the sink in [`pair`].
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Two hosts A (sending `flows`) and B (a sink), connected A→B by `forward`
/// and B→A by an ideal link. Returns (sim, a, b, the A→B link).
pub fn pair(
    seed: u64,
    flows: Vec<Flow>,
    forward: mptcp_sim::LinkConfig,
) -> (mptcp_sim::Simulator<Toy>, NodeId, NodeId, LinkId) {
    use mptcp_sim::{IfaceConfig, LinkConfig, SimConfig, Simulator};
    let mut sim = Simulator::new(SimConfig::with_seed(seed));
    let a = sim.add_host(Toy::sending(flows));
    let b = sim.add_host(Toy::sink());
    let a0 = sim.add_iface(a, IfaceConfig::new(A));
    let b0 = sim.add_iface(b, IfaceConfig::new(B));
    let (ab, _) = sim.connect(a, a0, b, b0, forward, LinkConfig::ideal());
    (sim, a, b, ab)
}

/// A flow from A to B.
pub fn flow_ab(len: usize, count: u64) -> Flow {
    Flow::new(0, A, B, len, count)
}
