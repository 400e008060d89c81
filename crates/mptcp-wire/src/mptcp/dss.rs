//! Data Sequence Signal (subtype 2): RFC 8684 §3.3 (the same in RFC 6824).
//!
//! ```text
//! | kind | length | subtype | reserved (7) | F m M a A |
//! | data ACK (4 or 8 octets, if A)                     |
//! | data sequence number (4 or 8 octets, if M)         |
//! | subflow sequence number (4 octets, if M)           |
//! | data-level length (2, if M) | checksum (2, if M and negotiated) |
//! ```
//! The flags say which fields are present; the checksum's presence follows
//! from the length. Every combination of flags parses and emits.

use super::{bad_len, subtype};
use crate::bytes::{Reader, Writer, check_width};
use crate::error::{EmitError, ParseError};
use crate::seq::DataSeq;

/// A: data ACK present.
const FLAG_ACK: u16 = 0x01;
/// a: data ACK is 8 octets.
const FLAG_ACK64: u16 = 0x02;
/// M: mapping present.
const FLAG_MAP: u16 = 0x04;
/// m: DSN is 8 octets.
const FLAG_DSN64: u16 = 0x08;
/// F: DATA_FIN.
const FLAG_FIN: u16 = 0x10;

/// A data-level sequence number as carried: 4 or 8 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireSeq {
    /// The low 32 bits.
    Short(u32),
    /// All 64 bits.
    Long(u64),
}

impl WireSeq {
    /// The full 64-bit number: a short value is expanded to the candidate
    /// nearest `near` (RFC 8684 §3.3: the receiver infers the upper bits).
    pub fn expand(self, near: DataSeq) -> DataSeq {
        match self {
            WireSeq::Short(low) => DataSeq::expand(low, near),
            WireSeq::Long(v) => DataSeq(v),
        }
    }

    /// Whether the 8-octet form is used.
    pub fn is_long(self) -> bool {
        matches!(self, WireSeq::Long(_))
    }

    /// Encoded length: 4 or 8.
    pub fn wire_len(self) -> usize {
        if self.is_long() { 8 } else { 4 }
    }

    /// The value as carried, widened.
    pub fn raw(self) -> u64 {
        match self {
            WireSeq::Short(v) => u64::from(v),
            WireSeq::Long(v) => v,
        }
    }

    fn read(r: &mut Reader<'_>, long: bool, what: &'static str) -> Result<WireSeq, ParseError> {
        Ok(if long {
            WireSeq::Long(r.u64(what)?)
        } else {
            WireSeq::Short(r.u32(what)?)
        })
    }

    fn write(self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match self {
            WireSeq::Short(v) => w.u32(v),
            WireSeq::Long(v) => w.u64(v),
        }
    }
}

/// A data sequence mapping (RFC 8684 §3.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DssMapping {
    /// Data sequence number of the first mapped byte.
    pub dsn: WireSeq,
    /// Subflow sequence number of the first mapped byte, relative to the
    /// subflow's initial sequence number.
    pub subflow_seq: u32,
    /// Number of bytes mapped (0: infinite mapping, §3.7).
    pub data_len: u16,
    /// DSS checksum, when checksums were negotiated.
    pub checksum: Option<u16>,
}

impl DssMapping {
    /// An infinite mapping (data-level length 0, RFC 8684 §3.7).
    pub fn is_infinite(&self) -> bool {
        self.data_len == 0
    }

    /// Encoded length of the mapping fields.
    fn wire_len(&self) -> usize {
        self.dsn.wire_len() + 6 + if self.checksum.is_some() { 2 } else { 0 }
    }
}

/// A DSS option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dss {
    /// Data ACK (flag A; flag a for the 8-octet form).
    pub data_ack: Option<WireSeq>,
    /// Mapping (flag M; flag m for the 8-octet DSN).
    pub mapping: Option<DssMapping>,
    /// DATA_FIN (flag F).
    pub data_fin: bool,
    /// The 7 reserved bits between the subtype and the flags.
    pub reserved: u8,
    /// The "a" (0x02) and "m" (0x08) bits as received when the A or M flag
    /// they qualify is clear: meaningless and ignored (RFC 8684 §3.3), kept
    /// only so that re-emitting gives back the same bytes. Zero otherwise.
    pub unused_flags: u8,
}

impl Dss {
    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        4 + self.data_ack.map_or(0, WireSeq::wire_len) + self.mapping.map_or(0, |m| m.wire_len())
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<Dss, ParseError> {
        let mut r = Reader::at(opt, 2);
        let word = r.u16("DSS flags")?;
        let flags = word & 0x1f;
        let has = |f: u16| flags & f != 0;
        let ack_len = match (has(FLAG_ACK), has(FLAG_ACK64)) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let map_len = match (has(FLAG_MAP), has(FLAG_DSN64)) {
            (false, _) => 0,
            (true, false) => 10,
            (true, true) => 14,
        };
        let base = 4 + ack_len + map_len;
        let with_checksum = has(FLAG_MAP) && opt.len() == base + 2;
        if opt.len() != base && !with_checksum {
            return Err(bad_len("DSS (length does not match flags)", opt));
        }
        let data_ack = match has(FLAG_ACK) {
            true => Some(WireSeq::read(&mut r, has(FLAG_ACK64), "DSS data ACK")?),
            false => None,
        };
        let mapping = match has(FLAG_MAP) {
            true => Some(DssMapping {
                dsn: WireSeq::read(&mut r, has(FLAG_DSN64), "DSS data sequence number")?,
                subflow_seq: r.u32("DSS subflow sequence number")?,
                data_len: r.u16("DSS data-level length")?,
                checksum: match with_checksum {
                    true => Some(r.u16("DSS checksum")?),
                    false => None,
                },
            }),
            false => None,
        };
        let mut unused = 0;
        if !has(FLAG_ACK) {
            unused |= flags & FLAG_ACK64;
        }
        if !has(FLAG_MAP) {
            unused |= flags & FLAG_DSN64;
        }
        Ok(Dss {
            data_ack,
            mapping,
            data_fin: has(FLAG_FIN),
            reserved: ((word >> 5) & 0x7f) as u8,
            unused_flags: unused as u8,
        })
    }

    /// The five flag bits this value encodes to.
    fn flags(&self) -> u16 {
        let mut flags = u16::from(self.unused_flags);
        if let Some(ack) = self.data_ack {
            flags = flags & !FLAG_ACK64 | FLAG_ACK | if ack.is_long() { FLAG_ACK64 } else { 0 };
        }
        if let Some(m) = self.mapping {
            let m64 = if m.dsn.is_long() { FLAG_DSN64 } else { 0 };
            flags = flags & !FLAG_DSN64 | FLAG_MAP | m64;
        }
        if self.data_fin {
            flags |= FLAG_FIN;
        }
        flags
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        check_width("DSS reserved", u64::from(self.reserved), 7)?;
        if self.unused_flags & !(FLAG_ACK64 | FLAG_DSN64) as u8 != 0 {
            let value = u64::from(self.unused_flags);
            return Err(EmitError::BadValue {
                what: "DSS unused flags (only a and m)",
                value,
            });
        }
        let word = u16::from(subtype::DSS) << 12 | u16::from(self.reserved) << 5 | self.flags();
        w.u16(word)?;
        if let Some(ack) = self.data_ack {
            ack.write(w)?;
        }
        if let Some(m) = self.mapping {
            m.dsn.write(w)?;
            w.u32(m.subflow_seq)?;
            w.u16(m.data_len)?;
            if let Some(c) = m.checksum {
                w.u16(c)?;
            }
        }
        Ok(())
    }
}
