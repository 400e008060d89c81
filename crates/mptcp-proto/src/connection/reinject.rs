//! Reinjection: data stranded on a stale or closed subflow, or left
//! unacknowledged at the data level, goes out again on another (RFC 8684
//! §3.3.6); and opportunistic reinjection, when nothing new may go out.

use super::Connection;
use crate::scheduler::PathView;
use crate::stats::Mib;
use mptcp_wire::DataSeq;

/// Consecutive RTO expirations after which a subflow is stale.
const STALE_BACKOFF: u32 = 2;

/// A subflow whose retransmission timer expired twice in a row without
/// progress: probably a dead path (the Linux kernel's "stale" subflows). It
/// carries new data only when no other subflow can.
pub(super) fn is_stale(e: &super::PathEntry) -> bool {
    e.sf.rtt().backoff() >= STALE_BACKOFF
}

impl Connection {
    /// Nothing new may go out (all sent, or the peer's window is full): the
    /// fastest subflow with room resends the oldest data still outstanding
    /// on a slower subflow, so the receiver's head of line does not wait
    /// for the slow path (opportunistic retransmission, Raiciu et al.,
    /// NSDI 2012). Each byte is resent this way at most once.
    pub(super) fn opportunistic_reinject(
        &mut self,
        views: &[PathView],
        index: &[usize],
        checksum: bool,
    ) -> bool {
        let Some(fast) = (0..views.len())
            .filter(|&i| views[i].send_space > 0)
            .min_by_key(|&i| views[i].srtt)
        else {
            return false;
        };
        let fast_idx = index[fast];
        let floor = self.data.send.una().max(self.opportunistic_high);
        let fast_srtt = views[fast].srtt;
        let oldest = self
            .subflows
            .iter()
            .enumerate()
            .filter(|(i, e)| *i != fast_idx && e.sf.rtt().srtt_or_initial() > fast_srtt)
            .flat_map(|(_, e)| e.sf.send_queue().iter())
            .filter(|s| !s.sacked && s.xmit.is_some())
            .filter_map(|s| s.dsn.map(|d| (d, s.data.len() as u64)))
            .filter(|(d, len)| (*d + *len).gt(floor))
            .min_by(|a, b| a.0.seq_cmp(b.0));
        let Some((dsn, len)) = oldest else {
            return false;
        };
        let from = dsn.max(floor);
        let end = dsn + len;
        let mss = (self.subflows[fast_idx].sf.send_mss() as u64).min(views[fast].send_space);
        let bytes = self
            .data
            .send
            .slice(from, end.bytes_since(from).min(mss) as usize);
        if bytes.is_empty() {
            return false;
        }
        self.opportunistic_high = from + bytes.len() as u64;
        self.data.mib.inc(Mib::MPTCPRetrans);
        self.data.forbid_fallback();
        self.push(fast_idx, from, bytes, checksum);
        true
    }

    /// A subflow that turned stale hands what it holds to the others at
    /// once (SubflowStale); one that made progress again is used again
    /// (SubflowRecover).
    pub(super) fn track_staleness(&mut self, idx: usize) {
        if self.data.mode.is_tcp() {
            return;
        }
        let entry = &mut self.subflows[idx];
        let stale = is_stale(entry);
        if stale == entry.path.stale {
            return;
        }
        entry.path.stale = stale;
        if !stale {
            self.data.mib.inc(Mib::SubflowRecover);
            return;
        }
        self.data.mib.inc(Mib::SubflowStale);
        self.reinject_held(idx);
    }

    /// Queue for reinjection everything subflow `idx` holds (sent or not):
    /// it turned stale or closed.
    pub(super) fn reinject_held(&mut self, idx: usize) {
        let held: Vec<(DataSeq, u64)> = self.subflows[idx]
            .sf
            .send_queue()
            .iter()
            .filter_map(|s| s.dsn.map(|d| (d, s.data.len() as u64)))
            .collect();
        for (dsn, len) in held {
            self.data.send.queue_reinject(dsn, len);
        }
    }
}
