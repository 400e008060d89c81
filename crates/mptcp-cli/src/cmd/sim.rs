//! `mptcp sim`: a transfer between two simulated hosts running the real
//! engine at both ends, in virtual time.

use crate::Failure;
use mptcp_proto::congestion::CcAlgorithm;
use mptcp_proto::crypto::MptcpVersion;
use mptcp_proto::scheduler::SchedulerKind;
use mptcp_sim::parse::{parse_duration, parse_size};
use mptcp_sim::scenario::{
    Direction, Outage, PathSpec, TransferReport, TransferSpec, parse_pause, parse_size_range,
};
use mptcp_sim::{MiddleboxSpec, StripWhich};
use std::path::PathBuf;
use std::time::Instant as WallClock;

/// Arguments of `mptcp sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Plain TCP over the first path only (no MPTCP).
    #[arg(long)]
    tcp: bool,
    /// A path, client to server and back: RATE/DELAY[/LOSS%] with optional
    /// `,jitter=DUR`, `,dup=P%`, `,reorder=P%@DUR`, `,queue=SIZE`, `,mtu=N`,
    /// `,loss=P%` or `,loss=ge:P/R/H[/K]` (Gilbert-Elliott: good-to-bad and
    /// bad-to-good per packet, loss in bad [and good]), `,batch=DUR`
    /// (arrivals only at multiples of DUR). RATE like 100mbit, 1gbit,
    /// 500kbit, or `trace` with `,trace=FILE` or `,trace=UPFILE+DOWNFILE`
    /// (Mahimahi traces: a 1500-byte delivery opportunity per line, in ms;
    /// UPFILE client to server). DELAY one-way, like 10ms.
    /// Repeatable.
    #[arg(long = "path", value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// Stream size, like 64MiB, 1GB, 1500.
    #[arg(long, value_name = "SIZE")]
    bytes: String,
    /// Seed: the same seed reproduces the run exactly.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Congestion control: reno, cubic, bbr, or the coupled lia, olia, balia
    /// (default: cubic for --tcp, lia for MPTCP).
    #[arg(long)]
    cc: Option<String>,
    /// MPTCP version the client offers: 1 (RFC 8684) or 0 (RFC 6824).
    #[arg(long, default_value_t = 1)]
    version: u8,
    /// Scheduler: minrtt, roundrobin, redundant, ecf, blest.
    #[arg(long, default_value = "minrtt")]
    scheduler: String,
    /// Turn opportunistic reinjection off (on by default: when nothing new
    /// may be sent, the fastest subflow resends what waits on slower ones).
    #[arg(long)]
    no_opportunistic: bool,
    /// Shared bottleneck detection (RFC 8382, the default): the coupled
    /// controllers (lia, olia, balia) couple only the subflows found to
    /// share a bottleneck; until it decides, all of them.
    #[arg(long, conflicts_with = "no_sbd")]
    sbd: bool,
    /// No shared bottleneck detection: a coupled controller couples every
    /// subflow (RFC 6356 as written).
    #[arg(long)]
    no_sbd: bool,
    /// Which ends ask for DSS checksums: none, client, server, both.
    #[arg(long, default_value = "none")]
    checksum: String,
    /// A middlebox removing MPTCP options on a path: PATH[:WHICH] where
    /// WHICH is syn (SYN and SYN-ACK), nonsyn (all others), data (segments
    /// with payload) or all (the default). Repeatable.
    #[arg(long = "strip-options", value_name = "PATH[:WHICH]")]
    strip: Vec<String>,
    /// A middlebox on path PATH, both directions unless @up (client to
    /// server) or @down: strip-mptcp[:syn|nonsyn|data|all] (MPTCP options
    /// removed), strip-ts, strip-sack, strip-wscale (the option removed
    /// from SYNs and SYN-ACKs), rewrite[=N] (one payload byte changed in
    /// every N-th data segment of at least 257 bytes, TCP checksum fixed;
    /// default every one),
    /// split (data segments cut in two), coalesce[=gro|lro] (consecutive
    /// segments merged; gro only when their options match), nat (the
    /// client's address and port translated). Repeatable; applied in order.
    #[arg(long = "middlebox", value_name = "PATH:KIND[@up|@down]")]
    middleboxes: Vec<String>,
    /// Who sends: up (client to server), down, or both.
    #[arg(long, default_value = "up")]
    direction: String,
    /// Write sizes, N or MIN-MAX bytes (random in the range).
    #[arg(long, value_name = "RANGE")]
    write_sizes: Option<String>,
    /// Read sizes, N or MIN-MAX bytes.
    #[arg(long, value_name = "RANGE")]
    read_sizes: Option<String>,
    /// The receiver stops reading at TIME for DURATION: TIME+DURATION.
    #[arg(long, value_name = "TIME+DUR")]
    read_pause: Option<String>,
    /// Take path PATH down at TIME (and up again at UPTIME): PATH@TIME[-UPTIME].
    #[arg(long = "down", value_name = "PATH@TIME[-UPTIME]")]
    downs: Vec<String>,
    /// Send and receive buffer of each connection, like 4MiB.
    #[arg(long, value_name = "SIZE")]
    buffer: Option<String>,
    /// Use IPv6 addresses.
    #[arg(long)]
    ipv6: bool,
    /// TCP options the client offers: a comma-separated list of
    /// no-timestamps, no-sack, no-wscale, mss=N (default: all offered).
    #[arg(long, value_name = "LIST")]
    client_tcp: Option<String>,
    /// TCP options the server offers, as --client-tcp.
    #[arg(long, value_name = "LIST")]
    server_tcp: Option<String>,
    /// Give up after this much virtual time.
    #[arg(long, value_name = "DUR", default_value = "3600s")]
    time_limit: String,
    /// Write what client interface 0 sees to this pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn usage<E: std::fmt::Display>(e: E) -> Failure {
    Failure::usage(e.to_string())
}

fn build_spec(args: &Args) -> Result<TransferSpec, Failure> {
    let paths = args
        .paths
        .iter()
        .map(|p| PathSpec::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let mut spec = TransferSpec::new(paths, parse_size(&args.bytes).map_err(usage)?);
    spec.tcp_only = args.tcp;
    if let Some(list) = &args.client_tcp {
        spec.client_tcp = list.parse().map_err(usage)?;
    }
    if let Some(list) = &args.server_tcp {
        spec.server_tcp = list.parse().map_err(usage)?;
    }
    spec.seed = args.seed;
    if let Some(cc) = args.cc.as_deref() {
        spec.cc = Some(CcAlgorithm::from_name(cc).ok_or_else(|| {
            let names: Vec<&str> = CcAlgorithm::ALL.iter().map(|a| a.name()).collect();
            Failure::usage(format!(
                "unknown congestion control {cc:?} ({})",
                names.join(", ")
            ))
        })?);
    }
    spec.version = match args.version {
        0 => MptcpVersion::V0,
        1 => MptcpVersion::V1,
        v => {
            return Err(Failure::usage(format!(
                "unknown MPTCP version {v} (0 or 1)"
            )));
        }
    };
    spec.scheduler = SchedulerKind::from_name(&args.scheduler).ok_or_else(|| {
        let names: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.name()).collect();
        Failure::usage(format!(
            "unknown scheduler {:?} ({})",
            args.scheduler,
            names.join(", ")
        ))
    })?;
    spec.checksum = match args.checksum.as_str() {
        "none" => (false, false),
        "client" => (true, false),
        "server" => (false, true),
        "both" => (true, true),
        other => {
            return Err(Failure::usage(format!(
                "unknown --checksum {other:?} (none, client, server, both)"
            )));
        }
    };
    for s in &args.strip {
        let (path, which) = s.split_once(':').unwrap_or((s, "all"));
        let which = StripWhich::from_name(which).ok_or_else(|| {
            Failure::usage(format!(
                "--strip-options {s}: expected PATH[:syn|:nonsyn|:data|:all]"
            ))
        })?;
        let path: usize = path
            .parse()
            .ok()
            .filter(|p| *p < spec.paths.len())
            .ok_or_else(|| Failure::usage(format!("--strip-options {s}: no such path")))?;
        spec.strip.push((path, which));
    }
    for m in &args.middleboxes {
        let (path, middlebox) = MiddleboxSpec::parse_on_path(m)
            .map_err(|e| Failure::usage(format!("--middlebox {m}: {e}")))?;
        if path >= spec.paths.len() {
            return Err(Failure::usage(format!(
                "--middlebox {m}: there is no path {path}"
            )));
        }
        spec.middleboxes.push((path, middlebox));
    }
    spec.direction = Direction::from_name(&args.direction).ok_or_else(|| {
        Failure::usage(format!(
            "unknown direction {:?} (up, down, both)",
            args.direction
        ))
    })?;
    if let Some(r) = &args.write_sizes {
        spec.write_size = parse_size_range(r).map_err(usage)?;
    }
    if let Some(r) = &args.read_sizes {
        spec.read_size = parse_size_range(r).map_err(usage)?;
    }
    if let Some(p) = &args.read_pause {
        spec.read_pause = Some(parse_pause(p).map_err(usage)?);
    }
    for d in &args.downs {
        let o = Outage::parse(d).map_err(usage)?;
        if o.path >= spec.paths.len() {
            return Err(Failure::usage(format!(
                "--down {d}: there is no path {}",
                o.path
            )));
        }
        spec.outages.push(o);
    }
    if let Some(b) = &args.buffer {
        spec.buffer = Some(parse_size(b).map_err(usage)? as usize);
    }
    spec.ipv6 = args.ipv6;
    spec.opportunistic = !args.no_opportunistic;
    if args.sbd || args.no_sbd {
        spec.sbd = args.sbd;
    }
    spec.time_limit = parse_duration(&args.time_limit).map_err(usage)?;
    spec.pcap = args.pcap.clone();
    Ok(spec)
}

/// Run it.
pub fn run(args: Args) -> Result<(), Failure> {
    let spec = build_spec(&args)?;
    let wall = WallClock::now();
    let report = mptcp_sim::scenario::run(&spec)
        .map_err(|e| Failure::usage(format!("cannot write the pcap file: {e}")))?;
    let wall = wall.elapsed().as_secs_f64();
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::failed(format!("cannot format the report: {e}")))?;
        outln!("{text}");
    } else {
        print_table(&spec, &report, wall);
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "transfer failed ({}{}); reproduce with: {}",
            report.integrity,
            report
                .error
                .as_deref()
                .map(|e| format!(", {e}"))
                .unwrap_or_default(),
            report.command
        )))
    }
}

fn mbit(bps: f64) -> String {
    format!("{:.2} Mbit/s", bps / 1e6)
}

fn print_table(spec: &TransferSpec, r: &TransferReport, wall: f64) {
    let mode = if spec.tcp_only {
        "TCP".to_owned()
    } else {
        match &r.mptcp {
            Some(m) => match &m.fallback {
                None => format!("MPTCP v{} ({} scheduler)", m.version, spec.scheduler),
                Some(why) => format!("MPTCP fell back to TCP ({why})"),
            },
            None => "MPTCP".to_owned(),
        }
    };
    let used = if spec.tcp_only { 1 } else { spec.paths.len() };
    outln!(
        "{mode} transfer of {} bytes ({}) over {used} path(s), seed {}",
        r.bytes,
        r.direction,
        r.seed
    );
    outln!(
        "duration   {:.3} s (virtual; {:.2} s wall clock)",
        r.duration_s,
        wall
    );
    outln!(
        "goodput    {}  of {} capacity: efficiency {:.4}",
        mbit(r.goodput_bps),
        mbit(r.capacity_bps),
        r.efficiency
    );
    outln!("integrity  {}", r.integrity);
    outln!(
        "wire data  {} mapped bytes sent, each the application's byte at its DSN",
        r.wire_data_checked
    );
    outln!();
    outln!(
        "{:<5} {:<24} {:<24} {:>12} {:>8} {:>5} {:>9} {:>10}",
        "path",
        "local",
        "remote",
        "bytes",
        "retrans",
        "rto",
        "srtt",
        "cwnd"
    );
    for s in &r.subflows {
        outln!(
            "{:<5} {:<24} {:<24} {:>12} {:>8} {:>5} {:>9} {:>10}",
            s.path,
            s.local,
            s.remote,
            s.bytes,
            s.retransmits,
            s.rto_expirations,
            s.srtt_ms.map_or("-".to_owned(), |v| format!("{v:.1}ms")),
            s.cwnd
        );
    }
    for (side, counters) in [
        ("client", &r.counters.client),
        ("server", &r.counters.server),
    ] {
        if !counters.is_empty() {
            let list: Vec<String> = counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            outln!("{side:<10} {}", list.join(" "));
        }
    }
    let boxes: Vec<String> = r
        .middleboxes
        .counters()
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !boxes.is_empty() {
        outln!("{:<10} {}", "middlebox", boxes.join(" "));
    }
    if let Some(e) = &r.error {
        outln!("error      {e}");
    }
}
