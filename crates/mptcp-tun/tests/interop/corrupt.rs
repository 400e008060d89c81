//! A payload byte changed in flight, with DSS checksums on (the kernel's
//! `net.mptcp.checksum_enabled=1`), over the only subflow: the TCP checksum
//! stays right (the packet is rewritten before the kernel completes or
//! checks it), only the DSS checksum (RFC 8684 §3.3.1) can tell. What
//! each end does then (§3.7), checked byte for byte:
//!
//! - Towards the kernel: it counts the failure and sends MP_FAIL; we answer
//!   with MP_FAIL and an infinite mapping and both go on as TCP. The RFC's
//!   retroactive mapping makes the altered bytes part of the stream (they
//!   were acknowledged at the TCP level, no sender sends them again): the
//!   kernel's application gets them, exactly the four rewritten bytes and
//!   nothing else different; ours gets the kernel's stream intact.
//! - Towards us: we count the failure, send MP_FAIL and drop everything
//!   from the failed mapping on; when the kernel answers, our connection
//!   ends with an `InvalidData` error after an exact prefix of the
//!   kernel's stream (a deliberate deviation: this stack never hands
//!   altered bytes to an application) and MP_FASTCLOSE ends the kernel's.
//!   When a data-level retransmission came first (a DATA_ACK late under
//!   load), the streams are no longer one to one and no fallback is
//!   possible: we reset the subflow with MP_FAIL, and that RST, on the
//!   last subflow, carries MP_FASTCLOSE; the outcome is the same.
//!
//! The packet is picked and rewritten by nftables on the lab's TUN device
//! (a `netdev` table: the `egress` hook for what the kernel sends us, the
//! `ingress` hook for what we send it): the first data packets of the
//! direction pass untouched, then exactly one gets four bytes of its
//! payload (`@ih`, after the TCP header) overwritten. Our client sends its
//! whole stream first, the kernel's server its own once it has ours.

use crate::support::{Capture, in_lab, join_within, lab, nft, pattern, stack_on};
use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::lab::{TunLab, kernel};
use mptcp_tun::{FallbackReason, Mib};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEN: usize = 4 << 20;

/// The last resort against a hang (a stalled recovery): the exchange takes
/// milliseconds when it works.
const HANG: std::time::Duration = std::time::Duration::from_secs(60);

/// Bytes of data that pass before the one packet is changed.
const UNTOUCHED: usize = 256 << 10;

/// Which way the changed packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Towards {
    /// We send it; the kernel's checksum catches it.
    Kernel,
    /// The kernel sends it; ours catches it.
    Us,
}

/// The nftables table that changes one packet on path 0's device.
fn ruleset(lab: &TunLab, towards: Towards) -> String {
    let dev = &lab.path(0).dev;
    let (hook, port) = match towards {
        Towards::Kernel => ("ingress", "dport"),
        Towards::Us => ("egress", "sport"),
    };
    format!(
        "table netdev mptcp_corrupt {{
            chain one {{
                type filter hook {hook} device \"{dev}\" priority 0; policy accept;
                ip protocol tcp tcp {port} 5201 meta length > 1000 quota until {UNTOUCHED} bytes counter accept
                ip protocol tcp tcp {port} 5201 meta length > 1000 limit rate 1/hour burst 1 packets counter @ih,0,32 set 0xdeadbeef
            }}
        }}\n"
    )
}

/// How many packets the rewriting rule changed.
fn rewritten(lab: &TunLab) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", lab.ns().name()])
        .args(["nft", "list", "chain", "netdev", "mptcp_corrupt", "one"])
        .output()
        .expect("nft list");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("0xdeadbeef"))
        .unwrap_or_else(|| panic!("no rewriting rule: {text}"));
    let mut words = line.split_whitespace();
    words
        .find(|w| *w == "counter")
        .and_then(|_| words.next().filter(|w| *w == "packets"))
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {line}"))
}

/// The four bytes the rule writes.
const ALTERED: [u8; 4] = 0xdead_beef_u32.to_be_bytes();

/// What a reader got: the bytes up to the end or the error, and the error.
struct Received {
    bytes: Vec<u8>,
    error: Option<io::Error>,
}

/// Reads `s` to its end or its first error, keeping what came before.
fn read_all(s: &mut TcpStream) -> Received {
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Received { bytes, error: None },
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Received {
                    bytes,
                    error: Some(e),
                };
            }
        }
    }
}

/// How far our application got.
#[derive(Debug, Default)]
struct Progress {
    read: AtomicUsize,
    read_done: AtomicBool,
    wrote: AtomicBool,
    shut: AtomicBool,
}

/// Everything one run saw.
struct Run {
    up: Vec<u8>,
    down: Vec<u8>,
    /// What our application read, and how its writing ended.
    ours: Received,
    our_write: io::Result<()>,
    our_info: Option<mptcp_tun::ConnectionInfo>,
    counters: mptcp_tun::Counters,
    /// What the kernel's application read.
    kernel: Received,
    /// The namespace's MPTcpExt counters over the run.
    delta: MptcpCounters,
    /// Packets the rule rewrote.
    changed: u64,
}

impl Run {
    fn why(&self) -> String {
        format!(
            "kernel: {}; ours: {:?}; packets changed: {}; our read: {:?} after {} bytes; \
             our write: {:?}; the kernel's read: {:?} after {} bytes",
            self.delta,
            self.counters,
            self.changed,
            self.ours.error,
            self.ours.bytes.len(),
            self.our_write,
            self.kernel.error,
            self.kernel.bytes.len(),
        )
    }
}

/// Our client and the kernel's server exchange `LEN` bytes each way over
/// one path while one packet going `towards` is changed. `None` when
/// skipped (not root).
fn one_packet_changed(towards: Towards) -> Option<Run> {
    let (lab, _serial) = lab(1)?;
    lab.ns()
        .sysctl("net.mptcp.checksum_enabled", "1")
        .expect("sysctl");
    nft(&lab, &ruleset(&lab, towards));
    let _capture = Capture::start(&lab);
    let up = pattern(21, LEN);
    let down = pattern(22, LEN);
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let before = lab.ns().counters().expect("counters");
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("kernel listener");
    let send = down.clone();
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        // First our whole stream, then its own: sending at the same time,
        // the kernel (6.18) could send its DATA_FIN and have it
        // acknowledged before falling back, and then it never takes our
        // FIN as the end of our stream (its connection stays in FIN-WAIT-2
        // with the subflow in CLOSE-WAIT, also once closed; see
        // docs/rfc-coverage.md §3.7). The order keeps this test about the
        // checksum.
        let got = read_all(&mut s);
        // Its failure shows in what our end read.
        let _ = s
            .write_all(&send)
            .and_then(|()| s.shutdown(Shutdown::Write));
        got
    });
    // How far our end got, for the message if it hangs.
    let progress = Progress::default();
    let ended = in_lab(&lab, || async {
        let stack = stack_on(&lab, 1, false).build().expect("stack");
        let exchange = async {
            let s = stack.connect(server).await.expect("connect");
            let (mut rd, mut wr) = s.into_split();
            let write = async {
                wr.write_all(&up).await?;
                progress.wrote.store(true, Ordering::Relaxed);
                wr.shutdown().await?;
                progress.shut.store(true, Ordering::Relaxed);
                Ok(())
            };
            let read = async {
                let mut bytes = Vec::new();
                let mut buf = vec![0; 64 << 10];
                let error = loop {
                    match rd.read(&mut buf).await {
                        Ok(0) => break None,
                        Ok(n) => bytes.extend_from_slice(&buf[..n]),
                        Err(e) => break Some(e),
                    }
                    progress.read.store(bytes.len(), Ordering::Relaxed);
                };
                progress.read_done.store(true, Ordering::Relaxed);
                Received { bytes, error }
            };
            let (write, read) = tokio::join!(write, read);
            let info = tokio::time::timeout(HANG, wr.closed())
                .await
                .ok()
                .and_then(|_| wr.info().ok());
            (read, write, info)
        };
        let ended = tokio::time::timeout(HANG, exchange).await;
        (ended.ok(), stack.counters())
    });
    let (ended, counters) = ended;
    let Some((ours, our_write, our_info)) = ended else {
        let ss = Command::new("ip")
            .args(["netns", "exec", lab.ns().name(), "ss", "-tanMie"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        panic!(
            "no end to the exchange within {HANG:?}: {progress:?}; kernel: {}; ours: {counters:?}; \
             packets changed: {}; the kernel's application done: {}; its sockets: {ss:?}",
            lab.ns().counters().expect("counters").delta(&before),
            rewritten(&lab),
            kernel.is_finished(),
        );
    };
    let kernel = join_within(
        kernel,
        &format!(
            "the kernel's end finished (ours: read {} bytes, error {:?}; write {our_write:?}; \
             {counters:?})",
            ours.bytes.len(),
            ours.error,
        ),
    );
    Some(Run {
        delta: lab.ns().counters().expect("counters").delta(&before),
        changed: rewritten(&lab),
        up,
        down,
        ours,
        our_write,
        our_info,
        counters,
        kernel,
    })
}

/// Where `got` differs from `sent`, which it must equal in length.
fn differences(got: &[u8], sent: &[u8]) -> Vec<usize> {
    assert_eq!(got.len(), sent.len(), "same length");
    (0..got.len()).filter(|&i| got[i] != sent[i]).collect()
}

/// We send the changed packet: the kernel's DSS checksum fails, it sends
/// MP_FAIL; we answer MP_FAIL and an infinite mapping; the kernel's
/// application gets the four altered bytes, ours the kernel's stream
/// intact.
#[test]
fn a_byte_changed_towards_the_kernel_fails_its_checksum() {
    let Some(run) = one_packet_changed(Towards::Kernel) else {
        return;
    };
    let why = run.why();
    let (delta, ours) = (&run.delta, &run.counters);
    assert_eq!(run.changed, 1, "one packet was changed: {why}");
    assert!(delta.get("DataCsumErr") >= 1, "{why}");
    assert!(delta.get("MPFailTx") >= 1, "{why}");
    assert!(ours.get(Mib::MPFailRx) >= 1, "{why}");
    assert!(ours.get(Mib::InfiniteMapTx) >= 1, "{why}");
    // Our answer and infinite mapping, on the same segment.
    assert!(delta.get("MPFailRx") >= 1, "our answer: {why}");
    assert!(delta.get("InfiniteMapRx") >= 1, "{why}");
    let fallback = run
        .our_info
        .as_ref()
        .and_then(|i| i.mptcp.as_ref()?.fallback);
    assert_eq!(fallback, Some(FallbackReason::PeerFail), "{why}");
    // We got the kernel's stream intact, and ended cleanly.
    assert!(run.ours.error.is_none(), "{why}");
    assert!(run.our_write.is_ok(), "{why}");
    assert!(
        run.ours.bytes == run.down,
        "we got the kernel's intact: {why}"
    );
    // The kernel's application got the altered bytes in place of ours,
    // and nothing else different.
    assert!(run.kernel.error.is_none(), "{why}");
    let diff = differences(&run.kernel.bytes, &run.up);
    let (&first, &last) = diff.first().zip(diff.last()).expect("altered bytes");
    assert!(last - first < 4, "one 4-byte rewrite: {diff:?}");
    let at = (first.saturating_sub(3)..=first)
        .find(|&i| run.kernel.bytes.get(i..i + 4) == Some(&ALTERED[..]) && last < i + 4)
        .unwrap_or_else(|| panic!("0xdeadbeef around {first}: {diff:?}"));
    assert!(at >= UNTOUCHED / 2, "after the untouched packets: {at}");
}

/// The kernel sends the changed packet: our DSS checksum fails, we send
/// MP_FAIL; when the kernel answers, our connection ends with an error
/// after an exact prefix of its stream, never the altered bytes.
#[test]
fn a_byte_changed_towards_us_fails_our_checksum() {
    let Some(run) = one_packet_changed(Towards::Us) else {
        return;
    };
    let why = run.why();
    let (delta, ours) = (&run.delta, &run.counters);
    assert_eq!(run.changed, 1, "one packet was changed: {why}");
    assert!(ours.get(Mib::DataCsumErr) >= 1, "{why}");
    assert!(ours.get(Mib::MPFailTx) >= 1, "{why}");
    // The kernel took our MP_FAIL on an ACK or, when no fallback was
    // possible, our RST with MP_FAIL and MP_FASTCLOSE (6.18 then counts
    // only the MP_FASTCLOSE).
    assert!(
        delta.get("MPFailRx") >= 1 || delta.get("MPFastcloseRx") >= 1,
        "{why}"
    );
    assert!(ours.get(Mib::MPFastcloseTx) >= 1, "{why}");
    // Our application: an exact prefix, then the error.
    let kind = run.ours.error.as_ref().map(io::Error::kind);
    assert_eq!(kind, Some(io::ErrorKind::InvalidData), "{why}");
    let got = &run.ours.bytes;
    assert!(got.len() < LEN, "{why}");
    assert!(got[..] == run.down[..got.len()], "an exact prefix: {why}");
    assert!(got.len() >= UNTOUCHED / 2, "the untouched part came: {why}");
    // The kernel's application had all of ours before it sent.
    assert!(run.kernel.error.is_none(), "{why}");
    assert!(run.kernel.bytes == run.up, "{why}");
}
