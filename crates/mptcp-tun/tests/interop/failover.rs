//! Test 8: a path's TUN device goes down in the middle of a transfer; the
//! transfer completes over the other path, every byte intact.
//!
//! The order of events is made, not hoped for: both subflows are up (at
//! our end and at the kernel's) before any data moves, and the kernel's
//! reader stops reading at a quarter of the stream and takes the path
//! down itself, so that the rest of the stream waits for it (flow control
//! with a receive buffer of at most 2 MiB) however long the cut takes.

use crate::support::{
    DEADLINE, established, in_lab, join_within, lab, pattern, sha256, stack_on, wait_until,
};
use mptcp_tun::MptcpStream;
use mptcp_tun::lab::kernel::{self, MptcpInfo as KernelInfo};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const LEN: usize = 32 << 20;

/// Written before the join: the kernel buffers it without reading.
const FIRST: usize = 64 << 10;

/// The most the kernel buffers for a reader that does not read (its
/// `tcp_rmem` maximum, 32 MiB by default on 6.18: the whole stream).
const KERNEL_RMEM_MAX: usize = 2 << 20;

/// What the kernel's reader saw.
struct KernelRun {
    received: usize,
    sha: String,
    /// `MPTCP_INFO` just before the cut.
    at_cut: KernelInfo,
}

/// Accept on `listener`, wait for the second subflow, read a quarter of the
/// stream, take `dev` down in namespace `ns` (reading nothing meanwhile),
/// then read to the end.
fn kernel_reader(listener: std::net::TcpListener, ns: &str, dev: &str) -> io::Result<KernelRun> {
    let (mut s, _) = listener.accept()?;
    s.set_read_timeout(Some(DEADLINE))?;
    wait_until("the kernel counts our join", || {
        kernel::mptcp_info(&s).is_ok_and(|i| i.subflows_total >= 2)
    });
    let (mut h, mut n, mut at_cut) = (Sha256::new(), 0usize, None);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = s.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k;
        if at_cut.is_none() && n >= LEN / 4 {
            at_cut = Some(kernel::mptcp_info(&s)?);
            let st = Command::new("ip")
                .args(["-n", ns, "link", "set", "dev", dev, "down"])
                .status()?;
            assert!(st.success(), "ip link set {dev} down: {st}");
        }
    }
    let sha = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    Ok(KernelRun {
        received: n,
        sha,
        at_cut: at_cut.expect("a quarter of the stream arrived"),
    })
}

fn path_goes_down(down: usize) {
    let Some((lab, _serial)) = lab(2) else { return };
    let rmem = format!("4096 131072 {KERNEL_RMEM_MAX}");
    lab.ns().sysctl("net.ipv4.tcp_rmem", &rmem).expect("sysctl");
    let data = pattern(8, LEN);
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let dev = lab.path(down).dev.clone();
    let ns = lab.ns().name().to_owned();
    let _capture = crate::support::Capture::start(&lab);
    let before = lab.ns().counters().expect("counters");
    let kernel = lab.ns().spawn(move || kernel_reader(listener, &ns, &dev));
    let (joined, info) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 2, false).build().expect("stack");
        let mut s = MptcpStream::connect(&stack, server).await.expect("connect");
        // Joins wait for the connection to be fully established at both
        // ends, which takes data: a first block, then the join.
        s.write_all(&data[..FIRST]).await.expect("write");
        let joined = s.wait_info(|i| established(i, 2)).await.expect("join");
        let (_rd, mut wr) = s.into_split();
        wr.write_all(&data[FIRST..]).await.expect("write");
        wr.shutdown().await.expect("DATA_FIN");
        // The kernel reads to the end; our close completes or not, as the
        // dead subflow may still be closing: the stream is what matters.
        let _ = tokio::time::timeout(Duration::from_secs(5), wr.closed()).await;
        (joined, wr.info().expect("info"))
    });
    let run = join_within(kernel, "the kernel's end finished").unwrap_or_else(|e| {
        let delta = lab.ns().counters().map(|c| c.delta(&before).to_string());
        panic!(
            "the kernel's reader: {e}\n  kernel counters: {delta:?}\n  ours: {:?}\n  {:#?}",
            info.counters, info.subflows
        )
    });
    assert_eq!(run.received, LEN, "every byte arrived");
    assert_eq!(run.sha, sha256(&pattern(8, LEN)));
    assert_eq!(joined.subflows.len(), 2, "{:?}", joined.subflows);
    assert_eq!(
        joined.subflows[1].tuple.local.ip(),
        lab.path(1).stack_addr(false),
        "the join comes from the second path"
    );
    assert_eq!(
        run.at_cut.subflows_total, 2,
        "both subflows were up at the cut: {:?}",
        run.at_cut
    );
    assert!(
        run.at_cut.bytes_received < (LEN / 2) as u64,
        "the cut came before the end: {} of {LEN} bytes had arrived",
        run.at_cut.bytes_received
    );
    assert_eq!(info.subflows.len(), 2, "{:?}", info.subflows);
    let live = &info.subflows[1 - down];
    assert!(
        live.bytes_acked >= (LEN / 2) as u64,
        "the surviving subflow carried the rest: {:?}",
        info.subflows
    );
}

#[test]
fn initial_path_goes_down_mid_transfer() {
    path_goes_down(0);
}

#[test]
fn joined_path_goes_down_mid_transfer() {
    path_goes_down(1);
}
