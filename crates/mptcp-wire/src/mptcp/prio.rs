//! MP_PRIO (subtype 5): RFC 8684 §3.3.8 (length 3) and RFC 6824 §3.3.8
//! (length 3, or 4 with an address id).
//!
//! ```text
//! | kind | length | subtype | rsv(3) B | address id (v0, optional) |
//! ```

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};
use crate::mptcp::BackupFlags;

/// An MP_PRIO option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpPrio {
    /// Backup and reserved bits.
    pub flags: BackupFlags,
    /// The address id the change applies to (RFC 6824 only).
    pub address_id: Option<u8>,
}

impl MpPrio {
    /// The backup bit.
    pub fn backup(&self) -> bool {
        self.flags.backup()
    }

    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        if self.address_id.is_some() { 4 } else { 3 }
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpPrio, ParseError> {
        let mut r = Reader::at(opt, 2);
        let flags = BackupFlags(r.u8("MP_PRIO flags")? & 0x0f);
        let address_id = match opt.len() {
            3 => None,
            4 => Some(r.u8("MP_PRIO address id")?),
            _ => return Err(bad_len("MP_PRIO (3 or 4)", opt)),
        };
        Ok(MpPrio { flags, address_id })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        write_first(w, subtype::MP_PRIO, self.flags.0, "MP_PRIO flags")?;
        match self.address_id {
            Some(id) => w.u8(id),
            None => Ok(()),
        }
    }
}
