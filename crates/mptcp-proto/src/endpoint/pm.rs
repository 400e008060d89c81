//! The endpoint's path-manager calls: the local endpoints of the in-kernel
//! policy (as `ip mptcp endpoint`), and the userspace policy's commands on
//! one connection (as the kernel's `subflow_create`/`subflow_destroy`).

use super::{ApiMisuse, Endpoint, Event};
use crate::connection::{ConnectionHandle, Role};
use crate::pm::{EndpointFlags, PmEndpoint, PmEvent, PmLimits, PmSetup};
use std::net::{IpAddr, SocketAddr};

impl Endpoint {
    /// Add (or replace) a local endpoint of the path manager, as
    /// `ip mptcp endpoint add`, and give it an id if it has none (the
    /// lowest free one from 1). Once one is added the endpoints are only
    /// those added (until then every local address is a `subflow`
    /// endpoint of our connections and every [`Endpoint::signal_address`]
    /// a `signal` one of those we accept). Connections under way use it at
    /// once: the in-kernel policy announces a `signal` one and joins from
    /// a `subflow` one. Returns its id.
    pub fn add_endpoint(&mut self, mut ep: PmEndpoint) -> Result<u8, ApiMisuse> {
        let list = self.pm_endpoints.get_or_insert_with(Vec::new);
        list.retain(|e| e.addr != ep.addr);
        let taken = |id: u8| list.iter().any(|e| e.id == Some(id));
        let id = match ep.id {
            Some(id) if !taken(id) => id,
            Some(id) => return Err(ApiMisuse::EndpointIdTaken(id)),
            None => (1..=u8::MAX)
                .find(|id| !taken(*id))
                .ok_or(ApiMisuse::EndpointIdTaken(u8::MAX))?,
        };
        ep.id = Some(id);
        list.push(ep);
        let handles: Vec<ConnectionHandle> = self.connections().collect();
        for h in handles {
            if let Ok(slot) = self.slot(h) {
                slot.conn.add_endpoint(ep);
            }
            self.refresh(h.index());
        }
        Ok(id)
    }

    /// Remove the endpoint of `addr` (`ip mptcp endpoint delete`): every
    /// connection withdraws the address (REMOVE_ADDR) and resets its
    /// subflows from it; none is retried. Returns the endpoint.
    pub fn remove_endpoint(&mut self, addr: IpAddr) -> Option<PmEndpoint> {
        let list = self.pm_endpoints.get_or_insert_with(Vec::new);
        let at = list.iter().position(|e| e.addr == addr);
        let ep = at.map(|i| list.remove(i));
        let handles: Vec<ConnectionHandle> = self.connections().collect();
        for h in handles {
            let _ = self.remove_address(h, addr);
        }
        ep
    }

    /// The interface of our address `addr` went down (`up` false) or came
    /// back. Down: every connection withdraws the address (REMOVE_ADDR)
    /// and resets its subflows from it, and new connections leave it out.
    /// Back: connections under way use it again as its endpoint says (the
    /// in-kernel policy joins from a `subflow` one, announces a `signal`
    /// one). Nothing changes for an address already in that state.
    pub fn set_link(&mut self, addr: IpAddr, up: bool) {
        if self.links_down.contains(&addr) != up {
            return;
        }
        let handles: Vec<ConnectionHandle> = self.connections().collect();
        if !up {
            self.links_down.push(addr);
            for h in handles {
                let _ = self.remove_address(h, addr);
            }
            return;
        }
        self.links_down.retain(|a| *a != addr);
        for h in handles {
            let Ok(slot) = self.slot(h) else { continue };
            let role = slot.conn.role();
            let ep = self
                .pm_setup(role)
                .endpoints
                .into_iter()
                .find(|e| e.addr == addr);
            if let (Some(ep), Ok(slot)) = (ep, self.slot(h)) {
                slot.conn.add_endpoint(ep);
            }
            self.refresh(h.index());
        }
    }

    /// The path manager's endpoints as configured (none: derived).
    pub fn endpoints(&self) -> Option<&[PmEndpoint]> {
        self.pm_endpoints.as_deref()
    }

    /// The path-manager setup of a new connection in `role`.
    pub(super) fn pm_setup(&self, role: Role) -> PmSetup {
        let mptcp = &self.config.connection.mptcp;
        let extra = u8::try_from(mptcp.max_subflows.saturating_sub(1)).unwrap_or(u8::MAX);
        let open = mptcp.open_subflows;
        let (endpoints, accepted) = match (&self.pm_endpoints, role) {
            (Some(list), _) => (list.clone(), extra),
            (None, Role::Client) => {
                let flags = EndpointFlags::SUBFLOW;
                let list = self.addrs.iter().map(|(a, _)| PmEndpoint::new(*a, flags));
                (
                    list.filter(|_| open).collect(),
                    if open { extra } else { 0 },
                )
            }
            (None, Role::Server) => {
                let list = self.signal.iter().map(|&(addr, port)| PmEndpoint {
                    port,
                    ..PmEndpoint::new(addr, EndpointFlags::SIGNAL)
                });
                (list.collect(), 0)
            }
        };
        let limits = mptcp.pm.limits.unwrap_or(PmLimits {
            subflows: extra,
            add_addr_accepted: accepted,
        });
        let down = |a: &IpAddr| self.links_down.contains(a);
        PmSetup {
            local_addrs: self
                .local_addrs()
                .into_iter()
                .filter(|a| !down(a))
                .collect(),
            endpoints: endpoints.into_iter().filter(|e| !down(&e.addr)).collect(),
            limits,
        }
    }

    /// Userspace path manager: open a subflow of connection `h` from our
    /// address `local` to the peer's `remote`.
    pub fn create_subflow(
        &mut self,
        h: ConnectionHandle,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), ApiMisuse> {
        if self.mtu_of(local).is_none() {
            return Err(ApiMisuse::NotLocal(local));
        }
        let res = self.slot(h)?.conn.create_subflow(local, remote);
        self.refresh(h.index());
        res.map_err(ApiMisuse::Address)
    }

    /// Userspace path manager: reset the subflow of connection `h` between
    /// our `local` (port 0: any) and the peer's `remote`.
    pub fn destroy_subflow(
        &mut self,
        h: ConnectionHandle,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), ApiMisuse> {
        let res = self.slot(h)?.conn.destroy_subflow(local, remote);
        self.refresh(h.index());
        res.map_err(ApiMisuse::Address)
    }

    pub(super) fn pm_event(&mut self, h: Option<ConnectionHandle>, ev: PmEvent) {
        if self.config.connection.mptcp.pm.events {
            self.events.push_back(Event::Pm(h, ev));
        }
    }
}
