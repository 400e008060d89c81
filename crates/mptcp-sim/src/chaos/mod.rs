//! Seeded chaos: scenarios drawn at random over everything the simulator
//! can vary, each run checked for integrity, liveness and multipath use.
//! `mptcp chaos` and the test suite share this module.
//!
//! # What a seed draws
//! Run `seed` draws, from a generator seeded with `seed` alone: plain TCP
//! (one run in eight) or MPTCP over 1 to 4 paths, each with a rate of 1 to
//! 300 Mbit/s, a delay of 1 to 80 ms, and sometimes loss (up to 3 %),
//! bursty loss (Gilbert-Elliott: bursts of 1.25 to 3.3 packets on
//! average, 20 to 80 % lost in them), delivery in batches of 1 to 8 ms,
//! duplication, reordering, jitter, a small queue and an MTU from 576 (1280
//! over IPv6) to 9000; IPv4 or IPv6; a stream of 0 bytes to 600 kB, one
//! way or both; write and read sizes; each end's TCP options (timestamps,
//! SACK, window scaling, MSS); the congestion control; MPTCP version,
//! checksums at either end, scheduler, opportunistic reinjection and
//! shared-bottleneck detection (RFC 8382) on or off; a read
//! pause; small buffers; outages (a path flapping, or a path other than the
//! first going away for good); middleboxes on some paths (SYN option
//! strippers, splitters, GRO and LRO coalescers, NATs, MPTCP option
//! strippers, and payload rewriters where DSS checksums are negotiated; a
//! window scale stripped from the SYN-ACK alone is not drawn, as it breaks
//! any TCP, the kernel's included). The scenario's time limit is twice the liveness bound plus 30 s, so a
//! stalled run stops and the reproducing command (which carries the limit)
//! fails the same way.
//!
//! # Checks
//! 1. **Integrity**: no panic, and the report is ok (every byte read and
//!    equal, both SHA-256 equal, end of stream both ways, no simulator invariant
//!    broken: no ACK going back, no bad checksum, no packet over an MTU,
//!    `DssNoRoomTx` = 0, no stuck timer). One outcome is tolerated: with a
//!    payload rewriter on a path, or on every path a middlebox that may
//!    take a subflow down (an MPTCP option stripper, LRO, a rewriter) on
//!    every path that stays up, or a first path on which every SYN may be
//!    lost with a chance above 10⁻⁶ (and the handshake never completed), a
//!    run may end with a connection error
//!    (never with an altered byte delivered, a broken invariant or a
//!    stall) — the engine resets a subflow whose DSS checksum fails and
//!    may have no clean subflow left; and a run whose connection fell back
//!    to plain TCP (a reordered handshake may do that) may deliver the
//!    rewritten bytes, which nothing can catch any more.
//! 2. **Liveness**: the run must end (both applications done) within
//!    [`liveness_bound`], in virtual seconds:
//!
//!    `3 × B / T + ramp + Σ overshoot + setup + Σ tails + Σ outages + pause
//!    + breakage + timers`
//!
//!    - `B`: stream bytes, both ways together for bidirectional runs.
//!    - `T`: the throughput of the slowest path still up at the end, each
//!      path's being the least of its rate times the payload's share of a
//!      packet (headers and 40 bytes of options; halved segments under a
//!      splitter), the window over the round trip (the buffer, 64 KiB
//!      without window scaling), and the PFTK formula (Padhye et al.,
//!      SIGCOMM 1998, delayed ACKs) whose congestion-signal rate is the
//!      loss (the bursty loss's long-run rate included), plus the reordering, plus the queue overflows of Reno's
//!      sawtooth (`8 / 3W²` for `W` packets of bandwidth-delay product
//!      plus queue), and a queue's worth of packets per round trip (a
//!      sender without pacing may lose whatever of a burst does not fit
//!      the queue). The round trip counts delay, jitter and the batching
//!      interval both ways, full queues both ways and the reordering delay; a retransmission
//!      timeout is `1 s + 2 × RTT`.
//!    - `ramp`: slow start, `(paths + 2) × RTT × log2(B / 10 segments + 2)`.
//!    - `overshoot`: per path, the losses of slow start's last window,
//!      repaired in two round trips with SACK, one round trip each without
//!      (NewReno): `W × RTT`, at most one round trip per packet sent.
//!    - `setup`: `3 × RTT` on the first path plus its loss tail for the
//!      handshake's three packets.
//!    - `tails`: per path, the backed-off timeouts (each at most 60 s) of
//!      the longest run of consecutive losses of one packet or its ACK
//!      whose chance among the transfer's packets is above 10⁻⁶ (with
//!      bursty loss, a lost packet is taken to be lost again with the
//!      chance of staying in the bad state and losing there: the chain
//!      steps per packet, and few pass while a timeout backs off).
//!    - `outages`: per outage, its length twice (the backoff spans it, at
//!      most 60 s more) plus a timeout; three timeouts for a path lost for
//!      good.
//!    - `pause`: the read pause twice (at most 60 s more) plus a timeout.
//!    - `breakage`: three timeouts per path with a middlebox that may take
//!      a subflow down (rewriter, MPTCP option stripper, LRO).
//!    - `timers`: two timeouts for what waits on a timer without any loss
//!      (a join's fourth ACK, the closing DATA_FIN exchange).
//!
//!    The timeouts, round trips and tails are those of the worst path.
//! 3. **Multipath**: when the run is MPTCP and did not fall back to TCP
//!    (which a reordered or lost third ACK and first data segment may
//!    legitimately cause, RFC 8684 §3.1, as a stripping middlebox does),
//!    neither the first path nor another has an outage, no middlebox on
//!    the first path may break its subflow, and that other path has no
//!    MPTCP option stripper on its SYNs, a run lasting past [`join_deadline`] (full establishment on
//!    the first path, then a SYN and SYN-ACK on the other, with their loss
//!    tails) must have had a join answered (`MPJoinSynAckRx` ≥ 1 at the
//!    client).

mod bound;
mod draw;

pub use bound::{join_deadline, liveness_bound};

use core::fmt;

use mptcp_proto::time::Duration;

use crate::middlebox::MiddleboxKind;
use crate::scenario::{TransferReport, TransferSpec, run};

/// Virtual time past twice the liveness bound before a run is stopped.
const GRACE_S: f64 = 30.0;

/// The scenario of chaos run `seed`, with its time limit.
pub fn draw(seed: u64) -> TransferSpec {
    let mut spec = draw::scenario(seed);
    let limit = 2.0 * liveness_bound(&spec) + GRACE_S;
    spec.time_limit =
        Duration::from_secs_f64(limit.min(TransferSpec::DEFAULT_TIME_LIMIT.as_secs_f64()));
    spec
}

/// Why a chaos run failed.
#[derive(Clone, Debug, PartialEq)]
pub enum ChaosFailure {
    /// The transfer did not complete intact.
    Broken {
        /// The report's integrity.
        integrity: String,
        /// Why the run stopped early, if it did.
        error: Option<String>,
    },
    /// It completed intact, but later than the liveness bound.
    Slow {
        /// When it ended, in virtual seconds.
        finished_s: f64,
        /// The bound.
        bound_s: f64,
    },
    /// The engine or the simulator panicked.
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// A join was expected and none was answered.
    NoJoin {
        /// When the run ended, in virtual seconds.
        finished_s: f64,
        /// When a join should have been answered.
        deadline_s: f64,
    },
}

impl fmt::Display for ChaosFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChaosFailure::Broken { integrity, error } => {
                write!(f, "{integrity}")?;
                if let Some(e) = error {
                    write!(f, " ({e})")?;
                }
                Ok(())
            }
            ChaosFailure::Slow {
                finished_s,
                bound_s,
            } => write!(f, "slow: ended at {finished_s:.3} s, bound {bound_s:.3} s"),
            ChaosFailure::Panicked { message } => write!(f, "panicked: {message}"),
            ChaosFailure::NoJoin {
                finished_s,
                deadline_s,
            } => write!(
                f,
                "no join: ran {finished_s:.3} s with a second path usable from {deadline_s:.3} s"
            ),
        }
    }
}

/// The verdict on one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// A payload rewriter made the connection fail cleanly (see the module
    /// documentation); the integrity text says how.
    Tolerated(String),
    /// A check failed.
    Failed(ChaosFailure),
}

/// One chaos run: what was drawn, what happened, and the verdict.
#[derive(Clone, Debug)]
pub struct ChaosOutcome {
    /// The run's seed.
    pub seed: u64,
    /// The scenario.
    pub spec: TransferSpec,
    /// Its report; `None` when the engine panicked.
    pub report: Option<TransferReport>,
    /// The verdict.
    pub verdict: Verdict,
}

impl ChaosOutcome {
    /// For a failed run, one line: the seed, the reason and the command that
    /// reproduces it.
    pub fn failure_line(&self) -> Option<String> {
        match &self.verdict {
            Verdict::Failed(why) => Some(format!(
                "seed {}: {why}; reproduce with: {}",
                self.seed,
                self.spec.command_line()
            )),
            _ => None,
        }
    }

    /// Whether the run failed.
    pub fn failed(&self) -> bool {
        matches!(self.verdict, Verdict::Failed(_))
    }
}

/// Draws, runs and judges chaos run `seed`. A panic of the engine (or the
/// simulator) is caught and makes the run fail.
///
/// # Errors
/// Only if the scenario cannot be built, which takes a pcap file that chaos
/// scenarios do not write.
pub fn run_one(seed: u64) -> std::io::Result<ChaosOutcome> {
    run_one_with(seed, 1.0)
}

/// [`run_one`] with the liveness bound multiplied by `bound_scale` (below
/// 1, runs that end in time by the real bound fail as slow: a way to see
/// the failure path work).
///
/// # Errors
/// As [`run_one`].
pub fn run_one_with(seed: u64, bound_scale: f64) -> std::io::Result<ChaosOutcome> {
    let spec = draw(seed);
    // The simulator is dropped with the panic; nothing of it is reused.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&spec)));
    let (report, verdict) = match caught {
        Ok(report) => {
            let report = report?;
            let verdict = judge_with(&spec, &report, bound_scale);
            (Some(report), verdict)
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            (None, Verdict::Failed(ChaosFailure::Panicked { message }))
        }
    };
    Ok(ChaosOutcome {
        seed,
        spec,
        report,
        verdict,
    })
}

/// Applies the checks of the module documentation to a run of `spec`.
pub fn judge(spec: &TransferSpec, report: &TransferReport) -> Verdict {
    judge_with(spec, report, 1.0)
}

fn judge_with(spec: &TransferSpec, report: &TransferReport, bound_scale: f64) -> Verdict {
    let fell_back = fell_back(report);
    if !report.is_ok() {
        let tolerated = (rewrites(spec) || all_paths_break(spec)) && failed_cleanly(report)
            || all_paths_break(spec) && a_path_dies(spec) && stalled_intact(report)
            || bound::retries_may_fail(spec) && failed_cleanly(report) && gave_up(report)
            || rewrites(spec) && fell_back && delivered_altered(report)
            || never_established(spec, report)
                && bound::handshake_may_fail(spec)
                && failed_cleanly(report);
        if tolerated {
            return Verdict::Tolerated(report.integrity.clone());
        }
        return Verdict::Failed(ChaosFailure::Broken {
            integrity: report.integrity.clone(),
            error: report.error.clone(),
        });
    }
    let bound_s = liveness_bound(spec) * bound_scale;
    if report.finished_s > bound_s {
        return Verdict::Failed(ChaosFailure::Slow {
            finished_s: report.finished_s,
            bound_s,
        });
    }
    if let Some(deadline_s) = join_deadline(spec).filter(|_| !fell_back) {
        let joins = report.counters.client.get("MPJoinSynAckRx").copied();
        if report.finished_s > deadline_s && joins.unwrap_or(0) == 0 {
            return Verdict::Failed(ChaosFailure::NoJoin {
                finished_s: report.finished_s,
                deadline_s,
            });
        }
    }
    Verdict::Passed
}

/// Whether either end fell back to plain TCP (the counters named after the
/// kernel's MIB say so; the client's report alone misses a server that fell
/// back).
fn fell_back(r: &TransferReport) -> bool {
    let named = |c: &std::collections::BTreeMap<String, u64>| {
        c.iter()
            .any(|(k, v)| *v > 0 && (k.contains("Fallback") || k == "InfiniteMapRx"))
    };
    r.mptcp.as_ref().is_some_and(|m| m.fallback.is_some())
        || named(&r.counters.client)
        || named(&r.counters.server)
}

/// An altered stream reached the application, and nothing else went wrong
/// (no broken invariant, no stall).
fn delivered_altered(r: &TransferReport) -> bool {
    r.integrity.contains("data mismatch") && r.invariant_violations.is_empty() && r.error.is_none()
}

/// The connection ended because a subflow gave up retransmitting (timed
/// out), or its peer had forgotten it (reset after its TIME-WAIT).
fn gave_up(r: &TransferReport) -> bool {
    r.integrity.contains("timed out") || r.integrity.contains("reset by peer")
}

/// Whether a path the run uses goes down for good.
fn a_path_dies(spec: &TransferSpec) -> bool {
    (0..bound::used(spec)).any(|i| bound::dies(spec, i))
}

/// Whether `spec` has a payload rewriter.
fn rewrites(spec: &TransferSpec) -> bool {
    spec.middleboxes
        .iter()
        .any(|(_, m)| matches!(m.kind, MiddleboxKind::Rewrite { .. }))
}

/// Whether a middlebox that may take a subflow down (a rewriter, an MPTCP
/// option stripper, LRO) sits on every path the run keeps (the others go
/// down for good): then every subflow may be reset, and the connection
/// with them.
fn all_paths_break(spec: &TransferSpec) -> bool {
    let mut kept = (0..bound::used(spec)).filter(|&i| !bound::dies(spec, i));
    kept.all(|i| bound::breaks_subflows(spec, i))
}

/// Whether the MPTCP client never saw the server's SYN-ACK.
fn never_established(spec: &TransferSpec, r: &TransferReport) -> bool {
    let got = |k: &str| r.counters.client.get(k).copied().unwrap_or(0);
    !spec.tcp_only && got("MPCapableSYNACKRX") == 0 && got("MPCapableFallbackSYNACK") == 0
}

/// Nothing delivered altered, no broken invariant: the run only stopped
/// at its time limit. When a path dies and every path the run keeps breaks
/// subflows, the last subflow may be the one whose path died, still
/// backing off its retransmissions (15 of them take longer than the
/// liveness bound, as the kernel's `tcp_retries2`); no path can carry the
/// stream, so waiting is what the connection can do. (With no path dying,
/// a broken subflow falls back or fails: a stall stays a failure.)
fn stalled_intact(r: &TransferReport) -> bool {
    !r.integrity.contains("data mismatch") && r.invariant_violations.is_empty()
}

/// A connection error at either end, no byte delivered altered, no broken
/// invariant, and no stall (the run ended before its time limit).
fn failed_cleanly(r: &TransferReport) -> bool {
    let errored = r.integrity.contains("client: ") || r.integrity.contains("server: ");
    errored
        && !r.integrity.contains("data mismatch")
        && r.invariant_violations.is_empty()
        && r.error.is_none()
}

#[cfg(test)]
mod tests;
