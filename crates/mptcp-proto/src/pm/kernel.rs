//! The in-kernel policy (the Linux kernel's `pm_kernel.c`, read for its
//! behaviour): once the connection is fully established, announce every
//! `signal` endpoint and open one subflow from every `subflow` endpoint
//! (to each of the peer's addresses with `fullmesh`); on an accepted
//! ADD_ADDR, open a subflow to it from every `fullmesh` endpoint, else
//! from an unused `laminar` one, else from the first subflow's address.
//! Both within the limits. And, beyond the kernel: a subflow it opened
//! that fails is opened again after a backoff, while its endpoint exists
//! (not one reset because its path altered data: that would repeat).

use super::{
    EndpointFlags, PathManager, PmAction, PmEndpoint, PmKind, PmLimits, PmView, SubflowEnd,
};
use crate::connection::mptcp::RemoteAddr;
use crate::time::{Duration, Instant};
use std::net::{IpAddr, SocketAddr};

/// How many times a failed subflow is opened again before it is given up
/// (the count starts again once one attempt establishes).
pub const JOIN_RETRIES: u8 = 5;

/// The wait before the first retry; each further one waits twice as long
/// (1, 2, 4, 8, 16 seconds).
pub const JOIN_RETRY_BASE: Duration = Duration::from_secs(1);

/// A subflow this policy opened.
#[derive(Clone, Copy, Debug)]
struct Opened {
    local: IpAddr,
    remote: SocketAddr,
    /// Failures since it last established.
    failures: u8,
    /// When it is opened again after a failure.
    retry_at: Option<Instant>,
}

/// The in-kernel path manager.
#[derive(Clone, Debug)]
pub struct KernelPm {
    endpoints: Vec<PmEndpoint>,
    limits: PmLimits,
    established: bool,
    /// `signal` endpoints announced on this connection.
    announced: Vec<IpAddr>,
    /// `subflow` endpoints used on this connection.
    used: Vec<IpAddr>,
    /// `laminar` endpoints used for an announced address.
    laminar_used: Vec<IpAddr>,
    /// Announced addresses accepted.
    accepted: u8,
    opened: Vec<Opened>,
}

impl KernelPm {
    /// The policy over `endpoints` within `limits`.
    pub fn new(endpoints: Vec<PmEndpoint>, limits: PmLimits) -> KernelPm {
        KernelPm {
            endpoints,
            limits,
            established: false,
            announced: Vec::new(),
            used: Vec::new(),
            laminar_used: Vec::new(),
            accepted: 0,
            opened: Vec::new(),
        }
    }

    fn budget(&self, view: &PmView<'_>) -> usize {
        usize::from(self.limits.subflows).saturating_sub(view.extra_subflows)
    }

    /// Whether subflows from `local` may still be opened: an endpoint's
    /// address, or the first subflow's.
    fn source_exists(&self, view: &PmView<'_>, local: IpAddr) -> bool {
        local == view.first.local.ip() || self.endpoints.iter().any(|e| e.addr == local)
    }

    /// Open a subflow from `local` to `remote` unless it exists or no
    /// budget is left.
    fn join(
        &mut self,
        view: &PmView<'_>,
        local: IpAddr,
        remote: SocketAddr,
        budget: &mut usize,
        out: &mut Vec<PmAction>,
    ) -> bool {
        let planned = out
            .iter()
            .any(|a| matches!(a, PmAction::Join { local: l, remote: r, .. } if *l == local && *r == remote));
        if *budget == 0 || view.has_path(local, remote) || planned {
            return false;
        }
        *budget -= 1;
        self.opened
            .retain(|o| o.local != local || o.remote != remote);
        self.opened.push(Opened {
            local,
            remote,
            failures: 0,
            retry_at: None,
        });
        out.push(PmAction::Join {
            local,
            remote,
            retry: false,
        });
        true
    }

    /// The peer's addresses a `subflow` endpoint connects to: its initial
    /// one unless flag C forbids (RFC 8684 §3.1), and with `fullmesh`
    /// every accepted announced one.
    fn targets(view: &PmView<'_>, ep: &PmEndpoint) -> Vec<SocketAddr> {
        let mut t = Vec::new();
        if !view.deny_join_id0 {
            t.push(view.first.remote);
        }
        if ep.has(EndpointFlags::FULLMESH) {
            t.extend(view.remotes.iter().map(|r| r.addr));
        }
        t.retain(|r| r.is_ipv4() == ep.addr.is_ipv4());
        t
    }

    /// Use `ep` as a `subflow` endpoint (once per connection).
    fn use_subflow_endpoint(&mut self, view: &PmView<'_>, ep: PmEndpoint, out: &mut Vec<PmAction>) {
        let usable = ep.has(EndpointFlags::SUBFLOW)
            && ep.addr != view.first.local.ip()
            && !self.used.contains(&ep.addr);
        let mut budget = self.budget(view).saturating_sub(joins_in(out));
        if !usable || budget == 0 {
            return;
        }
        self.used.push(ep.addr);
        for remote in KernelPm::targets(view, &ep) {
            self.join(view, ep.addr, remote, &mut budget, out);
        }
    }

    fn announce(&mut self, view: &PmView<'_>, ep: PmEndpoint, out: &mut Vec<PmAction>) {
        // The first subflow's own address is known to the peer; with a
        // port of its own it is a new place to join (one address per
        // machine behind a balancer, `docs/scaling.md`).
        let new_port = ep.port.is_some_and(|p| p != view.first.local.port());
        let usable = ep.has(EndpointFlags::SIGNAL)
            && (ep.addr != view.first.local.ip() || new_port)
            && ep.addr.is_ipv4() == view.first.local.is_ipv4()
            && !self.announced.contains(&ep.addr);
        if usable {
            self.announced.push(ep.addr);
            out.push(PmAction::Announce {
                addr: ep.announced_addr(),
                port: ep.port,
                local: ep.addr,
            });
        }
    }

    /// Where subflows to an announced `remote` start from.
    fn sources_for(&mut self, view: &PmView<'_>, remote: SocketAddr) -> Vec<IpAddr> {
        let family = |a: &IpAddr| a.is_ipv4() == remote.is_ipv4();
        let fullmesh: Vec<IpAddr> = self
            .endpoints
            .iter()
            .filter(|e| e.has(EndpointFlags::SUBFLOW.union(EndpointFlags::FULLMESH)))
            .map(|e| e.addr)
            .filter(family)
            .collect();
        if !fullmesh.is_empty() {
            return fullmesh;
        }
        let laminar = self
            .endpoints
            .iter()
            .filter(|e| e.has(EndpointFlags::LAMINAR) && family(&e.addr))
            .map(|e| e.addr)
            .find(|a| !self.laminar_used.contains(a));
        if let Some(a) = laminar {
            self.laminar_used.push(a);
            return vec![a];
        }
        let default = view.first.local.ip();
        if family(&default) {
            vec![default]
        } else {
            Vec::new()
        }
    }
}

fn joins_in(out: &[PmAction]) -> usize {
    out.iter()
        .filter(|a| matches!(a, PmAction::Join { .. }))
        .count()
}

impl PathManager for KernelPm {
    fn kind(&self) -> PmKind {
        PmKind::Kernel
    }

    fn on_established(&mut self, view: &PmView<'_>, out: &mut Vec<PmAction>) {
        if std::mem::replace(&mut self.established, true) {
            return;
        }
        let endpoints = self.endpoints.clone();
        for &ep in &endpoints {
            self.announce(view, ep, out);
        }
        for &ep in &endpoints {
            self.use_subflow_endpoint(view, ep, out);
        }
    }

    fn on_announced(
        &mut self,
        view: &PmView<'_>,
        remote: RemoteAddr,
        out: &mut Vec<PmAction>,
    ) -> bool {
        let mut budget = self.budget(view).saturating_sub(joins_in(out));
        let known = view.paths.iter().any(|(_, r)| *r == remote.addr);
        if self.accepted >= self.limits.add_addr_accepted || budget == 0 || known {
            return false;
        }
        let sources = self.sources_for(view, remote.addr);
        if sources.is_empty() {
            return false;
        }
        self.accepted += 1;
        for local in sources {
            self.join(view, local, remote.addr, &mut budget, out);
        }
        true
    }

    fn on_subflow_established(&mut self, local: IpAddr, remote: SocketAddr) {
        for o in &mut self.opened {
            if o.local == local && o.remote == remote {
                o.failures = 0;
            }
        }
    }

    fn on_subflow_closed(
        &mut self,
        view: &PmView<'_>,
        local: IpAddr,
        remote: SocketAddr,
        end: SubflowEnd,
    ) {
        let alive = self.source_exists(view, local);
        let Some(idx) = self
            .opened
            .iter()
            .position(|o| o.local == local && o.remote == remote)
        else {
            return;
        };
        let o = &mut self.opened[idx];
        // A path that interferes (RFC 8684 §3.7) would establish the join
        // again and break it once data flows, for ever: not retried.
        if end != SubflowEnd::Failed || !alive || o.failures >= JOIN_RETRIES {
            self.opened.remove(idx);
            return;
        }
        let wait = JOIN_RETRY_BASE.saturating_mul(1 << o.failures);
        o.failures += 1;
        o.retry_at = Some(view.now + wait);
    }

    fn on_accepted_removed(&mut self, _remote: RemoteAddr) {
        self.accepted = self.accepted.saturating_sub(1);
    }

    fn on_endpoint_added(&mut self, view: &PmView<'_>, ep: PmEndpoint, out: &mut Vec<PmAction>) {
        self.endpoints.retain(|e| e.addr != ep.addr);
        self.endpoints.push(ep);
        if self.established {
            self.announce(view, ep, out);
            self.use_subflow_endpoint(view, ep, out);
        }
    }

    fn on_endpoint_removed(&mut self, addr: IpAddr) {
        self.endpoints.retain(|e| e.addr != addr);
        self.opened.retain(|o| o.local != addr);
        self.used.retain(|a| *a != addr);
        self.announced.retain(|a| *a != addr);
        self.laminar_used.retain(|a| *a != addr);
    }

    fn accept_join(&self, extra: usize) -> bool {
        extra < usize::from(self.limits.subflows)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.opened.iter().filter_map(|o| o.retry_at).min()
    }

    fn on_timeout(&mut self, view: &PmView<'_>, out: &mut Vec<PmAction>) {
        let mut budget = self.budget(view).saturating_sub(joins_in(out));
        let mut idx = 0;
        while idx < self.opened.len() {
            let o = self.opened[idx];
            if o.retry_at.is_none_or(|t| t > view.now) {
                idx += 1;
                continue;
            }
            self.opened[idx].retry_at = None;
            if !self.source_exists(view, o.local) || budget == 0 || view.has_path(o.local, o.remote)
            {
                self.opened.remove(idx);
                continue;
            }
            budget -= 1;
            out.push(PmAction::Join {
                local: o.local,
                remote: o.remote,
                retry: true,
            });
            idx += 1;
        }
    }
}
