//! Arbitrary packets against an endpoint with an established connection.
//!
//! Two real endpoints complete a handshake and start moving data; then the
//! input is cut into steps. Each step is either raw bytes handed to the
//! server as a packet, or a well-formed TCP segment on the live 4-tuple
//! (made with `mptcp_proto::forge`, as the security tests make theirs)
//! whose sequence numbers (relative to what was seen on the wire), flags,
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
use mptcp_proto::endpoint::{Endpoint, EndpointConfig};
use mptcp_proto::token::{TokenTable, TokenTableConfig};
use std::sync::Arc;
use mptcp_proto::time::{Duration, Instant};
use mptcp_proto::forge::{Observer, segment_raw_options};
use mptcp_wire::{SubflowSeq, TcpFlags, TcpRepr};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

#[derive(Clone)]
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    buf: Vec<u8>,
    /// What an on-path attacker saw; crafted segments continue from it.
    wire: Observer,
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
        let mut p = Pair { now: Instant::ZERO, client, server, buf: vec![0; 2048], wire: Observer::default() };
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
                self.wire.observe(&pkt);
                self.server.handle(self.now, &pkt);
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                let pkt = self.buf[..t.len].to_vec();
                self.wire.observe(&pkt);
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
            // Sequence numbers relative to what the attacker saw on the
            // first subflow's 4-tuple.
            let server = SocketAddr::new(IpAddr::V4(SERVER), 80);
            let from = pair.wire.tuples().find(|&(s, d)| d == server && s.ip() == IpAddr::V4(CLIENT));
            let next = from.and_then(|(c, _)| Some((c, pair.wire.next(c, server)?)));
            let (client, mut repr) = next.unwrap_or_else(|| {
                let c = SocketAddr::new(IpAddr::V4(CLIENT), 40000);
                (c, TcpRepr { src_port: 40000, dst_port: 80, seq: SubflowSeq(0), ack: SubflowSeq(0), flags: TcpFlags::ACK, window: 0, urgent: 0 })
            });
            let spread = u32::from(mode & 7).max(1);
            repr.seq = repr.seq + (i32::from(input.u16() as i16) as u32).wrapping_mul(spread);
            repr.ack = repr.ack + i32::from(input.u16() as i16) as u32;
            repr.flags = TcpFlags(u16::from(input.u8()));
            repr.window = input.u16();
            let opt_len = usize::from(input.u8() % 41);
            let options = input.bytes(opt_len).to_vec();
            let pay_len = usize::from(input.u16() % 1500);
            let payload = input.bytes(pay_len).to_vec();
            let Ok(pkt) = segment_raw_options(client, server, &repr, &options, &payload) else { continue };
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
