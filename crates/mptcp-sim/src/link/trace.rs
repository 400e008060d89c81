//! Trace-driven capacity, in the format of Mahimahi's `mm-link`.
//!
//! A trace is a text file with one number per line: a time in milliseconds
//! at which the link has one **delivery opportunity** of
//! [`OPPORTUNITY_BYTES`]. A number repeated on several lines gives as many
//! opportunities at that millisecond. Times are non-decreasing; blank lines
//! are ignored. The trace repeats forever with a period equal to its last
//! timestamp: opportunity `k` of a trace of `n` lines falls at
//! `(k / n) × period + line[k % n]` milliseconds after time zero (so a trace
//! ending in `period` and starting with `0` has two opportunities at every
//! multiple of the period, as in Mahimahi).
//!
//! Packets take the opportunities byte by byte, in FIFO order, as in
//! Mahimahi: each opportunity carries up to 1500 bytes of the queue, so
//! several small packets share one, and a packet larger than what is left
//! of the current opportunity continues in the next ones (a 9000-byte jumbo
//! frame uses six). A packet leaves the link at the time of the opportunity
//! that carries its last byte. Only packets already queued at an
//! opportunity's time use it; what an opportunity could have carried beyond
//! the queue's content is wasted (the link does not save capacity while
//! idle). Mahimahi's opportunity is 1504 bytes (a 1500-byte IP packet and
//! its 4-byte TUN header); here the 1500 bytes are IP bytes.
//!
//! Everything here is pure: the cursor is driven with instants by whoever
//! owns the clock.

use core::fmt;
use std::io;
use std::path::Path;

use mptcp_proto::time::Instant;

/// The IP bytes one delivery opportunity carries.
pub const OPPORTUNITY_BYTES: u32 = 1500;

/// The largest timestamp a trace line may hold, in milliseconds (about 35
/// years), so that every opportunity time fits in microseconds.
pub const MAX_TRACE_MS: u64 = 1 << 40;

/// A parsed delivery-opportunity trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Opportunity times within one period, in microseconds, non-decreasing.
    times_us: Vec<u64>,
    /// The period in microseconds (the last timestamp); positive.
    period_us: u64,
}

/// Why a trace is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceError {
    /// The file could not be read.
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        kind: io::ErrorKind,
    },
    /// A line is not a whole number of milliseconds (or exceeds
    /// [`MAX_TRACE_MS`]).
    Number {
        /// 1-based line number.
        line: usize,
    },
    /// A timestamp is smaller than the one before it.
    Decreasing {
        /// 1-based line number.
        line: usize,
    },
    /// The trace has no timestamps.
    Empty,
    /// The last timestamp is 0: the trace would repeat without time passing.
    ZeroPeriod,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { path, kind } => write!(f, "cannot read trace {path:?}: {kind}"),
            TraceError::Number { line } => write!(
                f,
                "trace line {line}: expected a whole number of milliseconds"
            ),
            TraceError::Decreasing { line } => {
                write!(
                    f,
                    "trace line {line}: timestamp smaller than the one before"
                )
            }
            TraceError::Empty => write!(f, "trace has no timestamps"),
            TraceError::ZeroPeriod => write!(f, "trace's last timestamp is 0 (no period)"),
        }
    }
}

impl std::error::Error for TraceError {}

impl Trace {
    /// Parses the text of a trace (see the [module](self) documentation).
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let mut times_us = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            let ms: u64 = t
                .parse()
                .ok()
                .filter(|&ms| ms <= MAX_TRACE_MS && t.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(TraceError::Number { line })?;
            let us = ms * 1000;
            if times_us.last().is_some_and(|&last| us < last) {
                return Err(TraceError::Decreasing { line });
            }
            times_us.push(us);
        }
        Trace::from_micros(times_us)
    }

    /// Reads and parses a trace file.
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let text = std::fs::read_to_string(path).map_err(|e| TraceError::Io {
            path: path.display().to_string(),
            kind: e.kind(),
        })?;
        Trace::parse(&text)
    }

    /// A trace from opportunity times in milliseconds (non-decreasing, last
    /// one positive).
    pub fn from_millis(times_ms: &[u64]) -> Result<Trace, TraceError> {
        let mut times_us = Vec::with_capacity(times_ms.len());
        for (i, &ms) in times_ms.iter().enumerate() {
            if ms > MAX_TRACE_MS {
                return Err(TraceError::Number { line: i + 1 });
            }
            if times_us.last().is_some_and(|&last| ms * 1000 < last) {
                return Err(TraceError::Decreasing { line: i + 1 });
            }
            times_us.push(ms * 1000);
        }
        Trace::from_micros(times_us)
    }

    /// A synthetic cellular-like trace spanning `span_ms` milliseconds (at
    /// least 1): the rate wanders around `mean_bps`, a random walk from
    /// `seed` in steps every 100 ms between a tenth of the mean and twice it,
    /// with no opportunity at all from 10 s to 11 s of every 20 (a
    /// handover). Deterministic; for demos and benchmarks that must not read
    /// a recorded trace.
    pub fn cellular_like(seed: u64, mean_bps: u64, span_ms: u64) -> Trace {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let span_ms = span_ms.max(1);
        let mean = mean_bps as f64;
        let per_ms = |bps: f64| bps / 8.0 / f64::from(OPPORTUNITY_BYTES) / 1e3;
        let (mut rate, mut credit, mut times_us) = (mean, 0.0, Vec::new());
        for ms in 1..span_ms {
            if ms % 100 == 0 {
                let step = (rng.random::<f64>() - 0.5) * mean * 0.6;
                rate = (rate + step).clamp(mean * 0.1, mean * 2.0);
            }
            if (10_000..11_000).contains(&(ms % 20_000)) {
                continue;
            }
            credit += per_ms(rate);
            while credit >= 1.0 {
                credit -= 1.0;
                times_us.push(ms * 1000);
            }
        }
        // The last opportunity sets the period.
        times_us.push(span_ms * 1000);
        Trace {
            times_us,
            period_us: span_ms * 1000,
        }
    }

    /// The trace in the Mahimahi text format, whole milliseconds (a trace
    /// from a file or [`Trace::from_millis`] reads back unchanged).
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(self.times_us.len() * 6);
        for t in &self.times_us {
            text.push_str(&(t / 1000).to_string());
            text.push('\n');
        }
        text
    }

    fn from_micros(times_us: Vec<u64>) -> Result<Trace, TraceError> {
        let period_us = *times_us.last().ok_or(TraceError::Empty)?;
        if period_us == 0 {
            return Err(TraceError::ZeroPeriod);
        }
        Ok(Trace {
            times_us,
            period_us,
        })
    }

    /// Opportunities per period.
    pub fn opportunities(&self) -> usize {
        self.times_us.len()
    }

    /// The period (the last timestamp) in microseconds.
    pub fn period_us(&self) -> u64 {
        self.period_us
    }

    /// The long-run capacity in bits per second (at least 1).
    pub fn mean_rate_bps(&self) -> u64 {
        let bits = self.times_us.len() as u128 * u128::from(OPPORTUNITY_BYTES) * 8;
        let bps = bits * 1_000_000 / u128::from(self.period_us);
        u64::try_from(bps).unwrap_or(u64::MAX).max(1)
    }

    /// The time of opportunity `k` (counting from 0 over the repeated trace).
    pub fn time(&self, k: u64) -> Instant {
        let n = self.times_us.len() as u64;
        let cycle = (k / n).saturating_mul(self.period_us);
        Instant::from_micros(cycle.saturating_add(self.times_us[(k % n) as usize]))
    }

    /// The first opportunity at or after `at`.
    pub fn first_at_or_after(&self, at: Instant) -> u64 {
        let now = at.as_micros();
        let n = self.times_us.len() as u64;
        let (cycle, offset) = (now / self.period_us, now % self.period_us);
        let idx = self.times_us.partition_point(|&t| t < offset) as u64;
        let mut k = cycle.saturating_mul(n).saturating_add(idx);
        // Opportunities at the end of the previous period fall at the same
        // time as those at 0 of this one.
        while k > 0 && self.time(k - 1) >= at {
            k -= 1;
        }
        k
    }
}

/// Where a trace-driven transmitter stands: the next opportunity with room
/// and the bytes left in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceCursor {
    next: u64,
    left: u32,
}

impl Default for TraceCursor {
    fn default() -> TraceCursor {
        TraceCursor {
            next: 0,
            left: OPPORTUNITY_BYTES,
        }
    }
}

impl TraceCursor {
    /// Sends a packet of `len` bytes that is at the head of the queue at
    /// `now`: takes its bytes from the opportunities at or after `now`, and
    /// returns the time of the one carrying its last byte (when the packet
    /// leaves the transmitter).
    pub fn send(&mut self, trace: &Trace, now: Instant, len: usize) -> Instant {
        let first = trace.first_at_or_after(now);
        if first > self.next {
            self.next = first;
            self.left = OPPORTUNITY_BYTES;
        }
        let mut remaining = len;
        loop {
            let take = remaining.min(self.left as usize);
            remaining -= take;
            self.left -= take as u32;
            let at = trace.time(self.next);
            if self.left == 0 {
                self.next += 1;
                self.left = OPPORTUNITY_BYTES;
            }
            if remaining == 0 {
                return at;
            }
        }
    }

    /// The queue ran empty: the rest of a partly used opportunity is wasted.
    pub fn idle(&mut self) {
        if self.left < OPPORTUNITY_BYTES {
            self.next += 1;
            self.left = OPPORTUNITY_BYTES;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn cellular_like_has_its_mean_gaps_and_round_trips() {
        let t = Trace::cellular_like(7, 12_000_000, 60_000);
        assert_eq!(t.period_us(), 60_000_000);
        let mean = t.mean_rate_bps() as f64;
        // The walk's bounds are 0.1 and 2 times the mean, less the gaps.
        assert!((4e6..18e6).contains(&mean), "{mean}");
        // Nothing from 10 s to 11 s of each 20.
        for k in 0..t.opportunities() as u64 {
            let ms = t.time(k).as_micros() / 1000;
            assert!(
                !(10_000..11_000).contains(&(ms % 20_000)),
                "opportunity at {ms} ms"
            );
        }
        assert!(t.time(0) < Instant::from_micros(10_000), "{:?}", t.time(0));
        assert_eq!(Trace::parse(&t.to_text()).expect("parses"), t);
        assert_eq!(Trace::cellular_like(7, 12_000_000, 60_000), t);
        assert_ne!(Trace::cellular_like(8, 12_000_000, 60_000), t);
        // Degenerate arguments still give a valid trace.
        assert_eq!(Trace::cellular_like(1, 0, 0).period_us(), 1000);
    }

    #[test]
    fn parses_and_repeats() {
        let t = Trace::parse("1\n1\n3\n\n4\n").unwrap();
        assert_eq!((t.opportunities(), t.period_us()), (4, 4000));
        let times: Vec<u64> = (0..8).map(|k| t.time(k).as_micros() / 1000).collect();
        assert_eq!(times, [1, 1, 3, 4, 5, 5, 7, 8]);
        // 4 × 1500 bytes every 4 ms = 12 Mbit/s.
        assert_eq!(t.mean_rate_bps(), 12_000_000);
        assert_eq!(t.first_at_or_after(at(0)), 0);
        assert_eq!(t.first_at_or_after(at(2)), 2);
        assert_eq!(t.first_at_or_after(at(4)), 3);
        assert_eq!(t.first_at_or_after(Instant::from_micros(4001)), 4);
    }

    #[test]
    fn zero_and_period_coincide() {
        let t = Trace::from_millis(&[0, 5]).unwrap();
        assert_eq!(t.first_at_or_after(at(5)), 1);
        assert_eq!(t.time(2), at(5));
        assert_eq!(t.first_at_or_after(at(6)), 3);
    }

    #[test]
    fn bad_traces() {
        assert_eq!(Trace::parse(""), Err(TraceError::Empty));
        assert_eq!(Trace::parse("0\n0\n"), Err(TraceError::ZeroPeriod));
        assert_eq!(Trace::parse("1\nx\n"), Err(TraceError::Number { line: 2 }));
        assert_eq!(Trace::parse("-1\n"), Err(TraceError::Number { line: 1 }));
        assert_eq!(Trace::parse("+1\n"), Err(TraceError::Number { line: 1 }));
        assert_eq!(Trace::parse("1.5\n"), Err(TraceError::Number { line: 1 }));
        assert_eq!(
            Trace::parse("99999999999999999999\n"),
            Err(TraceError::Number { line: 1 })
        );
        assert_eq!(
            Trace::parse("5\n3\n"),
            Err(TraceError::Decreasing { line: 2 })
        );
    }

    #[test]
    fn bytes_share_and_span_opportunities() {
        let t = Trace::from_millis(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let mut c = TraceCursor::default();
        // Three 500-byte packets share the first opportunity.
        for _ in 0..3 {
            assert_eq!(c.send(&t, Instant::ZERO, 500), at(1));
        }
        // A 1000-byte packet and a 1000-byte one: the second spans 2 and 3.
        assert_eq!(c.send(&t, at(1), 1000), at(2));
        assert_eq!(c.send(&t, at(2), 1000), at(3));
        // Idle: the 1000 bytes left of opportunity 3 are wasted.
        c.idle();
        assert_eq!(c.send(&t, at(3), 100), at(4));
        c.idle();
        // A jumbo frame after a pause: opportunities 6 .. 8 and then 9, 10, 11.
        assert_eq!(c.send(&t, Instant::from_micros(5500), 9000), at(11));
    }
}
