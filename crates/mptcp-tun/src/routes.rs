//! Which device a packet leaves by.

use mptcp_wire::{IpPacket, IpProtocol, TcpFlags};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Remembered arrival devices beyond which those of closed connections
/// are forgotten.
const MAX_ROUTES: usize = 1 << 16;

/// (our address, the peer's) of a TCP packet we receive or send.
pub(crate) type Flow = (SocketAddr, SocketAddr);

/// Which device each connection the peer opened arrived on: its packets
/// leave by the same one. A peer may open a subflow to one of our addresses
/// over another path (a kernel `subflow` endpoint bound to its device does);
/// answers by our address's own device would not reach its socket.
/// Connections we open leave by the device of their source address.
pub(crate) struct Routes {
    by_flow: HashMap<Flow, usize>,
    /// The size at which the table is next pruned.
    limit: usize,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::with_limit(MAX_ROUTES)
    }
}

impl Routes {
    fn with_limit(limit: usize) -> Routes {
        Routes {
            by_flow: HashMap::new(),
            limit,
        }
    }

    /// Note the device of a SYN (without ACK) we received. A full table
    /// first keeps only the flows `live` says are still open (the engine's
    /// subflows): forgetting a live one would send its packets out of the
    /// wrong device.
    pub(crate) fn learn(&mut self, packet: &[u8], dev: usize, live: impl Fn(Flow) -> bool) {
        let Some((flow, flags)) = flow(packet, true) else {
            return;
        };
        if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
            if self.by_flow.len() >= self.limit {
                self.by_flow.retain(|f, _| live(*f));
                // Many live flows: prune again only once as many more came.
                self.limit = self.limit.max(2 * self.by_flow.len());
            }
            self.by_flow.insert(flow, dev);
        }
    }

    /// The device for a packet we send, if its connection came in by one.
    pub(crate) fn lookup(&self, packet: &[u8]) -> Option<usize> {
        if self.by_flow.is_empty() {
            return None;
        }
        let (flow, _) = flow(packet, false)?;
        self.by_flow.get(&flow).copied()
    }
}

/// The flow of a TCP packet, from our side: `received` says whether we are
/// its destination.
fn flow(packet: &[u8], received: bool) -> Option<(Flow, TcpFlags)> {
    let ip = IpPacket::parse(packet).ok()?;
    if ip.protocol() != IpProtocol::TCP {
        return None;
    }
    let tcp = ip.tcp().ok()?;
    let src = SocketAddr::new(ip.src(), tcp.src_port());
    let dst = SocketAddr::new(ip.dst(), tcp.dst_port());
    let flow = if received { (dst, src) } else { (src, dst) };
    Some((flow, tcp.flags()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_proto::forge;
    use mptcp_wire::{SubflowSeq, TcpRepr};

    const OURS: &str = "10.0.0.1:80";

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::new("10.0.0.2".parse().unwrap(), port)
    }

    /// A segment from the peer's `port` to us, with `flags`.
    fn from_peer(port: u16, flags: TcpFlags) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: port,
            dst_port: 80,
            seq: SubflowSeq(1),
            ack: SubflowSeq(0),
            flags,
            window: 1000,
            urgent: 0,
        };
        forge::segment(peer(port), OURS.parse().unwrap(), &repr, &[], &[]).unwrap()
    }

    /// Our answer to the peer's `port`.
    fn to_peer(port: u16) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 80,
            dst_port: port,
            seq: SubflowSeq(1),
            ack: SubflowSeq(2),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 1000,
            urgent: 0,
        };
        forge::segment(OURS.parse().unwrap(), peer(port), &repr, &[], &[]).unwrap()
    }

    #[test]
    fn a_full_table_forgets_only_closed_flows() {
        let mut r = Routes::with_limit(4);
        let open = |f: Flow| f.1.port().is_multiple_of(2);
        for port in 1..=4 {
            r.learn(&from_peer(port, TcpFlags::SYN), 1, open);
        }
        // Only SYNs teach.
        r.learn(&from_peer(9, TcpFlags::ACK), 1, open);
        assert_eq!(r.lookup(&to_peer(9)), None);
        // Full: the closed (odd) flows go, the live ones keep their device.
        r.learn(&from_peer(6, TcpFlags::SYN), 0, open);
        assert_eq!(r.lookup(&to_peer(1)), None);
        assert_eq!(r.lookup(&to_peer(3)), None);
        for port in [2, 4] {
            assert_eq!(r.lookup(&to_peer(port)), Some(1), "{port}");
        }
        assert_eq!(r.lookup(&to_peer(6)), Some(0));
    }

    #[test]
    fn many_live_flows_are_pruned_less_often() {
        let mut r = Routes::with_limit(2);
        let all = |_: Flow| true;
        for port in 1..=10 {
            r.learn(&from_peer(port, TcpFlags::SYN), 1, all);
        }
        assert_eq!(r.by_flow.len(), 10);
        assert!(r.limit >= 8, "{}", r.limit);
    }
}
