//! The live progress line of `mptcp demo`, on stderr: rewritten in place on
//! a terminal, one line per second of virtual time otherwise (short CI
//! logs).

use mptcp_sim::scenario::Scenario;
use mptcp_sim::{Duration, IfaceId, Instant};
use std::io::{IsTerminal, Write};

/// Rates are averaged over this many bins (or fewer at the start).
const WINDOW_BINS: usize = 10;

/// The progress display of one transfer.
pub(crate) struct Progress {
    tty: bool,
    total: u64,
    names: Vec<String>,
    bin: Duration,
    /// Bins since the last line (not on a terminal).
    since_line: usize,
    /// Whether the terminal line is open (needs a newline at the end).
    open: bool,
    /// Whether the line showing every byte read was shown.
    complete: bool,
}

impl Progress {
    /// A display for a stream of `total` bytes over paths named `names`,
    /// updated once per `bin` of virtual time.
    pub fn new(total: u64, names: &[&str], bin: Duration) -> Progress {
        note(
            "virtual time, stream read, goodput over the last second, IP rate of each path \
             (Mbit/s):",
        );
        Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            names: names.iter().map(|&n| n.to_owned()).collect(),
            bin,
            since_line: 0,
            open: false,
            complete: false,
        }
    }

    /// Show the state after another bin; `read[k]` is the stream bytes read
    /// at the end of bin `k`.
    pub fn update(&mut self, sc: &Scenario, read: &[u64]) {
        let per_second = (1_000_000 / self.bin.as_micros().max(1)).max(1) as usize;
        self.since_line += 1;
        let complete = read.last().copied().unwrap_or(0) >= self.total;
        if self.complete || (!self.tty && self.since_line < per_second && !complete) {
            return;
        }
        self.since_line = 0;
        self.complete = complete;
        let line = self.line(sc, read);
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            self.open = true;
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// End the display (a newline after the terminal line).
    pub fn finish(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        }
    }

    fn line(&self, sc: &Scenario, read: &[u64]) -> String {
        let bins = read.len();
        let now = Instant::ZERO + self.bin.saturating_mul(bins as u64);
        let window = bins.min(WINDOW_BINS);
        let from = now - self.bin.saturating_mul(window as u64);
        let done = read.last().copied().unwrap_or(0);
        let before = if bins > window {
            read[bins - window - 1]
        } else {
            0
        };
        let secs = self.bin.as_secs_f64() * window as f64;
        let aggregate = (done - before) as f64 * 8.0 / secs / 1e6;
        let paths: Vec<String> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let series = &sc.sim.iface_stats(sc.server, IfaceId(i)).received_series;
                format!("{name} {:.1}", series.mean_bps(from, now) / 1e6)
            })
            .collect();
        format!(
            "{:>6.1} s {:>6.1} / {:.1} MiB {:>5.1}% {:>6.1} Mbit/s  {}",
            now.as_secs_f64(),
            done as f64 / (1u64 << 20) as f64,
            self.total as f64 / (1u64 << 20) as f64,
            100.0 * done as f64 / self.total as f64,
            aggregate,
            paths.join("  ")
        )
    }
}

/// A one-line note on stderr, between progress displays.
pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}
