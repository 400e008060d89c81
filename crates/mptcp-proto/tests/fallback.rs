//! Fallback and MP_FAIL (RFC 8684 §3.7) between two endpoints, with a
//! middlebox on the wire and forged signals: both ends agree on whether the
//! connection fell back, and the application gets the exact stream or an
//! error, never altered, repeated or skipped bytes.

mod support;

use mptcp_proto::connection::{ConnectionError, FallbackReason};
use mptcp_proto::stats::Mib;
use mptcp_wire::{DataSeq, Dss, DssMapping, IpPacket, MpFail, MptcpOption, TcpOption, WireSeq};
use std::cell::RefCell;
use std::rc::Rc;
use support::{Dir, Net, flip_payload_byte, mptcp_options, pattern, strip_mptcp};

const LEN: usize = 400_000;

fn checksums(on: bool) -> impl Fn(bool, &mut mptcp_proto::endpoint::EndpointConfig) {
    move |_, c| c.connection.mptcp.checksum = on
}

/// Whether a packet carries payload, and on which local address.
fn data_from(pkt: &[u8], addr: &str) -> bool {
    IpPacket::parse(pkt).is_ok_and(|ip| {
        ip.src() == support::ip(addr) && ip.tcp().is_ok_and(|t| !t.payload().is_empty())
    })
}

fn src_is(pkt: &[u8], addr: &str) -> bool {
    IpPacket::parse(pkt).is_ok_and(|ip| ip.src() == support::ip(addr))
}

/// The received bytes are a prefix of what was sent.
fn is_prefix(got: &[u8], sent: &[u8]) -> bool {
    got.len() <= sent.len() && got == &sent[..got.len()]
}

#[test]
fn a_checksum_failure_on_the_only_subflow_ends_with_an_error_never_altered_bytes() {
    let mut n = Net::new(false, checksums(true));
    let msg = pattern(1, LEN);
    n.to_send[0] = msg.clone();
    let mut data_packets = 0;
    // The options of the client's first data segment from its MP_FAIL on.
    let after_fail: Rc<RefCell<Option<Vec<MptcpOption>>>> = Rc::default();
    let mut answered = false;
    let seen = after_fail.clone();
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToServer && src_is(pkt, support::CLIENT) {
            let opts = mptcp_options(pkt);
            answered |= opts.iter().any(|o| matches!(o, MptcpOption::Fail(_)));
            if answered && data_from(pkt, support::CLIENT) {
                seen.borrow_mut().get_or_insert(opts);
            }
        }
        if dir == Dir::ToServer && data_from(pkt, support::CLIENT) {
            data_packets += 1;
            if data_packets == 40 {
                assert!(flip_payload_byte(pkt, 100));
            }
        }
        true
    });
    n.run_to_end(20_000);
    // No data went out unmapped: the first data segment from the answer on
    // carries the infinite mapping (beside the MP_FAIL if on the same).
    let first = after_fail.borrow().clone().expect("data after the answer");
    let infinite = |o: &MptcpOption| matches!(o, MptcpOption::Dss(Dss { mapping: Some(m), .. }) if m.data_len == 0);
    assert!(first.iter().any(infinite), "{first:?}");
    // The server found the altered mapping and asked for a fallback on an
    // ACK; the client answered with MP_FAIL and an infinite mapping and
    // went on as TCP, as the kernel does.
    assert_eq!(n.server_mib(Mib::DataCsumErr), 1);
    assert_eq!(n.server_mib(Mib::MPFailTx), 1);
    assert_eq!(n.client_mib(Mib::MPFailRx), 1);
    assert_eq!(n.client_mib(Mib::InfiniteMapTx), 1);
    assert_eq!(n.client_mib(Mib::MPFailTx), 1, "the client answered");
    assert_eq!(n.server_mib(Mib::MPRstTx), 1, "the server reset at last");
    // The server's application has an exact prefix and an error.
    assert!(is_prefix(&n.got[1], &msg), "no altered byte delivered");
    assert!(n.got[1].len() < msg.len());
    assert_eq!(n.closed[1], Some(Some(ConnectionError::Corrupted)));
    assert!(n.closed[0].is_some_and(|e| e.is_some()), "{:?}", n.closed);
}

#[test]
fn a_checksum_failure_on_a_joined_subflow_resets_it_and_the_stream_stays_exact() {
    // The join carries data at once: enough of this short transfer for its
    // fifth data packet to be the one altered.
    let mut n = Net::new(
        true,
        |server, c: &mut mptcp_proto::endpoint::EndpointConfig| {
            checksums(true)(server, c);
            c.connection.mptcp.join_data_delay = mptcp_proto::time::Duration::ZERO;
        },
    );
    let msg = pattern(2, 2 * LEN);
    n.to_send[0] = msg.clone();
    let mut flipped = false;
    let mut seen = 0;
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToServer && data_from(pkt, support::CLIENT2) {
            seen += 1;
            if seen == 5 && !flipped {
                flipped = flip_payload_byte(pkt, 7);
            }
        }
        true
    });
    n.to_send[1] = b"ok".to_vec();
    n.run_to_end(30_000);
    assert_eq!(n.server_mib(Mib::DataCsumErr), 1);
    assert_eq!(n.server_mib(Mib::MPFailTx), 1);
    assert_eq!(n.client_mib(Mib::MPFailRx), 1);
    assert_eq!(n.client_mib(Mib::InfiniteMapTx), 0);
    assert!(
        n.got[1] == msg,
        "exact stream: {} of {}",
        n.got[1].len(),
        msg.len()
    );
    assert!(n.eof[1] && n.eof[0]);
    let c = n.client.connection(n.conn()).expect("client");
    assert_eq!(c.fallback(), None);
}

#[test]
fn acknowledged_data_without_data_acks_makes_both_ends_fall_back() {
    // A middlebox strips every MPTCP option from the server's segments
    // after the handshake: the client receives unmapped data and falls
    // back; the server sees its data acknowledged without DATA_ACKs and
    // falls back too (it once reinjected from the stream's start instead,
    // and the client's application read the first 900 KB twice).
    let mut n = Net::new(false, |_, _| {});
    let msg = pattern(3, LEN);
    n.to_send[1] = msg.clone();
    n.to_send[0] = b"hello".to_vec();
    n.tamper = Box::new(|_, dir, pkt| {
        if dir == Dir::ToClient && data_from(pkt, support::SERVER) {
            strip_mptcp(pkt);
        }
        true
    });
    n.run_to_end(20_000);
    assert!(
        n.got[0] == msg,
        "exact: {} of {}",
        n.got[0].len(),
        msg.len()
    );
    assert!(n.got[1] == b"hello");
    assert!(n.eof[0] && n.eof[1]);
    let c = n.client.connection(n.conn()).map(|c| c.fallback());
    let s = n
        .accepted
        .and_then(|h| n.server.connection(h))
        .map(|c| c.fallback());
    assert!(c.is_none_or(|f| f.is_some()), "client fell back: {c:?}");
    assert_eq!(s.flatten(), Some(FallbackReason::NoDataAck));
    assert_eq!(n.server_mib(Mib::DataAckMissing), 1);
    assert_eq!(n.server_mib(Mib::DssFallback), 1);
    // The client, on its only subflow before any DSS, fell back on the
    // unmapped data (RFC 8684 §3.7).
    assert_eq!(n.client_mib(Mib::DssFallback), 1);
}

#[test]
fn a_forged_mp_fail_is_ignored_without_checksums_or_for_data_never_sent() {
    for csum in [false, true] {
        let mut n = Net::new(false, checksums(csum));
        let msg = pattern(4, 20 * LEN);
        n.to_send[0] = msg.clone();
        n.run(20);
        let far = DataSeq(0x0123_4567_89ab_cdef);
        let dsn = if csum { far } else { DataSeq(1) };
        let fail = [TcpOption::Mptcp(MptcpOption::Fail(MpFail {
            reserved: 0,
            dsn: dsn.0,
        }))];
        // From the server to the client (the client sends the data).
        let forged = support::forge_to_client(&n, &fail, |_| {});
        n.forged_to_client(&forged);
        n.run_to_end(20_000);
        assert_eq!(n.client_mib(Mib::MPFailRx), 1);
        assert_eq!(n.client_mib(Mib::MPFailDrop), 1);
        assert!(n.got[1] == msg, "exact stream with checksums {csum}");
        let c = n.client.connection(n.conn()).expect("client");
        assert_eq!(c.fallback(), None);
    }
}

#[test]
fn a_forged_infinite_mapping_never_injects_bytes() {
    let mut n = Net::new(false, |_, _| {});
    let msg = pattern(5, LEN);
    n.to_send[0] = msg.clone();
    n.run(300);
    // An infinite mapping at a data sequence number that does not match
    // the subflow's run, with 1,000 bytes of payload, in the window.
    let evil = vec![0xee; 1000];
    let dss = [TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: WireSeq::Long(0x4242_4242_4242),
            subflow_seq: 524_289,
            data_len: 0,
            checksum: None,
        }),
        data_fin: false,
        reserved: 0,
        unused_flags: 0,
    }))];
    let forged = n.forge_to_server(&dss, &evil, |_| {});
    n.server.handle(n.now, &forged);
    n.run_to_end(20_000);
    assert_eq!(n.server_mib(Mib::InfiniteMapRx), 1);
    assert_eq!(n.server_mib(Mib::InfiniteMapDrop), 1);
    assert!(n.got[1] == msg, "exact stream: no forged byte delivered");
    let s = n
        .accepted
        .and_then(|h| n.server.connection(h))
        .map(|c| c.fallback());
    assert!(s.is_none_or(|f| f.is_none()), "no fallback: {s:?}");
}

/// A checksum failure on the only subflow left when the streams no longer
/// run one to one over it (a join carried data, then went away): no
/// fallback is possible, so the receiver resets the subflow with MP_FAIL
/// (RFC 8684 §3.7). That leaves the sender's connection without a
/// subflow; a peer that opens none (the kernel as a server) would wait for
/// ever, so the same RST carries MP_FASTCLOSE and both connections end.
#[test]
fn a_checksum_failure_on_the_last_subflow_without_fallback_fast_closes() {
    let mut n = Net::new(true, checksums(true));
    let msg = pattern(4, 40 * LEN);
    n.to_send[0] = msg.clone();
    let destroyed = Rc::new(RefCell::new(false));
    let armed = destroyed.clone();
    let rst: Rc<RefCell<Option<Vec<MptcpOption>>>> = Rc::default();
    let seen = rst.clone();
    let mut after = 0;
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToServer && *armed.borrow() && data_from(pkt, support::CLIENT) {
            after += 1;
            if after == 1 {
                assert!(flip_payload_byte(pkt, 100));
            }
        }
        let is_rst = IpPacket::parse(pkt).is_ok_and(|ip| ip.tcp().is_ok_and(|t| t.flags().rst()));
        if dir == Dir::ToClient && is_rst {
            seen.borrow_mut().get_or_insert(mptcp_options(pkt));
        }
        true
    });
    // Until the join has carried data (which ends the one-to-one run).
    let s2 = std::net::SocketAddr::new(support::ip(support::SERVER), 80);
    for ms in 0.. {
        if n.server_mib(Mib::MPJoinAckRx) > 0 && n.got[1].len() >= LEN {
            break;
        }
        assert!(ms < 5_000, "the join carried data");
        n.run(1);
    }
    let local = std::net::SocketAddr::new(support::ip(support::CLIENT2), 0);
    n.client
        .destroy_subflow(n.conn(), local, s2)
        .expect("destroy");
    // The server has seen the join go.
    n.run(20);
    assert_eq!(n.server_mib(Mib::RmSubflow), 1);
    *destroyed.borrow_mut() = true;
    n.run_to_end(20_000);
    assert_eq!(n.server_mib(Mib::DataCsumErr), 1);
    assert_eq!(n.server_mib(Mib::MPFailTx), 1);
    let opts = rst.borrow().clone().expect("the server reset the subflow");
    assert!(
        opts.iter().any(|o| matches!(o, MptcpOption::Fail(_))),
        "{opts:?}"
    );
    assert!(
        opts.iter().any(|o| matches!(o, MptcpOption::FastClose(_))),
        "the last subflow's RST ends the peer's connection: {opts:?}"
    );
    assert_eq!(n.client_mib(Mib::MPFastcloseRx), 1);
    assert!(is_prefix(&n.got[1], &msg), "no altered byte delivered");
    assert_eq!(n.closed[1], Some(Some(ConnectionError::Corrupted)));
    assert_eq!(n.closed[0], Some(Some(ConnectionError::Reset)));
}

/// After our MP_FAIL we drop everything from the failed mapping on. If the
/// peer's answer (MP_FAIL with the infinite mapping) is lost and its next
/// segments come as plain TCP, falling back would hand the application a
/// stream with a hole and, at the FIN, an end of stream: the connection
/// ends with `Corrupted` instead, never a truncated stream taken as whole.
#[test]
fn after_our_mp_fail_a_peer_gone_tcp_ends_the_connection_never_the_stream() {
    let mut n = Net::new(false, checksums(true));
    let msg = pattern(5, LEN);
    n.to_send[0] = msg.clone();
    // Data the other way too: the client's ACKs of it, without a DATA_ACK
    // once stripped, are what looks like a peer gone TCP.
    n.to_send[1] = pattern(6, LEN);
    let mut data_packets = 0;
    let mut failed = false;
    n.tamper = Box::new(move |_, dir, pkt| {
        if dir == Dir::ToClient
            && mptcp_options(pkt)
                .iter()
                .any(|o| matches!(o, MptcpOption::Fail(_)))
        {
            failed = true;
        }
        if dir == Dir::ToServer && data_from(pkt, support::CLIENT) {
            data_packets += 1;
            if data_packets == 40 {
                assert!(flip_payload_byte(pkt, 100));
            }
        }
        if failed && dir == Dir::ToServer {
            // The client's answer and everything after it lose their
            // MPTCP options on the way.
            strip_mptcp(pkt);
        }
        true
    });
    n.run_to_end(20_000);
    assert_eq!(n.server_mib(Mib::DataCsumErr), 1);
    assert!(n.server_mib(Mib::DataAckMissing) >= 1);
    assert!(is_prefix(&n.got[1], &msg), "no altered byte delivered");
    assert!(n.got[1].len() < msg.len());
    assert!(!n.eof[1], "a truncated stream is never ended as if whole");
    assert_eq!(n.closed[1], Some(Some(ConnectionError::Corrupted)));
}

/// After our MP_FAIL on the only subflow the peer has `FAIL_WAIT` (2 s)
/// to answer: a peer that goes silent then (its path gone) ends the
/// connection as `Corrupted` when that wait is over, not never (the
/// receiving end has nothing of its own in flight to time out).
#[test]
fn our_mp_fail_unanswered_ends_the_connection_after_the_wait() {
    let mut n = Net::new(false, checksums(true));
    n.to_send[0] = pattern(3, LEN);
    let mut data_packets = 0;
    let failed_at: Rc<RefCell<Option<mptcp_proto::time::Instant>>> = Rc::default();
    let at = failed_at.clone();
    n.tamper = Box::new(move |now, dir, pkt| {
        if dir == Dir::ToClient
            && mptcp_options(pkt)
                .iter()
                .any(|o| matches!(o, MptcpOption::Fail(_)))
        {
            at.borrow_mut().get_or_insert(now);
        }
        if dir == Dir::ToServer && at.borrow().is_some() {
            // The client is gone: nothing of it arrives any more.
            return false;
        }
        if dir == Dir::ToServer && data_from(pkt, support::CLIENT) {
            data_packets += 1;
            if data_packets == 40 {
                assert!(flip_payload_byte(pkt, 100));
            }
        }
        true
    });
    while failed_at.borrow().is_none() {
        assert!(
            n.now < mptcp_proto::time::Instant::from_micros(20_000_000),
            "no MP_FAIL"
        );
        n.run(10);
    }
    let t0 = failed_at.borrow().expect("MP_FAIL");
    let wait = mptcp_proto::time::Duration::from_millis(1800);
    while n.now < t0 + wait {
        n.run(10);
    }
    assert_eq!(
        n.closed[1], None,
        "still waiting for the answer at {:?}",
        n.now
    );
    n.run(500);
    assert_eq!(
        n.closed[1],
        Some(Some(ConnectionError::Corrupted)),
        "ended once the wait was over"
    );
    assert_eq!(n.server_mib(Mib::MPFailTx), 1);
    assert_eq!(n.server_mib(Mib::MPFailRx), 0, "the answer never came");
}
