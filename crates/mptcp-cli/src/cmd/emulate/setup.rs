//! A path's devices, addresses and routes in the two namespaces, and their
//! removal.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_tun::lab::{EmuPort, Netns};

/// Most paths (the path number is an address octet and a table number).
pub const MAX_PATHS: usize = 200;

/// Which namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `--left`: by default addresses ending in 1.
    Left,
    /// `--right`: by default addresses ending in 2.
    Right,
}

/// An address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net<A> {
    addr: A,
    len: u8,
}

impl<A: fmt::Display> fmt::Display for Net<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Net<Ipv4Addr> {
    fn network(&self, len: u8) -> u32 {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        u32::from(self.addr) & mask
    }
}

impl Net<Ipv6Addr> {
    fn network(&self, len: u8) -> u128 {
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        u128::from(self.addr) & mask
    }
}

/// A side's addresses on a path.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    v4: Net<Ipv4Addr>,
    v6: Option<Net<Ipv6Addr>>,
}

impl fmt::Display for Addrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.v4)?;
        match self.v6 {
            Some(v6) => write!(f, " {v6}"),
            None => write!(f, " (no IPv6)"),
        }
    }
}

/// `--addr PATH=LEFT,RIGHT`: path PATH's addresses of one family instead
/// of the defaults, `ADDR[/LEN]` each (LEN 24 for IPv4 and 64 for IPv6 when
/// left out), both in one subnet (the right side reaches the left address
/// through the connected route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrOverride {
    /// IPv4 (left, right) of a path.
    V4(usize, Net<Ipv4Addr>, Net<Ipv4Addr>),
    /// IPv6 (left, right) of a path.
    V6(usize, Net<Ipv6Addr>, Net<Ipv6Addr>),
}

fn parse_net(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let (default, max) = if addr.is_ipv4() { (24, 32) } else { (64, 128) };
    let len = match len {
        None => default,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("prefix length {l:?}: 0 to {max}")),
        },
    };
    Ok((addr, len))
}

impl AddrOverride {
    /// Parses `PATH=LEFT,RIGHT`.
    pub fn parse(text: &str) -> Result<AddrOverride, String> {
        let bad = |why: String| format!("--addr {text}: {why} (PATH=LEFT[/LEN],RIGHT[/LEN])");
        let (path, pair) = text.split_once('=').ok_or_else(|| bad("no '='".into()))?;
        let path: usize = path
            .parse()
            .map_err(|_| bad(format!("{path:?} is not a path number")))?;
        let (l, r) = pair.split_once(',').ok_or_else(|| bad("no ','".into()))?;
        let (l, r) = (parse_net(l).map_err(bad)?, parse_net(r).map_err(bad)?);
        let o = match (l, r) {
            ((IpAddr::V4(la), ll), (IpAddr::V4(ra), rl)) => {
                AddrOverride::V4(path, Net { addr: la, len: ll }, Net { addr: ra, len: rl })
            }
            ((IpAddr::V6(la), ll), (IpAddr::V6(ra), rl)) => {
                AddrOverride::V6(path, Net { addr: la, len: ll }, Net { addr: ra, len: rl })
            }
            _ => return Err(bad("both sides must be of one family".into())),
        };
        let same_subnet = match o {
            AddrOverride::V4(_, l, r) => {
                l.len == r.len && l.addr != r.addr && l.network(l.len) == r.network(l.len)
            }
            AddrOverride::V6(_, l, r) => {
                l.len == r.len && l.addr != r.addr && l.network(l.len) == r.network(l.len)
            }
        };
        if !same_subnet {
            return Err(bad(
                "the two addresses must differ and share one subnet of one prefix length".into(),
            ));
        }
        Ok(o)
    }

    pub fn path(&self) -> usize {
        match *self {
            AddrOverride::V4(p, ..) | AddrOverride::V6(p, ..) => p,
        }
    }
}

/// Path `index`: device `dev` in both namespaces, 10.240.index.0/24 and
/// fd00:240:index::/64 on it unless `--addr` says otherwise. The left side
/// is the multi-homed one: on the left a routing table (`2400 + index`,
/// rule priority the same) sends what leaves from the path's address out of
/// the path's device, whatever the destination; the right side reaches
/// each left address over that address's path. So a connection (an MPTCP
/// subflow from left address N to any right address, say) takes path N
/// both ways.
pub struct PathPlumbing {
    /// The device, in both namespaces.
    pub dev: String,
    index: usize,
    mtu: u32,
    left: Addrs,
    right: Addrs,
}

impl PathPlumbing {
    /// Checks the device name (at most 15 bytes) and the MTU (68 to 65535;
    /// below 1280, the IPv6 minimum, the path carries IPv4 only), and
    /// applies the overrides that name this path.
    pub fn new(
        prefix: &str,
        index: usize,
        mtu: u32,
        overrides: &[AddrOverride],
    ) -> io::Result<PathPlumbing> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        let dev = format!("{prefix}{index}");
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if prefix.is_empty() || dev.len() > 15 || !dev.chars().all(ok) {
            let msg = format!("bad device name {dev:?} (letters, digits, - and _; 15 at most)");
            return Err(invalid(msg));
        }
        if !(68..=65535).contains(&mtu) {
            return Err(invalid(format!("MTU {mtu}: 68 to 65535 for a TUN device")));
        }
        let has_v6 = mtu >= 1280;
        let i = index as u8;
        let default = |host: u8| Addrs {
            v4: Net {
                addr: Ipv4Addr::new(10, 240, i, host),
                len: 24,
            },
            v6: has_v6.then_some(Net {
                addr: Ipv6Addr::new(0xfd00, 0x240, i.into(), 0, 0, 0, 0, host.into()),
                len: 64,
            }),
        };
        let (mut left, mut right) = (default(1), default(2));
        let (mut v4_set, mut v6_set) = (false, false);
        for o in overrides.iter().filter(|o| o.path() == index) {
            let twice = |family| invalid(format!("two {family} --addr for path {index}"));
            match *o {
                AddrOverride::V4(_, l, r) => {
                    if std::mem::replace(&mut v4_set, true) {
                        return Err(twice("IPv4"));
                    }
                    (left.v4, right.v4) = (l, r);
                }
                AddrOverride::V6(_, l, r) => {
                    if std::mem::replace(&mut v6_set, true) {
                        return Err(twice("IPv6"));
                    }
                    if !has_v6 {
                        let msg = format!("path {index}: MTU {mtu} is below IPv6's 1280");
                        return Err(invalid(msg));
                    }
                    (left.v6, right.v6) = (Some(l), Some(r));
                }
            }
        }
        Ok(PathPlumbing {
            dev,
            index,
            mtu,
            left,
            right,
        })
    }

    /// A side's addresses.
    pub fn addrs(&self, side: Side) -> Addrs {
        match side {
            Side::Left => self.left,
            Side::Right => self.right,
        }
    }

    /// Whether this path's subnets overlap `other`'s (then the right side
    /// could not tell which path reaches a left address).
    pub fn overlaps(&self, other: &PathPlumbing) -> bool {
        let (a, b) = (self.left, other.left);
        let len = a.v4.len.min(b.v4.len);
        let v4 = a.v4.network(len) == b.v4.network(len);
        let v6 = match (a.v6, b.v6) {
            (Some(x), Some(y)) => {
                let len = x.len.min(y.len);
                x.network(len) == y.network(len)
            }
            _ => false,
        };
        v4 || v6
    }

    fn table(&self) -> usize {
        2400 + self.index
    }

    /// `ip` batch lines for one side: (IPv4 and the device, IPv6 routing).
    fn lines(&self, side: Side) -> (Vec<String>, Vec<String>) {
        let (dev, t, a) = (&self.dev, self.table(), self.addrs(side));
        let mut v4 = vec![
            format!("link set {dev} mtu {}", self.mtu),
            format!("link set {dev} addrgenmode none"),
            format!("link set {dev} up"),
            format!("addr add {} dev {dev}", a.v4),
        ];
        if let Some(v6) = a.v6 {
            v4.push(format!("addr add {v6} dev {dev} nodad"));
        }
        if side == Side::Right {
            // The right side reaches each left address over its path (the
            // connected routes): a reply takes the path its request came by.
            return (v4, Vec::new());
        }
        v4.push(format!("rule add from {} table {t} pref {t}", a.v4.addr));
        v4.push(format!("route add default dev {dev} table {t}"));
        let v6 = a.v6.map_or_else(Vec::new, |v6| {
            vec![
                format!("rule add from {} table {t} pref {t}", v6.addr),
                format!("route add default dev {dev} table {t}"),
            ]
        });
        (v4, v6)
    }

    /// Creates and configures the path's device in both namespaces; the
    /// (left, right) ports. On failure what was made is removed.
    pub fn open(&self, left: &Netns, right: &Netns) -> io::Result<(EmuPort, EmuPort)> {
        let l = EmuPort::open(left, &self.dev)?;
        let r = EmuPort::open(right, &self.dev)?;
        for (ns, side) in [(left, Side::Left), (right, Side::Right)] {
            let (v4, v6) = self.lines(side);
            let mut done = ns.ip_batch(&v4);
            if !v6.is_empty() {
                done = done.and_then(|_| ns.ip6_batch(&v6));
            }
            if let Err(e) = done {
                self.tear_down(left);
                return Err(io::Error::new(
                    e.kind(),
                    format!("netns {}: {e}", ns.name()),
                ));
            }
        }
        Ok((l, r))
    }

    /// Removes the left side's rules (the devices, with their addresses and routes, go
    /// with the ports). Best effort: what is not there is skipped.
    pub fn tear_down(&self, left: &Netns) {
        let t = self.table();
        let a = self.addrs(Side::Left);
        let t = t.to_string();
        let _ = left.ip(&["rule", "del", "from", &a.v4.addr.to_string(), "table", &t]);
        if let Some(v6) = a.v6 {
            let v6 = v6.addr.to_string();
            let _ = left.ip(&["-6", "rule", "del", "from", &v6, "table", &t]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_lines() {
        let p = PathPlumbing::new("emu", 3, 1500, &[]).unwrap();
        assert_eq!(p.dev, "emu3");
        assert_eq!(
            p.addrs(Side::Left).to_string(),
            "10.240.3.1/24 fd00:240:3::1/64"
        );
        let (v4, v6) = p.lines(Side::Left);
        assert!(v4.contains(&"rule add from 10.240.3.1 table 2403 pref 2403".to_owned()));
        assert!(v6.contains(&"rule add from fd00:240:3::1 table 2403 pref 2403".to_owned()));
        let (v4, v6) = p.lines(Side::Right);
        assert!(v4.contains(&"addr add fd00:240:3::2/64 dev emu3 nodad".to_owned()));
        assert!(!v4.iter().any(|l| l.starts_with("rule")) && v6.is_empty());
        assert!(PathPlumbing::new("a-very-long-name", 1, 1500, &[]).is_err());
        let small = PathPlumbing::new("emu", 1, 576, &[]).unwrap();
        assert!(small.lines(Side::Left).1.is_empty());
        assert!(PathPlumbing::new("emu", 1, 60, &[]).is_err());
        assert!(PathPlumbing::new("e m", 1, 1500, &[]).is_err());
    }

    #[test]
    fn overridden_addresses() {
        let v4 = AddrOverride::parse("1=192.168.7.10/16,192.168.200.1/16").unwrap();
        let v6 = AddrOverride::parse("1=2001:db8::a,2001:db8::1").unwrap();
        let p = PathPlumbing::new("emu", 1, 1500, &[v4, v6]).unwrap();
        assert_eq!(
            p.addrs(Side::Left).to_string(),
            "192.168.7.10/16 2001:db8::a/64"
        );
        let (l4, l6) = p.lines(Side::Left);
        assert!(l4.contains(&"addr add 192.168.7.10/16 dev emu1".to_owned()));
        assert!(l4.contains(&"rule add from 192.168.7.10 table 2401 pref 2401".to_owned()));
        assert!(l6.contains(&"rule add from 2001:db8::a table 2401 pref 2401".to_owned()));
        let (r4, _) = p.lines(Side::Right);
        assert!(r4.contains(&"addr add 2001:db8::1/64 dev emu1 nodad".to_owned()));
        // Other paths keep their defaults; only the named family changes.
        let q = PathPlumbing::new("emu", 0, 1500, &[v4]).unwrap();
        assert_eq!(
            q.addrs(Side::Right).to_string(),
            "10.240.0.2/24 fd00:240::2/64"
        );
        let r = PathPlumbing::new("emu", 1, 1500, &[v4]).unwrap();
        assert_eq!(
            r.addrs(Side::Left).to_string(),
            "192.168.7.10/16 fd00:240:1::1/64"
        );
        // Overlaps: a /16 holding another path's /24.
        let inside = AddrOverride::parse("0=192.168.9.1,192.168.9.2").unwrap();
        let s = PathPlumbing::new("emu", 0, 1500, &[inside]).unwrap();
        assert!(p.overlaps(&s) && s.overlaps(&p));
        assert!(!q.overlaps(&PathPlumbing::new("emu", 2, 1500, &[]).unwrap()));
        // Refused.
        assert!(PathPlumbing::new("emu", 1, 1500, &[v4, v4]).is_err());
        assert!(PathPlumbing::new("emu", 1, 1000, &[v6]).is_err());
        for bad in [
            "1=10.0.0.1,10.0.1.1",
            "1=10.0.0.1/24,10.0.0.2/25",
            "1=10.0.0.1,10.0.0.1",
            "1=10.0.0.1,2001:db8::1",
            "1=10.0.0.1/33,10.0.0.2/33",
            "x=10.0.0.1,10.0.0.2",
            "1=10.0.0.1",
            "10.0.0.1,10.0.0.2",
            "1=host,10.0.0.2",
        ] {
            assert!(AddrOverride::parse(bad).is_err(), "{bad}");
        }
    }
}
