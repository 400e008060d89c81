//! The forwarding loop: the ports' packets through the links' models, on
//! the real clock.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use mptcp_sim::{Duration, Instant, LinkDriver};
use mptcp_tun::lab::{EmuPort, wait_readable};

/// Longest sleep between looks at the stop flag.
const MAX_WAIT: StdDuration = StdDuration::from_millis(50);
/// Most packets read from one port in a row, so one busy port does not
/// delay the others' deliveries.
const READ_BURST: usize = 64;
/// Width of a lateness histogram bin, in microseconds.
const BIN_US: u64 = 10;
/// Lateness bins (the last one holds everything later).
const BINS: usize = 10_000;

/// How late deliveries were written, against the instants the model gave.
pub struct Lateness {
    bins: Vec<u64>,
    count: u64,
    sum_us: u64,
    max_us: u64,
}

impl Lateness {
    fn new() -> Lateness {
        Lateness {
            bins: vec![0; BINS],
            count: 0,
            sum_us: 0,
            max_us: 0,
        }
    }

    fn record(&mut self, us: u64) {
        self.bins[((us / BIN_US) as usize).min(BINS - 1)] += 1;
        self.count += 1;
        self.sum_us += us;
        self.max_us = self.max_us.max(us);
    }

    /// The upper edge of the bin holding quantile `q`, in microseconds.
    fn quantile_us(&self, q: f64) -> u64 {
        let want = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, &n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return (i as u64 + 1) * BIN_US;
            }
        }
        self.max_us
    }
}

/// Ports `2i` (left) and `2i + 1` (right) of path `i`, and its links `2i`
/// (left to right) and `2i + 1` (right to left): link `k` carries what
/// port `k` reads to port `k ^ 1`.
pub struct Forwarder {
    ports: Vec<EmuPort>,
    links: Vec<LinkDriver>,
    start: StdInstant,
    scratch: Vec<u8>,
    due: Vec<(Instant, Vec<u8>)>,
    pool: Vec<Vec<u8>>,
    lateness: Lateness,
    write_errors: u64,
}

impl Forwarder {
    /// Links and ports as above; the links' clock starts now.
    pub fn new(ports: Vec<EmuPort>, links: Vec<LinkDriver>) -> Forwarder {
        assert_eq!(ports.len(), links.len(), "one link per port");
        Forwarder {
            ports,
            links,
            start: StdInstant::now(),
            scratch: vec![0; 65_536],
            due: Vec::new(),
            pool: Vec::new(),
            lateness: Lateness::new(),
            write_errors: 0,
        }
    }

    /// The links' clock: microseconds since the start.
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Forwards until `stop` is set or `until` (since the start) has passed.
    pub fn run(&mut self, stop: &AtomicBool, until: Option<Duration>) -> io::Result<()> {
        let end = until.map(|d| Instant::ZERO + d);
        let mut ready = vec![true; self.ports.len()];
        while !stop.load(Ordering::Relaxed) {
            let now = self.now();
            if end.is_some_and(|end| now >= end) {
                break;
            }
            self.deliver_due(now);
            for (k, &r) in ready.iter().enumerate() {
                if r {
                    self.read_port(k, now)?;
                }
            }
            let now = self.now();
            self.deliver_due(now);
            let next = self
                .links
                .iter()
                .filter_map(LinkDriver::next_deadline)
                .min();
            let mut wait = next.map_or(MAX_WAIT, |at| {
                StdDuration::from_micros(at.as_micros().saturating_sub(now.as_micros()))
            });
            if let Some(end) = end {
                let left = end.as_micros().saturating_sub(now.as_micros());
                wait = wait.min(StdDuration::from_micros(left));
            }
            wait_readable(&self.ports, wait.min(MAX_WAIT), &mut ready)?;
        }
        Ok(())
    }

    /// Reads what port `k` holds (up to a burst) into link `k`.
    fn read_port(&mut self, k: usize, now: Instant) -> io::Result<()> {
        for _ in 0..READ_BURST {
            let n = match self.ports[k].recv(&mut self.scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut packet = self.pool.pop().unwrap_or_default();
            packet.clear();
            packet.extend_from_slice(&self.scratch[..n]);
            self.links[k].offer(now, packet);
        }
        Ok(())
    }

    /// Writes every packet due by `now` to the far end of its link.
    fn deliver_due(&mut self, now: Instant) {
        for k in 0..self.links.len() {
            self.links[k].advance(now, &mut self.due);
            if self.due.is_empty() {
                continue;
            }
            let written = self.now();
            for (at, packet) in self.due.drain(..) {
                let late = written.as_micros().saturating_sub(at.as_micros());
                self.lateness.record(late);
                if self.ports[k ^ 1].send(&packet).is_err() {
                    self.write_errors += 1;
                }
                if self.pool.len() < 4096 {
                    self.pool.push(packet);
                }
            }
        }
    }

    /// Per path and direction, what the links did; then the lateness of
    /// deliveries.
    pub fn report(&self, names: &[String]) -> String {
        let mut s = String::new();
        for (k, link) in self.links.iter().enumerate() {
            let st = link.stats();
            let dir = if k % 2 == 0 {
                "left->right"
            } else {
                "right->left"
            };
            let name = names.get(k / 2).map_or("", String::as_str);
            let _ = write!(
                s,
                "path {} {dir} ({name}): offered {} packets {} bytes, delivered {} packets {} bytes, dropped",
                k / 2,
                st.offered_packets,
                st.offered_bytes,
                st.delivered_packets,
                st.delivered_bytes
            );
            let mut any = false;
            for (reason, packets, _) in st.dropped.iter() {
                if packets > 0 {
                    let _ = write!(s, " {reason:?} {packets}");
                    any = true;
                }
            }
            if !any {
                s.push_str(" none");
            }
            let _ = writeln!(
                s,
                ", duplicated {}, reordered {}",
                st.duplicated, st.reordered
            );
        }
        let l = &self.lateness;
        let mean = l.sum_us.checked_div(l.count).unwrap_or(0);
        let _ = writeln!(
            s,
            "lateness: {} deliveries, mean {mean} us, p50 {} us, p99 {} us, max {} us; write errors {}",
            l.count,
            l.quantile_us(0.5),
            l.quantile_us(0.99),
            l.max_us,
            self.write_errors
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_quantiles() {
        let mut l = Lateness::new();
        for us in [5, 15, 25, 35, 1_000_000] {
            l.record(us);
        }
        assert_eq!(l.quantile_us(0.5), 30);
        assert_eq!(l.quantile_us(0.2), 10);
        assert_eq!(l.quantile_us(1.0), BINS as u64 * BIN_US);
        assert_eq!(l.max_us, 1_000_000);
    }
}
