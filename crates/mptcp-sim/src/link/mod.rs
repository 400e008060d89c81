//! One direction of a link: queue, transmitter and the fate of each packet.
//!
//! The link decides; the simulator schedules. Every method here is a pure
//! state transition over the link's own queue, clock remainder and random
//! stream.

pub mod config;
pub mod driver;
pub mod loss;
pub mod trace;

use std::collections::VecDeque;

use mptcp_proto::time::{Duration, Instant};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::middlebox::{Ctx, MiddleboxState, MiddleboxStats};
use crate::observer::DropReason;
use crate::stats::LinkStats;
use config::{LinkConfig, LinkState};
use trace::TraceCursor;

/// The runtime state of a one-way link: the model, whoever owns the clock
/// (the simulator's event queue, or [`driver::LinkDriver`] on any clock).
pub(crate) struct Link {
    pub(crate) config: LinkConfig,
    pub(crate) stats: LinkStats,
    /// What the link's middleboxes did.
    pub(crate) middlebox_stats: MiddleboxStats,
    /// The runtime state of each middlebox (grown as middleboxes are added).
    middlebox_state: Vec<MiddleboxState>,
    /// Reused buffers for packets between middleboxes.
    batch: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    /// Bumped on every transition to down; packets and transmissions of an
    /// older epoch are lost.
    pub(crate) epoch: u64,
    up: bool,
    queue_limit: u64,
    queue: VecDeque<Vec<u8>>,
    queue_bytes: u64,
    /// End of the latest serialization, in nanoseconds (keeps the sub-µs
    /// remainder so a busy link runs at exactly its rate).
    busy_until_ns: u64,
    /// Where a trace-driven transmitter stands in its trace.
    cursor: TraceCursor,
    /// Whether the Gilbert-Elliott chain is in its bad state.
    burst_bad: bool,
    /// The latest in-order arrival time, to keep jitter FIFO.
    last_arrival: Instant,
    /// In-order packets propagating, by arrival time (non-decreasing). Only
    /// the head has an event in the simulator's queue, which keeps the heap
    /// small on links with a large bandwidth-delay product.
    wire: VecDeque<InFlight>,
    rng: ChaCha8Rng,
}

/// A packet propagating on a link.
pub(crate) struct InFlight {
    /// When it reaches the far end.
    pub(crate) at: Instant,
    /// The link's epoch when it left; a link that went down since loses it.
    pub(crate) epoch: u64,
    pub(crate) packet: Vec<u8>,
}

/// What became of a packet offered to a link.
pub(crate) enum Offer {
    /// Refused; the packet is handed back for reporting.
    Dropped(DropReason, Vec<u8>),
    /// Accepted into the queue, which now holds `queue_bytes`. If the
    /// transmitter was idle it started, and finishes at `tx_done`.
    Queued {
        queue_bytes: u64,
        tx_done: Option<Instant>,
    },
    /// An infinite-rate link: the packet leaves the queue at once.
    Departs(Vec<u8>),
}

/// What happens to a packet after serialization.
pub(crate) enum Fate {
    /// Lost on the wire.
    Lost,
    /// Arrives at `at`, twice if `duplicate`; after every packet that left
    /// before it unless `reordered`.
    Arrives {
        at: Instant,
        duplicate: bool,
        reordered: bool,
    },
}

impl Link {
    pub(crate) fn new(config: LinkConfig, rng: ChaCha8Rng) -> Link {
        Link {
            queue_limit: config.queue_limit(),
            config,
            stats: LinkStats::default(),
            middlebox_stats: MiddleboxStats::default(),
            middlebox_state: Vec::new(),
            batch: (Vec::new(), Vec::new()),
            epoch: 0,
            up: true,
            queue: VecDeque::new(),
            queue_bytes: 0,
            busy_until_ns: 0,
            cursor: TraceCursor::default(),
            burst_bad: false,
            last_arrival: Instant::ZERO,
            wire: VecDeque::new(),
            rng,
        }
    }

    /// Whether the link is up.
    pub(crate) fn is_up(&self) -> bool {
        self.up
    }

    /// The packet most recently accepted into the queue.
    pub(crate) fn last_queued(&self) -> &[u8] {
        self.queue.back().map_or(&[], Vec::as_slice)
    }

    /// Whether the link runs middleboxes.
    pub(crate) fn has_middleboxes(&self) -> bool {
        !self.config.middleboxes.is_empty()
    }

    /// Runs `packet` through middleboxes `from..` in order at `now`, pushing
    /// what comes out onto `out`. Returns the earliest release time of a
    /// packet a middlebox started holding (the caller schedules it).
    pub(crate) fn run_middleboxes(
        &mut self,
        now: Instant,
        from: usize,
        packet: Vec<u8>,
        out: &mut Vec<Vec<u8>>,
    ) -> Option<Instant> {
        let n = self.config.middleboxes.len();
        self.middlebox_state.resize_with(n, MiddleboxState::default);
        let ctx = Ctx {
            now,
            mtu: self.config.mtu as usize,
        };
        let (mut cur, mut next) = std::mem::take(&mut self.batch);
        cur.push(packet);
        let mut hold: Option<Instant> = None;
        for k in from..n {
            let state = &mut self.middlebox_state[k];
            let before = state.deadline();
            for p in cur.drain(..) {
                let m = &self.config.middleboxes[k];
                m.apply(state, ctx, p, &mut next, &mut self.middlebox_stats);
            }
            let after = state.deadline();
            if after != before
                && let Some(at) = after
            {
                hold = Some(hold.map_or(at, |h| h.min(at)));
            }
            std::mem::swap(&mut cur, &mut next);
        }
        out.append(&mut cur);
        self.batch = (cur, next);
        hold
    }

    /// Releases what the middleboxes hold whose time is over at `now`,
    /// through the middleboxes after the one that held it, onto `out`.
    /// Returns the earliest release time of a packet held anew.
    pub(crate) fn release_middleboxes(
        &mut self,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) -> Option<Instant> {
        let mut hold: Option<Instant> = None;
        let mut released = Vec::new();
        for k in 0..self.middlebox_state.len() {
            let m = &self.config.middleboxes[k];
            m.release_due(&mut self.middlebox_state[k], now, &mut released);
            for p in released.drain(..) {
                if let Some(at) = self.run_middleboxes(now, k + 1, p, out) {
                    hold = Some(hold.map_or(at, |h| h.min(at)));
                }
            }
        }
        hold
    }

    /// Offers a packet that passed the middleboxes at `now`: MTU and queue
    /// checks, then enqueue.
    pub(crate) fn enqueue(&mut self, now: Instant, packet: Vec<u8>) -> Offer {
        let len = packet.len() as u64;
        let refused = if len > u64::from(self.config.mtu) {
            Some(DropReason::LinkMtu)
        } else if self.config.is_infinite() {
            return Offer::Departs(packet);
        } else if self.queue_bytes + len > self.queue_limit {
            Some(DropReason::QueueFull)
        } else {
            None
        };
        if let Some(reason) = refused {
            self.stats.dropped.add(reason, packet.len());
            return Offer::Dropped(reason, packet);
        }
        self.queue.push_back(packet);
        self.queue_bytes += len;
        self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queue_bytes);
        let tx_done =
            (self.queue.len() == 1).then(|| self.start_tx(now.as_micros().saturating_mul(1000)));
        Offer::Queued {
            queue_bytes: self.queue_bytes,
            tx_done,
        }
    }

    /// Starts serializing the head of the queue no earlier than `now_ns`;
    /// returns when it is done.
    fn start_tx(&mut self, now_ns: u64) -> Instant {
        if let Some(trace) = &self.config.trace {
            let len = self.queue.front().map_or(0, Vec::len);
            let now = Instant::from_micros(now_ns.div_ceil(1000));
            let done = self.cursor.send(trace, now, len);
            self.busy_until_ns = done.as_micros().saturating_mul(1000);
            return done;
        }
        let len = self.queue.front().map_or(0, Vec::len) as u128;
        let rate = u128::from(self.config.rate_bps.max(1));
        let tx_ns = (len * 8 * 1_000_000_000).div_ceil(rate);
        let start = now_ns.max(self.busy_until_ns);
        self.busy_until_ns = start.saturating_add(u64::try_from(tx_ns).unwrap_or(u64::MAX));
        Instant::from_micros(self.busy_until_ns.div_ceil(1000))
    }

    /// The head of the queue finished serializing: dequeue it. Returns it and,
    /// if another packet was waiting, when that one finishes (back to back).
    pub(crate) fn finish_tx(&mut self) -> Option<(Vec<u8>, Option<Instant>)> {
        let packet = self.queue.pop_front()?;
        self.queue_bytes -= packet.len() as u64;
        let next = (!self.queue.is_empty()).then(|| self.start_tx(self.busy_until_ns));
        if next.is_none() {
            self.cursor.idle();
        }
        Some((packet, next))
    }

    /// Draws the fate of a packet of `len` bytes that left the transmitter at
    /// `now`: loss, burst loss, duplication, jitter, reordering and
    /// batching, in that order.
    pub(crate) fn depart(&mut self, now: Instant, len: usize) -> Fate {
        let c = &self.config;
        let lost = (c.loss > 0.0 && self.rng.random_bool(c.loss))
            || c.burst_loss
                .is_some_and(|ge| ge.step(&mut self.burst_bad, &mut self.rng));
        if lost {
            self.stats.dropped.add(DropReason::Loss, len);
            return Fate::Lost;
        }
        let duplicate = c.duplicate > 0.0 && self.rng.random_bool(c.duplicate);
        let jitter = match c.jitter.as_micros() {
            0 => 0,
            j => self.rng.random_range(0..=j),
        };
        let mut at = now + c.delay + Duration::from_micros(jitter);
        let reordered = c.reorder > 0.0 && self.rng.random_bool(c.reorder);
        let batch = c.batch.as_micros();
        if reordered {
            at = loss::batch_release(at + c.reorder_delay, batch);
            self.stats.reordered += 1;
        } else {
            at = loss::batch_release(at, batch).max(self.last_arrival);
            self.last_arrival = at;
        }
        if duplicate {
            self.stats.duplicated += 1;
        }
        Fate::Arrives {
            at,
            duplicate,
            reordered,
        }
    }

    /// Puts an in-order packet on the wire; returns whether it is the head
    /// (then the caller schedules its arrival).
    pub(crate) fn put_on_wire(&mut self, at: Instant, packet: Vec<u8>) -> bool {
        debug_assert!(self.wire.back().is_none_or(|last| last.at <= at));
        self.wire.push_back(InFlight {
            at,
            epoch: self.epoch,
            packet,
        });
        self.wire.len() == 1
    }

    /// Takes the head of the wire; returns it and the next head's arrival.
    pub(crate) fn take_arrival(&mut self) -> Option<(InFlight, Option<Instant>)> {
        let head = self.wire.pop_front()?;
        Some((head, self.wire.front().map(|next| next.at)))
    }

    /// Applies a transition. Going down returns every queued packet (all
    /// dropped, counted here) and invalidates packets in flight.
    pub(crate) fn set_state(&mut self, state: LinkState) -> Option<VecDeque<Vec<u8>>> {
        match (self.up, state) {
            (true, LinkState::Down) => {
                self.up = false;
                self.epoch += 1;
                self.queue_bytes = 0;
                self.busy_until_ns = 0;
                self.cursor.idle();
                let mut dropped = std::mem::take(&mut self.queue);
                dropped.extend(
                    self.middlebox_state
                        .iter_mut()
                        .filter_map(MiddleboxState::take_held),
                );
                for p in &dropped {
                    self.stats.dropped.add(DropReason::LinkDown, p.len());
                }
                Some(dropped)
            }
            (false, LinkState::Up) => {
                self.up = true;
                Some(VecDeque::new())
            }
            _ => None,
        }
    }
}
