//! MP_JOIN: adding a subflow to a connection (RFC 8684 §3.2, RFC 6824
//! §3.2).
//!
//! A (the side sending the SYN) proves with its HMAC in the third ACK that
//! it knows both keys; B proves the same with the truncated HMAC in its
//! SYN-ACK. A failed proof resets the subflow with MP_TCPRST and leaves the
//! connection untouched. A repeats its third ACK until B acknowledges it
//! and sends no data before.

use super::DataLevel;
use super::mptcp::Mode;
use super::path_state::{JoinStage, PathKind, PathState};
use crate::crypto::{
    join_hmac, join_hmac_truncated, verify_join_ack_hmac, verify_join_synack_hmac,
};
use crate::error::ProtocolViolation;
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::{InputVerdict, SegmentMeta};
use crate::time::Instant;
use mptcp_wire::{BackupFlags, MpJoin, MptcpOption, TcpFlags};

fn backup_flags(backup: bool) -> BackupFlags {
    if backup {
        BackupFlags::BACKUP
    } else {
        BackupFlags::NONE
    }
}

/// The MP_JOIN SYN of a joining subflow, if the SYN carries one.
pub fn find_syn(seg: &SegmentIn<'_>) -> Option<(bool, u8, u32, u32)> {
    seg.mptcp.iter().find_map(|o| match o {
        MptcpOption::Join(MpJoin::Syn {
            flags,
            address_id,
            token,
            nonce,
        }) => Some((flags.backup(), *address_id, *token, *nonce)),
        _ => None,
    })
}

/// Options of a joined subflow during its handshake. Returns true when the
/// segment is fully served (no DSS).
pub fn options(
    data: &mut DataLevel,
    path: &mut PathState,
    seg: &SegmentMeta,
    space: usize,
    out: &mut MptcpOptionList,
) -> bool {
    let Mode::Mptcp(mp) = &data.mode else {
        return false;
    };
    let PathKind::Join(join) = &mut path.kind else {
        return false;
    };
    let Some(remote) = mp.remote else {
        return false;
    };
    let opt = match join.stage {
        JoinStage::SynSent if seg.flags.syn() => {
            if !seg.retransmission {
                data.mib.inc(Mib::MPJoinSynTx);
            }
            MpJoin::Syn {
                flags: backup_flags(path.backup),
                address_id: path.local_id,
                token: remote.token.0,
                nonce: join.local_nonce,
            }
        }
        JoinStage::AwaitAck if seg.flags.syn() => MpJoin::SynAck {
            flags: backup_flags(path.backup),
            address_id: path.local_id,
            truncated_hmac: join_hmac_truncated(
                mp.version,
                mp.local.key,
                remote.key,
                join.local_nonce,
                join.remote_nonce,
            ),
            nonce: join.local_nonce,
        },
        JoinStage::AckPending if seg.payload_len == 0 && !seg.flags.syn() => MpJoin::Ack {
            reserved: 0,
            hmac: join_hmac(
                mp.version,
                mp.local.key,
                remote.key,
                join.local_nonce,
                join.remote_nonce,
            ),
        },
        JoinStage::Established => return false,
        _ => return true,
    };
    let opt = MptcpOption::Join(opt);
    if opt.len() <= space {
        let _ = out.try_push(opt);
    }
    true
}

/// An incoming segment on a joined subflow whose handshake is not done.
pub fn on_segment(
    data: &mut DataLevel,
    path: &mut PathState,
    seg: &SegmentIn<'_>,
    now: Instant,
) -> InputVerdict {
    let Mode::Mptcp(mp) = &data.mode else {
        return InputVerdict::Accept;
    };
    let Some(remote) = mp.remote else {
        return InputVerdict::Accept;
    };
    let (version, local_key) = (mp.version, mp.local.key);
    let PathKind::Join(join) = &mut path.kind else {
        return InputVerdict::Accept;
    };
    match join.stage {
        JoinStage::SynSent if seg.has(TcpFlags::SYN) && seg.has(TcpFlags::ACK) => {
            let synack = seg.mptcp.iter().find_map(|o| match o {
                MptcpOption::Join(MpJoin::SynAck {
                    flags,
                    address_id,
                    truncated_hmac,
                    nonce,
                }) => Some((flags.backup(), *address_id, *truncated_hmac, *nonce)),
                _ => None,
            });
            let verified = synack.filter(|&(_, _, hmac, nonce)| {
                verify_join_synack_hmac(
                    version,
                    local_key,
                    remote.key,
                    join.local_nonce,
                    nonce,
                    hmac,
                )
            });
            let Some((backup, id, _, nonce)) = verified else {
                data.mib.inc(if synack.is_some() {
                    Mib::MPJoinSynAckHMacFailure
                } else {
                    Mib::MPJoinSynAckNoMPJoin
                });
                path.violated(ProtocolViolation::JoinHmacMismatch);
                return InputVerdict::Reset;
            };
            data.mib.inc(Mib::MPJoinSynAckRx);
            if backup {
                data.mib.inc(Mib::MPJoinSynAckBackupRx);
            }
            data.join_answered = true;
            join.remote_nonce = nonce;
            join.stage = JoinStage::AckPending;
            path.remote_id = id;
            path.peer_backup = backup;
        }
        JoinStage::AckPending if !seg.has(TcpFlags::SYN) => {
            // B only sends after our third ACK arrived: the join is done.
            join.stage = JoinStage::Established;
            path.data_hold = Some(now + join.data_delay);
            data.forbid_fallback();
        }
        JoinStage::AwaitAck if !seg.has(TcpFlags::SYN) => {
            let hmac = seg.mptcp.iter().find_map(|o| match o {
                MptcpOption::Join(MpJoin::Ack { hmac, .. }) => Some(*hmac),
                _ => None,
            });
            let ok = hmac.is_some_and(|h| {
                verify_join_ack_hmac(
                    version,
                    local_key,
                    remote.key,
                    join.local_nonce,
                    join.remote_nonce,
                    &h,
                )
            });
            if !ok {
                data.mib.inc(Mib::MPJoinAckHMacFailure);
                path.violated(ProtocolViolation::JoinHmacMismatch);
                return InputVerdict::Reset;
            }
            data.mib.inc(Mib::MPJoinAckRx);
            join.stage = JoinStage::Established;
            data.forbid_fallback();
            // Acknowledge the third ACK at once (RFC 8684 §3.2).
            return InputVerdict::AcceptAndAck;
        }
        _ => {}
    }
    InputVerdict::Accept
}
