//! A snapshot of a connection for applications and reports: what MPTCP
//! negotiated (version, keys, tokens, checksums, fallback) and every subflow
//! with its addresses and counters.

use super::mptcp::{FallbackReason, Mode};
use super::{Connection, Role};
use crate::crypto::{KeyMaterial, MptcpVersion};
use crate::stats::Counters;
use crate::subflow::{FourTuple, SubflowId, TcpState};
use crate::time::Duration;

/// A connection as seen from outside, at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    /// Client or server.
    pub role: Role,
    /// MPTCP details; `None` for a connection that never offered MPTCP.
    pub mptcp: Option<MptcpInfo>,
    /// Every subflow, in creation order (closed ones included).
    pub subflows: Vec<SubflowInfo>,
    /// The connection's counters (named as the kernel's MIB).
    pub counters: Counters,
}

/// What MPTCP negotiated on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MptcpInfo {
    /// The version offered or in use.
    pub version: MptcpVersion,
    /// Our key, token and IDSN.
    pub local: KeyMaterial,
    /// The peer's, once received.
    pub remote: Option<KeyMaterial>,
    /// Whether DSS checksums are in use.
    pub checksum: bool,
    /// Why the connection runs as plain TCP, if it fell back.
    pub fallback: Option<FallbackReason>,
}

/// One subflow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubflowInfo {
    /// Its identifier within the connection.
    pub id: SubflowId,
    /// Local and remote address and port.
    pub tuple: FourTuple,
    /// TCP state.
    pub state: TcpState,
    /// Our address identifier for its local address (RFC 8684 §3.2).
    pub local_id: u8,
    /// The peer's address identifier.
    pub remote_id: u8,
    /// Whether either side marked it backup (RFC 8684 §3.3.8).
    pub backup: bool,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes the peer acknowledged.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Payload bytes retransmitted.
    pub bytes_retrans: u64,
    /// Retransmission timeouts.
    pub rto_expirations: u64,
    /// Smoothed round-trip time, once measured.
    pub srtt: Option<Duration>,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes in flight.
    pub in_flight: u64,
}

impl Connection {
    /// A snapshot of the connection.
    pub fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            role: self.role,
            mptcp: mptcp_info(&self.data.mode),
            subflows: self.subflows.iter().map(subflow_info).collect(),
            counters: self.data.mib.clone(),
        }
    }
}

fn mptcp_info(mode: &Mode) -> Option<MptcpInfo> {
    match mode {
        Mode::Plain => None,
        Mode::Mptcp(m) => Some(MptcpInfo {
            version: m.version,
            local: m.local,
            remote: m.remote,
            checksum: m.checksum,
            fallback: None,
        }),
        Mode::Fallback {
            reason,
            keys,
            version,
            ..
        } => keys.map(|(local, remote)| MptcpInfo {
            version: *version,
            local,
            remote,
            checksum: false,
            fallback: Some(*reason),
        }),
    }
}

fn subflow_info(e: &super::PathEntry) -> SubflowInfo {
    let st = e.sf.stats();
    SubflowInfo {
        id: e.sf.id(),
        tuple: e.sf.tuple(),
        state: e.sf.state(),
        local_id: e.path.local_id,
        remote_id: e.path.remote_id,
        backup: e.path.backup || e.path.peer_backup,
        bytes_sent: st.bytes_sent,
        bytes_acked: st.bytes_acked,
        bytes_received: st.bytes_received,
        retransmits: st.retransmits,
        bytes_retrans: st.bytes_retrans,
        rto_expirations: st.rto_expirations,
        srtt: e.sf.rtt().srtt(),
        cwnd: e.sf.cwnd(),
        in_flight: e.sf.in_flight(),
    }
}
