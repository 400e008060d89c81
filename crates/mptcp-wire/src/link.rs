//! pcap link types, and stripping the link-layer header to reach IP.
//!
//! Supported: BSD null/loopback (0) and OpenBSD loop (108), Ethernet (1,
//! with any number of 802.1Q / 802.1ad VLAN tags), PPP (9, and 50 in
//! HDLC-like framing; ns-3 writes these), Linux cooked capture v1 (113) and
//! v2 (276), and raw IP (101, 12, 228, 229). Frames that carry
//! something other than IP parse fine and say so ([`LinkProtocol::Other`]).

use crate::bytes::Reader;
use crate::error::{ParseError, ParseErrorKind};

/// A pcap link type (open: any `u32`; the constants are those handled here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP (RFC 1661), optionally with HDLC-like framing (RFC 1662).
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP, as `DLT_RAW` is numbered on some systems.
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: 4-byte address family in network order.
    pub const LOOP: LinkType = LinkType(108);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// Linux cooked capture v1 (16-byte header).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (20-byte header).
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkProtocol {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// IP, version not stated by the link layer (raw IP link types).
    Ip,
    /// Something else: the ethertype, or the address family for loopback.
    Other(u32),
}

impl LinkProtocol {
    /// Whether the payload is an IP packet.
    pub fn is_ip(self) -> bool {
        !matches!(self, LinkProtocol::Other(_))
    }
}

/// Linux cooked capture packet type (open newtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketType(pub u16);

impl PacketType {
    /// Addressed to the capturing host.
    pub const HOST: PacketType = PacketType(0);
    /// Broadcast.
    pub const BROADCAST: PacketType = PacketType(1);
    /// Multicast.
    pub const MULTICAST: PacketType = PacketType(2);
    /// Addressed to another host.
    pub const OTHERHOST: PacketType = PacketType(3);
    /// Sent by the capturing host.
    pub const OUTGOING: PacketType = PacketType(4);
}

/// A frame with its link-layer header stripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkFrame<'a> {
    /// What the payload is.
    pub protocol: LinkProtocol,
    /// Direction, for Linux cooked captures.
    pub packet_type: Option<PacketType>,
    /// Bytes after the link-layer header.
    pub payload: &'a [u8],
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

fn by_ethertype(ethertype: u16) -> LinkProtocol {
    match ethertype {
        ETHERTYPE_IPV4 => LinkProtocol::Ipv4,
        ETHERTYPE_IPV6 => LinkProtocol::Ipv6,
        other => LinkProtocol::Other(u32::from(other)),
    }
}

fn by_family(af: u32) -> LinkProtocol {
    match af {
        2 => LinkProtocol::Ipv4,
        // Linux, the BSDs and macOS number AF_INET6 differently.
        10 | 24 | 28 | 30 => LinkProtocol::Ipv6,
        other => LinkProtocol::Other(other),
    }
}

/// Strip the link-layer header of `frame`, captured with link type `link`.
pub fn parse_link(link: LinkType, frame: &[u8]) -> Result<LinkFrame<'_>, ParseError> {
    let mut r = Reader::new(frame);
    let (protocol, packet_type) = match link {
        LinkType::RAW | LinkType::RAW_12 | LinkType::IPV4 | LinkType::IPV6 => {
            (LinkProtocol::Ip, None)
        }
        LinkType::ETHERNET => (ethernet(&mut r)?, None),
        LinkType::PPP | LinkType::PPP_HDLC => (ppp(&mut r, frame)?, None),
        LinkType::LINUX_SLL => {
            let packet_type = PacketType(r.u16("Linux cooked packet type")?);
            r.slice(12, "Linux cooked header")?;
            let ethertype = r.u16("Linux cooked protocol")?;
            (by_ethertype(ethertype), Some(packet_type))
        }
        LinkType::LINUX_SLL2 => {
            let ethertype = r.u16("Linux cooked v2 protocol")?;
            r.slice(8, "Linux cooked v2 header")?;
            let packet_type = PacketType(u16::from(r.u8("Linux cooked v2 packet type")?));
            r.slice(9, "Linux cooked v2 header")?;
            (by_ethertype(ethertype), Some(packet_type))
        }
        LinkType::NULL => {
            let af = r.array::<4>("loopback address family")?;
            let (le, be) = (u32::from_le_bytes(af), u32::from_be_bytes(af));
            // Host byte order of the capturing machine: try both.
            match by_family(le) {
                LinkProtocol::Other(_) => (by_family(be), None),
                known => (known, None),
            }
        }
        LinkType::LOOP => (by_family(r.u32("loop address family")?), None),
        LinkType(other) => {
            return Err(ParseError::new(
                ParseErrorKind::UnsupportedLinkType(other),
                0,
            ));
        }
    };
    Ok(LinkFrame {
        protocol,
        packet_type,
        payload: r.rest(),
    })
}

/// Ethernet header and VLAN tags; the reader ends at the payload.
fn ethernet(r: &mut Reader<'_>) -> Result<LinkProtocol, ParseError> {
    r.slice(12, "Ethernet addresses")?;
    loop {
        let ethertype = r.u16("ethertype")?;
        match ethertype {
            // 802.1Q, 802.1ad, and the old QinQ value: a tag, then the type.
            0x8100 | 0x88a8 | 0x9100 => {
                r.u16("VLAN tag")?;
            }
            _ => return Ok(by_ethertype(ethertype)),
        }
    }
}

/// PPP framing and protocol field; the reader ends at the payload.
fn ppp(r: &mut Reader<'_>, frame: &[u8]) -> Result<LinkProtocol, ParseError> {
    // HDLC-like framing: all-stations address 0xff, control 0x03.
    if frame.starts_with(&[0xff, 0x03]) {
        r.u16("PPP address and control")?;
    }
    // The protocol field is one byte when compressed (its low bit is set).
    let first = r.u8("PPP protocol")?;
    let protocol = if first & 1 == 1 {
        u16::from(first)
    } else {
        u16::from(first) << 8 | u16::from(r.u8("PPP protocol")?)
    };
    Ok(match protocol {
        0x0021 => LinkProtocol::Ipv4,
        0x0057 => LinkProtocol::Ipv6,
        other => LinkProtocol::Other(u32::from(other)),
    })
}

/// The IP packet inside `frame`, or `None` when the frame is not IP.
pub fn strip_link(link: LinkType, frame: &[u8]) -> Result<Option<&[u8]>, ParseError> {
    let f = parse_link(link, frame)?;
    Ok(f.protocol.is_ip().then_some(f.payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn ethernet_with_vlan_tags() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x88, 0xa8, 0x00, 0x07, 0x08, 0x00]);
        frame.extend_from_slice(&IP);
        assert_eq!(strip_link(LinkType::ETHERNET, &frame), Ok(Some(&IP[..])));
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 1, 2]);
        let f = parse_link(LinkType::ETHERNET, &arp).unwrap();
        assert_eq!(f.protocol, LinkProtocol::Other(0x0806));
        assert_eq!(strip_link(LinkType::ETHERNET, &arp), Ok(None));
    }

    #[test]
    fn truncated_headers_are_errors() {
        let e = strip_link(LinkType::ETHERNET, &[0; 13]).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::Truncated { .. }));
        assert_eq!(e.offset, 12);
        assert!(strip_link(LinkType::LINUX_SLL, &[0; 15]).is_err());
        assert!(strip_link(LinkType::LINUX_SLL2, &[0; 19]).is_err());
        assert!(strip_link(LinkType::NULL, &[2, 0, 0]).is_err());
    }

    #[test]
    fn cooked_captures() {
        let mut v1 = vec![0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
        v1.extend_from_slice(&IP);
        let f = parse_link(LinkType::LINUX_SLL, &v1).unwrap();
        assert_eq!(f.protocol, LinkProtocol::Ipv6);
        assert_eq!(f.packet_type, Some(PacketType::OUTGOING));
        assert_eq!(f.payload, &IP);
        let mut v2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        v2.extend_from_slice(&IP);
        let f = parse_link(LinkType::LINUX_SLL2, &v2).unwrap();
        assert_eq!(f.protocol, LinkProtocol::Ipv4);
        assert_eq!(f.packet_type, Some(PacketType::HOST));
        assert_eq!(f.payload, &IP);
    }

    #[test]
    fn loopback_and_raw() {
        let mut le = vec![2, 0, 0, 0];
        le.extend_from_slice(&IP);
        assert_eq!(strip_link(LinkType::NULL, &le), Ok(Some(&IP[..])));
        let mut be = vec![0, 0, 0, 30];
        be.extend_from_slice(&IP);
        let f = parse_link(LinkType::NULL, &be).unwrap();
        assert_eq!(f.protocol, LinkProtocol::Ipv6);
        assert_eq!(strip_link(LinkType::NULL, &[7, 0, 0, 0]), Ok(None));
        for lt in [
            LinkType::RAW,
            LinkType::RAW_12,
            LinkType::IPV4,
            LinkType::IPV6,
        ] {
            assert_eq!(strip_link(lt, &IP), Ok(Some(&IP[..])));
        }
        let mut ppp = vec![0x00, 0x21];
        ppp.extend_from_slice(&IP);
        assert_eq!(strip_link(LinkType::PPP, &ppp), Ok(Some(&IP[..])));
        let mut hdlc = vec![0xff, 0x03, 0x57];
        hdlc.extend_from_slice(&IP);
        let f = parse_link(LinkType::PPP_HDLC, &hdlc).unwrap();
        assert_eq!((f.protocol, f.payload), (LinkProtocol::Ipv6, &IP[..]));
        assert_eq!(strip_link(LinkType::PPP, &[0xc0, 0x21, 1]), Ok(None));
        assert!(strip_link(LinkType::PPP, &[0x00]).is_err());
        let e = strip_link(LinkType(147), &IP).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::UnsupportedLinkType(147));
    }
}
