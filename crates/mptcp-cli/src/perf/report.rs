//! What a test measured: per-interval samples while it runs, and the
//! final report from both ends' counts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::SubflowSample;
use super::data::{DataPlane, DataStream, Flow};
use super::error::Side;
use super::protocol::{CpuUtil, Results, StreamResult};

/// The outcome of one test, as one end saw it (with the other end's
/// counts from the results exchange).
#[derive(Clone, Debug, PartialEq)]
pub struct PerfReport {
    /// The end that wrote this report.
    pub side: Side,
    /// The other end: the server's address, or the client's (control
    /// connection) address.
    pub peer: SocketAddr,
    /// The test's cookie.
    pub cookie: String,
    /// When the test started (wall clock).
    pub started: SystemTime,
    /// The server sends (`-R`).
    pub reverse: bool,
    /// Number of data streams.
    pub parallel: usize,
    /// Read/write size.
    pub block_len: usize,
    /// Requested length (time mode).
    pub time: Option<Duration>,
    /// Requested bytes (byte mode).
    pub bytes_limit: Option<u64>,
    /// Bytes the sender wrote, over all streams.
    pub sent_bytes: u64,
    /// Bytes the receiver read, over all streams.
    pub received_bytes: u64,
    /// Length of the measurement at this end (TEST_START to TEST_END).
    pub duration: Duration,
    /// Sender's throughput, bits per second.
    pub sender_bps: f64,
    /// Receiver's throughput, bits per second.
    pub receiver_bps: f64,
    /// Retransmitted segments at the sender, when it knows them.
    pub retransmits: Option<u64>,
    /// Per-stream totals.
    pub streams: Vec<StreamReport>,
    /// Interval samples (empty without `-i`).
    pub intervals: Vec<IntervalReport>,
    /// This end's CPU use.
    pub cpu_local: CpuUtil,
    /// The other end's CPU use, as it reported it.
    pub cpu_remote: CpuUtil,
}

impl PerfReport {
    /// Whether this end was the sender.
    pub fn local_sends(&self) -> bool {
        (self.side == Side::Client) != self.reverse
    }

    /// Seconds the sender took (longest stream).
    pub fn sender_seconds(&self) -> f64 {
        self.streams
            .iter()
            .map(|s| s.sender_seconds)
            .fold(0.0, f64::max)
    }

    /// Seconds the receiver took (longest stream).
    pub fn receiver_seconds(&self) -> f64 {
        self.streams
            .iter()
            .map(|s| s.receiver_seconds)
            .fold(0.0, f64::max)
    }
}

/// One stream's totals.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamReport {
    /// iperf3 stream id.
    pub id: u32,
    /// This end's address, when known.
    pub local: Option<SocketAddr>,
    /// The other end's address.
    pub remote: SocketAddr,
    /// Bytes the sender wrote.
    pub sent_bytes: u64,
    /// Bytes the receiver read.
    pub received_bytes: u64,
    /// Seconds the sender took.
    pub sender_seconds: f64,
    /// Seconds the receiver took.
    pub receiver_seconds: f64,
    /// Retransmitted segments at the sender, when known.
    pub retransmits: Option<u64>,
}

/// One reporting interval.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalReport {
    /// Start, from the start of the test.
    pub start: Duration,
    /// End, from the start of the test.
    pub end: Duration,
    /// Bytes this end moved per stream.
    pub streams: Vec<IntervalStream>,
    /// Per-subflow deltas, when the transport has subflows.
    pub subflows: Vec<SubflowInterval>,
}

impl IntervalReport {
    /// Bytes over all streams.
    pub fn bytes(&self) -> u64 {
        self.streams.iter().map(|s| s.bytes).sum()
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.end.saturating_sub(self.start).as_secs_f64()
    }
}

/// One stream in an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalStream {
    /// iperf3 stream id.
    pub id: u32,
    /// Bytes moved in the interval.
    pub bytes: u64,
}

/// One subflow in an interval: counter deltas and current gauges.
#[derive(Clone, Debug, PartialEq)]
pub struct SubflowInterval {
    /// The stream the subflow belongs to.
    pub stream: u32,
    /// Subflow's local address.
    pub local: SocketAddr,
    /// Subflow's remote address.
    pub remote: SocketAddr,
    /// Bytes sent in the interval.
    pub bytes_sent: u64,
    /// Bytes received in the interval.
    pub bytes_received: u64,
    /// Retransmissions in the interval.
    pub retransmits: u64,
    /// Smoothed RTT at the end of the interval, microseconds.
    pub srtt_us: u64,
    /// Congestion window at the end of the interval, bytes.
    pub cwnd: u64,
}

type SubflowKey = (u32, SocketAddr, SocketAddr);

/// Cuts a running test into intervals and keeps subflow counters.
pub struct Meter {
    start: Instant,
    last: Instant,
    period: Duration,
    marks: Vec<u64>,
    last_subflows: HashMap<SubflowKey, SubflowSample>,
    first_subflows: HashMap<SubflowKey, SubflowSample>,
    /// The intervals so far.
    pub intervals: Vec<IntervalReport>,
}

impl Meter {
    /// Start measuring at `start`, reporting every `period` (zero: only
    /// at the end, for the subflow counters).
    pub fn new<S>(
        start: Instant,
        period: Duration,
        streams: &[DataStream<S>],
        sample: &dyn Fn(&S) -> Vec<SubflowSample>,
    ) -> Meter {
        let mut meter = Meter {
            start,
            last: start,
            period,
            marks: streams.iter().map(|s| s.bytes).collect(),
            last_subflows: HashMap::new(),
            first_subflows: HashMap::new(),
            intervals: Vec::new(),
        };
        for s in streams {
            for sf in sample(&s.io) {
                meter
                    .first_subflows
                    .insert((s.id, sf.local, sf.remote), sf.clone());
                meter.last_subflows.insert((s.id, sf.local, sf.remote), sf);
            }
        }
        meter
    }

    /// When the test started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The reporting interval (zero: none).
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Close the interval ending at `now` and return it.
    pub fn tick<S>(
        &mut self,
        now: Instant,
        streams: &[DataStream<S>],
        sample: &dyn Fn(&S) -> Vec<SubflowSample>,
    ) -> &IntervalReport {
        let mut report = IntervalReport {
            start: self.last.saturating_duration_since(self.start),
            end: now.saturating_duration_since(self.start),
            streams: Vec::with_capacity(streams.len()),
            subflows: Vec::new(),
        };
        for (s, mark) in streams.iter().zip(self.marks.iter_mut()) {
            report.streams.push(IntervalStream {
                id: s.id,
                bytes: s.bytes - *mark,
            });
            *mark = s.bytes;
            for sf in sample(&s.io) {
                let key = (s.id, sf.local, sf.remote);
                let before = self.last_subflows.get(&key);
                let delta =
                    |f: fn(&SubflowSample) -> u64| f(&sf).saturating_sub(before.map_or(0, f));
                report.subflows.push(SubflowInterval {
                    stream: s.id,
                    local: sf.local,
                    remote: sf.remote,
                    bytes_sent: delta(|x| x.bytes_sent),
                    bytes_received: delta(|x| x.bytes_received),
                    retransmits: delta(|x| x.retransmits),
                    srtt_us: sf.srtt_us,
                    cwnd: sf.cwnd,
                });
                self.first_subflows
                    .entry(key)
                    .or_insert_with(|| SubflowSample {
                        bytes_sent: 0,
                        bytes_received: 0,
                        retransmits: 0,
                        ..sf.clone()
                    });
                self.last_subflows.insert(key, sf);
            }
        }
        self.last = now;
        self.intervals.push(report);
        &self.intervals[self.intervals.len() - 1]
    }

    /// End of the test at `now`: closes a last, partial interval when
    /// intervals are reported and it is the only one or at least a tenth
    /// of one long (not a sliver left by timer skew).
    pub fn finish<S>(
        &mut self,
        now: Instant,
        streams: &[DataStream<S>],
        sample: &dyn Fn(&S) -> Vec<SubflowSample>,
    ) -> Option<&IntervalReport> {
        let left = now.saturating_duration_since(self.last);
        let wanted = self.intervals.is_empty() || left >= self.period / 10;
        if self.period.is_zero() || left.is_zero() || !wanted {
            // Still refresh the subflow counters for the totals.
            for s in streams {
                for sf in sample(&s.io) {
                    self.last_subflows.insert((s.id, sf.local, sf.remote), sf);
                }
            }
            return None;
        }
        Some(self.tick(now, streams, sample))
    }

    /// Retransmissions per stream since the start, from the subflow
    /// counters; `None` for a stream without subflow samples.
    pub fn retransmits(&self, id: u32) -> Option<u64> {
        let mut total = None;
        for (key, last) in self.last_subflows.iter().filter(|(k, _)| k.0 == id) {
            let first = self.first_subflows.get(key).map_or(0, |f| f.retransmits);
            *total.get_or_insert(0) += last.retransmits.saturating_sub(first);
        }
        total
    }
}

/// This end's view of one stream at the end of the test.
pub struct LocalStream {
    /// iperf3 stream id.
    pub id: u32,
    /// Our address, when known.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Bytes we moved.
    pub bytes: u64,
    /// Retransmissions, when we sent and know them.
    pub retransmits: Option<u64>,
}

/// Everything needed to put a report together.
pub struct Outcome<'a> {
    /// The end writing the report.
    pub side: Side,
    /// The other end.
    pub peer: SocketAddr,
    /// The test's cookie.
    pub cookie: String,
    /// When the test started.
    pub started: SystemTime,
    /// The server sends.
    pub reverse: bool,
    /// Read/write size.
    pub block_len: usize,
    /// Requested length.
    pub time: Option<Duration>,
    /// Requested bytes.
    pub bytes_limit: Option<u64>,
    /// Measurement length at this end.
    pub duration: Duration,
    /// Our streams.
    pub local: Vec<LocalStream>,
    /// The peer's results.
    pub remote: &'a Results,
    /// Our intervals.
    pub intervals: Vec<IntervalReport>,
    /// Our CPU use.
    pub cpu_local: CpuUtil,
}

/// Combine both ends' counts. Streams the peer did not report count as
/// zero at its end.
pub fn build(o: Outcome<'_>) -> PerfReport {
    let local_sends = (o.side == Side::Client) != o.reverse;
    let ours = o.duration.as_secs_f64();
    let remote_retransmits = o.remote.sender_has_retransmits == 1;
    let streams: Vec<StreamReport> = o
        .local
        .iter()
        .map(|l| {
            let peer = o.remote.streams.iter().find(|r| r.id == l.id);
            let theirs = peer.map_or(0.0, |r| r.seconds);
            let theirs = if theirs > 0.0 { theirs } else { ours };
            let peer_bytes = peer.map_or(0, |r| r.bytes);
            match local_sends {
                true => StreamReport {
                    id: l.id,
                    local: l.local,
                    remote: l.remote,
                    sent_bytes: l.bytes,
                    received_bytes: peer_bytes,
                    sender_seconds: ours,
                    receiver_seconds: theirs,
                    retransmits: l.retransmits,
                },
                false => StreamReport {
                    id: l.id,
                    local: l.local,
                    remote: l.remote,
                    sent_bytes: peer_bytes,
                    received_bytes: l.bytes,
                    sender_seconds: theirs,
                    receiver_seconds: ours,
                    retransmits: peer
                        .filter(|r| remote_retransmits && r.retransmits >= 0)
                        .map(|r| r.retransmits.unsigned_abs()),
                },
            }
        })
        .collect();
    let sent_bytes = streams.iter().map(|s| s.sent_bytes).sum();
    let received_bytes = streams.iter().map(|s| s.received_bytes).sum();
    let retransmits = streams
        .iter()
        .map(|s| s.retransmits)
        .try_fold(0u64, |acc, r| r.map(|r| acc + r));
    let mut report = PerfReport {
        side: o.side,
        peer: o.peer,
        cookie: o.cookie,
        started: o.started,
        reverse: o.reverse,
        parallel: streams.len(),
        block_len: o.block_len,
        time: o.time,
        bytes_limit: o.bytes_limit,
        sent_bytes,
        received_bytes,
        duration: o.duration,
        sender_bps: 0.0,
        receiver_bps: 0.0,
        retransmits: retransmits.filter(|_| !streams.is_empty()),
        streams,
        intervals: o.intervals,
        cpu_local: o.cpu_local,
        cpu_remote: o.remote.cpu,
    };
    report.sender_bps = rate(report.sent_bytes, report.sender_seconds());
    report.receiver_bps = rate(report.received_bytes, report.receiver_seconds());
    report
}

/// Bits per second; zero for an empty time.
pub fn rate(bytes: u64, seconds: f64) -> f64 {
    match seconds > 0.0 {
        true => bytes as f64 * 8.0 / seconds,
        false => 0.0,
    }
}

/// The process's CPU time at one moment, to compute iperf3's
/// `cpu_util_*` percentages (from `/proc/self/stat`; zero elsewhere).
pub struct CpuClock {
    wall: Instant,
    ticks: Option<(u64, u64)>,
}

/// Linux's USER_HZ, the unit of `/proc/self/stat` times, on every
/// architecture it runs on.
const USER_HZ: f64 = 100.0;

impl CpuClock {
    /// Now.
    pub fn now() -> CpuClock {
        CpuClock {
            wall: Instant::now(),
            ticks: read_cpu_ticks(),
        }
    }

    /// CPU use between this moment and now, in percent of one CPU.
    pub fn since(&self) -> CpuUtil {
        let wall = self.wall.elapsed().as_secs_f64();
        match (self.ticks, read_cpu_ticks()) {
            (Some((u0, s0)), Some((u1, s1))) if wall > 0.0 => {
                let pct = |ticks: u64| ticks as f64 / USER_HZ / wall * 100.0;
                let user = pct(u1.saturating_sub(u0));
                let system = pct(s1.saturating_sub(s0));
                CpuUtil {
                    total: user + system,
                    user,
                    system,
                }
            }
            _ => CpuUtil::default(),
        }
    }
}

/// User and system time of this process, in USER_HZ ticks.
fn read_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let user = fields.get(11)?.parse().ok()?;
    let system = fields.get(12)?.parse().ok()?;
    Some((user, system))
}

/// Our results for the other end, in iperf3's terms.
pub fn local_results<S>(
    plane: &DataPlane<S>,
    meter: &Meter,
    duration: Duration,
    cpu: CpuUtil,
) -> Results {
    let sending = plane.flow() == Flow::Send;
    let retransmits: Vec<Option<u64>> = plane
        .streams
        .iter()
        .map(|s| meter.retransmits(s.id).filter(|_| sending))
        .collect();
    let known = !retransmits.is_empty() && retransmits.iter().all(Option::is_some);
    Results {
        cpu,
        sender_has_retransmits: match (sending, known) {
            (false, _) => -1,
            (true, true) => 1,
            (true, false) => 0,
        },
        streams: plane
            .streams
            .iter()
            .zip(retransmits)
            .map(|(s, r)| StreamResult {
                id: s.id,
                bytes: s.bytes,
                retransmits: r.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
                seconds: duration.as_secs_f64(),
            })
            .collect(),
    }
}

/// Our streams' totals for the report.
pub fn local_streams<S>(plane: &DataPlane<S>, meter: &Meter) -> Vec<LocalStream> {
    let sending = plane.flow() == Flow::Send;
    plane
        .streams
        .iter()
        .map(|s| LocalStream {
            id: s.id,
            local: s.local,
            remote: s.remote,
            bytes: s.bytes,
            retransmits: meter.retransmits(s.id).filter(|_| sending),
        })
        .collect()
}
