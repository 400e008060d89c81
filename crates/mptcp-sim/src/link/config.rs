//! What a one-way link models, and its defaults.

use core::fmt;
use std::sync::Arc;

use mptcp_proto::time::{Duration, Instant};

use super::loss::GilbertElliott;
use super::trace::Trace;
use crate::middlebox::Middlebox;

/// Whether a link carries packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkState {
    /// Packets are carried.
    Up,
    /// Packets offered are dropped ([`DropReason::LinkDown`](crate::DropReason::LinkDown)).
    Down,
}

/// The default number of link-MTU packets the default queue holds at least.
pub const MIN_QUEUE_PACKETS: u64 = 64;

/// The model of one direction of a link.
///
/// A packet offered to the link goes through these stages, in order:
/// 1. **State**: while the link is down the packet is dropped
///    ([`LinkDown`](crate::DropReason::LinkDown)). When the link goes down,
///    every packet it holds (queued, being serialized, or propagating) is
///    dropped too; those in propagation are reported at the time they would
///    have arrived. The link starts up; `schedule` lists later transitions.
/// 2. **Middleboxes**: a NAT the link crosses
///    ([`Simulator::add_nat`](crate::Simulator::add_nat)) translates the
///    packet (or drops it: [`Middlebox`](crate::DropReason::Middlebox)),
///    then the link's [`Middlebox`]es process it, in the order they were
///    attached (configuration first, then
///    [`Simulator::add_middlebox`](crate::Simulator::add_middlebox)). Each
///    turns one packet into zero or more (split in two, or held back and
///    released later, merged with others, by a simulator event); each packet
///    that comes out goes through the later stages on its own. Every later
///    stage, observers from [`on_enqueued`](crate::Observer::on_enqueued)
///    on, and the receiving node see the rewritten packets; the link's
///    `offered_packets` and `offered_bytes` count what the node sent. A
///    packet held by a middlebox when the link goes down is dropped with
///    the queue.
/// 3. **MTU**: packets larger than `mtu` IP bytes are dropped
///    ([`LinkMtu`](crate::DropReason::LinkMtu)).
/// 4. **Queue**: a drop-tail FIFO counting IP bytes, including the packet being
///    serialized. A packet that would push it past the limit is dropped
///    ([`QueueFull`](crate::DropReason::QueueFull)). The default limit
///    ([`LinkConfig::queue_limit`]) is the bandwidth-delay product
///    `rate × 2 × delay` (one round trip over a symmetric path), but at least
///    64 packets of the link MTU; a trace-driven link uses the trace's mean
///    rate. An infinite-rate link has no queue.
/// 5. **Serialization** at `rate_bps` (0 means infinite: no serialization
///    delay); sub-microsecond remainders carry over to the next packet, so a
///    busy link runs at exactly its rate. With a `trace`, `rate_bps` is
///    ignored and the packet leaves at the delivery opportunity that carries
///    its last byte (see [`Trace`](crate::Trace) for the rule).
/// 6. **Loss**: after serialization the packet is lost on the wire with
///    probability `loss` ([`Loss`](crate::DropReason::Loss)); a lost packet has
///    used its share of the link's capacity. Then, if `burst_loss` is set, the
///    [`GilbertElliott`] chain steps once and may lose the packet (also
///    [`Loss`](crate::DropReason::Loss)); packets lost by the Bernoulli draw
///    do not step it.
/// 7. **Duplication**: a surviving packet is duplicated with probability
///    `duplicate`; the copy arrives right after the original and uses no
///    capacity.
/// 8. **Delay**: arrival = end of serialization + `delay` + a jitter drawn
///    uniformly from `[0, jitter]` microseconds per packet. Jitter never
///    reorders: an arrival is pushed back to the previous in-order arrival
///    when needed, so the link stays FIFO.
/// 9. **Reordering**: with probability `reorder`, a packet gets `reorder_delay`
///    extra on top of its arrival time and is exempt from the FIFO rule, so
///    packets sent within `reorder_delay` after it overtake it.
/// 10. **Batching**: with a non-zero `batch`, the arrival time (after jitter
///     and reordering) is rounded up to the next multiple of `batch` since
///     time zero, so packets reach the far end in bursts at those instants
///     only, the way Wi-Fi aggregation and cellular schedulers release them.
///     Rounding up is monotone: the FIFO order of in-order packets is kept.
///
/// Random draws (in the order loss, burst loss, duplication, jitter,
/// reordering) are made only for enabled features, from the link's own random
/// stream; middleboxes draw none.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Bits per second; 0 means infinite.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Maximal random extra delay per packet (uniform in `[0, jitter]`).
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a packet is lost on the wire.
    pub loss: f64,
    /// Probability in `[0, 1]` that a packet is duplicated.
    pub duplicate: f64,
    /// Probability in `[0, 1]` that a packet is held back by `reorder_delay`.
    pub reorder: f64,
    /// The extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Drop-tail queue limit in IP bytes; `None` for the default
    /// (see [`LinkConfig::queue_limit`]).
    pub queue_bytes: Option<u64>,
    /// Largest IP packet carried, in bytes. Default 1500.
    pub mtu: u32,
    /// Up/down transitions at given times. The link starts up.
    pub schedule: Vec<(Instant, LinkState)>,
    /// Delivery opportunities replacing `rate_bps` (stage 5); `None` for a
    /// fixed rate.
    pub trace: Option<Arc<Trace>>,
    /// Bursty loss after the Bernoulli `loss` (stage 6); `None` for none.
    pub burst_loss: Option<GilbertElliott>,
    /// Arrivals are released only at multiples of this (stage 10); zero for
    /// no batching.
    pub batch: Duration,
    /// Packet rewriters applied, in order, to every packet the link accepts
    /// (stage 2 above). Empty by default.
    pub middleboxes: Vec<Middlebox>,
}

/// Why a [`LinkConfig`] is unusable.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// A probability outside `[0, 1]` (or NaN).
    Probability {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// An MTU too small for an IPv4 header (20 bytes).
    Mtu(u32),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Probability { field, value } => {
                write!(f, "link {field} probability {value} is outside [0, 1]")
            }
            ConfigError::Mtu(mtu) => write!(f, "link MTU {mtu} is below 20 bytes"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl LinkConfig {
    /// A link of `rate_bps` bits per second (0: infinite) and one-way `delay`,
    /// without jitter, loss, duplication or reordering, with the default queue
    /// and an MTU of 1500.
    pub fn new(rate_bps: u64, delay: Duration) -> LinkConfig {
        LinkConfig {
            rate_bps,
            delay,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            queue_bytes: None,
            mtu: 1500,
            schedule: Vec::new(),
            trace: None,
            burst_loss: None,
            batch: Duration::ZERO,
            middleboxes: Vec::new(),
        }
    }

    /// An infinitely fast link without delay.
    pub fn ideal() -> LinkConfig {
        LinkConfig::new(0, Duration::ZERO)
    }

    /// Sets the jitter bound.
    pub fn jitter(mut self, jitter: Duration) -> LinkConfig {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability.
    pub fn loss(mut self, p: f64) -> LinkConfig {
        self.loss = p;
        self
    }

    /// Sets the duplication probability.
    pub fn duplicate(mut self, p: f64) -> LinkConfig {
        self.duplicate = p;
        self
    }

    /// Sets the reordering probability and the extra delay of reordered packets.
    pub fn reorder(mut self, p: f64, extra_delay: Duration) -> LinkConfig {
        self.reorder = p;
        self.reorder_delay = extra_delay;
        self
    }

    /// Sets the queue limit in IP bytes.
    pub fn queue_bytes(mut self, bytes: u64) -> LinkConfig {
        self.queue_bytes = Some(bytes);
        self
    }

    /// Sets the link MTU.
    pub fn mtu(mut self, mtu: u32) -> LinkConfig {
        self.mtu = mtu;
        self
    }

    /// Adds a transition to down at `at`.
    pub fn down_at(mut self, at: Instant) -> LinkConfig {
        self.schedule.push((at, LinkState::Down));
        self
    }

    /// Adds a transition to up at `at`.
    pub fn up_at(mut self, at: Instant) -> LinkConfig {
        self.schedule.push((at, LinkState::Up));
        self
    }

    /// Drives the link's capacity by `trace` instead of `rate_bps`.
    pub fn trace(mut self, trace: Arc<Trace>) -> LinkConfig {
        self.trace = Some(trace);
        self
    }

    /// Sets the Gilbert-Elliott bursty loss model.
    pub fn burst_loss(mut self, model: GilbertElliott) -> LinkConfig {
        self.burst_loss = Some(model);
        self
    }

    /// Releases arrivals only at multiples of `interval` (zero: off).
    pub fn batch(mut self, interval: Duration) -> LinkConfig {
        self.batch = interval;
        self
    }

    /// The link's long-run capacity in bits per second: the trace's mean
    /// rate for a trace-driven link, else `rate_bps` (0: infinite).
    pub fn mean_rate_bps(&self) -> u64 {
        self.trace
            .as_ref()
            .map_or(self.rate_bps, |t| t.mean_rate_bps())
    }

    /// Whether packets cross the link without serialization.
    pub fn is_infinite(&self) -> bool {
        self.rate_bps == 0 && self.trace.is_none()
    }

    /// Appends a middlebox; it runs after those added before it.
    pub fn middlebox(mut self, middlebox: Middlebox) -> LinkConfig {
        self.middleboxes.push(middlebox);
        self
    }

    /// The effective queue limit in bytes: `queue_bytes` if set, else
    /// `max(rate × 2 × delay / 8, 64 × mtu)`, where `rate` is
    /// [`mean_rate_bps`](LinkConfig::mean_rate_bps).
    pub fn queue_limit(&self) -> u64 {
        self.queue_bytes.unwrap_or_else(|| {
            let rate = u128::from(self.mean_rate_bps());
            let bdp = rate * 2 * u128::from(self.delay.as_micros()) / 8_000_000;
            let floor = MIN_QUEUE_PACKETS * u64::from(self.mtu);
            u64::try_from(bdp).unwrap_or(u64::MAX).max(floor)
        })
    }

    /// Checks probabilities and the MTU.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ge = self.burst_loss.map(|g| g.fields()).unwrap_or_default();
        let fixed = [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ];
        for (field, value) in fixed.into_iter().chain(ge) {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { field, value });
            }
        }
        if self.mtu < 20 {
            return Err(ConfigError::Mtu(self.mtu));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queue_is_bdp_with_a_floor() {
        // 100 Mbit/s × 2 × 50 ms = 10 Mbit = 1.25 MB.
        let l = LinkConfig::new(100_000_000, Duration::from_millis(50));
        assert_eq!(l.queue_limit(), 1_250_000);
        // 10 Mbit/s × 2 × 1 ms = 2500 bytes < 64 × 1500.
        let l = LinkConfig::new(10_000_000, Duration::from_millis(1));
        assert_eq!(l.queue_limit(), 96_000);
        assert_eq!(l.clone().mtu(9000).queue_limit(), 576_000);
        assert_eq!(l.clone().queue_bytes(3000).queue_limit(), 3000);
        // A trace of 10 opportunities every 1 ms is 120 Mbit/s: with 50 ms,
        // 1.5 MB.
        let trace = Trace::from_millis(&[1; 10]).unwrap();
        let l = LinkConfig::new(0, Duration::from_millis(50)).trace(Arc::new(trace));
        assert_eq!(l.queue_limit(), 1_500_000);
        assert!(!l.is_infinite());
    }

    #[test]
    fn validation() {
        let l = LinkConfig::ideal();
        assert_eq!(l.validate(), Ok(()));
        assert!(l.clone().loss(1.5).validate().is_err());
        assert!(l.clone().duplicate(f64::NAN).validate().is_err());
        assert!(l.clone().reorder(-0.1, Duration::ZERO).validate().is_err());
        assert!(
            l.clone()
                .burst_loss(GilbertElliott::new(0.1, 1.2, 1.0))
                .validate()
                .is_err()
        );
        assert_eq!(l.mtu(10).validate(), Err(ConfigError::Mtu(10)));
    }
}
