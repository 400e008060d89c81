//! Path signals with the kernel: our MP_PRIO moves the kernel's sending off
//! a subflow, our REMOVE_ADDR makes it drop the subflow, and its
//! REMOVE_ADDR (an endpoint deleted mid-transfer) makes us drop ours.

use crate::support::{
    Fin, KernelEnd, KernelPlan, established, in_lab, join_within, kernel_server_with, kinfo, lab,
    pattern, sha256, stack_on,
};
use mptcp_tun::lab::{MptcpCounters, TunLab};
use mptcp_tun::{Mib, MptcpStream, TcpState};
use sha2::{Digest, Sha256};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;

fn server(lab: &TunLab) -> SocketAddr {
    SocketAddr::new(lab.path(0).kernel_addr(false), 5201)
}

/// Bytes received so far on our subflow whose local or remote address is
/// `addr`.
fn received_on(s: &MptcpStream, addr: IpAddr) -> u64 {
    let info = s.info().expect("info");
    info.subflows
        .iter()
        .filter(|f| f.tuple.local.ip() == addr || f.tuple.remote.ip() == addr)
        .map(|f| f.bytes_received)
        .sum()
}

/// A kernel server sending `down`: its first block, then the rest once
/// our join is done (it takes joins only while its connection is
/// established, which ends when it shuts its side down, however much it
/// still has queued).
fn kernel_server_joined(lab: &TunLab, down: Vec<u8>) -> JoinHandle<io::Result<KernelEnd>> {
    let plan = KernelPlan {
        fin: Fin::WhenWritten,
        join_counter: Some("MPJoinAckRx"),
    };
    kernel_server_with(lab.ns(), server(lab), true, down, plan)
}

/// Wait until the connection has a second established subflow.
async fn joined(s: &MptcpStream) {
    s.wait_info(|i| established(i, 2))
        .await
        .expect("a second subflow");
}

/// Read the kernel's stream to its end, calling `at` once a quarter and
/// once half of `len` arrived; returns the stream's hash and how many
/// bytes `watch`'s subflow received from the half on.
async fn read_all(
    s: &mut MptcpStream,
    len: usize,
    watch: IpAddr,
    mut at_quarter: impl FnMut(&MptcpStream),
) -> (String, u64) {
    let (mut h, mut n, mut buf) = (Sha256::new(), 0usize, vec![0u8; 1 << 16]);
    let (mut quarter, mut half) = (false, None);
    loop {
        let k = s.read(&mut buf).await.expect("read");
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k;
        if !quarter && n >= len / 4 {
            quarter = true;
            at_quarter(s);
        }
        if half.is_none() && n >= len / 2 {
            half = Some(received_on(s, watch));
        }
    }
    assert_eq!(n, len, "we got every byte");
    let after_half = received_on(s, watch) - half.expect("half way");
    let sha = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    (sha, after_half)
}

/// We mark the joined subflow backup once a quarter of the kernel's
/// stream arrived: the kernel counts the MP_PRIO and, the other subflow
/// being usable, stops sending on it.
#[test]
fn our_mp_prio_moves_the_kernels_sending_off_a_subflow() {
    let Some((lab, _serial)) = lab(2) else { return };
    let len = 96 * MIB;
    let down = pattern(5, len);
    let before = lab.ns().counters().expect("counters");
    let kernel = kernel_server_joined(&lab, down.clone());
    let second = lab.path(1).stack_addr(false);
    let (sha, late, told, info) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 2, false).build().expect("stack");
        let mut s = stack.connect(server(&lab)).await.expect("connect");
        joined(&s).await;
        let mut told = None;
        let (sha, late) = read_all(&mut s, len, second, |s| {
            told = Some(s.set_backup(second, true).expect("set_backup"));
        })
        .await;
        s.shutdown().await.expect("DATA_FIN");
        let _ = tokio::time::timeout(Duration::from_secs(5), s.closed()).await;
        (sha, late, told, s.info().expect("info"))
    });
    let k = join_within(kernel, "the kernel's end finished").expect("kernel end");
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(sha, sha256(&down), "we got the kernel's bytes");
    assert_eq!(told, Some(1), "one subflow from {second}");
    assert_eq!(info.counters.get(Mib::MPPrioTx), 1);
    assert_eq!(delta.get("MPPrioRx"), 1, "{delta}");
    assert_eq!(info.counters.get(Mib::RcvPruned), 0, "{:?}", info.counters);
    assert!(!kinfo(&k).fallback());
    assert!(
        (late as usize) < len / 20,
        "{late} bytes came over the backup subflow in the second half"
    );
}

/// What a [`withdrawn_mid_exchange`] ended with.
struct Withdrawn {
    /// Our connection, after the exchange.
    info: mptcp_tun::ConnectionInfo,
    /// The kernel's end.
    kernel: KernelEnd,
    /// The kernel's MPTCP counters over the exchange.
    delta: MptcpCounters,
}

/// 64 MiB each way with a kernel server over two paths: once our second
/// path joined and a quarter of our upload went out, `withdraw` runs (it
/// takes the second path's address away, and maybe back), then the rest
/// goes. Checks that every byte arrived both ways and that we sent one
/// REMOVE_ADDR, which the kernel counted.
fn withdrawn_mid_exchange(
    lab: &TunLab,
    seed: u64,
    withdraw: impl AsyncFnOnce(&MptcpStream) + Send,
) -> Withdrawn {
    let len = 64 * MIB;
    let up = pattern(seed, len);
    let before = lab.ns().counters().expect("counters");
    // The kernel sends too: a server that shut its side at once would
    // refuse our join (it takes joins only while established).
    let down = pattern(seed + 1, len);
    let kernel = kernel_server_joined(lab, down.clone());
    let (info, got) = in_lab(lab, || async {
        let stack = stack_on(lab, 2, false).build().expect("stack");
        let mut s = stack.connect(server(lab)).await.expect("connect");
        joined(&s).await;
        s.write_all(&up[..len / 4]).await.expect("write");
        withdraw(&s).await;
        s.write_all(&up[len / 4..]).await.expect("write");
        s.shutdown().await.expect("DATA_FIN");
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.expect("read");
        let _ = tokio::time::timeout(Duration::from_secs(5), s.closed()).await;
        (s.info().expect("info"), got)
    });
    let kernel = kernel.join().expect("kernel thread").expect("kernel end");
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(kernel.received, len);
    assert_eq!(kernel.received_sha, sha256(&up), "the kernel got our bytes");
    assert_eq!(sha256(&got), sha256(&down), "we got the kernel's");
    assert_eq!(info.counters.get(Mib::RmAddrTx), 1);
    assert_eq!(delta.get("RmAddr"), 1, "{delta}");
    Withdrawn {
        info,
        kernel,
        delta,
    }
}

/// Whether `i` has a subflow from our address `local` in `state`.
fn from_in_state(i: &mptcp_tun::ConnectionInfo, local: IpAddr, state: TcpState) -> bool {
    i.subflows
        .iter()
        .any(|f| f.tuple.local.ip() == local && f.state == state)
}

/// Takes the path of our address `local` away with `off`, waits until its
/// subflow closed, brings it back with `on`, and waits for a new subflow
/// from it.
async fn away_and_back(s: &MptcpStream, local: IpAddr, off: impl FnOnce(), on: impl FnOnce()) {
    off();
    s.wait_info(|i| !from_in_state(i, local, TcpState::Established))
        .await
        .expect("the subflow on the withdrawn path closes");
    on();
    s.wait_info(|i| from_in_state(i, local, TcpState::Established))
        .await
        .expect("a new subflow once the path is back");
}

/// We withdraw the joined subflow's address mid-upload: the kernel counts
/// the REMOVE_ADDR and keeps no extra subflow; every byte arrives.
#[test]
fn our_remove_addr_makes_the_kernel_drop_the_subflow() {
    let Some((lab, _serial)) = lab(2) else { return };
    let second = lab.path(1).stack_addr(false);
    let w = withdrawn_mid_exchange(&lab, 6, async |s| {
        assert_eq!(s.remove_address(second).expect("remove_address"), 1);
    });
    assert_eq!(
        kinfo(&w.kernel).subflows,
        0,
        "the kernel dropped the joined subflow"
    );
    let gone = w
        .info
        .subflows
        .iter()
        .find(|f| f.tuple.local.ip() == second)
        .expect("the joined subflow");
    assert_eq!(gone.state, TcpState::Closed);
}

/// The kernel announces its second address, we join it, then the kernel's
/// endpoint is deleted mid-transfer: its REMOVE_ADDR closes our subflow
/// there and the stream completes over the first.
#[test]
fn the_kernels_remove_addr_closes_our_subflow() {
    let Some((lab, _serial)) = lab(2) else { return };
    lab.endpoint(1, "signal id 7").expect("signal endpoint");
    let len = 96 * MIB;
    let down = pattern(8, len);
    let before = lab.ns().counters().expect("counters");
    let kernel = kernel_server_joined(&lab, down.clone());
    let announced = lab.path(1).kernel_addr(false);
    let ns = lab.ns().name().to_owned();
    let (sha, late, info) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 2, false).build().expect("stack");
        let mut s = stack.connect(server(&lab)).await.expect("connect");
        // The join to the announced address itself, before the endpoint
        // goes: two established subflows could be the other join.
        s.wait_info(|i| {
            i.subflows
                .iter()
                .any(|f| f.tuple.remote.ip() == announced && f.state == TcpState::Established)
        })
        .await
        .expect("a subflow to the announced address");
        let (sha, late) = read_all(&mut s, len, announced, |_| {
            ip_in(&ns, &["mptcp", "endpoint", "delete", "id", "7"]);
        })
        .await;
        s.shutdown().await.expect("DATA_FIN");
        let _ = tokio::time::timeout(Duration::from_secs(5), s.closed()).await;
        (sha, late, s.info().expect("info"))
    });
    let k = join_within(kernel, "the kernel's end finished").expect("kernel end");
    assert_eq!(sha, sha256(&down), "we got the kernel's bytes");
    assert!(!kinfo(&k).fallback());
    let delta = lab.ns().counters().expect("counters").delta(&before);
    let why = format!(
        "kernel: {delta}; ours: {:?}; {:?}",
        info.counters, info.subflows
    );
    assert_eq!(info.counters.get(Mib::RmAddr), 1, "{why}");
    // Three subflows into one buffer: the kernel kept to the shared window.
    assert_eq!(info.counters.get(Mib::RcvPruned), 0, "{:?}", info.counters);
    let there = info
        .subflows
        .iter()
        .find(|f| f.tuple.remote.ip() == announced)
        .expect("a subflow to the announced address");
    assert_eq!(there.remote_id, 7);
    assert_eq!(there.state, TcpState::Closed);
    assert_eq!(late, 0, "nothing arrived there in the second half");
}

/// `ip -n NS ARGS`, which must succeed.
fn ip_in(ns: &str, args: &[&str]) {
    let st = std::process::Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .status()
        .expect("ip");
    assert!(st.success(), "ip {args:?}: {st}");
}

/// Mobility: the joined path's TUN device goes down mid-upload: we
/// withdraw its address (the kernel counts the REMOVE_ADDR) and reset the
/// subflow there; the device comes back: we join again (the kernel counts
/// a second join SYN). Every byte arrives.
#[test]
fn a_device_down_withdraws_its_address_and_back_joins_again() {
    let Some((lab, _serial)) = lab(2) else { return };
    let second = lab.path(1).stack_addr(false);
    let (ns, dev) = (lab.ns().name().to_owned(), lab.path(1).dev.clone());
    let link = |state: &str| ip_in(&ns, &["link", "set", "dev", &dev, state]);
    let w = withdrawn_mid_exchange(&lab, 8, async |s| {
        away_and_back(s, second, || link("down"), || link("up")).await;
    });
    assert_eq!(w.delta.get("MPJoinSynRx"), 2, "{}", w.delta);
}

/// Mobility without the device going down: the joined path's TUN device
/// loses its (IPv4) address mid-upload and stays up: we withdraw our
/// address there (the kernel counts the REMOVE_ADDR); the address comes
/// back (with the path's routes, which went with it): we join again (a
/// second join SYN). Every byte arrives.
#[test]
fn a_device_that_loses_its_address_withdraws_ours_and_joins_again_once_back() {
    let Some((lab, _serial)) = lab(2) else { return };
    let path = lab.path(1).clone();
    let second = path.stack_addr(false);
    let ns = lab.ns().name().to_owned();
    let (dev, table) = (path.dev.as_str(), path.table.to_string());
    let kernel = format!("{}/24", path.kernel_v4);
    let net = format!("10.200.{}.0/24", path.index);
    let del = || ip_in(&ns, &["addr", "del", &kernel, "dev", dev]);
    let add = || {
        ip_in(&ns, &["addr", "add", &kernel, "dev", dev]);
        for to in [net.as_str(), "default"] {
            ip_in(&ns, &["route", "replace", to, "dev", dev, "table", &table]);
        }
    };
    let w = withdrawn_mid_exchange(&lab, 10, async |s| {
        away_and_back(s, second, del, add).await;
    });
    assert_eq!(w.delta.get("MPJoinSynRx"), 2, "{}", w.delta);
}
