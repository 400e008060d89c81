//! Path management and connection signals: ADD_ADDR (RFC 8684 §3.4.1),
//! REMOVE_ADDR (§3.4.2), MP_PRIO (§3.3.8), MP_FAIL (§3.7), MP_FASTCLOSE
//! (§3.5) and MP_TCPRST (§3.6).

use super::DataLevel;
use super::mptcp::{Mode, RemoteAddr};
use super::path::PathState;
use crate::crypto::{MptcpVersion, add_addr_hmac, verify_add_addr_hmac};
use crate::segment::{MptcpOptionList, SegmentIn};
use crate::stats::Mib;
use crate::subflow::SegmentMeta;
use crate::time::{Duration, Instant};
use mptcp_wire::{
    AddAddr, AddAddrFlags, AddressIds, BackupFlags, MpFail, MpFastClose, MpPrio, MpTcpRst,
    MptcpOption, RemoveAddr, ResetReason, TcpRstFlags,
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
    if path.fast_close
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
    if let Some(reason) = path.reset_reason.filter(|_| mp.version == MptcpVersion::V1) {
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
    if path.prio_due {
        let opt = MptcpOption::Prio(MpPrio {
            flags: if path.backup {
                BackupFlags::BACKUP
            } else {
                BackupFlags::NONE
            },
            address_id: None,
        });
        if opt.len() <= space && out.try_push(opt).is_ok() {
            space -= opt.len();
            path.prio_due = false;
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
    path.prio_due && data.mode.mptcp().is_some_and(|m| m.fully_established) || due(data, now)
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

/// MPTCP options of an incoming RST.
pub fn on_rst(data: &mut DataLevel, seg: &SegmentIn<'_>) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    for opt in &seg.mptcp {
        match opt {
            MptcpOption::TcpRst(_) => data.mib.inc(Mib::MPRstRx),
            MptcpOption::FastClose(f) if f.receiver_key == mp.local.key => {
                data.mib.inc(Mib::MPFastcloseRx);
                mp.fast_closed = true;
            }
            MptcpOption::Fail(_) => data.mib.inc(Mib::MPFailRx),
            _ => {}
        }
    }
}

/// Signals on an ordinary incoming segment of an established connection.
/// Returns true if the subflow must be reset (an MP_FAIL outside a RST).
pub fn on_segment(
    data: &mut DataLevel,
    path: &mut PathState,
    seg: &SegmentIn<'_>,
    remote_port: u16,
) -> bool {
    let mut reset = false;
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
            MptcpOption::Fail(_) => {
                // The peer found our data altered on this subflow.
                data.mib.inc(Mib::MPFailRx);
                path.reset_reason = Some(ResetReason::MIDDLEBOX_INTERFERENCE);
                reset = true;
            }
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
    reset
}

fn on_add_addr(data: &mut DataLevel, a: &AddAddr, remote_port: u16) {
    let Mode::Mptcp(mp) = &mut data.mode else {
        return;
    };
    let Some(remote_key) = mp.remote_key() else {
        return;
    };
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
