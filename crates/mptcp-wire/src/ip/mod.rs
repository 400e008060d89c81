//! IPv4 and IPv6 headers: checked views and emitters.
//!
//! The views tolerate captures cut short by a snap length: the payload is
//! what was captured, up to what the length field announces, and
//! `is_truncated()` says whether bytes are missing. Bytes past the length
//! field (Ethernet padding) are not part of the payload.

mod v4;
mod v6;

#[cfg(test)]
mod tests;

pub use v4::{Ipv4Packet, Ipv4Repr};
pub use v6::{Ipv6Packet, Ipv6Repr};

use core::fmt;
use std::net::IpAddr;

use crate::error::ParseError;
use crate::tcp::TcpSegment;

/// An IP protocol number / IPv6 next-header value (open: every `u8` is a
/// value, the constants name the ones this crate knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 hop-by-hop options.
    pub const HOP_BY_HOP: IpProtocol = IpProtocol(0);
    /// ICMP.
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// TCP.
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP.
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 routing header.
    pub const IPV6_ROUTING: IpProtocol = IpProtocol(43);
    /// IPv6 fragment header.
    pub const IPV6_FRAGMENT: IpProtocol = IpProtocol(44);
    /// ICMPv6.
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    /// IPv6 "no next header".
    pub const IPV6_NO_NEXT: IpProtocol = IpProtocol(59);
    /// IPv6 destination options.
    pub const IPV6_DEST_OPTS: IpProtocol = IpProtocol(60);
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProtocol::TCP => f.write_str("tcp"),
            IpProtocol::UDP => f.write_str("udp"),
            IpProtocol::ICMP => f.write_str("icmp"),
            IpProtocol::ICMPV6 => f.write_str("icmp6"),
            IpProtocol(p) => write!(f, "proto {p}"),
        }
    }
}

/// An IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPacket<'a> {
    /// IPv4.
    V4(Ipv4Packet<'a>),
    /// IPv6.
    V6(Ipv6Packet<'a>),
}

impl<'a> IpPacket<'a> {
    /// Parse an IP packet, choosing the version from the first nibble.
    pub fn parse(bytes: &'a [u8]) -> Result<IpPacket<'a>, ParseError> {
        let first = *bytes
            .first()
            .ok_or(ParseError::truncated("IP header", 0, 1, 0))?;
        match first >> 4 {
            4 => Ipv4Packet::parse(bytes).map(IpPacket::V4),
            6 => Ipv6Packet::parse(bytes).map(IpPacket::V6),
            v => Err(ParseError::bad_value("IP version", 0, u64::from(v))),
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            IpPacket::V4(p) => IpAddr::V4(p.src()),
            IpPacket::V6(p) => IpAddr::V6(p.src()),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            IpPacket::V4(p) => IpAddr::V4(p.dst()),
            IpPacket::V6(p) => IpAddr::V6(p.dst()),
        }
    }

    /// The transport protocol (for IPv6, after the extension headers).
    pub fn protocol(&self) -> IpProtocol {
        match self {
            IpPacket::V4(p) => p.protocol(),
            IpPacket::V6(p) => p.protocol(),
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpPacket::V4(p) => p.ttl(),
            IpPacket::V6(p) => p.hop_limit(),
        }
    }

    /// The transport payload, as captured.
    pub fn payload(&self) -> &'a [u8] {
        match self {
            IpPacket::V4(p) => p.payload(),
            IpPacket::V6(p) => p.payload(),
        }
    }

    /// Offset of the transport payload from the start of the packet.
    pub fn payload_offset(&self) -> usize {
        match self {
            IpPacket::V4(p) => p.header_len(),
            IpPacket::V6(p) => p.payload_offset(),
        }
    }

    /// Whether the capture holds fewer bytes than the length field says.
    pub fn is_truncated(&self) -> bool {
        match self {
            IpPacket::V4(p) => p.is_truncated(),
            IpPacket::V6(p) => p.is_truncated(),
        }
    }

    /// Whether the packet is an IPv4 fragment (IPv6 fragments are refused by
    /// [`Ipv6Packet::parse`]).
    pub fn is_fragment(&self) -> bool {
        match self {
            IpPacket::V4(p) => p.is_fragment(),
            IpPacket::V6(_) => false,
        }
    }

    /// The TCP segment this packet carries. Errors when the protocol is not
    /// TCP, the packet is a fragment, or the TCP header is malformed; offsets
    /// count from the start of the IP packet.
    pub fn tcp(&self) -> Result<TcpSegment<'a>, ParseError> {
        let offset = self.payload_offset();
        if self.protocol() != IpProtocol::TCP {
            let value = u64::from(self.protocol().0);
            return Err(ParseError::bad_value("IP protocol (not TCP)", 0, value));
        }
        if self.is_fragment() {
            return Err(ParseError::new(
                crate::error::ParseErrorKind::Unsupported {
                    what: "IPv4 fragment",
                },
                0,
            ));
        }
        TcpSegment::parse(self.payload())
            .map(|s| s.with_base_offset(offset))
            .map_err(|e| e.shifted(offset))
    }
}
