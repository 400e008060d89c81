//! The addresses configured on an interface (`getifaddrs(3)`).

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IPv4 and IPv6 addresses of interface `name` (none if it does not
/// exist).
#[allow(unsafe_code)]
pub fn addresses(name: &str) -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid place for the list's pointer; on success
    // the list is ours until freed below.
    super::check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not
        // freed yet; its name is a NUL-terminated string.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: as above.
        let ifname = unsafe { CStr::from_ptr(ifa.ifa_name) };
        if ifa.ifa_addr.is_null() || ifname.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr whose family
        // says which sockaddr_* it is, as long as the list lives.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_INET {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
            out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))));
        } else if family == libc::AF_INET6 {
            // SAFETY: an AF_INET6 address is a sockaddr_in6.
            let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
            out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
