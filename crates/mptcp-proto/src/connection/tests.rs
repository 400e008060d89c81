//! Two endpoints over an ideal wire with a fixed delay.

use crate::endpoint::{Endpoint, EndpointConfig, Event};
use crate::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

struct Pair {
    now: Instant,
    a: Endpoint,
    b: Endpoint,
    flight: Vec<(Instant, bool, Vec<u8>)>,
    delay: Duration,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    /// Drop every n-th packet (0: none), so that data arrives out of order.
    drop_every: usize,
    sent: usize,
}

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

impl Pair {
    fn new() -> Pair {
        let mut a = Endpoint::new(EndpointConfig {
            seed: 1,
            ..EndpointConfig::default()
        });
        let mut b = Endpoint::new(EndpointConfig {
            seed: 2,
            ..EndpointConfig::default()
        });
        a.add_address(A.parse().expect("addr"), 1500);
        b.add_address(B.parse().expect("addr"), 1500);
        b.listen(80);
        Pair {
            now: Instant::ZERO,
            a,
            b,
            flight: Vec::new(),
            delay: Duration::from_millis(5),
            a_events: Vec::new(),
            b_events: Vec::new(),
            drop_every: 0,
            sent: 0,
        }
    }

    fn pump(&mut self) {
        let mut buf = vec![0u8; 2048];
        for to_b in [true, false] {
            let ep = if to_b { &mut self.a } else { &mut self.b };
            while let Some(t) = ep.poll_transmit(self.now, &mut buf) {
                self.sent += 1;
                if self.drop_every > 0 && self.sent.is_multiple_of(self.drop_every) {
                    continue;
                }
                self.flight
                    .push((self.now + self.delay, to_b, buf[..t.len].to_vec()));
            }
            let evs = if to_b {
                &mut self.a_events
            } else {
                &mut self.b_events
            };
            while let Some(e) = ep.poll_event() {
                evs.push(e);
            }
        }
    }

    fn step(&mut self) -> bool {
        self.pump();
        let next = [
            self.flight.iter().map(|f| f.0).min(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = next;
        let (due, rest): (Vec<_>, Vec<_>) = self.flight.drain(..).partition(|f| f.0 <= next);
        self.flight = rest;
        for (_, to_b, pkt) in due {
            if to_b {
                self.b.handle(self.now, &pkt);
            } else {
                self.a.handle(self.now, &pkt);
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
        true
    }
}

/// Compare streams without printing them.
fn same(got: &[u8], want: &[u8], what: &str) {
    let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got.len() == want.len() && first_diff.is_none(),
        "{what}: {} of {} bytes, first difference at {first_diff:?}",
        got.len(),
        want.len()
    );
}

fn remote() -> SocketAddr {
    SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 80)
}

#[test]
fn echo_both_ways_then_graceful_close() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    let mut written = 0;
    let mut server = None;
    let mut echoed = false;
    let mut got_b = Vec::new();
    let mut got_a = Vec::new();
    let mut buf = vec![0u8; 65536];
    while p.now < Instant::from_micros(20_000_000) {
        if written < msg.len() {
            written += p.a.write(c, &msg[written..]).expect("write");
            if written == msg.len() {
                p.a.shutdown(c).expect("shutdown");
            }
        }
        if server.is_none() {
            server = p.b.accept();
        }
        if let Some(s) = server.filter(|_| !echoed) {
            while let Some(n) = p.b.read(s, &mut buf).expect("read") {
                if n == 0 {
                    // Echo everything back (it fits the 8 MiB buffer), then close.
                    let off = p.b.write(s, &got_b).expect("write");
                    assert_eq!(off, got_b.len());
                    p.b.close(s).expect("close");
                    echoed = true;
                    break;
                }
                got_b.extend_from_slice(&buf[..n]);
            }
        }
        while let Some(n) = p.a.read(c, &mut buf).expect("read") {
            if n == 0 {
                break;
            }
            got_a.extend_from_slice(&buf[..n]);
        }
        if p.a_events.contains(&Event::Closed(c, None)) {
            break;
        }
        if !p.step() {
            break;
        }
    }
    for (name, ep) in [("client", &p.a), ("server", &p.b)] {
        for h in ep.connections() {
            let c = ep.connection(h).expect("conn");
            let mp = c.mptcp();
            eprintln!(
                "{name}: state {:?} fallback {:?} send una {:?} nxt {:?} end {:?} recv nxt {:?} window_end {:?} fully {:?} mib {:?}",
                c.state(),
                c.fallback(),
                c.data().send.una(),
                c.data().send.nxt(),
                c.data().send.end(),
                c.data().recv.nxt(),
                mp.map(|m| m.window_end),
                mp.map(|m| m.fully_established),
                c.mib()
            );
            for sf in c.subflows() {
                eprintln!("   {sf:?} wnd {}", sf.peer_window());
            }
        }
    }
    same(&got_b, &msg, "server received");
    same(&got_a, &msg, "client received the echo");
    assert!(p.a_events.contains(&Event::Connected(c)));
    assert!(p.a_events.contains(&Event::PeerClosed(c)));
    assert!(
        p.a_events.contains(&Event::Closed(c, None)),
        "{:?}",
        p.a_events
    );
    assert!(matches!(p.b_events.first(), Some(Event::Incoming(_))));
}

#[test]
fn closed_port_answers_with_reset() {
    let mut p = Pair::new();
    let dead = SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 81);
    let c =
        p.a.connect(p.now, A.parse().expect("addr"), dead)
            .expect("connect");
    while p.step() && p.now < Instant::from_micros(1_000_000) {}
    assert_eq!(p.b.stats().resets_sent, 1);
    assert!(p.a_events.contains(&Event::Closed(
        c,
        Some(crate::connection::ConnectionError::Refused)
    )));
}

#[test]
fn garbage_is_counted_not_fatal() {
    let mut p = Pair::new();
    p.b.handle(p.now, &[0x45, 0, 0]);
    p.b.handle(p.now, &[]);
    let mut bad = vec![0u8; 60];
    bad[0] = 0x45;
    bad[3] = 60;
    bad[9] = 6;
    p.b.handle(p.now, &bad);
    assert_eq!(p.b.stats().malformed + p.b.stats().bad_checksum, 3);
    assert_eq!(p.b.connection_count(), 0);
}

#[test]
fn syn_flood_is_bounded_by_the_backlog() {
    let mut p = Pair::new();
    let mut buf = vec![0u8; 128];
    let b_addr: IpAddr = B.parse().expect("addr");
    for port in 0..1000u16 {
        let src = SocketAddr::new(A.parse().expect("addr"), 1000 + port);
        let repr = mptcp_wire::TcpRepr {
            src_port: src.port(),
            dst_port: 80,
            seq: mptcp_wire::SubflowSeq(u32::from(port)),
            ack: mptcp_wire::SubflowSeq(0),
            flags: mptcp_wire::TcpFlags::SYN,
            window: 1000,
            urgent: 0,
        };
        let len = crate::segment::emit_ip_tcp(
            src,
            SocketAddr::new(b_addr, 80),
            &repr,
            &[],
            &[],
            &mut buf,
        )
        .expect("emit");
        p.b.handle(p.now, &buf[..len]);
    }
    assert_eq!(p.b.connection_count(), 128);
    // Beyond the backlog, SYNs are answered with cookies: no state. The
    // queue of stateless SYN-ACKs is bounded too (256 at a time).
    let st = p.b.stats();
    assert_eq!(st.syn_cookies_sent + st.syn_backlog_drops, 1000 - 128);
    assert!(st.syn_cookies_sent >= 256);
}

#[test]
fn connections_opened_by_syn_cookies_work_like_the_others() {
    // Backlog 0: every connection is opened by a cookie, MPTCP included.
    for version in [
        crate::crypto::MptcpVersion::V1,
        crate::crypto::MptcpVersion::V0,
    ] {
        let mut p = Pair::new();
        let mut b = EndpointConfig {
            seed: 2,
            syn_backlog: 0,
            ..EndpointConfig::default()
        };
        b.connection.mptcp.version = version;
        p.b = Endpoint::new(b);
        p.b.add_address(B.parse().expect("addr"), 1500);
        p.b.listen(80);
        p.a = Endpoint::new(EndpointConfig {
            seed: 1,
            connection: crate::connection::ConnectionConfig {
                mptcp: crate::connection::MptcpConfig {
                    version,
                    ..Default::default()
                },
                ..Default::default()
            },
            ..EndpointConfig::default()
        });
        p.a.add_address(A.parse().expect("addr"), 1500);
        p.a.add_address("192.0.2.3".parse().expect("addr"), 1500);
        let c =
            p.a.connect(p.now, A.parse().expect("addr"), remote())
                .expect("connect");
        let msg: Vec<u8> = (0..500_000u32).map(|i| (i % 233) as u8).collect();
        let mut written = 0;
        let mut got = Vec::new();
        let mut server = None;
        let mut buf = vec![0u8; 65536];
        while p.now < Instant::from_micros(20_000_000) && got.len() < msg.len() {
            if written < msg.len() {
                written += p.a.write(c, &msg[written..]).expect("write");
            }
            server = server.or_else(|| p.b.accept());
            if let Some(s) = server {
                while let Some(n) = p.b.read(s, &mut buf).expect("read") {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
            if !p.step() {
                break;
            }
        }
        same(&got, &msg, "through a cookie connection");
        assert_eq!(p.b.stats().syn_cookies_accepted, 1, "{version:?}");
        let s = p.b.connection(server.expect("accepted")).expect("server");
        assert_eq!(s.fallback(), None, "{version:?}: MPTCP through the cookie");
        assert_eq!(s.subflows().count(), 2, "{version:?}: the join too");
    }
}

/// Move one direction's data sequence space so that it starts at `start`:
/// the sender's IDSN and send buffer, the receiver's view of that IDSN and
/// its receive buffer. Only before any data flowed.
fn move_data_space(tx: &mut super::Connection, rx: &mut super::Connection, start: u64) {
    let start = mptcp_wire::DataSeq(start);
    let super::mptcp::Mode::Mptcp(mp) = &mut tx.data.mode else {
        panic!("sender not in MPTCP mode")
    };
    let window = mp.window_end.bytes_since(mp.send_start());
    mp.local.idsn = start.0.wrapping_sub(1);
    mp.window_end = start + window;
    tx.data.send.rebase(start);
    let super::mptcp::Mode::Mptcp(mp) = &mut rx.data.mode else {
        panic!("receiver not in MPTCP mode")
    };
    let remote = mp.remote.as_mut().expect("receiver knows the sender's key");
    remote.idsn = start.0.wrapping_sub(1);
    rx.data.recv.rebase(start);
}

#[test]
fn the_data_sequence_space_wraps_past_two_to_the_64() {
    let mut p = Pair::new();
    // A second client address: a join, so that data reaches the data level
    // out of order.
    p.a.add_address("192.0.2.3".parse().expect("addr"), 1500);
    let c =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    let mut server = None;
    while server.is_none() && p.step() {
        server = p.b.accept();
    }
    let s = server.expect("accepted");
    // Both directions start 3 MiB below 2^64 and carry 8 MiB.
    let start = u64::MAX - 3 * 1024 * 1024;
    {
        let (a, b) = (&mut p.a, &mut p.b);
        let (ca, cb) = (
            a.connection_mut(c).expect("client"),
            b.connection_mut(s).expect("server"),
        );
        move_data_space(ca, cb, start);
        move_data_space(cb, ca, start ^ 0x5555);
    }
    p.drop_every = 97;
    let msg: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut wa, mut wb) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    while p.now < Instant::from_micros(60_000_000) {
        for (ep, h, w) in [(&mut p.a, c, &mut wa), (&mut p.b, s, &mut wb)] {
            if *w < msg.len() {
                *w += ep.write(h, &msg[*w..]).expect("write");
                if *w == msg.len() {
                    ep.shutdown(h).expect("shutdown");
                }
            }
        }
        for (ep, h, got) in [(&mut p.a, c, &mut got_a), (&mut p.b, s, &mut got_b)] {
            while let Some(n) = ep.read(h, &mut buf).expect("read") {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        if got_a.len() == msg.len() && got_b.len() == msg.len() {
            break;
        }
        if !p.step() {
            break;
        }
    }
    same(&got_b, &msg, "server received");
    same(&got_a, &msg, "client received");
    let ca = p.a.connection(c).expect("client");
    assert_eq!(ca.fallback(), None);
    assert!(
        ca.data().send.una().0 < start,
        "the sender's DATA_ACK wrapped"
    );
    assert!(
        ca.data().recv.nxt().0 < start,
        "the receiver's DATA_ACK wrapped"
    );
    assert_eq!(ca.subflows().count(), 2, "the join carried data too");
    assert!(
        ca.mib().get(crate::stats::Mib::OFOQueue) > 0,
        "{:?}",
        ca.mib()
    );
}

#[test]
fn a_stale_handle_never_reaches_a_newer_connection() {
    let mut p = Pair::new();
    let old =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    p.a.abort(old).expect("abort");
    while p.step() && p.now < Instant::from_micros(1_000_000) {}
    assert!(
        p.a.connection(old).is_none(),
        "the aborted connection is gone"
    );
    let new =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    assert_eq!(new.index(), old.index(), "the slot is reused");
    assert_ne!(new, old);
    assert!(p.a.connection(old).is_none());
    assert_eq!(
        p.a.write(old, b"x"),
        Err(crate::endpoint::ApiMisuse::UnknownConnection(old))
    );
    assert!(p.a.connection(new).is_some());
}

#[test]
fn the_backlog_counts_only_unaccepted_connections() {
    let mut p = Pair::new();
    let mut accepted = Vec::new();
    // Three connections accepted one by one leave the backlog empty: a
    // backlog of one admits each in turn.
    p.b = Endpoint::new(EndpointConfig {
        seed: 2,
        backlog: 1,
        ..EndpointConfig::default()
    });
    p.b.add_address(B.parse().expect("addr"), 1500);
    p.b.listen(80);
    for _ in 0..3 {
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
        let start = p.now;
        while p.now < start + Duration::from_millis(200) && p.step() {
            if let Some(h) = p.b.accept() {
                accepted.push(h);
            }
        }
    }
    assert_eq!(accepted.len(), 3, "{:?}", p.b.stats());
    assert_eq!(p.b.stats().syn_backlog_drops, 0);
}

#[test]
fn a_cloned_endpoint_pair_runs_on_independently_and_identically() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 239) as u8).collect();
    let mut written = p.a.write(c, &msg).expect("write");
    for _ in 0..20 {
        p.step();
    }
    // Copy both endpoints mid-transfer, with what is on the wire.
    let mut q = Pair {
        a: p.a.clone(),
        b: p.b.clone(),
        flight: p.flight.clone(),
        a_events: Vec::new(),
        b_events: Vec::new(),
        ..Pair::new()
    };
    q.now = p.now;
    let mut wq = written;
    let run = |p: &mut Pair, written: &mut usize| {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        let mut server = None;
        while p.now < Instant::from_micros(10_000_000) && got.len() < msg.len() {
            if *written < msg.len() {
                *written += p.a.write(c, &msg[*written..]).expect("write");
            }
            server = server.or_else(|| p.b.accept());
            if let Some(s) = server {
                while let Some(n) = p.b.read(s, &mut buf).expect("read") {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
            if !p.step() {
                break;
            }
        }
        (got, p.now, p.b.mib_total())
    };
    let (got_p, end_p, mib_p) = run(&mut p, &mut written);
    // The copy's token table is its own: the original's state changes do
    // not show in it, and it reaches the same end at the same instant.
    let (got_q, end_q, mib_q) = run(&mut q, &mut wq);
    same(&got_p, &msg, "original");
    same(&got_q, &msg, "copy");
    assert_eq!(end_p, end_q);
    assert!(mib_p == mib_q);
    assert!(!std::sync::Arc::ptr_eq(p.a.tokens(), q.a.tokens()));
}

#[test]
fn a_signal_outlasts_a_buffer_too_small_to_carry_it() {
    use crate::stats::Mib;
    let mut p = Pair::new();
    p.a.connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    while p.step() && p.now < Instant::from_micros(200_000) {}
    let s = p.b.accept().expect("accepted");
    let told = p.b.set_backup(s, B.parse().expect("addr"), true);
    assert_eq!(told, Ok(1));
    // The caller's buffer holds the headers but not the option room: the
    // MP_PRIO must stay due, not be marked sent and dropped.
    let mut small = [0u8; 48];
    assert!(p.b.poll_transmit(p.now, &mut small).is_none());
    assert_eq!(p.b.mib_total().get(Mib::MPPrioTx), 0);
    while p.step() && p.now < Instant::from_micros(400_000) {}
    assert_eq!(p.b.mib_total().get(Mib::MPPrioTx), 1);
    assert_eq!(p.a.mib_total().get(Mib::MPPrioRx), 1);
}

#[test]
fn a_reset_outlasts_a_buffer_too_small_to_carry_it() {
    let mut p = Pair::new();
    let dead = SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 81);
    p.a.connect(p.now, A.parse().expect("addr"), dead)
        .expect("connect");
    let mut buf = vec![0u8; 2048];
    let syn = p.a.poll_transmit(p.now, &mut buf).expect("syn");
    p.b.handle(p.now, &buf[..syn.len]);
    let mut small = [0u8; 20];
    assert!(p.b.poll_transmit(p.now, &mut small).is_none());
    assert!(p.b.poll_transmit(p.now, &mut buf).is_some());
    assert_eq!(p.b.stats().resets_sent, 1);
}

#[test]
fn running_out_of_ports_is_exhaustion_not_misuse() {
    use crate::endpoint::{ConnectError, Exhausted};
    let mut a = Endpoint::new(EndpointConfig {
        seed: 1,
        ephemeral_ports: (40000, 40000),
        ..EndpointConfig::default()
    });
    a.add_address(A.parse().expect("addr"), 1500);
    let local = A.parse().expect("addr");
    a.connect(Instant::ZERO, local, remote())
        .expect("the one port");
    assert_eq!(
        a.connect(Instant::ZERO, local, remote()),
        Err(ConnectError::Exhausted(Exhausted::EphemeralPorts))
    );
    let v6 = "2001:db8::1".parse().expect("addr");
    assert_eq!(
        a.connect(Instant::ZERO, local, SocketAddr::new(v6, 80)),
        Err(ConnectError::Misuse(
            crate::endpoint::ApiMisuse::FamilyMismatch
        ))
    );
}

#[test]
fn an_idle_connection_lets_its_buffers_go() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
    let msg = vec![7u8; 1 << 20];
    let (mut written, mut got) = (0, 0);
    let mut server = None;
    let mut buf = vec![0u8; 65536];
    while got < msg.len() {
        if written < msg.len() {
            written += p.a.write(c, &msg[written..]).expect("write");
        }
        server = server.or_else(|| p.b.accept());
        if let Some(s) = server {
            while let Some(n) = p.b.read(s, &mut buf).expect("read") {
                got += n;
                if n == 0 {
                    break;
                }
            }
        }
        assert!(p.step(), "the transfer goes on");
    }
    let s = server.expect("accepted");
    // Everything read and acknowledged: kept a while for what comes next.
    while !p.a.connection(c).expect("client").data.send.is_empty() {
        assert!(p.step());
    }
    let held = |p: &Pair| {
        let (a, b) = (p.a.connection(c).unwrap(), p.b.connection(s).unwrap());
        a.data.send.holds_memory() || b.data.recv.holds_memory()
    };
    assert!(held(&p));
    let idle_from = p.now;
    while held(&p) && p.now < idle_from + Duration::from_secs(5) {
        assert!(p.step());
    }
    assert!(!held(&p), "released once idle");
    assert!(p.now >= idle_from + super::timers::TRIM_AFTER - Duration::from_millis(100));
    // And the next bytes still flow.
    p.a.write(c, b"again").expect("write");
    let mut again = Vec::new();
    while again.len() < 5 {
        assert!(p.step());
        while let Some(n) = p.b.read(s, &mut buf).expect("read") {
            if n == 0 {
                break;
            }
            again.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(again, b"again");
}
