//! Forged signals against a live connection (RFC 7430 and RFC 8684's MUSTs):
//! an on-path attacker who saw the segments crafts its own on the live
//! 4-tuple. The honest connection must carry on with its stream exact.

mod support;

use mptcp_proto::stats::Mib;
use mptcp_wire::{AddAddr, AddressIds, MptcpOption, RemoveAddr, TcpOption};
use support::{Net, pattern};

const LEN: usize = 300_000;

#[test]
fn a_v0_form_add_addr_on_a_v1_connection_is_dropped() {
    // RFC 8684 §3.4.1: the HMAC is a MUST on v1; RFC 6824's form has none,
    // so accepting it would be the RFC 7430 §2 attack.
    let mut n = Net::new(false, |_, _| {});
    let msg = pattern(7, 20 * LEN);
    n.to_send[1] = msg.clone();
    n.run(20);
    let opt = [TcpOption::Mptcp(MptcpOption::AddAddr(AddAddr::V0 {
        address_id: 9,
        addr: "198.51.100.7".parse().expect("addr"),
        port: None,
    }))];
    let forged = support::forge_to_client(&n, &opt, |_| {});
    n.forged_to_client(&forged);
    n.run_to_end(20_000);
    assert_eq!(n.client_mib(Mib::AddAddrDrop), 1);
    assert_eq!(n.client_mib(Mib::AddAddr), 0);
    assert_eq!(n.client_mib(Mib::MPJoinSynTx), 0, "no join to the attacker");
    assert!(n.got[0] == msg);
}

#[test]
fn a_remove_addr_with_an_unbelievable_ack_is_not_acted_on() {
    // RFC 8684 §3.4.2 and RFC 5961 §5.2: validate first, then act. The
    // acknowledgment number lies far beyond anything the client sent.
    let mut n = Net::new(true, |_, _| {});
    let msg = pattern(8, 20 * LEN);
    n.to_send[1] = msg.clone();
    n.run(20);
    let ids = AddressIds::new(&[0, 1, 2]).expect("ids");
    let opt = [TcpOption::Mptcp(MptcpOption::RemoveAddr(RemoveAddr {
        reserved: 0,
        ids,
    }))];
    // The same segment with a believable ACK would be taken (see
    // a_forged_remove_addr_does_not_cut_a_live_path); this one is dropped.
    let dropped = |n: &Net| {
        let c = n.client.connection(n.conn()).expect("client");
        c.subflows()
            .next()
            .expect("subflow")
            .stats()
            .dropped_segments
    };
    let before = dropped(&n);
    let forged = support::forge_to_client(&n, &opt, |r| r.ack += 50_000_000);
    n.client.handle(n.now, &forged);
    assert_eq!(dropped(&n), before + 1);
    n.run_to_end(20_000);
    assert_eq!(n.client_mib(Mib::RmAddr), 0);
    assert_eq!(n.client_mib(Mib::RmSubflow), 0);
    assert!(n.got[0] == msg);
    let c = n.client.connection(n.conn()).expect("client");
    assert_eq!(c.subflows().count(), 2);
}

#[test]
fn one_byte_out_of_order_segments_cost_at_most_twice_the_window() {
    // 300,000 one-byte segments with gaps between them, in the window of
    // the live subflow: each once cost a buffer and two map entries
    // (about 110 bytes of heap per byte held).
    let mut n = Net::new(false, |_, c| c.connection.recv_buffer = 1 << 20);
    let msg = pattern(9, LEN);
    n.to_send[0] = msg.clone();
    n.run(50);
    let h = n.accepted.expect("accepted");
    for i in 0..300_000u32 {
        // Beyond the end of the honest stream, inside the window.
        let forged = n.forge_to_server(&[], &[0xee], |r| r.seq = r.seq + 320_000 + 2 * i);
        n.server.handle(n.now, &forged);
    }
    let c = n.server.connection(h).expect("server");
    let sf = c.subflows().next().expect("subflow");
    let window = 1u64 << 20;
    assert!(sf.ofo_cost() <= 2 * window + 4096, "cost {}", sf.ofo_cost());
    assert!(sf.stats().ofo_pruned_bytes > 0);
    // The honest stream goes on, exact.
    n.run_to_end(30_000);
    assert!(n.got[1] == msg, "{} of {}", n.got[1].len(), msg.len());
}

#[test]
fn dss_junk_far_ahead_is_discarded_and_starts_no_ack_storm() {
    use mptcp_wire::{Dss, DssMapping, WireSeq};
    let mut n = Net::new(false, |_, _| {});
    let msg = pattern(10, 2_000_000);
    n.to_send[0] = msg.clone();
    n.run(20);
    // A mapping far beyond the window, with payload at the subflow's next
    // sequence number, in the middle of the transfer.
    let h = n.accepted.expect("accepted");
    let view = n
        .server
        .connection(h)
        .expect("conn")
        .subflows()
        .next()
        .expect("sf")
        .snapshot();
    let rel = (view.rcv_nxt - view.irs) as u32;
    let dss = [TcpOption::Mptcp(MptcpOption::Dss(Dss {
        data_ack: None,
        mapping: Some(DssMapping {
            dsn: WireSeq::Long(0x7000_0000_0000_0000),
            subflow_seq: rel,
            data_len: 100,
            checksum: None,
        }),
        data_fin: false,
        reserved: 0,
        unused_flags: 0,
    }))];
    let forged = n.forge_to_server(&dss, &[0xee; 100], |_| {});
    n.server.handle(n.now, &forged);
    assert_eq!(n.server_mib(Mib::DssOutOfWindow), 1);
    n.run_to_end(20_000);
    assert!(n.got[1] == msg, "{} of {}", n.got[1].len(), msg.len());
    // Idle afterwards: a handful of packets, not an exchange of ACKs.
    let count = n.count_packets();
    n.run(5_000);
    assert!(
        count.get() < 50,
        "{} packets in 5 idle seconds",
        count.get()
    );
}

#[test]
fn two_ends_out_of_step_do_not_exchange_acks_forever() {
    // A forged data segment without any mapping, taken at the TCP level
    // before the connection fell back or noticed: the server's
    // acknowledgments then run ahead of what the client sent, and each end
    // answers the other's "invalid" ACK. The answers to pure ACKs are rate
    // limited.
    let mut n = Net::new(false, |_, _| {});
    let msg = pattern(12, 50_000);
    n.to_send[1] = msg.clone();
    n.run(500);
    let forged = n.forge_to_server(&[], &[0xee; 100], |_| {});
    n.forged_to_server(&forged);
    let count = n.count_packets();
    n.run(5_000);
    assert!(count.get() < 100, "{} packets in 5 seconds", count.get());
}

#[test]
fn a_forged_remove_addr_does_not_cut_a_live_path() {
    // RFC 8684 §3.4.2: a REMOVE_ADDR first triggers a keepalive on the
    // path; a path that answers is not removed.
    let mut n = Net::new(true, |_, _| {});
    let msg = pattern(13, 20_000_000);
    n.to_send[1] = msg.clone();
    n.run(20);
    let ids = AddressIds::new(&[0]).expect("ids");
    let opt = [TcpOption::Mptcp(MptcpOption::RemoveAddr(RemoveAddr {
        reserved: 0,
        ids,
    }))];
    let forged = support::forge_to_client(&n, &opt, |_| {});
    n.forged_to_client(&forged);
    n.run_to_end(20_000);
    assert_eq!(n.client_mib(Mib::RmAddr), 1);
    assert_eq!(n.client_mib(Mib::RmAddrProbeAnswered), 1);
    assert_eq!(n.client_mib(Mib::RmSubflow), 0, "no subflow cut");
    assert!(n.got[0] == msg);
    let c = n.client.connection(n.conn()).expect("client");
    assert!(
        c.subflows().all(|sf| sf.stats().bytes_received > 100_000),
        "both paths carried data"
    );
}

#[test]
fn a_syn_flood_does_not_keep_an_honest_client_out() {
    // 100,000 MP_CAPABLE SYNs from addresses that never answer fill the
    // half-open backlog (128) at once; the honest client's SYN right after
    // is answered with a SYN cookie and its connection completes at once
    // (it once waited 123 s for the flood's half-open entries to expire).
    use mptcp_wire::{TcpFlags, TcpRepr};
    let mut n = Net::new(false, |_, _| {});
    let server = std::net::SocketAddr::new(support::ip(support::SERVER), 80);
    let cap = support::capable_syn_options();
    let mut buf = vec![0u8; 256];
    let mut sink = vec![0u8; 2048];
    for i in 0..100_000u32 {
        let src = std::net::SocketAddr::new(
            std::net::IpAddr::from([198, 18, (i >> 16) as u8, (i >> 8) as u8]),
            1024 + (i % 60_000) as u16,
        );
        let repr = TcpRepr {
            src_port: src.port(),
            dst_port: 80,
            seq: mptcp_wire::SubflowSeq(i),
            ack: mptcp_wire::SubflowSeq(0),
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
        };
        let len = mptcp_proto::segment::emit_ip_tcp(src, server, &repr, &cap, &[], &mut buf)
            .expect("emit");
        n.server.handle(n.now, &buf[..len]);
        if i % 100 == 0 {
            // The SYN-ACKs go to addresses that never answer.
            while n.server.poll_transmit(n.now, &mut sink).is_some() {}
        }
    }
    while n.server.poll_transmit(n.now, &mut sink).is_some() {}
    let st = *n.server.stats();
    assert!(
        n.server.connection_count() <= 128,
        "{}",
        n.server.connection_count()
    );
    assert!(st.syn_cookies_sent >= 99_000, "{st:?}");
    // Now the honest client (its SYN was waiting to leave).
    let msg = pattern(15, LEN);
    n.to_send[0] = msg.clone();
    n.run(20);
    assert!(n.accepted.is_some(), "accepted within 20 ms");
    assert_eq!(n.server.stats().syn_cookies_accepted, 1);
    n.run_to_end(10_000);
    assert!(n.got[1] == msg);
    let c = n.client.connection(n.conn()).expect("client");
    assert_eq!(c.fallback(), None, "MPTCP through the cookie");
}

#[test]
fn a_contradicting_mapping_on_the_last_subflow_ends_as_the_peers_violation() {
    use mptcp_proto::connection::{ConnectionError, ProtocolViolation};
    use mptcp_wire::{Dss, DssMapping, WireSeq};
    let mut n = Net::new(false, |_, _| {});
    n.to_send[0] = pattern(12, 2_000_000);
    n.run(20);
    let h = n.accepted.expect("accepted");
    let c = n.server.connection(h).expect("conn");
    let view = c.subflows().next().expect("sf").snapshot();
    let rel = (view.rcv_nxt - view.irs) as u32;
    let dsn = c.data().recv.nxt().0;
    // One mapping of 20 bytes declared on its first 10, then declared
    // again on the next 10 at another data sequence number (RFC 8684
    // §3.3.1: a mapping, once declared, cannot change).
    let dss = |at: u64| {
        [TcpOption::Mptcp(MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: WireSeq::Long(at),
                subflow_seq: rel,
                data_len: 20,
                checksum: None,
            }),
            data_fin: false,
            reserved: 0,
            unused_flags: 0,
        }))]
    };
    let first = n.forge_to_server(&dss(dsn), &[0xee; 10], |_| {});
    n.forged_to_server(&first);
    let second = n.forge_to_server(&dss(dsn + 7), &[0xee; 10], |r| r.seq += 10);
    n.server.handle(n.now, &second);
    assert_eq!(n.server_mib(Mib::DSSNotMatching), 1);
    n.run(100);
    assert_eq!(
        n.closed[1],
        Some(Some(ConnectionError::ProtocolViolation(
            ProtocolViolation::ContradictingMapping
        )))
    );
}
