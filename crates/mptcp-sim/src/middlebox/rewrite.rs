//! A payload rewriter (an application-level gateway gone wrong): one byte
//! of every `every`-th data segment is changed, the length is kept and the
//! TCP checksum is updated, so TCP cannot notice. MPTCP's DSS checksum
//! (RFC 8684 §3.3.1), when negotiated, must.
//!
//! The change is an increment of a byte below 0xff, never a flip: the DSS
//! checksum is a 16-bit one's complement sum over a whole mapping, and two
//! changes in one mapping that move the sum in opposite directions (a bit
//! set here, the same bit cleared there) cancel out, which no checksum of
//! that kind can catch. Increments only add: +1 or +256 depending on the
//! byte's position. Only segments of at least [`MIN_PAYLOAD`] bytes are
//! changed, so a mapping (at most 65,535 bytes) holds at most 255 changes
//! and their sum, at most 255 × 256 = 65,280, never reaches 0xffff: every
//! mapping with a change fails its checksum.

use super::segment::{Segment, rewrite_in_place};
use super::{MiddleboxState, MiddleboxStats, Verdict};

/// The smallest payload the rewriter changes.
pub const MIN_PAYLOAD: usize = 257;

/// [`Middlebox::Rewrite`](super::Middlebox::Rewrite): counts data segments
/// (payload of at least [`MIN_PAYLOAD`] bytes, no SYN, no RST) and
/// increments the first byte below 0xff from the middle of the payload on
/// (wrapping around) in the `every`-th, `2 × every`-th, ... one.
pub(super) fn rewrite(
    every: u32,
    state: &mut MiddleboxState,
    packet: &mut [u8],
    stats: &mut MiddleboxStats,
) -> Verdict {
    let Some(seg) = Segment::parse(packet) else {
        stats.unparsed_packets += 1;
        return Verdict::Unchanged;
    };
    if !seg.is_data() || seg.payload_len() < MIN_PAYLOAD {
        return Verdict::Unchanged;
    }
    state.data_segments += 1;
    if !state.data_segments.is_multiple_of(u64::from(every.max(1))) {
        return Verdict::Unchanged;
    }
    let payload = seg.payload();
    let len = seg.payload_len();
    let Some(at) = (0..len)
        .map(|k| payload.start + (len / 2 + k) % len)
        .find(|&i| packet.get(i).is_some_and(|&b| b < 0xff))
    else {
        return Verdict::Unchanged;
    };
    rewrite_in_place(packet, seg.checksum_at(), at..at + 1, |b| {
        for byte in b {
            *byte += 1;
        }
    });
    stats.rewritten_segments += 1;
    Verdict::Rewritten
}
