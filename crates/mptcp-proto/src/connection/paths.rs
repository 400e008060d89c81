//! Adding subflows: the minimal path manager (the client joins from each
//! other local address to the server, and to every address the server
//! announces) and the server's acceptance of joins.

use super::mptcp::{Mode, RemoteAddr};
use super::path::{Join, JoinStage, PathKind, PathState};
use super::{Connection, PathEntry, Role, join, transmit};
use crate::segment::SegmentIn;
use crate::stats::Mib;
use crate::subflow::{FourTuple, Subflow, SubflowConfig, SubflowId};
use crate::time::Instant;
use mptcp_wire::{ResetReason, SubflowSeq};
use std::net::{IpAddr, SocketAddr};

/// A subflow the connection wants the endpoint to open: the endpoint picks
/// a local port and an initial sequence number, then calls
/// [`Connection::open_join`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRequest {
    /// Our address.
    pub local: IpAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl Connection {
    /// The next subflow to open, if the path manager wants one.
    pub fn poll_path_request(&mut self) -> Option<PathRequest> {
        self.path_requests.pop_front()
    }

    fn live_count(&self) -> usize {
        self.data.live_subflows + self.path_requests.len()
    }

    fn local_id(&mut self, addr: IpAddr) -> u8 {
        if let Some(&(_, id)) = self.local_ids.iter().find(|(a, _)| *a == addr) {
            return id;
        }
        let id = self
            .local_ids
            .iter()
            .map(|(_, id)| *id)
            .max()
            .unwrap_or(0)
            .wrapping_add(1);
        self.local_ids.push((addr, id));
        id
    }

    /// The client's path manager: once the server showed it has our keys
    /// (RFC 8684 §3.1: no join before a DSS arrived), join from every
    /// other local address to the server's address, and from our first
    /// address to every address the server announces.
    pub(super) fn run_path_manager(&mut self, _now: Instant) {
        let Some(mp) = self.data.mode.mptcp() else {
            return;
        };
        if self.role != Role::Client || !self.config.mptcp.open_subflows {
            self.data.join_requests.clear();
            return;
        }
        // Announcements that arrive before the connection is fully
        // established wait for it.
        if !mp.fully_established {
            return;
        }
        let announced = std::mem::take(&mut self.data.join_requests);
        let Some(first) = self.subflows.first().map(|e| e.sf.tuple()) else {
            return;
        };
        let mut wanted = Vec::new();
        if !self.paths_opened && !mp.no_join_to_source {
            self.paths_opened = true;
            for &addr in &self.local_addrs {
                if addr != first.local.ip() && addr.is_ipv4() == first.remote.is_ipv4() {
                    wanted.push(PathRequest {
                        local: addr,
                        remote: first.remote,
                    });
                }
            }
        }
        for RemoteAddr { addr, .. } in announced {
            if addr != first.remote && addr.is_ipv4() == first.local.is_ipv4() {
                wanted.push(PathRequest {
                    local: first.local.ip(),
                    remote: addr,
                });
            }
        }
        for req in wanted {
            let exists = self
                .subflows
                .iter()
                .any(|e| e.sf.tuple().local.ip() == req.local && e.sf.tuple().remote == req.remote);
            if !exists && self.live_count() < self.config.mptcp.max_subflows {
                self.path_requests.push_back(req);
            }
        }
    }

    /// Open a subflow the path manager asked for, on `tuple` (the endpoint
    /// chose the port) with initial sequence number `iss`.
    pub fn open_join(
        &mut self,
        tuple: FourTuple,
        iss: SubflowSeq,
        config: SubflowConfig,
    ) -> Option<SubflowId> {
        let checksum = self.data.mode.mptcp()?.checksum;
        let id = SubflowId(self.next_subflow_id);
        self.next_subflow_id += 1;
        let local_id = self.local_id(tuple.local.ip());
        let mut sf = Subflow::connect(id, tuple, iss, config);
        sf.set_option_reserve(transmit::dss_reserve(checksum));
        let kind = PathKind::Join(Join {
            local_nonce: self.rng.next_u32(),
            remote_nonce: 0,
            stage: JoinStage::SynSent,
        });
        self.subflows.push(PathEntry {
            sf,
            path: PathState::new(kind, local_id, 0, false),
        });
        self.data.live_subflows += 1;
        Some(id)
    }

    /// Accept an MP_JOIN SYN whose token named this connection (RFC 8684
    /// §3.2). Returns the new subflow, or the MP_TCPRST reason to refuse it
    /// with.
    pub fn accept_join(
        &mut self,
        tuple: FourTuple,
        iss: SubflowSeq,
        config: SubflowConfig,
        syn: &SegmentIn<'_>,
    ) -> Result<SubflowId, ResetReason> {
        let Some((backup, remote_id, _token, nonce)) = join::find_syn(syn) else {
            return Err(ResetReason::MPTCP_SPECIFIC);
        };
        let Mode::Mptcp(mp) = &self.data.mode else {
            return Err(ResetReason::MPTCP_SPECIFIC);
        };
        if !mp.fully_established || self.data.live_subflows >= self.config.mptcp.max_subflows {
            return Err(ResetReason::ADMINISTRATIVELY_PROHIBITED);
        }
        let checksum = mp.checksum;
        self.data.mib.inc(Mib::MPJoinSynRx);
        let id = SubflowId(self.next_subflow_id);
        self.next_subflow_id += 1;
        let local_id = self.local_id(tuple.local.ip());
        let mut sf = Subflow::accept(id, tuple, iss, config, syn);
        sf.set_option_reserve(transmit::dss_reserve(checksum));
        let kind = PathKind::Join(Join {
            local_nonce: self.rng.next_u32(),
            remote_nonce: nonce,
            stage: JoinStage::AwaitAck,
        });
        let mut path = PathState::new(kind, local_id, remote_id, false);
        path.peer_backup = backup;
        self.subflows.push(PathEntry { sf, path });
        self.data.live_subflows += 1;
        Ok(id)
    }

    /// The endpoint's token table accepted (or refused) the server's entry.
    pub fn take_token_promotion(&mut self) -> Option<crate::token::TokenHandle> {
        if !std::mem::take(&mut self.data.promote_token) {
            return None;
        }
        self.data.mode.mptcp().and_then(|m| m.token)
    }

    /// The promotion lost a race (RFC 8684 §3.1: tokens are unique): reset.
    pub fn on_promotion_failed(&mut self) {
        if let Some(m) = self.data.mode.mptcp_mut() {
            m.token = None;
        }
        self.abort();
    }

    /// A token entry the endpoint should remove (the connection fell back).
    pub fn take_token_release(&mut self) -> Option<crate::token::TokenHandle> {
        self.data.token_release.take()
    }

    /// The token entry of a connection being dropped.
    pub fn token_handle(&self) -> Option<crate::token::TokenHandle> {
        self.data.mode.mptcp().and_then(|m| m.token)
    }

    /// Announce one of our addresses with ADD_ADDR (RFC 8684 §3.4.1).
    pub fn announce(&mut self, addr: IpAddr, port: Option<u16>) {
        let id = self.local_id(addr);
        if let Some(mp) = self.data.mode.mptcp_mut()
            && !mp.announce.iter().any(|a| a.addr == addr)
        {
            mp.announce.push(super::mptcp::Announce {
                id,
                addr,
                port,
                echoed: false,
                sent_at: None,
                sends: 0,
            });
        }
    }
}
