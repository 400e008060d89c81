//! Arbitrary packets against an endpoint with an established connection.
//!
//! Two real endpoints complete a handshake and start moving data; then the
//! input is cut into steps. Each step is either raw bytes handed to the
//! server as a packet, or a well-formed TCP segment on the live 4-tuple
//! whose sequence numbers (relative to the connection's own), flags,
//! window, option bytes and payload come from the input, so that the
//! segment reaches the state machine rather than the parser's error paths.
//! Between steps the two endpoints exchange their own traffic and time
//! moves on. Nothing may panic, whatever arrives.
//!
//! The established pair is prepared once per process and cloned for each
//! input (`Endpoint: Clone` copies the token table too), so an input costs
//! its own steps, not a handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_proto::connection::ConnectionHandle;
use mptcp_proto::endpoint::{Endpoint, EndpointConfig};
use mptcp_proto::token::{TokenTable, TokenTableConfig};
use std::sync::Arc;
use mptcp_proto::time::{Duration, Instant};
use mptcp_wire::{Checksum, IpProtocol, Ipv4Repr};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

#[derive(Clone)]
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    conn: ConnectionHandle,
    buf: Vec<u8>,
}

impl Pair {
    fn established() -> Pair {
        // Small token tables: each input copies them.
        let tokens = || Arc::new(TokenTable::new(TokenTableConfig { shards: 2, ..TokenTableConfig::default() }));
        let mut client = Endpoint::with_tokens(EndpointConfig { seed: 1, ..EndpointConfig::default() }, tokens());
        let mut server = Endpoint::with_tokens(EndpointConfig { seed: 2, ..EndpointConfig::default() }, tokens());
        client.add_address(IpAddr::V4(CLIENT), 1500);
        server.add_address(IpAddr::V4(SERVER), 1500);
        server.listen(80);
        let conn = client
            .connect(Instant::ZERO, IpAddr::V4(CLIENT), SocketAddr::new(IpAddr::V4(SERVER), 80))
            .expect("connect");
        let mut p = Pair { now: Instant::ZERO, client, server, conn, buf: vec![0; 2048] };
        let _ = p.client.write(conn, &[7u8; 20_000]);
        p.pump(6);
        p
    }

    /// Exchange packets directly (zero delay) for a few rounds, accept and
    /// read on the server.
    fn pump(&mut self, rounds: usize) {
        for _ in 0..rounds {
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                let pkt = self.buf[..t.len].to_vec();
                self.server.handle(self.now, &pkt);
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                let pkt = self.buf[..t.len].to_vec();
                self.client.handle(self.now, &pkt);
            }
            while self.server.poll_event().is_some() {}
            while self.client.poll_event().is_some() {}
            if let Some(h) = self.server.accept() {
                let _ = self.server.write(h, &[9u8; 5000]);
            }
            let mut b = [0u8; 4096];
            for i in 0..self.server.connection_count() + 4 {
                let Some(h) = self.server.connections().nth(i) else { break };
                while let Ok(Some(n)) = self.server.read(h, &mut b) {
                    if n == 0 {
                        break;
                    }
                }
            }
        }
    }

    fn advance(&mut self, micros: u64) {
        self.now += Duration::from_micros(micros);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }
}

/// A TCP segment client -> server with the given fields, checksummed.
fn crafted(seq: u32, ack: u32, flags: u8, window: u16, options: &[u8], payload: &[u8], sport: u16) -> Vec<u8> {
    let opt_len = options.len().min(40).div_ceil(4) * 4;
    let tcp_len = 20 + opt_len + payload.len();
    let mut pkt = vec![0u8; 20 + tcp_len];
    let tcp = &mut pkt[20..];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = (((20 + opt_len) / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&window.to_be_bytes());
    let n = options.len().min(40);
    tcp[20..20 + n].copy_from_slice(&options[..n]);
    tcp[20 + opt_len..].copy_from_slice(payload);
    let mut sum = Checksum::new();
    sum.add_bytes(&CLIENT.octets());
    sum.add_bytes(&SERVER.octets());
    sum.add_u16(6);
    sum.add_u16(tcp_len as u16);
    sum.add_bytes(tcp);
    let c = sum.finish();
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let ip = Ipv4Repr {
        src: CLIENT,
        dst: SERVER,
        protocol: IpProtocol::TCP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_fragment: true,
    };
    let _ = ip.emit(&mut pkt, tcp_len);
    pkt
}

/// Reads input bytes, yielding zeros when exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

thread_local! {
    static READY: Pair = Pair::established();
}

fuzz_target!(|data: &[u8]| {
    let mut pair = READY.with(Pair::clone);
    let mut input = Input(data);
    let mut steps = 0;
    while !input.0.is_empty() && steps < 64 {
        steps += 1;
        let mode = input.u8();
        if mode < 48 {
            let len = usize::from(input.u8()) * 4;
            let raw = input.bytes(len).to_vec();
            pair.server.handle(pair.now, &raw);
        } else {
            // Sequence numbers relative to what the client's subflow uses.
            let (seq0, ack0, sport) = match pair.client.connection(pair.conn).and_then(|c| c.subflows().next()) {
                Some(sf) => (sf.snd_nxt().0, sf.rcv_nxt().0, sf.tuple().local.port()),
                None => (0, 0, 40000),
            };
            let spread = u32::from(mode & 7).max(1);
            let seq = seq0.wrapping_add((i32::from(input.u16() as i16) as u32).wrapping_mul(spread));
            let ack = ack0.wrapping_add(i32::from(input.u16() as i16) as u32);
            let flags = input.u8();
            let window = input.u16();
            let opt_len = usize::from(input.u8() % 41);
            let options = input.bytes(opt_len).to_vec();
            let pay_len = usize::from(input.u16() % 1500);
            let payload = input.bytes(pay_len).to_vec();
            let pkt = crafted(seq, ack, flags, window, &options, &payload, sport);
            pair.server.handle(pair.now, &pkt);
        }
        let dt = u64::from(input.u8()) * 1000;
        if dt > 0 {
            pair.pump(1);
            pair.advance(dt);
        }
        pair.pump(1);
    }
    // Let everything settle: timers, retransmissions, closes, for up to
    // five seconds, jumping from deadline to deadline.
    let end = pair.now + Duration::from_secs(5);
    for _ in 0..24 {
        let next = [pair.client.poll_timeout(), pair.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next.filter(|&t| t <= end) else { break };
        pair.advance(at.saturating_duration_since(pair.now).as_micros().max(1));
        pair.pump(1);
    }
});
