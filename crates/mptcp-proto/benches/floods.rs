//! State, heap and CPU under attack: each flood runs against a server with
//! a live honest connection, and the report gives what the server holds
//! afterwards (connections, subflow entries, reassembly cost, heap) and
//! what each forged packet cost in CPU at the start and at the end of the
//! flood (it must stay flat), and whether the honest stream stayed exact.
//!
//! `cargo bench -p mptcp-proto --bench floods` (add `-- --quick` for a
//! tenth of the packets).

#[path = "../tests/support/mod.rs"]
mod support;

use mptcp_proto::stats::Mib;
use mptcp_wire::{BackupFlags, IpPacket, MpJoin, MptcpOption, TcpFlags, TcpOption};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant as Wall;
use support::{Net, pattern};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Bytes allocated and not freed (dhat's heap statistics).
fn heap() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

const LEN: usize = 4_000_000;

/// A live connection carrying an honest stream, half-way through.
fn live() -> Net {
    let mut n = Net::new(false, |_, _| {});
    n.to_send[0] = pattern(1, LEN);
    n.run(10);
    n
}

struct Row {
    name: &'static str,
    packets: usize,
    first_us: f64,
    last_us: f64,
    connections: usize,
    subflows: usize,
    ofo_cost: u64,
    heap_growth: isize,
    exact: bool,
}

/// Time `count` forged packets in two slices (the first and the last 100).
fn flood(n: &mut Net, count: usize, mut forge: impl FnMut(&Net, usize) -> Vec<u8>) -> (f64, f64) {
    let mut first = 0.0;
    let mut last = 0.0;
    let mut sink = vec![0u8; 2048];
    for i in 0..count {
        let pkt = forge(n, i);
        let t = Wall::now();
        n.server.handle(n.now, &pkt);
        while n.server.poll_transmit(n.now, &mut sink).is_some() {}
        let us = t.elapsed().as_secs_f64() * 1e6;
        if i < 100 {
            first += us / 100.0;
        } else if i >= count - 100 {
            last += us / 100.0;
        }
    }
    (first, last)
}

fn finish(name: &'static str, mut n: Net, packets: usize, times: (f64, f64), heap0: isize) -> Row {
    let h = n.accepted.expect("accepted");
    let conn = n.server.connection(h).expect("server connection");
    let subflows = conn.paths().count();
    let ofo_cost =
        conn.data().recv.out_of_order_cost() + conn.subflows().map(|s| s.ofo_cost()).sum::<u64>();
    let connections = n.server.connection_count();
    let heap_growth = heap() - heap0;
    n.run_to_end(30_000);
    Row {
        name,
        packets,
        first_us: times.0,
        last_us: times.1,
        connections,
        subflows,
        ofo_cost,
        heap_growth,
        exact: n.got[1] == pattern(1, LEN),
    }
}

fn token_of(n: &Net) -> u32 {
    let h = n.accepted.expect("accepted");
    let c = n.server.connection(h).expect("conn");
    c.mptcp().map(|m| m.local.token.0).expect("MPTCP")
}

fn attacker(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::from([198, 18, (i >> 16) as u8, (i >> 8) as u8]),
        1024 + (i % 60_000) as u16,
    )
}

use support::segment_to_server as segment;

/// Join SYNs with the token, each followed by a third ACK with a wrong
/// HMAC (the server's SYN-ACK is read back from its output).
fn joins_refused(count: usize) -> Row {
    let mut n = live();
    let token = token_of(&n);
    let heap0 = heap();
    let mut first = 0.0;
    let mut last = 0.0;
    let mut buf = vec![0u8; 2048];
    for i in 0..count {
        let src = attacker(i);
        let t = Wall::now();
        let syn = MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 7,
            token,
            nonce: i as u32,
        };
        n.server.handle(
            n.now,
            &segment(
                src,
                1000,
                0,
                TcpFlags::SYN,
                &[TcpOption::Mptcp(MptcpOption::Join(syn))],
            ),
        );
        let mut synack_seq = None;
        while let Some(tx) = n.server.poll_transmit(n.now, &mut buf) {
            if let Ok(ip) = IpPacket::parse(&buf[..tx.len])
                && let Ok(tcp) = ip.tcp()
                && tcp.flags().syn()
            {
                synack_seq = Some(tcp.seq());
            }
        }
        if let Some(seq) = synack_seq {
            let ack = MpJoin::Ack {
                reserved: 0,
                hmac: [0xab; 20],
            };
            n.server.handle(
                n.now,
                &segment(
                    src,
                    1001,
                    seq.0.wrapping_add(1),
                    TcpFlags::ACK,
                    &[TcpOption::Mptcp(MptcpOption::Join(ack))],
                ),
            );
            while n.server.poll_transmit(n.now, &mut buf).is_some() {}
        }
        let us = t.elapsed().as_secs_f64() * 1e6;
        if i < 100 {
            first += us / 100.0;
        } else if i >= count - 100 {
            last += us / 100.0;
        }
    }
    assert_eq!(n.server_mib(Mib::MPJoinAckHMacFailure), count as u64);
    finish("join, wrong third-ACK HMAC", n, count, (first, last), heap0)
}

/// Join SYNs with the token that never complete.
fn joins_half_open(count: usize) -> Row {
    let mut n = live();
    let token = token_of(&n);
    let heap0 = heap();
    let times = flood(&mut n, count, |_, i| {
        let syn = MpJoin::Syn {
            flags: BackupFlags::NONE,
            address_id: 8,
            token,
            nonce: i as u32,
        };
        segment(
            attacker(i),
            1000,
            0,
            TcpFlags::SYN,
            &[TcpOption::Mptcp(MptcpOption::Join(syn))],
        )
    });
    finish(
        "join SYN with the token, never completed",
        n,
        count,
        times,
        heap0,
    )
}

/// MP_CAPABLE SYNs from addresses that never answer.
fn syn_flood(count: usize) -> Row {
    let mut n = live();
    let heap0 = heap();
    let cap = support::capable_syn_options();
    let times = flood(&mut n, count, |_, i| {
        segment(attacker(i), i as u32, 0, TcpFlags::SYN, &cap)
    });
    finish("MP_CAPABLE SYN flood", n, count, times, heap0)
}

/// One-byte segments with gaps, in the live subflow's window.
fn tiny_out_of_order(count: usize) -> Row {
    let mut n = live();
    let heap0 = heap();
    let times = flood(&mut n, count, |n, i| {
        n.forge_to_server(&[], &[0xee], |r| r.seq = r.seq + 5_000_000 + 2 * i as u32)
    });
    finish("1-byte out-of-order segments", n, count, times, heap0)
}

/// The honest 4 MB transfer's virtual completion time while `per_ms`
/// forged packets arrive every millisecond (none: the baseline), and
/// whether it stayed exact.
fn honest_during(per_ms: usize, mut forge: impl FnMut(&Net, usize) -> Vec<u8>) -> (f64, bool) {
    let mut n = Net::new(false, |_, _| {});
    n.to_send[0] = pattern(1, LEN);
    n.run(10);
    let start = n.now;
    let mut sink = vec![0u8; 2048];
    let mut i = 0;
    while n.got[1].len() < LEN && n.now < start + mptcp_proto::time::Duration::from_secs(60) {
        for _ in 0..per_ms {
            let pkt = forge(&n, i);
            i += 1;
            n.server.handle(n.now, &pkt);
            while n.server.poll_transmit(n.now, &mut sink).is_some() {}
        }
        n.run(1);
    }
    let secs = n.now.saturating_duration_since(start).as_secs_f64();
    (secs, n.got[1] == pattern(1, LEN))
}

fn during_floods() {
    println!();
    println!("| honest 4 MB transfer during | forged packets/ms | completion (virtual) | stream |");
    println!("|---|---|---|---|");
    let cap = support::capable_syn_options();
    let rows: Vec<(&str, usize, (f64, bool))> = vec![
        ("nothing", 0, honest_during(0, |_, _| Vec::new())),
        (
            "MP_CAPABLE SYN flood",
            100,
            honest_during(100, |_, i| {
                segment(attacker(i), i as u32, 0, TcpFlags::SYN, &cap)
            }),
        ),
        (
            "join SYNs with the token",
            100,
            honest_during(100, |n, i| {
                let syn = MpJoin::Syn {
                    flags: BackupFlags::NONE,
                    address_id: 8,
                    token: token_of(n),
                    nonce: i as u32,
                };
                segment(
                    attacker(i),
                    1000,
                    0,
                    TcpFlags::SYN,
                    &[TcpOption::Mptcp(MptcpOption::Join(syn))],
                )
            }),
        ),
        (
            "1-byte out-of-order segments",
            100,
            honest_during(100, |n, i| {
                n.forge_to_server(&[], &[0xee], |r| {
                    r.seq = r.seq + 5_000_000 + 2 * (i as u32 % 1_000_000)
                })
            }),
        ),
    ];
    for (name, per_ms, (secs, exact)) in rows {
        println!(
            "| {name} | {per_ms} | {:.3} s | {} |",
            secs,
            if exact { "exact" } else { "BROKEN" }
        );
    }
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let rows = [
        joins_refused(10_000 / scale),
        joins_half_open(10_000 / scale),
        syn_flood(100_000 / scale),
        tiny_out_of_order(300_000 / scale),
    ];
    println!(
        "| flood | packets | CPU/packet first 100 | last 100 | connections | subflow entries | reassembly cost | heap growth | honest stream |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} us | {:.1} us | {} | {} | {} KiB | {} KiB | {} |",
            r.name,
            r.packets,
            r.first_us,
            r.last_us,
            r.connections,
            r.subflows,
            r.ofo_cost / 1024,
            r.heap_growth / 1024,
            if r.exact { "exact" } else { "BROKEN" }
        );
    }
    during_floods();
}
