//! What `connect`, `listen` and `perf` share: the stack's options, and the
//! per-connection statistics they print and write.

use crate::Failure;
use clap::Args as ClapArgs;
use mptcp_tun::{
    CcAlgorithm, ConnectionInfo, EndpointFlags, MptcpVersion, PathConfig, PmEndpoint, PmEvents,
    PmKind, PmLimits, SchedulerKind, Stack, StackBuilder,
};
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The userspace stack's options.
#[derive(ClapArgs, Debug, Clone, PartialEq)]
pub struct StackArgs {
    /// A path: TUN device and our address on it, DEV=ADDR[,mtu=N][,FLAG...]
    /// (the device is attached, or created if absent). Repeatable; the
    /// first carries the initial subflow. FLAGs make the address a path
    /// manager endpoint, as `ip mptcp endpoint add`: signal, subflow,
    /// backup, fullmesh, laminar, port=N, id=N, announce=ADDR (ADD_ADDR
    /// carries ADDR: where a NAT or balancer shows this address to the
    /// peer; docs/scaling.md). Without any flag on any
    /// path: every other path opens a subflow (and `listen --signal`
    /// announces).
    #[arg(long = "tun", value_name = "DEV=ADDR[,FLAG...]")]
    pub tun: Vec<TunArg>,
    /// Path-manager limits, as `ip mptcp limits`:
    /// subflows=N,add_addr_accepted=M (each 0 to 8; one left out takes the
    /// kernel's default, 2 and 0). Default: every subflow up to 8.
    #[arg(long, value_name = "subflows=N,add_addr_accepted=M")]
    pub limits: Option<PmLimits>,
    /// Path manager: kernel (the in-kernel policy over the endpoints) or
    /// userspace (nothing opened or announced by itself).
    #[arg(long, default_value = "kernel")]
    pub pm: PmKind,
    /// Write path-manager events to FILE (`-`: standard error), one JSON
    /// object per line, named as the kernel's (created, established,
    /// announced, removed, sub_established, sub_closed, sub_priority,
    /// closed, listener_created, ...).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// MPTCP version offered: 1 (RFC 8684) or 0 (RFC 6824).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub version: u8,
    /// Plain TCP: neither offer nor accept MPTCP.
    #[arg(long)]
    pub no_mptcp: bool,
    /// Scheduler: minrtt, roundrobin, redundant, ecf, blest.
    #[arg(long, default_value = "minrtt")]
    pub scheduler: String,
    /// Congestion control of MPTCP subflows: lia, olia, balia, reno, cubic, bbr.
    #[arg(long, default_value = "lia")]
    pub cc: String,
    /// Ask for DSS checksums.
    #[arg(long)]
    pub checksum: bool,
    /// Do not open subflows from the other paths or to announced addresses.
    #[arg(long)]
    pub no_subflows: bool,
    /// Engines to run (default: one per core): each gets its own queue of
    /// every TUN device (multi-queue, spread by the kernel's flow hash) and
    /// its own shard of tokens; a join reaching another engine's queue is
    /// handed to its connection's engine (docs/scaling.md). Without this
    /// option, a device made for one queue (`ip tuntap add` without
    /// `multi_queue`) runs the stack on one engine.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
}

impl StackArgs {
    /// A builder with these options.
    pub fn builder(&self) -> Result<StackBuilder, Failure> {
        if self.tun.is_empty() {
            return Err(Failure::usage(
                "no path: give --tun DEV=ADDR (a TUN device and our address on it)",
            ));
        }
        let scheduler = SchedulerKind::from_name(&self.scheduler).ok_or_else(|| {
            let names: Vec<&str> = SchedulerKind::ALL.iter().map(|s| s.name()).collect();
            Failure::usage(format!(
                "unknown scheduler {:?} ({})",
                self.scheduler,
                names.join(", ")
            ))
        })?;
        let cc = CcAlgorithm::from_name(&self.cc).ok_or_else(|| {
            let names: Vec<&str> = CcAlgorithm::ALL.iter().map(|a| a.name()).collect();
            Failure::usage(format!(
                "unknown congestion control {:?} ({})",
                self.cc,
                names.join(", ")
            ))
        })?;
        let mut b = Stack::builder()
            .version(if self.version == 0 {
                MptcpVersion::V0
            } else {
                MptcpVersion::V1
            })
            .mptcp(!self.no_mptcp)
            .scheduler(scheduler)
            .congestion(cc)
            .checksum(self.checksum)
            .open_subflows(!self.no_subflows)
            .path_manager(self.pm)
            .pm_events(self.events.is_some())
            .workers(match self.workers {
                Some(n) => usize::from(n),
                None => std::thread::available_parallelism().map_or(1, usize::from),
            })
            .fewer_workers_if_needed(self.workers.is_none());
        if let Some(l) = self.limits {
            b = b.pm_limits(l);
        }
        for p in &self.tun {
            b = b.path_config(p.path.clone());
            if let Some(ep) = p.endpoint {
                b = b.endpoint(ep);
            }
        }
        Ok(b)
    }

    /// Build the stack from `b` (made by [`StackArgs::builder`]) and start
    /// writing its path-manager events where `--events` says.
    pub fn start(&self, b: StackBuilder) -> Result<Stack, Failure> {
        let stack = build(b)?;
        if let (Some(path), Some(events)) = (&self.events, stack.pm_events()) {
            let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
                Box::new(std::io::stderr())
            } else {
                let f = std::fs::File::create(path)
                    .map_err(|e| Failure::failed(format!("--events {}: {e}", path.display())))?;
                Box::new(f)
            };
            tokio::spawn(write_events(events, out));
        }
        Ok(stack)
    }
}

/// One JSON line per event, flushed at once (a reader follows the file).
async fn write_events(mut events: PmEvents, mut out: Box<dyn Write + Send>) {
    while let Some(ev) = events.recv().await {
        if writeln!(out, "{}", ev.to_json())
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

/// One `--tun` argument: the path, and the path-manager endpoint its
/// flags make of its address.
#[derive(Clone, Debug, PartialEq)]
pub struct TunArg {
    /// The device, address and MTU.
    pub path: PathConfig,
    /// The endpoint, when any flag, port or id was given.
    pub endpoint: Option<PmEndpoint>,
}

impl std::ops::Deref for TunArg {
    type Target = PathConfig;

    fn deref(&self) -> &PathConfig {
        &self.path
    }
}

impl From<PathConfig> for TunArg {
    fn from(path: PathConfig) -> TunArg {
        TunArg {
            path,
            endpoint: None,
        }
    }
}

impl std::str::FromStr for TunArg {
    type Err = String;

    fn from_str(s: &str) -> Result<TunArg, String> {
        let mut parts = s.split(',');
        let mut path_text = parts.next().unwrap_or_default().to_string();
        let mut endpoint: Option<PmEndpoint> = None;
        for opt in parts {
            if opt.starts_with("mtu=") {
                path_text = format!("{path_text},{opt}");
                continue;
            }
            let (_, addr) = path_text.split_once('=').unwrap_or_default();
            let addr = addr
                .parse()
                .map_err(|_| format!("{addr:?}: not an IPv4 or IPv6 address"))?;
            endpoint
                .get_or_insert_with(|| PmEndpoint::new(addr, EndpointFlags::NONE))
                .apply_option(opt)
                .map_err(|e| format!("{s:?}: {e}"))?;
        }
        Ok(TunArg {
            path: path_text.parse()?,
            endpoint,
        })
    }
}

/// Build a stack, turning failures into one-line messages.
pub fn build(b: StackBuilder) -> Result<Stack, Failure> {
    b.build().map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (TUN devices need root or CAP_NET_ADMIN)"
        } else {
            ""
        };
        Failure::failed(format!("cannot start the stack: {e}{hint}"))
    })
}

/// The statistics of a connection as JSON: version, keys, tokens,
/// fallback, subflows, counters.
pub fn info_json(info: &ConnectionInfo, stack: &Stack) -> Value {
    let m = info.mptcp.as_ref();
    let subflows: Vec<Value> = info
        .subflows
        .iter()
        .map(|s| {
            json!({
                "local": s.tuple.local.to_string(),
                "remote": s.tuple.remote.to_string(),
                "local_id": s.local_id,
                "remote_id": s.remote_id,
                "backup": s.backup,
                "state": format!("{:?}", s.state),
                "bytes_sent": s.bytes_sent,
                "bytes_acked": s.bytes_acked,
                "bytes_received": s.bytes_received,
                "retransmits": s.retransmits,
                "bytes_retrans": s.bytes_retrans,
                "rto_expirations": s.rto_expirations,
                "srtt_ms": s.srtt.map(|d| d.as_secs_f64() * 1e3),
                "cwnd": s.cwnd,
            })
        })
        .collect();
    let counters: serde_json::Map<String, Value> = stack
        .counters()
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let devices: Vec<Value> = stack
        .device_stats()
        .iter()
        .map(|(p, d)| {
            json!({
                "path": p.to_string(),
                "packets_in": d.packets_in,
                "packets_out": d.packets_out,
                "bytes_in": d.bytes_in,
                "bytes_out": d.bytes_out,
                "send_errors": d.send_errors,
                "trains_out": d.trains_out,
                "trains_in": d.trains_in,
                "offload": d.offload,
            })
        })
        .collect();
    json!({
        "mptcp": m.is_some_and(|m| m.fallback.is_none()),
        "version": m.map(|m| m.version.number()),
        "local_key": m.map(|m| m.local.key),
        "remote_key": m.and_then(|m| m.remote.map(|r| r.key)),
        "local_token": m.map(|m| m.local.token.0),
        "remote_token": m.and_then(|m| m.remote.map(|r| r.token.0)),
        "checksum": m.is_some_and(|m| m.checksum),
        "fallback": m.is_none_or(|m| m.fallback.is_some()),
        "fallback_reason": match m {
            None => Some("MPTCP not offered"),
            Some(m) => m.fallback.map(|r| r.name()),
        },
        "subflows": subflows,
        "counters": counters,
        "devices": devices,
    })
}

/// The statistics for humans, on stderr.
pub fn print_info(info: &ConnectionInfo) {
    match &info.mptcp {
        None => eprintln!("plain TCP"),
        Some(m) => {
            let remote = m
                .remote
                .map(|r| format!("{:#018x} (token {})", r.key, r.token))
                .unwrap_or_else(|| "-".into());
            eprintln!(
                "MPTCP v{}{}{}: local key {:#018x} (token {}), remote key {remote}",
                m.version.number(),
                if m.checksum { ", checksums" } else { "" },
                m.fallback
                    .map(|r| format!(", fell back to TCP: {}", r.name()))
                    .unwrap_or_default(),
                m.local.key,
                m.local.token,
            );
        }
    }
    eprintln!(
        "{:<24} {:<24} {:>12} {:>12} {:>7} {:>9} {:>9}",
        "local", "remote", "sent", "received", "retx", "srtt ms", "cwnd"
    );
    for s in &info.subflows {
        eprintln!(
            "{:<24} {:<24} {:>12} {:>12} {:>7} {:>9} {:>9}",
            s.tuple.local.to_string(),
            s.tuple.remote.to_string(),
            s.bytes_sent,
            s.bytes_received,
            s.retransmits,
            s.srtt
                .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "-".into()),
            s.cwnd,
        );
    }
}

/// Parse HOST:PORT (an address; names are not resolved).
pub fn parse_target(s: &str) -> Result<SocketAddr, Failure> {
    s.parse().map_err(|_| {
        Failure::usage(format!(
            "{s:?}: expected ADDRESS:PORT, like 10.200.0.1:5201 or [fd00:200::1]:5201"
        ))
    })
}

/// Write the JSON statistics to `path`.
pub fn write_json(path: &std::path::Path, v: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).expect("JSON values serialize");
    std::fs::write(path, text + "\n")
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tun_path_takes_endpoint_flags_as_ip_mptcp_does() {
        let t: TunArg = "mptcp1=10.1.0.2,signal,backup,port=8080,id=3,mtu=1400"
            .parse()
            .unwrap();
        assert_eq!(t.path.to_string(), "mptcp1=10.1.0.2,mtu=1400");
        let ep = t.endpoint.expect("an endpoint");
        assert_eq!(ep.addr, "10.1.0.2".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(ep.flags, EndpointFlags::SIGNAL.union(EndpointFlags::BACKUP));
        assert_eq!((ep.port, ep.id), (Some(8080), Some(3)));
        // No flag: a plain path, today's behaviour.
        let plain: TunArg = "mptcp0=10.0.0.2".parse().unwrap();
        assert_eq!(plain.endpoint, None);
        for bad in [
            "mptcp0=10.0.0.2,turbo",
            "mptcp0=10.0.0.2,id=0",
            "mptcp0,signal",
        ] {
            assert!(bad.parse::<TunArg>().is_err(), "{bad}");
        }
    }
}
