//! What a subflow sees of its connection: [`SubflowOwner`] over the data
//! level and the subflow's own MPTCP state.

use super::mptcp::{FallbackReason, Mode};
use super::path::{JoinStage, PathKind, PathState};
use super::{DataLevel, capable, dss, join, signals};
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::{InputVerdict, SegmentMeta, SubflowOwner, SubflowView};
use crate::time::Instant;
use mptcp_wire::{CapableBody, MptcpOption, ResetReason, SubflowSeq, TcpFlags};

/// Borrows the data level and one subflow's path state for one call into
/// that subflow.
pub struct Owner<'a> {
    pub(super) data: &'a mut DataLevel,
    pub(super) path: &'a mut PathState,
    pub(super) now: Instant,
}

impl Owner<'_> {
    /// The MPTCP options of a segment that is not a RST.
    fn fill_options(
        &mut self,
        view: &SubflowView,
        seg: &SegmentMeta,
        space: usize,
        out: &mut MptcpOptionList,
    ) {
        let served = match self.path.kind {
            PathKind::Initial => capable::options(self.data, seg, space, out),
            PathKind::Join(_) => join::options(self.data, self.path, seg, self.now, space, out),
        };
        if served || !self.data.mode.mptcp().is_some_and(|m| m.is_established()) {
            return;
        }
        let used = |out: &MptcpOptionList| out.iter().map(|o| o.len()).sum::<usize>();
        if seg.payload_len == 0 && signals::due_on(self.data, self.path, self.now) {
            // A pure ACK asked for to carry a signal: the signal first, the
            // DSS (DATA_ACK) if room is left (RFC 8684 §3.3: a DSS need not
            // be on every segment).
            signals::options(self.data, self.path, seg, self.now, space, out);
            dss::options(self.data, view, seg, space - used(out), out);
            return;
        }
        dss::options(self.data, view, seg, space, out);
        let left = space.saturating_sub(used(out));
        signals::options(self.data, self.path, seg, self.now, left, out);
    }

    /// RFC 8684 §3.7: until a DATA_ACK arrived on a subflow, an
    /// acknowledgment of our data there without any MPTCP option means the
    /// path drops options. On the first subflow, while both streams still
    /// run one to one over it, the connection falls back to TCP (telling
    /// the peer with an infinite mapping); otherwise the subflow is reset
    /// with MP_TCPRST "middlebox interference" and its data goes out on the
    /// others. (A segment with other MPTCP options, such as the kernel's
    /// ADD_ADDR on a pure ACK without DSS, does not count.)
    fn missing_data_ack(
        &mut self,
        view: &SubflowView,
        seg: &SegmentIn<'_>,
    ) -> Option<InputVerdict> {
        let acks_data = seg.has(TcpFlags::ACK) && view.acks_new_payload(seg.ack);
        if !acks_data || !seg.mptcp.is_empty() || seg.has(TcpFlags::SYN) || self.path.data_ack_seen
        {
            return None;
        }
        self.data.mib.inc(Mib::DataAckMissing);
        if self.path.kind == PathKind::Initial && self.data.may_fall_back() {
            self.data.mib.inc(Mib::DssFallback);
            self.data.fall_back(FallbackReason::NoDataAck);
            return Some(InputVerdict::Accept);
        }
        self.data.mib.inc(Mib::DssReset);
        self.path.reset_reason = Some(ResetReason::MIDDLEBOX_INTERFERENCE);
        Some(InputVerdict::Reset)
    }

    fn join_done(&self) -> bool {
        match self.path.kind {
            PathKind::Initial => true,
            PathKind::Join(j) => j.stage == JoinStage::Established,
        }
    }
}

impl SubflowOwner for Owner<'_> {
    fn receive_space(&self, _view: &SubflowView) -> u64 {
        self.data.recv.space()
    }

    fn shared_window(&self) -> Option<u64> {
        matches!(self.data.mode, Mode::Mptcp(_)).then(|| self.data.recv.capacity())
    }

    fn options_for(
        &mut self,
        view: &SubflowView,
        seg: &SegmentMeta,
        space: usize,
        out: &mut MptcpOptionList,
    ) -> bool {
        if self.data.mode.is_tcp() {
            if !seg.flags.rst() {
                signals::fallback_options(self.data, self.path, seg, view, space, out);
            }
            return true;
        }
        if seg.flags.rst() {
            signals::rst_options(self.data, self.path, out);
            return true;
        }
        self.fill_options(view, seg, space, out);
        // RFC 8684 §3.3.1: data without its mapping is useless to the peer
        // (or worse, taken for a fallback): such a segment must not leave.
        let needs_map = seg.payload_len > 0;
        let mapped = out.iter().any(|o| match o {
            MptcpOption::Dss(d) => d.mapping.is_some(),
            MptcpOption::Capable(c) => matches!(c.body, CapableBody::BothKeysWithData { .. }),
            _ => false,
        });
        if needs_map && !mapped {
            self.data.mib.inc(Mib::DssNoRoomTx);
            self.path.reset_reason = Some(ResetReason::UNSPECIFIED);
            return false;
        }
        true
    }

    fn on_segment(&mut self, view: &SubflowView, seg: &SegmentIn<'_>) -> InputVerdict {
        if self.data.mode.is_tcp() {
            return InputVerdict::Accept;
        }
        if self.path.removal_probe.is_some() {
            // An acceptable segment: the path answers.
            self.path.heard_since_probe = true;
        }
        if seg.has(TcpFlags::RST) {
            signals::on_rst(self.data, seg);
            return InputVerdict::Accept;
        }
        let verdict = match self.path.kind {
            PathKind::Initial => capable::on_segment(self.data, self.path, view, seg),
            PathKind::Join(_) if !self.join_done() => join::on_segment(self.data, self.path, seg),
            PathKind::Join(_) => InputVerdict::Accept,
        };
        if verdict == InputVerdict::Reset
            || self.data.mode.is_tcp()
            || !self.join_done()
            || !self.data.mode.mptcp().is_some_and(|m| m.is_established())
        {
            return verdict;
        }
        if let Some(verdict) = self.missing_data_ack(view, seg) {
            return verdict;
        }
        let verdict = dss::on_segment(self.data, self.path, view, seg);
        if verdict != InputVerdict::Accept {
            return verdict;
        }
        signals::on_segment(self.data, self.path, seg, view.tuple.remote.port());
        InputVerdict::Accept
    }

    fn on_data(&mut self, view: &SubflowView, seq: SubflowSeq, data: &[u8]) {
        if self.data.mode.is_tcp() {
            self.data.deliver_in_order(data);
            return;
        }
        if !matches!(self.data.mode, Mode::Mptcp(_)) {
            return;
        }
        if dss::on_data(self.data, self.path, view, seq, data) {
            self.path.reset_requested = true;
        }
    }
}
