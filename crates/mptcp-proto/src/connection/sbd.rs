//! Feeding shared bottleneck detection (RFC 8382, see
//! [`crate::congestion::SharedBottleneck`]) with each subflow's round-trip
//! samples and losses; [`Connection::fill_cc_views`] then shows a coupled
//! controller only the siblings in its own group.

use super::Connection;
use crate::congestion::{SbdConfig, SbdInput, SharedBottleneck};
use crate::subflow::{SubflowId, TcpState};
use crate::time::Instant;

impl Connection {
    /// After a segment on subflow `idx`: hand its new sample and counters
    /// to the detector, if detection is on and the controller coupled.
    pub(super) fn feed_sbd(&mut self, idx: usize, now: Instant) {
        let mp = &self.config.mptcp;
        if !(mp.sbd && mp.cc.is_coupled() && self.data.mode.mptcp().is_some()) {
            return;
        }
        let sbd = self
            .sbd
            .get_or_insert_with(|| SharedBottleneck::new(SbdConfig::default()));
        let sf = &self.subflows[idx].sf;
        let key = sf.id().0;
        if sf.state() == TcpState::Closed {
            sbd.forget(key);
            return;
        }
        let stats = sf.stats();
        sbd.observe(
            now,
            key,
            SbdInput {
                rtt_samples: sf.rtt().samples(),
                latest_rtt: sf.rtt().latest(),
                bytes_sent: stats.bytes_sent,
                bytes_retrans: stats.bytes_retrans,
            },
        );
    }

    /// The shared-bottleneck group of subflow `id`: `None` while detection
    /// is off or has not decided (the subflow is then coupled with all).
    pub fn sbd_group(&self, id: SubflowId) -> Option<usize> {
        self.sbd.as_ref()?.group(id.0)
    }

    /// Whether the controller of subflow `a` couples with subflow `b`
    /// (always while detection is off or undecided; see
    /// [`SharedBottleneck::couples`]).
    pub fn sbd_couples(&self, a: SubflowId, b: SubflowId) -> bool {
        self.sbd.as_ref().is_none_or(|s| s.couples(a.0, b.0))
    }
}
