//! IPv4 (RFC 791).

use std::net::Ipv4Addr;

use super::IpProtocol;
use crate::bytes::{Reader, Writer, check_width};
use crate::checksum::{Checksum, checksum};
use crate::error::{EmitError, ParseError};

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

/// A checked view of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    fixed: &'a [u8; IPV4_HEADER_LEN],
    header: &'a [u8],
    payload: &'a [u8],
    truncated: bool,
}

impl<'a> Ipv4Packet<'a> {
    /// Parse an IPv4 packet. The header (options included) must be complete;
    /// the payload may be cut short by the capture.
    pub fn parse(bytes: &'a [u8]) -> Result<Ipv4Packet<'a>, ParseError> {
        let mut r = Reader::new(bytes);
        let fixed: &[u8; IPV4_HEADER_LEN] = r
            .slice(IPV4_HEADER_LEN, "IPv4 header")?
            .try_into()
            .map_err(|_| ParseError::truncated("IPv4 header", 0, IPV4_HEADER_LEN, bytes.len()))?;
        let version = fixed[0] >> 4;
        if version != 4 {
            return Err(ParseError::bad_value("IP version", 0, u64::from(version)));
        }
        let header_len = usize::from(fixed[0] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(ParseError::bad_length("IPv4 header (IHL)", 0, header_len));
        }
        r.slice(header_len - IPV4_HEADER_LEN, "IPv4 options")?;
        let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if total_len < header_len {
            return Err(ParseError::bad_length("IPv4 total length", 2, total_len));
        }
        let end = total_len.min(bytes.len());
        let header = bytes.get(..header_len).unwrap_or_default();
        let payload = bytes.get(header_len..end).unwrap_or_default();
        Ok(Ipv4Packet {
            fixed,
            header,
            payload,
            truncated: bytes.len() < total_len,
        })
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        self.header.len()
    }

    /// The header bytes, options included.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header
    }

    /// The IPv4 options, raw.
    pub fn options(&self) -> &'a [u8] {
        self.header.get(IPV4_HEADER_LEN..).unwrap_or_default()
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        self.fixed[1] >> 2
    }

    /// Explicit congestion notification bits.
    pub fn ecn(&self) -> u8 {
        self.fixed[1] & 0x03
    }

    /// The total length field.
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    /// The reserved flag bit (must be zero).
    pub fn reserved_flag(&self) -> bool {
        self.fixed[6] & 0x80 != 0
    }

    /// Don't fragment.
    pub fn dont_fragment(&self) -> bool {
        self.fixed[6] & 0x40 != 0
    }

    /// More fragments.
    pub fn more_fragments(&self) -> bool {
        self.fixed[6] & 0x20 != 0
    }

    /// Fragment offset, in 8-byte units.
    pub fn fragment_offset(&self) -> u16 {
        u16::from_be_bytes([self.fixed[6], self.fixed[7]]) & 0x1fff
    }

    /// Whether this is a fragment (more fragments, or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.fragment_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.fixed[8]
    }

    /// The transport protocol.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.fixed[9])
    }

    /// The header checksum field.
    pub fn header_checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[10], self.fixed[11]])
    }

    /// Whether the header checksum is correct.
    pub fn verify_header_checksum(&self) -> bool {
        Checksum::new().add_bytes(self.header).is_valid()
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[12],
            self.fixed[13],
            self.fixed[14],
            self.fixed[15],
        )
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[16],
            self.fixed[17],
            self.fixed[18],
            self.fixed[19],
        )
    }

    /// The payload, as captured (at most `total_len - header_len` bytes).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Whether the capture holds fewer bytes than the total length says.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The header fields an emitter needs to write this header again
    /// (options and fragmentation are not carried over).
    pub fn repr(&self) -> Ipv4Repr {
        Ipv4Repr {
            src: self.src(),
            dst: self.dst(),
            protocol: self.protocol(),
            ttl: self.ttl(),
            dscp: self.dscp(),
            ecn: self.ecn(),
            ident: self.ident(),
            dont_fragment: self.dont_fragment(),
        }
    }
}

/// An IPv4 header to emit (no options, not fragmented).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Transport protocol.
    pub protocol: IpProtocol,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated services code point (6 bits).
    pub dscp: u8,
    /// ECN bits (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_fragment: bool,
}

impl Ipv4Repr {
    /// Length of the emitted header.
    pub const HEADER_LEN: usize = IPV4_HEADER_LEN;

    /// Write the 20-byte header, with its checksum, for a payload of
    /// `payload_len` bytes; returns the header length. Only the header is
    /// written: the payload goes at `buf[20..]`.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, EmitError> {
        check_width("IPv4 DSCP", u64::from(self.dscp), 6)?;
        check_width("IPv4 ECN", u64::from(self.ecn), 2)?;
        let max = usize::from(u16::MAX) - IPV4_HEADER_LEN;
        let total = u16::try_from(IPV4_HEADER_LEN.saturating_add(payload_len)).map_err(|_| {
            EmitError::TooLong {
                what: "IPv4 payload",
                len: payload_len,
                max,
            }
        })?;
        let mut hdr = [0u8; IPV4_HEADER_LEN];
        let mut w = Writer::new(&mut hdr);
        w.u8(0x45)?;
        w.u8(self.dscp << 2 | self.ecn)?;
        w.u16(total)?;
        w.u16(self.ident)?;
        w.u16(if self.dont_fragment { 0x4000 } else { 0 })?;
        w.u8(self.ttl)?;
        w.u8(self.protocol.0)?;
        w.u16(0)?;
        w.put(&self.src.octets())?;
        w.put(&self.dst.octets())?;
        let csum = checksum(&hdr);
        hdr[10..12].copy_from_slice(&csum.to_be_bytes());
        let mut out = Writer::with_room(buf, IPV4_HEADER_LEN)?;
        out.put(&hdr)?;
        Ok(IPV4_HEADER_LEN)
    }
}
