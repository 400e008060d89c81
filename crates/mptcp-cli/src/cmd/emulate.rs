//! `mptcp emulate`: the simulator's link model in real time between two
//! network namespaces, so that any stack (the kernel's TCP and MPTCP, ours
//! over its TUN devices) runs over the paths `mptcp sim` models.
//!
//! Each path is a TUN device in either namespace, both held by this
//! process; what one namespace's kernel routes into its device crosses the
//! path's link model ([`LinkDriver`], the simulator's own) one way and is
//! written into the other namespace's device when the model says it
//! arrives. One thread forwards every path.

mod forward;
mod setup;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use clap::Args as ClapArgs;
use mptcp_sim::parse::parse_duration;
use mptcp_sim::scenario::{Outage, PathSpec};
use mptcp_sim::{LinkConfig, LinkDriver, derive_seed};
use mptcp_tun::lab::Netns;
use std::io::Write as _;

use crate::Failure;
use forward::Forwarder;
use setup::{AddrOverride, PathPlumbing, Side};

/// Arguments of `mptcp emulate`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The namespace of the left ends (`ip netns` name); the `--path` models
    /// apply left to right as `mptcp sim` applies them client to server.
    #[arg(long, value_name = "NETNS")]
    left: String,
    /// The namespace of the right ends.
    #[arg(long, value_name = "NETNS")]
    right: String,
    /// A path in `mptcp sim`'s syntax: RATE/DELAY[/LOSS%] with optional
    /// `,jitter=DUR`, `,dup=P%`, `,reorder=P%@DUR`, `,queue=SIZE`, `,mtu=N`,
    /// `,loss=P%|ge:P/R/H[/K]`, `,batch=DUR`, or RATE `trace` with
    /// `,trace=FILE` or `,trace=UPFILE+DOWNFILE` (UPFILE left to right).
    /// Path N gets 10.240.N.1/24 and fd00:240:N::1/64 on the left,
    /// 10.240.N.2 and fd00:240:N::2 on the right; what leaves the left from
    /// path N's address takes path N, whatever its destination, and the
    /// right reaches each left address over its path. Repeatable.
    #[arg(long = "path", value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// Path PATH's addresses of one family instead of the defaults:
    /// PATH=LEFT[/LEN],RIGHT[/LEN], both in one subnet (LEN 24 for IPv4, 64
    /// for IPv6 when left out), e.g. `--addr 0=192.168.1.10,192.168.1.1`.
    /// Paths' subnets must not overlap. Repeatable.
    #[arg(long = "addr", value_name = "PATH=LEFT,RIGHT")]
    addrs: Vec<String>,
    /// Take path PATH down at TIME after the start (and up again at
    /// UPTIME): PATH@TIME[-UPTIME]. Repeatable.
    #[arg(long = "down", value_name = "PATH@TIME[-UPTIME]")]
    down: Vec<String>,
    /// Seed of the links' random streams (loss, jitter, ...).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this long (default: at SIGINT or SIGTERM).
    #[arg(long, value_name = "DURATION")]
    time: Option<String>,
    /// Device name prefix: path N's device is PREFIXN in both namespaces.
    #[arg(long, default_value = "emu")]
    dev: String,
    /// Keep the forwarding thread's ordinary scheduling (by default it asks
    /// for real-time FIFO priority 50, which keeps deliveries within tens of
    /// microseconds of their model instant on a loaded machine; if refused
    /// it says so and goes on).
    #[arg(long)]
    no_realtime: bool,
}

fn usage<E: std::fmt::Display>(e: E) -> Failure {
    Failure::usage(e.to_string())
}

/// The (left to right, right to left) link models of each path.
fn link_models(args: &Args) -> Result<Vec<(LinkConfig, LinkConfig)>, Failure> {
    if args.paths.len() > setup::MAX_PATHS {
        return Err(usage(format!("at most {} paths", setup::MAX_PATHS)));
    }
    let mut models = Vec::new();
    for text in &args.paths {
        let spec = PathSpec::parse(text).map_err(|e| usage(format!("--path {text}: {e}")))?;
        models.push((spec.link.clone(), spec.backward()));
    }
    for d in &args.down {
        let o = Outage::parse(d).map_err(usage)?;
        let Some((forward, backward)) = models.get_mut(o.path) else {
            return Err(usage(format!("--down {d}: there is no path {}", o.path)));
        };
        for link in [forward, backward] {
            link.schedule.extend(o.transitions());
        }
    }
    Ok(models)
}

/// Each path's devices and addresses, checked before anything is made.
fn plumbing(
    args: &Args,
    models: &[(LinkConfig, LinkConfig)],
) -> Result<Vec<PathPlumbing>, Failure> {
    let overrides = args
        .addrs
        .iter()
        .map(|a| AddrOverride::parse(a).map_err(usage))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(o) = overrides.iter().find(|o| o.path() >= models.len()) {
        return Err(usage(format!(
            "--addr for path {}: there is no such path",
            o.path()
        )));
    }
    let mut paths: Vec<PathPlumbing> = Vec::new();
    for (i, (forward, _)) in models.iter().enumerate() {
        let path = PathPlumbing::new(&args.dev, i, forward.mtu, &overrides)
            .map_err(|e| usage(format!("path {i}: {e}")))?;
        if let Some(j) = paths.iter().position(|p| p.overlaps(&path)) {
            return Err(usage(format!("paths {j} and {i}: their subnets overlap")));
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Set up, forward until told to stop, tear down, report.
pub fn run(args: Args) -> Result<(), Failure> {
    let models = link_models(&args)?;
    let until = match &args.time {
        Some(t) => Some(parse_duration(t).map_err(usage)?),
        None => None,
    };
    if args.left == args.right {
        return Err(usage("--left and --right must be different namespaces"));
    }
    let plumbing = plumbing(&args, &models)?;
    let left = Netns::existing(&args.left).map_err(usage)?;
    let right = Netns::existing(&args.right).map_err(usage)?;
    let stop = stop_on_signals()?;
    let mut links = Vec::new();
    for (i, (forward, backward)) in models.into_iter().enumerate() {
        for (k, model) in [(2 * i, forward), (2 * i + 1, backward)] {
            let seed = derive_seed(args.seed, "link", k as u64);
            links.push(LinkDriver::new(model, seed).map_err(usage)?);
        }
    }
    let mut ports = Vec::new();
    for (i, path) in plumbing.iter().enumerate() {
        let (l, r) = match path.open(&left, &right) {
            Ok(ends) => ends,
            Err(e) => {
                for made in &plumbing[..i] {
                    made.tear_down(&left);
                }
                return Err(Failure::failed(format!("path {i}: {e}")));
            }
        };
        outln!(
            "path {i}: {} ({} {}) <-> {} ({} {}): {}",
            path.addrs(Side::Left),
            left.name(),
            path.dev,
            path.addrs(Side::Right),
            right.name(),
            path.dev,
            args.paths[i]
        );
        ports.extend([l, r]);
    }
    if !args.no_realtime
        && let Err(e) = mptcp_tun::lab::set_realtime(50)
    {
        eprintln!("mptcp emulate: no real-time priority ({e}); deliveries may be late");
    }
    let mut forwarder = Forwarder::new(ports, links);
    outln!("ready");
    let _ = std::io::stdout().flush();
    let result = forwarder.run(&stop, until);
    let report = forwarder.report(&args.paths);
    drop(forwarder);
    for path in &plumbing {
        path.tear_down(&left);
    }
    outln!("{}", report.trim_end());
    result.map_err(|e| Failure::failed(format!("forwarding stopped: {e}")))
}

/// A flag set by SIGINT, SIGTERM or SIGHUP (watched by a thread of its own).
fn stop_on_signals() -> Result<Arc<AtomicBool>, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the signal thread: {e}")))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let kinds = [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
            ];
            let mut signals = Vec::new();
            for kind in kinds {
                match signal(kind) {
                    Ok(s) => signals.push(s),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(()));
            let [a, b, c] = &mut signals[..] else { return };
            tokio::select! {
                _ = a.recv() => {}
                _ = b.recv() => {}
                _ = c.recv() => {}
            }
        });
        flag.store(true, Ordering::SeqCst);
    });
    match rx.recv_timeout(StdDuration::from_secs(5)) {
        Ok(Ok(())) => Ok(stop),
        Ok(Err(e)) => Err(Failure::failed(format!("cannot catch signals: {e}"))),
        Err(_) => Err(Failure::failed("the signal thread did not start")),
    }
}
