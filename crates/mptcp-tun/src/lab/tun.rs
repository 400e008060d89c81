//! [`TunLab`]: one namespace whose kernel talks MPTCP over N TUN devices,
//! for our stack (attached to the devices by name) to talk to.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Netns, device_name, sys};

/// Most paths a lab may have (addresses use the path index as an octet).
pub const MAX_PATHS: usize = 64;

/// Routing table of path `i` (`100 + i`), in both labs.
pub(crate) fn table(i: usize) -> u32 {
    100 + i as u32
}

/// Checks a path count.
pub(crate) fn check_paths(n: usize) -> io::Result<()> {
    if (1..=MAX_PATHS).contains(&n) {
        Ok(())
    } else {
        let msg = format!("a lab has 1 to {MAX_PATHS} paths, not {n}");
        Err(io::Error::new(io::ErrorKind::InvalidInput, msg))
    }
}

/// One path of a [`TunLab`]: a TUN device, the kernel's addresses on it and
/// the addresses our stack uses behind it. Path `i` uses `10.200.i.0/24`
/// and `fd00:200:i::/64` (`i` in hex in the IPv6 form), kernel `.1`/`::1`,
/// stack `.2`/`::2`, routing table `100 + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunPath {
    /// The path's index.
    pub index: usize,
    /// TUN device name inside the lab's namespace.
    pub dev: String,
    /// The kernel's IPv4 address on this path (`10.200.i.1`).
    pub kernel_v4: Ipv4Addr,
    /// Our stack's IPv4 address on this path (`10.200.i.2`).
    pub stack_v4: Ipv4Addr,
    /// The kernel's IPv6 address on this path (`fd00:200:i::1`).
    pub kernel_v6: Ipv6Addr,
    /// Our stack's IPv6 address on this path (`fd00:200:i::2`).
    pub stack_v6: Ipv6Addr,
    /// The policy-routing table for traffic from the kernel's addresses.
    pub table: u32,
}

impl TunPath {
    fn new(prefix: &str, index: usize) -> io::Result<TunPath> {
        let octet = index as u8;
        let group = index as u16;
        Ok(TunPath {
            index,
            dev: device_name(prefix, index)?,
            kernel_v4: Ipv4Addr::new(10, 200, octet, 1),
            stack_v4: Ipv4Addr::new(10, 200, octet, 2),
            kernel_v6: Ipv6Addr::new(0xfd00, 0x200, group, 0, 0, 0, 0, 1),
            stack_v6: Ipv6Addr::new(0xfd00, 0x200, group, 0, 0, 0, 0, 2),
            table: table(index),
        })
    }

    /// The kernel's address of the given family.
    pub fn kernel_addr(&self, v6: bool) -> IpAddr {
        if v6 {
            self.kernel_v6.into()
        } else {
            self.kernel_v4.into()
        }
    }

    /// Our stack's address of the given family.
    pub fn stack_addr(&self, v6: bool) -> IpAddr {
        if v6 {
            self.stack_v6.into()
        } else {
            self.stack_v4.into()
        }
    }

    /// The `--tun DEV=ADDR` argument of the `mptcp` tool for this path.
    pub fn tun_arg(&self, v6: bool) -> String {
        format!("{}={}", self.dev, self.stack_addr(v6))
    }

    /// `ip` batch lines configuring the kernel's side of this path: the
    /// device, addresses and IPv4 routing, then (for `ip -6`) IPv6 routing.
    /// With `multi_queue`, the device takes several queues (a stack with
    /// workers, [`crate::StackBuilder::workers`]).
    fn setup_lines(&self, multi_queue: bool) -> (Vec<String>, Vec<String>) {
        let (dev, t, pref) = (&self.dev, self.table, 1000 + self.index);
        let (k4, k6, i) = (self.kernel_v4, self.kernel_v6, self.index);
        let net6 = Ipv6Addr::new(0xfd00, 0x200, i as u16, 0, 0, 0, 0, 0);
        let mq = if multi_queue { " multi_queue" } else { "" };
        let common = vec![
            format!("tuntap add dev {dev} mode tun{mq}"),
            format!("link set {dev} addrgenmode none"),
            format!("link set {dev} up"),
            format!("addr add {k4}/24 dev {dev}"),
            format!("addr add {k6}/64 dev {dev} nodad"),
            format!("rule add from {k4} table {t} pref {pref}"),
            format!("route add 10.200.{i}.0/24 dev {dev} table {t}"),
            format!("route add default dev {dev} table {t}"),
        ];
        let v6 = vec![
            format!("rule add from {k6} table {t} pref {pref}"),
            format!("route add {net6}/64 dev {dev} table {t}"),
            format!("route add default dev {dev} table {t}"),
        ];
        (common, v6)
    }
}

/// A namespace with N persistent TUN devices ("paths") whose kernel side
/// is configured for MPTCP; our stack attaches to the devices by name, from
/// inside the namespace (a runtime built in [`Netns::run`], or a process
/// started with [`Netns::exec`]).
///
/// Kernel side of each path (see [`TunPath`] for the addresses): the device
/// is up with the kernel's IPv4 `/24` and IPv6 `/64` (`nodad`) addresses;
/// source-based policy routing sends traffic *from* path `i`'s kernel
/// address out of path `i`'s device (rule `from <kernel addr> lookup
/// 100+i`, priority `1000+i`, before the main table; table `100+i` holds
/// the path's network and a default route, both via the device), so the
/// kernel's subflows stay on the path of their source address; `rp_filter` is off, so packets for any kernel address
/// are accepted on any path. MPTCP limits are `subflows 8 add_addr_accepted
/// 8`; there are no MPTCP endpoints until [`endpoint`](Self::endpoint).
///
/// The devices have no IPv6 link-local address (`addrgenmode none`), so
/// the kernel sends nothing into a path on its own (no router
/// solicitations): every packet our stack reads was asked for.
///
/// Before a process attaches, a device has NO-CARRIER: everything above can
/// be configured, its routes show `linkdown` but are still used, sockets can
/// bind to and listen on the kernel's addresses, and whatever the kernel
/// sends into the path is dropped silently (`send` succeeds, the device's
/// `tx_dropped` counts it; a SYN is retransmitted after 1 s, so a connect
/// started before the attach still gets through once the stack is there).
/// Attaching brings the carrier up; closing the descriptor takes it down
/// again, the configuration stays.
///
/// Replies: the kernel answers from the address a packet was sent to, and
/// the policy routing sends that out of *that address's* path. If our stack
/// opens a subflow from path `j`'s address to path `i`'s kernel address
/// through path `j`'s device, the kernel's answers come back on path `i`.
///
/// Dropping the lab deletes the devices and the namespace.
#[derive(Debug)]
pub struct TunLab {
    paths: Vec<TunPath>,
    ns: Netns,
}

/// Sysctls of both labs' namespaces.
pub(crate) const LAB_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.mptcp.enabled", "1"),
];

/// The MPTCP limits both labs set.
pub(crate) const LIMITS: &[&str] = &[
    "mptcp",
    "limits",
    "set",
    "subflows",
    "8",
    "add_addr_accepted",
    "8",
];

impl TunLab {
    /// Creates the namespace (named after `prefix`, see [`Netns::create`])
    /// and `paths` TUN devices `<prefix>0`, `<prefix>1`, ... (the prefix is
    /// cut to fit the 15-byte limit of device names).
    pub fn new(prefix: &str, paths: usize) -> io::Result<TunLab> {
        TunLab::build(prefix, paths, false)
    }

    /// As [`TunLab::new`], the devices made for several queues (for a
    /// stack with workers; a stack with one opens them as well).
    pub fn multi_queue(prefix: &str, paths: usize) -> io::Result<TunLab> {
        TunLab::build(prefix, paths, true)
    }

    fn build(prefix: &str, paths: usize, multi_queue: bool) -> io::Result<TunLab> {
        check_paths(paths)?;
        let paths = (0..paths)
            .map(|i| TunPath::new(prefix, i))
            .collect::<io::Result<Vec<_>>>()?;
        let lab = TunLab {
            paths,
            ns: Netns::create(prefix)?,
        };
        for (key, value) in LAB_SYSCTLS {
            lab.ns.sysctl(key, value)?;
        }
        let (common, v6): (Vec<_>, Vec<_>) =
            lab.paths.iter().map(|p| p.setup_lines(multi_queue)).unzip();
        lab.ns.ip_batch(&common.concat())?;
        lab.ns.ip6_batch(&v6.concat())?;
        lab.ns.ip(LIMITS)?;
        Ok(lab)
    }

    /// The lab's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// Path `i`.
    ///
    /// # Panics
    /// If there is no path `i`.
    pub fn path(&self, i: usize) -> &TunPath {
        &self.paths[i]
    }

    /// All paths.
    pub fn paths(&self) -> &[TunPath] {
        &self.paths
    }

    /// `ip mptcp endpoint add <kernel_v4 of path i> dev <dev> <flags>`;
    /// `flags` are words such as `"signal"`, `"subflow"`, `"subflow
    /// fullmesh"`, `"signal backup"`, `"signal port 10100"`.
    pub fn endpoint(&self, i: usize, flags: &str) -> io::Result<()> {
        self.add_endpoint(i, false, flags)
    }

    /// [`endpoint`](Self::endpoint) for path `i`'s IPv6 address.
    pub fn endpoint_v6(&self, i: usize, flags: &str) -> io::Result<()> {
        self.add_endpoint(i, true, flags)
    }

    fn add_endpoint(&self, i: usize, v6: bool, flags: &str) -> io::Result<()> {
        let path = self.path(i);
        if flags.split_whitespace().any(|w| w == "laminar") {
            // iproute2 before 6.18 does not know the flag: genetlink.
            let bits = endpoint_flags(flags)?;
            let (addr, dev) = (path.kernel_addr(v6), path.dev.clone());
            return self.ns.run(move || {
                let index = crate::sys::tun::interface_index(&dev)
                    .ok_or_else(|| io::Error::other(format!("no device {dev}")))?;
                crate::sys::netlink::add_mptcp_endpoint(addr, index, bits, None, None)
            });
        }
        let addr = path.kernel_addr(v6).to_string();
        let mut args = vec!["mptcp", "endpoint", "add", &addr, "dev", &path.dev];
        args.extend(flags.split_whitespace());
        self.ns.ip(&args).map(drop)
    }

    /// Sets the MTU of path `i`: `ip link set dev <dev> mtu <mtu>`. A TUN
    /// path is one device, so this is the kernel's side (the MSS it
    /// announces, the largest packet it sends into the path) and ours: a
    /// stack opened on the device afterwards takes its MTU (or sets the
    /// same with [`PathConfig::with_mtu`](crate::PathConfig::with_mtu)).
    /// IPv6 needs at least 1280; the kernel removes a device's IPv6
    /// addresses below that, so this refuses it.
    pub fn set_mtu(&self, i: usize, mtu: u32) -> io::Result<()> {
        if !(1280..=65535).contains(&mtu) {
            let msg = format!("a lab path's MTU is 1280 (IPv6's least) to 65535, not {mtu}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        let (dev, mtu) = (&self.path(i).dev, mtu.to_string());
        self.ns
            .ip(&["link", "set", "dev", dev, "mtu", &mtu])
            .map(drop)
    }

    /// The MTU of path `i`'s device, as the kernel has it.
    pub fn mtu(&self, i: usize) -> io::Result<u32> {
        let dev = &self.path(i).dev;
        let show = self.ns.ip(&["-o", "link", "show", "dev", dev])?;
        let mut words = show.split_whitespace();
        words
            .by_ref()
            .find(|w| *w == "mtu")
            .and_then(|_| words.next())
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no MTU in `ip link show`: {show}")))
    }

    /// Removes all MPTCP endpoints (`ip mptcp endpoint flush`).
    pub fn flush_endpoints(&self) -> io::Result<()> {
        self.ns.ip(&["mptcp", "endpoint", "flush"]).map(drop)
    }

    /// Attaches to path `i`'s TUN device (see [`attach_tun`]); the returned
    /// descriptor may be used from any thread.
    pub fn attach(&self, i: usize) -> io::Result<File> {
        let dev = &self.path(i).dev;
        self.ns.try_run(|| attach_tun(dev))?
    }
}

impl Drop for TunLab {
    fn drop(&mut self) {
        // The namespace may outlive its name (a socket still open in it);
        // delete the devices now so that nothing stays behind.
        let lines: Vec<String> = self
            .paths
            .iter()
            .map(|p| format!("link del {}", p.dev))
            .collect();
        if let Err(e) = self.ns.ip_batch(&lines) {
            tracing::debug!("deleting the TUN devices of {}: {e}", self.ns.name());
        }
    }
}

/// Opens `/dev/net/tun` and attaches to the TUN device `dev` of the calling
/// thread's namespace (`TUNSETIFF` with `IFF_TUN | IFF_NO_PI`: raw IPv4 and
/// IPv6 packets, no header), non-blocking. A minimal helper for tests and
/// tools; call it inside [`Netns::run`]. Reads return one packet each
/// (`WouldBlock` when there is none); a write injects one packet into the
/// kernel as if received on the device.
pub fn attach_tun(dev: &str) -> io::Result<File> {
    sys::tun_attach(dev)
}

/// The kernel's endpoint flag bits (`MPTCP_PM_ADDR_FLAG_*`) of `ip mptcp
/// endpoint` words.
fn endpoint_flags(words: &str) -> io::Result<u32> {
    words.split_whitespace().try_fold(0, |bits, w| {
        let bit = match w {
            "signal" => 1,
            "subflow" => 2,
            "backup" => 4,
            "fullmesh" => 8,
            "laminar" => 32,
            _ => {
                let msg = format!("endpoint flag {w} is not one genetlink is told here");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
            }
        };
        Ok(bits | bit)
    })
}
