//! [`CpuMeter`]: CPU time spent by the whole machine and by this process
//! during a measurement, for "CPU seconds per GiB" in benchmarks.

use std::io;
use std::time::Instant;

use super::sys;

/// Non-idle and total jiffies of the aggregate `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuTimes {
    /// user + nice + system + irq + softirq + steal.
    busy: u64,
    /// busy + idle + iowait.
    total: u64,
}

/// Parses the aggregate line `cpu  user nice system idle iowait irq softirq
/// steal ...` (guest time is already part of user time).
fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Some(CpuTimes {
        busy,
        total: busy + field(3) + field(4),
    })
}

fn read_proc_stat() -> io::Result<CpuTimes> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_proc_stat(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no cpu line in /proc/stat"))
}

/// User + system seconds of this process and of its waited-for children.
fn process_seconds() -> io::Result<f64> {
    Ok(sys::rusage_seconds(libc::RUSAGE_SELF)? + sys::rusage_seconds(libc::RUSAGE_CHILDREN)?)
}

/// A running CPU measurement; [`stop`](Self::stop) it to get a [`CpuUsage`].
#[derive(Debug, Clone)]
pub struct CpuMeter {
    wall: Instant,
    system: CpuTimes,
    process_s: f64,
}

/// CPU time used between [`CpuMeter::start`] and [`CpuMeter::stop`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUsage {
    /// Elapsed wall-clock seconds.
    pub wall_s: f64,
    /// Non-idle CPU seconds of the whole machine, summed over all cores
    /// (user, nice, system, irq, softirq, steal of `/proc/stat`, divided by
    /// `CLK_TCK`). Includes the kernel's softirq work for namespaces'
    /// traffic, and everything else running on the machine.
    pub system_busy_s: f64,
    /// User + system seconds of this process and of the children it has
    /// waited for (`getrusage` `RUSAGE_SELF` + `RUSAGE_CHILDREN`). Children
    /// still running when `stop` is called are not counted.
    pub process_s: f64,
}

impl CpuMeter {
    /// Starts measuring now.
    pub fn start() -> io::Result<CpuMeter> {
        Ok(CpuMeter {
            wall: Instant::now(),
            system: read_proc_stat()?,
            process_s: process_seconds()?,
        })
    }

    /// Ends the measurement.
    pub fn stop(&self) -> io::Result<CpuUsage> {
        let system = read_proc_stat()?;
        let process_s = process_seconds()?;
        let ticks = sys::clock_ticks_per_second() as f64;
        Ok(CpuUsage {
            wall_s: self.wall.elapsed().as_secs_f64(),
            system_busy_s: system.busy.saturating_sub(self.system.busy) as f64 / ticks,
            process_s: (process_s - self.process_s).max(0.0),
        })
    }
}

impl CpuUsage {
    /// Machine-wide busy CPU seconds per GiB for `bytes` moved.
    pub fn system_s_per_gib(&self, bytes: u64) -> f64 {
        per_gib(self.system_busy_s, bytes)
    }

    /// This process's CPU seconds per GiB for `bytes` moved.
    pub fn process_s_per_gib(&self, bytes: u64) -> f64 {
        per_gib(self.process_s, bytes)
    }

    /// Average number of busy cores machine-wide (`system_busy_s / wall_s`).
    pub fn busy_cores(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.system_busy_s / self.wall_s
        } else {
            0.0
        }
    }
}

fn per_gib(seconds: f64, bytes: u64) -> f64 {
    if bytes == 0 {
        0.0
    } else {
        seconds * (1u64 << 30) as f64 / bytes as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aggregate_line() {
        let text = "cpu  10 1 5 100 3 2 4 6 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\nintr 5\n";
        assert_eq!(
            parse_proc_stat(text),
            Some(CpuTimes {
                busy: 28,
                total: 131
            })
        );
        assert_eq!(parse_proc_stat("intr 5\n"), None);
    }

    #[test]
    fn measures_something() {
        let meter = CpuMeter::start().unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let usage = meter.stop().unwrap();
        assert!(usage.wall_s > 0.0 && usage.process_s >= 0.0 && usage.system_busy_s >= 0.0);
        assert_eq!(usage.process_s_per_gib(0), 0.0);
        assert!((per_gib(2.0, 1 << 29) - 4.0).abs() < 1e-9);
    }
}
