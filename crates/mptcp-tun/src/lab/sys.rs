//! The few system calls of the lab that have no safe wrapper, each in one
//! small function that allows `unsafe` locally and says why it is sound.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Turns a `-1` return value into the thread's `errno`.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Moves the calling thread into the network namespace `ns` refers to.
#[allow(unsafe_code)]
pub(crate) fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns reads no memory of ours; the descriptor stays open for
    // the call because `BorrowedFd` borrows it. It changes only the calling
    // thread's network namespace (threads do not share it).
    check(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// `getsockopt(fd, level, name)` into `buf`; returns the length the kernel
/// wrote (which may be shorter than `buf`).
#[allow(unsafe_code)]
pub(crate) fn getsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "getsockopt buffer too large"))?;
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` is a valid
    // socklen_t; the kernel writes at most `len` bytes and stores the length
    // it wrote back into `len`. The descriptor is kept open by `BorrowedFd`.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok(usize::try_from(len).unwrap_or(0).min(buf.len()))
}

/// `setsockopt(fd, level, name, &value)` for an integer option.
#[allow(unsafe_code)]
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` lives through the call and is `len` bytes; the kernel
    // only reads it. The descriptor is kept open by `BorrowedFd`.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            len,
        )
    })?;
    Ok(())
}

/// Opens `/dev/net/tun` (non-blocking) and attaches it to the existing or new
/// TUN device `name` with `IFF_TUN | IFF_NO_PI`.
#[allow(unsafe_code)]
pub(crate) fn tun_attach(name: &str) -> io::Result<File> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    // struct ifreq: the name (IFNAMSIZ bytes, NUL-terminated), then a union
    // whose first member used here is `short ifr_flags`; 40 bytes in all.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ifr[libc::IFNAMSIZ..libc::IFNAMSIZ + 2].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq` (40 bytes on
    // Linux) at the pointer, which points to a live 40-byte buffer; the
    // descriptor is owned by `file`, open for the whole call.
    check(unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) })?;
    Ok(file)
}

/// Waits until one of `fds` is readable or `timeout` passes (nanosecond
/// resolution, `ppoll`); sets `ready[i]` for each readable one (`ready` as
/// long as `fds`). An interrupting signal counts as a timeout.
#[allow(unsafe_code)]
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout: std::time::Duration,
    ready: &mut [bool],
) -> io::Result<()> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32).max(0),
    };
    // SAFETY: `pollfds` holds `pollfds.len()` initialised entries the kernel
    // may write `revents` into; `ts` is a valid timespec read during the
    // call; a null signal mask leaves the thread's mask alone. The
    // descriptors stay open for the call (borrowed).
    let rc = unsafe {
        libc::ppoll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if rc == -1 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    for (r, p) in ready.iter_mut().zip(&pollfds) {
        *r = rc > 0 && p.revents != 0;
    }
    Ok(())
}

/// Gives the calling thread the real-time FIFO policy at `priority`
/// (`sched_setscheduler(0, SCHED_FIFO)`; needs CAP_SYS_NICE).
#[allow(unsafe_code)]
pub(crate) fn set_fifo_priority(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param read during the call; pid 0
    // is the calling thread, the only one changed.
    check(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) })?;
    Ok(())
}

/// User and system CPU seconds from `getrusage(who)`.
#[allow(unsafe_code)]
pub(crate) fn rusage_seconds(who: libc::c_int) -> io::Result<f64> {
    let mut usage = MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes one `struct rusage` to a valid, suitably
    // aligned pointer; it is initialised when the call returns 0.
    let usage = unsafe {
        check(libc::getrusage(who, usage.as_mut_ptr()))?;
        usage.assume_init()
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Ok(secs(usage.ru_utime) + secs(usage.ru_stime))
}

/// The kernel's clock tick (`sysconf(_SC_CLK_TCK)`), the unit of `/proc/stat`.
#[allow(unsafe_code)]
pub(crate) fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes an integer and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Whether the process runs with effective user id 0.
#[allow(unsafe_code)]
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() == 0 }
}

/// Sends `SIGKILL` to process `pid`.
#[allow(unsafe_code)]
pub(crate) fn kill(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours; the
    // caller only passes processes of a namespace this lab created.
    check(unsafe { libc::kill(pid, libc::SIGKILL) })?;
    Ok(())
}
