//! IPv6 (RFC 8200), with the extension headers that may precede TCP.

use std::net::Ipv6Addr;

use super::IpProtocol;
use crate::bytes::{Reader, Writer, check_width};
use crate::error::{EmitError, ParseError, ParseErrorKind};

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;

/// A checked view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    fixed: &'a [u8; IPV6_HEADER_LEN],
    protocol: IpProtocol,
    payload_offset: usize,
    payload: &'a [u8],
    truncated: bool,
}

impl<'a> Ipv6Packet<'a> {
    /// Parse an IPv6 packet, skipping hop-by-hop, routing and destination
    /// options headers to reach the upper layer. A fragment header is an
    /// [`ParseErrorKind::Unsupported`] error. The payload may be cut short by
    /// the capture, but the extension headers must be complete.
    pub fn parse(bytes: &'a [u8]) -> Result<Ipv6Packet<'a>, ParseError> {
        let mut r = Reader::new(bytes);
        let fixed: &[u8; IPV6_HEADER_LEN] = r
            .slice(IPV6_HEADER_LEN, "IPv6 header")?
            .try_into()
            .map_err(|_| ParseError::truncated("IPv6 header", 0, IPV6_HEADER_LEN, bytes.len()))?;
        let version = fixed[0] >> 4;
        if version != 6 {
            return Err(ParseError::bad_value("IP version", 0, u64::from(version)));
        }
        let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
        let end = IPV6_HEADER_LEN + payload_len;
        let truncated = bytes.len() < end;
        let within = bytes.get(..end.min(bytes.len())).unwrap_or_default();
        let mut r = Reader::at(within, IPV6_HEADER_LEN);
        let mut next = IpProtocol(fixed[6]);
        loop {
            match next {
                IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_ROUTING | IpProtocol::IPV6_DEST_OPTS => {
                    let start = r.pos();
                    let nh = r.u8("IPv6 extension header")?;
                    let units = usize::from(r.u8("IPv6 extension header length")?);
                    let skip = units * 8 + 6;
                    r.slice(skip, "IPv6 extension header")
                        .map_err(|e| ParseError { offset: start, ..e })?;
                    next = IpProtocol(nh);
                }
                IpProtocol::IPV6_FRAGMENT => {
                    let what = "IPv6 fragment header";
                    return Err(ParseError::new(
                        ParseErrorKind::Unsupported { what },
                        r.pos(),
                    ));
                }
                _ => break,
            }
        }
        let payload_offset = r.pos();
        Ok(Ipv6Packet {
            fixed,
            protocol: next,
            payload_offset,
            payload: r.rest(),
            truncated,
        })
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.fixed[0] << 4) | (self.fixed[1] >> 4)
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// ECN bits.
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes([0, self.fixed[1] & 0x0f, self.fixed[2], self.fixed[3]])
    }

    /// The payload length field (extension headers included).
    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    /// The next-header field of the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.fixed[6])
    }

    /// The upper-layer protocol, after the extension headers.
    pub fn protocol(&self) -> IpProtocol {
        self.protocol
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.fixed[7]
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr_bytes(self.fixed, 8))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr_bytes(self.fixed, 24))
    }

    /// Offset of the upper-layer payload (40 plus the extension headers).
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// The upper-layer payload, as captured.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Whether the capture holds fewer bytes than the payload length says.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The header fields an emitter needs to write this header again
    /// (extension headers are not carried over).
    pub fn repr(&self) -> Ipv6Repr {
        Ipv6Repr {
            src: self.src(),
            dst: self.dst(),
            next_header: self.protocol(),
            hop_limit: self.hop_limit(),
            dscp: self.dscp(),
            ecn: self.ecn(),
            flow_label: self.flow_label(),
        }
    }
}

/// Sixteen address bytes of `fixed` starting at `at` (8 or 24).
fn addr_bytes(fixed: &[u8; IPV6_HEADER_LEN], at: usize) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Some(src) = fixed.get(at..at + 16) {
        out.copy_from_slice(src);
    }
    out
}

/// An IPv6 header to emit (no extension headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Upper-layer protocol.
    pub next_header: IpProtocol,
    /// Hop limit.
    pub hop_limit: u8,
    /// Differentiated services code point (6 bits).
    pub dscp: u8,
    /// ECN bits (2 bits).
    pub ecn: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Length of the emitted header.
    pub const HEADER_LEN: usize = IPV6_HEADER_LEN;

    /// Write the 40-byte header for a payload of `payload_len` bytes; returns
    /// the header length.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, EmitError> {
        check_width("IPv6 DSCP", u64::from(self.dscp), 6)?;
        check_width("IPv6 ECN", u64::from(self.ecn), 2)?;
        check_width("IPv6 flow label", u64::from(self.flow_label), 20)?;
        let len = u16::try_from(payload_len).map_err(|_| EmitError::TooLong {
            what: "IPv6 payload",
            len: payload_len,
            max: usize::from(u16::MAX),
        })?;
        let tc = u32::from(self.dscp << 2 | self.ecn);
        let mut w = Writer::with_room(buf, IPV6_HEADER_LEN)?;
        w.u32(6 << 28 | tc << 20 | self.flow_label)?;
        w.u16(len)?;
        w.u8(self.next_header.0)?;
        w.u8(self.hop_limit)?;
        w.put(&self.src.octets())?;
        w.put(&self.dst.octets())?;
        Ok(IPV6_HEADER_LEN)
    }
}
