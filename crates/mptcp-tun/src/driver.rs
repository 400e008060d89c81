//! The driver task: the one owner of the devices, running the endpoint.
//!
//! Each round waits for packets on any device, the engine's next deadline
//! or an application call; then, under the lock, feeds the packets read
//! (up to a batch per device) and the time to the endpoint, delivers its
//! events, and takes the packets it wants sent, which are written after
//! the lock is released, a batch at a time.

use crate::device::Device;
use crate::shared::Shared;
use mptcp_wire::{IpPacket, IpProtocol, TcpFlags};
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Packets read per device, and written, per round.
const BATCH: usize = 64;

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
struct Routes {
    by_flow: HashMap<Flow, usize>,
}

impl Routes {
    /// Note the device of a SYN (without ACK) we received.
    fn learn(&mut self, packet: &[u8], dev: usize) {
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
    fn lookup(&self, packet: &[u8]) -> Option<usize> {
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

/// Packets in fixed-size slots of one buffer.
struct Batch {
    buf: Vec<u8>,
    slot: usize,
    /// (length, device index) of each packet held.
    packets: Vec<(usize, usize)>,
}

impl Batch {
    fn new(slot: usize, capacity: usize) -> Batch {
        Batch {
            buf: vec![0; slot * capacity],
            slot,
            packets: Vec::with_capacity(capacity),
        }
    }

    fn is_full(&self) -> bool {
        self.packets.len() == self.packets.capacity()
    }

    /// The next free slot.
    fn free_slot(&mut self) -> &mut [u8] {
        let at = self.packets.len() * self.slot;
        &mut self.buf[at..at + self.slot]
    }

    fn packet(&self, i: usize) -> &[u8] {
        let (len, _) = self.packets[i];
        &self.buf[i * self.slot..i * self.slot + len]
    }
}

/// Run until no application handle and no connection is left.
pub(crate) async fn run(shared: Arc<Shared>, mut devices: Vec<Device>) {
    let slot = devices
        .iter()
        .map(|d| usize::from(d.mtu))
        .max()
        .unwrap_or(1500);
    // Each device may fill its own share of a round's reads, so that a busy
    // path cannot starve the others.
    let mut rx = Batch::new(slot, BATCH * devices.len());
    let mut tx = Batch::new(slot, BATCH);
    let mut routes = Routes::default();
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    loop {
        rx.packets.clear();
        {
            // Every source is polled every time, so that a stream of
            // application calls cannot starve the devices, nor the reverse.
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            poll_fn(|cx| {
                let read = read_some(cx, &mut devices, &mut rx).is_ready();
                let kicked = notified.as_mut().poll(cx).is_ready();
                let due = sleep.as_mut().poll(cx).is_ready();
                if read || kicked || due {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        let deadline = round(&shared, &devices, &rx, &mut tx, &mut routes);
        let st = shared.lock();
        let idle = shared.handles() == 0 && st.ep.connection_count() == 0;
        drop(st);
        if idle {
            return;
        }
        if let Some(t) = deadline {
            sleep.as_mut().reset(t);
        } else {
            let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
            sleep.as_mut().reset(far);
        }
    }
}

/// Wait until some device has packets, then read a batch from each ready
/// one. Reading happens inside the poll that saw the readiness, so a
/// cancelled wait never loses a packet.
fn read_some(cx: &mut Context<'_>, devices: &mut [Device], rx: &mut Batch) -> Poll<()> {
    for (i, dev) in devices.iter_mut().enumerate() {
        if dev.dead {
            continue;
        }
        let Poll::Ready(guard) = dev.tun.poll_read_ready(cx) else {
            continue;
        };
        let mut guard = match guard {
            Ok(g) => g,
            Err(e) => {
                mark_dead(dev, &e);
                continue;
            }
        };
        for _ in 0..BATCH {
            let slot = rx.free_slot();
            match guard.try_io(|t| t.get_ref().recv(slot)) {
                Ok(Ok(n)) => {
                    dev.note_in(n);
                    rx.packets.push((n, i));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    mark_dead(dev, &e);
                    break;
                }
                // Drained: readiness cleared, the waker is registered.
                Err(_would_block) => break,
            }
        }
    }
    if rx.packets.is_empty() {
        Poll::Pending
    } else {
        Poll::Ready(())
    }
}

fn mark_dead(dev: &mut Device, e: &io::Error) {
    tracing::warn!(device = %dev.config.device, error = %e, "device unreadable; path given up");
    dev.dead = true;
}

/// One round: feed the packets and the time, deliver events, send. Returns
/// the engine's next deadline.
fn round(
    shared: &Shared,
    devices: &[Device],
    rx: &Batch,
    tx: &mut Batch,
    routes: &mut Routes,
) -> Option<tokio::time::Instant> {
    for i in 0..rx.packets.len() {
        routes.learn(rx.packet(i), rx.packets[i].1);
    }
    let mut st = shared.lock();
    let now = st.clock.now();
    for i in 0..rx.packets.len() {
        st.ep.handle(now, rx.packet(i));
    }
    st.ep.handle_timeout(now);
    st.dispatch_events();
    loop {
        tx.packets.clear();
        while !tx.is_full() {
            let slot = tx.free_slot();
            let Some(t) = st.ep.poll_transmit(now, slot) else {
                break;
            };
            let dev = routes
                .lookup(&slot[..t.len])
                .or_else(|| devices.iter().position(|d| d.config.addr == t.src));
            match dev {
                Some(dev) => tx.packets.push((t.len, dev)),
                None => tracing::debug!(src = %t.src, "no device for source address"),
            }
        }
        st.dispatch_events();
        let more = tx.is_full();
        shared.unlock(st);
        for i in 0..tx.packets.len() {
            let dev = tx.packets[i].1;
            devices[dev].send(tx.packet(i));
        }
        st = shared.lock();
        if !more {
            break;
        }
    }
    let clock = st.clock;
    let deadline = st.ep.poll_timeout().map(|t| clock.to_tokio(t));
    shared.unlock(st);
    deadline
}
