//! A NAPT (RFC 3022) in front of one side of a path: the source address and
//! port of outbound TCP segments become the NAT's public address and a port
//! it allocates, and inbound segments to a mapped public port get the
//! private address and port back. One translation table serves both
//! directions, so it lives in the simulator
//! ([`Simulator::add_nat`](crate::Simulator::add_nat)), not in a link's
//! configuration.
//!
//! Mappings are endpoint independent (RFC 4787 §4.1: one public port per
//! private address and port, whatever the destination), created by the
//! first outbound segment of a private address and port, allocated
//! sequentially from [`Nat::FIRST_PORT`] (not port preserving, so port
//! translation is visible) and never expire. An inbound segment without a
//! mapping is dropped. Checksums are updated incrementally (RFC 1624), so
//! the translation keeps a correct checksum correct.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::segment::{Segment, sum, update_checksum};
use super::{MiddleboxStats, Verdict};

/// Offset of the IPv4 header checksum.
const IPV4_CHECKSUM: usize = 10;

/// Which way a packet crosses a [`Nat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatSide {
    /// From the private side out: the source is translated.
    Outbound,
    /// From the public side in: the destination is translated back.
    Inbound,
}

/// What a [`Nat`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatVerdict {
    /// Passed, translated or not (see the [`Verdict`]).
    Pass(Verdict),
    /// Dropped: an inbound segment without a mapping.
    Drop,
}

/// A NAPT's translation table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    public: IpAddr,
    next_port: u16,
    /// Private (address, port) to public port.
    outbound: BTreeMap<(IpAddr, u16), u16>,
    /// Public port to private (address, port).
    inbound: BTreeMap<u16, (IpAddr, u16)>,
}

impl Nat {
    /// The first public port allocated.
    pub const FIRST_PORT: u16 = 20_000;

    /// A NAT with public address `public` and an empty table.
    pub fn new(public: IpAddr) -> Nat {
        Nat {
            public,
            next_port: Nat::FIRST_PORT,
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
        }
    }

    /// The public address.
    pub fn public_addr(&self) -> IpAddr {
        self.public
    }

    /// The public port of a private address and port, if mapped.
    pub fn mapping(&self, private: (IpAddr, u16)) -> Option<u16> {
        self.outbound.get(&private).copied()
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.outbound.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty()
    }

    /// Translates `packet` crossing on `side`. Packets that are not TCP, do
    /// not parse, or are of the other address family pass unchanged.
    pub fn translate(
        &mut self,
        side: NatSide,
        packet: &mut [u8],
        stats: &mut MiddleboxStats,
    ) -> NatVerdict {
        let Some(seg) = Segment::parse(packet) else {
            stats.unparsed_packets += 1;
            return NatVerdict::Pass(Verdict::Unchanged);
        };
        if seg.src.is_ipv4() != self.public.is_ipv4() {
            return NatVerdict::Pass(Verdict::Unchanged);
        }
        match side {
            NatSide::Outbound => {
                let port = self.public_port(seg.src, seg.src_port, stats);
                rewrite_endpoint(packet, &seg, Field::Source, self.public, port);
            }
            NatSide::Inbound => {
                let private = (seg.dst == self.public)
                    .then(|| self.inbound.get(&seg.dst_port))
                    .flatten();
                let Some(&(addr, port)) = private else {
                    stats.nat_dropped += 1;
                    return NatVerdict::Drop;
                };
                rewrite_endpoint(packet, &seg, Field::Destination, addr, port);
            }
        }
        stats.nat_translated += 1;
        NatVerdict::Pass(Verdict::Rewritten)
    }

    /// The public port of (`addr`, `port`), allocated on first use.
    fn public_port(&mut self, addr: IpAddr, port: u16, stats: &mut MiddleboxStats) -> u16 {
        if let Some(&public) = self.outbound.get(&(addr, port)) {
            return public;
        }
        let mut public = self.next_port;
        // At most one lap over the port range; a full table reuses a port.
        for _ in 0..u16::MAX {
            if !self.inbound.contains_key(&public) {
                break;
            }
            public = public.checked_add(1).unwrap_or(Nat::FIRST_PORT);
        }
        self.next_port = public.checked_add(1).unwrap_or(Nat::FIRST_PORT);
        self.outbound.insert((addr, port), public);
        self.inbound.insert(public, (addr, port));
        stats.nat_mappings += 1;
        public
    }
}

/// Which end of a segment is rewritten.
#[derive(Clone, Copy)]
enum Field {
    Source,
    Destination,
}

/// Writes `addr` and `port` as the source or destination of the segment,
/// updating the IPv4 header checksum and the TCP checksum (whose
/// pseudo-header covers the addresses) incrementally.
fn rewrite_endpoint(packet: &mut [u8], seg: &Segment, field: Field, addr: IpAddr, port: u16) {
    let v4 = seg.src.is_ipv4();
    let addr_at = match (v4, field) {
        (true, Field::Source) => 12..16,
        (true, Field::Destination) => 16..20,
        (false, Field::Source) => 8..24,
        (false, Field::Destination) => 24..40,
    };
    let port_at = match field {
        Field::Source => seg.start..seg.start + 2,
        Field::Destination => seg.start + 2..seg.start + 4,
    };
    let new_addr = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let old_addr_sum = sum(packet, addr_at.clone());
    let old_sum = mptcp_wire::Checksum::new()
        .add_u16(old_addr_sum)
        .add_u16(sum(packet, port_at.clone()))
        .sum();
    if let Some(bytes) = packet.get_mut(addr_at.clone()) {
        bytes.copy_from_slice(&new_addr);
    }
    if let Some(bytes) = packet.get_mut(port_at.clone()) {
        bytes.copy_from_slice(&port.to_be_bytes());
    }
    let new_addr_sum = sum(packet, addr_at);
    let new_sum = mptcp_wire::Checksum::new()
        .add_u16(new_addr_sum)
        .add_u16(port)
        .sum();
    update_checksum(packet, seg.checksum_at(), old_sum, new_sum);
    if v4 {
        update_checksum(packet, IPV4_CHECKSUM, old_addr_sum, new_addr_sum);
    }
}
