//! The driver task: the one owner of the devices, running the endpoint.
//!
//! Each round waits for packets on any device, the engine's next deadline
//! or an application call; then, under the lock, feeds the packets read
//! (up to a batch per device) and the time to the endpoint, delivers its
//! events, and takes the packets it wants sent, which are written after
//! the lock is released, a batch at a time: runs of segments that only
//! differ in sequence number go out as one segmentation train where the
//! device takes offloads (see [`crate::gso`]).

use crate::device::Device;
use crate::gso::{self, Layout, VNET_HDR_LEN, VnetHdr};
use crate::routes::Routes;
use crate::shared::{Handoff, Inbox, Shared};
use arrayvec::ArrayVec;
use bytes::Bytes;
use mptcp_proto::endpoint::Steer;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// Packets read per device per round.
const BATCH: usize = 64;

/// Packets taken from the engine before they are written: several
/// mappings' worth (a mapping is one train of up to 45 segments at a
/// 1500-byte MTU), so that few trains are cut short by the batch's end.
const TX_BATCH: usize = 256;

/// The largest packet a device with offloads hands over (a train).
const MAX_TRAIN: usize = 65535;

/// One packet in a batch.
#[derive(Clone, Copy, Debug)]
struct Pkt {
    /// Where it starts in its slot (after a `virtio_net_hdr`, if any).
    off: usize,
    len: usize,
    dev: usize,
    /// The kernel vouches for its TCP checksum.
    verified: bool,
}

/// Packets in fixed-size slots of one buffer; for packets to send, each
/// one's headers in its slot and its payload by reference beside them
/// (gathered into one write, never copied into the slot).
struct Batch {
    buf: Vec<u8>,
    slot: usize,
    packets: Vec<Pkt>,
    payloads: Vec<Bytes>,
}

impl Batch {
    fn new(slot: usize, capacity: usize) -> Batch {
        Batch {
            buf: vec![0; slot * capacity],
            slot,
            packets: Vec::with_capacity(capacity),
            payloads: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.packets.clear();
        self.payloads.clear();
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
        let p = self.packets[i];
        let at = i * self.slot + p.off;
        &self.buf[at..at + p.len]
    }

    /// The payload that follows packet `i`'s bytes (empty for a packet
    /// read, or written whole).
    fn payload(&self, i: usize) -> &[u8] {
        self.payloads.get(i).map_or(&[], |b| &b[..])
    }
}

/// Ends what the application waits on when the driver stops while it
/// still waits (a panic in the engine unwinds through here, or every
/// device failed): its calls then fail at once instead of hanging while
/// peers time out.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("the stack's driver panicked; every connection is aborted");
        }
        let mut st = self.0.lock();
        st.stop();
        self.0.unlock(st);
        self.0.rounds.notify_waiters();
    }
}

/// Hand-over packets taken from the inbox per round.
const HANDOFF_BATCH: usize = 64;

/// One worker of a stack: its part of the engine, its queue of each path's
/// device, its inbox, and every worker (itself included, at `index`) to
/// hand packets to.
pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) devices: Vec<Device>,
    pub(crate) inbox: Inbox,
    pub(crate) index: usize,
    pub(crate) peers: Vec<Arc<Shared>>,
}

/// Run until no application handle and no connection is left.
pub(crate) async fn run(worker: Worker) {
    let Worker {
        shared,
        mut devices,
        mut inbox,
        index,
        peers,
    } = worker;
    let _stop = StopGuard(shared.clone());
    let slot = devices
        .iter()
        .map(|d| match d.tun.get_ref().offload() {
            true => VNET_HDR_LEN + MAX_TRAIN,
            false => usize::from(d.mtu),
        })
        .max()
        .unwrap_or(1500);
    let tx_slot = devices
        .iter()
        .map(|d| usize::from(d.mtu))
        .max()
        .unwrap_or(1500);
    // Each device may fill its own share of a round's reads, so that a busy
    // path cannot starve the others.
    let mut rx = Batch::new(slot, BATCH * devices.len());
    let mut tx = Batch::new(tx_slot, TX_BATCH);
    let mut routes = Routes::default();
    let mut handoffs = Vec::with_capacity(HANDOFF_BATCH);
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    loop {
        rx.clear();
        handoffs.clear();
        {
            // Every source is polled every time, so that a stream of
            // application calls cannot starve the devices, nor the reverse.
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            poll_fn(|cx| {
                let read = read_some(cx, &mut devices, &mut rx).is_ready();
                let handed = inbox
                    .poll_recv_many(cx, &mut handoffs, HANDOFF_BATCH)
                    .is_ready();
                let kicked = notified.as_mut().poll(cx).is_ready();
                let due = sleep.as_mut().poll(cx).is_ready();
                if read || handed || kicked || due {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        shared.rounds_run.fetch_add(1, Ordering::Relaxed);
        let input = Input {
            rx: &rx,
            handoffs: &handoffs,
            index,
            peers: &peers,
        };
        let deadline = round(&shared, &devices, &input, &mut tx, &mut routes);
        let st = shared.lock();
        let idle = shared.handles() == 0 && st.ep.connection_count() == 0;
        drop(st);
        if idle {
            return;
        }
        if devices.iter().all(|d| d.dead) {
            // Nothing can arrive or leave any more: the guard ends what
            // the application waits on.
            tracing::error!("every device is unreadable; the stack stops");
            return;
        }
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        sleep.as_mut().reset(deadline.unwrap_or(far));
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
        let offload = guard.get_ref().get_ref().offload();
        for _ in 0..BATCH {
            let slot = rx.free_slot();
            dev.counters.reads.fetch_add(1, Ordering::Relaxed);
            match guard.try_io(|t| t.get_ref().recv(slot)) {
                Ok(Ok(n)) => {
                    let (p, train, segment) = received(slot, n, offload, i);
                    dev.note_in(n, train, segment);
                    rx.packets.extend(p);
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

/// A packet read into `slot`: past its `virtio_net_hdr`, if the device has
/// offloads (a checksum the kernel left partial, or verified, is trusted);
/// whether it is a segmentation train; and the size of its largest
/// segment (headers and `gso_size`, for a train).
fn received(slot: &[u8], n: usize, offload: bool, dev: usize) -> (Option<Pkt>, bool, usize) {
    let plain = Pkt {
        off: 0,
        len: n,
        dev,
        verified: false,
    };
    if !offload {
        return (Some(plain), false, n);
    }
    match slot.get(..n).and_then(VnetHdr::parse) {
        Some(hdr) => {
            let p = Pkt {
                off: VNET_HDR_LEN,
                len: n - VNET_HDR_LEN,
                verified: gso::checksum_trusted(&hdr),
                ..plain
            };
            let train = gso::is_train(&hdr);
            let packet = &slot[VNET_HDR_LEN..n];
            let segment = match Layout::of(packet) {
                Some(l) if train => l.hdr_len() + l.payload().min(usize::from(hdr.gso_size)),
                _ => packet.len(),
            };
            (Some(p), train, segment)
        }
        None => (None, false, 0),
    }
}

fn mark_dead(dev: &mut Device, e: &io::Error) {
    tracing::warn!(device = %dev.config.device, error = %e, "device unreadable; path given up");
    dev.dead = true;
}

/// What a round takes in: the packets read from this worker's queues, and
/// those other workers handed over.
struct Input<'a> {
    rx: &'a Batch,
    handoffs: &'a [Handoff],
    index: usize,
    peers: &'a [Arc<Shared>],
}

impl Input<'_> {
    /// Every packet: its bytes, device, whether verified, and hops so far.
    fn packets(&self) -> impl Iterator<Item = (&[u8], usize, bool, u8)> {
        let read = (0..self.rx.packets.len()).map(|i| {
            let p = self.rx.packets[i];
            (self.rx.packet(i), p.dev, p.verified, 0)
        });
        let handed = self
            .handoffs
            .iter()
            .map(|h| (&h.packet[..], h.dev, h.verified, h.hops));
        read.chain(handed)
    }

    /// With several workers, give another worker what belongs to it (a
    /// join of its connection; a segment of a 4-tuple this one does not
    /// know goes round the workers once). Returns which packets stay here.
    fn steer(
        &self,
        shared: &Shared,
        ep: &mptcp_proto::endpoint::Endpoint,
        now: mptcp_proto::time::Instant,
    ) -> Vec<bool> {
        let n = self.peers.len();
        self.packets()
            .map(|(pkt, dev, verified, hops)| {
                let (to, counter) = match ep.steer(now, pkt) {
                    Steer::Shard(k) if (k as usize) < n && k as usize != self.index => {
                        (k as usize, &shared.joins_handed_over)
                    }
                    Steer::Elsewhere if usize::from(hops) + 1 < n => {
                        ((self.index + 1) % n, &shared.segments_passed_on)
                    }
                    _ => return true,
                };
                let handed = self.peers[to].hand(Handoff {
                    packet: pkt.to_vec(),
                    dev,
                    verified,
                    hops: hops.saturating_add(1),
                });
                if handed {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                !handed
            })
            .collect()
    }
}

/// One round: feed the packets and the time, deliver events, send. Returns
/// the engine's next deadline.
fn round(
    shared: &Shared,
    devices: &[Device],
    input: &Input<'_>,
    tx: &mut Batch,
    routes: &mut Routes,
) -> Option<tokio::time::Instant> {
    let mut sent = Vec::new();
    let mut st = shared.lock();
    let now = st.clock.now();
    let keep = (input.peers.len() > 1).then(|| input.steer(shared, &st.ep, now));
    let stays = |i: usize| keep.as_ref().is_none_or(|k| k[i]);
    for (i, (pkt, dev, ..)) in input.packets().enumerate() {
        let ep = &st.ep;
        if stays(i) {
            routes.learn(pkt, dev, |(ours, peer)| ep.has_subflow(ours, peer));
        }
    }
    for (i, (pkt, _, verified, _)) in input.packets().enumerate() {
        if !stays(i) {
            continue;
        }
        if verified {
            st.ep.handle_verified(now, pkt);
        } else {
            st.ep.handle(now, pkt);
        }
    }
    st.ep.handle_timeout(now);
    st.dispatch_events();
    loop {
        tx.clear();
        while !tx.is_full() {
            let (at, slot) = (tx.packets.len() * tx.slot, tx.slot);
            let area = &mut tx.buf[at..];
            let Some(t) = st.ep.poll_transmit_batch(now, area, slot, &mut sent) else {
                break;
            };
            let dev = routes
                .lookup(&area[..t.len])
                .or_else(|| devices.iter().position(|d| d.config.addr == t.src));
            let Some(dev) = dev else {
                tracing::debug!(src = %t.src, "no device for source address");
                continue;
            };
            for (len, payload) in sent.drain(..) {
                tx.packets.push(Pkt {
                    off: 0,
                    len,
                    dev,
                    verified: false,
                });
                tx.payloads.push(payload);
            }
        }
        st.dispatch_events();
        let more = tx.is_full();
        shared.unlock(st);
        send_batch(devices, tx);
        st = shared.lock();
        if !more {
            break;
        }
    }
    let clock = st.clock;
    let deadline = st.ep.poll_timeout().map(|t| clock.to_tokio(t));
    shared.unlock(st);
    shared.rounds.notify_waiters();
    deadline
}

/// Write a batch, runs of continuing segments as one train where the
/// device takes offloads.
fn send_batch(devices: &[Device], tx: &Batch) {
    let n = tx.packets.len();
    let mut i = 0;
    while i < n {
        let dev = &devices[tx.packets[i].dev];
        let first = tx.packet(i);
        let offload = dev.tun.get_ref().offload();
        let layout = Layout::gathered(first, tx.payload(i).len());
        let Some(fl) = layout.filter(|l| offload && l.payload() > 0) else {
            dev.send(first, tx.payload(i));
            i += 1;
            continue;
        };
        let (mut prev, mut size, mut j) = (fl, fl.payload(), i + 1);
        while j < n && tx.packets[j].dev == tx.packets[i].dev {
            let next = tx.packet(j);
            match Layout::gathered(next, tx.payload(j).len()) {
                Some(nl) if gso::continues(first, &fl, &prev, next, &nl, size) => {
                    size += nl.payload();
                    prev = nl;
                    j += 1;
                }
                _ => break,
            }
        }
        if j == i + 1 {
            dev.send(first, tx.payload(i));
        } else {
            let (hdr, vnet) = gso::train_header(first, &fl, size, prev.flags());
            let vnet = vnet.bytes();
            let mut parts: ArrayVec<IoSlice<'_>, { 2 * TX_BATCH + 2 }> = ArrayVec::new();
            parts.push(IoSlice::new(&vnet));
            parts.push(IoSlice::new(&hdr));
            for k in i..j {
                for part in [&tx.packet(k)[fl.hdr_len()..], tx.payload(k)] {
                    if !part.is_empty() {
                        parts.push(IoSlice::new(part));
                    }
                }
            }
            dev.send_train(&parts, j - i, fl.hdr_len() + fl.payload());
        }
        i = j;
    }
}

#[cfg(test)]
mod tests;
