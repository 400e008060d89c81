//! The MP_CAPABLE handshake of the first subflow (RFC 8684 §3.1, RFC 6824
//! §3.1).
//!
//! v1: the client's SYN carries no key, the server's SYN-ACK its key, the
//! client's third ACK both keys. Until the server shows, by sending a DSS,
//! that it has the client's key, the client repeats both keys on its pure
//! ACKs and carries its first data in an MP_CAPABLE with a data-level
//! length. v0: the client's key already travels in the SYN.

use super::DataLevel;
use super::mptcp::{FallbackReason, Mode, Phase};
use super::path_state::{PathState, RxMapping};
use crate::crypto::{KeyMaterial, MptcpVersion};
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::{InputVerdict, SegmentMeta, SubflowView};
use mptcp_wire::{CapableBody, CapableFlags, DataSeq, MpCapable, MptcpOption, TcpFlags, Version};

/// The wire version code of an engine version.
pub fn wire_version(v: MptcpVersion) -> Version {
    match v {
        MptcpVersion::V0 => Version::V0,
        MptcpVersion::V1 => Version::V1,
    }
}

/// The engine version of a wire version code, if supported.
pub fn engine_version(v: Version) -> Option<MptcpVersion> {
    match v {
        Version::V0 => Some(MptcpVersion::V0),
        Version::V1 => Some(MptcpVersion::V1),
        _ => None,
    }
}

/// Flags we send: the crypto bit (HMAC-SHA256 for v1, HMAC-SHA1 for v0),
/// A when checksums are wanted, and C when `no_join` (RFC 8684 §3.1: in
/// v1 only; v0 reserves the bit).
fn flags(version: MptcpVersion, checksum: bool, no_join: bool) -> CapableFlags {
    let mut f = CapableFlags::HMAC_SHA.0;
    if checksum {
        f |= CapableFlags::CHECKSUM_REQUIRED.0;
    }
    if no_join && version == MptcpVersion::V1 {
        f |= CapableFlags::NO_JOIN_TO_SOURCE.0;
    }
    CapableFlags(f)
}

/// The MP_CAPABLE of a SYN-ACK carrying `key`, for a connection not built
/// yet (a SYN cookie's SYN-ACK); `no_join` sets flag C.
pub fn syn_ack_option(
    version: MptcpVersion,
    key: u64,
    checksum: bool,
    no_join: bool,
) -> MptcpOption {
    MptcpOption::Capable(MpCapable {
        version: wire_version(version),
        flags: flags(version, checksum, no_join),
        body: CapableBody::SenderKey(key),
    })
}

/// Whether an MP_CAPABLE's flags are usable (RFC 8684 §3.1: a crypto bit
/// must be set; with B set and not understood the option is ignored).
fn usable(cap: &MpCapable) -> bool {
    cap.flags.0 & CapableFlags::HMAC_SHA.0 != 0 && cap.flags.0 & CapableFlags::EXTENSIBILITY.0 == 0
}

fn find_capable(seg: &SegmentIn<'_>) -> Option<MpCapable> {
    seg.mptcp.iter().find_map(|o| match o {
        MptcpOption::Capable(c) => Some(*c),
        _ => None,
    })
}

/// The server's view of a SYN: the MP_CAPABLE to answer, if acceptable
/// (supported version, v0 only when allowed, usable flags), as (version,
/// client key for v0, client asked for checksums).
pub fn accept_syn(
    seg: &SegmentIn<'_>,
    accept_v0: bool,
) -> Option<(MptcpVersion, Option<u64>, bool)> {
    let cap = find_capable(seg)?;
    if !usable(&cap) {
        return None;
    }
    let csum = cap.flags.0 & CapableFlags::CHECKSUM_REQUIRED.0 != 0;
    match (engine_version(cap.version)?, cap.body) {
        (MptcpVersion::V1, CapableBody::NoKey) => Some((MptcpVersion::V1, None, csum)),
        (MptcpVersion::V0, CapableBody::SenderKey(k)) if accept_v0 => {
            Some((MptcpVersion::V0, Some(k), csum))
        }
        _ => None,
    }
}

/// Options of the first subflow while MP_CAPABLE is in play. Returns true
/// when it wrote what the segment needs (no DSS then).
pub fn options(
    data: &mut DataLevel,
    seg: &SegmentMeta,
    space: usize,
    out: &mut MptcpOptionList,
) -> bool {
    let is_client = data.role == super::Role::Client;
    let Mode::Mptcp(mp) = &mut data.mode else {
        return false;
    };
    let version = wire_version(mp.version);
    // Flag C only where RFC 8684 §3.1 gives it meaning: the server's
    // SYN-ACK.
    let syn_ack = seg.flags.syn() && seg.flags.ack();
    let flags = flags(mp.version, mp.checksum, syn_ack && mp.deny_join_initial);
    let body = if seg.flags.syn() && !seg.flags.ack() {
        data.mib.inc(Mib::MPCapableSYNTX);
        match mp.version {
            MptcpVersion::V1 => CapableBody::NoKey,
            MptcpVersion::V0 => CapableBody::SenderKey(mp.local.key),
        }
    } else if seg.flags.syn() {
        CapableBody::SenderKey(mp.local.key)
    } else if is_client && mp.is_established() && !mp.fully_established {
        let Some(remote) = mp.remote_key() else {
            return false;
        };
        let first_data = seg.dsn == Some(mp.send_start()) && seg.payload_len > 0;
        if first_data && mp.version == MptcpVersion::V1 {
            CapableBody::BothKeysWithData {
                sender: mp.local.key,
                receiver: remote,
                data_len: seg.map.map_or(seg.payload_len as u16, |m| m.len),
                checksum: if mp.checksum {
                    seg.map.and_then(|m| m.csum)
                } else {
                    None
                },
            }
        } else if seg.payload_len == 0 {
            mp.keys_sent = true;
            CapableBody::BothKeys {
                sender: mp.local.key,
                receiver: remote,
            }
        } else {
            return false;
        }
    } else {
        return false;
    };
    let opt = MptcpOption::Capable(MpCapable {
        version,
        flags,
        body,
    });
    if opt.len() <= space {
        let _ = out.try_push(opt);
    }
    true
}

/// The first subflow's incoming segment while the handshake is not done,
/// or the client waiting for proof that the server has its key.
pub fn on_segment(
    data: &mut DataLevel,
    path: &mut PathState,
    view: &SubflowView,
    seg: &SegmentIn<'_>,
) -> InputVerdict {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return InputVerdict::Accept;
    };
    match mp.phase {
        Phase::AwaitSynAck if seg.has(TcpFlags::SYN) && seg.has(TcpFlags::ACK) => {
            on_syn_ack(data, view, seg);
        }
        Phase::AwaitThirdAck if !seg.has(TcpFlags::SYN) => on_third_ack(data, path, view, seg),
        // RFC 8684 §3.1: a DSS from the server shows it has our key.
        Phase::Established if data.role == super::Role::Server => {
            // The client's first data may come in MP_CAPABLE after a pure
            // third ACK (RFC 8684 §3.1): its mapping is implicit.
            if let Some(CapableBody::BothKeysWithData {
                receiver,
                data_len,
                checksum,
                ..
            }) = find_capable(seg).map(|c| c.body)
                && receiver == mp.local.key
                && let Some(start) = mp.recv_start()
            {
                path.add_mapping(RxMapping {
                    ssn: 1,
                    dsn: start,
                    len: u32::from(data_len),
                    csum: if mp.checksum { checksum } else { None },
                    fin: false,
                });
            }
        }
        Phase::Established if !mp.fully_established => {
            if seg.mptcp.iter().any(|o| matches!(o, MptcpOption::Dss(_))) {
                // RFC 8684 §3.1: a DSS from the server shows it has our key.
                mp.fully_established = true;
            } else if seg.mptcp.is_empty() && !seg.has(TcpFlags::SYN) {
                // The server answers without any MPTCP option: it fell back
                // (our keys never reached it), so we do too (RFC 8684 §3.7).
                data.mib.inc(Mib::MPCapableDataFallback);
                data.fall_back(FallbackReason::NoCapableInAck);
            }
        }
        _ => {}
    }
    InputVerdict::Accept
}

fn on_syn_ack(data: &mut DataLevel, view: &SubflowView, seg: &SegmentIn<'_>) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    let cap =
        find_capable(seg).filter(|c| usable(c) && engine_version(c.version) == Some(mp.version));
    let key = match cap.map(|c| c.body) {
        Some(CapableBody::SenderKey(k)) => k,
        _ => {
            data.mib.inc(Mib::MPCapableFallbackSYNACK);
            data.fall_back(FallbackReason::NoCapableInSynAck);
            return;
        }
    };
    data.mib.inc(Mib::MPCapableSYNACKRX);
    let cap = cap.unwrap_or(MpCapable {
        version: Version::V1,
        flags: CapableFlags(0),
        body: CapableBody::NoKey,
    });
    // RFC 8684 §3.1: checksums if either side asked.
    mp.checksum |= cap.flags.0 & CapableFlags::CHECKSUM_REQUIRED.0 != 0;
    // RFC 8684 §3.1, flag C: no subflows to the server's initial address
    // and port (v1 only; in v0 the bit is reserved).
    mp.no_join_to_source =
        mp.version == MptcpVersion::V1 && cap.flags.0 & CapableFlags::NO_JOIN_TO_SOURCE.0 != 0;
    let remote = KeyMaterial::derive(key, mp.version);
    mp.remote = Some(remote);
    mp.phase = Phase::Established;
    let start = mp.send_start();
    // RFC 7323: the SYN-ACK's window is not scaled.
    mp.advance_window(start + u64::from(seg.window));
    let recv_start = DataSeq(remote.idsn.wrapping_add(1));
    data.send.rebase(start);
    data.recv.rebase(recv_start);
    let _ = view;
}

fn on_third_ack(
    data: &mut DataLevel,
    path: &mut PathState,
    view: &SubflowView,
    seg: &SegmentIn<'_>,
) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    let cap = find_capable(seg).filter(|c| engine_version(c.version) == Some(mp.version));
    let (sender, receiver, with_data) = match cap.map(|c| c.body) {
        Some(CapableBody::BothKeys { sender, receiver }) => (sender, receiver, None),
        Some(CapableBody::BothKeysWithData {
            sender,
            receiver,
            data_len,
            checksum,
        }) => (sender, receiver, Some((data_len, checksum))),
        _ => {
            // RFC 8684 §3.1: no MP_CAPABLE in the third ACK: fall back.
            data.mib.inc(Mib::MPCapableFallbackACK);
            data.fall_back(FallbackReason::NoCapableInAck);
            return;
        }
    };
    if receiver != mp.local.key {
        data.mib.inc(Mib::MPCapableFallbackACK);
        data.fall_back(FallbackReason::NoCapableInAck);
        return;
    }
    data.mib.inc(Mib::MPCapableACKRX);
    if let Some(c) = cap {
        mp.checksum |= c.flags.0 & CapableFlags::CHECKSUM_REQUIRED.0 != 0;
    }
    let remote = KeyMaterial::derive(sender, mp.version);
    mp.remote = Some(remote);
    mp.phase = Phase::Established;
    mp.fully_established = true;
    let start = mp.send_start();
    mp.advance_window(start + (u64::from(seg.window) << view.snd_wscale));
    let recv_start = DataSeq(remote.idsn.wrapping_add(1));
    data.send.rebase(start);
    data.recv.rebase(recv_start);
    data.promote_token = true;
    if let Some((len, csum)) = with_data {
        // The first data's implicit mapping: IDSN + 1 at relative sequence 1.
        path.add_mapping(RxMapping {
            ssn: 1,
            dsn: recv_start,
            len: u32::from(len),
            csum,
            fin: false,
        });
    }
}
