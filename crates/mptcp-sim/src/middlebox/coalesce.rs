//! A segment coalescer: consecutive in-order data segments of one 4-tuple
//! leave as one segment of up to the link MTU, which keeps the first
//! segment's options (RFC 8684 §3.3 expects coalescing middleboxes to keep
//! one segment's options).
//!
//! The coalescer holds at most one segment. A data segment that may start a
//! merge is held; the next packet offered either merges into it, or first
//! releases it (so the coalescer never reorders) and is then held or passed
//! itself. A held segment is also released when its hold time ends (the
//! link schedules a simulator event for it), when it reaches the MTU, when a
//! segment with FIN (or, for [`CoalesceMode::Gro`], PSH) merges into it, and
//! when the link goes down (then it is dropped with the link's queue).

use mptcp_proto::time::Instant;
use mptcp_wire::TcpFlags;
use mptcp_wire::options::kind;

use super::segment::{Segment, find_options, refresh_tcp_checksum, set_flags, set_ip_length};
use super::{CoalesceMode, Ctx, MiddleboxState, MiddleboxStats, Verdict};

/// A segment waiting for more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Held {
    pub packet: Vec<u8>,
    seg: Segment,
    /// When it must leave at the latest.
    pub deadline: Instant,
}

/// Flags that never coalesce.
const NEVER: u16 = TcpFlags::SYN.0 | TcpFlags::RST.0 | TcpFlags::URG.0;
/// Flags that end a merge.
fn ends_merge(mode: CoalesceMode, flags: TcpFlags) -> bool {
    let end = match mode {
        CoalesceMode::Gro => TcpFlags::FIN.0 | TcpFlags::PSH.0,
        CoalesceMode::Lro => TcpFlags::FIN.0,
    };
    flags.0 & end != 0
}

/// [`Middlebox::Coalesce`](super::Middlebox::Coalesce).
pub(super) fn coalesce(
    mode: CoalesceMode,
    hold: mptcp_proto::time::Duration,
    state: &mut MiddleboxState,
    ctx: Ctx,
    packet: Vec<u8>,
    out: &mut Vec<Vec<u8>>,
    stats: &mut MiddleboxStats,
) -> Verdict {
    let seg = Segment::parse(&packet);
    if seg.is_none() {
        stats.unparsed_packets += 1;
    }
    let seg = seg.filter(|s| candidate(s, &packet));
    if let (Some(held), Some(s)) = (state.held.as_mut(), seg.as_ref())
        && mergeable(mode, held, s, &packet, ctx.mtu)
    {
        merge(mode, held, s, &packet);
        stats.coalesced_segments += 1;
        if ends_merge(mode, held.seg.flags) || held.packet.len() >= ctx.mtu {
            release(state, out);
        }
        return Verdict::Held;
    }
    release(state, out);
    match seg {
        Some(seg) if !ends_merge(mode, seg.flags) && packet.len() < ctx.mtu => {
            state.held = Some(Held {
                packet,
                seg,
                deadline: ctx.now + hold,
            });
            Verdict::Held
        }
        _ => {
            out.push(packet);
            Verdict::Unchanged
        }
    }
}

/// Releases the held segment if its hold time is over at `now`.
pub(super) fn release_due(state: &mut MiddleboxState, now: Instant, out: &mut Vec<Vec<u8>>) {
    if state.held.as_ref().is_some_and(|h| h.deadline <= now) {
        release(state, out);
    }
}

fn release(state: &mut MiddleboxState, out: &mut Vec<Vec<u8>>) {
    if let Some(held) = state.held.take() {
        out.push(held.packet);
    }
}

/// Whether a segment may take part in a merge: data, no SYN, RST or URG,
/// nothing past the IP length, and a correct checksum (a coalescer that
/// computes a new checksum must not launder a corrupt segment).
fn candidate(seg: &Segment, packet: &[u8]) -> bool {
    seg.is_data() && seg.flags.0 & NEVER == 0 && packet.len() == seg.end && seg.checksum_ok(packet)
}

/// Whether `seg` (in `packet`) may be appended to `held`.
fn mergeable(mode: CoalesceMode, held: &Held, seg: &Segment, packet: &[u8], mtu: usize) -> bool {
    let h = &held.seg;
    let same_flow =
        (h.src, h.dst, h.src_port, h.dst_port) == (seg.src, seg.dst, seg.src_port, seg.dst_port);
    let in_order = h.seq.wrapping_add(h.payload_len() as u32) == seg.seq;
    let fits = held.packet.len() + seg.payload_len() <= mtu.min(usize::from(u16::MAX));
    if !(same_flow && in_order && fits) {
        return false;
    }
    match mode {
        CoalesceMode::Lro => true,
        CoalesceMode::Gro => gro_compatible(&held.packet, h, packet, seg),
    }
}

/// Linux GRO's test (`tcp_gro_receive`), with timestamps relaxed: the same
/// ACK number, window and flags apart from PSH, FIN and CWR, and the same
/// options byte for byte except the timestamp values.
fn gro_compatible(held: &[u8], h: &Segment, packet: &[u8], seg: &Segment) -> bool {
    let loose = TcpFlags::PSH.0 | TcpFlags::FIN.0 | TcpFlags::CWR.0;
    if h.flags.0 & !loose != seg.flags.0 & !loose {
        return false;
    }
    // ACK number (8..12) and window (14..16).
    for r in [8..12, 14..16] {
        let a = held.get(h.start + r.start..h.start + r.end);
        if a != packet.get(seg.start + r.start..seg.start + r.end) {
            return false;
        }
    }
    let (a, b) = (h.options(), seg.options());
    if a.len() != b.len() {
        return false;
    }
    let ts = timestamp_values(held, h);
    if ts != timestamp_values(packet, seg) {
        return false;
    }
    a.zip(b).all(|(i, j)| {
        let in_ts = ts.is_some_and(|t| (t..t + 8).contains(&(i - h.start)));
        in_ts || held.get(i) == packet.get(j)
    })
}

/// Offset (from the TCP header) of the timestamp values of the segment's
/// timestamps option, if it has exactly one well-formed one.
fn timestamp_values(packet: &[u8], seg: &Segment) -> Option<usize> {
    match find_options(packet, seg.options(), kind::TIMESTAMPS)[..] {
        [(at, 10)] => Some(at + 2 - seg.start),
        _ => None,
    }
}

/// Appends `seg`'s payload to `held`: the first segment's header and
/// options stay, PSH and FIN are taken over, and [`CoalesceMode::Lro`]
/// also takes the newer ACK number and window.
fn merge(mode: CoalesceMode, held: &mut Held, seg: &Segment, packet: &[u8]) {
    held.packet
        .extend_from_slice(packet.get(seg.payload()).unwrap_or_default());
    let start = held.seg.start;
    if mode == CoalesceMode::Lro {
        for r in [8..12, 14..16] {
            if let (Some(dst), Some(src)) = (
                held.packet.get_mut(start + r.start..start + r.end),
                packet.get(seg.start + r.start..seg.start + r.end),
            ) {
                dst.copy_from_slice(src);
            }
        }
    }
    let end_flags = TcpFlags::PSH.0 | TcpFlags::FIN.0;
    held.seg.flags = TcpFlags(held.seg.flags.0 | (seg.flags.0 & end_flags));
    set_flags(&mut held.packet, start, held.seg.flags);
    set_ip_length(&mut held.packet, start);
    held.seg.end = held.packet.len();
    refresh_tcp_checksum(&mut held.packet, &held.seg);
}
