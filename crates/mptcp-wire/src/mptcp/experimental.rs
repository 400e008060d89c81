//! MP_EXPERIMENTAL (subtype 0xf, RFC 8684 §8: reserved for private use):
//! kept raw.

use super::{RawBytes, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};

/// An MP_EXPERIMENTAL option, unparsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MpExperimental {
    /// The 4 bits after the subtype.
    pub flags: u8,
    /// The bytes after the first three.
    pub data: RawBytes,
}

impl MpExperimental {
    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        3 + self.data.len()
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpExperimental, ParseError> {
        let flags = Reader::at(opt, 2).u8("MP_EXPERIMENTAL flags")? & 0x0f;
        Ok(MpExperimental {
            flags,
            data: RawBytes::parse(opt)?,
        })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        write_first(
            w,
            subtype::MP_EXPERIMENTAL,
            self.flags,
            "MP_EXPERIMENTAL flags",
        )?;
        w.put(self.data.as_slice())
    }
}
