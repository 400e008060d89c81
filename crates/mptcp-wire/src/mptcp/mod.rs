//! MPTCP options (TCP option kind 30), one file per suboption, both protocol
//! versions: RFC 8684 (v1) and RFC 6824 (v0).
//!
//! Every suboption starts with kind, length and a 4-bit subtype. Which form
//! a suboption takes is decided by its length (and, for ADD_ADDR, by the
//! nibble after the subtype: see [`AddAddr`]). Reserved bits and fields are
//! kept in the parsed values and written back, so that re-emitting any
//! well-formed option gives back its bytes exactly.

mod add_addr;
mod capable;
mod dss;
mod experimental;
mod fail;
mod fastclose;
mod join;
mod prio;
mod raw;
mod remove_addr;
mod tcprst;

pub use add_addr::{AddAddr, AddAddrFlags};
pub use capable::{CapableBody, CapableFlags, MpCapable, Version};
pub use dss::{Dss, DssMapping, WireSeq};
pub use experimental::MpExperimental;
pub use fail::MpFail;
pub use fastclose::MpFastClose;
pub use join::{BackupFlags, MpJoin};
pub use prio::MpPrio;
pub use raw::RawBytes;
pub use remove_addr::{AddressIds, RemoveAddr};
pub use tcprst::{MpTcpRst, ResetReason, TcpRstFlags};

use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};
use crate::options::kind;

/// MPTCP option subtypes (RFC 8684 §8, IANA "MPTCP Option Subtypes").
pub mod subtype {
    /// MP_CAPABLE.
    pub const MP_CAPABLE: u8 = 0x0;
    /// MP_JOIN.
    pub const MP_JOIN: u8 = 0x1;
    /// DSS.
    pub const DSS: u8 = 0x2;
    /// ADD_ADDR.
    pub const ADD_ADDR: u8 = 0x3;
    /// REMOVE_ADDR.
    pub const REMOVE_ADDR: u8 = 0x4;
    /// MP_PRIO.
    pub const MP_PRIO: u8 = 0x5;
    /// MP_FAIL.
    pub const MP_FAIL: u8 = 0x6;
    /// MP_FASTCLOSE.
    pub const MP_FASTCLOSE: u8 = 0x7;
    /// MP_TCPRST.
    pub const MP_TCPRST: u8 = 0x8;
    /// MP_EXPERIMENTAL.
    pub const MP_EXPERIMENTAL: u8 = 0xf;
}

/// A parsed MPTCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MptcpOption {
    /// MP_CAPABLE (RFC 8684 §3.1, RFC 6824 §3.1).
    Capable(MpCapable),
    /// MP_JOIN (§3.2).
    Join(MpJoin),
    /// Data Sequence Signal (§3.3).
    Dss(Dss),
    /// ADD_ADDR (§3.4.1).
    AddAddr(AddAddr),
    /// REMOVE_ADDR (§3.4.2).
    RemoveAddr(RemoveAddr),
    /// MP_PRIO (§3.3.8).
    Prio(MpPrio),
    /// MP_FAIL (§3.7).
    Fail(MpFail),
    /// MP_FASTCLOSE (§3.5).
    FastClose(MpFastClose),
    /// MP_TCPRST (RFC 8684 §3.6).
    TcpRst(MpTcpRst),
    /// MP_EXPERIMENTAL (subtype 0xf), kept raw.
    Experimental(MpExperimental),
    /// An unassigned subtype (0x9 to 0xe), kept raw.
    Unknown {
        /// The subtype.
        subtype: u8,
        /// The 4 bits after the subtype.
        flags: u8,
        /// The bytes after the first three.
        data: RawBytes,
    },
}

impl MptcpOption {
    /// Parse an MPTCP option: `bytes` is exactly the option, kind (30) and
    /// length bytes included, and the length byte must equal `bytes.len()`.
    pub fn parse(bytes: &[u8]) -> Result<MptcpOption, ParseError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8("TCP option kind")?;
        if kind != kind::MPTCP {
            return Err(ParseError::bad_value(
                "TCP option kind (not MPTCP)",
                0,
                kind.into(),
            ));
        }
        let len = usize::from(r.u8("MPTCP option length")?);
        if len != bytes.len() {
            return Err(ParseError::bad_length("MPTCP option length byte", 1, len));
        }
        let first = r.u8("MPTCP subtype")?;
        Ok(match first >> 4 {
            subtype::MP_CAPABLE => MptcpOption::Capable(MpCapable::parse(bytes)?),
            subtype::MP_JOIN => MptcpOption::Join(MpJoin::parse(bytes)?),
            subtype::DSS => MptcpOption::Dss(Dss::parse(bytes)?),
            subtype::ADD_ADDR => MptcpOption::AddAddr(AddAddr::parse(bytes)?),
            subtype::REMOVE_ADDR => MptcpOption::RemoveAddr(RemoveAddr::parse(bytes)?),
            subtype::MP_PRIO => MptcpOption::Prio(MpPrio::parse(bytes)?),
            subtype::MP_FAIL => MptcpOption::Fail(MpFail::parse(bytes)?),
            subtype::MP_FASTCLOSE => MptcpOption::FastClose(MpFastClose::parse(bytes)?),
            subtype::MP_TCPRST => MptcpOption::TcpRst(MpTcpRst::parse(bytes)?),
            subtype::MP_EXPERIMENTAL => MptcpOption::Experimental(MpExperimental::parse(bytes)?),
            subtype => MptcpOption::Unknown {
                subtype,
                flags: first & 0x0f,
                data: RawBytes::parse(bytes)?,
            },
        })
    }

    /// The subtype.
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::Capable(_) => subtype::MP_CAPABLE,
            MptcpOption::Join(_) => subtype::MP_JOIN,
            MptcpOption::Dss(_) => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::Prio(_) => subtype::MP_PRIO,
            MptcpOption::Fail(_) => subtype::MP_FAIL,
            MptcpOption::FastClose(_) => subtype::MP_FASTCLOSE,
            MptcpOption::TcpRst(_) => subtype::MP_TCPRST,
            MptcpOption::Experimental(_) => subtype::MP_EXPERIMENTAL,
            MptcpOption::Unknown { subtype, .. } => *subtype,
        }
    }

    /// Encoded length in bytes, kind and length included.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        match self {
            MptcpOption::Capable(o) => o.len(),
            MptcpOption::Join(o) => o.len(),
            MptcpOption::Dss(o) => o.len(),
            MptcpOption::AddAddr(o) => o.len(),
            MptcpOption::RemoveAddr(o) => o.len(),
            MptcpOption::Prio(o) => o.len(),
            MptcpOption::Fail(_) => MpFail::LEN,
            MptcpOption::FastClose(_) => MpFastClose::LEN,
            MptcpOption::TcpRst(_) => MpTcpRst::LEN,
            MptcpOption::Experimental(o) => o.len(),
            MptcpOption::Unknown { data, .. } => 3 + data.len(),
        }
    }

    /// Write the option at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.len();
        let mut w = Writer::with_room(buf, len)?;
        w.u8(kind::MPTCP)?;
        // Every variant is at most 3 + RawBytes::CAPACITY = 40 bytes long.
        w.u8(len as u8)?;
        match self {
            MptcpOption::Capable(o) => o.write(&mut w)?,
            MptcpOption::Join(o) => o.write(&mut w)?,
            MptcpOption::Dss(o) => o.write(&mut w)?,
            MptcpOption::AddAddr(o) => o.write(&mut w)?,
            MptcpOption::RemoveAddr(o) => o.write(&mut w)?,
            MptcpOption::Prio(o) => o.write(&mut w)?,
            MptcpOption::Fail(o) => o.write(&mut w)?,
            MptcpOption::FastClose(o) => o.write(&mut w)?,
            MptcpOption::TcpRst(o) => o.write(&mut w)?,
            MptcpOption::Experimental(o) => o.write(&mut w)?,
            MptcpOption::Unknown {
                subtype,
                flags,
                data,
            } => {
                crate::bytes::check_width("MPTCP subtype", u64::from(*subtype), 4)?;
                write_first(&mut w, *subtype, *flags, "MPTCP subtype flags")?;
                w.put(data.as_slice())?;
            }
        }
        Ok(w.pos())
    }
}

/// Write the byte after kind and length: `subtype` and a 4-bit field.
pub(crate) fn write_first(
    w: &mut Writer<'_>,
    subtype: u8,
    low: u8,
    what: &'static str,
) -> Result<(), EmitError> {
    crate::bytes::check_width(what, u64::from(low), 4)?;
    w.u8(subtype << 4 | low)
}

/// A length that no form of a suboption has.
pub(crate) fn bad_len(what: &'static str, bytes: &[u8]) -> ParseError {
    ParseError::bad_length(what, 1, bytes.len())
}

macro_rules! impl_from {
    ($($ty:ident => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for MptcpOption {
            fn from(o: $ty) -> MptcpOption {
                MptcpOption::$variant(o)
            }
        })*
    };
}

impl_from!(
    MpCapable => Capable,
    MpJoin => Join,
    Dss => Dss,
    AddAddr => AddAddr,
    RemoveAddr => RemoveAddr,
    MpPrio => Prio,
    MpFail => Fail,
    MpFastClose => FastClose,
    MpTcpRst => TcpRst,
    MpExperimental => Experimental,
);

impl<'a> From<MptcpOption> for crate::options::TcpOption<'a> {
    fn from(o: MptcpOption) -> crate::options::TcpOption<'a> {
        crate::options::TcpOption::Mptcp(o)
    }
}

#[cfg(test)]
mod tests;
