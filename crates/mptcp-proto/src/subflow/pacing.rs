//! Pacing: data segments leave no faster than the controller's pacing rate
//! (draft-ietf-ccwg-bbr §5.6.2: each departure moves the next allowed
//! departure time on by the segment's size over the rate).
//!
//! After a pause the sender may catch up by one send quantum (the draft's
//! C.send_quantum: a millisecond at the pacing rate, at least two segments,
//! at most 64 KB), the burst an offload engine would send as one; it never
//! banks more, so a flow that was idle does not dump a window at once.

use crate::time::{Duration, Instant};

/// The largest send quantum (draft-ietf-ccwg-bbr §5.6.3).
const MAX_QUANTUM: u64 = 64 * 1024;

/// When the next data segment may leave.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pacer {
    /// The earliest departure of the next segment; `None` before the first.
    next: Option<Instant>,
}

/// The send quantum at `rate` bytes per second with segments of `mss`:
/// a millisecond's worth, between two segments and 64 KB.
pub(super) fn send_quantum(rate: u64, mss: u32) -> u64 {
    (rate / 1000).min(MAX_QUANTUM).max(2 * u64::from(mss))
}

/// The time `bytes` take at `rate` bytes per second (at least 1 µs for a
/// non-empty segment; a zero rate counts as 1 byte per second).
fn span(bytes: u64, rate: u64) -> Duration {
    let us = u128::from(bytes) * 1_000_000 / u128::from(rate.max(1));
    Duration::from_micros(us.min(u128::from(u64::MAX)) as u64)
}

impl Pacer {
    /// Whether a segment may leave at `now`.
    pub(super) fn ready(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| t <= now)
    }

    /// The earliest departure of the next segment.
    pub(super) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// A segment of `bytes` left at `now` while pacing at `rate` bytes per
    /// second with send quantum `quantum`.
    pub(super) fn on_sent(&mut self, now: Instant, bytes: u64, rate: u64, quantum: u64) {
        // Credit for a pause is at most one quantum (less the segment
        // itself, which the check before it left already allowed).
        let credit = span(quantum.saturating_sub(bytes), rate);
        let earliest = Instant::from_micros(now.as_micros().saturating_sub(credit.as_micros()));
        let start = self.next.map_or(earliest, |t| t.max(earliest));
        self.next = Some(start + span(bytes, rate));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    /// At 1 MB/s a 1000-byte segment takes 1 ms: after a burst of one
    /// quantum, segments leave 1 ms apart.
    #[test]
    fn spaces_segments_at_the_rate() {
        let rate = 1_000_000;
        let quantum = send_quantum(rate, MSS as u32);
        assert_eq!(quantum, 2 * MSS);
        let mut p = Pacer::default();
        let mut sent = Vec::new();
        let mut now = us(10_000);
        while sent.len() < 6 {
            if p.ready(now) {
                p.on_sent(now, MSS, rate, quantum);
                sent.push(now.as_micros());
            } else {
                now = p.next().expect("a deadline");
            }
        }
        // Two at once (the quantum), then one per millisecond.
        assert_eq!(sent, [10_000, 10_000, 11_000, 12_000, 13_000, 14_000]);
    }

    /// A pause banks no more than one quantum.
    #[test]
    fn idle_time_is_not_banked() {
        let rate = 1_000_000;
        let quantum = 4 * MSS;
        let mut p = Pacer::default();
        p.on_sent(us(0), MSS, rate, quantum);
        let now = us(1_000_000);
        let mut burst = 0;
        while p.ready(now) {
            p.on_sent(now, MSS, rate, quantum);
            burst += 1;
        }
        assert_eq!(burst, 4);
        assert_eq!(p.next(), Some(us(1_001_000)));
    }

    /// The quantum follows the rate: a millisecond's worth, capped.
    #[test]
    fn quantum_bounds() {
        assert_eq!(send_quantum(0, 1448), 2896);
        assert_eq!(send_quantum(12_500_000, 1448), 12_500);
        assert_eq!(send_quantum(10_000_000_000, 1448), MAX_QUANTUM);
    }
}
