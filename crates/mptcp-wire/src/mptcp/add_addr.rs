//! ADD_ADDR (subtype 3): RFC 8684 §3.4.1 (v1) and RFC 6824 §3.4.1 (v0).
//!
//! ```text
//! v1: | kind | len | subtype | rsv(3) E | address id | address (4/16) |
//!     | port (2, optional) | truncated HMAC (8, if E = 0) |
//! v0: | kind | len | subtype | IPVer    | address id | address (4/16) |
//!     | port (2, optional) |
//! ```
//!
//! # Telling v0 from v1
//! The nibble after the subtype is the IP version (4 or 6) in v0 and four
//! flag bits in v1, where only the lowest (E) is defined and the others
//! MUST be zero. So a nibble of 4 or 6 is read as a v0 IPVer (which a v1
//! sender with zero reserved bits never produces), anything else as v1 flags.
//! Lengths then decide the rest:
//! - v0: IPv4 8 or 10, IPv6 20 or 22 (with a port when 10 or 22);
//! - v1: IPv4 8, 10, 16, 18 and IPv6 20, 22, 28, 30: the family, the port
//!   (10, 18, 22, 30) and the HMAC (16, 18, 28, 30) all follow from the
//!   length, whatever the E flag says.
//!
//! A v1 value whose flags are 4 or 6 cannot be written (it would read back
//! as v0): [`MptcpOption::emit`](super::MptcpOption::emit) refuses it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};

/// The v1 ADD_ADDR flags nibble (open: reserved bits survive a round trip,
/// except the values 4 and 6, which are v0 IP versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AddAddrFlags(pub u8);

impl AddAddrFlags {
    /// E: this option echoes an ADD_ADDR received from the peer.
    pub const ECHO: AddAddrFlags = AddAddrFlags(0x01);
    /// No flag.
    pub const NONE: AddAddrFlags = AddAddrFlags(0);

    /// The E bit.
    pub fn echo(self) -> bool {
        self.0 & AddAddrFlags::ECHO.0 != 0
    }
}

/// An ADD_ADDR option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddAddr {
    /// RFC 6824 form.
    V0 {
        /// Address id.
        address_id: u8,
        /// The address; its family gives the IPVer nibble.
        addr: IpAddr,
        /// Port, when carried.
        port: Option<u16>,
    },
    /// RFC 8684 form.
    V1 {
        /// Flags nibble (E = echo).
        flags: AddAddrFlags,
        /// Address id.
        address_id: u8,
        /// The address.
        addr: IpAddr,
        /// Port, when carried.
        port: Option<u16>,
        /// Rightmost 64 bits of the HMAC, when carried.
        hmac: Option<u64>,
    },
}

impl AddAddr {
    /// Address id.
    pub fn address_id(&self) -> u8 {
        match self {
            AddAddr::V0 { address_id, .. } | AddAddr::V1 { address_id, .. } => *address_id,
        }
    }

    /// The advertised address.
    pub fn addr(&self) -> IpAddr {
        match self {
            AddAddr::V0 { addr, .. } | AddAddr::V1 { addr, .. } => *addr,
        }
    }

    /// The advertised port, when carried.
    pub fn port(&self) -> Option<u16> {
        match self {
            AddAddr::V0 { port, .. } | AddAddr::V1 { port, .. } => *port,
        }
    }

    /// Whether this is a v1 echo (E flag).
    pub fn is_echo(&self) -> bool {
        matches!(self, AddAddr::V1 { flags, .. } if flags.echo())
    }

    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        let (addr, port, hmac) = match self {
            AddAddr::V0 { addr, port, .. } => (addr, port, &None),
            AddAddr::V1 {
                addr, port, hmac, ..
            } => (addr, port, hmac),
        };
        let addr_len = if addr.is_ipv4() { 4 } else { 16 };
        4 + addr_len + port.map_or(0, |_| 2) + hmac.map_or(0, |_| 8)
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<AddAddr, ParseError> {
        let mut r = Reader::at(opt, 2);
        let nibble = r.u8("ADD_ADDR flags")? & 0x0f;
        let address_id = r.u8("ADD_ADDR address id")?;
        let len = opt.len();
        if nibble == 4 || nibble == 6 {
            let (v4, port) = match (nibble, len) {
                (4, 8) | (4, 10) => (true, len == 10),
                (6, 20) | (6, 22) => (false, len == 22),
                _ => return Err(bad_len("ADD_ADDR v0 (IPv4: 8 or 10, IPv6: 20 or 22)", opt)),
            };
            let addr = read_addr(&mut r, v4)?;
            let port = read_port(&mut r, port)?;
            return Ok(AddAddr::V0 {
                address_id,
                addr,
                port,
            });
        }
        let (v4, port, hmac) = match len {
            8 | 10 | 16 | 18 => (true, len == 10 || len == 18, len >= 16),
            20 | 22 | 28 | 30 => (false, len == 22 || len == 30, len >= 28),
            _ => {
                return Err(bad_len(
                    "ADD_ADDR v1 (8, 10, 16, 18, 20, 22, 28 or 30)",
                    opt,
                ));
            }
        };
        let addr = read_addr(&mut r, v4)?;
        let port = read_port(&mut r, port)?;
        let hmac = match hmac {
            true => Some(r.u64("ADD_ADDR truncated HMAC")?),
            false => None,
        };
        Ok(AddAddr::V1 {
            flags: AddAddrFlags(nibble),
            address_id,
            addr,
            port,
            hmac,
        })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match *self {
            AddAddr::V0 {
                address_id,
                addr,
                port,
            } => {
                let ipver = if addr.is_ipv4() { 4 } else { 6 };
                write_first(w, subtype::ADD_ADDR, ipver, "ADD_ADDR IPVer")?;
                w.u8(address_id)?;
                write_addr(w, addr, port)
            }
            AddAddr::V1 {
                flags,
                address_id,
                addr,
                port,
                hmac,
            } => {
                if flags.0 == 4 || flags.0 == 6 {
                    let what = "ADD_ADDR v1 flags (4 and 6 read as v0 IPVer)";
                    let value = u64::from(flags.0);
                    return Err(EmitError::BadValue { what, value });
                }
                write_first(w, subtype::ADD_ADDR, flags.0, "ADD_ADDR flags")?;
                w.u8(address_id)?;
                write_addr(w, addr, port)?;
                match hmac {
                    Some(h) => w.u64(h),
                    None => Ok(()),
                }
            }
        }
    }
}

fn read_addr(r: &mut Reader<'_>, v4: bool) -> Result<IpAddr, ParseError> {
    Ok(if v4 {
        IpAddr::V4(Ipv4Addr::from(r.array::<4>("ADD_ADDR IPv4 address")?))
    } else {
        IpAddr::V6(Ipv6Addr::from(r.array::<16>("ADD_ADDR IPv6 address")?))
    })
}

fn read_port(r: &mut Reader<'_>, present: bool) -> Result<Option<u16>, ParseError> {
    match present {
        true => Ok(Some(r.u16("ADD_ADDR port")?)),
        false => Ok(None),
    }
}

fn write_addr(w: &mut Writer<'_>, addr: IpAddr, port: Option<u16>) -> Result<(), EmitError> {
    match addr {
        IpAddr::V4(a) => w.put(&a.octets())?,
        IpAddr::V6(a) => w.put(&a.octets())?,
    }
    match port {
        Some(p) => w.u16(p),
        None => Ok(()),
    }
}
