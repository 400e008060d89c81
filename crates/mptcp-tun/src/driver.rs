//! The driver task: the one owner of the devices, running the endpoint.
//!
//! Each round waits for packets on any device, the engine's next deadline
//! or an application call; then, under the lock, feeds the packets read
//! (up to a batch per device) and the time to the endpoint, delivers its
//! events, and takes the packets it wants sent, which are written after
//! the lock is released, a batch at a time.

use crate::device::Device;
use crate::shared::Shared;
use std::future::{Future, poll_fn};
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Packets read per device, and written, per round.
const BATCH: usize = 64;

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
        let deadline = round(&shared, &devices, &rx, &mut tx);
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
) -> Option<tokio::time::Instant> {
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
            match devices.iter().position(|d| d.config.addr == t.src) {
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
