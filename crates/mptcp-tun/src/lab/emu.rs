//! [`EmuPort`]: the TUN devices a link emulator forwards between.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::{Netns, sys};

/// A TUN device the calling process creates in a namespace and keeps: what
/// that namespace's kernel routes into the device is read here, and a
/// packet written here enters that kernel as if received on the device.
///
/// The descriptor works from any thread and namespace once opened. The
/// device is not persistent: it disappears, with its addresses and routes,
/// when the port is dropped or the process exits however it exits.
#[derive(Debug)]
pub struct EmuPort {
    file: File,
    dev: String,
}

impl EmuPort {
    /// Creates TUN device `dev` in `ns` (IP packets, no header, no offloads:
    /// each read is one packet of at most the device's MTU), non-blocking.
    /// Fails if `ns` already has a device called `dev` that is not a free
    /// TUN device.
    pub fn open(ns: &Netns, dev: &str) -> io::Result<EmuPort> {
        if sys_index_in(ns, dev)? {
            let msg = format!("netns {}: device {dev} exists already", ns.name());
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
        }
        let file = ns.try_run(|| sys::tun_attach(dev))??;
        Ok(EmuPort {
            file,
            dev: dev.to_owned(),
        })
    }

    /// The device's name (in its namespace).
    pub fn dev(&self) -> &str {
        &self.dev
    }

    /// Reads one packet; `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet into the namespace's kernel.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }
}

impl AsFd for EmuPort {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Whether `dev` exists in `ns`.
fn sys_index_in(ns: &Netns, dev: &str) -> io::Result<bool> {
    let dev = dev.to_owned();
    ns.try_run(move || crate::sys::tun::interface_index(&dev).is_some())
}

/// Waits until one of `ports` has a packet to read or `timeout` passes
/// (nanosecond resolution; the kernel's timer slack applies); sets
/// `ready[i]` for each port with one. A signal ends the wait early, with
/// nothing ready.
pub fn wait_readable(ports: &[EmuPort], timeout: Duration, ready: &mut [bool]) -> io::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = ports.iter().map(AsFd::as_fd).collect();
    sys::poll_readable(&fds, timeout, ready)
}

/// Gives the calling thread real-time (FIFO) scheduling at `priority` (1 to
/// 99), so that a forwarding loop wakes on time on a busy machine; the
/// kernel's real-time throttling still leaves other threads a share.
pub fn set_realtime(priority: i32) -> io::Result<()> {
    sys::set_fifo_priority(priority)
}
