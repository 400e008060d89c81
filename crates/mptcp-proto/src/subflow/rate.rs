//! Delivery rate sampling (draft-ietf-ccwg-bbr §4.1, which took over
//! draft-cheng-iccrg-delivery-rate-estimation).
//!
//! Every transmission records how much the subflow had delivered so far
//! and when; when the segment is acknowledged, the data delivered since
//! over the time elapsed since is a sample of the rate at which the path
//! delivers. The interval is the longer of the send interval (the flight's
//! first to last transmission) and the ACK interval, so that neither a
//! burst of sends nor a burst of ACKs (aggregation, ACK compression) can
//! make a sample faster than the path. A sample whose flight left a gap
//! because the sender ran out of data is marked application-limited: it
//! may understate the path.

use crate::congestion::{LostSegment, RateSample};
use crate::time::{Duration, Instant};
use mptcp_wire::SubflowSeq;

/// What the sampler records of one transmission (the draft's "P" state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRate {
    /// Bytes delivered when it was sent (P.delivered).
    pub delivered: u64,
    /// When that count last moved (P.delivered_time).
    pub delivered_time: Instant,
    /// When the flight it belongs to started (P.first_send_time).
    pub first_send_time: Instant,
    /// Whether the sender was application-limited (P.is_app_limited).
    pub is_app_limited: bool,
    /// Bytes in flight just after it left (P.tx_in_flight).
    pub tx_in_flight: u64,
    /// Bytes marked lost when it was sent (P.lost).
    pub lost: u64,
}

/// The subflow's side of the sampler (the draft's "C" state).
#[derive(Clone, Copy, Debug, Default)]
pub struct RateSampler {
    /// Bytes delivered (acknowledged cumulatively or by SACK) so far.
    delivered: u64,
    /// When `delivered` last moved.
    delivered_time: Instant,
    /// The send time of the newest segment delivered, or of the first one
    /// sent after an idle period.
    first_send_time: Instant,
    /// While non-zero: the delivered count at which the bubble of an
    /// application-limited period has left the pipe (C.app_limited).
    app_limited: u64,
    /// Bytes marked lost so far (C.lost).
    lost: u64,
}

/// The sample being built from one acknowledgment: what the newest
/// segment it delivered had recorded.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateProgress {
    newest: Option<Newest>,
}

#[derive(Clone, Copy, Debug)]
struct Newest {
    tx: TxRate,
    send_time: Instant,
    end: SubflowSeq,
}

impl RateSampler {
    /// Bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes marked lost so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether the sender is in an application-limited period.
    pub fn is_app_limited(&self) -> bool {
        self.app_limited != 0
    }

    /// A segment leaves at `now` with `in_flight_before` bytes in flight
    /// before it and `in_flight_after` after: what it must remember.
    pub fn on_sent(&mut self, now: Instant, in_flight_before: u64, in_flight_after: u64) -> TxRate {
        if in_flight_before == 0 {
            // Nothing in flight: the flight, and its interval, start now.
            self.first_send_time = now;
            self.delivered_time = now;
        }
        TxRate {
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_send_time: self.first_send_time,
            is_app_limited: self.app_limited != 0,
            tx_in_flight: in_flight_after,
            lost: self.lost,
        }
    }

    /// A segment sent at `send_time`, ending at `end`, of `len` bytes, was
    /// delivered (acknowledged or SACKed for the first time) at `now`.
    pub fn on_delivered(
        &mut self,
        tx: &TxRate,
        send_time: Instant,
        end: SubflowSeq,
        len: u64,
        now: Instant,
        rs: &mut RateProgress,
    ) {
        self.delivered += len;
        self.delivered_time = now;
        let newest = match &rs.newest {
            None => true,
            Some(n) => {
                send_time > self.first_send_time
                    || (send_time == self.first_send_time && end.gt(n.end))
            }
        };
        if newest {
            rs.newest = Some(Newest {
                tx: *tx,
                send_time,
                end,
            });
            self.first_send_time = send_time;
        }
    }

    /// Part of a segment was acknowledged: its bytes count as delivered,
    /// without a sample of their own.
    pub fn on_partly_delivered(&mut self, len: u64, now: Instant) {
        self.delivered += len;
        self.delivered_time = now;
    }

    /// A segment of `size` bytes sent with `tx` was marked lost (the
    /// caller stamps the time).
    pub fn on_lost(&mut self, tx: &TxRate, size: u64) -> LostSegment {
        self.lost += size;
        LostSegment {
            now: Instant::ZERO,
            size,
            tx_in_flight: tx.tx_in_flight,
            lost_at_send: tx.lost,
            total_lost: self.lost,
            total_delivered: self.delivered,
            is_app_limited: tx.is_app_limited,
        }
    }

    /// The sender has nothing to send though the window has room, with
    /// `in_flight` bytes in flight: the samples of this flight and of the
    /// next round trip are application-limited.
    pub fn mark_app_limited(&mut self, in_flight: u64) {
        self.app_limited = (self.delivered + in_flight).max(1);
    }

    /// Finish the sample of one acknowledgment (the draft's
    /// GenerateRateSample). `None` when it delivered no whole segment.
    /// The caller fills in what the queue knows (newly acknowledged and
    /// lost bytes, bytes in flight, recovery).
    pub fn generate(&mut self, rs: &RateProgress, min_rtt: Option<Duration>) -> Option<RateSample> {
        if self.app_limited != 0 && self.delivered > self.app_limited {
            // The bubble was acknowledged: it has left the pipe.
            self.app_limited = 0;
        }
        let n = rs.newest?;
        let send_elapsed = n.send_time.saturating_duration_since(n.tx.first_send_time);
        let ack_elapsed = self
            .delivered_time
            .saturating_duration_since(n.tx.delivered_time);
        let interval = send_elapsed.max(ack_elapsed);
        let delivered = self.delivered - n.tx.delivered;
        // An interval below the minimum RTT gives no reliable sample.
        let reliable = interval.as_micros() > 0 && min_rtt.is_none_or(|m| interval >= m);
        let delivery_rate = if reliable {
            (u128::from(delivered) * 1_000_000 / u128::from(interval.as_micros()))
                .min(u128::from(u64::MAX)) as u64
        } else {
            0
        };
        Some(RateSample {
            delivery_rate,
            delivered,
            interval,
            prior_delivered: n.tx.delivered,
            is_app_limited: n.tx.is_app_limited,
            tx_in_flight: n.tx.tx_in_flight,
            lost: self.lost - n.tx.lost,
            total_delivered: self.delivered,
            ..RateSample::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_micros(n * 1000)
    }

    const SEG: u64 = 1000;

    /// Ten segments sent back to back at t = 0, acknowledged one per ms
    /// from t = 100: the rate is the ACK rate, 1000 bytes per ms.
    #[test]
    fn ack_rate_of_a_paced_flight() {
        let mut s = RateSampler::default();
        let txs: Vec<TxRate> = (0..10)
            .map(|i| s.on_sent(ms(0), i * SEG, (i + 1) * SEG))
            .collect();
        let mut last = None;
        for (i, tx) in txs.iter().enumerate() {
            let mut rs = RateProgress::default();
            let end = SubflowSeq(((i as u64 + 1) * SEG) as u32);
            s.on_delivered(tx, ms(0), end, SEG, ms(100 + i as u64), &mut rs);
            last = s.generate(&rs, Some(Duration::from_millis(50)));
        }
        let rs = last.expect("a sample");
        // The tenth segment: delivered since it was sent 10 segments over
        // 109 ms (its ACK interval).
        assert_eq!(rs.delivered, 10 * SEG);
        assert_eq!(rs.interval, Duration::from_millis(109));
        assert_eq!(rs.delivery_rate, 10 * SEG * 1000 / 109);
        assert_eq!(rs.tx_in_flight, 10 * SEG);
        assert_eq!(rs.total_delivered, 10 * SEG);
    }

    /// Once the pipe is full, a segment sent when the previous ACK arrived
    /// measures the ACK spacing: delivered since that ACK over the time
    /// since it.
    #[test]
    fn steady_state_sample_is_the_delivery_rate() {
        let mut s = RateSampler::default();
        let mut rs = RateProgress::default();
        let a = s.on_sent(ms(0), 0, SEG);
        s.on_delivered(&a, ms(0), SubflowSeq(1000), SEG, ms(20), &mut rs);
        s.generate(&rs, None);
        // Sent at 20 ms (right after the ACK), with 9 more delivered by
        // 40 ms, when its own ACK arrives.
        let b = s.on_sent(ms(20), SEG, 2 * SEG);
        assert_eq!(b.delivered, SEG);
        assert_eq!(b.delivered_time, ms(20));
        s.on_partly_delivered(9 * SEG, ms(39));
        let mut rs = RateProgress::default();
        s.on_delivered(&b, ms(20), SubflowSeq(2000), SEG, ms(40), &mut rs);
        let r = s
            .generate(&rs, Some(Duration::from_millis(20)))
            .expect("sample");
        assert_eq!(r.delivered, 10 * SEG);
        assert_eq!(r.interval, Duration::from_millis(20));
        assert_eq!(r.delivery_rate, 10 * SEG * 50);
    }

    /// An interval shorter than the minimum RTT is no sample.
    #[test]
    fn interval_below_min_rtt_gives_no_rate() {
        let mut s = RateSampler::default();
        let mut rs = RateProgress::default();
        let a = s.on_sent(ms(0), 0, SEG);
        s.on_delivered(&a, ms(0), SubflowSeq(1000), SEG, ms(5), &mut rs);
        let r = s
            .generate(&rs, Some(Duration::from_millis(10)))
            .expect("sample");
        assert_eq!(r.delivery_rate, 0);
        assert_eq!(r.delivered, SEG);
    }

    /// The newest segment of a stretch ACK gives the sample, whatever the
    /// order in which the queue reports them.
    #[test]
    fn the_newest_segment_wins() {
        let mut s = RateSampler::default();
        let a = s.on_sent(ms(0), 0, SEG);
        let b = s.on_sent(ms(1), SEG, 2 * SEG);
        let mut rs = RateProgress::default();
        s.on_delivered(&b, ms(1), SubflowSeq(2000), SEG, ms(30), &mut rs);
        s.on_delivered(&a, ms(0), SubflowSeq(1000), SEG, ms(30), &mut rs);
        let r = s.generate(&rs, None).expect("sample");
        assert_eq!(r.tx_in_flight, 2 * SEG, "b's record, not a's");
    }

    /// Application-limited marks the samples of segments sent until the
    /// bubble is delivered, and no later.
    #[test]
    fn app_limited_lasts_until_the_bubble_is_delivered() {
        let mut s = RateSampler::default();
        let a = s.on_sent(ms(0), 0, SEG);
        s.mark_app_limited(SEG);
        assert!(s.is_app_limited());
        let b = s.on_sent(ms(1), SEG, 2 * SEG);
        assert!(!a.is_app_limited && b.is_app_limited);
        let mut rs = RateProgress::default();
        s.on_delivered(&a, ms(0), SubflowSeq(1000), SEG, ms(20), &mut rs);
        s.generate(&rs, None);
        assert!(
            s.is_app_limited(),
            "the bubble (after a) is still in flight"
        );
        let mut rs = RateProgress::default();
        s.on_delivered(&b, ms(1), SubflowSeq(2000), SEG, ms(21), &mut rs);
        let r = s.generate(&rs, None).expect("sample");
        assert!(r.is_app_limited);
        assert!(!s.is_app_limited(), "delivered past the bubble");
    }

    /// Losses are counted, and a sample reports those since its segment
    /// left.
    #[test]
    fn losses_since_transmission() {
        let mut s = RateSampler::default();
        let a = s.on_sent(ms(0), 0, SEG);
        let b = s.on_sent(ms(1), SEG, 2 * SEG);
        let lost = s.on_lost(&a, SEG);
        assert_eq!(lost.total_lost, SEG);
        assert_eq!(lost.tx_in_flight, SEG);
        let mut rs = RateProgress::default();
        s.on_delivered(&b, ms(1), SubflowSeq(2000), SEG, ms(25), &mut rs);
        let r = s.generate(&rs, None).expect("sample");
        assert_eq!(r.lost, SEG);
    }
}
