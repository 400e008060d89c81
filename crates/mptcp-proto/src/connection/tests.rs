//! Two endpoints over an ideal wire with a fixed delay (the crate's test
//! harness, `tests/support`).

use crate::endpoint::{Endpoint, EndpointConfig, Event};
use crate::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

use crate::test_support as support;
use support::{CLIENT as A, Net, SERVER as B, drop_every};

/// The endpoints (seeds 1 and 2) over a wire with 5 ms each way, driven by
/// [`Net::step`]; nothing connected yet.
fn pair() -> Net {
    let mut n = Net::unconnected(false, (1, 2), |_, _| {});
    n.delay = Duration::from_millis(5);
    n
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

/// The client gets its second address ([`support::CLIENT2`]) and connects
/// from its first: a join follows.
fn connect_from_two_addresses(p: &mut Net) -> crate::connection::ConnectionHandle {
    p.client.add_address(support::ip(support::CLIENT2), 1500);
    p.client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect")
}

fn remote() -> SocketAddr {
    SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 80)
}

#[test]
fn echo_both_ways_then_graceful_close() {
    let mut p = pair();
    let c = p
        .client
        .connect(p.now, A.parse().expect("addr"), remote())
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
            written += p.client.write(c, &msg[written..]).expect("write");
            if written == msg.len() {
                p.client.shutdown(c).expect("shutdown");
            }
        }
        if server.is_none() {
            server = p.server.accept();
        }
        if let Some(s) = server.filter(|_| !echoed) {
            while let Some(n) = p.server.read(s, &mut buf).expect("read") {
                if n == 0 {
                    // Echo everything back (it fits the 8 MiB buffer), then close.
                    let off = p.server.write(s, &got_b).expect("write");
                    assert_eq!(off, got_b.len());
                    p.server.close(s).expect("close");
                    echoed = true;
                    break;
                }
                got_b.extend_from_slice(&buf[..n]);
            }
        }
        while let Some(n) = p.client.read(c, &mut buf).expect("read") {
            if n == 0 {
                break;
            }
            got_a.extend_from_slice(&buf[..n]);
        }
        if p.events[0].contains(&Event::Closed(c, None)) {
            break;
        }
        if !p.step() {
            break;
        }
    }
    for (name, ep) in [("client", &p.client), ("server", &p.server)] {
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
    assert!(p.events[0].contains(&Event::Connected(c)));
    assert!(p.events[0].contains(&Event::PeerClosed(c)));
    assert!(
        p.events[0].contains(&Event::Closed(c, None)),
        "{:?}",
        p.events[0]
    );
    assert!(matches!(p.events[1].first(), Some(Event::Incoming(_))));
}

#[test]
fn closed_port_answers_with_reset() {
    let mut p = pair();
    let dead = SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 81);
    let c = p
        .client
        .connect(p.now, A.parse().expect("addr"), dead)
        .expect("connect");
    while p.step() && p.now < Instant::from_micros(1_000_000) {}
    assert_eq!(p.server.stats().resets_sent, 1);
    assert!(p.events[0].contains(&Event::Closed(
        c,
        Some(crate::connection::ConnectionError::Refused)
    )));
}

#[test]
fn garbage_is_counted_not_fatal() {
    let mut p = pair();
    p.server.handle(p.now, &[0x45, 0, 0]);
    p.server.handle(p.now, &[]);
    let mut bad = vec![0u8; 60];
    bad[0] = 0x45;
    bad[3] = 60;
    bad[9] = 6;
    p.server.handle(p.now, &bad);
    assert_eq!(
        p.server.stats().malformed + p.server.stats().bad_checksum,
        3
    );
    assert_eq!(p.server.connection_count(), 0);
}

/// A SYN from `A`'s port `port` to `B`'s port 80 with sequence number
/// `seq` and `opts`.
fn syn_to_b(port: u16, seq: u32, opts: &[mptcp_wire::TcpOption<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 128];
    let src = SocketAddr::new(A.parse().expect("addr"), port);
    let dst = SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 80);
    let repr = mptcp_wire::TcpRepr {
        src_port: port,
        dst_port: 80,
        seq: mptcp_wire::SubflowSeq(seq),
        ack: mptcp_wire::SubflowSeq(0),
        flags: mptcp_wire::TcpFlags::SYN,
        window: 1000,
        urgent: 0,
    };
    let len = crate::segment::emit_ip_tcp(src, dst, &repr, opts, &[], &mut buf).expect("emit");
    buf.truncate(len);
    buf
}

#[test]
fn syn_flood_is_bounded_by_the_backlog() {
    let mut p = pair();
    for port in 0..1000u16 {
        p.server
            .handle(p.now, &syn_to_b(1000 + port, u32::from(port), &[]));
    }
    assert_eq!(p.server.connection_count(), 128);
    // Beyond the backlog, SYNs are answered with cookies: no state. The
    // queue of stateless SYN-ACKs is bounded too (256 at a time).
    let st = p.server.stats();
    assert_eq!(st.syn_cookies_sent + st.syn_backlog_drops, 1000 - 128);
    assert!(st.syn_cookies_sent >= 256);
}

#[test]
fn a_cookie_syn_ack_waits_for_a_buffer_that_holds_it() {
    let mut p = pair();
    // Fill the backlog, then one SYN more: answered with a cookie.
    let mss = [mptcp_wire::TcpOption::Mss(1460)];
    for port in 0..=128u16 {
        p.server
            .handle(p.now, &syn_to_b(3000 + port, u32::from(port), &mss));
    }
    assert_eq!(p.server.stats().syn_cookies_sent, 1);
    // The cookie's SYN-ACK goes first; offered a buffer too small for it,
    // nothing goes and nothing is lost: it is the next one out.
    let mut tiny = [0u8; 24];
    assert!(p.server.poll_transmit(p.now, &mut tiny).is_none());
    let mut big = vec![0u8; 1500];
    let t = p
        .server
        .poll_transmit(p.now, &mut big)
        .expect("the cookie SYN-ACK");
    let seg = mptcp_wire::IpPacket::parse(&big[..t.len]).expect("ip");
    let tcp = seg.tcp().expect("tcp");
    assert!(tcp.flags().syn() && tcp.flags().ack());
    assert_eq!(tcp.dst_port(), 3128);
    assert_eq!(p.server.stats().cookie_syn_acks_unsent, 0);
}

#[test]
fn connections_opened_by_syn_cookies_work_like_the_others() {
    // Backlog 0: every connection is opened by a cookie, MPTCP included.
    for version in [
        crate::crypto::MptcpVersion::V1,
        crate::crypto::MptcpVersion::V0,
    ] {
        let mut p = pair();
        let mut b = EndpointConfig {
            seed: 2,
            syn_backlog: 0,
            ..EndpointConfig::default()
        };
        b.connection.mptcp.version = version;
        p.server = Endpoint::new(b);
        p.server.add_address(B.parse().expect("addr"), 1500);
        p.server.listen(80);
        p.client = Endpoint::new(EndpointConfig {
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
        p.client.add_address(A.parse().expect("addr"), 1500);
        let c = connect_from_two_addresses(&mut p);
        let msg: Vec<u8> = (0..500_000u32).map(|i| (i % 233) as u8).collect();
        let (got, server) = upload(&mut p, c, &msg, &mut 0, Instant::from_micros(20_000_000));
        same(&got, &msg, "through a cookie connection");
        assert_eq!(p.server.stats().syn_cookies_accepted, 1, "{version:?}");
        let s = p
            .server
            .connection(server.expect("accepted"))
            .expect("server");
        assert_eq!(s.fallback(), None, "{version:?}: MPTCP through the cookie");
        assert_eq!(s.subflows().count(), 2, "{version:?}: the join too");
    }
}

/// Drive `p` from deadline to deadline, the client writing `msg` on `c`
/// (from `*written` on) and the server accepting and reading, until the
/// server read as much as `msg` or `until`: what it read, and its handle.
fn upload(
    p: &mut Net,
    c: crate::connection::ConnectionHandle,
    msg: &[u8],
    written: &mut usize,
    until: Instant,
) -> (Vec<u8>, Option<crate::connection::ConnectionHandle>) {
    let mut got = Vec::new();
    let mut server = None;
    let mut buf = vec![0u8; 65536];
    while p.now < until && got.len() < msg.len() {
        if *written < msg.len() {
            *written += p.client.write(c, &msg[*written..]).expect("write");
        }
        server = server.or_else(|| p.server.accept());
        if let Some(s) = server {
            while let Some(n) = p.server.read(s, &mut buf).expect("read") {
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
    (got, server)
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
    let mut p = pair();
    // A second client address: a join, so that data reaches the data level
    // out of order.
    let c = connect_from_two_addresses(&mut p);
    let mut server = None;
    while server.is_none() && p.step() {
        server = p.server.accept();
    }
    let s = server.expect("accepted");
    // Both directions start 3 MiB below 2^64 and carry 8 MiB.
    let start = u64::MAX - 3 * 1024 * 1024;
    {
        let (a, b) = (&mut p.client, &mut p.server);
        let (ca, cb) = (
            a.connection_mut(c).expect("client"),
            b.connection_mut(s).expect("server"),
        );
        move_data_space(ca, cb, start);
        move_data_space(cb, ca, start ^ 0x5555);
    }
    p.tamper = drop_every(97);
    let msg: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut wa, mut wb) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    while p.now < Instant::from_micros(60_000_000) {
        for (ep, h, w) in [(&mut p.client, c, &mut wa), (&mut p.server, s, &mut wb)] {
            if *w < msg.len() {
                *w += ep.write(h, &msg[*w..]).expect("write");
                if *w == msg.len() {
                    ep.shutdown(h).expect("shutdown");
                }
            }
        }
        for (ep, h, got) in [
            (&mut p.client, c, &mut got_a),
            (&mut p.server, s, &mut got_b),
        ] {
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
    let ca = p.client.connection(c).expect("client");
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
    let mut p = pair();
    let old = p
        .client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    p.client.abort(old).expect("abort");
    while p.step() && p.now < Instant::from_micros(1_000_000) {}
    assert!(
        p.client.connection(old).is_none(),
        "the aborted connection is gone"
    );
    let new = p
        .client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    assert_eq!(new.index(), old.index(), "the slot is reused");
    assert_ne!(new, old);
    assert!(p.client.connection(old).is_none());
    assert_eq!(
        p.client.write(old, b"x"),
        Err(crate::endpoint::ApiMisuse::UnknownConnection(old))
    );
    assert!(p.client.connection(new).is_some());
}

#[test]
fn the_backlog_counts_only_unaccepted_connections() {
    let mut p = pair();
    let mut accepted = Vec::new();
    // Three connections accepted one by one leave the backlog empty: a
    // backlog of one admits each in turn.
    p.server = Endpoint::new(EndpointConfig {
        seed: 2,
        backlog: 1,
        ..EndpointConfig::default()
    });
    p.server.add_address(B.parse().expect("addr"), 1500);
    p.server.listen(80);
    for _ in 0..3 {
        p.client
            .connect(p.now, A.parse().expect("addr"), remote())
            .expect("connect");
        let start = p.now;
        while p.now < start + Duration::from_millis(200) && p.step() {
            if let Some(h) = p.server.accept() {
                accepted.push(h);
            }
        }
    }
    assert_eq!(accepted.len(), 3, "{:?}", p.server.stats());
    assert_eq!(p.server.stats().syn_backlog_drops, 0);
}

#[test]
fn a_cloned_endpoint_pair_runs_on_independently_and_identically() {
    let mut p = pair();
    let c = p
        .client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 239) as u8).collect();
    let mut written = p.client.write(c, &msg).expect("write");
    for _ in 0..20 {
        p.step();
    }
    // Copy both endpoints mid-transfer, with what is on the wire.
    let mut q = pair();
    q.client = p.client.clone();
    q.server = p.server.clone();
    q.flight = p.flight.clone();
    q.now = p.now;
    let mut wq = written;
    let run = |p: &mut Net, written: &mut usize| {
        let (got, _) = upload(p, c, &msg, written, Instant::from_micros(10_000_000));
        (got, p.now, p.server.mib_total())
    };
    let (got_p, end_p, mib_p) = run(&mut p, &mut written);
    // The copy's token table is its own: the original's state changes do
    // not show in it, and it reaches the same end at the same instant.
    let (got_q, end_q, mib_q) = run(&mut q, &mut wq);
    same(&got_p, &msg, "original");
    same(&got_q, &msg, "copy");
    assert_eq!(end_p, end_q);
    assert!(mib_p == mib_q);
    assert!(!std::sync::Arc::ptr_eq(
        p.client.tokens(),
        q.client.tokens()
    ));
}

#[test]
fn a_signal_outlasts_a_buffer_too_small_to_carry_it() {
    use crate::stats::Mib;
    let mut p = pair();
    p.client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    while p.step() && p.now < Instant::from_micros(200_000) {}
    let s = p.server.accept().expect("accepted");
    let told = p.server.set_backup(s, B.parse().expect("addr"), true);
    assert_eq!(told, Ok(1));
    // The caller's buffer holds the headers but not the option room: the
    // MP_PRIO must stay due, not be marked sent and dropped.
    let mut small = [0u8; 48];
    assert!(p.server.poll_transmit(p.now, &mut small).is_none());
    assert_eq!(p.server.mib_total().get(Mib::MPPrioTx), 0);
    while p.step() && p.now < Instant::from_micros(400_000) {}
    assert_eq!(p.server.mib_total().get(Mib::MPPrioTx), 1);
    assert_eq!(p.client.mib_total().get(Mib::MPPrioRx), 1);
}

#[test]
fn a_reset_outlasts_a_buffer_too_small_to_carry_it() {
    let mut p = pair();
    let dead = SocketAddr::new(B.parse::<IpAddr>().expect("addr"), 81);
    p.client
        .connect(p.now, A.parse().expect("addr"), dead)
        .expect("connect");
    let mut buf = vec![0u8; 2048];
    let syn = p.client.poll_transmit(p.now, &mut buf).expect("syn");
    p.server.handle(p.now, &buf[..syn.len]);
    let mut small = [0u8; 20];
    assert!(p.server.poll_transmit(p.now, &mut small).is_none());
    assert!(p.server.poll_transmit(p.now, &mut buf).is_some());
    assert_eq!(p.server.stats().resets_sent, 1);
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
    let mut p = pair();
    let c = p
        .client
        .connect(p.now, A.parse().expect("addr"), remote())
        .expect("connect");
    let msg = vec![7u8; 1 << 20];
    let (mut written, mut got) = (0, 0);
    let mut server = None;
    let mut buf = vec![0u8; 65536];
    while got < msg.len() {
        if written < msg.len() {
            written += p.client.write(c, &msg[written..]).expect("write");
        }
        server = server.or_else(|| p.server.accept());
        if let Some(s) = server {
            while let Some(n) = p.server.read(s, &mut buf).expect("read") {
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
    while !p.client.connection(c).expect("client").data.send.is_empty() {
        assert!(p.step());
    }
    let held = |p: &Net| {
        let (a, b) = (
            p.client.connection(c).unwrap(),
            p.server.connection(s).unwrap(),
        );
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
    p.client.write(c, b"again").expect("write");
    let mut again = Vec::new();
    while again.len() < 5 {
        assert!(p.step());
        while let Some(n) = p.server.read(s, &mut buf).expect("read") {
            if n == 0 {
                break;
            }
            again.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(again, b"again");
}
