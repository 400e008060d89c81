//! The harness of the interop tests: a lab namespace with TUN paths, the
//! kernel's end (blocking sockets on a thread inside the namespace), our
//! end (a stack on a tokio runtime inside the namespace), and what each
//! end saw.

use mptcp_tun::lab::kernel::{self, MptcpInfo as KernelInfo};
use mptcp_tun::lab::{self, Netns, TunLab};
use mptcp_tun::{ConnectionInfo, MptcpStream, StackBuilder};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any one exchange may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The tests move a lot of data through two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A lab with `paths` TUN paths and the lock that serializes the tests;
/// `None` (after one loud line) when not root, except under CI.
pub fn lab(paths: usize) -> Option<(TunLab, MutexGuard<'static, ()>)> {
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
    let lab = TunLab::new("mpti", paths).expect("lab");
    Some((lab, guard))
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the kernel's end saw.
#[derive(Debug)]
pub struct KernelEnd {
    /// Bytes received and their hash.
    pub received: usize,
    pub received_sha: String,
    /// `MPTCP_INFO` taken after the exchange, before closing (`None`: the
    /// socket is plain TCP, or fell back).
    pub info: Option<KernelInfo>,
}

/// Exchange data on a kernel socket: send `send` (then shut down writing)
/// while reading to the end; take `MPTCP_INFO`; close.
pub fn kernel_exchange(mut s: TcpStream, send: &[u8]) -> io::Result<KernelEnd> {
    s.set_read_timeout(Some(DEADLINE))?;
    s.set_write_timeout(Some(DEADLINE))?;
    let mut w = s.try_clone()?;
    let (received, hash) = std::thread::scope(|sc| {
        let writer = sc.spawn(move || -> io::Result<()> {
            w.write_all(send)?;
            w.shutdown(Shutdown::Write)
        });
        let mut h = Sha256::new();
        let mut n = 0;
        let mut buf = vec![0u8; 1 << 16];
        let read = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k;
                }
                Err(e) => break Err(e),
            }
        };
        writer.join().expect("writer")?;
        read.map(|()| (n, hex(&h.finalize())))
    })?;
    let info = kernel::mptcp_info(&s).ok();
    Ok(KernelEnd {
        received,
        received_sha: hash,
        info,
    })
}

/// A kernel server on `addr`'s port (MPTCP or plain TCP) accepting one
/// connection and exchanging `send` with it, on a thread inside `ns`. It
/// listens on every address, as joins to its other addresses need.
pub fn kernel_server(
    ns: &Netns,
    addr: SocketAddr,
    mptcp: bool,
    send: Vec<u8>,
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
        kernel_exchange(s, &send)
    })
}

/// A kernel client connecting to `addr` from inside `ns` and exchanging
/// `send`, after `delay` (so that our listener is up).
pub fn kernel_client(
    ns: &Netns,
    addr: SocketAddr,
    mptcp: bool,
    send: Vec<u8>,
) -> JoinHandle<io::Result<KernelEnd>> {
    ns.spawn(move || {
        let s = kernel::connect(addr, mptcp, Duration::from_secs(5))?;
        kernel_exchange(s, &send)
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
    let (mut rd, mut wr) = stream.into_split();
    let up = async {
        wr.write_all(send).await?;
        wr.shutdown().await
    };
    let down = async {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await?;
        io::Result::Ok(got)
    };
    let ((), got) = tokio::try_join!(up, down)?;
    tokio::time::timeout(Duration::from_secs(10), wr.closed())
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
    end.info
        .as_ref()
        .expect("the kernel socket speaks MPTCP (MPTCP_INFO answered)")
}
