//! What a loss recovery episode retransmitted, to tell whether it was
//! spurious: with D-SACK (RFC 2883) the receiver reports every segment it
//! got twice, so an episode whose retransmissions were all reported as
//! duplicates repaired nothing (the detection of RFC 3708 §2, which
//! RFC 9438 §4.9.2 allows for undoing the congestion response).

use mptcp_wire::SubflowSeq;

/// At most this many retransmissions are tracked per episode; an episode
/// with more is taken for real loss.
const MAX_TRACKED: usize = 256;

/// One episode, from the congestion event until it is undone, replaced by
/// the next one, ended by a retransmission timeout, or expired.
#[derive(Clone, Debug, Default)]
pub(super) struct Episode {
    /// Retransmitted ranges not yet reported as duplicates (one entry per
    /// retransmission, so a segment sent three times needs two reports).
    pending: Vec<(SubflowSeq, SubflowSeq)>,
    /// Retransmissions reported as duplicates.
    dsacked: u32,
    /// More retransmissions than tracked: never spurious.
    overflow: bool,
    /// Once recovery is over: forget the episode when SND.UNA reaches
    /// this (the D-SACKs of its last retransmissions arrive within a round
    /// trip).
    expires: Option<SubflowSeq>,
}

impl Episode {
    /// The segment `[seq, end)` was retransmitted within the episode
    /// (`end` after its payload, or after its FIN if it has none: reports
    /// may or may not count a FIN).
    pub(super) fn on_retransmit(&mut self, seq: SubflowSeq, end: SubflowSeq) {
        if self.pending.len() >= MAX_TRACKED {
            self.overflow = true;
        } else {
            self.pending.push((seq, end));
        }
    }

    /// A D-SACK reported `[left, right)` as received twice: every
    /// retransmission wholly inside it was unnecessary. Returns how many.
    pub(super) fn on_dsack(&mut self, left: SubflowSeq, right: SubflowSeq) -> u32 {
        // Each range inside the block was received twice once more: one
        // retransmission of it was unnecessary (the oldest entry goes).
        let mut seen: Vec<(SubflowSeq, SubflowSeq)> = Vec::new();
        self.pending.retain(|&r| {
            let inside = r.0.ge(left) && r.1.le(right);
            if inside && !seen.contains(&r) {
                seen.push(r);
                return false;
            }
            true
        });
        let matched = seen.len() as u32;
        self.dsacked += matched;
        matched
    }

    /// Whether every retransmission of the episode was unnecessary (and
    /// there was at least one).
    pub(super) fn is_spurious(&self) -> bool {
        !self.overflow && self.dsacked > 0 && self.pending.is_empty()
    }

    /// Recovery ended with SND.NXT at `snd_nxt`.
    pub(super) fn on_recovery_end(&mut self, snd_nxt: SubflowSeq) {
        self.expires.get_or_insert(snd_nxt);
    }

    /// Whether the episode is too old to be undone.
    pub(super) fn expired(&self, snd_una: SubflowSeq) -> bool {
        self.expires.is_some_and(|x| snd_una.ge(x))
    }
}
