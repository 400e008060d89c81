//! REMOVE_ADDR (subtype 4): RFC 8684 §3.4.2 (the same in RFC 6824).
//!
//! ```text
//! | kind | length = 3 + n | subtype | reserved (4) | address id | ... (n ids)
//! ```

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};

/// One or more address ids, up to the 37 that fit in the option space.
#[derive(Clone, Copy, Debug)]
pub struct AddressIds {
    len: u8,
    ids: [u8; AddressIds::CAPACITY],
}

impl AddressIds {
    /// Most ids a REMOVE_ADDR can carry (40 bytes of options, less 3).
    pub const CAPACITY: usize = 37;

    /// The ids of `ids`; `None` when empty or longer than the capacity.
    pub fn new(ids: &[u8]) -> Option<AddressIds> {
        if ids.is_empty() {
            return None;
        }
        let mut out = AddressIds {
            len: u8::try_from(ids.len()).ok()?,
            ids: [0; AddressIds::CAPACITY],
        };
        out.ids.get_mut(..ids.len())?.copy_from_slice(ids);
        Some(out)
    }

    /// A single id.
    pub fn one(id: u8) -> AddressIds {
        let mut ids = [0; AddressIds::CAPACITY];
        ids[0] = id;
        AddressIds { len: 1, ids }
    }

    /// The ids.
    pub fn as_slice(&self) -> &[u8] {
        self.ids.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Number of ids (at least one).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl PartialEq for AddressIds {
    fn eq(&self, other: &AddressIds) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for AddressIds {}

/// A REMOVE_ADDR option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoveAddr {
    /// The 4 reserved bits.
    pub reserved: u8,
    /// The ids of the addresses removed.
    pub ids: AddressIds,
}

impl RemoveAddr {
    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        3 + self.ids.len()
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<RemoveAddr, ParseError> {
        let mut r = Reader::at(opt, 2);
        let reserved = r.u8("REMOVE_ADDR reserved")? & 0x0f;
        let ids = AddressIds::new(r.rest())
            .ok_or_else(|| bad_len("REMOVE_ADDR (4 to 40: one to 37 ids)", opt))?;
        Ok(RemoveAddr { reserved, ids })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        write_first(
            w,
            subtype::REMOVE_ADDR,
            self.reserved,
            "REMOVE_ADDR reserved",
        )?;
        w.put(self.ids.as_slice())
    }
}
