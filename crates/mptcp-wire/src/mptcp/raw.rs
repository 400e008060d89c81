//! Fixed-capacity raw bytes for suboptions kept unparsed.

use crate::bytes::Reader;
use crate::error::ParseError;

/// Up to 37 raw bytes: the most an MPTCP option can carry after its first
/// three bytes within the 40-byte TCP option space.
#[derive(Clone, Copy, Debug)]
pub struct RawBytes {
    len: u8,
    bytes: [u8; RawBytes::CAPACITY],
}

impl RawBytes {
    /// Capacity in bytes.
    pub const CAPACITY: usize = 37;

    /// A copy of `bytes`; `None` when longer than [`RawBytes::CAPACITY`].
    pub fn new(bytes: &[u8]) -> Option<RawBytes> {
        let mut out = RawBytes {
            len: u8::try_from(bytes.len()).ok()?,
            bytes: [0; RawBytes::CAPACITY],
        };
        out.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(out)
    }

    /// The bytes after the first three of the MPTCP option `opt`.
    pub(crate) fn parse(opt: &[u8]) -> Result<RawBytes, ParseError> {
        let rest = Reader::at(opt, 3).rest();
        RawBytes::new(rest)
            .ok_or_else(|| ParseError::bad_length("MPTCP option (over 40 bytes)", 1, opt.len()))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for RawBytes {
    fn default() -> RawBytes {
        RawBytes {
            len: 0,
            bytes: [0; RawBytes::CAPACITY],
        }
    }
}

impl PartialEq for RawBytes {
    fn eq(&self, other: &RawBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for RawBytes {}
