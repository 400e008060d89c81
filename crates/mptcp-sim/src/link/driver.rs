//! One link model on any clock: [`LinkDriver`] runs a [`Link`] from the
//! instants its owner gives it, the way the simulator runs its links from
//! the virtual clock; `mptcp emulate` gives it the real one.

use mptcp_proto::time::Instant;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::{ConfigError, LinkConfig, LinkState};
use super::{Fate, Link, Offer};
use crate::event::{Event, EventQueue};
use crate::node::LinkId;
use crate::observer::DropReason;
use crate::stats::LinkStats;

/// The only link of a driver, in its events.
const ME: LinkId = LinkId(0);

/// One direction of a link, stage for stage the model of [`LinkConfig`],
/// driven by an outside clock.
///
/// The owner offers packets at the instant they arrive
/// ([`offer`](Self::offer)) and calls [`advance`](Self::advance) with the
/// current instant, no earlier than [`next_deadline`](Self::next_deadline)
/// when it can; each of the link's events (end of a serialization, an
/// arrival, a middlebox's release, an up/down transition of the schedule)
/// runs at its own instant, in the simulator's order (time, then the order
/// it was scheduled in), however late `advance` comes, so a late call delays
/// the delivery of what is due but changes none of the model's decisions.
/// With the same configuration and seed, the same offers at the same
/// instants give the same deliveries at the same instants as a simulator
/// link whose random stream has that seed.
///
/// ```
/// use mptcp_sim::{Duration, Instant, LinkConfig, LinkDriver};
///
/// // 12 Mbit/s: a 1500-byte packet serializes in 1 ms, then 10 ms of delay.
/// let config = LinkConfig::new(12_000_000, Duration::from_millis(10));
/// let mut link = LinkDriver::new(config, 1).unwrap();
/// link.offer(Instant::ZERO, vec![0; 1500]);
/// assert_eq!(link.next_deadline(), Some(Instant::from_micros(1000)));
/// let mut out = Vec::new();
/// link.advance(Instant::from_micros(1000), &mut out);
/// assert!(out.is_empty());
/// assert_eq!(link.next_deadline(), Some(Instant::from_micros(11_000)));
/// link.advance(Instant::from_micros(11_500), &mut out);
/// assert_eq!(out, [(Instant::from_micros(11_000), vec![0; 1500])]);
/// ```
pub struct LinkDriver {
    link: Link,
    events: EventQueue,
    /// Reused buffer for what the middleboxes let through.
    middlebox_out: Vec<Vec<u8>>,
}

impl LinkDriver {
    /// A link with `config` whose random stream is seeded by `seed`; its
    /// up/down schedule counts from [`Instant::ZERO`].
    ///
    /// # Errors
    /// If `config` fails [`LinkConfig::validate`].
    pub fn new(config: LinkConfig, seed: u64) -> Result<LinkDriver, ConfigError> {
        config.validate()?;
        let mut events = EventQueue::default();
        let mut schedule = config.schedule.clone();
        schedule.sort_by_key(|&(at, _)| at);
        for (at, state) in schedule {
            let up = state == LinkState::Up;
            events.push(at, Event::LinkState { link: ME, up });
        }
        Ok(LinkDriver {
            link: Link::new(config, ChaCha8Rng::seed_from_u64(seed)),
            events,
            middlebox_out: Vec::new(),
        })
    }

    /// The link's configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.link.config
    }

    /// What the link did so far.
    pub fn stats(&self) -> &LinkStats {
        &self.link.stats
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// When the next event is due, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.events.peek_time()
    }

    /// Offers `packet` to the link at `now` (call [`advance`](Self::advance)
    /// up to `now` first). A packet the link refuses is counted in
    /// [`stats`](Self::stats) and freed. On an infinite-rate link without
    /// delay the packet is due at once: the next [`advance`](Self::advance)
    /// delivers it.
    pub fn offer(&mut self, now: Instant, packet: Vec<u8>) {
        let l = &mut self.link;
        l.stats.offered_packets += 1;
        l.stats.offered_bytes += packet.len() as u64;
        if !l.is_up() {
            l.stats.dropped.add(DropReason::LinkDown, packet.len());
            return;
        }
        if !l.has_middleboxes() {
            return self.enqueue(now, packet);
        }
        l.middlebox_stats.inspected_packets += 1;
        let mut out = std::mem::take(&mut self.middlebox_out);
        let hold = self.link.run_middleboxes(now, 0, packet, &mut out);
        self.after_middleboxes(now, hold, &mut out);
        self.middlebox_out = out;
    }

    /// Runs every event due at or before `now`, each at its own instant, and
    /// pushes the packets that reached the far end onto `out` with the
    /// instant each arrived (in arrival order).
    pub fn advance(&mut self, now: Instant, out: &mut Vec<(Instant, Vec<u8>)>) {
        while self.events.peek_time().is_some_and(|at| at <= now) {
            let Some((at, event)) = self.events.pop() else {
                break;
            };
            self.dispatch(at, event, out);
        }
    }

    fn dispatch(&mut self, at: Instant, event: Event, out: &mut Vec<(Instant, Vec<u8>)>) {
        match event {
            Event::TxDone { epoch, .. } => self.on_tx_done(at, epoch),
            Event::Arrive { .. } => {
                if let Some((head, next)) = self.link.take_arrival() {
                    if let Some(next) = next {
                        self.events.push(next, Event::Arrive { link: ME });
                    }
                    self.deliver(at, head.packet, head.epoch, out);
                }
            }
            Event::Deliver { packet, epoch, .. } => self.deliver(at, packet, epoch, out),
            Event::MiddleboxRelease { epoch, .. } => {
                if self.link.epoch == epoch {
                    let mut released = std::mem::take(&mut self.middlebox_out);
                    let hold = self.link.release_middleboxes(at, &mut released);
                    self.after_middleboxes(at, hold, &mut released);
                    self.middlebox_out = released;
                }
            }
            Event::LinkState { up, .. } => {
                let state = if up { LinkState::Up } else { LinkState::Down };
                self.link.set_state(state);
            }
            Event::Timer { .. } | Event::Wake { .. } => {}
        }
    }

    fn after_middleboxes(&mut self, now: Instant, hold: Option<Instant>, out: &mut Vec<Vec<u8>>) {
        if let Some(at) = hold {
            let epoch = self.link.epoch;
            let event = Event::MiddleboxRelease { link: ME, epoch };
            self.events.push(at.max(now), event);
        }
        for packet in out.drain(..) {
            self.enqueue(now, packet);
        }
    }

    fn enqueue(&mut self, now: Instant, packet: Vec<u8>) {
        match self.link.enqueue(now, packet) {
            Offer::Dropped(..) => {}
            Offer::Queued { tx_done, .. } => {
                if let Some(at) = tx_done {
                    let epoch = self.link.epoch;
                    self.events.push(at, Event::TxDone { link: ME, epoch });
                }
            }
            Offer::Departs(packet) => self.depart(now, packet),
        }
    }

    fn on_tx_done(&mut self, now: Instant, epoch: u64) {
        if self.link.epoch != epoch {
            return;
        }
        let Some((packet, next)) = self.link.finish_tx() else {
            return;
        };
        if let Some(at) = next {
            self.events.push(at, Event::TxDone { link: ME, epoch });
        }
        self.depart(now, packet);
    }

    /// `packet` finished serializing at `now`: lose it, or send it on its way.
    fn depart(&mut self, now: Instant, packet: Vec<u8>) {
        let Fate::Arrives {
            at,
            duplicate,
            reordered,
        } = self.link.depart(now, packet.len())
        else {
            return;
        };
        let copy = duplicate.then(|| packet.clone());
        for packet in std::iter::once(packet).chain(copy) {
            let epoch = self.link.epoch;
            if reordered {
                let event = Event::Deliver {
                    link: ME,
                    packet,
                    epoch,
                };
                self.events.push(at, event);
            } else if self.link.put_on_wire(at, packet) {
                self.events.push(at, Event::Arrive { link: ME });
            }
        }
    }

    fn deliver(
        &mut self,
        at: Instant,
        packet: Vec<u8>,
        epoch: u64,
        out: &mut Vec<(Instant, Vec<u8>)>,
    ) {
        let l = &mut self.link;
        if l.epoch != epoch {
            l.stats.dropped.add(DropReason::LinkDown, packet.len());
            return;
        }
        l.stats.delivered_packets += 1;
        l.stats.delivered_bytes += packet.len() as u64;
        out.push((at, packet));
    }
}

#[cfg(test)]
mod tests;
