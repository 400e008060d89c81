//! The TCP header (RFC 9293 §3.1): a checked view and an emitter.

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::net::IpAddr;

use crate::bytes::{Reader, Writer, check_width};
use crate::checksum::{Checksum, pseudo_header};
use crate::error::{EmitError, ParseError};
use crate::options::{TcpOption, TcpOptions, emit_options, options_len};
use crate::seq::SubflowSeq;

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;

/// The 12 bits of TCP control flags and reserved bits that follow the data
/// offset (open: reserved bits survive a round trip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo.
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// The bit once called NS (RFC 3540, historic), now AE in AccECN.
    pub const AE: TcpFlags = TcpFlags(0x100);
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// SYN set.
    pub fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }

    /// ACK set.
    pub fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }

    /// FIN set.
    pub fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }

    /// RST set.
    pub fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump's notation: `[S.]` for SYN+ACK, `[.]` for a bare ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        let letters = [
            (TcpFlags::FIN, "F"),
            (TcpFlags::SYN, "S"),
            (TcpFlags::RST, "R"),
            (TcpFlags::PSH, "P"),
            (TcpFlags::URG, "U"),
            (TcpFlags::ECE, "E"),
            (TcpFlags::CWR, "W"),
            (TcpFlags::AE, "A"),
            (TcpFlags::ACK, "."),
        ];
        let mut any = false;
        for (flag, letter) in letters {
            if self.contains(flag) {
                f.write_str(letter)?;
                any = true;
            }
        }
        if self.0 & 0xe00 != 0 {
            write!(f, "+{:#x}", self.0 & 0xe00)?;
        } else if !any {
            f.write_str("none")?;
        }
        f.write_str("]")
    }
}

/// A checked view of a TCP segment: the header is complete, the payload is
/// whatever follows it (possibly cut short by a capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    bytes: &'a [u8],
    fixed: &'a [u8; TCP_HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
    base: usize,
}

impl<'a> TcpSegment<'a> {
    /// Parse a TCP segment (the IP payload).
    pub fn parse(bytes: &'a [u8]) -> Result<TcpSegment<'a>, ParseError> {
        let mut r = Reader::new(bytes);
        let fixed: &[u8; TCP_HEADER_LEN] = r
            .slice(TCP_HEADER_LEN, "TCP header")?
            .try_into()
            .map_err(|_| ParseError::truncated("TCP header", 0, TCP_HEADER_LEN, bytes.len()))?;
        let header_len = usize::from(fixed[12] >> 4) * 4;
        if header_len < TCP_HEADER_LEN {
            return Err(ParseError::bad_length("TCP data offset", 12, header_len));
        }
        let options = r.slice(header_len - TCP_HEADER_LEN, "TCP options")?;
        Ok(TcpSegment {
            bytes,
            fixed,
            options,
            payload: r.rest(),
            base: 0,
        })
    }

    /// The same view, with errors from [`TcpSegment::options`] counted from
    /// `base` bytes before the TCP header (the start of the IP packet, say).
    pub fn with_base_offset(self, base: usize) -> TcpSegment<'a> {
        TcpSegment { base, ..self }
    }

    /// The whole segment, as given to [`TcpSegment::parse`].
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// Sequence number.
    pub fn seq(&self) -> SubflowSeq {
        SubflowSeq(u32::from_be_bytes([
            self.fixed[4],
            self.fixed[5],
            self.fixed[6],
            self.fixed[7],
        ]))
    }

    /// Acknowledgment number (meaningful when ACK is set).
    pub fn ack(&self) -> SubflowSeq {
        SubflowSeq(u32::from_be_bytes([
            self.fixed[8],
            self.fixed[9],
            self.fixed[10],
            self.fixed[11],
        ]))
    }

    /// Header length in bytes (the data offset times four).
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.len()
    }

    /// Control flags and reserved bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(u16::from_be_bytes([self.fixed[12], self.fixed[13]]) & 0x0fff)
    }

    /// Receive window (unscaled).
    pub fn window(&self) -> u16 {
        u16::from_be_bytes([self.fixed[14], self.fixed[15]])
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[16], self.fixed[17]])
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        u16::from_be_bytes([self.fixed[18], self.fixed[19]])
    }

    /// The raw options area.
    pub fn options_bytes(&self) -> &'a [u8] {
        self.options
    }

    /// The options, parsed one by one (see [`TcpOptions`]).
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions::with_base(self.options, self.base.saturating_add(TCP_HEADER_LEN))
    }

    /// The payload, as captured.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The one's complement sum of the pseudo-header and the whole segment;
    /// `None` for mixed address families.
    fn sum(&self, src: IpAddr, dst: IpAddr) -> Option<Checksum> {
        let mut c = pseudo_header(src, dst, 6, self.bytes.len())?;
        c.add_bytes(self.bytes);
        Some(c)
    }

    /// Whether the checksum is correct for a segment sent from `src` to
    /// `dst`. Only meaningful when the segment is complete (the capture was
    /// not truncated).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.sum(src, dst).is_some_and(|c| c.is_valid())
    }

    /// Whether the checksum field holds only the folded pseudo-header sum,
    /// as a sender that leaves the checksum to the network card
    /// (`CHECKSUM_PARTIAL` in Linux) writes it: such a segment, captured on
    /// the sending host, does not verify.
    pub fn checksum_is_partial(&self, src: IpAddr, dst: IpAddr) -> bool {
        pseudo_header(src, dst, 6, self.bytes.len()).is_some_and(|c| c.sum() == self.checksum())
    }

    /// The header fields, for emitting the segment again.
    pub fn repr(&self) -> TcpRepr {
        TcpRepr {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            seq: self.seq(),
            ack: self.ack(),
            flags: self.flags(),
            window: self.window(),
            urgent: self.urgent(),
        }
    }
}

/// The fixed fields of a TCP header to emit; the data offset and checksum
/// are computed by [`emit_segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SubflowSeq,
    /// Acknowledgment number.
    pub ack: SubflowSeq,
    /// Flags (12 bits).
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
}

/// Write a TCP segment: header, `options` (padded with NOPs to a multiple of
/// four bytes), `payload`, and the checksum over the pseudo-header of
/// `src` → `dst`. Returns the segment length. Does not allocate.
pub fn emit_segment(
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    emit_segment_with(repr, options, payload, src, dst, buf, true)
}

/// Like [`emit_segment`], but for checksum offload: the checksum field
/// holds the pseudo-header's sum (not complemented), which the device
/// completes by summing the segment from its first byte (Linux's
/// `CHECKSUM_PARTIAL`). The payload is copied, not summed.
pub fn emit_segment_partial(
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    emit_segment_with(repr, options, payload, src, dst, buf, false)
}

fn emit_segment_with(
    repr: &TcpRepr,
    options: &[TcpOption<'_>],
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    buf: &mut [u8],
    full: bool,
) -> Result<usize, EmitError> {
    check_width("TCP flags", u64::from(repr.flags.0), 12)?;
    let header_len = TCP_HEADER_LEN + options_len(options)?;
    let total = header_len.saturating_add(payload.len());
    let pseudo = pseudo_header(src, dst, 6, total).ok_or(match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => EmitError::TooLong {
            what: "TCP segment over IPv4",
            len: total,
            max: usize::from(u16::MAX),
        },
        _ => EmitError::AddressFamilyMismatch,
    })?;
    let available = buf.len();
    let segment = buf.get_mut(..total).ok_or(EmitError::BufferTooSmall {
        needed: total,
        available,
    })?;
    let (header, body) = segment.split_at_mut(header_len);
    let (fixed, opts) = header.split_at_mut(TCP_HEADER_LEN);
    emit_options(options, opts)?;
    body.copy_from_slice(payload);
    // The data offset is at most 15: options_len() caps the options at 40.
    let offset_and_flags = ((header_len / 4) as u16) << 12 | repr.flags.0;
    let mut w = Writer::new(fixed);
    w.u16(repr.src_port)?;
    w.u16(repr.dst_port)?;
    w.u32(repr.seq.0)?;
    w.u32(repr.ack.0)?;
    w.u16(offset_and_flags)?;
    w.u16(repr.window)?;
    w.u16(0)?;
    w.u16(repr.urgent)?;
    let value = if full {
        let mut sum = pseudo;
        sum.add_bytes(segment);
        sum.finish()
    } else {
        pseudo.sum()
    };
    let field = segment.get_mut(16..18).ok_or(EmitError::BufferTooSmall {
        needed: 18,
        available: 0,
    })?;
    field.copy_from_slice(&value.to_be_bytes());
    Ok(total)
}

#[cfg(test)]
mod tests;
