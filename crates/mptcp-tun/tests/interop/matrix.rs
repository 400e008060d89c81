//! The kernel matrix ("robust everywhere"): our stack against the kernel's
//! MPTCP with the kernel's TCP options off one by one
//! (`net.ipv4.tcp_timestamps`, `tcp_sack`, `tcp_window_scaling` = 0),
//! with DSS checksums (`net.mptcp.checksum_enabled` = 1), on paths of MTU
//! 1280 and 9000, over IPv4 and IPv6, in both roles, and with our own TCP
//! options off too ([`TcpFeatures`]).
//!
//! The whole product (2 roles x 2 families x 2 MTUs x 2^4 kernel settings
//! x our options) is too slow for the suite; each role runs the eight rows
//! of an L8 orthogonal array over seven two-valued factors (family, MTU,
//! the four kernel settings, our options default or reduced), so that
//! every value of every factor, and every pair of values of any two
//! factors, meets in each role. The kernel-client role flips the family
//! column, so the two roles do not repeat each other's cells.
//!
//! Every cell: two paths (our join, or the kernel's join through a
//! `subflow` endpoint), 4 MiB each way at once, SHA-256 equal at both
//! ends, no fallback and the join counted by the kernel (`MPTCP_INFO`
//! taken while every subflow is live, and its namespace's counters), no
//! checksum, mapping or fallback trouble counted, and the MTU respected
//! and used by both ends (the largest packet each way).

use crate::support::{
    Fin, KernelEnd, KernelPlan, OurEnd, in_lab, join_within, kernel_client_with,
    kernel_server_with, kinfo, lab, our_exchange_with, pattern, sha256,
};
use mptcp_tun::lab::TunLab;
use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::{Mib, MptcpVersion, PathConfig, Stack, StackBuilder, TcpFeatures};
use std::fmt;
use std::net::SocketAddr;

const LEN: usize = 4 << 20;

/// Which end opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Our client, the kernel's server.
    OurClient,
    /// The kernel's client, our server.
    KernelClient,
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
struct Cell {
    role: Role,
    v6: bool,
    /// Of both paths, at both ends.
    mtu: u32,
    /// `net.ipv4.tcp_timestamps` in the kernel's namespace.
    kernel_timestamps: bool,
    /// `net.ipv4.tcp_sack`.
    kernel_sack: bool,
    /// `net.ipv4.tcp_window_scaling`.
    kernel_window_scaling: bool,
    /// `net.mptcp.checksum_enabled`.
    kernel_checksum: bool,
    /// Our TCP options (the `TcpFeatures` form; empty: the defaults).
    ours: &'static str,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { 1 } else { 0 };
        write!(
            f,
            "{:?} {} mtu {}; kernel timestamps={} sack={} window_scaling={} checksum={}; ours [{}]",
            self.role,
            if self.v6 { "IPv6" } else { "IPv4" },
            self.mtu,
            on(self.kernel_timestamps),
            on(self.kernel_sack),
            on(self.kernel_window_scaling),
            on(self.kernel_checksum),
            self.ours,
        )
    }
}

/// Kernel counters that stay at zero in a healthy exchange: fallbacks,
/// HMAC failures, refused joins, mappings that do not match, checksum
/// errors, MP_FAIL and infinite mappings.
const TROUBLE: &[&str] = &[
    "MPCapableFallbackACK",
    "MPCapableFallbackSYNACK",
    "MPFallbackTokenInit",
    "MPJoinSynAckHMacFailure",
    "MPJoinAckHMacFailure",
    "MPJoinRejected",
    "DSSNotMatching",
    "DSSCorruptionFallback",
    "DSSCorruptionReset",
    "DSSNoMatchTCP",
    "NoDSSInWindow",
    "DataCsumErr",
    "InfiniteMapTx",
    "InfiniteMapRx",
    "MPFailTx",
    "MPFailRx",
    "MPCapableDataFallback",
    "DssFallback",
    "FallbackFailed",
];

/// What a cell produced.
struct Run {
    kernel: KernelEnd,
    ours: OurEnd,
    /// The kernel namespace's counters during the exchange.
    delta: MptcpCounters,
    /// Our paths as the stack had them (with their MTU).
    paths: Vec<PathConfig>,
    /// What each end sent.
    sha_to_kernel: String,
    sha_to_us: String,
}

/// The lab's kernel side for `cell`: sysctls, MTUs, the kernel client's
/// `subflow` endpoint on path 1.
fn configure(lab: &TunLab, cell: &Cell) {
    let bit = |b: bool| if b { "1" } else { "0" };
    let ns = lab.ns();
    for (key, on) in [
        ("net.ipv4.tcp_timestamps", cell.kernel_timestamps),
        ("net.ipv4.tcp_sack", cell.kernel_sack),
        ("net.ipv4.tcp_window_scaling", cell.kernel_window_scaling),
        ("net.mptcp.checksum_enabled", cell.kernel_checksum),
    ] {
        ns.sysctl(key, bit(on)).expect("sysctl");
    }
    for i in 0..2 {
        lab.set_mtu(i, cell.mtu).expect("set the path's MTU");
        assert_eq!(lab.mtu(i).expect("MTU"), cell.mtu);
    }
    if cell.role == Role::KernelClient {
        match cell.v6 {
            false => lab.endpoint(1, "subflow"),
            true => lab.endpoint_v6(1, "subflow"),
        }
        .expect("subflow endpoint");
    }
}

/// Our stack for `cell`: both paths at the cell's MTU (set from our side
/// too), our TCP options.
fn builder(lab: &TunLab, cell: &Cell) -> StackBuilder {
    let features: TcpFeatures = cell.ours.parse().expect("TCP features");
    let mut b = Stack::builder().tcp_features(features);
    for p in &lab.paths()[..2] {
        let mtu = u16::try_from(cell.mtu).expect("MTU");
        b = b.path_config(PathConfig::new(p.dev.clone(), p.stack_addr(cell.v6)).with_mtu(mtu));
    }
    b
}

/// How the kernel's end exchanges: its first block, then the join's
/// handshake done at the kernel, then the rest; shutting down writing
/// only after taking `MPTCP_INFO`, so that every subflow is live in it.
fn plan(role: Role) -> KernelPlan {
    let join_counter = match role {
        Role::OurClient => "MPJoinAckRx",
        Role::KernelClient => "MPJoinSynAckRx",
    };
    KernelPlan {
        fin: Fin::AfterInfo,
        join_counter: Some(join_counter),
    }
}

/// Both directions at once, each end waiting for the join after its first
/// block (a transfer of a few milliseconds may otherwise end before the
/// kernel's path manager even starts the join).
fn exchange(lab: &TunLab, cell: &Cell) -> Run {
    let to_kernel = pattern(11, LEN);
    let to_us = pattern(12, LEN);
    let before = lab.ns().counters().expect("counters");
    let b = builder(lab, cell);
    let (ours, kernel, paths) = match cell.role {
        Role::OurClient => {
            let server = SocketAddr::new(lab.path(0).kernel_addr(cell.v6), 5201);
            let kernel =
                kernel_server_with(lab.ns(), server, true, to_us.clone(), plan(Role::OurClient));
            let (ours, paths) = in_lab(lab, || async {
                let stack = b.build().expect("stack");
                let s = stack.connect(server).await.expect("connect");
                (
                    our_exchange_with(s, &to_kernel, &stack, true).await,
                    stack.paths().to_vec(),
                )
            });
            (ours, kernel, paths)
        }
        Role::KernelClient => {
            let ours_addr = SocketAddr::new(lab.path(0).stack_addr(cell.v6), 5201);
            in_lab(lab, || async {
                let stack = b.build().expect("stack");
                let listener = stack.listen(5201).expect("listen");
                let kernel = kernel_client_with(
                    lab.ns(),
                    ours_addr,
                    true,
                    to_us.clone(),
                    plan(Role::KernelClient),
                );
                let (s, _peer) = listener.accept().await.expect("accept");
                let ours = our_exchange_with(s, &to_kernel, &stack, true).await;
                (ours, kernel, stack.paths().to_vec())
            })
        }
    };
    let ours = ours.unwrap_or_else(|e| panic!("{cell}: our end: {e}"));
    let kernel = join_within(kernel, "the kernel's end finished")
        .unwrap_or_else(|e| panic!("{cell}: the kernel's end: {e}"));
    let delta = lab.ns().counters().expect("counters").delta(&before);
    Run {
        kernel,
        ours,
        delta,
        paths,
        sha_to_kernel: sha256(&to_kernel),
        sha_to_us: sha256(&to_us),
    }
}

/// Everything both ends counted, for failure messages.
fn context(cell: &Cell, run: &Run) -> String {
    let subflows: Vec<String> = run
        .ours
        .info
        .subflows
        .iter()
        .map(|f| {
            format!(
                "{} -> {} {:?} sent {} acked {} received {} retrans {}",
                f.tuple.local,
                f.tuple.remote,
                f.state,
                f.bytes_sent,
                f.bytes_acked,
                f.bytes_received,
                f.bytes_retrans
            )
        })
        .collect();
    format!(
        "{cell}\n  kernel: {:?}\n  kernel counters: {}\n  our counters: {:?}\n  our subflows: {subflows:#?}",
        run.kernel.socket, run.delta, run.ours.counters
    )
}

/// Every byte arrived intact, both ways.
fn check_data(cell: &Cell, run: &Run) {
    let why = context(cell, run);
    let (k, ours) = (&run.kernel, &run.ours);
    assert_eq!(k.received, LEN, "the kernel got every byte: {why}");
    if k.received_sha != run.sha_to_kernel {
        let to_kernel = pattern(11, LEN);
        let diff = crate::support::where_differ(&k.data, &to_kernel);
        panic!("ours, not intact: {diff}\n{why}");
    }
    assert_eq!(ours.received, LEN, "we got every byte: {why}");
    assert_eq!(
        ours.received_sha, run.sha_to_us,
        "the kernel's, intact: {why}"
    );
}

/// MPTCP all along at both ends, the join counted by both, checksums as
/// the kernel asked, nothing counted that should not be.
fn check_mptcp(cell: &Cell, run: &Run) {
    let (delta, ours, why) = (&run.delta, &run.ours, context(cell, run));
    let ki = kinfo(&run.kernel);
    assert!(!ki.fallback() && ki.remote_key_received(), "{why}");
    // `subflows` counts the join (extra subflows); `subflows_total` adds
    // the initial subflow only while it is established, and our subflow
    // FINs follow our acknowledged DATA_FIN (RFC 8684 §3.3.3).
    assert_eq!(ki.subflows, 1, "the kernel counts the join: {why}");
    assert_eq!(ki.csum_enabled, cell.kernel_checksum, "{why}");
    let m = ours.info.mptcp.expect("MPTCP");
    assert_eq!(m.version, MptcpVersion::V1, "{why}");
    assert_eq!(m.fallback, None, "we did not fall back: {why}");
    assert_eq!(m.checksum, cell.kernel_checksum, "checksums: {why}");
    assert_eq!(ours.info.subflows.len(), 2, "{why}");
    let c = &ours.counters;
    let joins = match cell.role {
        Role::OurClient => [
            delta.get("MPJoinSynRx"),
            delta.get("MPJoinAckRx"),
            c.get(Mib::MPJoinSynTx),
            c.get(Mib::MPJoinSynAckRx),
        ],
        Role::KernelClient => [
            delta.get("MPJoinSynTx"),
            delta.get("MPJoinSynAckRx"),
            c.get(Mib::MPJoinSynRx),
            c.get(Mib::MPJoinAckRx),
        ],
    };
    assert_eq!(joins, [1; 4], "one join, counted at both ends: {why}");
    for name in TROUBLE {
        assert_eq!(delta.get(name), 0, "the kernel counted {name}: {why}");
    }
    for mib in [
        Mib::DataCsumErr,
        Mib::MPFailTx,
        Mib::MPFailRx,
        Mib::DssNoRoomTx,
    ] {
        assert_eq!(c.get(mib), 0, "we counted {mib:?}: {why}");
    }
}

/// Both ends kept to the MTU and used it: the largest packet each way is
/// at most the MTU and more than the next smaller one of the matrix (1280
/// when the path has 9000, three quarters of it otherwise).
fn check_mtu(cell: &Cell, run: &Run) {
    for p in &run.paths {
        assert_eq!(p.mtu, Some(cell.mtu as u16), "{cell}: {p}");
    }
    let floor = if cell.mtu > 1500 {
        1500
    } else {
        cell.mtu * 3 / 4
    };
    let largest_in = run.ours.devices.iter().map(|d| d.largest_in).max();
    let largest_out = run.ours.devices.iter().map(|d| d.largest_out).max();
    for (what, largest) in [("the kernel's", largest_in), ("ours", largest_out)] {
        let largest = largest.unwrap_or(0);
        assert!(
            largest <= u64::from(cell.mtu) && largest > u64::from(floor),
            "{cell}: {what} largest packet is {largest} bytes: {:?}",
            run.ours.devices
        );
    }
}

fn run(cell: Cell) {
    let Some((lab, _serial)) = lab(2) else { return };
    configure(&lab, &cell);
    let _capture = crate::support::Capture::start(&lab);
    let run = exchange(&lab, &cell);
    check_data(&cell, &run);
    check_mptcp(&cell, &run);
    check_mtu(&cell, &run);
}

/// One test per cell; the columns of the L8 array are (family, MTU,
/// kernel timestamps, SACK, window scaling, checksums, our options).
macro_rules! cells {
    ($($name:ident: $role:ident $v6:literal $mtu:literal ts $ts:literal sack $sack:literal ws $ws:literal csum $csum:literal ours $ours:literal;)*) => {
        $(
            #[test]
            fn $name() {
                run(Cell {
                    role: Role::$role,
                    v6: $v6,
                    mtu: $mtu,
                    kernel_timestamps: $ts,
                    kernel_sack: $sack,
                    kernel_window_scaling: $ws,
                    kernel_checksum: $csum,
                    ours: $ours,
                });
            }
        )*
    };
}

cells! {
    our_client_v4_1280: OurClient false 1280 ts true sack true ws true csum false ours "";
    our_client_v4_1280_kernel_nosack_nowscale_csum_ours_nots:
        OurClient false 1280 ts true sack false ws false csum true ours "no-timestamps";
    our_client_v4_9000_kernel_nots_csum_ours_nosack_nowscale:
        OurClient false 9000 ts false sack true ws true csum true ours "no-sack,no-wscale";
    our_client_v4_9000_kernel_nots_nosack_nowscale:
        OurClient false 9000 ts false sack false ws false csum false ours "";
    our_client_v6_1280_kernel_nots_nowscale_ours_none:
        OurClient true 1280 ts false sack true ws false csum false
        ours "no-timestamps,no-sack,no-wscale";
    our_client_v6_1280_kernel_nots_nosack_csum:
        OurClient true 1280 ts false sack false ws true csum true ours "";
    our_client_v6_9000_kernel_nowscale_csum:
        OurClient true 9000 ts true sack true ws false csum true ours "";
    our_client_v6_9000_kernel_nosack_ours_nots:
        OurClient true 9000 ts true sack false ws true csum false ours "no-timestamps";

    kernel_client_v6_1280: KernelClient true 1280 ts true sack true ws true csum false ours "";
    kernel_client_v6_1280_kernel_nosack_nowscale_csum_ours_nots:
        KernelClient true 1280 ts true sack false ws false csum true ours "no-timestamps";
    kernel_client_v6_9000_kernel_nots_csum_ours_nosack_nowscale:
        KernelClient true 9000 ts false sack true ws true csum true ours "no-sack,no-wscale";
    kernel_client_v6_9000_kernel_nots_nosack_nowscale:
        KernelClient true 9000 ts false sack false ws false csum false ours "";
    kernel_client_v4_1280_kernel_nots_nowscale_ours_none:
        KernelClient false 1280 ts false sack true ws false csum false
        ours "no-timestamps,no-sack,no-wscale";
    kernel_client_v4_1280_kernel_nots_nosack_csum:
        KernelClient false 1280 ts false sack false ws true csum true ours "";
    kernel_client_v4_9000_kernel_nowscale_csum:
        KernelClient false 9000 ts true sack true ws false csum true ours "";
    kernel_client_v4_9000_kernel_nosack_ours_nots:
        KernelClient false 9000 ts true sack false ws true csum false ours "no-timestamps";
}
