//! TUN devices (`/dev/net/tun`, Documentation/networking/tuntap.rst) and the
//! interface ioctls the runtime needs: index, flags, MTU.

use super::check;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;

/// `struct ifreq`: a name and a 24-byte union (x86-64 and aarch64 alike).
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<IfReq> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?} (1 to 15 bytes, no NUL)"),
            ));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_short(&mut self, v: libc::c_short) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }

    fn int(&self) -> libc::c_int {
        libc::c_int::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }
}

/// `ioctl(fd, request, &mut ifreq)`.
#[allow(unsafe_code)]
fn ioctl_ifreq(fd: BorrowedFd<'_>, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: every request used here reads and writes at most one `struct
    // ifreq`, which `req` is (same size and layout); the descriptor is kept
    // open by the borrow.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, req as *mut IfReq) })?;
    Ok(())
}

/// `ioctl(fd, request, value)` for requests that take their argument by
/// value.
#[allow(unsafe_code)]
fn ioctl_value(fd: BorrowedFd<'_>, request: libc::c_ulong, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the request reads no memory of ours: its argument is the
    // value itself. The descriptor is kept open by the borrow.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, value) })?;
    Ok(())
}

/// A socket for interface ioctls.
#[allow(unsafe_code)]
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the returned descriptor is checked and then
    // owned by exactly one `OwnedFd`.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh, open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The index of interface `name`, if it exists (in the calling thread's
/// network namespace).
#[allow(unsafe_code)]
pub fn interface_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// Whether interface `name` is administratively up.
pub fn is_up(name: &str) -> io::Result<bool> {
    let sock = control_socket()?;
    let mut req = IfReq::new(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFFLAGS, &mut req)?;
    Ok(req.short() & libc::IFF_UP as libc::c_short != 0)
}

/// Bring interface `name` up.
pub fn set_up(name: &str) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = IfReq::new(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFFLAGS, &mut req)?;
    let flags = req.short() | libc::IFF_UP as libc::c_short;
    req.set_short(flags);
    ioctl_ifreq(sock.as_fd(), libc::SIOCSIFFLAGS, &mut req)
}

/// The MTU of interface `name`.
pub fn mtu(name: &str) -> io::Result<u32> {
    let sock = control_socket()?;
    let mut req = IfReq::new(name)?;
    ioctl_ifreq(sock.as_fd(), libc::SIOCGIFMTU, &mut req)?;
    u32::try_from(req.int()).map_err(|_| io::Error::other("negative MTU"))
}

/// Set the MTU of interface `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = IfReq::new(name)?;
    let mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
    req.data[..4].copy_from_slice(&mtu.to_ne_bytes());
    ioctl_ifreq(sock.as_fd(), libc::SIOCSIFMTU, &mut req)
}

/// An open TUN device: IP packets in and out, no packet-information header;
/// with offloads, each packet preceded by a `virtio_net_hdr`. Non-blocking;
/// closing it (drop) removes a device that was not made persistent.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
    created: bool,
    offload: bool,
    /// Opened as one of several queues (`IFF_MULTI_QUEUE`).
    multi: bool,
}

impl Tun {
    /// Attach to the TUN device `name`, creating it if there is none (in the
    /// calling thread's network namespace). Needs CAP_NET_ADMIN. With
    /// `offload`, packets carry a `virtio_net_hdr` both ways and the kernel
    /// may hand over segmentation trains with partial checksums (TSO); if
    /// the device refuses, it is opened without.
    ///
    /// `queues` queues of it (`IFF_MULTI_QUEUE` when more than one: the
    /// kernel spreads the flows it hands over among them by hash, and
    /// keeps a flow on the queue that last wrote one of its packets), all
    /// with or all without offloads. A device someone else created without
    /// multiple queues refuses more than one (`ErrorKind::Unsupported`).
    pub fn open_queues(name: &str, offload: bool, queues: usize) -> io::Result<Vec<Tun>> {
        let open = |multi: bool| match offload {
            true => Tun::open_with(name, true, multi).or_else(|e| {
                tracing::debug!(device = name, error = %e, "no TUN offloads");
                Tun::open_with(name, false, multi)
            }),
            false => Tun::open_with(name, false, multi),
        };
        let multi = queues > 1;
        let existed = interface_index(name).is_some();
        let first = match open(multi) {
            // One queue of a device made for several (`ip tuntap add ...
            // multi_queue`): the kernel wants the flag to match.
            Err(e) if !multi && existed => open(true).map_err(|_| e)?,
            // Several queues of a device made for one.
            Err(e) if multi && existed && open(false).is_ok() => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{name} takes one queue only (made without multi_queue):                          {queues} workers cannot share it ({e})"
                    ),
                ));
            }
            r => r?,
        };
        let multi = first.multi;
        let offload = first.offload;
        let mut all = vec![first];
        for _ in 1..queues {
            let mut t = Tun::open_with(name, offload, multi)
                .map_err(|e| io::Error::new(e.kind(), format!("another queue of {e}")))?;
            // The device is the first queue's: gone once every queue is.
            t.created = all[0].created;
            all.push(t);
        }
        Ok(all)
    }

    fn open_with(name: &str, offload: bool, multi: bool) -> io::Result<Tun> {
        let mut req = IfReq::new(name)?;
        let existed = interface_index(name).is_some();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        let vnet = if offload { IFF_VNET_HDR } else { 0 };
        let mq = if multi { IFF_MULTI_QUEUE } else { 0 };
        req.set_short(IFF_TUN | IFF_NO_PI | vnet | mq);
        ioctl_ifreq(file.as_fd(), TUNSETIFF, &mut req).map_err(|e| {
            let why = if existed {
                "exists but is not a free TUN device, or"
            } else {
                "cannot be created:"
            };
            io::Error::new(e.kind(), format!("{name} {why} {e}"))
        })?;
        if offload {
            ioctl_value(
                file.as_fd(),
                TUNSETOFFLOAD,
                TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
            )?;
        }
        Ok(Tun {
            file,
            name: name.to_owned(),
            created: !existed,
            offload,
            multi,
        })
    }

    /// Whether packets carry a `virtio_net_hdr`.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this call created the device (it disappears with us).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Register with the current tokio runtime's reactor, for readability
    /// (writes to a TUN device do not block).
    #[allow(unsafe_code)]
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<Tun>> {
        // SAFETY: the descriptor belongs to `self.file`, which the AsyncFd
        // owns from here on and which closes it only when dropped; every
        // `as_raw_fd` returns that same descriptor.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self, tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)
    }

    /// Read one packet (non-blocking: `WouldBlock` when none is queued).
    #[allow(unsafe_code)]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; read(2)
        // writes at most that many.
        let n = unsafe { libc::read(self.file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Write one packet gathered from `parts`.
    #[allow(unsafe_code)]
    pub fn send_vectored(&self, parts: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        let count = libc::c_int::try_from(parts.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many parts"))?;
        // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` (as the
        // standard library guarantees on Unix); every slice is valid for
        // reads of its length while borrowed.
        let n = unsafe { libc::writev(self.file.as_raw_fd(), parts.as_ptr().cast(), count) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Write one packet.
    #[allow(unsafe_code)]
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        // SAFETY: `packet` is valid for reads of `packet.len()` bytes.
        let n = unsafe { libc::write(self.file.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
