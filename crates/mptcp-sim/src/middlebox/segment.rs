//! The little of a TCP/IP packet the middleboxes read and rewrite: where the
//! TCP header, its options and the payload are, and the checksum updates
//! that keep a rewritten packet valid.

use core::ops::Range;
use std::net::IpAddr;

use mptcp_wire::checksum::pseudo_header;
use mptcp_wire::options::kind;
use mptcp_wire::{Checksum, IpPacket, TcpFlags};

/// Offset of the checksum field in the TCP header.
pub(super) const TCP_CHECKSUM: usize = 16;
/// Length of the TCP header without options.
pub(super) const TCP_HEADER_LEN: usize = 20;
/// Offset of the IPv4 header checksum.
const IPV4_CHECKSUM: usize = 10;

/// Where the parts of a TCP segment are inside its IP packet. Only complete,
/// unfragmented TCP segments whose options area is well framed have one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Segment {
    /// Offset of the TCP header (the IP header's length).
    pub start: usize,
    /// Length of the TCP header, options included.
    pub header_len: usize,
    /// End of the IP packet by its length field (trailing bytes excluded).
    pub end: usize,
    /// Source and destination addresses.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq: u32,
    /// The flags.
    pub flags: TcpFlags,
}

impl Segment {
    /// Locates the TCP segment in `packet`; `None` when the packet is not a
    /// complete, unfragmented TCP segment with a well-framed options area.
    pub fn parse(packet: &[u8]) -> Option<Segment> {
        let ip = IpPacket::parse(packet).ok()?;
        if ip.is_truncated() {
            return None;
        }
        let tcp = ip.tcp().ok()?;
        for raw in tcp.options().raw() {
            raw.ok()?;
        }
        let start = ip.payload_offset();
        Some(Segment {
            start,
            header_len: tcp.header_len(),
            end: start + tcp.as_bytes().len(),
            src: ip.src(),
            dst: ip.dst(),
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq().0,
            flags: tcp.flags(),
        })
    }

    /// The options area, as offsets into the packet.
    pub fn options(&self) -> Range<usize> {
        self.start + TCP_HEADER_LEN..self.start + self.header_len
    }

    /// The payload, as offsets into the packet.
    pub fn payload(&self) -> Range<usize> {
        self.start + self.header_len..self.end
    }

    /// Payload length.
    pub fn payload_len(&self) -> usize {
        self.end - self.start - self.header_len
    }

    /// Whether the segment carries payload and is neither a SYN nor a RST
    /// (what the payload middleboxes work on).
    pub fn is_data(&self) -> bool {
        self.payload_len() > 0 && !self.flags.syn() && !self.flags.rst()
    }

    /// Offset of the TCP checksum field.
    pub fn checksum_at(&self) -> usize {
        self.start + TCP_CHECKSUM
    }

    /// Whether the TCP checksum of `packet` (which this layout describes)
    /// verifies.
    pub fn checksum_ok(&self, packet: &[u8]) -> bool {
        let Some(bytes) = packet.get(self.start..self.end) else {
            return false;
        };
        pseudo_header(self.src, self.dst, 6, bytes.len())
            .is_some_and(|mut c| c.add_bytes(bytes).is_valid())
    }
}

/// Offsets and lengths of the options of `kind` in `packet`'s options area
/// `area` (which must be well framed, as [`Segment::parse`] checked).
pub(super) fn find_options(packet: &[u8], area: Range<usize>, of_kind: u8) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut at = area.start;
    while at < area.end {
        let k = packet.get(at).copied().unwrap_or(kind::EOL);
        let len = match k {
            kind::EOL => break,
            kind::NOP => 1,
            _ => usize::from(packet.get(at + 1).copied().unwrap_or(0)).max(2),
        };
        if k == of_kind {
            found.push((at, len));
        }
        at += len;
    }
    found
}

/// The one's complement sum of `packet[range]` (empty when out of bounds).
pub(super) fn sum(packet: &[u8], range: Range<usize>) -> u16 {
    Checksum::new()
        .add_bytes(packet.get(range).unwrap_or_default())
        .sum()
}

/// Updates the checksum field at `field` for a change of the data whose
/// one's complement sum was `old_sum` and is now `new_sum` (RFC 1624
/// eqn. 3: `HC' = ~(~HC + ~m + m')`). A checksum that was correct stays
/// correct, a corrupt one stays corrupt.
pub(super) fn update_checksum(packet: &mut [u8], field: usize, old_sum: u16, new_sum: u16) {
    if let Some(bytes) = packet.get_mut(field..field + 2) {
        let old = u16::from_be_bytes([bytes[0], bytes[1]]);
        let updated = Checksum::new()
            .add_u16(!old)
            .add_u16(!old_sum)
            .add_u16(new_sum)
            .finish();
        bytes.copy_from_slice(&updated.to_be_bytes());
    }
}

/// Runs `change` on `packet[range]` and updates the TCP checksum at `field`
/// incrementally. `range` is widened to 16-bit words counted from the
/// packet's start (the TCP header starts at an even offset, so the words
/// line up with the checksum's).
pub(super) fn rewrite_in_place(
    packet: &mut [u8],
    field: usize,
    range: Range<usize>,
    change: impl FnOnce(&mut [u8]),
) {
    let words = (range.start & !1)..((range.end + 1) & !1).min(packet.len());
    let old_sum = sum(packet, words.clone());
    if let Some(bytes) = packet.get_mut(range) {
        change(bytes);
    }
    let new_sum = sum(packet, words);
    update_checksum(packet, field, old_sum, new_sum);
}

/// Writes the IP length field(s) for a packet of `packet.len()` bytes and,
/// for IPv4, a fresh header checksum.
pub(super) fn set_ip_length(packet: &mut [u8], ip_header_len: usize) {
    let len = packet.len();
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            if let Some(field) = packet.get_mut(2..4) {
                field.copy_from_slice(&(len as u16).to_be_bytes());
            }
            refresh_ipv4_checksum(packet, ip_header_len);
        }
        Some(6) => {
            if let Some(field) = packet.get_mut(4..6) {
                field.copy_from_slice(&(len.saturating_sub(40) as u16).to_be_bytes());
            }
        }
        _ => {}
    }
}

/// Recomputes the IPv4 header checksum.
pub(super) fn refresh_ipv4_checksum(packet: &mut [u8], header_len: usize) {
    if let Some(field) = packet.get_mut(IPV4_CHECKSUM..IPV4_CHECKSUM + 2) {
        field.fill(0);
    }
    let c = Checksum::new()
        .add_bytes(packet.get(..header_len).unwrap_or_default())
        .finish();
    if let Some(field) = packet.get_mut(IPV4_CHECKSUM..IPV4_CHECKSUM + 2) {
        field.copy_from_slice(&c.to_be_bytes());
    }
}

/// Computes the TCP checksum of the segment `seg` describes from scratch.
pub(super) fn refresh_tcp_checksum(packet: &mut [u8], seg: &Segment) {
    let field = seg.checksum_at();
    if let Some(bytes) = packet.get_mut(field..field + 2) {
        bytes.fill(0);
    }
    let Some(bytes) = packet.get(seg.start..seg.end) else {
        return;
    };
    let Some(mut c) = pseudo_header(seg.src, seg.dst, 6, bytes.len()) else {
        return;
    };
    let value = c.add_bytes(bytes).finish();
    if let Some(bytes) = packet.get_mut(field..field + 2) {
        bytes.copy_from_slice(&value.to_be_bytes());
    }
}

/// Writes the TCP sequence number of the segment starting at `start`.
pub(super) fn set_seq(packet: &mut [u8], start: usize, seq: u32) {
    if let Some(field) = packet.get_mut(start + 4..start + 8) {
        field.copy_from_slice(&seq.to_be_bytes());
    }
}

/// Writes the TCP flags (the low 12 bits) of the segment starting at `start`,
/// keeping the data offset.
pub(super) fn set_flags(packet: &mut [u8], start: usize, flags: TcpFlags) {
    if let Some(field) = packet.get_mut(start + 12..start + 14) {
        let offset = field[0] & 0xf0;
        let [hi, lo] = flags.0.to_be_bytes();
        field[0] = offset | (hi & 0x0f);
        field[1] = lo;
    }
}
