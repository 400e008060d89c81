//! Data Sequence Signal: mappings, DATA_ACK, DATA_FIN (RFC 8684 §3.3).

use super::ConnectionError;
use super::DataLevel;
use super::mptcp::{DataFinTx, FallbackReason, Mode};
use super::path_state::{PathKind, PathState, ResetCause, RxMapping};
use crate::error::ProtocolViolation;
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::{InputVerdict, SegmentMeta, SubflowView};
use mptcp_wire::{
    DataSeq, Dss, DssMapping, MptcpOption, SubflowSeq, TcpFlags, WireSeq, dss_checksum,
    verify_dss_checksum,
};

/// The DSS for an outgoing segment of an established MPTCP subflow: the
/// DATA_ACK always; the mapping of the payload (one mapping per segment,
/// so every retransmission carries the same one); our DATA_FIN on segments
/// without payload until it is acknowledged.
pub fn options(
    data: &mut DataLevel,
    view: &SubflowView,
    seg: &SegmentMeta,
    space: usize,
    out: &mut MptcpOptionList,
) {
    let Mode::Mptcp(mp) = &data.mode else { return };
    let mut dss = Dss {
        data_ack: Some(WireSeq::Long(data.recv.nxt().0)),
        mapping: None,
        data_fin: false,
        reserved: 0,
        unused_flags: 0,
    };
    if seg.payload_len > 0 {
        let Some(map) = seg.map else { return };
        dss.mapping = Some(DssMapping {
            dsn: WireSeq::Long(map.dsn.0),
            subflow_seq: (map.seq - view.iss) as u32,
            data_len: map.len,
            checksum: if mp.checksum { map.csum } else { None },
        });
    } else if let DataFinTx::Pending(fin) = mp.data_fin
        && !seg.flags.contains(TcpFlags::SYN)
    {
        // RFC 8684 §3.3.3: a DATA_FIN alone has subflow sequence 0 and a
        // data-level length of 1.
        dss.data_fin = true;
        dss.mapping = Some(DssMapping {
            dsn: WireSeq::Long(fin.0),
            subflow_seq: 0,
            data_len: 1,
            checksum: mp.checksum.then(|| dss_checksum(fin.0, 0, 1, &[])),
        });
    }
    let opt = MptcpOption::Dss(dss);
    // Segments are cut so that their mapping always fits (the option
    // reserve); if it does not, the owner withholds the segment.
    if opt.len() <= space {
        let _ = out.try_push(opt);
    } else if dss.mapping.is_some() && dss.data_fin {
        // No room for the DATA_FIN: at least acknowledge.
        let ack_only = MptcpOption::Dss(Dss {
            mapping: None,
            data_fin: false,
            ..dss
        });
        if ack_only.len() <= space {
            let _ = out.try_push(ack_only);
        }
    }
}

/// A DSS on an incoming segment: DATA_ACK, mapping, DATA_FIN.
pub fn on_segment(
    data: &mut DataLevel,
    path: &mut PathState,
    view: &SubflowView,
    seg: &SegmentIn<'_>,
) -> InputVerdict {
    let Some(dss) = seg.mptcp.iter().find_map(|o| match o {
        MptcpOption::Dss(d) => Some(*d),
        _ => None,
    }) else {
        return InputVerdict::Accept;
    };
    path.dss_seen = true;
    let Some(map) = dss.mapping else {
        on_dss_ack(data, path, view, seg, &dss);
        return InputVerdict::Accept;
    };
    let near = data.recv.nxt();
    let dsn = map.dsn.expand(near);
    if map.data_len == 0 {
        return on_infinite_mapping(data, path, map.subflow_seq, dsn);
    }
    // Ahead of the window, or older than any retransmission could be
    // (4 GiB behind).
    let ahead = dsn.diff(data.recv.nxt());
    if ahead > data.recv.capacity() as i64 || ahead < -(1i64 << 32) {
        // RFC 8684 §3.8: a data sequence number out of the window: drop the
        // data (the whole segment: taking it at the TCP level would put the
        // subflow out of step with the peer's own data).
        data.mib.inc(Mib::DssOutOfWindow);
        return InputVerdict::Discard;
    }
    on_dss_ack(data, path, view, seg, &dss);
    let Mode::Mptcp(mp) = &mut data.mode else {
        return InputVerdict::Accept;
    };
    // (A DATA_FIN alone has subflow sequence 0: no data, no place.)
    let carries_data = map.data_len > u16::from(dss.data_fin);
    if path.kind == PathKind::Initial
        && carries_data
        && mp
            .recv_start()
            .is_some_and(|start| dsn != start + u64::from(map.subflow_seq.wrapping_sub(1)))
    {
        // The peer's stream no longer runs one to one over this subflow
        // (it resent data here): no fallback from now on.
        data.infinite_fallback_ok = false;
    }
    let checksum = if mp.checksum { map.checksum } else { None };
    let payload_len = u32::from(map.data_len) - u32::from(dss.data_fin);
    if dss.data_fin {
        let at = dsn + u64::from(payload_len);
        if !data.recv.set_fin(at) {
            data.mib.inc(Mib::DSSNotMatching);
        }
        data.note_peer_fin();
    }
    if payload_len == 0 {
        return InputVerdict::Accept;
    }
    let mapping = RxMapping {
        ssn: map.subflow_seq,
        dsn,
        len: payload_len,
        csum: checksum,
        fin: dss.data_fin,
    };
    if !path.add_mapping(mapping) {
        // RFC 8684 §3.3.1: a mapping cannot be changed once made.
        data.mib.inc(Mib::DSSNotMatching);
        path.violated(ProtocolViolation::ContradictingMapping);
        return InputVerdict::Reset;
    }
    InputVerdict::Accept
}

/// The DATA_ACK of a DSS, if any.
fn on_dss_ack(
    data: &mut DataLevel,
    path: &mut PathState,
    view: &SubflowView,
    seg: &SegmentIn<'_>,
    dss: &Dss,
) {
    if let Some(ack) = dss.data_ack {
        path.data_ack_seen = true;
        let window = u64::from(seg.window) << view.snd_wscale;
        on_data_ack(data, ack, window);
    }
}

/// RFC 8684 §3.7: an infinite mapping: the peer fell back to TCP. Taken
/// only on the first subflow while both streams run one to one there
/// (`DataLevel::may_fall_back`), and only when it agrees with that run: a
/// forged one, or one after the streams diverged, cannot splice bytes into
/// the stream. Such a segment is discarded whole.
fn on_infinite_mapping(
    data: &mut DataLevel,
    path: &PathState,
    ssn: u32,
    dsn: DataSeq,
) -> InputVerdict {
    data.mib.inc(Mib::InfiniteMapRx);
    let Mode::Mptcp(mp) = &data.mode else {
        return InputVerdict::Accept;
    };
    let aligned = mp
        .recv_start()
        .is_some_and(|start| dsn == start + u64::from(ssn.wrapping_sub(1)));
    if path.kind != PathKind::Initial || !data.may_fall_back() || !aligned {
        data.mib.inc(Mib::InfiniteMapDrop);
        return InputVerdict::Discard;
    }
    if mp.fail_sent.is_some() {
        // We dropped the altered bytes after our MP_FAIL; the peer goes on
        // past them as TCP and will not send them again.
        data.fatal = Some(ConnectionError::Corrupted);
        return InputVerdict::Discard;
    }
    data.fall_back(FallbackReason::InfiniteMapping);
    InputVerdict::Accept
}

/// A DATA_ACK (RFC 8684 §3.3.2) with the window it came with (§3.3.4).
pub fn on_data_ack(data: &mut DataLevel, ack: WireSeq, window: u64) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    let ack = ack.expand(data.send.una());
    let fin = match mp.data_fin {
        DataFinTx::Pending(f) => Some(f),
        _ => None,
    };
    let highest = fin.map_or(data.send.nxt(), |f| f + 1);
    if ack.lt(data.send.una()) || ack.gt(highest) {
        // Old, or acknowledging what was never sent: ignore.
        return;
    }
    mp.window_from_ack(ack + window);
    if let Some(f) = fin
        && ack.gt(f)
    {
        mp.data_fin = DataFinTx::Acked;
    }
    let freed = data.send.ack(ack.min(data.send.nxt()));
    if freed > 0 {
        data.on_send_progress();
    }
}

/// In-order payload of an MPTCP subflow, starting at subflow `seq`: map it
/// to data sequence numbers and hand it to the data level.
pub fn on_data(
    data: &mut DataLevel,
    path: &mut PathState,
    view: &SubflowView,
    seq: SubflowSeq,
    bytes: &[u8],
) -> DataOutcome {
    if data.mode.mptcp().is_some_and(|m| m.fail_sent.is_some()) {
        // RFC 8684 §3.7: after an MP_FAIL, everything that follows the
        // failed data sequence number is discarded.
        return DataOutcome::Taken;
    }
    let mut rel = (seq - view.irs) as u32;
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(map) = path.mapping_for(rel) else {
            return on_unmapped(data, path, rel, rest);
        };
        let offset = rel.wrapping_sub(map.ssn);
        let n = (map.len - offset).min(rest.len() as u32) as usize;
        let (now, later) = rest.split_at(n);
        if map.csum.is_some() {
            let out = gather_checksummed(data, path, map, offset, now);
            if out != DataOutcome::Taken {
                return out;
            }
        } else {
            data.deliver(map.dsn + u64::from(offset), now);
        }
        rel = rel.wrapping_add(n as u32);
        rest = later;
    }
    DataOutcome::Taken
}

/// What became of payload handed to the data level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataOutcome {
    /// Delivered, held for its checksum, or discarded as the protocol
    /// says: nothing more to do.
    Taken,
    /// Acknowledge at once: our ACK carries an MP_FAIL.
    AckNow,
    /// The subflow must be reset (the cause is in the path state).
    Reset,
}

/// Hold a checksummed mapping's bytes until it is complete, then verify and
/// deliver (RFC 8684 §3.3.1: the checksum covers the whole mapping).
fn gather_checksummed(
    data: &mut DataLevel,
    path: &mut PathState,
    map: RxMapping,
    offset: u32,
    bytes: &[u8],
) -> DataOutcome {
    if path.pending.map != Some(map) {
        path.pending.map = Some(map);
        path.pending.bytes.clear();
    }
    if offset as usize != path.pending.bytes.len() {
        // Only in-order bytes reach here; a gap means a mapping restarted.
        path.pending.bytes.truncate(offset as usize);
    }
    path.pending.bytes.extend_from_slice(bytes);
    if path.pending.bytes.len() < map.len as usize {
        return DataOutcome::Taken;
    }
    let csum = map.csum.unwrap_or(0);
    // RFC 8684 §3.3.1: the pseudo-header has the data-level length as on
    // the wire, which counts a DATA_FIN.
    let ok = verify_dss_checksum(
        map.dsn.0,
        map.ssn,
        (map.len + u32::from(map.fin)) as u16,
        csum,
        &path.pending.bytes,
    );
    let bytes = std::mem::take(&mut path.pending.bytes);
    path.pending.map = None;
    if ok {
        data.deliver(map.dsn, &bytes);
        return DataOutcome::Taken;
    }
    data.mib.inc(Mib::DataCsumErr);
    on_checksum_failure(data, path, map.dsn)
}

/// A failed checksum (RFC 8684 §3.7); the altered bytes are never
/// delivered.
///
/// - On the only subflow, while both streams run one to one over it: an
///   MP_FAIL with the mapping's data sequence number on our ACKs (not a
///   RST), and everything after that number is discarded. The peer answers
///   with its own MP_FAIL and an infinite mapping and goes on as TCP from
///   where its stream stands: the RFC's retroactive mapping takes the
///   altered bytes as the stream (the Linux kernel delivers them). This
///   stack does not deliver them: once the peer has answered (or after
///   [`FAIL_WAIT`]) the connection ends with
///   [`ConnectionError::Corrupted`], so the application has the exact
///   stream up to the failure and an error, never altered bytes.
/// - Otherwise: the subflow is reset, its RST carrying MP_FAIL and
///   MP_TCPRST "middlebox interference"; the sender reinjects the data on
///   another subflow and the stream goes on intact.
fn on_checksum_failure(data: &mut DataLevel, path: &mut PathState, dsn: DataSeq) -> DataOutcome {
    data.mib.inc(Mib::MPFailTx);
    path.fail_due = Some(dsn);
    if path.kind == PathKind::Initial && data.may_fall_back() {
        if let Mode::Mptcp(mp) = &mut data.mode {
            mp.fail_sent.get_or_insert(dsn);
        }
        return DataOutcome::AckNow;
    }
    path.reset_for(ResetCause::Middlebox);
    DataOutcome::Reset
}

/// How long we wait, after our MP_FAIL on the only subflow, for the peer
/// to answer before the connection ends anyway.
pub const FAIL_WAIT: crate::time::Duration = crate::time::Duration::from_secs(2);

/// Payload no mapping covers (options stripped by a middlebox). RFC 8684
/// §3.7: on the first subflow, while both streams run one to one over it
/// and the byte continues the stream, fall back to TCP and take the data as
/// that continuation (the kernel does the same; our ACKs then carry no
/// DATA_ACK, so the sender falls back too); otherwise reset the subflow
/// ("middlebox interference") so the sender reinjects elsewhere.
fn on_unmapped(data: &mut DataLevel, path: &mut PathState, rel: u32, bytes: &[u8]) -> DataOutcome {
    // Falling back is safe only while the stream is in sync: everything the
    // data level has came through this subflow, in order, up to here.
    let in_sync = data
        .mode
        .mptcp()
        .and_then(|m| m.recv_start())
        .is_some_and(|start| data.recv.nxt().bytes_since(start) == u64::from(rel.wrapping_sub(1)));
    if path.kind == PathKind::Initial && data.may_fall_back_alone() && in_sync {
        data.mib.inc(Mib::DssFallback);
        data.fall_back(FallbackReason::MissingMapping);
        data.deliver_in_order(bytes);
        return DataOutcome::Taken;
    }
    data.mib.inc(Mib::DssReset);
    path.reset_for(ResetCause::Middlebox);
    DataOutcome::Reset
}

/// The DSS checksum of a mapping we send.
pub fn send_checksum(dsn: DataSeq, ssn: u32, bytes: &[u8]) -> u16 {
    dss_checksum(dsn.0, ssn, bytes.len() as u16, bytes)
}
