//! The run loop: pop the earliest event, jump the clock, dispatch, poll.

use mptcp_proto::time::Instant;

use super::{Kind, Simulator};
use crate::error::SimError;
use crate::event::Event;
use crate::link::config::LinkState;
use crate::node::{LinkId, Node, NodeId};
use crate::observer::{DropReason, DropSite};

/// Why [`Simulator::run_while`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The predicate returned false.
    Predicate,
    /// No event is left: nothing will ever happen again.
    Idle,
}

impl<N: Node> Simulator<N> {
    /// The time of the next pending event.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.events.peek_time()
    }

    /// Number of pending events.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Processes the next event, if any, and returns its time.
    ///
    /// # Errors
    /// If the event would exceed [`SimConfig::max_events`](crate::SimConfig)
    /// or [`SimConfig::time_limit`](crate::SimConfig); the event stays queued.
    pub fn step(&mut self) -> Result<Option<Instant>, SimError> {
        let Some(at) = self.events.peek_time() else {
            return Ok(None);
        };
        if self.stats.events >= self.config.max_events {
            return Err(SimError::EventLimit {
                limit: self.config.max_events,
                now: self.now,
            });
        }
        if at > self.config.time_limit {
            return Err(SimError::TimeLimit {
                limit: self.config.time_limit,
                now: self.now,
            });
        }
        let Some((at, event)) = self.events.pop() else {
            return Ok(None);
        };
        self.now = self.now.max(at);
        self.stats.events += 1;
        self.dispatch(event);
        Ok(Some(at))
    }

    /// Processes every event due at or before `deadline`, then sets the clock
    /// to `deadline`.
    ///
    /// # Errors
    /// A guard rail was hit; a `deadline` past the time limit fails once the
    /// limit is reached.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), SimError> {
        while self.events.peek_time().is_some_and(|at| at <= deadline) {
            self.step()?;
        }
        if deadline > self.config.time_limit {
            self.now = self.now.max(self.config.time_limit);
            return Err(SimError::TimeLimit {
                limit: self.config.time_limit,
                now: self.now,
            });
        }
        self.now = self.now.max(deadline);
        Ok(())
    }

    /// Processes events while `keep_going(self)` holds (checked before each
    /// event) and events remain.
    ///
    /// # Errors
    /// A guard rail was hit.
    pub fn run_while(
        &mut self,
        mut keep_going: impl FnMut(&Simulator<N>) -> bool,
    ) -> Result<StopReason, SimError> {
        while keep_going(self) {
            if self.step()?.is_none() {
                return Ok(StopReason::Idle);
            }
        }
        Ok(StopReason::Predicate)
    }

    /// Processes events until none is left.
    ///
    /// # Errors
    /// A guard rail was hit (for example because a node keeps a periodic timer).
    pub fn run_until_idle(&mut self) -> Result<(), SimError> {
        while self.step()?.is_some() {}
        Ok(())
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Arrive { link } => self.on_arrive(link),
            Event::Deliver {
                link,
                packet,
                epoch,
            } => self.on_deliver(link, packet, epoch),
            Event::TxDone { link, epoch } => self.on_tx_done(link, epoch),
            Event::Timer { node, generation } => self.on_timer(node, generation),
            Event::Wake { node } => self.service(node),
            Event::MiddleboxRelease { link, epoch } => self.on_middlebox_release(link, epoch),
            Event::LinkState { link, up } => {
                self.on_link_state(link, if up { LinkState::Up } else { LinkState::Down });
            }
        }
    }

    fn on_timer(&mut self, id: NodeId, generation: u64) {
        let slot = &mut self.nodes[id.0];
        if slot.timer_generation != generation {
            self.stats.stale_timers += 1;
            return;
        }
        slot.timer = None;
        self.stats.timers_fired += 1;
        if let Kind::Host(node) = &mut slot.kind {
            node.handle_timeout(self.now);
        }
        self.service(id);
    }

    /// Drains a host's transmissions (up to the cap) and reschedules its timer.
    pub(super) fn service(&mut self, id: NodeId) {
        for _ in 0..self.config.transmit_cap {
            let Kind::Host(node) = &mut self.nodes[id.0].kind else {
                return;
            };
            let Some(len) = node.poll_transmit(self.now, &mut self.scratch) else {
                self.reschedule_timer(id);
                return;
            };
            assert!(
                len <= self.scratch.len(),
                "poll_transmit returned {len} > buffer length"
            );
            let packet = self.alloc_copy(len);
            self.stats.packets_transmitted += 1;
            self.host_send(id, packet);
        }
        self.stats.transmit_cap_hits += 1;
        self.events.push(self.now, Event::Wake { node: id });
        self.reschedule_timer(id);
    }

    fn reschedule_timer(&mut self, id: NodeId) {
        let slot = &mut self.nodes[id.0];
        let Kind::Host(node) = &slot.kind else { return };
        let want = node.poll_timeout();
        if want == slot.timer {
            return;
        }
        slot.timer_generation += 1;
        slot.timer = want;
        if let Some(at) = want {
            let generation = slot.timer_generation;
            self.events.push(
                at.max(self.now),
                Event::Timer {
                    node: id,
                    generation,
                },
            );
        }
    }

    fn on_link_state(&mut self, link: LinkId, state: LinkState) {
        let Some(dropped) = self.links[link.0].set_state(state) else {
            return;
        };
        for o in &mut self.observers {
            o.on_link_state(self.now, link, state);
        }
        for packet in dropped {
            self.report_drop(DropSite::Link(link), DropReason::LinkDown, packet);
        }
    }

    /// A copy of the first `len` scratch bytes in a recycled buffer.
    fn alloc_copy(&mut self, len: usize) -> Vec<u8> {
        let mut packet = self.pool.pop().unwrap_or_default();
        packet.clear();
        packet.extend_from_slice(&self.scratch[..len]);
        packet
    }

    /// Returns a packet buffer to the pool.
    pub(super) fn recycle(&mut self, packet: Vec<u8>) {
        if self.pool.len() < 4096 {
            self.pool.push(packet);
        }
    }
}
