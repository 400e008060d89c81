//! Built-in counters: per link, per interface and for the whole run.

use mptcp_proto::time::{Duration, Instant};

use crate::observer::DropReason;

/// Packets and bytes dropped, by [`DropReason`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    packets: [u64; DropReason::ALL.len()],
    bytes: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// Packets dropped for `reason`.
    pub fn packets(&self, reason: DropReason) -> u64 {
        self.packets[reason.index()]
    }

    /// IP bytes dropped for `reason`.
    pub fn bytes(&self, reason: DropReason) -> u64 {
        self.bytes[reason.index()]
    }

    /// Packets dropped for any reason.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }

    /// IP bytes dropped for any reason.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    /// The non-zero (reason, packets, bytes) entries, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.packets(r), self.bytes(r)))
            .filter(|&(_, p, _)| p > 0)
    }

    pub(crate) fn add(&mut self, reason: DropReason, len: usize) {
        self.packets[reason.index()] += 1;
        self.bytes[reason.index()] += len as u64;
    }
}

/// Counters of one one-way link. Bytes are IP bytes.
///
/// Conservation: `offered_packets + duplicated == delivered_packets +
/// dropped.total_packets() + in flight`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets offered to the link by its sending interface.
    pub offered_packets: u64,
    /// Bytes offered to the link.
    pub offered_bytes: u64,
    /// Packets that arrived at the far interface (duplicates included).
    pub delivered_packets: u64,
    /// Bytes that arrived at the far interface (duplicates included).
    pub delivered_bytes: u64,
    /// Drops on this link by reason.
    pub dropped: DropCounts,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Packets given the reordering extra delay.
    pub reordered: u64,
    /// The largest queue occupancy seen, in bytes (waiting plus in service).
    pub max_queue_bytes: u64,
}

/// Counters and time series of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfaceStats {
    /// Packets the node handed to this interface.
    pub sent_packets: u64,
    /// Bytes the node handed to this interface.
    pub sent_bytes: u64,
    /// Packets that arrived at this interface.
    pub received_packets: u64,
    /// Bytes that arrived at this interface.
    pub received_bytes: u64,
    /// Drops at this interface ([`DropReason::IfaceMtu`],
    /// [`DropReason::NotConnected`]).
    pub dropped: DropCounts,
    /// Bytes handed to this interface, per time bin.
    pub sent_series: ThroughputSeries,
    /// Bytes that arrived at this interface, per time bin.
    pub received_series: ThroughputSeries,
}

/// Counters of the whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed (including stale timers).
    pub events: u64,
    /// Timer events delivered to nodes.
    pub timers_fired: u64,
    /// Timer events skipped because the node had rescheduled since.
    pub stale_timers: u64,
    /// Packets pulled from hosts with `poll_transmit`.
    pub packets_transmitted: u64,
    /// Times a node hit the per-step transmit cap (its remaining packets were
    /// drained in a later event at the same instant).
    pub transmit_cap_hits: u64,
    /// Drops inside nodes, before an interface was chosen.
    pub dropped: DropCounts,
}

/// Bytes per fixed-width time bin, for throughput plots. Bin `i` covers
/// `[i * bin, (i + 1) * bin)`. A zero bin width records nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThroughputSeries {
    bin: Duration,
    bytes: Vec<u64>,
}

impl ThroughputSeries {
    /// An empty series with bins of `bin`.
    pub fn new(bin: Duration) -> ThroughputSeries {
        ThroughputSeries {
            bin,
            bytes: Vec::new(),
        }
    }

    /// The bin width.
    pub fn bin(&self) -> Duration {
        self.bin
    }

    /// Bytes per bin, from time zero to the last non-empty bin.
    pub fn bins(&self) -> &[u64] {
        &self.bytes
    }

    /// Bits per second in each bin.
    pub fn rates_bps(&self) -> Vec<f64> {
        let secs = self.bin.as_secs_f64();
        self.bytes.iter().map(|&b| b as f64 * 8.0 / secs).collect()
    }

    /// Mean bits per second over the whole bins between `from` and `to`.
    pub fn mean_bps(&self, from: Instant, to: Instant) -> f64 {
        let Some(width) = self.width() else {
            return 0.0;
        };
        let first = (from.as_micros() / width) as usize;
        let last = (to.as_micros() / width) as usize;
        if last <= first {
            return 0.0;
        }
        let sum: u64 = self.bytes.iter().take(last).skip(first).sum();
        sum as f64 * 8.0 / ((last - first) as f64 * self.bin.as_secs_f64())
    }

    /// Adds `len` bytes at `now`.
    pub fn record(&mut self, now: Instant, len: usize) {
        let Some(width) = self.width() else { return };
        let i = (now.as_micros() / width) as usize;
        if self.bytes.len() <= i {
            self.bytes.resize(i + 1, 0);
        }
        self.bytes[i] += len as u64;
    }

    fn width(&self) -> Option<u64> {
        Some(self.bin.as_micros()).filter(|&w| w > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_bins_and_rates() {
        let mut s = ThroughputSeries::new(Duration::from_millis(100));
        s.record(Instant::from_micros(50_000), 1000);
        s.record(Instant::from_micros(99_999), 250);
        s.record(Instant::from_micros(250_000), 500);
        assert_eq!(s.bins(), &[1250, 0, 500]);
        assert_eq!(s.rates_bps(), [100_000.0, 0.0, 40_000.0]);
        let mean = s.mean_bps(Instant::ZERO, Instant::from_micros(300_000));
        assert!((mean - 46_666.666).abs() < 1.0);
        let mut off = ThroughputSeries::new(Duration::ZERO);
        off.record(Instant::from_micros(5), 10);
        assert!(off.bins().is_empty());
    }

    #[test]
    fn drop_counts() {
        let mut d = DropCounts::default();
        d.add(DropReason::Loss, 100);
        d.add(DropReason::Loss, 50);
        d.add(DropReason::QueueFull, 10);
        assert_eq!(d.packets(DropReason::Loss), 2);
        assert_eq!(d.bytes(DropReason::Loss), 150);
        assert_eq!((d.total_packets(), d.total_bytes()), (3, 160));
        assert_eq!(d.iter().count(), 2);
    }
}
