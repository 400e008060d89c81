//! The application-driven path manager: it decides nothing by itself.
//! Announcements are echoed (by the connection) but used for nothing
//! until the application opens subflows to them; joins from the peer are
//! accepted within the limits.

use super::{PathManager, PmAction, PmEndpoint, PmKind, PmLimits, PmView, SubflowEnd};
use crate::connection::mptcp::RemoteAddr;
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// The userspace path manager.
#[derive(Clone, Debug)]
pub struct UserspacePm {
    limits: PmLimits,
}

impl UserspacePm {
    /// Within `limits` (only `subflows` applies: joins from the peer).
    pub fn new(limits: PmLimits) -> UserspacePm {
        UserspacePm { limits }
    }
}

impl PathManager for UserspacePm {
    fn kind(&self) -> PmKind {
        PmKind::Userspace
    }

    fn on_established(&mut self, _: &PmView<'_>, _: &mut Vec<PmAction>) {}

    fn on_announced(&mut self, _: &PmView<'_>, _: RemoteAddr, _: &mut Vec<PmAction>) -> bool {
        false
    }

    fn on_subflow_established(&mut self, _: IpAddr, _: SocketAddr) {}

    fn on_subflow_closed(&mut self, _: &PmView<'_>, _: IpAddr, _: SocketAddr, _: SubflowEnd) {}

    fn on_endpoint_added(&mut self, _: &PmView<'_>, _: PmEndpoint, _: &mut Vec<PmAction>) {}

    fn on_endpoint_removed(&mut self, _: IpAddr) {}

    fn accept_join(&self, extra: usize) -> bool {
        extra < usize::from(self.limits.subflows)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn on_timeout(&mut self, _: &PmView<'_>, _: &mut Vec<PmAction>) {}
}
