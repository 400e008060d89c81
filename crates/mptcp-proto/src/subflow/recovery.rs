//! Loss recovery episodes and Proportional Rate Reduction (RFC 6937).

use mptcp_wire::SubflowSeq;

/// A loss recovery episode: it ends when SND.UNA reaches `point` (the
/// SND.NXT at its start; RFC 6582's "recover").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Recovery {
    pub(super) point: SubflowSeq,
    pub(super) kind: RecoveryKind,
}

/// How the episode started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RecoveryKind {
    /// Loss detected by SACK/RACK or duplicate ACKs: sending is clocked by
    /// PRR.
    Fast(Prr),
    /// The retransmission timer expired: slow start from one segment.
    Timeout,
}

/// RFC 6937 §3 state. During fast recovery, transmissions follow
/// deliveries, scaled by ssthresh / RecoverFS while the pipe is above
/// ssthresh (so the flight converges to ssthresh whatever else is lost),
/// and slow-start back up to ssthresh below it (PRR-SSRB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Prr {
    /// Flight size when recovery started.
    recover_fs: u64,
    /// Bytes delivered to the receiver since (prr_delivered).
    delivered: u64,
    /// Bytes sent since (prr_out).
    out: u64,
    /// Bytes that may be sent now.
    sndcnt: u64,
}

impl Prr {
    pub(super) fn new(recover_fs: u64) -> Prr {
        Prr {
            recover_fs: recover_fs.max(1),
            delivered: 0,
            out: 0,
            sndcnt: 0,
        }
    }

    /// An ACK delivered `delivered` bytes (cumulatively or by SACK); the
    /// pipe is now `pipe`.
    pub(super) fn on_ack(&mut self, delivered: u64, pipe: u64, ssthresh: u64, mss: u64) {
        self.delivered += delivered;
        self.sndcnt = if pipe > ssthresh {
            // Proportional rate reduction.
            (self.delivered.saturating_mul(ssthresh))
                .div_ceil(self.recover_fs)
                .saturating_sub(self.out)
        } else {
            // Slow start reduction bound.
            let limit = self.delivered.saturating_sub(self.out).max(delivered) + mss;
            (ssthresh - pipe).min(limit)
        };
    }

    /// Whether a segment may go out now.
    pub(super) fn allows(&self) -> bool {
        self.sndcnt > 0
    }

    /// `len` bytes went out.
    pub(super) fn on_sent(&mut self, len: u64) {
        self.out += len;
        self.sndcnt = self.sndcnt.saturating_sub(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_then_slow_start_reduction_bound() {
        // RFC 6937 Appendix-style example: RecoverFS 20 segments, ssthresh 10.
        let mss = 100;
        let mut p = Prr::new(20 * mss);
        // Above ssthresh: one segment out per two delivered.
        p.on_ack(mss, 19 * mss, 10 * mss, mss);
        assert!(p.allows());
        p.on_sent(mss);
        p.on_ack(mss, 18 * mss, 10 * mss, mss);
        assert!(!p.allows(), "2 delivered * 10/20 = 1 already sent");
        p.on_ack(mss, 17 * mss, 10 * mss, mss);
        assert!(p.allows());
        p.on_sent(mss);
        // Far below ssthresh (heavy losses): grow back, but at most one
        // segment more than delivered and not yet matched by sends:
        // prr_delivered 5 - prr_out 2 + 1 = 4 segments (< ssthresh - pipe).
        p.on_ack(2 * mss, 4 * mss, 10 * mss, mss);
        assert_eq!(p.sndcnt, 4 * mss);
    }
}
