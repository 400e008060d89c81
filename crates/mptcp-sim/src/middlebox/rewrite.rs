//! A payload rewriter (an application-level gateway gone wrong): one byte
//! of every `every`-th data segment is changed, the length is kept and the
//! TCP checksum is updated, so TCP cannot notice. MPTCP's DSS checksum
//! (RFC 8684 §3.3.1), when negotiated, must.

use super::segment::{Segment, rewrite_in_place};
use super::{MiddleboxState, MiddleboxStats, Verdict};

/// What the rewriter XORs into the byte it changes. Any non-zero value
/// changes the one's complement sum of the payload (a single byte moves it
/// by at most 255 × 256, never by a multiple of 0xffff), so a DSS checksum
/// always catches the change.
pub(super) const FLIP: u8 = 0x20;

/// [`Middlebox::Rewrite`](super::Middlebox::Rewrite): counts data segments
/// (payload, no SYN, no RST) and changes the byte in the middle of the
/// payload of the `every`-th, `2 × every`-th, ... one.
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
    if !seg.is_data() {
        return Verdict::Unchanged;
    }
    state.data_segments += 1;
    if !state.data_segments.is_multiple_of(u64::from(every.max(1))) {
        return Verdict::Unchanged;
    }
    let at = seg.payload().start + seg.payload_len() / 2;
    rewrite_in_place(packet, seg.checksum_at(), at..at + 1, |b| {
        for byte in b {
            *byte ^= FLIP;
        }
    });
    stats.rewritten_segments += 1;
    Verdict::Rewritten
}
