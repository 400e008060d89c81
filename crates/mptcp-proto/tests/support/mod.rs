//! The one two-endpoint test harness of the engine, used by its
//! integration tests (`tests/*.rs`, as `mod support`) and by its unit tests
//! (`src/**/tests.rs`, through `#[path]`):
//!
//! [`Net`]: a client and a server endpoint over a wire with a one-way delay
//! (zero: delivered at once) and a hook that may rewrite or drop packets in
//! flight; driven in 1 ms ticks with the applications of one connection
//! running ([`Net::run`]: bytes to write, what was read, end of stream, how
//! it closed), or from one deadline to the next with every event kept
//! ([`Net::step`]); and an attacker that crafts segments on a live 4-tuple
//! from what it saw on the wire.
#![allow(dead_code)]

use mptcp_proto::connection::{ConnectionError, ConnectionHandle};
use mptcp_proto::endpoint::{Endpoint, EndpointConfig, Event};
use mptcp_proto::forge::{self, Observer};
use mptcp_proto::pm::PmEvent;
use mptcp_proto::stats::Mib;
use mptcp_proto::time::{Duration, Instant};
use mptcp_wire::{IpPacket, MpJoin, MptcpOption, SubflowSeq, TcpFlags, TcpOption, TcpRepr};
use std::net::{IpAddr, SocketAddr};

pub const CLIENT: &str = "192.0.2.1";
pub const CLIENT2: &str = "192.0.2.3";
pub const SERVER: &str = "192.0.2.2";
/// An attacker elsewhere: what the server sends there is kept in
/// [`Net::to_attacker`], not delivered.
pub const ATTACKER: &str = "198.51.100.7";

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Which way a packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

/// What the wire hook does with a packet (sent at the given time).
pub type Tamper = Box<dyn FnMut(Instant, Dir, &mut Vec<u8>) -> bool>;

/// Packets on the way, each with its arrival time: the wire of every
/// two-end harness here (two endpoints in [`Net`]; two bare subflows in the
/// subflow's unit tests).
#[derive(Clone, Debug, Default)]
pub struct Flight(Vec<(Instant, Dir, Vec<u8>)>);

impl Flight {
    /// `pkt` goes `dir` and arrives at `at`.
    pub fn push(&mut self, at: Instant, dir: Dir, pkt: Vec<u8>) {
        self.0.push((at, dir, pkt));
    }

    /// When the next packet arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.0.iter().map(|f| f.0).min()
    }

    /// The packets arrived by `now`, in the order they were sent.
    pub fn take_due(&mut self, now: Instant) -> Vec<(Dir, Vec<u8>)> {
        let (due, rest): (Vec<_>, Vec<_>) = self.0.drain(..).partition(|f| f.0 <= now);
        self.0 = rest;
        due.into_iter().map(|(_, dir, pkt)| (dir, pkt)).collect()
    }

    /// Whether nothing is on the way.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A hook that drops every `n`-th packet sent, either way (so that data
/// arrives out of order).
pub fn drop_every(n: usize) -> Tamper {
    let mut sent: usize = 0;
    Box::new(move |_, _, _| {
        sent += 1;
        !sent.is_multiple_of(n)
    })
}

/// Two endpoints, the wire between them and, once the client connected,
/// the applications of that connection.
pub struct Net {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    /// One-way delay; zero delivers each packet as it is sent.
    pub delay: Duration,
    /// Packets on the way.
    pub flight: Flight,
    /// Returns false to drop the packet; may rewrite it.
    pub tamper: Tamper,
    /// What an on-path attacker saw of each 4-tuple.
    pub wire: Observer,
    /// Events of each side (client first) that [`Net::run`] did not take:
    /// all of them when driven by [`Net::step`].
    pub events: [Vec<Event>; 2],
    /// The client's connection ([`Net::new`]), and the server's.
    connection: Option<ConnectionHandle>,
    pub accepted: Option<ConnectionHandle>,
    /// Bytes each application still has to write, and what it read.
    pub to_send: [Vec<u8>; 2],
    pub sent: [usize; 2],
    pub got: [Vec<u8>; 2],
    pub eof: [bool; 2],
    pub closed: [Option<Option<ConnectionError>>; 2],
    /// Path-manager events of each side (when configured).
    pub pm_events: [Vec<PmEvent>; 2],
    /// What the server sent to [`ATTACKER`].
    pub to_attacker: Vec<Vec<u8>>,
}

impl Net {
    /// Endpoints configured by `tune` (client is `true`) with seeds 11 and
    /// 12, the client connecting at once; the client gets a second address
    /// if `two_paths`.
    pub fn new(two_paths: bool, tune: impl Fn(bool, &mut EndpointConfig)) -> Net {
        Net::new_at(Instant::ZERO, two_paths, tune)
    }

    /// As [`Net::new`], the client connecting at `now`.
    pub fn new_at(now: Instant, two_paths: bool, tune: impl Fn(bool, &mut EndpointConfig)) -> Net {
        let mut n = Net::unconnected(two_paths, (11, 12), tune);
        n.now = now;
        n.connect();
        n
    }

    /// As [`Net::new`], with the endpoints' seeds.
    pub fn seeded(
        seeds: (u64, u64),
        two_paths: bool,
        tune: impl Fn(bool, &mut EndpointConfig),
    ) -> Net {
        let mut n = Net::unconnected(two_paths, seeds, tune);
        n.connect();
        n
    }

    /// The client connects to the server, now.
    pub fn connect(&mut self) -> ConnectionHandle {
        let conn = self
            .client
            .connect(self.now, ip(CLIENT), Net::server_addr())
            .expect("connect");
        self.connection = Some(conn);
        conn
    }

    /// The endpoints with these seeds and no connection: the client at
    /// [`CLIENT`] (and [`CLIENT2`] if `two_paths`), the server at
    /// [`SERVER`] listening on port 80.
    pub fn unconnected(
        two_paths: bool,
        seeds: (u64, u64),
        tune: impl Fn(bool, &mut EndpointConfig),
    ) -> Net {
        let mut cc = EndpointConfig {
            seed: seeds.0,
            ..EndpointConfig::default()
        };
        tune(true, &mut cc);
        let mut sc = EndpointConfig {
            seed: seeds.1,
            ..EndpointConfig::default()
        };
        tune(false, &mut sc);
        let mut client = Endpoint::new(cc);
        let mut server = Endpoint::new(sc);
        client.add_address(ip(CLIENT), 1500);
        if two_paths {
            client.add_address(ip(CLIENT2), 1500);
        }
        server.add_address(ip(SERVER), 1500);
        server.listen(80);
        Net {
            now: Instant::ZERO,
            client,
            server,
            delay: Duration::ZERO,
            flight: Flight::default(),
            tamper: Box::new(|_, _, _| true),
            wire: Observer::default(),
            events: [Vec::new(), Vec::new()],
            connection: None,
            accepted: None,
            to_send: [Vec::new(), Vec::new()],
            sent: [0, 0],
            got: [Vec::new(), Vec::new()],
            eof: [false, false],
            closed: [None, None],
            pm_events: [Vec::new(), Vec::new()],
            to_attacker: Vec::new(),
        }
    }

    /// The server's listening address.
    pub fn server_addr() -> SocketAddr {
        SocketAddr::new(ip(SERVER), 80)
    }

    /// The client's connection.
    pub fn conn(&self) -> ConnectionHandle {
        self.connection.expect("Net::new connects the client")
    }

    /// Each side sends all it has, the client first, each followed by its
    /// events; without delay the other side takes each packet at once.
    pub fn exchange(&mut self) {
        let mut buf = vec![0u8; 2048];
        for dir in [Dir::ToServer, Dir::ToClient] {
            let mut guard = 0;
            loop {
                let from = match dir {
                    Dir::ToServer => &mut self.client,
                    Dir::ToClient => &mut self.server,
                };
                let Some(t) = from.poll_transmit(self.now, &mut buf) else {
                    break;
                };
                guard += 1;
                assert!(guard < 20_000, "packet storm at {:?}", self.now);
                let mut pkt = buf[..t.len].to_vec();
                if !(self.tamper)(self.now, dir, &mut pkt) {
                    continue;
                }
                self.wire.observe(&pkt);
                if t.dst == ip(ATTACKER) {
                    self.to_attacker.push(pkt);
                } else if self.delay == Duration::ZERO {
                    self.deliver(dir, &pkt);
                } else {
                    self.flight.push(self.now + self.delay, dir, pkt);
                }
            }
            let (ep, side) = match dir {
                Dir::ToServer => (&mut self.client, 0),
                Dir::ToClient => (&mut self.server, 1),
            };
            while let Some(e) = ep.poll_event() {
                self.events[side].push(e);
            }
        }
    }

    fn deliver(&mut self, dir: Dir, pkt: &[u8]) {
        match dir {
            Dir::ToServer => self.server.handle(self.now, pkt),
            Dir::ToClient => self.client.handle(self.now, pkt),
        }
    }

    /// Deliver what has arrived by now, then run both sides' timers.
    fn arrive_and_time_out(&mut self) {
        let now = self.now;
        for (dir, pkt) in self.flight.take_due(now) {
            self.deliver(dir, &pkt);
        }
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        // A timer whose handler did not move it would make a runtime spin.
        for (ep, side) in [(&mut self.client, "client"), (&mut self.server, "server")] {
            if let Some(t) = ep.poll_timeout() {
                assert!(
                    t >= now,
                    "a {side} timer stays in the past: {t:?} at {now:?}"
                );
            }
        }
    }

    /// Exchange, then move to the next arrival or deadline and exchange
    /// again (no application runs). Returns false when nothing is left to
    /// happen.
    pub fn step(&mut self) -> bool {
        self.exchange();
        let next = [
            self.flight.next_arrival(),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = next;
        self.arrive_and_time_out();
        self.exchange();
        true
    }

    fn handle(&self, side: usize) -> Option<ConnectionHandle> {
        if side == 0 {
            self.connection
        } else {
            self.accepted
        }
    }

    fn app(&mut self, side: usize) {
        let Some(h) = self.handle(side) else { return };
        let ep = if side == 0 {
            &mut self.client
        } else {
            &mut self.server
        };
        while self.sent[side] < self.to_send[side].len() {
            let n = ep
                .write(h, &self.to_send[side][self.sent[side]..])
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            self.sent[side] += n;
            if self.sent[side] == self.to_send[side].len() {
                let _ = ep.shutdown(h);
            }
        }
        let mut b = [0u8; 65536];
        while let Ok(Some(n)) = ep.read(h, &mut b) {
            if n == 0 {
                self.eof[side] = true;
                break;
            }
            self.got[side].extend_from_slice(&b[..n]);
        }
    }

    /// Run the applications, exchange packets and run timers, in 1 ms
    /// ticks, for `ms` milliseconds.
    pub fn run(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while self.now < end {
            for side in 0..2 {
                self.app(side);
            }
            self.exchange();
            self.events();
            self.now += Duration::from_millis(1);
            self.arrive_and_time_out();
        }
    }

    fn events(&mut self) {
        for ev in std::mem::take(&mut self.events[0]) {
            match ev {
                Event::Closed(h, e) if Some(h) == self.connection => self.closed[0] = Some(e),
                Event::Pm(_, pm) => self.pm_events[0].push(pm),
                _ => {}
            }
        }
        for ev in std::mem::take(&mut self.events[1]) {
            match ev {
                Event::Incoming(_) => self.accepted = self.server.accept(),
                Event::Closed(h, e) if Some(h) == self.accepted => self.closed[1] = Some(e),
                Event::Pm(_, pm) => self.pm_events[1].push(pm),
                _ => {}
            }
        }
    }

    /// Run until both directions delivered everything and saw the end, or
    /// `limit_ms` passed.
    pub fn run_to_end(&mut self, limit_ms: u64) {
        let end = self.now + Duration::from_millis(limit_ms);
        while self.now < end && !(self.eof[0] && self.eof[1]) {
            self.run(10);
            if self.closed.iter().any(|c| matches!(c, Some(Some(_)))) {
                self.run(50);
                break;
            }
        }
    }

    /// The token of the server's connection.
    pub fn server_token(&self) -> u32 {
        let h = self.accepted.expect("accepted");
        self.server
            .connection(h)
            .and_then(|c| c.mptcp())
            .map(|m| m.local.token.0)
            .expect("MPTCP in use")
    }

    /// The attacker sends the server (port 80) a TCP segment from
    /// [`ATTACKER`]`:sport` with an MSS and this MP_JOIN, then 2 ms pass.
    pub fn inject(&mut self, sport: u16, seq: u32, ack: u32, flags: TcpFlags, opt: MpJoin) {
        let opts = [
            TcpOption::Mss(1460),
            TcpOption::Mptcp(MptcpOption::Join(opt)),
        ];
        let from = SocketAddr::new(ip(ATTACKER), sport);
        let pkt = segment_to_server(from, seq, ack, flags, &opts);
        self.server.handle(self.now, &pkt);
        self.run(2);
    }

    /// The client's application sends `bytes` more, and they all arrive.
    pub fn transfer(&mut self, bytes: usize) {
        let before = self.got[1].len();
        let data = vec![0x5a; bytes];
        let mut off = 0;
        // A connection that stops taking data fails the test, not hangs it.
        let give_up = self.now + Duration::from_secs(60);
        while off < bytes {
            assert!(
                self.now < give_up,
                "the connection took {off} of {bytes} bytes in 60 s"
            );
            off += self.client.write(self.conn(), &data[off..]).expect("write");
            self.run(5);
        }
        for _ in 0..200 {
            if self.got[1].len() - before == bytes {
                break;
            }
            self.run(5);
        }
        assert_eq!(
            self.got[1].len() - before,
            bytes,
            "the connection carries on"
        );
    }

    pub fn client_mib(&self, m: Mib) -> u64 {
        self.client.mib_total().get(m)
    }

    pub fn server_mib(&self, m: Mib) -> u64 {
        self.server.mib_total().get(m)
    }

    /// A segment from the client's first address to the server, as if the
    /// client sent it next on the first subflow (the attacker saw the last
    /// segments both ways), with `opts` and `payload`.
    pub fn forge_to_server(
        &self,
        opts: &[TcpOption<'_>],
        payload: &[u8],
        tweak: impl FnOnce(&mut TcpRepr),
    ) -> Vec<u8> {
        let server = SocketAddr::new(ip(SERVER), 80);
        let client = self
            .wire
            .tuples()
            .find(|(s, d)| s.ip() == ip(CLIENT) && *d == server)
            .map(|(s, _)| s)
            .expect("a client segment was seen");
        let mut repr = self.wire.next(client, server).expect("both ways seen");
        repr.window = 1000;
        tweak(&mut repr);
        forge::segment(client, server, &repr, opts, payload).expect("emit")
    }
}

/// A TCP segment without payload from `src` to the server's port 80.
pub fn segment_to_server(
    src: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    opts: &[TcpOption<'_>],
) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: 80,
        seq: SubflowSeq(seq),
        ack: SubflowSeq(ack),
        flags,
        window: 65535,
        urgent: 0,
    };
    forge::segment(src, Net::server_addr(), &repr, opts, &[]).expect("emit")
}

/// A deterministic stream of `n` bytes.
pub fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Flip one payload byte of a TCP packet and fix its TCP checksum, as a
/// payload-rewriting middlebox does (so TCP takes it and only the DSS
/// checksum can tell). Returns false if the packet has no payload.
pub fn flip_payload_byte(pkt: &mut [u8], at: usize) -> bool {
    let Ok(ip) = IpPacket::parse(pkt) else {
        return false;
    };
    let Ok(tcp) = ip.tcp() else { return false };
    let header = ip.payload_offset() + tcp.header_len();
    let len = tcp.payload().len();
    if len == 0 {
        return false;
    }
    pkt[header + at.min(len - 1)] ^= 0xff;
    fix_tcp_checksum(pkt);
    true
}

/// Recompute the TCP checksum of a packet whose segment was rewritten in
/// place (as a middlebox does, so that TCP still takes it).
pub fn fix_tcp_checksum(pkt: &mut [u8]) {
    let ip = IpPacket::parse(pkt).expect("IP");
    let tcp = ip.tcp().expect("TCP");
    let (src, dst) = (ip.src(), ip.dst());
    let start = ip.payload_offset();
    let end = start + tcp.header_len() + tcp.payload().len();
    pkt[start + 16] = 0;
    pkt[start + 17] = 0;
    let sum = mptcp_wire::checksum::pseudo_header(src, dst, 6, end - start)
        .expect("same family")
        .add_bytes(&pkt[start..end])
        .finish();
    pkt[start + 16..start + 18].copy_from_slice(&sum.to_be_bytes());
}

/// A pure ACK from the server to the client on the first subflow, as the
/// server would send it next, with `opts`.
pub fn forge_to_client(
    n: &Net,
    opts: &[TcpOption<'_>],
    tweak: impl FnOnce(&mut TcpRepr),
) -> Vec<u8> {
    let server = SocketAddr::new(ip(SERVER), 80);
    let client = n
        .wire
        .tuples()
        .find(|(s, d)| *s == server && d.ip() == ip(CLIENT))
        .map(|(_, d)| d)
        .expect("server segment seen");
    let mut repr = n.wire.next(server, client).expect("both ways seen");
    repr.window = 1000;
    tweak(&mut repr);
    forge::segment(server, client, &repr, opts, &[]).expect("emit")
}

impl Net {
    /// Hand a forged segment to the client and check that TCP took it (it
    /// reached the MPTCP layer): otherwise a test of what MPTCP does with
    /// it would pass for the wrong reason.
    pub fn forged_to_client(&mut self, pkt: &[u8]) {
        self.forged_to(true, pkt);
    }

    /// From now on the wire counts every packet sent either way (and
    /// delivers it): the count, to read after a run.
    pub fn count_packets(&mut self) -> std::rc::Rc<std::cell::Cell<u32>> {
        let count = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let c = count.clone();
        self.tamper = Box::new(move |_, _, _| {
            c.set(c.get() + 1);
            true
        });
        count
    }

    /// The same towards the server.
    pub fn forged_to_server(&mut self, pkt: &[u8]) {
        self.forged_to(false, pkt);
    }

    fn forged_to(&mut self, client: bool, pkt: &[u8]) {
        let before = self.first_subflow_stats(client);
        let end = if client {
            &mut self.client
        } else {
            &mut self.server
        };
        end.handle(self.now, pkt);
        let after = self.first_subflow_stats(client);
        assert_eq!(
            after.segs_in,
            before.segs_in + 1,
            "the segment reached the subflow"
        );
        assert_eq!(
            after.dropped_segments, before.dropped_segments,
            "TCP took the segment"
        );
    }

    fn first_subflow_stats(&self, client: bool) -> mptcp_proto::subflow::SubflowStats {
        let (ep, h) = if client {
            (&self.client, self.connection)
        } else {
            (&self.server, self.accepted)
        };
        h.and_then(|h| ep.connection(h))
            .and_then(|c| c.subflows().next().map(|sf| *sf.stats()))
            .expect("a live first subflow")
    }
}

/// The options of a client's MP_CAPABLE SYN (v1, HMAC-SHA256, no key,
/// MSS 1460), as a SYN flood sends them.
pub fn capable_syn_options() -> [TcpOption<'static>; 2] {
    use mptcp_wire::{CapableBody, CapableFlags, MpCapable, MptcpOption, Version};
    [
        TcpOption::Mss(1460),
        TcpOption::Mptcp(MptcpOption::Capable(MpCapable {
            version: Version::V1,
            flags: CapableFlags::HMAC_SHA,
            body: CapableBody::NoKey,
        })),
    ]
}

/// The MPTCP options of a packet.
pub fn mptcp_options(pkt: &[u8]) -> Vec<mptcp_wire::MptcpOption> {
    let Ok(ip) = IpPacket::parse(pkt) else {
        return Vec::new();
    };
    let Ok(tcp) = ip.tcp() else { return Vec::new() };
    mptcp_proto::segment::SegmentIn::from_tcp(&tcp)
        .mptcp
        .iter()
        .copied()
        .collect()
}

/// Replace every MPTCP option by NOPs, as a middlebox that strips them
/// would, and recompute the TCP checksum.
pub fn strip_mptcp(pkt: &mut [u8]) {
    let Ok(ip) = IpPacket::parse(pkt) else { return };
    let Ok(tcp) = ip.tcp() else { return };
    let spans: Vec<(usize, usize)> = tcp
        .options()
        .raw()
        .filter_map(Result::ok)
        .filter(|r| r.kind() == 30)
        .map(|r| (r.offset, r.bytes.len()))
        .collect();
    for (at, len) in spans {
        pkt[at..at + len].fill(1);
    }
    fix_tcp_checksum(pkt);
}
