//! MP_FASTCLOSE (subtype 7): RFC 8684 §3.5 (the same in RFC 6824).
//!
//! ```text
//! | kind | length = 12 | subtype | reserved (12) |
//! | option receiver's key (64)                  |
//! ```

use super::{bad_len, subtype};
use crate::bytes::{Reader, Writer, check_width};
use crate::error::{EmitError, ParseError};

/// An MP_FASTCLOSE option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpFastClose {
    /// The 12 reserved bits.
    pub reserved: u16,
    /// The key of the option's receiver.
    pub receiver_key: u64,
}

impl MpFastClose {
    /// Encoded length.
    pub const LEN: usize = 12;

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpFastClose, ParseError> {
        if opt.len() != Self::LEN {
            return Err(bad_len("MP_FASTCLOSE (12)", opt));
        }
        let mut r = Reader::at(opt, 2);
        let reserved = r.u16("MP_FASTCLOSE reserved")? & 0x0fff;
        let receiver_key = r.u64("MP_FASTCLOSE receiver's key")?;
        Ok(MpFastClose {
            reserved,
            receiver_key,
        })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        check_width("MP_FASTCLOSE reserved", u64::from(self.reserved), 12)?;
        w.u16(u16::from(subtype::MP_FASTCLOSE) << 12 | self.reserved)?;
        w.u64(self.receiver_key)
    }
}
