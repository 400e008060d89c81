//! Option strippers: MPTCP options on selected segments, and the
//! negotiation options (timestamps, SACK-permitted, window scale) of SYNs
//! and SYN-ACKs. Both replace the option's bytes by NOPs in place, so the
//! packet keeps its length, and update the TCP checksum incrementally.

use mptcp_wire::options::kind;

use super::segment::{Segment, find_options, rewrite_in_place};
use super::{MiddleboxStats, StripWhich, SynOption, Verdict};

/// Replaces the options at `found` (offset, length) by NOPs, with one
/// incremental checksum update over the options area.
fn nop_out(packet: &mut [u8], seg: &Segment, found: &[(usize, usize)]) -> u64 {
    let area = seg.options();
    let base = area.start;
    let mut bytes = 0;
    rewrite_in_place(packet, seg.checksum_at(), area, |options| {
        for &(at, len) in found {
            if let Some(option) = options.get_mut(at - base..at - base + len) {
                option.fill(kind::NOP);
                bytes += len as u64;
            }
        }
    });
    bytes
}

/// [`Middlebox::StripMptcp`](super::Middlebox::StripMptcp).
pub(super) fn strip_mptcp(
    which: StripWhich,
    packet: &mut [u8],
    stats: &mut MiddleboxStats,
) -> Verdict {
    let Some(seg) = Segment::parse(packet) else {
        stats.unparsed_packets += 1;
        return Verdict::Unchanged;
    };
    if !which.selects(seg.flags.syn(), seg.payload_len() > 0) {
        return Verdict::Unchanged;
    }
    let found = find_options(packet, seg.options(), kind::MPTCP);
    if found.is_empty() {
        return Verdict::Unchanged;
    }
    stats.stripped_bytes += nop_out(packet, &seg, &found);
    stats.stripped_packets += 1;
    stats.stripped_options += found.len() as u64;
    Verdict::Rewritten
}

/// [`Middlebox::StripSynOption`](super::Middlebox::StripSynOption): only
/// segments with the SYN flag (SYNs and SYN-ACKs) lose the option.
pub(super) fn strip_syn_option(
    option: SynOption,
    packet: &mut [u8],
    stats: &mut MiddleboxStats,
) -> Verdict {
    let Some(seg) = Segment::parse(packet) else {
        stats.unparsed_packets += 1;
        return Verdict::Unchanged;
    };
    if !seg.flags.syn() {
        return Verdict::Unchanged;
    }
    let found = find_options(packet, seg.options(), option.kind());
    if found.is_empty() {
        return Verdict::Unchanged;
    }
    nop_out(packet, &seg, &found);
    stats.syn_options_stripped += found.len() as u64;
    Verdict::Rewritten
}
