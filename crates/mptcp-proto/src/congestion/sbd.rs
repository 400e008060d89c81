//! Shared bottleneck detection (RFC 8382), so that the coupled controllers
//! couple only the subflows that share a bottleneck.
//!
//! Each subflow is one "flow" of the RFC. Every base interval T (350 ms) the
//! detector closes the interval for every flow and summarises the last N
//! (50) or M (30) intervals in four statistics (RFC 8382 §3.2):
//! - `skew_est`, the skewness estimate: each delay sample counts +1 below
//!   `mean_delay` (the mean of the last M interval means, this interval
//!   excluded) and -1 above it, divided by the number of samples;
//! - `var_est`, the mean absolute deviation of the samples from the
//!   previous interval's mean;
//! - `freq_est`, the share of the last N intervals whose mean crossed
//!   `mean_delay` significantly (by `p_v * var_est`) in the other direction
//!   than the last significant crossing;
//! - `pkt_loss`, the share of packets lost over the last N intervals.
//!
//! `skew_est` and `var_est` are the weighted moving averages of RFC 8382
//! §4.1 (flat weight over the F most recent intervals, then declining to 1
//! at M), computed directly over the M-interval history rather than
//! incrementally (M is 30: the direct sum is as cheap and leaves no room
//! for drift). The oscillation noise of §4.2 is removed: an interval in
//! which a flow was judged not to cross a bottleneck leaves no `var_base`
//! (its samples count for neither sum of `var_est`) and records no mean
//! crossing.
//!
//! The grouping (RFC 8382 §3.3.1) takes the flows that cross a bottleneck
//! (`skew_est < c_s`, or `< c_h` if they did last time, or `pkt_loss >
//! p_l`) and divides them successively by `freq_est`, `var_est`,
//! `skew_est` and, where loss is high enough to be reliable, `pkt_loss`. A
//! flow that crosses no bottleneck forms a group of its own.
//!
//! Decisions start after `warmup` (2) intervals (§3.3.2: from the second
//! T). Controllers stop coupling two flows only once `stable` (20)
//! decisions in a row, 7 s, kept them apart, or `quick` (2) in a row did
//! so with at least one of the two crossing no bottleneck at all in each;
//! they couple them again at the first decision that groups them: §3.3.2
//! leaves stability to the controller, and the safe side is coupling.
//! The quick rule: a flow that crosses no bottleneck shares none, which is
//! firmer evidence than two congested flows whose statistics differ (the
//! drift below); on lossy disjoint paths that cannot be filled it is the
//! usual case, and waiting the 7 s there cost up to a tenth of the sum of
//! two TCPs (Wi-Fi + LTE, Gilbert-Elliott Wi-Fi: 0.81 to 0.85 of it, now
//! 0.90 to 0.98), while the shared 50 Mbit/s bottleneck stays where it
//! was (LIA 0.85 of the TCP, OLIA 0.92). Measured in the simulator,
//! the two subflows of a shared 50 Mbit/s bottleneck under OLIA drift apart
//! in `skew_est` (beyond `p_s`) for up to 7 s at a time, because OLIA
//! moves traffic between them and each samples the queue at its own send
//! times; decoupled that long, MPTCP took 1.5 times the share of the TCP
//! beside it.
//!
//! The delay samples: we are the sender, and the RFC recommends that the
//! sender computes everything (§3.1). Only relative one-way delays matter
//! (§5): every statistic is relative to a mean. We use the round-trip
//! samples the subflow already takes for its RTO (microseconds, from the
//! send times of the acknowledged segments, or the timestamp echo when
//! those mislead). The alternative, the peer's TSval against the echoed
//! TSecr, isolates the forward direction, but the peer's timestamp clock
//! ticks in milliseconds (Linux's too), coarser than a hundredth of the
//! queueing delays of the paths that matter (§5.1's rule of thumb), and the
//! peer's clock rate is unknown. A round trip also carries the reverse
//! path's delay; in a bulk transfer the data direction holds the queue,
//! and the reverse path's noise is what §1.2.2 warns about: it can only
//! make flows look less alike, so it errs towards not grouping, which the
//! connection answers by coupling everything until a decision is made.
//!
//! Losses: the retransmitted share of the payload bytes sent in each
//! interval (segments are full-sized in bulk transfers, so the byte share
//! is the packet share).
//!
//! One addition to the bottleneck test of §3.3.1 step 1: a flow whose
//! delay varies (`var_est`) by less than `p_q` (2%) of its mean delay
//! crosses no bottleneck, whatever its skewness. The skewness test assumes
//! the noise of a real path; on a path whose only queue is the flow's own
//! bursts (a lossy link the flow cannot fill) the delay is nearly constant
//! and its skewness drifts below `c_s` by chance (measured in the
//! simulator: `var_est` about 0.2 ms on a 30 ms path at 1% loss, against 4
//! to 6 ms at a shared 50 Mbit/s bottleneck with a BDP of queue). §4.2
//! notes the same: without a bottleneck `var_est` is very small.
//!
//! RFC 8382 gives no value for p_l; we take 0.1, which keeps the random
//! loss of a lossy link (a few percent) out of the bottleneck test and
//! lets only heavy, hence reliable, loss group flows.

use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Parameters of the detector (RFC 8382 §2.1, values of §2.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SbdConfig {
    /// The base interval T.
    pub interval: Duration,
    /// N: intervals of `freq_est` and `pkt_loss`.
    pub n: usize,
    /// M (at most N): intervals of `skew_est`, `var_est` and `mean_delay`.
    pub m: usize,
    /// F (at most M): the most recent intervals weighted alike (§4.1).
    pub f: usize,
    /// Intervals before the first grouping decision; until then every
    /// flow is undecided (the RFC recommends 2 M, §3.3.2).
    pub warmup: usize,
    /// Decisions in a row that must keep two flows apart before their
    /// controllers stop coupling them.
    pub stable: usize,
    /// The same when, in each of those decisions, at least one of the two
    /// flows crossed no bottleneck at all (`quick` <= `stable`).
    pub quick: usize,
    /// Skewness below which a flow crosses a bottleneck.
    pub c_s: f64,
    /// The same, for a flow that did last time (hysteresis).
    pub c_h: f64,
    /// A mean crossing counts when it reaches `p_v * var_est`.
    pub p_v: f64,
    /// Flows split when their `freq_est` differ by `p_f` or more.
    pub p_f: f64,
    /// ... their `var_est` by `p_mad` times the larger or more.
    pub p_mad: f64,
    /// ... their `skew_est` by `p_s` or more.
    pub p_s: f64,
    /// ... their `pkt_loss` by `p_d` times the larger or more.
    pub p_d: f64,
    /// Loss share above which loss alone marks a bottleneck and is
    /// reliable enough to split groups (not given by the RFC).
    pub p_l: f64,
    /// Ours, not the RFC's: a flow whose `var_est` is below `p_q` times
    /// its mean delay crosses no bottleneck, whatever its skewness.
    pub p_q: f64,
}

impl Default for SbdConfig {
    fn default() -> SbdConfig {
        SbdConfig {
            interval: Duration::from_millis(350),
            n: 50,
            m: 30,
            f: 20,
            warmup: 2,
            stable: 20,
            quick: 2,
            c_s: 0.1,
            c_h: 0.3,
            p_v: 0.7,
            p_f: 0.1,
            p_mad: 0.1,
            p_s: 0.15,
            p_d: 0.1,
            p_l: 0.1,
            p_q: 0.02,
        }
    }
}

impl SbdConfig {
    /// N, M and F at least 1 and ordered F <= M <= N.
    fn sizes(&self) -> (usize, usize, usize) {
        let n = self.n.max(1);
        let m = self.m.clamp(1, n);
        (n, m, self.f.clamp(1, m))
    }
}

/// The summary statistics of one flow after an interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SbdStats {
    /// Skewness estimate, in [-1, 1]; negative when most samples lie above
    /// the mean (a queue that rarely drains).
    pub skew_est: f64,
    /// Mean absolute deviation, microseconds.
    pub var_est: f64,
    /// Significant mean crossings per interval over the last N, in [0, 1].
    pub freq_est: f64,
    /// Share of packets lost over the last N intervals, in [0, 1].
    pub pkt_loss: f64,
    /// Whether the flow was judged to cross a bottleneck (PB).
    pub bottleneck: bool,
}

/// Where an interval's mean lay relative to `mean_delay`, significantly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Above,
    Below,
}

/// One interval's record in the M-interval history.
#[derive(Clone, Copy, Debug, Default)]
struct Base {
    /// Samples compared against a reference mean.
    samples: u64,
    /// skew_base_T.
    skew: i64,
    /// var_base_T; `None` when the flow crossed no bottleneck (§4.2).
    var: Option<f64>,
}

/// The statistics of one flow, fed one delay sample at a time.
#[derive(Clone, Debug)]
pub struct FlowStats {
    config: SbdConfig,
    /// This interval: sum and count of the samples (microseconds).
    sum: f64,
    count: u64,
    /// This interval's skew_base_T and var_base_T so far.
    skew: i64,
    var: f64,
    /// The references of this interval, fixed at its start: mean_delay
    /// and the previous interval's mean.
    mean_delay: Option<f64>,
    prev_mean: Option<f64>,
    /// Means of the last M intervals, most recent first (`None`: no sample).
    means: VecDeque<Option<f64>>,
    /// The last M intervals' bases, most recent first.
    bases: VecDeque<Base>,
    /// The last N intervals: a significant crossing or not.
    crossings: VecDeque<bool>,
    last_side: Option<Side>,
    /// The last N intervals' (lost, sent) packets.
    losses: VecDeque<(u64, u64)>,
    /// Previously Bottleneck.
    pb: bool,
}

impl FlowStats {
    /// A flow with no samples.
    pub fn new(config: SbdConfig) -> FlowStats {
        FlowStats {
            config,
            sum: 0.0,
            count: 0,
            skew: 0,
            var: 0.0,
            mean_delay: None,
            prev_mean: None,
            means: VecDeque::new(),
            bases: VecDeque::new(),
            crossings: VecDeque::new(),
            last_side: None,
            losses: VecDeque::new(),
            pb: false,
        }
    }

    /// One (relative) one-way delay sample.
    pub fn on_sample(&mut self, delay: Duration) {
        let owd = delay.as_micros() as f64;
        self.sum += owd;
        self.count += 1;
        // RFC 8382 §3.2.2: compared with mean_delay in full precision;
        // equal samples count for neither side.
        if let Some(mean) = self.mean_delay {
            if owd < mean {
                self.skew += 1;
            } else if owd > mean {
                self.skew -= 1;
            }
        }
        // §3.2.3: deviation from the previous interval's mean.
        if let Some(prev) = self.prev_mean {
            self.var += (owd - prev).abs();
        }
    }

    /// Close the interval, in which `lost` of `sent` packets were lost.
    /// Returns the flow's statistics, or `None` while none of the last M
    /// intervals had a sample to compare.
    pub fn end_interval(&mut self, lost: u64, sent: u64) -> Option<SbdStats> {
        let (n, m, _) = self.config.sizes();
        let mean = (self.count > 0).then(|| self.sum / self.count as f64);
        let compared = self.mean_delay.is_some() && self.prev_mean.is_some();
        push_front(
            &mut self.bases,
            Base {
                samples: if compared { self.count } else { 0 },
                skew: self.skew,
                var: Some(self.var),
            },
            m,
        );
        push_front(&mut self.losses, (lost.min(sent), sent), n);
        let stats = self.summarise();
        if let Some(s) = &stats {
            self.pb = s.bottleneck;
        }
        let bottleneck = stats.is_some_and(|s| s.bottleneck);
        if !bottleneck && let Some(b) = self.bases.front_mut() {
            // §4.2 step 1: no var_base_T while crossing no bottleneck.
            b.var = None;
        }
        let var_est = weighted(&self.bases, &self.config, |b| b.var);
        let crossed = bottleneck && self.crossed(mean, var_est);
        push_front(&mut self.crossings, crossed, n);
        push_front(&mut self.means, mean, m);
        self.start_interval(mean);
        stats.map(|s| SbdStats {
            var_est: var_est.unwrap_or(0.0),
            freq_est: self.crossings.iter().filter(|c| **c).count() as f64 / n as f64,
            ..s
        })
    }

    /// skew_est, pkt_loss and the bottleneck test of §3.3.1 step 1 (the
    /// other fields are filled in by the caller).
    fn summarise(&self) -> Option<SbdStats> {
        let c = &self.config;
        let skew_est = weighted(&self.bases, c, |b| Some(b.skew as f64))?;
        let (lost, sent) = self
            .losses
            .iter()
            .fold((0u64, 0u64), |(l, s), (dl, ds)| (l + dl, s + ds));
        let pkt_loss = if sent == 0 {
            0.0
        } else {
            lost as f64 / sent as f64
        };
        // Our addition: a delay that hardly varies shows no queue but the
        // flow's own bursts (see the module's documentation).
        let var_now = weighted(&self.bases, c, |b| b.var).unwrap_or(0.0);
        let queue = self.mean_delay.is_some_and(|mean| var_now >= c.p_q * mean);
        let skewed = skew_est < c.c_s || (skew_est < c.c_h && self.pb);
        let bottleneck = (skewed && queue) || pkt_loss > c.p_l;
        Some(SbdStats {
            skew_est,
            var_est: 0.0,
            freq_est: 0.0,
            pkt_loss,
            bottleneck,
        })
    }

    /// §3.2.4: whether this interval's mean crossed mean_delay by at least
    /// `p_v * var_est`, opposite to the last significant crossing.
    fn crossed(&mut self, mean: Option<f64>, var_est: Option<f64>) -> bool {
        let (Some(mean), Some(reference)) = (mean, self.mean_delay) else {
            return false;
        };
        let margin = self.config.p_v * var_est.unwrap_or(0.0);
        let side = if mean > reference + margin {
            Side::Above
        } else if mean < reference - margin {
            Side::Below
        } else {
            return false;
        };
        let previous = self.last_side.replace(side);
        previous.is_some_and(|p| p != side)
    }

    /// Reset the accumulators and fix the references of the next interval.
    fn start_interval(&mut self, mean: Option<f64>) {
        self.sum = 0.0;
        self.count = 0;
        self.skew = 0;
        self.var = 0.0;
        if mean.is_some() {
            self.prev_mean = mean;
        }
        let (total, count) = self
            .means
            .iter()
            .flatten()
            .fold((0.0, 0u32), |(t, c), m| (t + m, c + 1));
        self.mean_delay = (count > 0).then(|| total / f64::from(count));
    }
}

fn push_front<T>(ring: &mut VecDeque<T>, value: T, len: usize) {
    ring.push_front(value);
    ring.truncate(len);
}

/// The weight of the `i`-th most recent interval (1-based) in §4.1's
/// moving average: `M - F + 1` over the F most recent, then declining
/// from `M - F` to 1.
pub(super) fn weight(i: usize, m: usize, f: usize) -> u64 {
    (m - f + 1).min(m + 1 - i) as u64
}

/// §4.1: sum(w_i * value_i) / sum(w_i * samples_i) over the intervals with
/// a value; `None` when they hold no sample.
fn weighted(
    bases: &VecDeque<Base>,
    c: &SbdConfig,
    value: impl Fn(&Base) -> Option<f64>,
) -> Option<f64> {
    let (_, m, f) = c.sizes();
    let (mut num, mut den) = (0.0, 0u64);
    for (i, b) in bases.iter().enumerate().take(m) {
        if let Some(v) = value(b) {
            let w = weight(i + 1, m, f);
            num += w as f64 * v;
            den += w * b.samples;
        }
    }
    (den > 0).then(|| num / den as f64)
}

/// RFC 8382 §3.3.1: a group label per flow. Flows crossing a bottleneck
/// are divided by `freq_est`, `var_est`, `skew_est` and reliable
/// `pkt_loss`; each of the others is a group of its own. Labels are small
/// integers, equal for flows of one group.
pub fn group(stats: &[SbdStats], c: &SbdConfig) -> Vec<usize> {
    let congested: Vec<usize> = (0..stats.len()).filter(|&i| stats[i].bottleneck).collect();
    let mut groups = vec![congested];
    groups = split(groups, stats, |s| s.freq_est, |_| c.p_f);
    groups = split(groups, stats, |s| s.var_est, |hi| c.p_mad * hi);
    groups = split(groups, stats, |s| s.skew_est, |_| c.p_s);
    groups = split(
        groups,
        stats,
        |s| s.pkt_loss,
        |hi| {
            if hi > c.p_l {
                c.p_d * hi
            } else {
                f64::INFINITY
            }
        },
    );
    let mut labels = vec![0; stats.len()];
    let mut next = 0;
    for g in groups.iter().filter(|g| !g.is_empty()) {
        for &i in g {
            labels[i] = next;
        }
        next += 1;
    }
    for (i, s) in stats.iter().enumerate() {
        if !s.bottleneck {
            labels[i] = next;
            next += 1;
        }
    }
    labels
}

/// Sort each group by `key`, highest first, and cut it wherever two
/// neighbours differ by at least `threshold(higher)`.
fn split(
    groups: Vec<Vec<usize>>,
    stats: &[SbdStats],
    key: impl Fn(&SbdStats) -> f64,
    threshold: impl Fn(f64) -> f64,
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for mut g in groups {
        g.sort_by(|&a, &b| key(&stats[b]).total_cmp(&key(&stats[a])));
        let mut current: Vec<usize> = Vec::new();
        for i in g {
            if let Some(&last) = current.last() {
                let (hi, lo) = (key(&stats[last]), key(&stats[i]));
                // A NaN never counts as close.
                let close = hi - lo < threshold(hi);
                if !close {
                    out.push(std::mem::take(&mut current));
                }
            }
            current.push(i);
        }
        out.push(current);
    }
    out
}

/// What the connection reports of one subflow after activity on it:
/// cumulative counters, from which the detector takes what is new.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SbdInput {
    /// Round-trip samples taken so far.
    pub rtt_samples: u64,
    /// The latest of them.
    pub latest_rtt: Option<Duration>,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes retransmitted.
    pub bytes_retrans: u64,
}

#[derive(Clone, Debug)]
struct Flow {
    key: u32,
    stats: FlowStats,
    /// The latest input, and the counters at the start of the interval.
    input: SbdInput,
    start: SbdInput,
    group: Option<usize>,
    /// Whether the latest decision found it crossing a bottleneck.
    bottleneck: bool,
    /// Its last `stable` decisions, most recent first.
    history: VecDeque<Decision>,
}

/// One decision about one flow: its group (`None`: undecided) and whether
/// it crossed a bottleneck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decision {
    group: Option<usize>,
    bottleneck: bool,
}

/// The detector of one connection: flows keyed by subflow id.
#[derive(Clone, Debug)]
pub struct SharedBottleneck {
    config: SbdConfig,
    flows: Vec<Flow>,
    interval_end: Option<Instant>,
    intervals: usize,
}

impl SharedBottleneck {
    /// A detector with no flows.
    pub fn new(config: SbdConfig) -> SharedBottleneck {
        SharedBottleneck {
            config,
            flows: Vec::new(),
            interval_end: None,
            intervals: 0,
        }
    }

    /// Activity on flow `key`: close the intervals that ended before
    /// `now`, then take its new sample, if any.
    pub fn observe(&mut self, now: Instant, key: u32, input: SbdInput) {
        self.advance(now);
        let pos = match self.flows.iter().position(|f| f.key == key) {
            Some(p) => p,
            None => {
                self.flows.push(Flow {
                    key,
                    stats: FlowStats::new(self.config),
                    input,
                    start: input,
                    group: None,
                    bottleneck: false,
                    history: VecDeque::new(),
                });
                self.flows.len() - 1
            }
        };
        let flow = &mut self.flows[pos];
        if input.rtt_samples > flow.input.rtt_samples
            && let Some(rtt) = input.latest_rtt
        {
            flow.stats.on_sample(rtt);
        }
        flow.input = input;
    }

    /// Stop tracking flow `key` (its subflow closed).
    pub fn forget(&mut self, key: u32) {
        self.flows.retain(|f| f.key != key);
    }

    /// The group of flow `key`; `None` until a decision was made for it.
    pub fn group(&self, key: u32) -> Option<usize> {
        self.flows.iter().find(|f| f.key == key)?.group
    }

    /// Whether flow `me`'s controller couples with flow `other`: yes unless
    /// both were put in different groups by each of the last `stable`
    /// decisions (undecided flows are coupled with everything, today's safe
    /// default, and so are flows grouped together even briefly: RFC 8382
    /// §3.3.2 leaves to the controller how stable a grouping must be).
    pub fn couples(&self, me: u32, other: u32) -> bool {
        let history = |key: u32| self.flows.iter().find(|f| f.key == key).map(|f| &f.history);
        let (Some(a), Some(b)) = (history(me), history(other)) else {
            return true;
        };
        let stable = self.config.stable.max(1);
        let quick = self.config.quick.clamp(1, stable);
        // The decisions in a row, most recent first, that put the two in
        // different groups, and those of them in which one at least
        // crossed no bottleneck.
        let apart = a
            .iter()
            .zip(b)
            .take_while(|(x, y)| x.group.is_some() && y.group.is_some() && x.group != y.group);
        let mut strong = 0;
        let mut all = 0;
        for (x, y) in apart {
            all += 1;
            if strong + 1 == all && !(x.bottleneck && y.bottleneck) {
                strong += 1;
            }
        }
        me == other || !(all >= stable || strong >= quick)
    }

    /// Base intervals closed so far.
    pub fn intervals(&self) -> usize {
        self.intervals
    }

    fn advance(&mut self, now: Instant) {
        let t = self.config.interval.max(Duration::from_millis(1));
        let Some(mut end) = self.interval_end else {
            self.interval_end = Some(now + t);
            return;
        };
        // After a long silence, no more empty intervals than fill the
        // history.
        let mut budget = self.config.n.max(1) + 1;
        while now >= end && budget > 0 {
            self.close_interval();
            end += t;
            budget -= 1;
        }
        if now >= end {
            end = now + t;
        }
        self.interval_end = Some(end);
    }

    fn close_interval(&mut self) {
        self.intervals += 1;
        let summaries: Vec<Option<SbdStats>> = self
            .flows
            .iter_mut()
            .map(|f| {
                let sent = f.input.bytes_sent.saturating_sub(f.start.bytes_sent);
                let lost = f.input.bytes_retrans.saturating_sub(f.start.bytes_retrans);
                f.start = f.input;
                f.stats.end_interval(lost, sent)
            })
            .collect();
        if self.intervals < self.config.warmup {
            return;
        }
        let decided: Vec<usize> = (0..self.flows.len())
            .filter(|&i| summaries[i].is_some())
            .collect();
        let stats: Vec<SbdStats> = decided.iter().filter_map(|&i| summaries[i]).collect();
        let labels = group(&stats, &self.config);
        for f in &mut self.flows {
            f.group = None;
            f.bottleneck = false;
        }
        for ((&i, label), s) in decided.iter().zip(labels).zip(&stats) {
            self.flows[i].group = Some(label);
            self.flows[i].bottleneck = s.bottleneck;
        }
        let stable = self.config.stable.max(1);
        for f in &mut self.flows {
            let d = Decision {
                group: f.group,
                bottleneck: f.bottleneck,
            };
            push_front(&mut f.history, d, stable);
        }
    }
}
