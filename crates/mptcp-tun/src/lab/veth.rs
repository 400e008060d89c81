//! [`VethLab`]: two namespaces joined by N veth pairs, kernel MPTCP at both
//! ends, the reference for benchmarks and for kernel-to-kernel checks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Netns;
use super::tun::{LAB_SYSCTLS, LIMITS, check_paths, table};

/// Which namespace of a [`VethLab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client namespace (`.1` addresses).
    Client,
    /// The server namespace (`.2` addresses).
    Server,
}

/// One path of a [`VethLab`]: a veth pair `veth<i>` (same name on both
/// sides), networks `10.201.i.0/24` and `fd00:201:i::/64` (`i` in hex in
/// the IPv6 form), client `.1`/`::1`, server `.2`/`::2`, table `100 + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPath {
    /// The path's index.
    pub index: usize,
    /// Device name, in both namespaces.
    pub dev: String,
    /// Client IPv4 address (`10.201.i.1`).
    pub client_v4: Ipv4Addr,
    /// Server IPv4 address (`10.201.i.2`).
    pub server_v4: Ipv4Addr,
    /// Client IPv6 address (`fd00:201:i::1`).
    pub client_v6: Ipv6Addr,
    /// Server IPv6 address (`fd00:201:i::2`).
    pub server_v6: Ipv6Addr,
    /// The policy-routing table of this path, on both sides.
    pub table: u32,
}

impl VethPath {
    fn new(index: usize) -> VethPath {
        let (octet, group) = (index as u8, index as u16);
        VethPath {
            index,
            dev: format!("veth{index}"),
            client_v4: Ipv4Addr::new(10, 201, octet, 1),
            server_v4: Ipv4Addr::new(10, 201, octet, 2),
            client_v6: Ipv6Addr::new(0xfd00, 0x201, group, 0, 0, 0, 0, 1),
            server_v6: Ipv6Addr::new(0xfd00, 0x201, group, 0, 0, 0, 0, 2),
            table: table(index),
        }
    }

    /// The address of `side` in the given family.
    pub fn addr(&self, side: Side, v6: bool) -> IpAddr {
        match (side, v6) {
            (Side::Client, false) => self.client_v4.into(),
            (Side::Client, true) => self.client_v6.into(),
            (Side::Server, false) => self.server_v4.into(),
            (Side::Server, true) => self.server_v6.into(),
        }
    }

    /// `ip` batch lines for one side: addresses, the path's table (its
    /// network and a default route via the other side) and the rule
    /// `from <own address> table 100+i` with priority `pref`; the IPv6
    /// table and rule come second, for `ip -6`.
    fn setup_lines(&self, side: Side, pref: usize) -> (Vec<String>, Vec<String>) {
        let (dev, t, i) = (&self.dev, self.table, self.index);
        let other = match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let (own4, own6) = (self.addr(side, false), self.addr(side, true));
        let (gw4, gw6) = (self.addr(other, false), self.addr(other, true));
        let net6 = Ipv6Addr::new(0xfd00, 0x201, i as u16, 0, 0, 0, 0, 0);
        let common = vec![
            format!("link set {dev} up"),
            format!("addr add {own4}/24 dev {dev}"),
            format!("addr add {own6}/64 dev {dev} nodad"),
            format!("route add 10.201.{i}.0/24 dev {dev} table {t}"),
            format!("route add default via {gw4} dev {dev} table {t}"),
            format!("rule add from {own4} table {t} pref {pref}"),
        ];
        let v6 = vec![
            format!("route add {net6}/64 dev {dev} table {t}"),
            format!("route add default via {gw6} dev {dev} table {t}"),
            format!("rule add from {own6} table {t} pref {pref}"),
        ];
        (common, v6)
    }
}

/// Two namespaces, "client" and "server", joined by N veth pairs, with the
/// kernel's MPTCP on both ends (limits `subflows 8 add_addr_accepted 8`, no
/// endpoints until [`endpoint`](Self::endpoint), `rp_filter` off).
///
/// Routing keeps every subflow on one link in both directions, for the
/// subflows a client opens: the client routes by source address (rule
/// `from <client addr of path i> lookup 100+i`, priority `1000+i`, before
/// the main table), so a subflow leaves by the link of its source address,
/// even towards a server address of another path; the server routes by
/// destination first (its rules `from <server addr of path i> lookup
/// 100+i` have priority `40000+i`, after the main table, whose connected
/// routes win), so it answers on the link the client chose. Table `100+i`
/// holds the path's network and a default route via the other side.
#[derive(Debug)]
pub struct VethLab {
    paths: Vec<VethPath>,
    client: Netns,
    server: Netns,
}

impl VethLab {
    /// Creates namespaces `<prefix>-c-...` and `<prefix>-s-...` joined by
    /// `paths` veth pairs.
    pub fn new(prefix: &str, paths: usize) -> io::Result<VethLab> {
        check_paths(paths)?;
        let client = Netns::create(&format!("{prefix}-c"))?;
        let server = Netns::create(&format!("{prefix}-s"))?;
        let lab = VethLab {
            paths: (0..paths).map(VethPath::new).collect(),
            client,
            server,
        };
        lab.configure()?;
        Ok(lab)
    }

    /// Sysctls, veth pairs, addresses, routing and limits on both sides.
    fn configure(&self) -> io::Result<()> {
        for ns in [&self.client, &self.server] {
            for (key, value) in LAB_SYSCTLS {
                ns.sysctl(key, value)?;
            }
        }
        let server = self.server.name();
        let pairs: Vec<String> = (self.paths.iter())
            .map(|p| format!("link add {0} type veth peer name {0} netns {server}", p.dev))
            .collect();
        self.client.ip_batch(&pairs)?;
        for (side, pref) in [(Side::Client, 1000), (Side::Server, 40000)] {
            let (common, v6): (Vec<_>, Vec<_>) = self
                .paths
                .iter()
                .map(|p| p.setup_lines(side, pref + p.index))
                .unzip();
            self.ns(side).ip_batch(&common.concat())?;
            self.ns(side).ip6_batch(&v6.concat())?;
            self.ns(side).ip(LIMITS)?;
        }
        Ok(())
    }

    /// The client namespace.
    pub fn client(&self) -> &Netns {
        &self.client
    }

    /// The server namespace.
    pub fn server(&self) -> &Netns {
        &self.server
    }

    /// The namespace of `side`.
    pub fn ns(&self, side: Side) -> &Netns {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Path `i`.
    ///
    /// # Panics
    /// If there is no path `i`.
    pub fn path(&self, i: usize) -> &VethPath {
        &self.paths[i]
    }

    /// All paths.
    pub fn paths(&self) -> &[VethPath] {
        &self.paths
    }

    /// `ip mptcp endpoint add <side's IPv4 address of path i> dev veth<i>
    /// <flags>` in `side`'s namespace (flags as in
    /// [`TunLab::endpoint`](super::TunLab::endpoint)).
    pub fn endpoint(&self, side: Side, i: usize, flags: &str) -> io::Result<()> {
        self.add_endpoint(side, i, false, flags)
    }

    /// [`endpoint`](Self::endpoint) for the IPv6 address.
    pub fn endpoint_v6(&self, side: Side, i: usize, flags: &str) -> io::Result<()> {
        self.add_endpoint(side, i, true, flags)
    }

    fn add_endpoint(&self, side: Side, i: usize, v6: bool, flags: &str) -> io::Result<()> {
        let path = self.path(i);
        let addr = path.addr(side, v6).to_string();
        let mut args = vec!["mptcp", "endpoint", "add", &addr, "dev", &path.dev];
        args.extend(flags.split_whitespace());
        self.ns(side).ip(&args).map(drop)
    }

    /// Limits path `i` to `rate_mbit` Mbit/s in each direction: a token
    /// bucket (`tc qdisc replace ... root tbf`, burst about 10 ms of the
    /// rate, at most 20 ms of queue) on both ends of the pair. There is no
    /// delay emulation (no netem on the machines this runs on).
    pub fn shape(&self, i: usize, rate_mbit: u32) -> io::Result<()> {
        if rate_mbit == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "rate 0"));
        }
        let burst = (u64::from(rate_mbit) * 1_000_000 / 8 / 100)
            .max(16 * 1024)
            .to_string();
        let rate = format!("{rate_mbit}mbit");
        let dev = &self.path(i).dev;
        for ns in [&self.client, &self.server] {
            let args = ["qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate];
            ns.tc(&[&args[..], &["burst", &burst, "latency", "20ms"]].concat())?;
        }
        Ok(())
    }

    /// Removes the shaping of path `i`.
    pub fn unshape(&self, i: usize) -> io::Result<()> {
        let dev = &self.path(i).dev;
        for ns in [&self.client, &self.server] {
            ns.tc(&["qdisc", "del", "dev", dev, "root"])?;
        }
        Ok(())
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; do it now in case a namespace
        // outlives its name.
        let lines: Vec<String> = self
            .paths
            .iter()
            .map(|p| format!("link del {}", p.dev))
            .collect();
        if let Err(e) = self.client.ip_batch(&lines) {
            tracing::debug!("deleting the veth pairs of {}: {e}", self.client.name());
        }
    }
}
