//! A simulated host: the real engine's [`Endpoint`] plus a [`StreamApp`].

use crate::app::StreamApp;
use crate::node::{IfaceId, Node};
use mptcp_proto::endpoint::Endpoint;
use mptcp_proto::time::Instant;

/// An endpoint with its application, as a simulator node.
pub struct Host {
    /// The engine.
    pub endpoint: Endpoint,
    /// The application driving it.
    pub app: StreamApp,
}

impl Host {
    /// A host around an endpoint and an application.
    pub fn new(endpoint: Endpoint, app: StreamApp) -> Host {
        Host { endpoint, app }
    }
}

impl Node for Host {
    fn handle(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        self.endpoint.handle(now, packet);
        self.app.drive(now, &mut self.endpoint);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.app.drive(now, &mut self.endpoint);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let t = self.endpoint.poll_transmit(now, buf)?;
        Some(t.len)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.app.wakeup()]
            .into_iter()
            .flatten()
            .min()
    }
}
