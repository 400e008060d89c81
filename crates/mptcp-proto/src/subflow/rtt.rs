//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use crate::time::{Duration, Instant};

/// Bounds and starting point of the retransmission timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoConfig {
    /// RTO before the first sample (RFC 6298 §2.1: one second).
    pub initial: Duration,
    /// Floor of the variance term: RTO = SRTT + max(G, 4 RTTVAR, `min`).
    /// RFC 6298 §2.4 suggests rounding the whole RTO up to one second;
    /// Linux instead keeps 200 ms above the smoothed RTT, which is what we
    /// do by default (never below one RTT plus 200 ms, so neither spurious
    /// timeouts on long paths nor needless waits on short ones).
    pub min: Duration,
    /// Ceiling (RFC 6298 §2.5: at least 60 s).
    pub max: Duration,
    /// Clock granularity G of RFC 6298 §2.3.
    pub granularity: Duration,
}

impl Default for RtoConfig {
    fn default() -> RtoConfig {
        RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(60),
            granularity: Duration::from_millis(1),
        }
    }
}

/// How long a minimum RTT sample stays authoritative.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// The largest backoff exponent.
const MAX_BACKOFF: u32 = 16;

/// SRTT, RTTVAR, RTO with exponential backoff, and a windowed minimum.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    config: RtoConfig,
    smoothed: Option<Smoothed>,
    latest: Option<Duration>,
    /// Samples taken so far.
    samples: u64,
    min: Option<(Duration, Instant)>,
    backoff: u32,
}

#[derive(Clone, Copy, Debug)]
struct Smoothed {
    srtt: Duration,
    rttvar: Duration,
}

impl RttEstimator {
    /// An estimator with no samples.
    pub fn new(config: RtoConfig) -> RttEstimator {
        RttEstimator {
            config,
            smoothed: None,
            latest: None,
            samples: 0,
            min: None,
            backoff: 0,
        }
    }

    /// Take one RTT measurement (RFC 6298 §2.2, §2.3).
    pub fn on_sample(&mut self, now: Instant, rtt: Duration) {
        let rtt = rtt.max(Duration::from_micros(1));
        self.latest = Some(rtt);
        self.samples += 1;
        self.smoothed = Some(match self.smoothed {
            None => Smoothed {
                srtt: rtt,
                rttvar: Duration::from_micros(rtt.as_micros() / 2),
            },
            Some(s) => {
                let err = s.srtt.as_micros().abs_diff(rtt.as_micros());
                Smoothed {
                    rttvar: Duration::from_micros((3 * s.rttvar.as_micros() + err) / 4),
                    srtt: Duration::from_micros((7 * s.srtt.as_micros() + rtt.as_micros()) / 8),
                }
            }
        });
        self.min = match self.min {
            Some((m, at)) if rtt > m && now - at < MIN_RTT_WINDOW => Some((m, at)),
            _ => Some((rtt, now)),
        };
    }

    /// The smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|s| s.srtt)
    }

    /// The RTT variation, once sampled.
    pub fn rttvar(&self) -> Option<Duration> {
        self.smoothed.map(|s| s.rttvar)
    }

    /// How many samples were taken (a new one when this grows).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    /// The minimum RTT over roughly the last ten seconds of samples.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min.map(|(m, _)| m)
    }

    /// The RTO without backoff (RFC 6298 §2.3, with the floor on the
    /// variance term as described on [`RtoConfig::min`]), at most the
    /// ceiling.
    pub fn base_rto(&self) -> Duration {
        let rto = match self.smoothed {
            None => self.config.initial,
            Some(s) => {
                let var = self
                    .config
                    .granularity
                    .max(s.rttvar.saturating_mul(4))
                    .max(self.config.min);
                s.srtt + var
            }
        };
        rto.min(self.config.max)
    }

    /// The RTO to arm now, with exponential backoff (RFC 6298 §5.5).
    pub fn rto(&self) -> Duration {
        self.base_rto()
            .saturating_mul(1u64 << self.backoff)
            .min(self.config.max)
    }

    /// The timer expired: double the RTO (RFC 6298 §5.5).
    pub fn back_off(&mut self) {
        self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
    }

    /// New data was acknowledged: forget the backoff (RFC 6298 §5.7 lets
    /// the next sample recompute it).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// How many times the RTO has been doubled.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// The SRTT, or the initial RTO's worth before any sample (for
    /// consumers that need some estimate, like schedulers).
    pub fn srtt_or_initial(&self) -> Duration {
        self.srtt().unwrap_or(self.config.initial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_sample_then_smoothing() {
        let mut e = RttEstimator::new(RtoConfig::default());
        assert_eq!(e.rto(), ms(1000));
        e.on_sample(Instant::ZERO, ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        // 100 + max(4 * 50, 200)
        assert_eq!(e.rto(), ms(300));
        let mut f = RttEstimator::new(RtoConfig::default());
        f.on_sample(Instant::ZERO, ms(400));
        // 400 + 4 * 200
        assert_eq!(f.rto(), ms(1200));
        e.on_sample(Instant::ZERO, ms(200));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar(), Some(Duration::from_micros(62_500)));
    }

    #[test]
    fn floor_ceiling_and_backoff() {
        let mut e = RttEstimator::new(RtoConfig::default());
        e.on_sample(Instant::ZERO, ms(1));
        // The floor keeps 200 ms above the smoothed RTT.
        assert_eq!(e.rto(), ms(201));
        let mut e = RttEstimator::new(RtoConfig::default());
        for _ in 0..30 {
            e.on_sample(Instant::ZERO, ms(100));
        }
        // A steady 100 ms: RTTVAR decays, the floor holds RTO at 300 ms.
        assert_eq!(e.rto(), ms(300));
        let base = e.rto();
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), base.saturating_mul(4));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
        e.reset_backoff();
        assert_eq!(e.rto(), base);
    }

    #[test]
    fn min_rtt_window_expires() {
        let mut e = RttEstimator::new(RtoConfig::default());
        e.on_sample(Instant::ZERO, ms(10));
        e.on_sample(Instant::from_micros(5_000_000), ms(30));
        assert_eq!(e.min_rtt(), Some(ms(10)));
        e.on_sample(Instant::from_micros(11_000_000), ms(30));
        assert_eq!(e.min_rtt(), Some(ms(30)));
    }
}
