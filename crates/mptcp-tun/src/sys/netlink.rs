//! Routes through rtnetlink (RFC 3549, `rtnetlink(7)`): the one route the
//! runtime installs, to its own address over its TUN device, so that the
//! local kernel can reach the stack.

use super::check;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;

/// Add (or replace) the host route `addr/32` (or `/128`) through the
/// interface with index `ifindex`, in the main table.
pub fn add_host_route(addr: IpAddr, ifindex: u32) -> io::Result<()> {
    let (family, octets): (u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let mut msg = Vec::with_capacity(64);
    // struct nlmsghdr, length patched below.
    msg.extend(0u32.to_ne_bytes());
    msg.extend(RTM_NEWROUTE.to_ne_bytes());
    msg.extend((NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE).to_ne_bytes());
    msg.extend(1u32.to_ne_bytes()); // sequence number
    msg.extend(0u32.to_ne_bytes()); // port id: the kernel fills it in
    // struct rtmsg
    let prefix = (octets.len() * 8) as u8;
    msg.extend([
        family,
        prefix,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        RT_SCOPE_LINK,
        RTN_UNICAST,
    ]);
    msg.extend(0u32.to_ne_bytes()); // rtm_flags
    push_attr(&mut msg, RTA_DST, &octets);
    push_attr(&mut msg, RTA_OIF, &ifindex.to_ne_bytes());
    let len = msg.len() as u32;
    msg[..4].copy_from_slice(&len.to_ne_bytes());
    let sock = netlink_socket()?;
    send(&sock, &msg)?;
    let mut reply = [0u8; 512];
    let n = recv(&sock, &mut reply)?;
    ack_status(&reply[..n])
}

fn push_attr(msg: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    msg.extend((len as u16).to_ne_bytes());
    msg.extend(kind.to_ne_bytes());
    msg.extend(data);
    msg.resize(msg.len() + (4 - len % 4) % 4, 0);
}

/// The errno of a netlink acknowledgment (`NLMSG_ERROR` with code 0 on
/// success).
fn ack_status(reply: &[u8]) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short rtnetlink reply");
    let kind = u16::from_ne_bytes(
        reply
            .get(4..6)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if kind != NLMSG_ERROR {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected rtnetlink reply type {kind}"),
        ));
    }
    let code = i32::from_ne_bytes(
        reply
            .get(16..20)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-code))
    }
}

fn netlink_socket() -> io::Result<OwnedFd> {
    netlink_socket_of(libc::NETLINK_ROUTE)
}

#[allow(unsafe_code)]
fn netlink_socket_of(protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is checked, then owned once.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn send(sock: &OwnedFd, msg: &[u8]) -> io::Result<()> {
    // SAFETY: `msg` is valid for reads of its length. The destination is
    // the kernel (a zeroed sockaddr_nl, pid 0).
    let n = unsafe {
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as u16;
        libc::sendto(
            sock.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[allow(unsafe_code)]
fn recv(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

// Generic netlink (`genetlink(7)`) and the kernel's MPTCP path manager
// family (`include/uapi/linux/mptcp.h`).
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const MPTCP_PM_CMD_ADD_ADDR: u8 = 1;
const MPTCP_PM_VER: u8 = 1;
const MPTCP_PM_ATTR_ADDR: u16 = 1;
const MPTCP_PM_ADDR_ATTR_FAMILY: u16 = 1;
const MPTCP_PM_ADDR_ATTR_ID: u16 = 2;
const MPTCP_PM_ADDR_ATTR_ADDR4: u16 = 3;
const MPTCP_PM_ADDR_ATTR_ADDR6: u16 = 4;
const MPTCP_PM_ADDR_ATTR_PORT: u16 = 5;
const MPTCP_PM_ADDR_ATTR_FLAGS: u16 = 6;
const MPTCP_PM_ADDR_ATTR_IF_IDX: u16 = 7;
const NLA_F_NESTED: u16 = 0x8000;

/// A generic netlink request: header (length patched by [`finish`]),
/// then the generic header with `cmd` and `version`.
fn genl_request(family: u16, cmd: u8, version: u8) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend(0u32.to_ne_bytes());
    msg.extend(family.to_ne_bytes());
    msg.extend((NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend(1u32.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg.extend([cmd, version, 0, 0]);
    msg
}

fn finish(mut msg: Vec<u8>) -> Vec<u8> {
    let len = msg.len() as u32;
    msg[..4].copy_from_slice(&len.to_ne_bytes());
    msg
}

/// The attributes of a generic netlink reply (after both headers).
fn genl_attrs(reply: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = reply.get(20..).unwrap_or_default();
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(rest.get(..2)?.try_into().ok()?));
        let kind = u16::from_ne_bytes(rest.get(2..4)?.try_into().ok()?);
        let data = rest.get(4..len)?;
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((kind, data))
    })
}

/// The id of generic netlink family `name`.
fn genl_family(sock: &OwnedFd, name: &str) -> io::Result<u16> {
    let mut msg = genl_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    let mut z = name.as_bytes().to_vec();
    z.push(0);
    push_attr(&mut msg, CTRL_ATTR_FAMILY_NAME, &z);
    send(sock, &finish(msg))?;
    let mut reply = vec![0u8; 8192];
    let n = recv(sock, &mut reply)?;
    let reply = &reply[..n];
    if reply.get(4..6) == Some(&NLMSG_ERROR.to_ne_bytes()[..]) {
        ack_status(reply)?;
    }
    genl_attrs(reply)
        .find(|(k, _)| *k == CTRL_ATTR_FAMILY_ID)
        .and_then(|(_, d)| Some(u16::from_ne_bytes(d.get(..2)?.try_into().ok()?)))
        .ok_or_else(|| io::Error::other(format!("no generic netlink family {name}")))
}

/// An MPTCP endpoint of the kernel's path manager (what `ip mptcp
/// endpoint add` does, for flags an older `ip` does not know): `addr` on
/// interface `ifindex` with the kernel's `flags` bits, an `id` and a
/// `port` when given. In the calling thread's network namespace.
pub fn add_mptcp_endpoint(
    addr: IpAddr,
    ifindex: u32,
    flags: u32,
    id: Option<u8>,
    port: Option<u16>,
) -> io::Result<()> {
    let sock = netlink_socket_of(libc::NETLINK_GENERIC)?;
    let family = genl_family(&sock, "mptcp_pm")?;
    let mut nested = Vec::new();
    match addr {
        IpAddr::V4(a) => {
            push_attr(
                &mut nested,
                MPTCP_PM_ADDR_ATTR_FAMILY,
                &(libc::AF_INET as u16).to_ne_bytes(),
            );
            push_attr(&mut nested, MPTCP_PM_ADDR_ATTR_ADDR4, &a.octets());
        }
        IpAddr::V6(a) => {
            push_attr(
                &mut nested,
                MPTCP_PM_ADDR_ATTR_FAMILY,
                &(libc::AF_INET6 as u16).to_ne_bytes(),
            );
            push_attr(&mut nested, MPTCP_PM_ADDR_ATTR_ADDR6, &a.octets());
        }
    }
    if let Some(id) = id {
        push_attr(&mut nested, MPTCP_PM_ADDR_ATTR_ID, &[id]);
    }
    if let Some(port) = port {
        push_attr(&mut nested, MPTCP_PM_ADDR_ATTR_PORT, &port.to_ne_bytes());
    }
    push_attr(&mut nested, MPTCP_PM_ADDR_ATTR_FLAGS, &flags.to_ne_bytes());
    push_attr(
        &mut nested,
        MPTCP_PM_ADDR_ATTR_IF_IDX,
        &(ifindex as i32).to_ne_bytes(),
    );
    let mut msg = genl_request(family, MPTCP_PM_CMD_ADD_ADDR, MPTCP_PM_VER);
    push_attr(&mut msg, MPTCP_PM_ATTR_ADDR | NLA_F_NESTED, &nested);
    send(&sock, &finish(msg))?;
    let mut reply = [0u8; 512];
    let n = recv(&sock, &mut reply)?;
    ack_status(&reply[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generic_reply_gives_its_attributes() {
        // nlmsghdr and genlmsghdr, then a family id and a padded name.
        let mut reply = vec![0u8; 20];
        push_attr(&mut reply, CTRL_ATTR_FAMILY_ID, &0x1cu16.to_ne_bytes());
        push_attr(&mut reply, CTRL_ATTR_FAMILY_NAME, b"mptcp_pm\0");
        let attrs: Vec<(u16, &[u8])> = genl_attrs(&reply).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0], (CTRL_ATTR_FAMILY_ID, &0x1cu16.to_ne_bytes()[..]));
        assert_eq!(attrs[1], (CTRL_ATTR_FAMILY_NAME, &b"mptcp_pm\0"[..]));
        // A truncated one ends the walk, without a panic.
        assert_eq!(genl_attrs(&reply[..26]).count(), 1);
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut msg = Vec::new();
        push_attr(&mut msg, RTA_DST, &[10, 0, 0, 2]);
        assert_eq!(msg, [8, 0, 1, 0, 10, 0, 0, 2]);
        push_attr(&mut msg, 9, &[1]);
        assert_eq!(msg.len(), 8 + 8);
        assert_eq!(&msg[8..], [5, 0, 9, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn acknowledgments_decode_to_errno() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(ack_status(&ack).is_ok());
        ack[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        let e = ack_status(&ack).expect_err("EEXIST");
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert!(ack_status(&ack[..10]).is_err());
    }
}
