//! The event queue: a binary heap keyed by (time, insertion sequence).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use mptcp_proto::time::Instant;

use crate::node::{LinkId, NodeId};

/// Something that happens at an instant.
#[derive(Debug)]
pub(crate) enum Event {
    /// The head of a link's wire (its oldest in-order packet) arrives.
    Arrive { link: LinkId },
    /// A reordered packet reaches the far end of a link out of band. `epoch`
    /// is the link's epoch when it left; a link that went down meanwhile
    /// loses it.
    Deliver {
        link: LinkId,
        packet: Vec<u8>,
        epoch: u64,
    },
    /// The link finished serializing its head-of-line packet.
    TxDone { link: LinkId, epoch: u64 },
    /// A node's timer, valid only if `generation` is still the node's current.
    Timer { node: NodeId, generation: u64 },
    /// Resume draining a node that hit the per-step transmit cap.
    Wake { node: NodeId },
    /// A scheduled up/down transition of a link.
    LinkState { link: LinkId, up: bool },
    /// A middlebox of a link may release a packet it held back, if the
    /// link has not gone down since (`epoch`).
    MiddleboxRelease { link: LinkId, epoch: u64 },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that the max-heap pops the earliest (time, sequence).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events in (time, insertion) order: equal times pop first-in first-out.
#[derive(Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `at`.
    pub(crate) fn push(&mut self, at: Instant, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq, event });
    }

    /// The time of the next event.
    pub(crate) fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|s| s.at)
    }

    /// Removes and returns the next event.
    pub(crate) fn pop(&mut self) -> Option<(Instant, Event)> {
        self.heap.pop().map(|s| (s.at, s.event))
    }

    /// Number of queued events.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_on_ties() {
        let mut q = EventQueue::default();
        let t = Instant::from_micros;
        q.push(t(5), Event::Wake { node: NodeId(0) });
        q.push(t(1), Event::Wake { node: NodeId(1) });
        q.push(t(5), Event::Wake { node: NodeId(2) });
        q.push(t(1), Event::Wake { node: NodeId(3) });
        let order: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(at, e)| match e {
                Event::Wake { node } => (at.as_micros(), node.0),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [(1, 1), (1, 3), (5, 0), (5, 2)]);
    }
}
