//! Packet movement: host → interface → link → interface → host or router.

use std::net::IpAddr;

use super::{Kind, Simulator};
use crate::event::Event;
use crate::ip::{Prefix, packet_addrs};
use crate::link::{Fate, Offer};
use crate::middlebox::NatVerdict;
use crate::node::{IfaceId, LinkId, Node, NodeId};
use crate::observer::{DropReason, DropSite};
use mptcp_proto::time::Instant;

impl<N: Node> Simulator<N> {
    /// A host emitted `packet`: leave through the interface of the host
    /// route matching its destination, else through the interface owning its
    /// source.
    pub(super) fn host_send(&mut self, id: NodeId, packet: Vec<u8>) {
        let Some((src, dst)) = packet_addrs(&packet) else {
            return self.drop_in_node(id, DropReason::Malformed, packet);
        };
        let slot = &self.nodes[id.0];
        let by_source = || {
            let i = slot
                .ifaces
                .iter()
                .position(|i| i.config.addrs.contains(&src));
            i.map(IfaceId)
        };
        match longest_match(&slot.routes, dst).or_else(by_source) {
            Some(iface) => self.iface_emit(id, iface, packet),
            None => self.drop_in_node(id, DropReason::NoSourceIface, packet),
        }
    }

    /// A router forwards `packet` by longest-prefix match on its destination.
    fn route(&mut self, id: NodeId, packet: Vec<u8>) {
        let Some((_, dst)) = packet_addrs(&packet) else {
            return self.drop_in_node(id, DropReason::Malformed, packet);
        };
        match longest_match(&self.nodes[id.0].routes, dst) {
            Some(iface) => self.iface_emit(id, iface, packet),
            None => self.drop_in_node(id, DropReason::NoRoute, packet),
        }
    }

    /// `packet` leaves `node` through `iface`: MTU check, then the link.
    fn iface_emit(&mut self, node: NodeId, iface: IfaceId, packet: Vec<u8>) {
        for o in &mut self.observers {
            o.on_sent(self.now, node, iface, &packet);
        }
        let i = &mut self.nodes[node.0].ifaces[iface.0];
        i.stats.sent_packets += 1;
        i.stats.sent_bytes += packet.len() as u64;
        i.stats.sent_series.record(self.now, packet.len());
        let reason = if packet.len() > i.config.mtu as usize {
            DropReason::IfaceMtu
        } else if let Some(link) = i.link {
            return self.link_offer(link, packet);
        } else {
            DropReason::NotConnected
        };
        i.stats.dropped.add(reason, packet.len());
        self.report_drop(DropSite::Iface(node, iface), reason, packet);
    }

    /// `packet` enters `link`: state check, NAT, middleboxes, then the
    /// queue (see [`LinkConfig`](crate::LinkConfig)'s stages).
    fn link_offer(&mut self, link: LinkId, mut packet: Vec<u8>) {
        let l = &mut self.links[link.0];
        l.stats.offered_packets += 1;
        l.stats.offered_bytes += packet.len() as u64;
        if !l.is_up() {
            l.stats.dropped.add(DropReason::LinkDown, packet.len());
            return self.report_drop(DropSite::Link(link), DropReason::LinkDown, packet);
        }
        let nat = self.wiring[link.0].nat;
        if nat.is_none() && !l.has_middleboxes() {
            return self.link_enqueue(link, packet);
        }
        l.middlebox_stats.inspected_packets += 1;
        if let Some((nat, side)) = nat {
            let verdict = self.nats[nat].translate(side, &mut packet, &mut l.middlebox_stats);
            if verdict == NatVerdict::Drop {
                l.stats.dropped.add(DropReason::Middlebox, packet.len());
                return self.report_drop(DropSite::Link(link), DropReason::Middlebox, packet);
            }
        }
        let mut out = std::mem::take(&mut self.middlebox_out);
        let hold = self.links[link.0].run_middleboxes(self.now, 0, packet, &mut out);
        self.after_middleboxes(link, hold, &mut out);
        self.middlebox_out = out;
    }

    /// A middlebox of `link` may release what it holds.
    pub(super) fn on_middlebox_release(&mut self, link: LinkId, epoch: u64) {
        if self.links[link.0].epoch != epoch {
            return;
        }
        let mut out = std::mem::take(&mut self.middlebox_out);
        let hold = self.links[link.0].release_middleboxes(self.now, &mut out);
        self.after_middleboxes(link, hold, &mut out);
        self.middlebox_out = out;
    }

    /// Schedules the release of what `link`'s middleboxes started holding,
    /// and enqueues what they let through.
    fn after_middleboxes(&mut self, link: LinkId, hold: Option<Instant>, out: &mut Vec<Vec<u8>>) {
        if let Some(at) = hold {
            let epoch = self.links[link.0].epoch;
            self.events
                .push(at.max(self.now), Event::MiddleboxRelease { link, epoch });
        }
        for packet in out.drain(..) {
            self.link_enqueue(link, packet);
        }
    }

    /// `packet`, past the middleboxes, is offered to `link`'s queue.
    fn link_enqueue(&mut self, link: LinkId, packet: Vec<u8>) {
        match self.links[link.0].enqueue(self.now, packet) {
            Offer::Dropped(reason, packet) => {
                self.report_drop(DropSite::Link(link), reason, packet);
            }
            Offer::Queued {
                queue_bytes,
                tx_done,
            } => {
                let l = &self.links[link.0];
                for o in &mut self.observers {
                    o.on_enqueued(self.now, link, l.last_queued(), queue_bytes);
                }
                if let Some(at) = tx_done {
                    self.events.push(
                        at,
                        Event::TxDone {
                            link,
                            epoch: l.epoch,
                        },
                    );
                }
            }
            Offer::Departs(packet) => {
                for o in &mut self.observers {
                    o.on_enqueued(self.now, link, &packet, packet.len() as u64);
                }
                self.depart(link, packet);
            }
        }
    }

    pub(super) fn on_tx_done(&mut self, link: LinkId, epoch: u64) {
        let l = &mut self.links[link.0];
        if l.epoch != epoch {
            return;
        }
        let Some((packet, next)) = l.finish_tx() else {
            return;
        };
        if let Some(at) = next {
            self.events.push(at, Event::TxDone { link, epoch });
        }
        self.depart(link, packet);
    }

    /// `packet` finished serializing: lose it, or send it on its way.
    fn depart(&mut self, link: LinkId, packet: Vec<u8>) {
        let l = &mut self.links[link.0];
        let (at, duplicate, reordered) = match l.depart(self.now, packet.len()) {
            Fate::Lost => return self.report_drop(DropSite::Link(link), DropReason::Loss, packet),
            Fate::Arrives {
                at,
                duplicate,
                reordered,
            } => (at, duplicate, reordered),
        };
        let copy = duplicate.then(|| {
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(&packet);
            copy
        });
        for packet in std::iter::once(packet).chain(copy) {
            if reordered {
                let epoch = self.links[link.0].epoch;
                self.events.push(
                    at,
                    Event::Deliver {
                        link,
                        packet,
                        epoch,
                    },
                );
            } else if self.links[link.0].put_on_wire(at, packet) {
                self.events.push(at, Event::Arrive { link });
            }
        }
    }

    /// The head of `link`'s wire arrives; the next head is scheduled first.
    pub(super) fn on_arrive(&mut self, link: LinkId) {
        let Some((head, next)) = self.links[link.0].take_arrival() else {
            return;
        };
        if let Some(at) = next {
            self.events.push(at, Event::Arrive { link });
        }
        self.on_deliver(link, head.packet, head.epoch);
    }

    /// `packet` reaches the far end of `link`.
    pub(super) fn on_deliver(&mut self, link: LinkId, packet: Vec<u8>, epoch: u64) {
        let l = &mut self.links[link.0];
        if l.epoch != epoch {
            l.stats.dropped.add(DropReason::LinkDown, packet.len());
            return self.report_drop(DropSite::Link(link), DropReason::LinkDown, packet);
        }
        l.stats.delivered_packets += 1;
        l.stats.delivered_bytes += packet.len() as u64;
        let (node, iface) = self.wiring[link.0].to;
        let slot = &mut self.nodes[node.0];
        let stats = &mut slot.ifaces[iface.0].stats;
        stats.received_packets += 1;
        stats.received_bytes += packet.len() as u64;
        stats.received_series.record(self.now, packet.len());
        for o in &mut self.observers {
            o.on_delivered(self.now, link, node, iface, &packet);
        }
        match &mut slot.kind {
            Kind::Host(host) => {
                host.handle(self.now, iface, &packet);
                self.recycle(packet);
                self.service(node);
            }
            Kind::Router => self.route(node, packet),
        }
    }

    fn drop_in_node(&mut self, id: NodeId, reason: DropReason, packet: Vec<u8>) {
        self.stats.dropped.add(reason, packet.len());
        self.report_drop(DropSite::Node(id), reason, packet);
    }

    /// Tells observers about a drop (already counted) and recycles the buffer.
    pub(super) fn report_drop(&mut self, site: DropSite, reason: DropReason, packet: Vec<u8>) {
        for o in &mut self.observers {
            o.on_dropped(self.now, site, reason, &packet);
        }
        self.recycle(packet);
    }
}

/// The interface of the longest prefix in `routes` containing `dst`; the
/// first added among equal lengths.
fn longest_match(routes: &[(Prefix, IfaceId)], dst: IpAddr) -> Option<IfaceId> {
    let mut best: Option<(u8, IfaceId)> = None;
    for &(prefix, iface) in routes {
        if prefix.contains(dst) && best.is_none_or(|(len, _)| prefix.len() > len) {
            best = Some((prefix.len(), iface));
        }
    }
    best.map(|(_, iface)| iface)
}
