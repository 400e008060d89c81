//! What a transfer scenario measured.

use super::{Direction, Scenario, nat_addr, path_addr};
use crate::app::{AppStatus, SubflowSnapshot};
use crate::invariants::TcpInvariants;
use crate::middlebox::MiddleboxStats;
use mptcp_proto::time::Instant;
use serde::Serialize;
use std::collections::BTreeMap;

/// One subflow of the sending side.
#[derive(Clone, Debug, Serialize)]
pub struct SubflowReport {
    /// Path index.
    pub path: usize,
    /// Local address and port.
    pub local: String,
    /// Remote address and port.
    pub remote: String,
    /// Payload bytes the peer acknowledged on this subflow.
    pub bytes: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub rto_expirations: u64,
    /// Smoothed RTT in milliseconds.
    pub srtt_ms: Option<f64>,
    /// Congestion window in bytes at the end.
    pub cwnd: u64,
}

/// What MPTCP negotiated, as the client saw it.
#[derive(Clone, Debug, Serialize)]
pub struct MptcpReport {
    /// Version in use.
    pub version: u8,
    /// Why the connection fell back to TCP, if it did.
    pub fallback: Option<String>,
    /// Whether DSS checksums were in use.
    pub checksum: bool,
    /// The client's token.
    pub local_token: Option<u32>,
    /// The server's token.
    pub remote_token: Option<u32>,
}

/// Counters of both sides, named as the kernel's MIB.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SideCounters {
    /// The client's.
    pub client: BTreeMap<String, u64>,
    /// The server's.
    pub server: BTreeMap<String, u64>,
}

/// The outcome of a transfer.
#[derive(Clone, Debug, Serialize)]
pub struct TransferReport {
    /// Stream bytes (each way for a bidirectional run).
    pub bytes: u64,
    /// Who sent.
    pub direction: &'static str,
    /// From the first SYN to the last byte read.
    pub duration_s: f64,
    /// Virtual time when the run stopped: both applications done (every
    /// byte read and acknowledged, both ends of stream seen), a failure, or
    /// a guard rail.
    pub finished_s: f64,
    /// Stream bytes per second (both ways together for bidirectional runs).
    pub goodput_bps: f64,
    /// Sum of the rates of the paths in use (IP bytes), per direction used.
    pub capacity_bps: f64,
    /// `goodput_bps / capacity_bps`.
    pub efficiency: f64,
    /// `"ok"` only if every byte arrived, matched the stream, and both ends'
    /// SHA-256 agree; otherwise what went wrong.
    pub integrity: String,
    /// The run's seed.
    pub seed: u64,
    /// SHA-256 of the stream as written by the sender(s).
    pub sent_sha256: Vec<String>,
    /// SHA-256 of the stream as read by the receiver(s).
    pub received_sha256: Vec<String>,
    /// The sending side's subflows (the client's for bidirectional runs).
    pub subflows: Vec<SubflowReport>,
    /// MPTCP as the client saw it (absent for plain TCP runs).
    pub mptcp: Option<MptcpReport>,
    /// Non-zero counters of each side (endpoint and connection together).
    pub counters: SideCounters,
    /// TCP invariant violations seen on the wire.
    pub invariant_violations: Vec<String>,
    /// Payload bytes the hosts sent under a mapping, each checked against
    /// the byte its application wrote at that data sequence number.
    pub wire_data_checked: u64,
    /// Events the simulator processed.
    pub sim_events: u64,
    /// Packets the network dropped.
    pub sim_drops: u64,
    /// What the middleboxes did, summed over every link.
    pub middleboxes: MiddleboxStats,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// The command that reproduces the run.
    pub command: String,
}

impl TransferReport {
    pub(super) fn collect(sc: &Scenario, error: Option<String>) -> TransferReport {
        let spec = &sc.spec;
        let client = sc.sim.node(sc.client);
        let server = sc.sim.node(sc.server);
        // (sender, receiver) pairs.
        let flows: Vec<(&crate::host::Host, &crate::host::Host)> = match spec.direction {
            Direction::Up => vec![(client, server)],
            Direction::Down => vec![(server, client)],
            Direction::Both => vec![(client, server), (server, client)],
        };
        let mut problems = Vec::new();
        let mut duration = 0.0f64;
        if !spec.verify {
            problems.push("not verified".to_owned());
        }
        for (tx, rx) in &flows {
            let r = rx.app.status();
            problems.extend(flow_problems(spec.bytes, tx.app.status(), r));
            if tx.app.sent_hash() != rx.app.received_hash() {
                problems.push("sha256 differs".to_owned());
            }
            // First SYN (time zero) to the last byte delivered.
            let end = match r.eof_at {
                Some(_) => r.last_byte_at.unwrap_or(Instant::ZERO),
                None => sc.sim.now(),
            };
            duration = duration.max(end.as_secs_f64());
        }
        for (who, st) in [
            ("client", client.app.status()),
            ("server", server.app.status()),
        ] {
            if let Some(Some(e)) = st.closed {
                problems.push(format!("{who}: {e}"));
            }
        }
        let checker = sc.sim.observer::<TcpInvariants>(sc.invariants);
        let wire_data_checked = checker.map_or(0, TcpInvariants::data_bytes_checked);
        let mut invariants = checker.map(|o| o.violations().to_vec()).unwrap_or_default();
        for (who, host) in [("client", client), ("server", server)] {
            if let Some(at) = host.stuck_timer {
                invariants.push(format!("{who}: timer stuck at {at:?} (engine bug)"));
            }
        }
        // A data segment must never be withheld for want of room for its
        // mapping (the engine's option reserve is wrong if it is).
        for (who, host) in [("client", client), ("server", server)] {
            let n = host
                .endpoint
                .mib_total()
                .get(mptcp_proto::stats::Mib::DssNoRoomTx);
            if n > 0 {
                invariants.push(format!(
                    "{who}: {n} data segments had no room for their mapping"
                ));
            }
        }
        // A host must never emit a packet its interface cannot carry.
        let oversize = host_iface_drops(sc, crate::DropReason::IfaceMtu);
        if oversize > 0 {
            invariants.push(format!("hosts sent {oversize} packets larger than the MTU"));
        }
        let used = if spec.tcp_only { 1 } else { spec.paths.len() };
        let rate: f64 = spec
            .paths
            .iter()
            .take(used)
            .map(|p| {
                let (up, down) = (p.link.mean_rate_bps(), p.backward().mean_rate_bps());
                match spec.direction {
                    Direction::Up => up as f64,
                    Direction::Down => down as f64,
                    Direction::Both => (up as f64 + down as f64) / 2.0,
                }
            })
            .sum();
        let capacity = rate * flows.len() as f64;
        let total = spec.bytes as f64 * flows.len() as f64;
        let goodput = if duration > 0.0 {
            total * 8.0 / duration
        } else {
            0.0
        };
        let sender = flows[0].0.app.status();
        TransferReport {
            bytes: spec.bytes,
            direction: spec.direction.name(),
            duration_s: duration,
            finished_s: sc.sim.now().as_secs_f64(),
            goodput_bps: goodput,
            capacity_bps: capacity,
            efficiency: if capacity > 0.0 {
                goodput / capacity
            } else {
                0.0
            },
            integrity: if problems.is_empty() && invariants.is_empty() {
                "ok".to_owned()
            } else if problems.is_empty() {
                format!("invariants violated: {}", invariants.join("; "))
            } else {
                problems.join("; ")
            },
            seed: spec.seed,
            sent_sha256: flows.iter().map(|(tx, _)| tx.app.sent_hash()).collect(),
            received_sha256: flows.iter().map(|(_, rx)| rx.app.received_hash()).collect(),
            subflows: sender
                .snapshot
                .subflows
                .iter()
                .map(|s| subflow_report(spec.ipv6, used, s))
                .collect(),
            mptcp: client
                .app
                .status()
                .snapshot
                .mptcp
                .as_ref()
                .map(|m| MptcpReport {
                    version: m.version,
                    fallback: m.fallback.map(str::to_owned),
                    checksum: m.checksum,
                    local_token: m.local_token,
                    remote_token: m.remote_token,
                }),
            counters: SideCounters {
                client: side_counters(client),
                server: side_counters(server),
            },
            invariant_violations: invariants,
            wire_data_checked,
            sim_events: sc.sim.stats().events,
            sim_drops: (0..sc.sim.link_count())
                .map(|l| sc.sim.link_stats(crate::LinkId(l)).dropped.total_packets())
                .sum::<u64>()
                + sc.sim.stats().dropped.total_packets()
                + [sc.client, sc.server]
                    .iter()
                    .flat_map(|&n| sc.sim.ifaces(n).map(move |(i, _)| (n, i)))
                    .map(|(n, i)| sc.sim.iface_stats(n, i).dropped.total_packets())
                    .sum::<u64>(),
            middleboxes: (0..sc.sim.link_count()).fold(MiddleboxStats::default(), |mut m, l| {
                m.add(sc.sim.middlebox_stats(crate::LinkId(l)));
                m
            }),
            error,
            command: spec.command_line(),
        }
    }

    /// Whether the transfer completed with its integrity intact.
    pub fn is_ok(&self) -> bool {
        self.integrity == "ok" && self.error.is_none()
    }
}

fn host_iface_drops(sc: &Scenario, reason: crate::DropReason) -> u64 {
    [sc.client, sc.server]
        .iter()
        .flat_map(|&n| sc.sim.ifaces(n).map(move |(i, _)| (n, i)))
        .map(|(n, i)| sc.sim.iface_stats(n, i).dropped.packets(reason))
        .sum()
}

fn flow_problems(bytes: u64, tx: &AppStatus, rx: &AppStatus) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(at) = rx.mismatch {
        out.push(format!("data mismatch at byte {at}"));
    }
    if tx.written != bytes {
        out.push(format!("sender wrote {} of {bytes} bytes", tx.written));
    }
    if rx.read != bytes {
        out.push(format!("receiver read {} of {bytes} bytes", rx.read));
    }
    if rx.eof_at.is_none() {
        out.push("no end of stream".to_owned());
    }
    out
}

fn subflow_report(ipv6: bool, used: usize, s: &SubflowSnapshot) -> SubflowReport {
    // The client's end of a subflow names its path: its own address, or
    // the public address of a NAT on the path as the server sees it.
    let ends = [s.tuple.local.ip(), s.tuple.remote.ip()];
    let path = (0..used)
        .find(|&i| {
            ends.iter()
                .any(|&a| a == path_addr(ipv6, i, 1) || a == nat_addr(ipv6, i))
        })
        .unwrap_or(0);
    SubflowReport {
        path,
        local: s.tuple.local.to_string(),
        remote: s.tuple.remote.to_string(),
        bytes: s.bytes_acked,
        bytes_sent: s.bytes_sent,
        retransmits: s.retransmits,
        rto_expirations: s.rto_expirations,
        srtt_ms: s.srtt.map(|d| d.as_secs_f64() * 1e3),
        cwnd: s.cwnd,
    }
}

/// A host's non-zero counters: its endpoint's, including those of its
/// connections (live or already removed).
fn side_counters(host: &crate::host::Host) -> BTreeMap<String, u64> {
    host.endpoint
        .mib_total()
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(m, v)| (m.to_string(), v))
        .collect()
}
