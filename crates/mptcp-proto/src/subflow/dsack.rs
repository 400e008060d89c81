//! D-SACK (RFC 2883): the receiver reports a segment it got twice in the
//! first SACK block of its next ACK; the sender reads such reports to find
//! retransmissions that were not needed (the original was only late), to
//! widen RACK's reordering window and to undo a spurious congestion
//! response.

use super::AckDue;
use super::Subflow;
use super::recovery::{Recovery, RecoveryKind};
use crate::segment::SegmentIn;
use crate::time::Instant;
use arrayvec::ArrayVec;
use mptcp_wire::{SackBlock, SackBlocks, SubflowSeq};

impl Subflow {
    /// Receiver: the payload `[left, right)` arrived again (wholly below
    /// RCV.NXT, or already held out of order). The next ACK reports it.
    pub(super) fn note_duplicate(&mut self, left: SubflowSeq, right: SubflowSeq) {
        if !self.handshake.sack || !left.lt(right) {
            return;
        }
        // Beyond the largest window we can advertise: not a retransmission
        // of ours to report (sequence numbers from another lap, or forged).
        let max_window = u64::from(u16::MAX) << self.rcv.wscale;
        if (self.rcv.nxt - left) as i64 > max_window as i64 {
            return;
        }
        // RFC 2883 §4 (1): only the most recent packet's duplicate is
        // reported; one contiguous with the pending report extends it.
        self.ack.dsack = Some(match self.ack.dsack {
            Some((l, r)) if left.le(r) && l.le(right) => (l.min(left), r.max(right)),
            _ => (left, right),
        });
        self.ack.raise(AckDue::Ack);
    }

    /// Receiver: an unacceptable segment (RFC 9293 §3.10.7.4, or PAWS)
    /// whose payload lies wholly below RCV.NXT is a duplicate to report.
    pub(super) fn note_old_duplicate(&mut self, seg: &SegmentIn<'_>) {
        let end = seg.seq + seg.payload.len() as u32;
        if !seg.payload.is_empty() && end.le(self.rcv.nxt) {
            self.note_duplicate(seg.seq, end);
        }
    }

    /// Receiver: out-of-order payload of `len` bytes at receive offset
    /// `start` arrives; the first part of it already held is a duplicate.
    pub(super) fn note_held_duplicate(&mut self, start: u64, len: u64) {
        if !self.handshake.sack {
            return;
        }
        let end = start.saturating_add(len);
        let Some((s, e)) = self.rcv.ofo.ranges().find(|&(s, e)| e > start && s < end) else {
            return;
        };
        let seq = |o: u64| self.rcv.nxt + o.saturating_sub(self.rcv.off) as u32;
        let (left, right) = (seq(s.max(start)), seq(e.min(end)));
        self.note_duplicate(left, right);
    }

    /// Receiver: the SACK blocks of the segment going out, at most `max`:
    /// a pending D-SACK block first (RFC 2883 §4), then the held block that
    /// contains it, if any (§4 (4)), then the others as RFC 2018 §4 orders
    /// them. A D-SACK block goes out once (§4 (2)), even if none fit.
    pub(super) fn sack_option(&mut self, max: usize) -> Option<SackBlocks> {
        let dsack = self.ack.dsack.take();
        if max == 0 || (dsack.is_none() && self.rcv.ofo.is_empty()) {
            return None;
        }
        let mut blocks: ArrayVec<SackBlock, 4> = ArrayVec::new();
        if let Some((left, right)) = dsack {
            blocks.push(SackBlock { left, right });
            self.stats.dsacks_sent += 1;
        }
        self.rcv.ofo.sack_blocks(4, &mut self.sack_scratch);
        let (base, off) = (self.rcv.nxt, self.rcv.off);
        let mut held: ArrayVec<SackBlock, 4> = self
            .sack_scratch
            .iter()
            .take(4)
            .map(|&(s, e)| SackBlock {
                left: base + s.saturating_sub(off) as u32,
                right: base + e.saturating_sub(off) as u32,
            })
            .collect();
        if let Some((left, right)) = dsack
            && let Some(i) = held
                .iter()
                .position(|b| b.left.le(left) && right.le(b.right))
        {
            held[..=i].rotate_right(1);
        }
        for b in held {
            if blocks.len() >= max.min(4) {
                break;
            }
            blocks.push(b);
        }
        SackBlocks::new(&blocks)
    }

    /// Sender: the D-SACK block of `seg`'s SACK option, if it has one
    /// (RFC 2883 §5): a first block below the acknowledgment number of the
    /// same segment (never compared with SND.UNA, as §5 requires, for ACKs
    /// may be reordered), or one inside the second block. A block that
    /// cannot be a report of our data (empty, beyond SND.NXT, or older
    /// than the largest window the peer offered) is ignored.
    pub(super) fn dsack_block(&self, seg: &SegmentIn<'_>) -> Option<(SubflowSeq, SubflowSeq)> {
        let blocks = seg.sack?;
        let blocks = blocks.as_slice();
        let first = blocks.first()?;
        let (left, right) = (first.left, first.right);
        let inside_second = blocks
            .get(1)
            .is_some_and(|b| b.left.le(left) && right.le(b.right));
        if !(left.lt(seg.ack) || inside_second) || !left.lt(right) {
            return None;
        }
        let max_wnd = self.snd.max_wnd.clamp(1, 1 << 30) as u32;
        let oldest = self.snd.una - max_wnd;
        (right.le(self.snd.nxt) && left.ge(oldest)).then_some((left, right))
    }

    /// Sender: count a D-SACK and let it widen RACK's window and show
    /// retransmissions unnecessary. Returns whether the window widened.
    pub(super) fn on_dsack(&mut self, left: SubflowSeq, right: SubflowSeq) -> bool {
        self.stats.dsacks_received += 1;
        let out = self.rtx.on_dsack(left, right, self.snd.una, self.snd.nxt);
        self.stats.spurious_retransmits += u64::from(out.spurious_retransmits);
        out.widened
    }

    /// Sender: if the watched recovery episode proved spurious, undo its
    /// congestion response (RFC 9438 §4.9.2) and end it, if it still runs.
    pub(super) fn undo_if_spurious(&mut self, now: Instant) {
        if !self.rtx.take_spurious_episode(self.snd.una) {
            return;
        }
        self.stats.spurious_undos += 1;
        self.cc.on_spurious_congestion(now);
        if matches!(
            self.recovery,
            Some(Recovery {
                kind: RecoveryKind::Fast(_),
                ..
            })
        ) {
            self.recovery = None;
        }
    }
}
