//! The subflow table: opening the joins the path manager ([`crate::pm`])
//! asks for, accepting the peer's within its limits, pruning closed ones;
//! and the address calls (announce, backup, remove).

use super::mptcp::Mode;
use super::path_state::{Join, JoinStage, PathKind, PathState, ResetCause};
use super::{Connection, PathEntry, join, transmit};
use crate::segment::SegmentIn;
use crate::stats::Mib;
use crate::subflow::{FourTuple, Subflow, SubflowConfig, SubflowId, TcpState};
use crate::time::Duration;
use mptcp_wire::{ResetReason, SubflowSeq};
use std::net::{IpAddr, SocketAddr};

/// Joins whose third ACK has not arrived, per connection (RFC 7430 §4.1
/// suggests about three).
pub const MAX_HALF_OPEN_JOINS: usize = 3;

/// SYN-ACK retransmissions of a half-open join before it is given up (one
/// second, then three: a join that does not complete is gone within seven
/// seconds).
pub const JOIN_SYNACK_RETRIES: u32 = 2;

/// Closed subflows that completed their handshake kept in the table for
/// inspection (the first subflow is always kept).
pub const MAX_CLOSED_KEPT: usize = 8;

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

    fn local_id(&mut self, addr: IpAddr) -> u8 {
        if let Some(&(_, id)) = self.local_ids.iter().find(|(a, _)| *a == addr) {
            return id;
        }
        let id = self.unused_id();
        self.local_ids.push((addr, id));
        id
    }

    /// An address id not given to any of our addresses yet.
    fn unused_id(&self) -> u8 {
        let ids = self.local_ids.iter().map(|(_, id)| *id);
        let ported = self.port_ids.iter().map(|(_, id)| *id);
        ids.chain(ported).max().unwrap_or(0).wrapping_add(1)
    }

    /// The id of our `local` address and port: the first subflow's address
    /// announced with another port has one of its own (RFC 8684 §3.4.1:
    /// an id names one announced endpoint); otherwise the address's.
    fn local_id_at(&mut self, local: SocketAddr) -> u8 {
        match self.port_ids.iter().find(|(a, _)| *a == local) {
            Some(&(_, id)) => id,
            None => self.local_id(local.ip()),
        }
    }

    /// The id to announce our `addr` (with `port`) under.
    fn announced_id(&mut self, addr: IpAddr, port: Option<u16>) -> u8 {
        let first = self.subflows.first().map(|e| e.sf.tuple().local);
        let (Some(first), Some(port)) = (first, port) else {
            return self.local_id(addr);
        };
        if first.ip() != addr || first.port() == port {
            return self.local_id(addr);
        }
        let at = SocketAddr::new(addr, port);
        if let Some(&(_, id)) = self.port_ids.iter().find(|(a, _)| *a == at) {
            return id;
        }
        let id = self.unused_id();
        self.port_ids.push((at, id));
        id
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
            data_delay: self.config.mptcp.join_data_delay,
        });
        let backup = self.backup_addrs.contains(&tuple.local.ip());
        self.subflows.push(PathEntry {
            sf,
            path: PathState::new(kind, local_id, 0, backup),
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
        // RFC 8684 §3.1: our SYN-ACK's flag C said that the initial address
        // and port take no joins (behind a balancer they may reach another
        // machine); a peer that tries anyway is refused.
        let initial = self.subflows.first().map(|e| e.sf.tuple().local);
        if mp.deny_join_initial && initial == Some(tuple.local) {
            self.data.mib.inc(Mib::MPJoinRejected);
            return Err(ResetReason::ADMINISTRATIVELY_PROHIBITED);
        }
        // RFC 7430 §4.1: half-open joins have their own small bound (a flood
        // of join SYNs with the token cannot take the established ones'
        // places), and a short life (few SYN-ACK retries).
        let half_open = self
            .subflows
            .iter()
            .filter(|e| e.path.is_half_open_join() && e.sf.state() != TcpState::Closed)
            .count();
        // As the kernel counts them: half-open joins take their place in
        // the limit at once, so simultaneous SYNs cannot exceed it.
        let extra = self.data.live_subflows.saturating_sub(1);
        if !mp.fully_established
            || !self.pm.manager.accept_join(extra)
            || half_open >= MAX_HALF_OPEN_JOINS
        {
            self.data.mib.inc(Mib::MPJoinRejected);
            return Err(ResetReason::ADMINISTRATIVELY_PROHIBITED);
        }
        let mut config = config;
        config.syn_retries = config.syn_retries.min(JOIN_SYNACK_RETRIES);
        let checksum = mp.checksum;
        self.data.join_answered = true;
        let id = SubflowId(self.next_subflow_id);
        self.next_subflow_id += 1;
        let local_id = self.local_id_at(tuple.local);
        let mut sf = Subflow::accept(id, tuple, iss, config, syn);
        sf.set_option_reserve(transmit::dss_reserve(checksum));
        let kind = PathKind::Join(Join {
            local_nonce: self.rng.next_u32(),
            remote_nonce: nonce,
            stage: JoinStage::AwaitAck,
            data_delay: Duration::ZERO,
        });
        // The B flag of our SYN-ACK: a backup endpoint (RFC 8684 §3.2).
        let ours = self.backup_addrs.contains(&tuple.local.ip());
        let mut path = PathState::new(kind, local_id, remote_id, ours);
        path.peer_backup = backup;
        self.subflows.push(PathEntry { sf, path });
        self.data.live_subflows += 1;
        Ok(id)
    }

    /// Drop closed subflows from the table, so that it stays bounded
    /// whatever peers do: a join that never completed (refused, reset, or
    /// timed out half-open) leaves nothing; of those that did, the latest
    /// [`MAX_CLOSED_KEPT`] stay for inspection. The first subflow always
    /// stays. Returns the 4-tuples that no longer lead here.
    pub fn prune_subflows(&mut self) -> Vec<FourTuple> {
        let gone = |e: &PathEntry| e.sf.state() == TcpState::Closed && !e.sf.has_pending_rst();
        let mut removed = Vec::new();
        let mut kept_closed = 0;
        // Newest first, so that the latest closed ones are kept.
        for idx in (1..self.subflows.len()).rev() {
            let e = &self.subflows[idx];
            if !gone(e) {
                continue;
            }
            let completed =
                !matches!(e.path.kind, PathKind::Join(j) if j.stage != JoinStage::Established);
            if completed && kept_closed < MAX_CLOSED_KEPT {
                kept_closed += 1;
                continue;
            }
            removed.push(self.subflows.remove(idx).sf.tuple());
        }
        removed
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
        self.announce_at(addr, port, addr);
    }

    /// Announce `addr` for our address `local` (`addr` is what the peer
    /// reaches `local` at through a NAT or balancer): joins arriving at
    /// `local` and `port` are answered under the announced id.
    pub fn announce_at(&mut self, addr: IpAddr, port: Option<u16>, local: IpAddr) {
        let id = self.announced_id(local, port);
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

    /// Ask the peer to send on the subflows from our address `addr` only
    /// when no other subflow is usable, or (with `backup` false) to use
    /// them again: an MP_PRIO on each (RFC 8684 §3.3.8), and the B flag on
    /// joins from `addr` later. We then treat them as backups too. Returns
    /// how many subflows are told.
    pub fn set_backup(&mut self, addr: IpAddr, backup: bool) -> Result<usize, AddressError> {
        if self.data.mode.mptcp().is_none() {
            return Err(AddressError::NotMptcp);
        }
        if !self.local_ids.iter().any(|(a, _)| *a == addr) && !self.local_addrs.contains(&addr) {
            return Err(AddressError::Unknown(addr));
        }
        self.backup_addrs.retain(|a| *a != addr);
        if backup {
            self.backup_addrs.push(addr);
        }
        let mut told = 0;
        for e in &mut self.subflows {
            let live = e.sf.state() != TcpState::Closed;
            if live && e.sf.tuple().local.ip() == addr && e.path.backup != backup {
                e.path.backup = backup;
                e.path.prio_due = Some(backup);
                // Data segments leave no room for it: a pure ACK carries it.
                e.sf.request_pure_ack();
                told += 1;
            }
        }
        Ok(told)
    }

    /// Withdraw our address `addr` (RFC 8684 §3.4.2): a REMOVE_ADDR with
    /// its id tells the peer, the subflows on it are reset (what they
    /// carried goes out again on the others), and it is neither announced
    /// nor joined from again. Refused when no subflow would be left.
    /// Returns how many subflows were reset.
    pub fn remove_address(&mut self, addr: IpAddr) -> Result<usize, AddressError> {
        if !self.data.mode.mptcp().is_some_and(|m| m.is_established()) {
            return Err(AddressError::NotMptcp);
        }
        let Some(&(_, id)) = self.local_ids.iter().find(|(a, _)| *a == addr) else {
            return Err(AddressError::Unknown(addr));
        };
        let live = |e: &PathEntry| e.sf.state() != TcpState::Closed;
        let on_addr = |e: &PathEntry| e.sf.tuple().local.ip() == addr;
        let Some(carrier) = self
            .subflows
            .iter()
            .position(|e| live(e) && !on_addr(e) && e.path.can_carry_data())
        else {
            return Err(AddressError::LastSubflow(addr));
        };
        if let Some(mp) = self.data.mode.mptcp_mut() {
            mp.announce.retain(|a| a.addr != addr);
            if !mp.remove_due.contains(&id) {
                mp.remove_due.push(id);
            }
        }
        self.local_addrs.retain(|a| *a != addr);
        self.pm.manager.on_endpoint_removed(addr);
        self.subflows[carrier].sf.request_pure_ack();
        let now = self.last_now;
        let mut reset = 0;
        for idx in 0..self.subflows.len() {
            let e = &mut self.subflows[idx];
            if live(e) && on_addr(e) {
                e.path.reset_for(ResetCause::Local);
                reset += 1;
                self.after_activity(idx, now);
            }
        }
        Ok(reset)
    }
}

/// Why an address could not be marked backup or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// The connection does not use MPTCP (not yet, or it fell back).
    NotMptcp,
    /// The address is not one the connection uses.
    Unknown(IpAddr),
    /// Removing the address would leave no subflow.
    LastSubflow(IpAddr),
    /// That subflow exists already.
    Exists(IpAddr, SocketAddr),
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::NotMptcp => f.write_str("the connection does not use MPTCP"),
            AddressError::Unknown(a) => write!(f, "{a} is not an address of the connection"),
            AddressError::Exists(l, r) => write!(f, "a subflow from {l} to {r} exists"),
            AddressError::LastSubflow(a) => {
                write!(
                    f,
                    "removing {a} would leave the connection without a subflow"
                )
            }
        }
    }
}

impl std::error::Error for AddressError {}
