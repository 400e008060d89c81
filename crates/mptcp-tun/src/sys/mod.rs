//! System calls behind safe functions: TUN devices, interface ioctls and
//! addresses, rtnetlink routes, the OS's randomness. Every `unsafe` block of the
//! runtime lives here, each with the reason it is sound.

pub mod ifaddrs;
pub mod netlink;
pub mod tun;

use std::io;

/// Turn a `-1` return value into the thread's `errno`.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// 64 random bits from the OS (the endpoint's seed).
pub fn random_seed() -> io::Result<u64> {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// If `fd` is a pipe, ask for a buffer of `bytes` (`F_SETPIPE_SZ`; the
/// kernel rounds up to pages and caps it at `/proc/sys/fs/pipe-max-size`
/// for unprivileged processes). Returns the pipe's size then, or `None`
/// when `fd` is no pipe or the kernel refused.
#[allow(unsafe_code)]
pub fn grow_pipe(fd: std::os::fd::BorrowedFd<'_>, bytes: usize) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let want = libc::c_int::try_from(bytes).ok()?;
    // SAFETY: fcntl on a descriptor the borrow keeps open, with an
    // integer argument; it touches no memory of ours.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
    usize::try_from(check(rc).ok()?).ok()
}

/// Raise the soft limit on open files to the hard one; returns the limit
/// in force after.
#[allow(unsafe_code)]
pub fn raise_open_files() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write the one struct we pass.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    #[test]
    fn the_open_files_limit_rises_to_the_hard_one() {
        let now = super::raise_open_files().expect("getrlimit");
        assert!(now >= 1024, "{now}");
        assert_eq!(super::raise_open_files().expect("again"), now);
    }

    #[test]
    fn a_pipe_grows_and_a_file_is_left_alone() {
        let (r, _w) = std::io::pipe().expect("pipe");
        let size = super::grow_pipe(r.as_fd(), 256 * 1024).expect("a pipe");
        assert!(size >= 256 * 1024, "{size}");
        let file = std::fs::File::open("/proc/self/stat").expect("a file");
        assert_eq!(super::grow_pipe(file.as_fd(), 256 * 1024), None);
    }
}
