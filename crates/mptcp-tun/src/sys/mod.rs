//! System calls behind safe functions: TUN devices, interface ioctls,
//! rtnetlink routes, the OS's randomness. Every `unsafe` block of the
//! runtime lives here, each with the reason it is sound.

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
