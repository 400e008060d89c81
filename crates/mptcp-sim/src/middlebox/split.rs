//! A segment splitter (what TSO, or a re-segmenting proxy, does): a data
//! segment leaves as two valid TCP segments. Both carry the original TCP
//! header and options, the DSS option included; RFC 8684 §3.3 has the
//! mapping survive re-segmentation because it is made of sequence-number
//! ranges, not segments.

use mptcp_wire::TcpFlags;

use super::segment::{Segment, refresh_tcp_checksum, set_flags, set_ip_length, set_seq};
use super::{MiddleboxStats, Verdict};

/// [`Middlebox::Split`](super::Middlebox::Split): a data segment with at
/// least two payload bytes and a correct checksum becomes two, the first
/// with the first half of the payload (rounded down), the second with the
/// rest at the matching sequence number. FIN and PSH stay on the second
/// half only; the second half's IPv4 identification is the original's plus
/// one. Both get fresh IP lengths and checksums. Anything else passes.
pub(super) fn split(
    packet: Vec<u8>,
    out: &mut Vec<Vec<u8>>,
    stats: &mut MiddleboxStats,
) -> Verdict {
    let Some(seg) = Segment::parse(&packet) else {
        stats.unparsed_packets += 1;
        out.push(packet);
        return Verdict::Unchanged;
    };
    let splittable = seg.is_data()
        && seg.payload_len() >= 2
        && packet.len() == seg.end
        && seg.checksum_ok(&packet);
    if !splittable {
        out.push(packet);
        return Verdict::Unchanged;
    }
    let cut = seg.payload().start + seg.payload_len() / 2;
    let second = second_half(&packet, &seg, cut);
    let mut first = packet;
    first.truncate(cut);
    set_flags(&mut first, seg.start, strip_end_flags(seg.flags));
    set_ip_length(&mut first, seg.start);
    refresh_tcp_checksum(&mut first, &Segment { end: cut, ..seg });
    out.push(first);
    out.push(second);
    stats.split_segments += 1;
    Verdict::Split
}

/// The headers of `packet` followed by its payload from `cut` on.
fn second_half(packet: &[u8], seg: &Segment, cut: usize) -> Vec<u8> {
    let headers = seg.payload().start;
    let mut second = Vec::with_capacity(headers + packet.len() - cut);
    second.extend_from_slice(packet.get(..headers).unwrap_or_default());
    second.extend_from_slice(packet.get(cut..).unwrap_or_default());
    let moved = (cut - headers) as u32;
    set_seq(&mut second, seg.start, seg.seq.wrapping_add(moved));
    if packet.first().is_some_and(|b| b >> 4 == 4)
        && let Some(id) = second.get_mut(4..6)
    {
        let next = u16::from_be_bytes([id[0], id[1]]).wrapping_add(1);
        id.copy_from_slice(&next.to_be_bytes());
    }
    set_ip_length(&mut second, seg.start);
    let end = second.len();
    refresh_tcp_checksum(&mut second, &Segment { end, ..seg.clone() });
    second
}

/// The flags of a first half: FIN and PSH belong to the end of the data.
fn strip_end_flags(flags: TcpFlags) -> TcpFlags {
    TcpFlags(flags.0 & !(TcpFlags::FIN.0 | TcpFlags::PSH.0))
}
