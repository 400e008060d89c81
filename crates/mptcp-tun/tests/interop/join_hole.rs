//! Our join's first data reaching a kernel server busy with its socket.
//!
//! Linux links a subflow it accepted into its connection only when the
//! application releases the socket's lock, and then sets the subflow's
//! mapping to the connection's acknowledged sequence number: data that
//! arrived on the subflow in between is taken as the bytes at that
//! number, whatever its DSS mapping said (checksums, verified before,
//! do not help). Here the kernel's server writes 8 MiB at a time into a
//! large send buffer, holding the lock for each copy, while our client
//! sends its first block over path 0, where nftables drops the block's
//! tail, and, the join on path 1 established, the rest: its first bytes
//! are above the hole. With our default `join_data_delay` every byte
//! arrives intact; with none, the kernel misplaced them in 15 runs of 27
//! on this machine (the ignored test shows it; `docs/interop.md`).

use crate::support::{in_lab, join_within, lab, nft, our_exchange_with, pattern, where_differ};
use mptcp_tun::lab::{TunLab, kernel};
use mptcp_tun::{PathConfig, Stack};
use std::net::SocketAddr;

const LEN: usize = 1 << 20;
/// What the kernel sends: large writes.
const DOWN: usize = 32 << 20;
/// The kernel socket's send buffer: more than it sends.
const SNDBUF: usize = 64 << 20;

/// Data bytes (IP lengths) path 0 lets through before it drops.
const PASSED: usize = 32 << 10;
/// Data bytes it drops then: the rest of the first block (the first
/// retransmissions pass).
const DROPPED: usize = 34 << 10;

fn ruleset(lab: &TunLab) -> String {
    let dev = &lab.path(0).dev;
    format!(
        "table netdev mptcp_hole {{
            chain hole {{
                type filter hook ingress device \"{dev}\" priority 0; policy accept;
                ip protocol tcp tcp dport 5201 meta length > 1000 quota until {PASSED} bytes accept
                ip protocol tcp tcp dport 5201 meta length > 1000 quota until {DROPPED} bytes counter drop
            }}
        }}\n"
    )
}

fn run(checksum: bool, delay: Option<std::time::Duration>) {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.ns()
        .sysctl(
            "net.mptcp.checksum_enabled",
            if checksum { "1" } else { "0" },
        )
        .expect("sysctl");
    // Receive buffers of 4 MiB from the start: with the default 128 KiB,
    // the kernel's connection, holding what arrived above the hole, can
    // take nothing more from a subflow, and the bytes that fill the hole,
    // queued on the join behind other data, never reach it (it advertised
    // a window it could not buffer; about one run in twenty stalls).
    lab.ns()
        .sysctl("net.ipv4.tcp_rmem", "4096 4194304 33554432")
        .expect("sysctl");
    nft(&lab, &ruleset(&lab));
    let _capture = crate::support::Capture::start(&lab);
    let up = pattern(21, LEN);
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let any = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(any, true))
        .expect("kernel listener");
    let down = pattern(22, DOWN);
    let kernel = lab.ns().spawn(move || -> std::io::Result<Vec<u8>> {
        let (s, _) = listener.accept()?;
        // A large send buffer: each write below copies all its bytes while
        // holding the connection's socket lock, for milliseconds, as an
        // application writing large blocks does.
        kernel::force_send_buffer(&s, SNDBUF)?;
        let mut w = s.try_clone()?;
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            use std::io::Write;
            for piece in down.chunks(8 << 20) {
                w.write_all(piece)?;
            }
            w.shutdown(std::net::Shutdown::Write)
        });
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &s, &mut got)?;
        writer.join().expect("writer")?;
        Ok(got)
    });
    let mut b = Stack::builder();
    for p in &lab.paths()[..2] {
        b = b.path_config(PathConfig::new(p.dev.clone(), p.stack_addr(false)));
    }
    if let Some(d) = delay {
        b = b.join_data_delay(d);
    }
    let ours = in_lab(&lab, || async {
        let stack = b.build().expect("stack");
        let s = stack.connect(server).await.expect("connect");
        our_exchange_with(s, &up, &stack, true).await
    })
    .expect("our end");
    let got = join_within(kernel, "the kernel's end finished").expect("kernel end");
    let counters = ours.counters;
    assert!(
        got == up,
        "the kernel got our bytes: {}\n  ours: {counters:?}",
        where_differ(&got, &up),
    );
    assert_eq!(ours.received, DOWN);
}

#[test]
fn join_above_a_hole_with_checksums() {
    run(true, None);
}

#[test]
fn join_above_a_hole_without_checksums() {
    run(false, None);
}

/// The kernel's misplacement itself: our join sends at once. Failed in
/// 15 runs of 27 (`cargo test -p mptcp-tun --test interop --
/// --ignored join_hole`); kept out of CI, where a failure it is meant to
/// show would read as flakiness.
#[test]
#[ignore = "shows a kernel race: fails in some runs, by design"]
fn kernel_misplaces_join_data_sent_at_once() {
    run(false, Some(std::time::Duration::ZERO));
}
