//! A simulated host: the real engine's [`Endpoint`] plus a [`StreamApp`].

use crate::app::StreamApp;
use crate::node::{IfaceId, Node};
use mptcp_proto::endpoint::Endpoint;
use mptcp_proto::time::Instant;

/// Timeouts at one instant after which a host is considered stuck.
const MAX_TIMEOUTS_AT_ONE_INSTANT: u32 = 100_000;

/// An endpoint with its application, as a simulator node.
pub struct Host {
    /// The engine.
    pub endpoint: Endpoint,
    /// The application driving it.
    pub app: StreamApp,
    /// Consecutive timeouts handled at the same instant (a timer that never
    /// moves on is an engine bug; it must not hang the simulator).
    same_instant: (Instant, u32),
    /// Set when the engine kept asking for timeouts at one instant.
    pub stuck_timer: Option<Instant>,
}

impl Host {
    /// A host around an endpoint and an application.
    pub fn new(endpoint: Endpoint, app: StreamApp) -> Host {
        Host {
            endpoint,
            app,
            same_instant: (Instant::ZERO, 0),
            stuck_timer: None,
        }
    }
}

impl Node for Host {
    fn handle(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        self.endpoint.handle(now, packet);
        self.app.drive(now, &mut self.endpoint);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.same_instant.0 == now {
            self.same_instant.1 += 1;
            if self.same_instant.1 > MAX_TIMEOUTS_AT_ONE_INSTANT {
                self.stuck_timer.get_or_insert(now);
                return;
            }
        } else {
            self.same_instant = (now, 0);
        }
        self.endpoint.handle_timeout(now);
        self.app.drive(now, &mut self.endpoint);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let t = self.endpoint.poll_transmit(now, buf)?;
        Some(t.len)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.stuck_timer.is_some() {
            return None;
        }
        [self.endpoint.poll_timeout(), self.app.wakeup()]
            .into_iter()
            .flatten()
            .min()
    }
}
