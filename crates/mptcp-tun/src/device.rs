//! A path: one TUN device and the address the stack uses on it.

use crate::sys::{netlink, tun};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::unix::AsyncFd;

/// A path: a TUN device (attached, or created if absent) and the address
/// our stack uses on it. Written `DEV=ADDR`, e.g. `mptcp0=10.200.0.2`, or
/// `DEV=ADDR,mtu=N` to set the device's MTU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathConfig {
    /// The TUN device's name.
    pub device: String,
    /// Our address on it (not one of the kernel's own addresses: the kernel
    /// routes packets for it into the device, where the stack reads them).
    pub addr: IpAddr,
    /// The path's MTU. `Some`: the stack sets the device's MTU to it when
    /// it opens the device; `None`: the stack takes the device's MTU as
    /// it is. One device, one MTU: the kernel's side of a TUN path (what
    /// it sends into the device, the MSS it announces) and ours are the
    /// same. [`Stack::paths`](crate::Stack::paths) reports the MTU in use.
    pub mtu: Option<u16>,
}

impl PathConfig {
    /// A path over `device` with our address `addr`, at the device's MTU.
    pub fn new(device: impl Into<String>, addr: IpAddr) -> PathConfig {
        PathConfig {
            device: device.into(),
            addr,
            mtu: None,
        }
    }

    /// The same path with the device's MTU set to `mtu` (576 to 65535;
    /// IPv6 needs at least 1280).
    pub fn with_mtu(mut self, mtu: u16) -> PathConfig {
        self.mtu = Some(mtu);
        self
    }
}

impl FromStr for PathConfig {
    type Err = String;

    fn from_str(s: &str) -> Result<PathConfig, String> {
        let (s, mtu) = match s.split_once(",mtu=") {
            Some((path, mtu)) => {
                let mtu = mtu
                    .parse::<u16>()
                    .ok()
                    .filter(|m| *m >= 576)
                    .ok_or_else(|| format!("{mtu:?}: an MTU is 576 to 65535"))?;
                (path, Some(mtu))
            }
            None => (s, None),
        };
        let (dev, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected DEV=ADDR, like mptcp0=10.200.0.2"))?;
        if dev.is_empty() || dev.len() > 15 {
            return Err(format!("{dev:?}: a device name has 1 to 15 characters"));
        }
        let addr = addr
            .parse()
            .map_err(|_| format!("{addr:?}: not an IPv4 or IPv6 address"))?;
        Ok(PathConfig {
            mtu,
            ..PathConfig::new(dev, addr)
        })
    }
}

impl fmt::Display for PathConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.device, self.addr)?;
        match self.mtu {
            Some(mtu) => write!(f, ",mtu={mtu}"),
            None => Ok(()),
        }
    }
}

/// Packet counters of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Packets read from the device.
    pub packets_in: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Packets written.
    pub packets_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Packets the device refused (down, queue full): lost, as on a wire.
    pub send_errors: u64,
    /// Segmentation trains written (several segments in one write, with
    /// the device's offloads).
    pub trains_out: u64,
    /// Segmentation trains the kernel handed over (counted once each in
    /// `packets_in`).
    pub trains_in: u64,
    /// Whether the device takes segmentation offloads.
    pub offload: bool,
    /// The largest IP packet read, a train's segments counted one by one
    /// (header and `gso_size`): at most the MTU the kernel sends with.
    pub largest_in: u64,
    /// The largest IP packet written, a train's segments counted one by
    /// one: at most the MTU our stack sends with.
    pub largest_out: u64,
    /// Read calls on the device, those that found nothing included.
    pub reads: u64,
    /// Write calls on the device.
    pub writes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    send_errors: AtomicU64,
    trains_out: AtomicU64,
    trains_in: AtomicU64,
    largest_in: AtomicU64,
    largest_out: AtomicU64,
    pub(crate) reads: AtomicU64,
    writes: AtomicU64,
    pub(crate) offload: std::sync::atomic::AtomicBool,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> DeviceStats {
        DeviceStats {
            packets_in: self.packets_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            packets_out: self.packets_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            trains_out: self.trains_out.load(Ordering::Relaxed),
            trains_in: self.trains_in.load(Ordering::Relaxed),
            offload: self.offload.load(Ordering::Relaxed),
            largest_in: self.largest_in.load(Ordering::Relaxed),
            largest_out: self.largest_out.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

/// An open path, owned by the driver.
pub(crate) struct Device {
    pub(crate) tun: AsyncFd<tun::Tun>,
    pub(crate) config: PathConfig,
    pub(crate) mtu: u16,
    pub(crate) counters: Arc<Counters>,
    /// A read failed for good (the device was deleted): not polled again.
    pub(crate) dead: bool,
    /// The engine leaves TCP checksums partial, for this device to complete.
    pub(crate) partial_checksums: bool,
}

impl Device {
    /// Attach to (or create) the path's device with `queues` queues (one per
    /// worker), bring it up and route our address into it: one [`Device`]
    /// per queue, sharing the counters. Must run inside a tokio runtime.
    pub(crate) fn open_queues(
        config: &PathConfig,
        offload: bool,
        queues: usize,
    ) -> io::Result<Vec<Device>> {
        let tuns = tun::Tun::open_queues(&config.device, offload, queues.max(1))?;
        let t = &tuns[0];
        tracing::debug!(device = %t.name(), created = t.created(), queues, "path device open");
        let name = &config.device;
        if let Some(mtu) = config.mtu {
            tun::set_mtu(name, u32::from(mtu))
                .map_err(|e| ctx(e, format!("setting the MTU of {name} to {mtu}")))?;
        }
        if !tun::is_up(name)? {
            tun::set_up(name).map_err(|e| ctx(e, format!("bringing {name} up")))?;
        }
        let mtu = tun::mtu(name)?.clamp(576, 65535) as u16;
        let index = tun::interface_index(name)
            .ok_or_else(|| io::Error::other(format!("{name} vanished")))?;
        netlink::add_host_route(config.addr, index).map_err(|e| {
            ctx(
                e,
                format!("routing {} into {name} (IPv6 off on it?)", config.addr),
            )
        })?;
        let counters = Arc::new(Counters::default());
        counters.offload.store(t.offload(), Ordering::Relaxed);
        tuns.into_iter()
            .map(|t| {
                Ok(Device {
                    tun: t.into_async()?,
                    config: PathConfig {
                        mtu: Some(mtu),
                        ..config.clone()
                    },
                    mtu,
                    counters: counters.clone(),
                    dead: false,
                    partial_checksums: false,
                })
            })
            .collect()
    }

    /// One read of `bytes` bytes whose largest segment has `segment`.
    pub(crate) fn note_in(&self, bytes: usize, train: bool, segment: usize) {
        self.counters
            .largest_in
            .fetch_max(segment as u64, Ordering::Relaxed);
        if train {
            self.counters.trains_in.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_in
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Write one packet: `packet`, then `payload` (gathered; empty when
    /// `packet` is whole). A refusal counts as a loss (TCP recovers).
    pub(crate) fn send(&self, packet: &[u8], payload: &[u8]) {
        let tun = self.tun.get_ref();
        let len = packet.len() + payload.len();
        let sent = match (tun.offload(), payload.is_empty()) {
            (true, _) => {
                let hdr = crate::gso::single(packet, payload.len(), self.partial_checksums);
                let hdr = hdr.bytes();
                tun.send_vectored(&[
                    IoSlice::new(&hdr),
                    IoSlice::new(packet),
                    IoSlice::new(payload),
                ])
            }
            (false, true) => tun.send(packet),
            (false, false) => tun.send_vectored(&[IoSlice::new(packet), IoSlice::new(payload)]),
        };
        self.note_out(sent, 1, len, len);
    }

    /// Write a segmentation train of `segments` segments gathered from
    /// `parts` (its `virtio_net_hdr` first), the largest of `segment`
    /// bytes.
    pub(crate) fn send_train(&self, parts: &[IoSlice<'_>], segments: usize, segment: usize) {
        let bytes = parts[1..].iter().map(|p| p.len()).sum();
        let sent = self.tun.get_ref().send_vectored(parts);
        if sent.is_ok() {
            self.counters.trains_out.fetch_add(1, Ordering::Relaxed);
        }
        self.note_out(sent, segments as u64, bytes, segment);
    }

    fn note_out(&self, sent: io::Result<usize>, packets: u64, bytes: usize, segment: usize) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        match sent {
            Ok(_) => {
                self.counters
                    .largest_out
                    .fetch_max(segment as u64, Ordering::Relaxed);
                self.counters
                    .packets_out
                    .fetch_add(packets, Ordering::Relaxed);
                self.counters
                    .bytes_out
                    .fetch_add(bytes as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(device = %self.config.device, error = %e, "packet not sent");
            }
        }
    }
}

fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_as_dev_equals_addr() {
        let p: PathConfig = "mptcp0=10.200.0.2".parse().expect("v4");
        assert_eq!(p, PathConfig::new("mptcp0", "10.200.0.2".parse().unwrap()));
        assert_eq!(p.to_string(), "mptcp0=10.200.0.2");
        let p: PathConfig = "t1=fd00:200:1::2".parse().expect("v6");
        assert!(p.addr.is_ipv6());
        let p: PathConfig = "t0=10.0.0.2,mtu=9000".parse().expect("with an MTU");
        assert_eq!((p.device.as_str(), p.mtu), ("t0", Some(9000)));
        assert_eq!(p.to_string(), "t0=10.0.0.2,mtu=9000");
        assert_eq!(p, PathConfig::new("t0", p.addr).with_mtu(9000));
        for bad in [
            "t0=10.0.0.2,mtu=500",
            "t0=10.0.0.2,mtu=x",
            "mptcp0",
            "=10.0.0.1",
            "mptcp0=10.0.0",
            "a-very-long-device-name=10.0.0.1",
        ] {
            assert!(bad.parse::<PathConfig>().is_err(), "{bad}");
        }
    }
}
