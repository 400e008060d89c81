//! Path management and connection signals: ADD_ADDR (RFC 8684 §3.4.1),
//! REMOVE_ADDR (§3.4.2), MP_PRIO (§3.3.8), MP_FAIL (§3.7), MP_FASTCLOSE
//! (§3.5) and MP_TCPRST (§3.6).

use super::mptcp::{FallbackReason, Mode, RemoteAddr};
use super::path_state::{OurReset, PathKind, PathState};
use super::{ConnectionError, DataLevel};
use crate::crypto::{MptcpVersion, add_addr_hmac, verify_add_addr_hmac};
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::SegmentMeta;
use crate::time::{Duration, Instant};
use mptcp_wire::{
    AddAddr, AddAddrFlags, AddressIds, BackupFlags, DataSeq, Dss, DssMapping, MpFail, MpFastClose,
    MpPrio, MpTcpRst, MptcpOption, RemoveAddr, ResetReason, TcpRstFlags, WireSeq,
};
use std::net::{IpAddr, SocketAddr};

/// How long an ADD_ADDR waits for its echo before it is sent again.
const ADD_ADDR_RETRY: Duration = Duration::from_secs(1);

/// How many times an ADD_ADDR is sent without an echo before we give up
/// (the peer may not take announcements at all).
const ADD_ADDR_SENDS: u8 = 4;

/// Options of a RST: MP_TCPRST with our reason, MP_FASTCLOSE when the
/// whole connection is being torn down, MP_FAIL after a checksum failure.
pub fn rst_options(data: &mut DataLevel, path: &PathState, out: &mut MptcpOptionList) {
    let Mode::Mptcp(mp) = &data.mode else { return };
    if matches!(path.reset, Some(OurReset::FastClose(_)))
        && let Some(key) = mp.remote_key()
    {
        data.mib.inc(Mib::MPFastcloseTx);
        let _ = out.try_push(MptcpOption::FastClose(MpFastClose {
            reserved: 0,
            receiver_key: key,
        }));
    }
    if let Some(dsn) = path.fail_due {
        let _ = out.try_push(MptcpOption::Fail(MpFail {
            reserved: 0,
            dsn: dsn.0,
        }));
    }
    // MP_TCPRST is v1's (RFC 8684 §3.6); v0 has none.
    let reason = path.reset.and_then(OurReset::reason);
    if let Some(reason) = reason.filter(|_| mp.version == MptcpVersion::V1) {
        data.mib.inc(Mib::MPRstTx);
        let _ = out.try_push(MptcpOption::TcpRst(MpTcpRst {
            flags: TcpRstFlags::NONE,
            reason,
        }));
    }
}

/// Signals that ride on ordinary segments, as space allows: MP_PRIO,
/// REMOVE_ADDR, the echo of an ADD_ADDR we received, our own ADD_ADDR.
pub fn options(
    data: &mut DataLevel,
    path: &mut PathState,
    seg: &SegmentMeta,
    now: Instant,
    mut space: usize,
    out: &mut MptcpOptionList,
) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    if seg.flags.syn() {
        return;
    }
    if let Some(dsn) = path.fail_due.filter(|_| mp.fail_sent.is_some()) {
        // RFC 8684 §3.7: our MP_FAIL rides on every ACK until the peer
        // answers.
        let opt = MptcpOption::Fail(MpFail {
            reserved: 0,
            dsn: dsn.0,
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            space -= opt.len();
        }
    }
    if let Some(backup) = path.prio_due {
        let opt = MptcpOption::Prio(MpPrio {
            flags: if backup {
                BackupFlags::BACKUP
            } else {
                BackupFlags::NONE
            },
            address_id: None,
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            space -= opt.len();
            path.prio_due = None;
            data.mib.inc(Mib::MPPrioTx);
        }
    }
    if !mp.remove_due.is_empty() {
        // As many ids as fit; the rest go on the next segment.
        let fit = space.saturating_sub(3).min(mp.remove_due.len());
        if let Some(ids) = AddressIds::new(&mp.remove_due[..fit]) {
            let opt = MptcpOption::RemoveAddr(RemoveAddr { reserved: 0, ids });
            if out.try_push(opt).is_ok() {
                space -= opt.len();
                mp.remove_due.drain(..fit);
                data.mib.inc(Mib::RmAddrTx);
            }
        }
    }
    if let Some(&(id, addr, port)) = mp.echo_due.first() {
        let opt = MptcpOption::AddAddr(AddAddr::V1 {
            flags: AddAddrFlags::ECHO,
            address_id: id,
            addr,
            port,
            hmac: None,
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            space -= opt.len();
            mp.echo_due.remove(0);
            data.mib.inc(Mib::EchoAddTx);
        }
    }
    let (local_key, remote_key) = (mp.local.key, mp.remote_key());
    let Some(remote_key) = remote_key else { return };
    if let Some(a) = mp.announce.iter_mut().find(|a| {
        !a.echoed && a.sends < ADD_ADDR_SENDS && a.sent_at.is_none_or(|t| now >= t + ADD_ADDR_RETRY)
    }) {
        // RFC 6824 §3.4.1: v0 announcements carry no HMAC and are not echoed.
        let opt = MptcpOption::AddAddr(match mp.version {
            MptcpVersion::V0 => AddAddr::V0 {
                address_id: a.id,
                addr: a.addr,
                port: a.port,
            },
            MptcpVersion::V1 => AddAddr::V1 {
                flags: AddAddrFlags::NONE,
                address_id: a.id,
                addr: a.addr,
                port: a.port,
                hmac: Some(add_addr_hmac(local_key, remote_key, a.id, a.addr, a.port)),
            },
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            a.sent_at = Some(now);
            a.sends += 1;
            a.echoed |= mp.version == MptcpVersion::V0;
            data.mib.inc(Mib::AddAddrTx);
        }
    }
}

/// Option space of a pure ACK that carries timestamps.
const PURE_ACK_SPACE: usize = 40 - 12;

/// The least time between two pure ACKs asked for to carry signals on one
/// subflow: should a signal fail to go out, no storm of ACKs follows.
pub const SIGNAL_ACK_INTERVAL: Duration = Duration::from_millis(10);

/// Whether a signal waits on subflow `path` that a data segment has no
/// room for: its MP_PRIO (which applies to the subflow it is sent on,
/// RFC 8684 §3.3.8), or one of the connection's (see [`due`]).
pub fn due_on(data: &DataLevel, path: &PathState, now: Instant) -> bool {
    let established = data.mode.mptcp().is_some_and(|m| m.fully_established);
    (path.prio_due.is_some() || path.fail_due.is_some()) && established || due(data, now)
}

/// Whether a connection signal waits that a data segment has no room for:
/// a REMOVE_ADDR, an echo we owe, or an announcement due (and small enough
/// for a pure ACK). The owner then asks a subflow for a pure ACK, as the
/// kernel does.
pub fn due(data: &DataLevel, now: Instant) -> bool {
    let Mode::Mptcp(mp) = &data.mode else {
        return false;
    };
    // Before that, the client's ACKs carry MP_CAPABLE, not signals.
    if !mp.fully_established {
        return false;
    }
    if !mp.echo_due.is_empty() || !mp.remove_due.is_empty() {
        return true;
    }
    mp.remote.is_some()
        && mp.announce.iter().any(|a| {
            !a.echoed
                && a.sends < ADD_ADDR_SENDS
                && a.sent_at.is_none_or(|t| now >= t + ADD_ADDR_RETRY)
                && announce_len(mp.version, a.addr, a.port) <= PURE_ACK_SPACE
        })
}

/// When an announcement not yet echoed is due again (RFC 8684 §3.4.1: an
/// ADD_ADDR without its echo is retransmitted), for the connection's timer.
pub fn next_retry(data: &DataLevel) -> Option<Instant> {
    let mp = data.mode.mptcp().filter(|m| m.fully_established)?;
    mp.announce
        .iter()
        .filter(|a| !a.echoed && a.sends < ADD_ADDR_SENDS)
        .filter(|a| announce_len(mp.version, a.addr, a.port) <= PURE_ACK_SPACE)
        .filter_map(|a| a.sent_at.map(|t| t + ADD_ADDR_RETRY))
        .min()
}

fn announce_len(version: MptcpVersion, addr: IpAddr, port: Option<u16>) -> usize {
    let hmac = if version == MptcpVersion::V1 { 8 } else { 0 };
    let ip = if addr.is_ipv4() { 4 } else { 16 };
    4 + ip + hmac + if port.is_some() { 2 } else { 0 }
}

/// MPTCP options of an incoming RST. One that says the path interferes
/// (MP_FAIL, or MP_TCPRST reason 6, RFC 8684 §3.6 and §3.7) marks the path.
pub fn on_rst(data: &mut DataLevel, path: &mut PathState, seg: &SegmentIn<'_>) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    for opt in &seg.mptcp {
        match opt {
            MptcpOption::TcpRst(r) => {
                data.mib.inc(Mib::MPRstRx);
                path.peer_saw_interference |= r.reason == ResetReason::MIDDLEBOX_INTERFERENCE;
            }
            MptcpOption::Fail(_) => {
                data.mib.inc(Mib::MPFailRx);
                path.peer_saw_interference = true;
            }
            MptcpOption::FastClose(f) if f.receiver_key == mp.local.key => {
                data.mib.inc(Mib::MPFastcloseRx);
                mp.fast_closed = true;
            }
            _ => {}
        }
    }
}

/// Signals on an ordinary incoming segment of an established connection.
pub fn on_segment(
    data: &mut DataLevel,
    path: &mut PathState,
    seg: &SegmentIn<'_>,
    remote_port: u16,
) {
    for opt in &seg.mptcp {
        match opt {
            MptcpOption::AddAddr(a) => on_add_addr(data, a, remote_port),
            MptcpOption::RemoveAddr(r) => {
                data.mib.inc(Mib::RmAddr);
                if let Mode::Mptcp(mp) = &mut data.mode {
                    mp.removed.extend_from_slice(r.ids.as_slice());
                }
            }
            MptcpOption::Prio(p) => {
                data.mib.inc(Mib::MPPrioRx);
                path.peer_backup = p.flags.backup();
            }
            MptcpOption::Fail(f) => on_fail(data, path, DataSeq(f.dsn)),
            MptcpOption::FastClose(f) => {
                if let Mode::Mptcp(mp) = &mut data.mode
                    && f.receiver_key == mp.local.key
                {
                    data.mib.inc(Mib::MPFastcloseRx);
                    mp.fast_closed = true;
                }
            }
            _ => {}
        }
    }
}

/// What a connection that fell back still owes its peer on the first
/// subflow (RFC 8684 §3.7): the answer to its MP_FAIL, and one infinite
/// mapping, on the first data segment, at the segment's own place in the
/// one-to-one run of the streams (as the kernel sends it).
pub fn fallback_options(
    data: &mut DataLevel,
    path: &PathState,
    seg: &SegmentMeta,
    view: &crate::subflow::SubflowView,
    mut space: usize,
    out: &mut MptcpOptionList,
) {
    let Mode::Fallback { dsn_base, owed, .. } = &mut data.mode else {
        return;
    };
    if path.kind != PathKind::Initial || seg.flags.syn() {
        return;
    }
    if let Some(dsn) = owed.fail_echo {
        let opt = MptcpOption::Fail(MpFail {
            reserved: 0,
            dsn: dsn.0,
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            space -= opt.len();
            owed.fail_echo = None;
            data.mib.inc(Mib::MPFailTx);
        }
    }
    if owed.infinite_map && seg.payload_len > 0 {
        let rel = (seg.seq - view.iss) as u32;
        let dsn = *dsn_base + u64::from(rel.wrapping_sub(1));
        let map = |dsn| {
            MptcpOption::Dss(Dss {
                data_ack: None,
                mapping: Some(DssMapping {
                    dsn,
                    subflow_seq: rel,
                    data_len: 0,
                    checksum: owed.checksum.then_some(0),
                }),
                data_fin: false,
                reserved: 0,
                unused_flags: 0,
            })
        };
        // Beside the MP_FAIL answer and timestamps only the 4-byte form
        // fits: data must not go out unmapped while the peer, not yet
        // fallen back, would take it as a reason to fall back on its own.
        let long = map(WireSeq::Long(dsn.0));
        let opt = if long.len() <= space {
            long
        } else {
            map(WireSeq::Short(dsn.0 as u32))
        };
        if opt.len() <= space && out.try_push(opt).is_ok() {
            owed.infinite_map = false;
            data.mib.inc(Mib::InfiniteMapTx);
        }
    }
}

/// An MP_FAIL outside a RST (RFC 8684 §3.7): the peer found data we sent
/// altered, on the only subflow, and asks us to fall back. Acted on only
/// when it can be true: checksums in use, the first subflow with both
/// streams still one to one over it, and a data sequence number we sent.
/// We answer with an MP_FAIL of our own and an infinite mapping on the
/// next data segment, and go on as TCP (as the Linux kernel does: what the
/// peer received stays received). If we sent an MP_FAIL first, this is the
/// peer's answer: the connection cannot go on without the altered bytes.
fn on_fail(data: &mut DataLevel, path: &PathState, dsn: DataSeq) {
    data.mib.inc(Mib::MPFailRx);
    let Mode::Mptcp(mp) = &data.mode else {
        return;
    };
    let sent = dsn.ge(mp.send_start()) && dsn.lt(data.send.nxt());
    let usable = mp.checksum && path.kind == PathKind::Initial && data.may_fall_back();
    if usable && mp.fail_sent.is_some() {
        data.fatal = Some(ConnectionError::Corrupted);
        return;
    }
    if !usable || !sent {
        data.mib.inc(Mib::MPFailDrop);
        return;
    }
    let echo = data.recv.nxt();
    data.fall_back(FallbackReason::PeerFail);
    if let Mode::Fallback { owed, .. } = &mut data.mode {
        owed.fail_echo = Some(echo);
    }
}

fn on_add_addr(data: &mut DataLevel, a: &AddAddr, remote_port: u16) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    let Some(remote_key) = mp.remote_key() else {
        return;
    };
    // RFC 8684 §3.4.1: on a v1 connection an ADD_ADDR MUST carry the HMAC;
    // one in RFC 6824's form (none) would bypass it (RFC 7430 §2). And a v0
    // peer sends only that form.
    let v1_form = matches!(a, AddAddr::V1 { .. });
    if v1_form != (mp.version == MptcpVersion::V1) {
        data.mib.inc(Mib::AddAddrDrop);
        return;
    }
    let (id, addr, port) = match *a {
        AddAddr::V1 {
            flags,
            address_id,
            addr,
            port,
            hmac,
        } => {
            if flags.0 & AddAddrFlags::ECHO.0 != 0 {
                data.mib.inc(Mib::EchoAdd);
                for ann in mp
                    .announce
                    .iter_mut()
                    .filter(|x| x.id == address_id && x.addr == addr)
                {
                    ann.echoed = true;
                }
                return;
            }
            // RFC 8684 §3.4.1: the HMAC uses the sender's key first.
            let ok = hmac.is_some_and(|h| {
                verify_add_addr_hmac(remote_key, mp.local.key, address_id, addr, port, h)
            });
            if !ok {
                data.mib.inc(Mib::AddAddrDrop);
                return;
            }
            mp.echo_due.push((address_id, addr, port));
            (address_id, addr, port)
        }
        AddAddr::V0 {
            address_id,
            addr,
            port,
        } => (address_id, addr, port),
    };
    data.mib.inc(Mib::AddAddr);
    if port.is_some() {
        data.mib.inc(Mib::PortAdd);
    }
    let remote = RemoteAddr {
        id,
        addr: SocketAddr::new(addr, port.unwrap_or(remote_port)),
    };
    if !mp.remote_addrs.contains(&remote) {
        mp.remote_addrs.push(remote);
        data.join_requests.push(remote);
    }
}
