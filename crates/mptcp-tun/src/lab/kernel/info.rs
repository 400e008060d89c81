//! `getsockopt(SOL_MPTCP, MPTCP_INFO)` and `MPTCP_SUBFLOW_ADDRS`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;

use super::SOL_MPTCP;
use crate::lab::sys;

/// `MPTCP_INFO` socket option.
const MPTCP_INFO: i32 = 1;
/// `MPTCP_SUBFLOW_ADDRS` socket option.
const MPTCP_SUBFLOW_ADDRS: i32 = 3;
/// Size of `struct mptcp_info` in the Linux 6.18 uapi header.
const INFO_LEN: usize = 96;

/// `mptcpi_flags` of [`MptcpInfo`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MptcpInfoFlags(pub u32);

impl MptcpInfoFlags {
    /// `MPTCP_INFO_FLAG_FALLBACK`: the connection fell back to plain TCP.
    pub const FALLBACK: u32 = 1 << 0;
    /// `MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`: the peer's key is known.
    pub const REMOTE_KEY_RECEIVED: u32 = 1 << 1;

    /// Whether the connection fell back to TCP.
    pub fn fallback(self) -> bool {
        self.0 & Self::FALLBACK != 0
    }

    /// Whether the peer's key has been received.
    pub fn remote_key_received(self) -> bool {
        self.0 & Self::REMOTE_KEY_RECEIVED != 0
    }
}

/// `struct mptcp_info` (Linux uapi `include/uapi/linux/mptcp.h`, 6.18).
/// Fields the running kernel did not return (older kernels return a
/// shorter struct, see [`len`](Self::len)) are 0. Limits and endpoint
/// counts are those of the namespace's in-kernel path manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpInfo {
    /// How many bytes of the struct the kernel filled in (96 on 6.18).
    pub len: usize,
    /// `mptcpi_subflows`: *additional* subflows (the initial one is not
    /// counted; newer headers call it `mptcpi_extra_subflows`).
    pub subflows: u8,
    /// `mptcpi_add_addr_signal`: ADD_ADDRs sent.
    pub add_addr_signal: u8,
    /// `mptcpi_add_addr_accepted`: ADD_ADDRs accepted from the peer.
    pub add_addr_accepted: u8,
    /// `mptcpi_subflows_max` (`limit_extra_subflows`): the subflows limit.
    pub subflows_max: u8,
    /// `mptcpi_add_addr_signal_max` (`endp_signal_max`): `signal` endpoints.
    pub add_addr_signal_max: u8,
    /// `mptcpi_add_addr_accepted_max` (`limit_add_addr_accepted`).
    pub add_addr_accepted_max: u8,
    /// `mptcpi_flags`.
    pub flags: MptcpInfoFlags,
    /// `mptcpi_token`: this side's (local) token; 0 before the handshake.
    pub token: u32,
    /// `mptcpi_write_seq`: data sequence number of the next byte written.
    pub write_seq: u64,
    /// `mptcpi_snd_una`: oldest unacknowledged data sequence number.
    pub snd_una: u64,
    /// `mptcpi_rcv_nxt`: next data sequence number expected.
    pub rcv_nxt: u64,
    /// `mptcpi_local_addr_used`: local addresses used by subflows.
    pub local_addr_used: u8,
    /// `mptcpi_local_addr_max` (`endp_subflow_max`): `subflow` endpoints.
    pub local_addr_max: u8,
    /// `mptcpi_csum_enabled`: DSS checksums in use on this connection.
    pub csum_enabled: bool,
    /// `mptcpi_retransmits`: MPTCP-level retransmissions.
    pub retransmits: u32,
    /// `mptcpi_bytes_retrans`.
    pub bytes_retrans: u64,
    /// `mptcpi_bytes_sent`.
    pub bytes_sent: u64,
    /// `mptcpi_bytes_received`.
    pub bytes_received: u64,
    /// `mptcpi_bytes_acked`.
    pub bytes_acked: u64,
    /// `mptcpi_subflows_total`: the extra subflows plus the initial one
    /// while it is established (since 6.8): it drops by one once the peer
    /// half-closed the initial subflow, and counts a join from the moment
    /// the path manager starts it.
    pub subflows_total: u8,
    /// `mptcpi_endp_laminar_max`: `laminar` endpoints (since 6.18).
    pub endp_laminar_max: u8,
    /// `mptcpi_endp_fullmesh_max`: `fullmesh` endpoints (kernels newer
    /// than 6.18; reads 0 on 6.18, where the byte is still reserved).
    pub endp_fullmesh_max: u8,
    /// `mptcpi_last_data_sent`: ms since data was last sent (since 6.10).
    pub last_data_sent: u32,
    /// `mptcpi_last_data_recv`: ms since data was last received.
    pub last_data_recv: u32,
    /// `mptcpi_last_ack_recv`: ms since a DATA_ACK was last received.
    pub last_ack_recv: u32,
}

impl MptcpInfo {
    /// Decodes the first `len` bytes of `raw` (native byte order, the
    /// uapi layout); the rest of the struct reads as zero.
    pub fn from_bytes(raw: &[u8]) -> MptcpInfo {
        let mut b = [0u8; INFO_LEN];
        let len = raw.len().min(INFO_LEN);
        b[..len].copy_from_slice(&raw[..len]);
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
        MptcpInfo {
            len,
            subflows: b[0],
            add_addr_signal: b[1],
            add_addr_accepted: b[2],
            subflows_max: b[3],
            add_addr_signal_max: b[4],
            add_addr_accepted_max: b[5],
            flags: MptcpInfoFlags(u32_at(8)),
            token: u32_at(12),
            write_seq: u64_at(16),
            snd_una: u64_at(24),
            rcv_nxt: u64_at(32),
            local_addr_used: b[40],
            local_addr_max: b[41],
            csum_enabled: b[42] != 0,
            retransmits: u32_at(44),
            bytes_retrans: u64_at(48),
            bytes_sent: u64_at(56),
            bytes_received: u64_at(64),
            bytes_acked: u64_at(72),
            subflows_total: b[80],
            endp_laminar_max: b[81],
            endp_fullmesh_max: b[82],
            last_data_sent: u32_at(84),
            last_data_recv: u32_at(88),
            last_ack_recv: u32_at(92),
        }
    }

    /// Whether the connection fell back to plain TCP.
    pub fn fallback(&self) -> bool {
        self.flags.fallback()
    }

    /// Whether the peer's key has been received.
    pub fn remote_key_received(&self) -> bool {
        self.flags.remote_key_received()
    }
}

/// `getsockopt(fd, SOL_MPTCP, MPTCP_INFO)`. Fails with `EOPNOTSUPP` on a
/// plain TCP socket and on an MPTCP socket that fell back to TCP.
pub fn mptcp_info(fd: impl AsFd) -> io::Result<MptcpInfo> {
    let mut raw = [0u8; 128];
    let len = sys::getsockopt_bytes(fd.as_fd(), SOL_MPTCP, MPTCP_INFO, &mut raw)?;
    Ok(MptcpInfo::from_bytes(&raw[..len]))
}

/// Size of `struct mptcp_subflow_data`, the header of the answer.
const SUBFLOW_DATA_LEN: usize = 16;
/// Size of `struct mptcp_subflow_addrs`: two `sockaddr_storage`.
const SUBFLOW_ADDRS_LEN: usize = 256;

/// `getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS)`: the (local, remote)
/// addresses of every subflow of an MPTCP socket, initial subflow first.
pub fn subflow_addrs(fd: impl AsFd) -> io::Result<Vec<(SocketAddr, SocketAddr)>> {
    let mut room = 8;
    loop {
        let mut buf = vec![0u8; SUBFLOW_DATA_LEN + room * SUBFLOW_ADDRS_LEN];
        buf[0..4].copy_from_slice(&(SUBFLOW_DATA_LEN as u32).to_ne_bytes());
        buf[12..16].copy_from_slice(&(SUBFLOW_ADDRS_LEN as u32).to_ne_bytes());
        let len = sys::getsockopt_bytes(fd.as_fd(), SOL_MPTCP, MPTCP_SUBFLOW_ADDRS, &mut buf)?;
        let word = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap_or_default());
        let (count, size_user) = (word(4) as usize, word(12) as usize);
        if count > room {
            room = count;
            continue;
        }
        if size_user == 0 || len < SUBFLOW_DATA_LEN + count * size_user {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short MPTCP_SUBFLOW_ADDRS",
            ));
        }
        let entries = buf[SUBFLOW_DATA_LEN..].chunks(size_user).take(count);
        return entries
            .map(|e| Ok((sockaddr(&e[..128])?, sockaddr(&e[128..])?)))
            .collect();
    }
}

/// Decodes a `sockaddr_in` or `sockaddr_in6` from a `sockaddr_storage`.
fn sockaddr(b: &[u8]) -> io::Result<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes([b[0], b[1]]));
    let port = u16::from_be_bytes([b[2], b[3]]);
    let octets = |from: usize, to: usize| b[from..to].to_vec();
    match family {
        libc::AF_INET => {
            let a: [u8; 4] = octets(4, 8).try_into().unwrap_or_default();
            Ok(SocketAddrV4::new(Ipv4Addr::from(a), port).into())
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = octets(8, 24).try_into().unwrap_or_default();
            let flow = u32::from_be_bytes(b[4..8].try_into().unwrap_or_default());
            let scope = u32::from_ne_bytes(b[24..28].try_into().unwrap_or_default());
            Ok(SocketAddrV6::new(Ipv6Addr::from(a), port, flow, scope).into())
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("address family {family}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_uapi_layout() {
        let mut raw = [0u8; INFO_LEN];
        raw[0] = 1;
        raw[3] = 8;
        raw[8..12].copy_from_slice(&3u32.to_ne_bytes());
        raw[12..16].copy_from_slice(&0xdead_beefu32.to_ne_bytes());
        raw[42] = 1;
        raw[56..64].copy_from_slice(&12345u64.to_ne_bytes());
        raw[80] = 2;
        raw[92..96].copy_from_slice(&7u32.to_ne_bytes());
        let i = MptcpInfo::from_bytes(&raw);
        assert_eq!(
            (i.len, i.subflows, i.subflows_max, i.token),
            (96, 1, 8, 0xdead_beef)
        );
        assert!(i.fallback() && i.remote_key_received() && i.csum_enabled);
        assert_eq!(
            (i.bytes_sent, i.subflows_total, i.last_ack_recv),
            (12345, 2, 7)
        );
    }

    #[test]
    fn a_short_answer_leaves_newer_fields_zero() {
        let mut raw = [0xffu8; INFO_LEN];
        raw[12..16].copy_from_slice(&42u32.to_ne_bytes());
        let i = MptcpInfo::from_bytes(&raw[..43]);
        assert_eq!(
            (
                i.len,
                i.token,
                i.retransmits,
                i.bytes_sent,
                i.subflows_total
            ),
            (43, 42, 0, 0, 0)
        );
        assert!(i.csum_enabled);
    }

    #[test]
    fn decodes_sockaddrs() {
        let mut b = [0u8; 128];
        b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&5201u16.to_be_bytes());
        b[4..8].copy_from_slice(&[10, 200, 1, 1]);
        assert_eq!(sockaddr(&b).unwrap(), "10.200.1.1:5201".parse().unwrap());
        b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[4..8].fill(0); // sin6_flowinfo
        b[8..24].copy_from_slice(&"fd00:200:1::2".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(
            sockaddr(&b).unwrap(),
            "[fd00:200:1::2]:5201".parse().unwrap()
        );
    }
}
