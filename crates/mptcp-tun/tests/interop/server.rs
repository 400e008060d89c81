//! Kernel clients against our server: MP_CAPABLE and MP_JOIN accepted,
//! and a kernel client without MPTCP served as plain TCP.

use crate::support::{
    Fin, FlagRow, KernelEnd, KernelPlan, KernelSocket, OurEnd, established, in_lab, join_within,
    kernel_client_with, kinfo, lab, lab_multi_queue, our_exchange, pattern, run_flag_rows, sha256,
    stack_on,
};
use mptcp_tun::lab::TunLab;
use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::{ConnectionInfo, Mib, StackBuilder, TcpState};
use std::net::SocketAddr;

const MIB: usize = 1 << 20;

/// A kernel client (MPTCP or not) exchanges `len` bytes each way with our
/// server on path 0.
fn serve(
    lab: &TunLab,
    builder: StackBuilder,
    kernel_mptcp: bool,
    len: usize,
) -> (KernelEnd, OurEnd, MptcpCounters) {
    let (k, ours, delta, _) =
        serve_with(lab, builder, kernel_mptcp, len, KernelPlan::PLAIN, |_| true);
    (k, ours, delta)
}

/// [`serve`], the kernel running as `plan` says, and our end waiting for
/// `ready` before it writes; returns the connection as `ready` saw it.
fn serve_with(
    lab: &TunLab,
    builder: StackBuilder,
    kernel_mptcp: bool,
    len: usize,
    plan: KernelPlan,
    ready: impl FnMut(&ConnectionInfo) -> bool + Send,
) -> (KernelEnd, OurEnd, MptcpCounters, ConnectionInfo) {
    let up = pattern(3, len);
    let down = pattern(4, len);
    let ours_addr = SocketAddr::new(lab.path(0).stack_addr(false), 5201);
    let before = lab.ns().counters().expect("counters");
    let (ours, ready, kernel) = in_lab(lab, || async {
        let stack = builder.build().expect("stack");
        let listener = stack.listen(5201).expect("listen");
        let kernel = kernel_client_with(lab.ns(), ours_addr, kernel_mptcp, up.clone(), plan);
        let (s, _peer) = listener.accept().await.expect("accept");
        let ready = s.wait_info(ready).await.expect("our connection ready");
        (our_exchange(s, &down, &stack).await, ready, kernel)
    });
    let ours = ours.expect("our end");
    let kernel = join_within(kernel, "the kernel's end finished").expect("kernel end");
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(ours.received_sha, sha256(&up), "we got the kernel's bytes");
    assert_eq!(kernel.received_sha, sha256(&down), "the kernel got ours");
    (kernel, ours, delta, ready)
}

/// The kernel client waits for a join of its own before it writes past
/// its first block.
const JOINS_FIRST: KernelPlan = KernelPlan {
    fin: Fin::WhenWritten,
    join_counter: Some("MPJoinSynAckRx"),
};

/// Test 3: a kernel client with a `subflow` endpoint on path 1: we accept
/// its MP_CAPABLE and its MP_JOIN, and both subflows carry its data.
#[test]
fn kernel_client_with_a_subflow_endpoint_joins_our_server() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.endpoint(1, "subflow").expect("subflow endpoint");
    // The kernel writes past its first block only once its join's
    // handshake is done, so the transfer cannot end before it.
    let b = stack_on(&lab, 2, false);
    let (k, ours, delta, _) =
        serve_with(&lab, b, true, 16 * MIB, JOINS_FIRST, |i| established(i, 2));
    assert_eq!(ours.counters.get(Mib::MPCapableSYNRX), 1);
    assert_eq!(ours.counters.get(Mib::MPCapableACKRX), 1);
    assert_eq!(ours.counters.get(Mib::MPJoinSynRx), 1);
    assert_eq!(ours.counters.get(Mib::MPJoinAckRx), 1);
    assert_eq!(ours.counters.get(Mib::MPJoinAckHMacFailure), 0);
    assert_eq!(delta.get("MPJoinSynAckRx"), 1, "{delta}");
    assert_eq!(delta.get("MPJoinSynAckHMacFailure"), 0);
    let ki = kinfo(&k);
    assert!(!ki.fallback());
    let m = ours.info.mptcp.expect("mptcp");
    assert_eq!(m.remote.expect("key").token.0, ki.token);
    assert_eq!(ours.info.subflows.len(), 2);
    assert_eq!(
        ours.info.subflows[1].tuple.remote.ip(),
        lab.path(1).kernel_addr(false)
    );
}

/// The same over devices made for several queues, our server with one
/// worker (it opens a single queue of them) and with two (each its own
/// queue; the join may reach either and is handed to the connection's).
#[test]
fn kernel_client_joins_our_server_on_multi_queue_devices_with_one_and_two_workers() {
    for workers in [1, 2] {
        let Some((lab, _serial)) = lab_multi_queue(2) else {
            return;
        };
        lab.endpoint(1, "subflow").expect("subflow endpoint");
        let b = stack_on(&lab, 2, false).workers(workers);
        let (k, ours, delta, _) =
            serve_with(&lab, b, true, 4 * MIB, JOINS_FIRST, |i| established(i, 2));
        assert_eq!(ours.info.subflows.len(), 2, "{workers} workers");
        assert_eq!(delta.get("MPJoinSynAckRx"), 1, "{workers} workers: {delta}");
        assert!(!kinfo(&k).fallback(), "{workers} workers");
    }
}

/// A device made for one queue cannot take two workers: a clear error, or
/// one worker when the builder allows fewer.
#[test]
fn a_single_queue_device_refuses_two_workers_or_runs_one() {
    let Some((lab, _serial)) = lab(1) else { return };
    in_lab(&lab, || async {
        let err = stack_on(&lab, 1, false)
            .workers(2)
            .build()
            .expect_err("two queues");
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("one queue"), "{err}");
        let stack = stack_on(&lab, 1, false)
            .workers(2)
            .fewer_workers_if_needed(true)
            .build()
            .expect("one worker");
        assert_eq!(stack.worker_count(), 1);
    });
}

/// Test 3, with our announcement: the server signals its second address
/// and the kernel client (accepting announcements) joins it.
#[test]
fn kernel_client_joins_the_address_our_server_announces() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.endpoint(1, "subflow").expect("subflow endpoint");
    let signalled = lab.path(1).stack_addr(false);
    let b = stack_on(&lab, 2, false).signal(signalled);
    // The kernel waits for a join of its own before it writes past the
    // first block, and we for the join to the announced address before we
    // write: the transfer cannot end before it. Checked then, not in the
    // list at the end, which a subflow the kernel reset at its close has
    // already left.
    let to_signalled = |i: &ConnectionInfo| {
        i.subflows
            .iter()
            .any(|s| s.tuple.local.ip() == signalled && s.state == TcpState::Established)
    };
    let (_k, ours, delta, ready) = serve_with(&lab, b, true, 8 * MIB, JOINS_FIRST, to_signalled);
    assert_eq!(ours.counters.get(Mib::AddAddrTx), 1);
    assert_eq!(ours.counters.get(Mib::EchoAdd), 1, "the kernel echoed it");
    assert_eq!(delta.get("AddAddr"), 1, "the kernel verified our HMAC");
    assert!(to_signalled(&ready), "{:?}", ready.subflows);
}

/// Test 6, second half: a plain-TCP kernel client is served as TCP.
#[test]
fn plain_tcp_kernel_client_is_served_as_tcp() {
    let Some((lab, _serial)) = lab(1) else { return };
    let (k, ours, _) = serve(&lab, stack_on(&lab, 1, false), false, 4 * MIB);
    assert_eq!(k.socket, KernelSocket::PlainTcp);
    assert!(ours.info.mptcp.is_none(), "no MPTCP: {:?}", ours.info.mptcp);
    assert_eq!(ours.counters.get(Mib::MPCapableSYNRX), 0);
}

/// Our server without MPTCP: the kernel's MPTCP client falls back to TCP
/// (its socket stays MPTCP, its `MPTCP_INFO` is refused) and finishes.
#[test]
fn kernel_client_falls_back_against_our_plain_tcp_server() {
    let Some((lab, _serial)) = lab(1) else { return };
    let b = stack_on(&lab, 1, false).mptcp(false);
    let (k, ours, delta) = serve(&lab, b, true, 4 * MIB);
    assert_eq!(k.socket, KernelSocket::FellBack);
    assert_eq!(delta.get("MPCapableFallbackSYNACK"), 1, "{delta}");
    assert!(ours.info.mptcp.is_none(), "no MPTCP: {:?}", ours.info.mptcp);
}

/// A `signal` endpoint with a port of its own: the kernel client counts
/// an announcement with a port (PortAdd) and joins that address and port.
#[test]
fn kernel_client_joins_our_signal_endpoint_on_its_port() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.endpoint(1, "subflow").expect("subflow endpoint");
    let signalled = SocketAddr::new(lab.path(1).stack_addr(false), 5202);
    let mut ep = mptcp_tun::PmEndpoint::new(signalled.ip(), mptcp_tun::EndpointFlags::SIGNAL);
    ep.port = Some(signalled.port());
    let b = stack_on(&lab, 2, false).endpoint(ep);
    let to_signalled = |i: &ConnectionInfo| {
        i.subflows
            .iter()
            .any(|s| s.tuple.local == signalled && s.state == TcpState::Established)
    };
    let (_k, ours, delta, ready) = serve_with(&lab, b, true, 8 * MIB, JOINS_FIRST, to_signalled);
    assert_eq!(ours.counters.get(Mib::AddAddrTx), 1);
    assert_eq!(delta.get("PortAdd"), 1, "{delta}");
    assert!(to_signalled(&ready), "{:?}", ready.subflows);
}

/// Each endpoint flag with a kernel client against our server over three
/// paths: its `subflow` and `backup` endpoints join us (flag B seen),
/// our `signal` endpoint is joined, its `fullmesh` endpoint joins both
/// our initial address and the one we announce.
const SERVER_ROWS: &[FlagRow] = &[
    FlagRow {
        flag: "subflow",
        kernel: &[(1, "subflow")],
        ours: &[],
        subflows: &[(0, 0), (0, 1)],
        backup: &[],
        kernel_subflows: 1,
        counters: &[("MPJoinSynAckRx", 1)],
    },
    FlagRow {
        flag: "backup",
        kernel: &[(1, "subflow backup")],
        ours: &[],
        subflows: &[(0, 0), (0, 1)],
        backup: &[(0, 1)],
        kernel_subflows: 1,
        counters: &[("MPJoinSynAckRx", 1)],
    },
    FlagRow {
        flag: "signal",
        kernel: &[],
        ours: &[(1, "signal")],
        subflows: &[(0, 0), (1, 1)],
        backup: &[],
        kernel_subflows: 1,
        counters: &[("AddAddr", 1), ("MPJoinSynAckRx", 1)],
    },
    // The kernel's laminar endpoint (set through genetlink: iproute2 6.1
    // does not know the flag): it joins the address we announce from its
    // own address, not the one the route would pick.
    FlagRow {
        flag: "laminar",
        kernel: &[(1, "laminar")],
        ours: &[(2, "signal")],
        subflows: &[(0, 0), (2, 1)],
        backup: &[],
        kernel_subflows: 1,
        counters: &[("AddAddr", 1), ("MPJoinSynAckRx", 1)],
    },
    // The initial address announced with a port of its own (one address
    // per backend behind a balancer, docs/scaling.md): an id of its own,
    // which the kernel joins (id 0 it would only echo).
    FlagRow {
        flag: "signal port=N on the initial address",
        kernel: &[],
        ours: &[(0, "signal port=9001")],
        subflows: &[(0, 0), (0, 0)],
        backup: &[],
        kernel_subflows: 1,
        counters: &[("AddAddr", 1), ("MPJoinSynAckRx", 1)],
    },
    FlagRow {
        flag: "fullmesh",
        kernel: &[(1, "subflow fullmesh")],
        ours: &[(2, "signal")],
        subflows: &[(0, 0), (0, 1), (2, 1)],
        backup: &[],
        kernel_subflows: 2,
        counters: &[("AddAddr", 1), ("MPJoinSynAckRx", 2)],
    },
];

/// [`SERVER_ROWS`]: the subflows, flag B, the kernel's `MPTCP_INFO` and
/// counters.
#[test]
fn kernel_client_endpoint_flags_against_our_server() {
    run_flag_rows(SERVER_ROWS, "MPJoinSynAckRx", |lab, b, plan, ready| {
        let (k, _, delta, ready) = serve_with(lab, b, true, 4 * MIB, plan, ready);
        (k, delta, ready)
    });
}
