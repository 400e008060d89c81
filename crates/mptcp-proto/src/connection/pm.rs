//! The connection's side of the path manager ([`crate::pm`]): what it
//! shows the policy, how it carries out the policy's decisions, the
//! application's own path-manager calls, and the events.

use super::mptcp::RemoteAddr;
use super::path_state::{JoinStage, OurReset, PathKind, ResetCause};
use super::paths::{AddressError, PathRequest};
use super::{Connection, PathEntry};
use crate::pm::{PmAction, PmEndpoint, PmEvent, PmView, SubflowAttrs, SubflowEnd, errno};
use crate::stats::Mib;
use crate::subflow::{CloseReason, FourTuple, TcpState};
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

impl Connection {
    /// Live subflows and those asked for: (our address, the peer's).
    fn pm_paths(&self) -> Vec<(IpAddr, SocketAddr)> {
        let live = self
            .subflows
            .iter()
            .filter(|e| e.sf.state() != TcpState::Closed)
            .map(|e| (e.sf.tuple().local.ip(), e.sf.tuple().remote));
        let asked = self.path_requests.iter().map(|r| (r.local, r.remote));
        live.chain(asked).collect()
    }

    /// Call the path manager with a view of the connection, then carry out
    /// what it decided. Nothing before MPTCP is fully established.
    fn with_pm(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Self, &PmView<'_>, &mut Vec<PmAction>),
    ) {
        let Some(mp) = self.data.mode.mptcp().filter(|m| m.fully_established) else {
            return;
        };
        let Some(first) = self.subflows.first().map(|e| e.sf.tuple()) else {
            return;
        };
        let deny_join_id0 = mp.no_join_to_source;
        let paths = self.pm_paths();
        let remotes = self.pm.accepted.clone();
        let view = PmView {
            role: self.role,
            first,
            deny_join_id0,
            extra_subflows: paths.len().saturating_sub(1),
            paths: &paths,
            remotes: &remotes,
            now,
        };
        let mut out = Vec::new();
        f(self, &view, &mut out);
        for action in out {
            self.apply_pm(action);
        }
    }

    fn apply_pm(&mut self, action: PmAction) {
        match action {
            PmAction::Join {
                local,
                remote,
                retry,
            } => {
                if retry {
                    self.data.mib.inc(Mib::MPJoinSynTxRetry);
                }
                self.path_requests.push_back(PathRequest { local, remote });
            }
            PmAction::Announce { addr, port, local } => {
                self.announce_at(addr, port, local);
                // The kernel sends it at once, on a pure ACK.
                if let Some(e) = self
                    .subflows
                    .iter_mut()
                    .find(|e| e.path.can_carry_data() && e.sf.state().can_send())
                {
                    e.sf.request_pure_ack();
                }
            }
        }
    }

    /// The path manager's turn, after any activity: the first decisions
    /// once fully established (RFC 8684 §3.1: no join before the peer
    /// showed it has our keys), the peer's announcements, due retries.
    pub(super) fn run_path_manager(&mut self, now: Instant) {
        if self.data.mode.mptcp().is_none() {
            self.data.join_requests.clear();
            return;
        }
        self.with_pm(now, |conn, view, out| {
            if !std::mem::replace(&mut conn.pm.started, true) {
                conn.pm_established_event();
                conn.pm.manager.on_established(view, out);
            }
            for remote in std::mem::take(&mut conn.data.join_requests) {
                conn.pm_announced_event(remote);
                if conn.pm.manager.on_announced(view, remote, out) {
                    conn.pm.accepted.push(remote);
                }
            }
            if conn.pm.manager.poll_timeout().is_some_and(|t| t <= now) {
                conn.pm.manager.on_timeout(view, out);
            }
        });
    }

    /// A subflow reached the established state.
    pub(super) fn pm_on_established(&mut self, idx: usize) {
        let tuple = self.subflows[idx].sf.tuple();
        self.pm
            .manager
            .on_subflow_established(tuple.local.ip(), tuple.remote);
        if idx == 0 {
            self.pm_created_event();
        } else if let Some(sub) = self.sub_attrs(idx) {
            self.push_pm_event(PmEvent::SubEstablished(sub));
        }
    }

    /// A subflow ended with `reason`.
    pub(super) fn pm_on_closed(&mut self, idx: usize, reason: CloseReason) {
        let e = &self.subflows[idx];
        let tuple = e.sf.tuple();
        let ours_interfered = matches!(
            e.path.reset,
            Some(
                OurReset::Subflow(ResetCause::Middlebox)
                    | OurReset::FastClose(Some(ResetCause::Middlebox))
            )
        );
        let end = match reason {
            _ if e.path.peer_removed => SubflowEnd::PeerRemoved,
            _ if e.path.peer_saw_interference || ours_interfered => SubflowEnd::Interfered,
            CloseReason::ResetByPeer | CloseReason::Refused | CloseReason::TimedOut => {
                SubflowEnd::Failed
            }
            CloseReason::Normal | CloseReason::Aborted => SubflowEnd::Ours,
        };
        let error = match reason {
            CloseReason::Normal => None,
            CloseReason::ResetByPeer => Some(errno::ECONNRESET),
            CloseReason::Refused => Some(errno::ECONNREFUSED),
            CloseReason::TimedOut => Some(errno::ETIMEDOUT),
            CloseReason::Aborted => Some(errno::ECONNABORTED),
        };
        // As the kernel: a join of ours that failed (refused, timed out) is
        // reported with its error too; a join of the peer's that never
        // completed is no subflow yet (the kernel's request socket).
        let half_open = matches!(e.path.kind, PathKind::Join(j) if j.stage == JoinStage::AwaitAck);
        if let Some(sub) = self.attrs_of(idx).filter(|_| !half_open) {
            self.push_pm_event(PmEvent::SubClosed { sub, error });
        }
        let open = !self.shutdown && !matches!(self.state, super::ConnState::Closed(_));
        let end = if open { end } else { SubflowEnd::Ours };
        let now = self.last_now;
        self.with_pm(now, |conn, view, _| {
            conn.pm
                .manager
                .on_subflow_closed(view, tuple.local.ip(), tuple.remote, end);
        });
    }

    /// Add a local endpoint to the running connection (an interface came
    /// back, or the application added one): the in-kernel policy announces
    /// it (`signal`) and joins from it (`subflow`).
    pub fn add_endpoint(&mut self, ep: PmEndpoint) {
        if !self.local_addrs.contains(&ep.addr) {
            self.local_addrs.push(ep.addr);
        }
        if let Some(id) = ep.id
            && !self.local_ids.iter().any(|(a, _)| *a == ep.addr)
        {
            self.local_ids.push((ep.addr, id));
        }
        if ep.has(crate::pm::EndpointFlags::BACKUP) && !self.backup_addrs.contains(&ep.addr) {
            self.backup_addrs.push(ep.addr);
        }
        let now = self.last_now;
        let mut told = false;
        self.with_pm(now, |conn, view, out| {
            conn.pm.manager.on_endpoint_added(view, ep, out);
            told = true;
        });
        if !told {
            // Not fully established yet: it is used then.
            let view = self.idle_view();
            self.pm
                .manager
                .on_endpoint_added(&view, ep, &mut Vec::new());
        }
    }

    fn idle_view(&self) -> PmView<'static> {
        let first = self.subflows[0].sf.tuple();
        PmView {
            role: self.role,
            first,
            deny_join_id0: false,
            extra_subflows: 0,
            paths: &[],
            remotes: &[],
            now: self.last_now,
        }
    }

    /// Userspace path manager: open a subflow from our address `local` to
    /// the peer's `remote` (the kernel's `subflow_create`).
    pub fn create_subflow(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), AddressError> {
        if !self.data.mode.mptcp().is_some_and(|m| m.fully_established) {
            return Err(AddressError::NotMptcp);
        }
        if !self.local_addrs.contains(&local) {
            return Err(AddressError::Unknown(local));
        }
        if self.pm_paths().contains(&(local, remote)) {
            return Err(AddressError::Exists(local, remote));
        }
        self.path_requests.push_back(PathRequest { local, remote });
        Ok(())
    }

    /// Userspace path manager: reset the subflow between our `local` and
    /// the peer's `remote` (the kernel's `subflow_destroy`); what it
    /// carried goes out on the others. Refused for the last subflow.
    pub fn destroy_subflow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), AddressError> {
        let live = |e: &PathEntry| e.sf.state() != TcpState::Closed;
        let matches = |t: FourTuple| {
            t.local.ip() == local.ip()
                && (local.port() == 0 || t.local.port() == local.port())
                && t.remote == remote
        };
        let Some(idx) = self
            .subflows
            .iter()
            .position(|e| live(e) && matches(e.sf.tuple()))
        else {
            return Err(AddressError::Unknown(local.ip()));
        };
        let others = self
            .subflows
            .iter()
            .enumerate()
            .any(|(i, e)| i != idx && live(e) && e.path.can_carry_data());
        if !others {
            return Err(AddressError::LastSubflow(local.ip()));
        }
        let e = &mut self.subflows[idx];
        e.path.reset_for(ResetCause::Local);
        let now = self.last_now;
        self.after_activity(idx, now);
        Ok(())
    }

    /// The next path-manager event (only with `MptcpConfig::pm.events`).
    pub fn poll_pm_event(&mut self) -> Option<PmEvent> {
        self.pm.events.as_mut()?.pop_front()
    }

    /// Queue `ev`. Nothing of a connection comes before its `created` (as
    /// the kernel: a connection whose MP_CAPABLE handshake never completed
    /// reports nothing).
    pub(super) fn push_pm_event(&mut self, ev: PmEvent) {
        if !self.pm.created {
            return;
        }
        if let Some(q) = self.pm.events.as_mut() {
            q.push_back(ev);
        }
    }

    fn token(&self) -> Option<crate::crypto::Token> {
        self.data.mode.mptcp().map(|m| m.local.token)
    }

    /// The `sub_*` attributes of subflow `idx`, once its join completed.
    pub(super) fn sub_attrs(&self, idx: usize) -> Option<SubflowAttrs> {
        let e = &self.subflows[idx];
        if matches!(e.path.kind, PathKind::Join(j) if j.stage == JoinStage::SynSent) {
            return None;
        }
        self.attrs_of(idx)
    }

    /// The `sub_*` attributes of subflow `idx`, whatever its stage.
    fn attrs_of(&self, idx: usize) -> Option<SubflowAttrs> {
        let token = self.token()?;
        let e = &self.subflows[idx];
        let t = e.sf.tuple();
        Some(SubflowAttrs {
            token,
            local: t.local,
            remote: t.remote,
            local_id: e.path.local_id,
            remote_id: e.path.remote_id,
            backup: e.path.backup || e.path.peer_backup,
        })
    }

    fn pm_created_event(&mut self) {
        if self.pm.created {
            return;
        }
        let Some(token) = self.token() else { return };
        self.pm.created = true;
        let t = self.subflows[0].sf.tuple();
        self.push_pm_event(PmEvent::Created {
            token,
            local: t.local,
            remote: t.remote,
            server_side: self.role == super::Role::Server,
        });
    }

    fn pm_established_event(&mut self) {
        self.pm_created_event();
        let Some(token) = self.token() else { return };
        let t = self.subflows[0].sf.tuple();
        self.push_pm_event(PmEvent::Established {
            token,
            local: t.local,
            remote: t.remote,
            server_side: self.role == super::Role::Server,
        });
    }

    fn pm_announced_event(&mut self, remote: RemoteAddr) {
        if let Some(token) = self.token() {
            self.push_pm_event(PmEvent::Announced {
                token,
                remote_id: remote.id,
                remote: remote.addr,
            });
        }
    }

    /// The peer withdrew its addresses `ids`.
    pub(super) fn pm_removed(&mut self, ids: &[u8]) {
        let (gone, kept) = std::mem::take(&mut self.pm.accepted)
            .into_iter()
            .partition(|r| ids.contains(&r.id));
        self.pm.accepted = kept;
        for remote in gone {
            self.pm.manager.on_accepted_removed(remote);
        }
        if let Some(token) = self.token() {
            for &remote_id in ids {
                self.push_pm_event(PmEvent::Removed { token, remote_id });
            }
        }
    }

    /// The connection ended.
    pub(super) fn pm_closed(&mut self) {
        if let Some(token) = self.token().filter(|_| self.pm.created) {
            self.push_pm_event(PmEvent::Closed { token });
        }
    }
}
