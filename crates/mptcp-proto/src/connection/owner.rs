//! What a subflow sees of its connection: [`SubflowOwner`] over the data
//! level and the subflow's own MPTCP state.

use super::mptcp::{FallbackReason, Mode};
use super::path_state::{JoinStage, PathKind, PathState, ResetCause};
use super::{DataLevel, capable, dss, join, signals};
use crate::error::ProtocolViolation;
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::{InputVerdict, SegmentMeta, SubflowOwner, SubflowView};
use crate::time::Instant;
use mptcp_wire::{CapableBody, MptcpOption, SubflowSeq, TcpFlags};

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
            PathKind::Join(_) => join::options(self.data, self.path, seg, space, out),
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
    ///
    /// On the first subflow the same holds after DATA_ACKs arrived, while
    /// the streams still run one to one: an MPTCP peer puts a DSS on every
    /// segment, so such an ACK means the peer fell back (it took our data,
    /// whose options a middlebox stripped, as plain TCP) or that options
    /// vanish on the way back; either way both ends must now be TCP.
    fn missing_data_ack(
        &mut self,
        view: &SubflowView,
        seg: &SegmentIn<'_>,
    ) -> Option<InputVerdict> {
        let acks_data = seg.has(TcpFlags::ACK) && view.acks_new_payload(seg.ack);
        let initial = self.path.kind == PathKind::Initial;
        // The peer fell back first: follow it whenever no join got
        // established (a join of ours past its SYN would have kept it
        // from falling back alone).
        let may_fall_back = initial && self.data.may_fall_back();
        // On a joined subflow only before its first DATA_ACK (RFC 8684
        // §3.7); on the first, whenever: a peer that fell back while we
        // cannot must not get more data there (it would take it as TCP).
        if !acks_data
            || !seg.mptcp.is_empty()
            || seg.has(TcpFlags::SYN)
            || (self.path.data_ack_seen && !initial)
        {
            return None;
        }
        self.data.mib.inc(Mib::DataAckMissing);
        if may_fall_back && self.data.fail_pending() {
            // We dropped the altered bytes after our MP_FAIL; the peer
            // answered by going on as TCP past them and will not send them
            // again: falling back would hand the application a stream
            // with a hole (RFC 8684 §3.7; our deviation, see dss.rs).
            self.data.fatal = Some(super::ConnectionError::Corrupted);
            return Some(InputVerdict::Discard);
        }
        if may_fall_back {
            self.data.mib.inc(Mib::DssFallback);
            self.data.fall_back(FallbackReason::NoDataAck);
            return Some(InputVerdict::Accept);
        }
        self.data.mib.inc(Mib::DssReset);
        self.path.reset_for(ResetCause::Middlebox);
        Some(InputVerdict::Reset)
    }

    /// A FIN without payload and without any MPTCP option on the first
    /// subflow, right where the peer's stream stands: the peer fell back
    /// (its segments arrive without options) and, having no data left to
    /// carry an infinite mapping, ends its stream as TCP does. While both
    /// streams run one to one there, fall back too and take the FIN as the
    /// end of the stream (else the stream would never end).
    fn bare_fin_from_fallen_peer(&mut self, view: &SubflowView, seg: &SegmentIn<'_>) -> bool {
        if !seg.has(TcpFlags::FIN)
            || !seg.payload.is_empty()
            || !seg.mptcp.is_empty()
            || self.path.kind != PathKind::Initial
            || !self.data.may_fall_back()
            || self.data.fail_pending()
        {
            return false;
        }
        let Some(start) = self.data.mode.mptcp().and_then(|m| m.recv_start()) else {
            return false;
        };
        let rel = (seg.seq - view.irs) as u32;
        if start + u64::from(rel.wrapping_sub(1)) != self.data.recv.nxt() {
            return false;
        }
        self.data.mib.inc(Mib::DssFallback);
        self.data.fall_back(FallbackReason::MissingMapping);
        true
    }

    /// After a fallback past the handshake, the peer's stream runs one to
    /// one over the first subflow. A segment whose DSS maps its payload
    /// elsewhere shows the peer did not fall back (it resends data at new
    /// places): taking it as TCP would splice the wrong bytes in, so the
    /// connection ends instead (RST with MP_TCPRST "middlebox
    /// interference"; the peer sees a reset, never repeated bytes).
    fn check_fallen_back(&mut self, view: &SubflowView, seg: &SegmentIn<'_>) -> InputVerdict {
        let Some(start) = self.data.fallback_recv_start() else {
            return InputVerdict::Accept;
        };
        let contradicts = seg.mptcp.iter().any(|o| match o {
            MptcpOption::Dss(d) => d.mapping.is_some_and(|m| {
                let dsn = m.dsn.expand(self.data.recv.nxt());
                m.data_len > u16::from(d.data_fin)
                    && dsn != start + u64::from(m.subflow_seq.wrapping_sub(1))
            }),
            _ => false,
        });
        if contradicts && !seg.payload.is_empty() {
            self.data.mib.inc(Mib::FallbackFailed);
            self.data.fatal = Some(super::ConnectionError::ProtocolViolation(
                ProtocolViolation::MappingAfterFallback,
            ));
            let _ = view;
            return InputVerdict::Discard;
        }
        InputVerdict::Accept
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

    fn has_data_to_send(&self) -> bool {
        self.data.send.unsent() > 0 || self.data.send.has_reinject()
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
            self.path.reset_for(ResetCause::Local);
            return false;
        }
        true
    }

    fn on_segment(&mut self, view: &SubflowView, seg: &SegmentIn<'_>) -> InputVerdict {
        if self.data.mode.is_tcp() {
            return self.check_fallen_back(view, seg);
        }
        if self.path.removal_probe.is_some() {
            // An acceptable segment: the path answers.
            self.path.heard_since_probe = true;
        }
        if seg.has(TcpFlags::RST) {
            signals::on_rst(self.data, self.path, seg);
            return InputVerdict::Accept;
        }
        let verdict = match self.path.kind {
            PathKind::Initial => capable::on_segment(self.data, self.path, view, seg),
            PathKind::Join(_) if !self.join_done() => {
                join::on_segment(self.data, self.path, seg, self.now)
            }
            PathKind::Join(_) => InputVerdict::Accept,
        };
        if verdict == InputVerdict::Reset
            || self.data.mode.is_tcp()
            || !self.join_done()
            || !self.data.mode.mptcp().is_some_and(|m| m.is_established())
        {
            return verdict;
        }
        // The join's handshake may ask for an immediate ACK: the rest of
        // the segment is processed all the same.
        let ack = |v: InputVerdict| match (v, verdict) {
            (InputVerdict::Accept, InputVerdict::AcceptAndAck) => InputVerdict::AcceptAndAck,
            _ => v,
        };
        if let Some(v) = self.missing_data_ack(view, seg) {
            return ack(v);
        }
        if self.bare_fin_from_fallen_peer(view, seg) {
            return ack(InputVerdict::Accept);
        }
        let v = dss::on_segment(self.data, self.path, view, seg);
        if v != InputVerdict::Accept {
            return ack(v);
        }
        signals::on_segment(self.data, self.path, seg, view.tuple.remote.port());
        ack(InputVerdict::Accept)
    }

    fn on_data(&mut self, view: &SubflowView, seq: SubflowSeq, data: &[u8]) -> bool {
        if let Some(start) = self.data.fallback_recv_start() {
            // Fallen back after the handshake: the stream runs one to one
            // over this subflow, so each byte has its place by its subflow
            // sequence number (bytes a checksum was still waiting for when
            // the connection fell back go first: TCP takes them as they are).
            if let Some(map) = self.path.pending.map.take() {
                let held = std::mem::take(&mut self.path.pending.bytes);
                self.data.deliver(map.dsn, &held);
            }
            let rel = (seq - view.irs) as u32;
            self.data
                .deliver(start + u64::from(rel.wrapping_sub(1)), data);
            return false;
        }
        if self.data.mode.is_tcp() {
            self.data.deliver_in_order(data);
            return false;
        }
        if !matches!(self.data.mode, Mode::Mptcp(_)) {
            return false;
        }
        let out = dss::on_data(self.data, self.path, view, seq, data);
        // The cause is in the path state, which makes the connection reset it.
        debug_assert!(out != dss::DataOutcome::Reset || self.path.reset.is_some());
        out == dss::DataOutcome::AckNow
    }
}
