//! The harness of the interop tests: a lab namespace with TUN paths, the
//! kernel's end (blocking sockets on a thread inside the namespace), our
//! end (a stack on a tokio runtime inside the namespace), and what each
//! end saw.

use mptcp_tun::lab::counters::MptcpCounters;
use mptcp_tun::lab::kernel::{self, MptcpInfo as KernelInfo};
use mptcp_tun::lab::{self, Netns, TunLab};
use mptcp_tun::{ConnectionInfo, MptcpStream, StackBuilder, TcpState};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The last resort against a hang: how long any one exchange (or wait for
/// a state) may take before the test fails. Never a measure of speed: the
/// largest transfers take a few seconds on two busy cores.
pub const DEADLINE: Duration = Duration::from_secs(300);

/// The tests move a lot of data through two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A lab with `paths` TUN paths and the lock that serializes the tests;
/// `None` (after one loud line) when not root, except under CI.
pub fn lab(paths: usize) -> Option<(TunLab, MutexGuard<'static, ()>)> {
    lab_with(paths, false)
}

/// [`lab`], its devices made for several queues (a stack with workers).
pub fn lab_multi_queue(paths: usize) -> Option<(TunLab, MutexGuard<'static, ()>)> {
    lab_with(paths, true)
}

fn lab_with(paths: usize, multi_queue: bool) -> Option<(TunLab, MutexGuard<'static, ()>)> {
    if !lab::is_root() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "interop tests need root (CI=true: failing, not skipping)"
        );
        let _ = writeln!(
            io::stderr(),
            "SKIPPED: interop tests need root for namespaces and TUN"
        );
        return None;
    }
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let lab = if multi_queue {
        TunLab::multi_queue("mpti", paths)
    } else {
        TunLab::new("mpti", paths)
    };
    Some((lab.expect("lab"), guard))
}

/// Waits until `done()` holds, checking every millisecond (for kernel
/// state, which nothing announces); panics with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(
            std::time::Instant::now() < give_up,
            "{what}: not within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The result of the kernel's thread, once it finished; fails the test
/// after [`DEADLINE`] instead of waiting forever (a kernel socket blocks
/// without end on a peer that is gone, and the test would never report).
pub fn join_within<T>(thread: JoinHandle<T>, what: &str) -> T {
    wait_until(what, || thread.is_finished());
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `len` bytes of a stream seeded by `seed` (xorshift64*): cheap, and
/// different for each direction.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of `data`, as hex.
pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Where `got` differs from `want`: each differing range (merged across
/// gaps under 64 bytes, at most eight) and, for its first bytes, where in
/// `want` they do occur, if anywhere (data put at the wrong place).
pub fn where_differ(got: &[u8], want: &[u8]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for i in (0..got.len().min(want.len())).filter(|&i| got[i] != want[i]) {
        match ranges.last_mut() {
            Some((_, end)) if i < *end + 64 => *end = i + 1,
            _ => ranges.push((i, i + 1)),
        }
    }
    let mut out = format!("{} bytes got, {} sent", got.len(), want.len());
    for &(start, end) in ranges.iter().take(8) {
        let probe = &got[start..(start + 32).min(got.len())];
        let from = want
            .windows(probe.len())
            .position(|w| w == probe)
            .map_or("nowhere in what was sent".to_string(), |at| {
                format!("sent at {at}")
            });
        out += &format!("\n    [{start}, {end}) differs; its first bytes were {from}");
    }
    if ranges.len() > 8 {
        out += &format!("\n    and {} more ranges", ranges.len() - 8);
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a kernel socket is, by `SO_PROTOCOL` and `MPTCP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSocket {
    /// An MPTCP socket whose `MPTCP_INFO` answered (its flags tell a
    /// fallback the kernel reports that way).
    Mptcp(KernelInfo),
    /// A plain TCP socket: `SO_PROTOCOL` is TCP and `MPTCP_INFO` fails with
    /// `EOPNOTSUPP` (a plain TCP socket, or the one an MPTCP listener
    /// hands out for a client without MPTCP).
    PlainTcp,
    /// An MPTCP socket that fell back to TCP: `SO_PROTOCOL` is MPTCP and,
    /// on Linux 6.18, `MPTCP_INFO` fails with `EOPNOTSUPP` (the kernel
    /// passes the options of a fallen-back socket to TCP, which does not
    /// know `SOL_MPTCP`; checked by the `lab` tests).
    FellBack,
}

/// What `s` is; any answer but these (another error, `MPTCP_INFO` on a
/// plain TCP socket) is an error.
pub fn kernel_socket(s: &TcpStream) -> io::Result<KernelSocket> {
    let mptcp = kernel::is_mptcp(s)?;
    match (kernel::mptcp_info(s), mptcp) {
        (Ok(info), true) => Ok(KernelSocket::Mptcp(info)),
        (Ok(info), false) => Err(io::Error::other(format!(
            "MPTCP_INFO answered on a plain TCP socket: {info:?}"
        ))),
        (Err(e), true) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(KernelSocket::FellBack),
        (Err(e), false) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(KernelSocket::PlainTcp),
        (Err(e), _) => Err(io::Error::new(e.kind(), format!("MPTCP_INFO: {e}"))),
    }
}

/// What the kernel's end saw.
#[derive(Debug)]
pub struct KernelEnd {
    /// Bytes received and their hash.
    pub received: usize,
    pub received_sha: String,
    /// The bytes themselves, for [`where_differ`].
    pub data: Vec<u8>,
    /// What the socket was after the exchange, before closing.
    pub socket: KernelSocket,
}

/// When the kernel's end shuts down writing (its DATA_FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fin {
    /// As soon as everything is written: the peer may read to the end
    /// first and close before the kernel looks at its socket.
    WhenWritten,
    /// Only after reading to the end and taking `MPTCP_INFO`: the peer
    /// (which must write and shut down before it reads to the end) keeps
    /// its subflows until then, so the info shows every subflow live.
    AfterInfo,
}

/// What a sender writes before it waits for the join: joins wait for the
/// connection to be fully established, which takes data.
pub const FIRST_BLOCK: usize = 64 << 10;

/// How the kernel's end runs an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelPlan {
    /// When it shuts down writing.
    pub fin: Fin,
    /// `Some(counter)`: write [`FIRST_BLOCK`], then wait until the
    /// namespace counts `counter` (`MPJoinAckRx` for a server,
    /// `MPJoinSynAckRx` for a client: the join's handshake done at the
    /// kernel) before writing the rest, so that the join is there before
    /// the transfer could end.
    pub join_counter: Option<&'static str>,
}

impl KernelPlan {
    /// Write everything at once, shut down writing when written.
    pub const PLAIN: KernelPlan = KernelPlan {
        fin: Fin::WhenWritten,
        join_counter: None,
    };
}

/// Exchange data on a kernel socket: send `send` while reading to the
/// end, as `plan` says; take `MPTCP_INFO`; close.
pub fn kernel_exchange_with(
    mut s: TcpStream,
    send: &[u8],
    plan: KernelPlan,
) -> io::Result<KernelEnd> {
    s.set_read_timeout(Some(DEADLINE))?;
    s.set_write_timeout(Some(DEADLINE))?;
    let mut w = s.try_clone()?;
    let fin = plan.fin;
    let mut got = Vec::with_capacity(send.len());
    let got_ref = &mut got;
    let (received, hash) = std::thread::scope(|sc| {
        let writer = sc.spawn(move || -> io::Result<()> {
            let mut rest = send;
            if let Some(counter) = plan.join_counter {
                let (first, later) = send.split_at(FIRST_BLOCK.min(send.len()));
                w.write_all(first)?;
                wait_until(&format!("the kernel counts {counter}"), || {
                    lab::counters::read_current().is_ok_and(|c| c.get(counter) >= 1)
                });
                rest = later;
            }
            w.write_all(rest)?;
            match fin {
                Fin::WhenWritten => w.shutdown(Shutdown::Write),
                Fin::AfterInfo => Ok(()),
            }
        });
        let mut h = Sha256::new();
        let mut n = 0;
        let mut buf = vec![0u8; 1 << 16];
        let read = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(k) => {
                    h.update(&buf[..k]);
                    got_ref.extend_from_slice(&buf[..k]);
                    n += k;
                }
                Err(e) => break Err(e),
            }
        };
        writer.join().expect("writer")?;
        read.map(|()| (n, hex(&h.finalize())))
    })?;
    let socket = kernel_socket(&s)?;
    if fin == Fin::AfterInfo {
        s.shutdown(Shutdown::Write)?;
    }
    Ok(KernelEnd {
        received,
        received_sha: hash,
        data: got,
        socket,
    })
}

/// A kernel server on `addr`'s port (MPTCP or plain TCP) accepting one
/// connection and exchanging `send` with it as `plan` says, on a thread
/// inside `ns`. It listens on every address, as joins to its other
/// addresses need.
pub fn kernel_server_with(
    ns: &Netns,
    addr: SocketAddr,
    mptcp: bool,
    send: Vec<u8>,
    plan: KernelPlan,
) -> JoinHandle<io::Result<KernelEnd>> {
    let any: std::net::IpAddr = if addr.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let listener = ns
        .run(|| kernel::listen(SocketAddr::new(any, addr.port()), mptcp))
        .expect("kernel listener");
    ns.spawn(move || {
        let (s, _) = listener.accept()?;
        kernel_exchange_with(s, &send, plan)
    })
}

/// A kernel client connecting to `addr` from inside `ns` and exchanging
/// `send` as `plan` says (our listener must be up: a refused connection
/// fails).
pub fn kernel_client_with(
    ns: &Netns,
    addr: SocketAddr,
    mptcp: bool,
    send: Vec<u8>,
    plan: KernelPlan,
) -> JoinHandle<io::Result<KernelEnd>> {
    ns.spawn(move || {
        let s = kernel::connect(addr, mptcp, DEADLINE)?;
        kernel_exchange_with(s, &send, plan)
    })
}

/// What our end saw.
#[derive(Debug)]
pub struct OurEnd {
    pub received: usize,
    pub received_sha: String,
    /// The connection, once closed.
    pub info: ConnectionInfo,
    /// Counters of the whole stack.
    pub counters: mptcp_tun::Counters,
    /// Packet counters of each path's device.
    pub devices: Vec<mptcp_tun::DeviceStats>,
}

/// Exchange data on one of our streams: write `send` and shut down (DATA_FIN)
/// while reading to the end, wait for the close, take the statistics.
pub async fn our_exchange(
    stream: MptcpStream,
    send: &[u8],
    stack: &mptcp_tun::Stack,
) -> io::Result<OurEnd> {
    our_exchange_with(stream, send, stack, false).await
}

/// [`our_exchange`]; with `join`, write [`FIRST_BLOCK`] and wait for a
/// second established subflow before writing the rest.
pub async fn our_exchange_with(
    stream: MptcpStream,
    send: &[u8],
    stack: &mptcp_tun::Stack,
    join: bool,
) -> io::Result<OurEnd> {
    let (mut rd, mut wr) = stream.into_split();
    let up = async {
        let mut rest = send;
        if join {
            let (first, later) = send.split_at(FIRST_BLOCK.min(send.len()));
            wr.write_all(first).await?;
            wr.wait_info(|i| established(i, 2)).await?;
            rest = later;
        }
        wr.write_all(rest).await?;
        wr.shutdown().await
    };
    let down = async {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await?;
        io::Result::Ok(got)
    };
    let ((), got) = tokio::try_join!(up, down)?;
    tokio::time::timeout(DEADLINE, wr.closed())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "close handshake"))??;
    Ok(OurEnd {
        received: got.len(),
        received_sha: sha256(&got),
        info: wr.info()?,
        counters: stack.counters(),
        devices: stack.device_stats().into_iter().map(|(_, d)| d).collect(),
    })
}

/// Run `f` on a tokio runtime on a thread inside the lab's namespace (so
/// that the stack finds the lab's TUN devices), failing after [`DEADLINE`].
pub fn in_lab<T, F, Fut>(lab: &TunLab, f: F) -> T
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = T>,
{
    lab.ns().run(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(DEADLINE, f())
                .await
                .expect("the exchange finished in time")
        })
    })
}

/// A builder with paths `0..n` of the lab (IPv4 or IPv6).
pub fn stack_on(lab: &TunLab, n: usize, v6: bool) -> StackBuilder {
    let mut b = mptcp_tun::Stack::builder();
    for p in &lab.paths()[..n] {
        b = b.path(p.dev.clone(), p.stack_addr(v6));
    }
    b
}

/// The kernel's `MPTCP_INFO`, which must be there.
pub fn kinfo(end: &KernelEnd) -> &KernelInfo {
    match &end.socket {
        KernelSocket::Mptcp(info) => info,
        other => panic!("the kernel socket speaks MPTCP (MPTCP_INFO answered): {other:?}"),
    }
}

/// Whether at least `n` subflows of the connection are established. Not
/// "their handshake measured a round trip": a retransmitted SYN gives no
/// sample (Karn), and without timestamps a subflow that carries no data
/// of ours never gets one (a CI run under load waited for it 300 s).
pub fn established(info: &ConnectionInfo, n: usize) -> bool {
    let up = |f: &&mptcp_tun::SubflowInfo| f.state == TcpState::Established;
    info.subflows.iter().filter(up).count() >= n
}

/// With `MPTCP_INTEROP_PCAP=<dir>`, tcpdump on every path of the lab
/// while a test runs (`<dir>/<test>-<device>.pcap`, headers and 200
/// bytes of payload), to take a failing cell apart; nothing otherwise.
pub struct Capture(Vec<std::process::Child>);

impl Capture {
    /// Starts capturing (once tcpdump listens), or does nothing.
    pub fn start(lab: &TunLab) -> Capture {
        let Some(dir) = std::env::var_os("MPTCP_INTEROP_PCAP") else {
            return Capture(Vec::new());
        };
        let test = std::thread::current()
            .name()
            .unwrap_or("interop")
            .replace("::", "-");
        let children = lab
            .paths()
            .iter()
            .map(|p| {
                let file = std::path::Path::new(&dir).join(format!("{test}-{}.pcap", p.dev));
                let file = file.to_string_lossy().into_owned();
                let args = [
                    "tcpdump",
                    "--immediate-mode",
                    "-i",
                    &p.dev,
                    "-s",
                    "300",
                    "-U",
                    "-w",
                    &file,
                ];
                let mut child = lab
                    .ns()
                    .exec(&args)
                    .expect("tcpdump")
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("tcpdump");
                // It says so on stderr once it listens.
                let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
                let mut line = String::new();
                while std::io::BufRead::read_line(&mut err, &mut line).expect("tcpdump") > 0
                    && !line.contains("listening on")
                {
                    line.clear();
                }
                child
            })
            .collect();
        Capture(children)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SIGINT: tcpdump writes what it has and exits.
            let pid = child.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status();
            let _ = child.wait();
        }
    }
}

/// `nft -f -` inside the lab's namespace.
pub fn nft(lab: &TunLab, input: &str) -> String {
    let mut child = lab
        .ns()
        .exec(&["nft", "-f", "-"])
        .expect("nft")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nft (package nftables)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("nft input");
    let out = child.wait_with_output().expect("nft");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nft -f: {err}\n{input}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Our endpoint on path `path` of `lab` with `flags`.
pub fn our_endpoint(lab: &TunLab, path: usize, flags: &str) -> mptcp_tun::PmEndpoint {
    let addr = lab.path(path).stack_addr(false);
    let mut ep = mptcp_tun::PmEndpoint::new(addr, mptcp_tun::EndpointFlags::NONE);
    for f in flags.split_whitespace() {
        ep.apply_option(f).expect("flag");
    }
    ep
}

/// One endpoint-flag case between us and the kernel, in either role.
pub struct FlagRow {
    pub flag: &'static str,
    /// The kernel's endpoints: (path, flags for `ip mptcp endpoint`).
    pub kernel: &'static [(usize, &'static str)],
    /// Our endpoints: (path, flags).
    pub ours: &'static [(usize, &'static str)],
    /// Our established subflows once ready: (our path, the kernel's path).
    pub subflows: &'static [(usize, usize)],
    /// Those of them that are backups.
    pub backup: &'static [(usize, usize)],
    /// The kernel's `MPTCP_INFO` at the end: subflows beyond the first.
    pub kernel_subflows: u8,
    /// The kernel's counters over the exchange.
    pub counters: &'static [(&'static str, u64)],
}

/// What one exchange of a [`FlagRow`] gave: the kernel's end, its
/// counters, and our connection once ready.
pub type FlagOutcome = (KernelEnd, MptcpCounters, ConnectionInfo);

/// Run every row on a three-path lab: the endpoints configured, then
/// `exchange` (the kernel running as `plan`, our end ready once it has as
/// many established subflows as the row wants); checks the subflows,
/// backups, the kernel's `MPTCP_INFO` (taken while its peer's subflows
/// live: `Fin::AfterInfo`) and its counters. Reports every row's
/// mismatches at once.
pub fn run_flag_rows(
    rows: &[FlagRow],
    join_counter: &'static str,
    exchange: impl Fn(
        &TunLab,
        StackBuilder,
        KernelPlan,
        &(dyn Fn(&ConnectionInfo) -> bool + Sync),
    ) -> FlagOutcome,
) {
    let mut failures = Vec::new();
    for row in rows {
        let Some((lab, _serial)) = lab(3) else { return };
        for &(p, flags) in row.kernel {
            lab.endpoint(p, flags).expect("kernel endpoint");
        }
        let mut b = stack_on(&lab, 3, false);
        for &(p, flags) in row.ours {
            b = b.endpoint(our_endpoint(&lab, p, flags));
        }
        let pairs = |list: &[(usize, usize)]| -> Vec<(IpAddr, IpAddr)> {
            let mut v: Vec<_> = list
                .iter()
                .map(|&(o, k)| {
                    (
                        lab.path(o).stack_addr(false),
                        lab.path(k).kernel_addr(false),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let want = pairs(row.subflows);
        let plan = KernelPlan {
            fin: Fin::AfterInfo,
            join_counter: Some(join_counter),
        };
        let ready = |i: &ConnectionInfo| established_pairs(i, false).len() >= want.len();
        let (k, delta, ready) = exchange(&lab, b, plan, &ready);
        let name = row.flag;
        let got = established_pairs(&ready, false);
        if got != want {
            failures.push(format!("{name}: subflows {got:?}, want {want:?}"));
        }
        let (got, want) = (established_pairs(&ready, true), pairs(row.backup));
        if got != want {
            failures.push(format!("{name}: backups {got:?}, want {want:?}"));
        }
        let ki = kinfo(&k);
        if ki.subflows != row.kernel_subflows {
            let want = row.kernel_subflows;
            failures.push(format!(
                "{name}: the kernel's MPTCP_INFO subflows {}, want {want}",
                ki.subflows
            ));
        }
        for &(counter, value) in row.counters {
            let got = delta.get(counter);
            if got != value {
                failures.push(format!(
                    "{name}: kernel {counter} {got}, want {value}: {delta}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The established subflows of `i` (only the backups with `backup_only`)
/// as sorted (our address, the peer's).
fn established_pairs(i: &ConnectionInfo, backup_only: bool) -> Vec<(IpAddr, IpAddr)> {
    let mut v: Vec<_> = i
        .subflows
        .iter()
        .filter(|s| s.state == TcpState::Established && (s.backup || !backup_only))
        .map(|s| (s.tuple.local.ip(), s.tuple.remote.ip()))
        .collect();
    v.sort();
    v
}
