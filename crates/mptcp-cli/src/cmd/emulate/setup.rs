//! A path's devices, addresses and routes in the two namespaces, and their
//! removal.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use mptcp_tun::lab::{EmuPort, Netns};

/// Most paths (the path number is an address octet and a table number).
pub const MAX_PATHS: usize = 200;

/// Which namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `--left`: addresses ending in 1.
    Left,
    /// `--right`: addresses ending in 2.
    Right,
}

impl Side {
    fn host(self) -> u8 {
        match self {
            Side::Left => 1,
            Side::Right => 2,
        }
    }
}

/// A side's addresses on a path.
pub struct Addrs {
    v4: Ipv4Addr,
    v6: Option<Ipv6Addr>,
}

impl fmt::Display for Addrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/24", self.v4)?;
        match self.v6 {
            Some(v6) => write!(f, " {v6}/64"),
            None => write!(f, " (no IPv6: MTU below 1280)"),
        }
    }
}

/// Path `index`: device `dev` in both namespaces, 10.240.index.0/24 and
/// fd00:240:index::/64 on it. The left side is the multi-homed one: on the
/// left a routing table (`2400 + index`, rule priority the same) sends what
/// leaves from the path's address out of the path's device, whatever the
/// destination; the right side reaches each left address over that
/// address's path. So a connection (an MPTCP subflow from left address N to
/// any right address, say) takes path N both ways.
pub struct PathPlumbing {
    /// The device, in both namespaces.
    pub dev: String,
    index: usize,
    mtu: u32,
}

impl PathPlumbing {
    /// Checks the device name (at most 15 bytes) and the MTU (68 to 65535;
    /// below 1280, the IPv6 minimum, the path carries IPv4 only).
    pub fn new(prefix: &str, index: usize, mtu: u32) -> io::Result<PathPlumbing> {
        let dev = format!("{prefix}{index}");
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if prefix.is_empty() || dev.len() > 15 || !dev.chars().all(ok) {
            let msg = format!("bad device name {dev:?} (letters, digits, - and _; 15 at most)");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        if !(68..=65535).contains(&mtu) {
            let msg = format!("MTU {mtu}: 68 to 65535 for a TUN device");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        Ok(PathPlumbing { dev, index, mtu })
    }

    /// A side's addresses.
    pub fn addrs(&self, side: Side) -> Addrs {
        let i = self.index as u8;
        let v6 = Ipv6Addr::new(0xfd00, 0x240, i.into(), 0, 0, 0, 0, side.host().into());
        Addrs {
            v4: Ipv4Addr::new(10, 240, i, side.host()),
            v6: self.has_v6().then_some(v6),
        }
    }

    /// Whether the path carries IPv6 (its MTU is at least 1280).
    fn has_v6(&self) -> bool {
        self.mtu >= 1280
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
            format!("addr add {}/24 dev {dev}", a.v4),
        ];
        if let Some(v6) = a.v6 {
            v4.push(format!("addr add {v6}/64 dev {dev} nodad"));
        }
        if side == Side::Right {
            // The right side reaches each left address over its path (the
            // connected routes): a reply takes the path its request came by.
            return (v4, Vec::new());
        }
        v4.push(format!("rule add from {} table {t} pref {t}", a.v4));
        v4.push(format!("route add default dev {dev} table {t}"));
        let v6 = a.v6.map_or_else(Vec::new, |v6| {
            vec![
                format!("rule add from {v6} table {t} pref {t}"),
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
        let _ = left.ip(&["rule", "del", "from", &a.v4.to_string(), "table", &t]);
        if let Some(v6) = a.v6 {
            let _ = left.ip(&["-6", "rule", "del", "from", &v6.to_string(), "table", &t]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_lines() {
        let p = PathPlumbing::new("emu", 3, 1500).unwrap();
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
        assert!(PathPlumbing::new("a-very-long-name", 1, 1500).is_err());
        let small = PathPlumbing::new("emu", 1, 576).unwrap();
        assert!(small.lines(Side::Left).1.is_empty());
        assert!(PathPlumbing::new("emu", 1, 60).is_err());
        assert!(PathPlumbing::new("e m", 1, 1500).is_err());
    }
}
