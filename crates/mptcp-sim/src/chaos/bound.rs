//! What a drawn scenario may be expected to do: the time it must finish
//! within, and whether the client must have joined a second subflow. The
//! formulas are documented in the [module above](super).

use mptcp_proto::time::Duration;

use crate::link::config::LinkConfig;
use crate::middlebox::{MiddleboxKind, PathDirection, StripWhich, SynOption};
use crate::scenario::{Direction, TransferSpec};

/// The default send and receive buffer of a connection (the engine's).
const DEFAULT_BUFFER: f64 = (8u64 << 20) as f64;
/// The largest window without window scaling.
const UNSCALED_WINDOW: f64 = 65_535.0;
/// Bytes of TCP options a segment may carry.
const OPTIONS: f64 = 40.0;
/// The multiple of the throughput estimate a transfer may take.
pub(super) const THROUGHPUT_FACTOR: f64 = 3.0;
/// Probability below which a run of consecutive losses is not allowed for.
const TAIL: f64 = 1e-6;
/// The engine's initial and largest retransmission timeouts.
const INITIAL_RTO: f64 = 1.0;
const MAX_RTO: f64 = 60.0;

/// What the bound knows of one path.
#[derive(Clone, Debug)]
pub(super) struct PathModel {
    /// Payload bytes per data segment.
    pub payload: f64,
    /// Round-trip time with full queues both ways, in seconds.
    pub rtt: f64,
    /// A retransmission timeout on it, in seconds.
    pub rto: f64,
    /// Probability that a packet or its ACK is lost.
    pub loss: f64,
    /// Throughput estimate, bytes per second.
    pub throughput: f64,
    /// The cost of slow start overshooting the queue: the losses of one
    /// window, repaired in about two round trips with SACK, one round trip
    /// each without (NewReno, RFC 6582), in seconds.
    pub overshoot: f64,
}

/// Whether path `path` is down from some time on, for good.
pub(super) fn dies(spec: &TransferSpec, path: usize) -> bool {
    spec.outages
        .iter()
        .any(|o| o.path == path && o.up.is_none())
}

/// Whether path `path` has an outage at all.
pub(super) fn interrupted(spec: &TransferSpec, path: usize) -> bool {
    spec.outages.iter().any(|o| o.path == path)
}

/// The middlebox kinds on `path`, with the directions they cover.
fn boxes(spec: &TransferSpec, path: usize) -> impl Iterator<Item = (MiddleboxKind, bool, bool)> {
    let stripped = spec
        .strip
        .iter()
        .filter(move |(p, _)| *p == path)
        .map(|&(_, w)| (MiddleboxKind::StripMptcp(w), true, true));
    let listed = spec
        .middleboxes
        .iter()
        .filter(move |(p, _)| *p == path)
        .map(|(_, m)| {
            let up = m.covers(PathDirection::Up);
            (m.kind, up, m.covers(PathDirection::Down))
        });
    stripped.chain(listed)
}

/// The paths the run uses.
pub(super) fn used(spec: &TransferSpec) -> usize {
    if spec.tcp_only { 1 } else { spec.paths.len() }
}

/// The model of path `i`.
pub(super) fn model(spec: &TransferSpec, i: usize) -> PathModel {
    let link = &spec.paths[i].link;
    let ip = if spec.ipv6 { 40.0 } else { 20.0 };
    let mss = [spec.client_tcp.mss, spec.server_tcp.mss]
        .into_iter()
        .flatten()
        .map(f64::from)
        .fold(f64::MAX, f64::min);
    let split = boxes(spec, i).any(|(k, _, _)| k == MiddleboxKind::Split);
    let segment = (f64::from(link.mtu) - ip - 20.0).min(mss) - OPTIONS;
    let payload = (segment / if split { 2.0 } else { 1.0 }).max(1.0);
    let packet = payload + OPTIONS + 20.0 + ip;
    let wire_rate = link.rate_bps as f64 / 8.0;
    let rtt = rtt(link);
    let rto = INITIAL_RTO + 2.0 * rtt;
    // Bursty loss: its long-run rate adds to the Bernoulli one; a packet
    // lost in a burst is lost again, as long as the chain stays bad, with
    // the bad state's probability (the chain steps per packet, and few
    // packets pass while a retransmission backs off).
    let (burst_mean, burst_again) = link.burst_loss.map_or((0.0, 0.0), |ge| {
        let again = (1.0 - ge.bad_to_good) * ge.loss_in_bad + ge.bad_to_good * ge.loss_in_good;
        (ge.mean_loss(), again)
    });
    let one_way = 1.0 - (1.0 - link.loss) * (1.0 - burst_mean.max(burst_again));
    let loss = 1.0 - (1.0 - one_way).powi(2);
    // The most packets in flight before the queue overflows: the
    // bandwidth-delay product plus the queue.
    let base_rtt = 2.0 * link.delay.as_secs_f64();
    let most = ((wire_rate * base_rtt + link.queue_limit() as f64) / packet).max(1.0);
    // Reno's sawtooth between most / 2 and most: one loss per 3/8 most²
    // packets; random losses and reordering add their own signals.
    let overflow = 8.0 / (3.0 * most * most);
    let events = (link.loss + burst_mean + link.reorder + overflow).min(1.0);
    let window = window(spec, i);
    // A sender without pacing may lose every packet of a burst past the
    // queue: at worst a queue's worth gets through per round trip.
    let queued = (link.queue_limit() as f64 / packet).floor().max(1.0);
    let throughput = (wire_rate * payload / packet)
        .min(window / rtt)
        .min(pftk(payload, rtt, rto, events))
        .min(queued * payload / rtt);
    PathModel {
        payload,
        rtt,
        rto,
        loss,
        throughput,
        overshoot: if sack(spec, i) { 2.0 * rtt } else { most * rtt },
    }
}

/// Whether SACK is in use on path `i`: both ends offer it and no
/// middlebox strips it (from either direction: an end that did not see it
/// sends no SACK blocks, and ignores those it gets).
fn sack(spec: &TransferSpec, i: usize) -> bool {
    spec.client_tcp.sack
        && spec.server_tcp.sack
        && !boxes(spec, i).any(|(k, _, _)| k == MiddleboxKind::StripSyn(SynOption::SackPermitted))
}

/// The round trip with both directions' queues full, reordering and jitter
/// at their worst, in seconds.
fn rtt(link: &LinkConfig) -> f64 {
    let secs = |d: Duration| d.as_secs_f64();
    let queue = link.queue_limit() as f64 * 8.0 / (link.rate_bps.max(1) as f64);
    let reorder = if link.reorder > 0.0 {
        secs(link.reorder_delay)
    } else {
        0.0
    };
    2.0 * (secs(link.delay) + secs(link.jitter) + queue + secs(link.batch)) + reorder
}

/// The largest window on path `i`: the buffer, unscaled when either end
/// does not offer window scaling or a middlebox strips it from the SYN.
fn window(spec: &TransferSpec, i: usize) -> f64 {
    let buffer = spec.buffer.map_or(DEFAULT_BUFFER, |b| b as f64);
    let stripped =
        boxes(spec, i).any(|(k, _, _)| k == MiddleboxKind::StripSyn(SynOption::WindowScale));
    let scaled = spec.client_tcp.window_scaling && spec.server_tcp.window_scaling && !stripped;
    if scaled {
        buffer
    } else {
        buffer.min(UNSCALED_WINDOW)
    }
}

/// TCP throughput under a per-segment congestion-signal probability `p`
/// (Padhye, Firoiu, Towsley, Kurose 1998, with delayed ACKs, b = 2), in
/// bytes per second; unbounded without signals.
fn pftk(payload: f64, rtt: f64, rto: f64, p: f64) -> f64 {
    if p <= 0.0 {
        return f64::INFINITY;
    }
    let b = 2.0;
    let fast = rtt * (2.0 * b * p / 3.0).sqrt();
    let timeouts = rto * (3.0 * (3.0 * b * p / 8.0).sqrt()).min(1.0) * p * (1.0 + 32.0 * p * p);
    payload / (fast + timeouts)
}

/// The time one packet (or its ACK) lost `k` times in a row costs: the
/// backed-off retransmission timeouts, each at most [`MAX_RTO`], where `k`
/// is the longest run of losses with a chance above [`TAIL`] among
/// `packets` packets.
pub(super) fn loss_tail(rto: f64, loss: f64, packets: f64) -> f64 {
    if loss <= 0.0 {
        return 0.0;
    }
    let k = ((TAIL / packets.max(1.0)).ln() / loss.ln()).ceil().max(1.0) as u32;
    (0..k.min(32))
        .map(|j| (rto * 2f64.powi(j as i32)).min(MAX_RTO))
        .sum()
}

/// SYNs a client sends before it gives up (the engine's default
/// `syn_retries` of 6, plus the first).
const SYN_TRIES: i32 = 7;

/// Whether every SYN of the handshake (or every SYN-ACK) may be lost on
/// the first path with a chance above [`TAIL`]: then a connection that
/// times out before it is established is the path's doing.
pub(super) fn handshake_may_fail(spec: &TransferSpec) -> bool {
    model(spec, 0).loss.powi(SYN_TRIES) > TAIL
}

/// Retransmissions a subflow makes before it gives up (the engine's
/// `data_retries`, 15, plus the first transmission).
const DATA_TRIES: i32 = 16;

/// Whether, on every path the run keeps, a segment and every one of its
/// retransmissions may be lost with a chance above [`TAIL`]: bursty loss
/// whose chain steps per packet stays in its bad state while the sender
/// backs off (few packets pass), so a subflow may give up, or outlive its
/// peer's TIME-WAIT, as the kernel's would after `tcp_retries2`.
pub(super) fn retries_may_fail(spec: &TransferSpec) -> bool {
    (0..used(spec)).all(|i| dies(spec, i) || model(spec, i).loss.powi(DATA_TRIES) > TAIL)
}

/// Stream bytes moved, both ways together.
fn total_bytes(spec: &TransferSpec) -> f64 {
    let ways = if spec.direction == Direction::Both {
        2.0
    } else {
        1.0
    };
    spec.bytes as f64 * ways
}

/// Whether a middlebox on the path may take a subflow down (a reset with
/// MP_FAIL, a stripped mapping, a crude coalescer).
pub(super) fn breaks_subflows(spec: &TransferSpec, path: usize) -> bool {
    boxes(spec, path).any(|(k, _, _)| {
        matches!(
            k,
            MiddleboxKind::Rewrite { .. }
                | MiddleboxKind::StripMptcp(_)
                | MiddleboxKind::Coalesce(crate::middlebox::CoalesceMode::Lro)
        )
    })
}

/// The virtual time, in seconds, a run of `spec` must finish within.
pub fn liveness_bound(spec: &TransferSpec) -> f64 {
    let n = used(spec);
    let models: Vec<PathModel> = (0..n).map(|i| model(spec, i)).collect();
    let usable: Vec<&PathModel> = (0..n)
        .filter(|&i| !dies(spec, i))
        .map(|i| &models[i])
        .collect();
    let slowest = usable
        .iter()
        .map(|m| m.throughput)
        .fold(f64::INFINITY, f64::min);
    let worst = |f: fn(&PathModel) -> f64| models.iter().map(f).fold(0.0, f64::max);
    let (rtt, rto) = (worst(|m| m.rtt), worst(|m| m.rto));
    let bytes = total_bytes(spec);
    let packets = bytes / usable.iter().map(|m| m.payload).fold(f64::MAX, f64::min) + 20.0;
    let transfer = if slowest.is_finite() && slowest > 0.0 {
        THROUGHPUT_FACTOR * bytes / slowest
    } else {
        0.0
    };
    // Slow start from ten segments, once per path, and the closing
    // handshakes.
    let ramp = (n as f64 + 2.0) * rtt * (bytes / (10.0 * models[0].payload) + 2.0).log2();
    let m0 = &models[0];
    let setup = 3.0 * m0.rtt + loss_tail(m0.rto, m0.loss, 3.0);
    let overshoot: f64 = usable
        .iter()
        .map(|m| m.overshoot.min(packets * m.rtt))
        .sum();
    let tails: f64 = models
        .iter()
        .map(|m| loss_tail(m.rto, m.loss, packets))
        .sum();
    let outages: f64 = spec
        .outages
        .iter()
        .filter(|o| o.path < n)
        .map(|o| match o.up {
            Some(up) => {
                let down = (up.saturating_duration_since(o.at)).as_secs_f64();
                down + down.min(MAX_RTO) + rto
            }
            None => 3.0 * rto,
        })
        .sum();
    let pause = spec.read_pause.map_or(0.0, |(_, len)| {
        let len = len.as_secs_f64();
        len + len.min(MAX_RTO) + rto
    });
    let breakage = (0..n).filter(|&i| breaks_subflows(spec, i)).count() as f64 * 3.0 * rto;
    // Two timeouts for whatever waits on a timer without a loss (a join,
    // the closing exchange).
    let timers = 2.0 * rto;
    transfer + ramp + overshoot + setup + tails + outages + pause + breakage + timers
}

/// The time by which the client must have joined a subflow, if the run is
/// one where a join is expected: MPTCP without fallback-inducing boxes on
/// the initial path, path 0 and another path free of outages and of
/// MP_JOIN stripping. `None` when no join is expected.
pub fn join_deadline(spec: &TransferSpec) -> Option<f64> {
    if spec.tcp_only || interrupted(spec, 0) || breaks_subflows(spec, 0) {
        return None;
    }
    let m0 = model(spec, 0);
    (1..spec.paths.len())
        .filter(|&j| !interrupted(spec, j) && !strips_joins(spec, j))
        .map(|j| {
            let m = model(spec, j);
            // Full establishment on path 0, then SYN and SYN-ACK on path j.
            3.0 * m0.rtt + loss_tail(m0.rto, m0.loss, 3.0) + m.rtt + loss_tail(m.rto, m.loss, 2.0)
        })
        .reduce(f64::min)
}

/// Whether a middlebox on `path` removes MP_JOIN from SYNs or SYN-ACKs.
fn strips_joins(spec: &TransferSpec, path: usize) -> bool {
    boxes(spec, path).any(|(k, _, _)| {
        matches!(
            k,
            MiddleboxKind::StripMptcp(StripWhich::Syn | StripWhich::All)
        )
    })
}
