//! Which device a packet leaves by.

use mptcp_wire::{IpPacket, IpProtocol, TcpFlags};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Remembered arrival devices beyond which the table starts over.
const MAX_ROUTES: usize = 1 << 16;

/// (our address, the peer's) of a TCP packet we receive or send.
type Flow = (SocketAddr, SocketAddr);

/// Which device each connection the peer opened arrived on: its packets
/// leave by the same one. A peer may open a subflow to one of our addresses
/// over another path (a kernel `subflow` endpoint bound to its device does);
/// answers by our address's own device would not reach its socket.
/// Connections we open leave by the device of their source address.
#[derive(Default)]
pub(crate) struct Routes {
    by_flow: HashMap<Flow, usize>,
}

impl Routes {
    /// Note the device of a SYN (without ACK) we received.
    pub(crate) fn learn(&mut self, packet: &[u8], dev: usize) {
        let Some((flow, flags)) = flow(packet, true) else {
            return;
        };
        if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
            if self.by_flow.len() >= MAX_ROUTES {
                self.by_flow.clear();
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
