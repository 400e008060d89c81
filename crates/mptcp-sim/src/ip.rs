//! The little the simulator reads from an IP packet, and route prefixes.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The (source, destination) addresses of an IPv4 or IPv6 packet, or `None`
/// when the bytes are too short or the version nibble is neither 4 nor 6.
///
/// Nothing else of the header is checked: the simulator carries packets, it
/// does not validate them.
pub fn packet_addrs(packet: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let src: [u8; 4] = packet[12..16].try_into().ok()?;
            let dst: [u8; 4] = packet[16..20].try_into().ok()?;
            Some((Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into()))
        }
        6 if packet.len() >= 40 => {
            let src: [u8; 16] = packet[8..24].try_into().ok()?;
            let dst: [u8; 16] = packet[24..40].try_into().ok()?;
            Some((Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into()))
        }
        _ => None,
    }
}

/// An address prefix such as `10.1.0.0/16` or `2001:db8::/32`, for routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a [`Prefix`] could not be built or parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// The length exceeds 32 (IPv4) or 128 (IPv6).
    LengthTooLong {
        /// The length given.
        len: u8,
        /// The family's maximum.
        max: u8,
    },
    /// The text is not `ADDRESS/LENGTH`.
    Syntax(String),
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::LengthTooLong { len, max } => {
                write!(f, "prefix length {len} exceeds {max}")
            }
            PrefixError::Syntax(s) => write!(f, "invalid prefix {s:?}: expected ADDRESS/LENGTH"),
        }
    }
}

impl std::error::Error for PrefixError {}

impl Prefix {
    /// The prefix of the first `len` bits of `addr` (host bits are cleared).
    pub fn new(addr: impl Into<IpAddr>, len: u8) -> Result<Prefix, PrefixError> {
        let addr = addr.into();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::LengthTooLong { len, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => Ipv4Addr::from(u32::from(a) & mask32(len)).into(),
            IpAddr::V6(a) => Ipv6Addr::from(u128::from(a) & mask128(len)).into(),
        };
        Ok(Prefix { addr, len })
    }

    /// The prefix matching exactly one address.
    pub fn host(addr: impl Into<IpAddr>) -> Prefix {
        let addr = addr.into();
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }

    /// The default route of a family: `0.0.0.0/0` or `::/0`.
    pub fn default_v4() -> Prefix {
        Prefix {
            addr: Ipv4Addr::UNSPECIFIED.into(),
            len: 0,
        }
    }

    /// The IPv6 default route `::/0`.
    pub fn default_v6() -> Prefix {
        Prefix {
            addr: Ipv6Addr::UNSPECIFIED.into(),
            len: 0,
        }
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is a default route (length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` is inside this prefix (same family and leading bits).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(p), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(p),
            (IpAddr::V6(p), IpAddr::V6(a)) => u128::from(a) & mask128(self.len) == u128::from(p),
            _ => false,
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `ADDRESS/LENGTH`, or a bare address as a host prefix.
    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let syntax = || PrefixError::Syntax(s.to_owned());
        match s.split_once('/') {
            Some((addr, len)) => {
                let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
                Prefix::new(addr, len.parse().map_err(|_| syntax())?)
            }
            None => Ok(Prefix::host(s.parse::<IpAddr>().map_err(|_| syntax())?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addrs_of_v4_and_v6() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let (s, d) = packet_addrs(&v4).unwrap();
        assert_eq!(
            (s.to_string(), d.to_string()),
            ("10.0.0.1".into(), "10.0.0.2".into())
        );

        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[23] = 1;
        v6[39] = 2;
        let (s, d) = packet_addrs(&v6).unwrap();
        assert_eq!((s.to_string(), d.to_string()), ("::1".into(), "::2".into()));

        assert_eq!(packet_addrs(&v4[..19]), None);
        assert_eq!(packet_addrs(&[0x55; 40]), None);
        assert_eq!(packet_addrs(&[]), None);
    }

    #[test]
    fn prefixes() {
        let p: Prefix = "10.1.2.3/16".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert!(p.contains("10.1.200.1".parse().unwrap()));
        assert!(!p.contains("10.2.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!(Prefix::default_v4().contains("1.2.3.4".parse().unwrap()));
        assert!(Prefix::default_v6().contains("::1".parse().unwrap()));
        let h: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h.len(), 128);
        assert!(h.contains("2001:db8::1".parse().unwrap()));
        assert_eq!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(PrefixError::LengthTooLong { len: 33, max: 32 })
        );
        assert!("10.0.0.0/x".parse::<Prefix>().is_err());
    }
}
