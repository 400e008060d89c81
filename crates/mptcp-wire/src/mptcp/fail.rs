//! MP_FAIL (subtype 6): RFC 8684 §3.7 (the same in RFC 6824).
//!
//! ```text
//! | kind | length = 12 | subtype | reserved (12) |
//! | data sequence number (64)                   |
//! ```

use super::{bad_len, subtype};
use crate::bytes::{Reader, Writer, check_width};
use crate::error::{EmitError, ParseError};

/// An MP_FAIL option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpFail {
    /// The 12 reserved bits.
    pub reserved: u16,
    /// The full 64-bit data sequence number of the failed mapping.
    pub dsn: u64,
}

impl MpFail {
    /// Encoded length.
    pub const LEN: usize = 12;

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpFail, ParseError> {
        if opt.len() != Self::LEN {
            return Err(bad_len("MP_FAIL (12)", opt));
        }
        let mut r = Reader::at(opt, 2);
        let reserved = r.u16("MP_FAIL reserved")? & 0x0fff;
        let dsn = r.u64("MP_FAIL data sequence number")?;
        Ok(MpFail { reserved, dsn })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        check_width("MP_FAIL reserved", u64::from(self.reserved), 12)?;
        w.u16(u16::from(subtype::MP_FAIL) << 12 | self.reserved)?;
        w.u64(self.dsn)
    }
}
