//! Our client against a kernel server: one path and two, IPv4 and IPv6,
//! an announced address, checksums, and a server without MPTCP.

use crate::support::{
    Fin, FlagRow, KernelEnd, KernelPlan, KernelSocket, OurEnd, established, in_lab, join_within,
    kernel_server_with, kinfo, lab, our_endpoint, pattern, run_flag_rows, sha256, stack_on,
};
use mptcp_tun::lab::TunLab;
use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::{ConnectionInfo, FallbackReason, Mib, MptcpVersion, StackBuilder, TcpState};
use std::io;
use std::net::{IpAddr, SocketAddr};

const MIB: usize = 1 << 20;

/// Our client exchanges `len` bytes each way with a kernel server on path
/// 0; returns both ends and the kernel namespace's counters during it.
fn exchange(
    lab: &TunLab,
    builder: StackBuilder,
    v6: bool,
    mptcp_server: bool,
    len: usize,
) -> (KernelEnd, OurEnd, MptcpCounters) {
    let (k, ours, delta, _) = exchange_with(
        lab,
        builder,
        v6,
        mptcp_server,
        len,
        KernelPlan::PLAIN,
        |_| true,
    );
    (k, ours, delta)
}

/// The kernel's server writes its first block, then waits for our join
/// before the rest: it takes joins only while its connection is
/// established, which ends when it shuts its side down, however much it
/// still has queued.
const JOINED: KernelPlan = KernelPlan {
    fin: Fin::WhenWritten,
    join_counter: Some("MPJoinAckRx"),
};

/// [`exchange`], the kernel's server running as `plan` says and our
/// client waiting for `ready` before it writes; returns the connection as
/// `ready` saw it too.
fn exchange_with(
    lab: &TunLab,
    builder: StackBuilder,
    v6: bool,
    mptcp_server: bool,
    len: usize,
    plan: KernelPlan,
    ready: impl FnMut(&ConnectionInfo) -> bool + Send,
) -> (KernelEnd, OurEnd, MptcpCounters, ConnectionInfo) {
    let up = pattern(1, len);
    let down = pattern(2, len);
    let server = SocketAddr::new(lab.path(0).kernel_addr(v6), 5201);
    let before = lab.ns().counters().expect("counters");
    let kernel = kernel_server_with(lab.ns(), server, mptcp_server, down.clone(), plan);
    let (ours, ready) = in_lab(lab, || async {
        let stack = builder.build()?;
        let s = stack.connect(server).await?;
        let ready = s.wait_info(ready).await?;
        let ours = crate::support::our_exchange(s, &up, &stack).await?;
        io::Result::Ok((ours, ready))
    })
    .expect("our end");
    let kernel = join_within(kernel, "the kernel's end finished").expect("kernel end");
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(kernel.received, len, "the kernel got every byte");
    assert_eq!(kernel.received_sha, sha256(&up), "the kernel got our bytes");
    assert_eq!(ours.received, len, "we got every byte");
    assert_eq!(
        ours.received_sha,
        sha256(&down),
        "we got the kernel's bytes"
    );
    (kernel, ours, delta, ready)
}

/// Test 1 (and 9): 32 MiB each way over one path; the kernel's token is
/// the one we derive from its key; no fallback on either side.
fn one_path(v6: bool) {
    let Some((lab, _serial)) = lab(1) else { return };
    let (k, ours, delta) = exchange(&lab, stack_on(&lab, 1, v6), v6, true, 32 * MIB);
    let m = ours.info.mptcp.expect("MPTCP offered");
    assert_eq!(m.version, MptcpVersion::V1);
    assert_eq!(m.fallback, None, "we did not fall back");
    let ki = kinfo(&k);
    assert!(!ki.fallback() && ki.remote_key_received(), "{ki:?}");
    assert_eq!(
        m.remote.expect("the kernel's key").token.0,
        ki.token,
        "the token we derive from the kernel's key is the kernel's token"
    );
    assert_eq!(delta.get("MPCapableSYNRX"), 1);
    assert_eq!(delta.get("MPCapableFallbackACK"), 0);
    assert_eq!(ours.counters.get(Mib::MPCapableSYNACKRX), 1);
    let dev = ours.devices[0];
    assert!(dev.offload, "the TUN device takes offloads");
    assert!(
        dev.trains_out > 0 && dev.trains_in > 0,
        "segmentation trains both ways: {dev:?}"
    );
    assert!(
        dev.writes < dev.packets_out && dev.reads >= dev.packets_in,
        "a write per train, a read per packet and one finding none: {dev:?}"
    );
}

/// The same without the TUN offloads: one packet per read and write.
#[test]
fn our_client_one_path_without_offloads() {
    let Some((lab, _serial)) = lab(1) else { return };
    let b = stack_on(&lab, 1, false).offload(false);
    let (k, ours, _) = exchange(&lab, b, false, true, 8 * MIB);
    assert!(!kinfo(&k).fallback());
    let dev = ours.devices[0];
    assert!(!dev.offload);
    assert_eq!((dev.trains_out, dev.trains_in), (0, 0));
    assert_eq!(dev.writes, dev.packets_out + dev.send_errors, "{dev:?}");
    assert!(dev.reads > dev.packets_in, "{dev:?}");
}

/// `write_all_bytes` (the stack sends from the application's buffers)
/// interleaved with copying writes, over two paths: the kernel gets the
/// stream exactly, pieces of every size in order.
#[test]
fn our_client_writes_bytes_without_a_copy() {
    use tokio::io::AsyncWriteExt;
    let Some((lab, _serial)) = lab(2) else { return };
    let _capture = crate::support::Capture::start(&lab);
    let up = pattern(5, 24 * MIB + 12_345);
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let down = pattern(6, MIB);
    let kernel = kernel_server_with(lab.ns(), server, true, down.clone(), KernelPlan::PLAIN);
    let (sent, got) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 2, false).build()?;
        let (mut rd, mut wr) = stack.connect(server).await?.into_split();
        let all = bytes::Bytes::from(up.clone());
        let upload = async {
            // Large pieces go as they are, small ones are copied: 1 MiB,
            // 64 KiB, 10 bytes, 3 MiB and so on, and a plain write now and
            // then.
            let sizes = [MIB, 64 << 10, 10, 3 * MIB, (64 << 10) - 1, 100_000];
            let mut at = 0;
            for (i, &size) in sizes.iter().cycle().enumerate() {
                if at == all.len() {
                    break;
                }
                let end = (at + size).min(all.len());
                if i % 7 == 6 {
                    wr.write_all(&all[at..end]).await?;
                } else {
                    wr.write_all_bytes(all.slice(at..end)).await?;
                }
                at = end;
            }
            wr.shutdown().await?;
            io::Result::Ok(at)
        };
        let download = async {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut got).await?;
            io::Result::Ok(got)
        };
        let done = tokio::try_join!(upload, download)?;
        // Until our DATA_FIN is acknowledged: the stack must outlive it.
        wr.closed().await?;
        io::Result::Ok(done)
    })
    .expect("our end");
    assert_eq!(got, down, "we got the kernel's bytes");
    let k = join_within(kernel, "the kernel's end finished").expect("kernel end");
    assert_eq!(sent, up.len());
    assert_eq!(k.received, up.len());
    assert_eq!(k.received_sha, sha256(&up), "the kernel got our bytes");
}

#[test]
fn our_client_one_path_ipv4() {
    one_path(false);
}

#[test]
fn our_client_one_path_ipv6() {
    one_path(true);
}

/// Test 2 (and 9): two paths; the kernel counts our join, both subflows
/// carry data, no HMAC failure on either side.
fn two_paths(v6: bool) {
    let Some((lab, _serial)) = lab(2) else { return };
    let b = stack_on(&lab, 2, v6);
    let (k, ours, delta, _) =
        exchange_with(&lab, b, v6, true, 32 * MIB, JOINED, |i| established(i, 2));
    assert_eq!(delta.get("MPJoinSynRx"), 1, "{delta}");
    assert_eq!(delta.get("MPJoinAckRx"), 1, "{delta}");
    assert_eq!(delta.get("MPJoinAckHMacFailure"), 0);
    assert_eq!(ours.counters.get(Mib::MPJoinSynTx), 1);
    assert_eq!(ours.counters.get(Mib::MPJoinSynAckRx), 1);
    assert_eq!(ours.counters.get(Mib::MPJoinSynAckHMacFailure), 0);
    assert_eq!(
        ours.counters.get(Mib::RcvPruned),
        0,
        "the kernel kept to our window"
    );
    assert!(!kinfo(&k).fallback());
    let subflows = &ours.info.subflows;
    assert_eq!(subflows.len(), 2);
    for s in subflows {
        assert!(
            s.bytes_acked >= 64 * 1024 && s.bytes_received >= 64 * 1024,
            "both subflows carry data both ways: {s:?}"
        );
    }
    assert_eq!(
        subflows[1].tuple.local.ip(),
        lab.path(1).stack_addr(v6),
        "the join comes from the second path"
    );
}

#[test]
fn our_client_two_paths_ipv4() {
    two_paths(false);
}

#[test]
fn our_client_two_paths_ipv6() {
    two_paths(true);
}

/// Test 4: the kernel announces its second address; we verify the HMAC,
/// echo it, and join it.
#[test]
fn our_client_joins_an_address_the_kernel_announces() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.endpoint(1, "signal").expect("signal endpoint");
    let announced: IpAddr = lab.path(1).kernel_addr(false);
    // Our client writes only once its join to the announced address is
    // established, so the transfer cannot end before it (and the list at
    // the end may have dropped it): checked as it was then.
    let to_announced = move |i: &ConnectionInfo| {
        i.subflows
            .iter()
            .any(|s| s.tuple.remote.ip() == announced && s.state == TcpState::Established)
    };
    let b = stack_on(&lab, 2, false);
    let (_k, ours, delta, ready) =
        exchange_with(&lab, b, false, true, 8 * MIB, JOINED, to_announced);
    assert_eq!(delta.get("AddAddrTx"), 1, "{delta}");
    assert_eq!(ours.counters.get(Mib::AddAddr), 1, "HMAC verified");
    assert_eq!(ours.counters.get(Mib::AddAddrDrop), 0);
    assert_eq!(delta.get("EchoAdd"), 1, "the kernel saw our echo");
    let joined = ready
        .subflows
        .iter()
        .find(|s| s.tuple.remote.ip() == announced)
        .expect("a subflow to the announced address");
    assert_eq!(joined.state, TcpState::Established, "{joined:?}");
    assert!(delta.get("MPJoinAckRx") >= 1);
}

/// The kernel refuses joins to its initial address and port
/// (`allow_join_initial_addr_port=0`, flag C in its SYN-ACK): we join only
/// the address it announces.
#[test]
fn flag_c_keeps_us_off_the_kernels_initial_address() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.ns()
        .sysctl("net.mptcp.allow_join_initial_addr_port", "0")
        .expect("sysctl");
    lab.endpoint(1, "signal").expect("signal endpoint");
    let initial = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let announced = lab.path(1).kernel_addr(false);
    let to_announced = move |i: &ConnectionInfo| {
        i.subflows
            .iter()
            .any(|s| s.tuple.remote.ip() == announced && s.state == TcpState::Established)
    };
    let b = stack_on(&lab, 2, false);
    let (_k, _, delta, ready) = exchange_with(&lab, b, false, true, 4 * MIB, JOINED, to_announced);
    let remotes: Vec<SocketAddr> = ready.subflows.iter().map(|s| s.tuple.remote).collect();
    assert_eq!(
        remotes.iter().filter(|r| **r == initial).count(),
        1,
        "{remotes:?}"
    );
    assert_eq!(
        remotes.len(),
        2,
        "the initial subflow and the announced address: {remotes:?}"
    );
    assert_eq!(delta.get("MPJoinSynRx"), 1, "{delta}");
}

/// Test 5: the kernel asks for DSS checksums; both ends use them and
/// every mapping verifies. Then we ask and the kernel does not.
#[test]
fn checksums_negotiated_and_verified_both_ways() {
    let Some((lab, _serial)) = lab(1) else { return };
    lab.ns()
        .sysctl("net.mptcp.checksum_enabled", "1")
        .expect("sysctl");
    let (k, ours, delta) = exchange(&lab, stack_on(&lab, 1, false), false, true, 8 * MIB);
    assert!(ours.info.mptcp.expect("mptcp").checksum, "we use checksums");
    assert!(kinfo(&k).csum_enabled, "the kernel uses checksums");
    assert_eq!(delta.get("DataCsumErr"), 0);
    assert_eq!(ours.counters.get(Mib::DataCsumErr), 0);

    lab.ns()
        .sysctl("net.mptcp.checksum_enabled", "0")
        .expect("sysctl");
    let b = stack_on(&lab, 1, false).checksum(true);
    let (k, ours, delta) = exchange(&lab, b, false, true, 8 * MIB);
    assert!(ours.info.mptcp.expect("mptcp").checksum);
    assert!(kinfo(&k).csum_enabled, "the kernel honours our request");
    assert_eq!(delta.get("DataCsumErr"), 0);
    assert_eq!(ours.counters.get(Mib::DataCsumErr), 0);
}

/// Test 6, first half: a plain-TCP kernel server; we fall back and finish.
#[test]
fn our_client_falls_back_against_a_plain_tcp_server() {
    let Some((lab, _serial)) = lab(1) else { return };
    let (k, ours, delta) = exchange(&lab, stack_on(&lab, 1, false), false, false, 4 * MIB);
    assert_eq!(
        k.socket,
        KernelSocket::PlainTcp,
        "the kernel end is plain TCP"
    );
    assert_eq!(delta.get("MPCapableSYNRX"), 0, "{delta}");
    let m = ours.info.mptcp.expect("MPTCP was offered");
    assert_eq!(m.fallback, Some(FallbackReason::NoCapableInSynAck));
    assert_eq!(ours.counters.get(Mib::MPCapableFallbackSYNACK), 1);
}

/// v0 is refused by this kernel: our v0 offer falls back to TCP cleanly.
#[test]
fn our_v0_client_falls_back_against_a_v1_only_kernel() {
    let Some((lab, _serial)) = lab(1) else { return };
    let b = stack_on(&lab, 1, false).version(MptcpVersion::V0);
    let (k, ours, delta) = exchange(&lab, b, false, true, MIB);
    // The kernel's MPTCP listener hands out a plain TCP socket for a
    // client it does not take as MPTCP.
    assert_eq!(k.socket, KernelSocket::PlainTcp);
    assert_eq!(delta.get("MPCapableSYNRX"), 0, "{delta}");
    let m = ours.info.mptcp.expect("MPTCP was offered");
    assert_eq!(m.version, MptcpVersion::V0);
    assert_eq!(m.fallback, Some(FallbackReason::NoCapableInSynAck));
}

/// `subflows 1`: of two `subflow` endpoints only one joins.
#[test]
fn our_subflows_limit_bounds_the_joins_to_the_kernel() {
    let Some((lab, _serial)) = lab(3) else { return };
    let mut b = stack_on(&lab, 3, false).pm_limits("subflows=1".parse().expect("limits"));
    for n in 1..3 {
        b = b.endpoint(our_endpoint(&lab, n, "subflow"));
    }
    let (_k, ours, delta, _) =
        exchange_with(&lab, b, false, true, 4 * MIB, JOINED, |i| established(i, 2));
    assert_eq!(delta.get("MPJoinSynRx"), 1, "{delta}");
    assert_eq!(ours.counters.get(Mib::MPJoinSynTx), 1);
}

/// Each endpoint flag of ours, our client against a kernel server over
/// three paths (the kernel announcing its other two addresses where the
/// flag uses announcements); the `backup` row: our join carries flag B,
/// which the kernel counts.
const FLAG_ROWS: &[FlagRow] = &[
    FlagRow {
        flag: "subflow",
        kernel: &[],
        ours: &[(1, "subflow")],
        subflows: &[(0, 0), (1, 0)],
        backup: &[],
        kernel_subflows: 1,
        counters: &[("MPJoinSynRx", 1), ("MPJoinSynBackupRx", 0)],
    },
    FlagRow {
        flag: "backup",
        kernel: &[],
        ours: &[(1, "subflow backup")],
        subflows: &[(0, 0), (1, 0)],
        backup: &[(1, 0)],
        kernel_subflows: 1,
        counters: &[("MPJoinSynRx", 1), ("MPJoinSynBackupRx", 1)],
    },
    FlagRow {
        flag: "fullmesh",
        kernel: &[(1, "signal"), (2, "signal")],
        ours: &[(1, "subflow fullmesh")],
        subflows: &[(0, 0), (1, 0), (1, 1), (1, 2)],
        backup: &[],
        kernel_subflows: 3,
        counters: &[("MPJoinSynRx", 3), ("AddAddrTx", 2), ("EchoAdd", 2)],
    },
    FlagRow {
        flag: "laminar",
        kernel: &[(1, "signal"), (2, "signal")],
        ours: &[(1, "laminar"), (2, "laminar")],
        subflows: &[(0, 0), (1, 1), (2, 2)],
        backup: &[],
        kernel_subflows: 2,
        counters: &[("MPJoinSynRx", 2), ("AddAddrTx", 2), ("EchoAdd", 2)],
    },
];

/// [`FLAG_ROWS`]: the subflows we open, the kernel's `MPTCP_INFO` and
/// counters.
#[test]
fn our_client_endpoint_flags_against_a_kernel_server() {
    run_flag_rows(FLAG_ROWS, "MPJoinAckRx", |lab, b, plan, ready| {
        let (k, _, delta, ready) = exchange_with(lab, b, false, true, 4 * MIB, plan, ready);
        (k, delta, ready)
    });
}
