//! `mptcp proxy`: link bonding. The client side accepts plain TCP
//! connections and carries each over one MPTCP connection across every
//! uplink to the server side, which connects onward with ordinary kernel
//! TCP: as a SOCKS5 server (RFC 1928/1929) or to one fixed upstream.
//!
//! Both sides run our stack over TUN devices and set up the host for
//! them (routes, policy rules, NAT), removing it all on exit.

mod client;
mod plumbing;
mod server;
mod socks;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use mptcp_tun::{MptcpStream, Stack};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Failure;

/// Arguments of `mptcp proxy`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    side: Side,
}

#[derive(Subcommand, Debug)]
enum Side {
    /// Accept plain TCP on --listen and carry each connection over MPTCP
    /// across every --uplink to the proxy server.
    Client(Box<client::Args>),
    /// Accept MPTCP connections and connect onward with kernel TCP, as a
    /// SOCKS5 server (--socks) or to one upstream (--forward).
    Server(Box<server::Args>),
}

/// Runs either side.
pub fn run(args: Args) -> Result<(), Failure> {
    match args.side {
        Side::Client(a) => client::run(*a),
        Side::Server(a) => server::run(*a),
    }
}

/// How long the closing handshake may take once both directions ended.
const LINGER: Duration = Duration::from_secs(10);

/// Connection and byte counts of a proxy, for `--stats` and SIGUSR1.
#[derive(Default)]
pub struct Counts {
    active: AtomicU64,
    total: AtomicU64,
    failed: AtomicU64,
    /// Bytes from the plain TCP side into MPTCP.
    to_mptcp: AtomicU64,
    /// Bytes from MPTCP out to the plain TCP side.
    from_mptcp: AtomicU64,
}

impl Counts {
    /// One line: connections and bytes, then each path's device counters.
    pub fn status_line(&self, stack: &Stack) -> String {
        let mut line = format!(
            "connections active {} total {} failed {}; bytes into MPTCP {} out of MPTCP {}",
            self.active.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.to_mptcp.load(Ordering::Relaxed),
            self.from_mptcp.load(Ordering::Relaxed),
        );
        for (path, d) in stack.device_stats() {
            line.push_str(&format!(
                "; {} {} out {} B in {} B",
                path.device, path.addr, d.bytes_out, d.bytes_in
            ));
        }
        if stack.worker_count() > 1 {
            use mptcp_tun::Mib;
            for i in 0..stack.worker_count() {
                let c = stack.worker_counters(i).unwrap_or_default();
                line.push_str(&format!(
                    "; worker {i} connections {} joins {} unknown-token {}",
                    c.get(Mib::MPCapablePassive) + c.get(Mib::MPCapableActive),
                    c.get(Mib::MPJoinAckRx) + c.get(Mib::MPJoinSynAckRx),
                    c.get(Mib::MPJoinNoTokenFound),
                ));
            }
            let d = stack.driver_stats();
            line.push_str(&format!(
                "; joins handed over {} segments passed on {}",
                d.joins_handed_over, d.segments_passed_on
            ));
        }
        line
    }
}

/// Counts one connection as active while it lives.
pub struct Active(Arc<Counts>);

impl Active {
    /// A new connection.
    pub fn new(counts: &Arc<Counts>) -> Active {
        counts.active.fetch_add(1, Ordering::Relaxed);
        counts.total.fetch_add(1, Ordering::Relaxed);
        Active(Arc::clone(counts))
    }

    /// The connection failed (counted once it ends).
    pub fn failed(&self) {
        self.0.failed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Relays between a plain TCP connection and an MPTCP one until both
/// directions have ended (an end of stream becomes the other side's FIN or
/// DATA_FIN). An error on either side resets both: RST on the TCP side, an
/// MP_FASTCLOSE on the MPTCP side. Returns the bytes (into, out of) MPTCP.
pub async fn bridge(
    mut tcp: TcpStream,
    mut m: MptcpStream,
    counts: &Counts,
) -> io::Result<(u64, u64)> {
    match tokio::io::copy_bidirectional(&mut tcp, &mut m).await {
        Ok((up, down)) => {
            counts.to_mptcp.fetch_add(up, Ordering::Relaxed);
            counts.from_mptcp.fetch_add(down, Ordering::Relaxed);
            let _ = tcp.shutdown().await;
            let _ = tokio::time::timeout(LINGER, m.closed()).await;
            Ok((up, down))
        }
        Err(e) => {
            reset(tcp);
            m.abort();
            Err(e)
        }
    }
}

/// Closes a kernel TCP connection with a RST (a zero linger time makes
/// the close abortive; it does not block).
pub fn reset(tcp: TcpStream) {
    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
    drop(tcp);
}

/// Until SIGINT or SIGTERM: prints the status line on each SIGUSR1.
pub async fn wait_for_exit(counts: &Counts, stack: &Stack) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = usr1.recv() => eprintln!("mptcp proxy: {}", counts.status_line(stack)),
        }
    }
}
