//! MP_CAPABLE (subtype 0): RFC 8684 §3.1 (v1), RFC 6824 §3.1 (v0).
//!
//! ```text
//! | kind | length | subtype | version | A B C D E F G H |
//! | sender's key (64 bits, if length > 4)               |
//! | receiver's key (64 bits, if length > 12)            |
//! | data-level length (16) | checksum (16, optional)    |
//! ```
//! The form is decided by the length alone: 4 (v1 SYN), 12 (v0 SYN and
//! SYN/ACK, v1 SYN/ACK), 20 (third ACK, both versions), 22 or 24 (v1 ACK
//! with the first data, without or with a DSS checksum).

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};

/// The MPTCP version (open: unknown versions survive a round trip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u8);

impl Version {
    /// RFC 6824.
    pub const V0: Version = Version(0);
    /// RFC 8684.
    pub const V1: Version = Version(1);
}

/// The MP_CAPABLE flags byte (open: reserved bits survive a round trip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CapableFlags(pub u8);

impl CapableFlags {
    /// A: checksum required.
    pub const CHECKSUM_REQUIRED: CapableFlags = CapableFlags(0x80);
    /// B: extensibility.
    pub const EXTENSIBILITY: CapableFlags = CapableFlags(0x40);
    /// C (v1): do not establish subflows to the source address of this
    /// connection (RFC 8684 §3.1).
    pub const NO_JOIN_TO_SOURCE: CapableFlags = CapableFlags(0x20);
    /// D to G: reserved.
    pub const RESERVED: CapableFlags = CapableFlags(0x1e);
    /// H: HMAC-SHA1 (v0) / HMAC-SHA256 (v1).
    pub const HMAC_SHA: CapableFlags = CapableFlags(0x01);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: CapableFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// A: checksum required.
    pub fn checksum_required(self) -> bool {
        self.contains(CapableFlags::CHECKSUM_REQUIRED)
    }
}

impl core::ops::BitOr for CapableFlags {
    type Output = CapableFlags;
    fn bitor(self, rhs: CapableFlags) -> CapableFlags {
        CapableFlags(self.0 | rhs.0)
    }
}

/// What follows the flags, by option length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapableBody {
    /// v1 SYN (length 4).
    NoKey,
    /// v0 SYN, v0 and v1 SYN/ACK (length 12).
    SenderKey(u64),
    /// Third ACK (length 20).
    BothKeys {
        /// The option sender's key.
        sender: u64,
        /// The option receiver's key.
        receiver: u64,
    },
    /// v1 ACK carrying the first data (length 22, or 24 with checksum).
    BothKeysWithData {
        /// The option sender's key.
        sender: u64,
        /// The option receiver's key.
        receiver: u64,
        /// Data-level length of the data in this segment.
        data_len: u16,
        /// DSS checksum, when checksums are in use.
        checksum: Option<u16>,
    },
}

/// An MP_CAPABLE option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpCapable {
    /// Protocol version (4 bits).
    pub version: Version,
    /// Flags byte.
    pub flags: CapableFlags,
    /// Keys and data length, by form.
    pub body: CapableBody,
}

impl MpCapable {
    /// The option sender's key, when carried.
    pub fn sender_key(&self) -> Option<u64> {
        match self.body {
            CapableBody::NoKey => None,
            CapableBody::SenderKey(k)
            | CapableBody::BothKeys { sender: k, .. }
            | CapableBody::BothKeysWithData { sender: k, .. } => Some(k),
        }
    }

    /// The option receiver's key, when carried.
    pub fn receiver_key(&self) -> Option<u64> {
        match self.body {
            CapableBody::BothKeys { receiver, .. }
            | CapableBody::BothKeysWithData { receiver, .. } => Some(receiver),
            _ => None,
        }
    }

    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        match self.body {
            CapableBody::NoKey => 4,
            CapableBody::SenderKey(_) => 12,
            CapableBody::BothKeys { .. } => 20,
            CapableBody::BothKeysWithData { checksum: None, .. } => 22,
            CapableBody::BothKeysWithData { .. } => 24,
        }
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpCapable, ParseError> {
        let mut r = Reader::at(opt, 2);
        let version = Version(r.u8("MP_CAPABLE version")? & 0x0f);
        let flags = CapableFlags(r.u8("MP_CAPABLE flags")?);
        let body = match opt.len() {
            4 => CapableBody::NoKey,
            12 => CapableBody::SenderKey(r.u64("MP_CAPABLE sender's key")?),
            20 | 22 | 24 => {
                let sender = r.u64("MP_CAPABLE sender's key")?;
                let receiver = r.u64("MP_CAPABLE receiver's key")?;
                if opt.len() == 20 {
                    CapableBody::BothKeys { sender, receiver }
                } else {
                    let data_len = r.u16("MP_CAPABLE data-level length")?;
                    let checksum = match opt.len() {
                        24 => Some(r.u16("MP_CAPABLE checksum")?),
                        _ => None,
                    };
                    CapableBody::BothKeysWithData {
                        sender,
                        receiver,
                        data_len,
                        checksum,
                    }
                }
            }
            _ => return Err(bad_len("MP_CAPABLE (4, 12, 20, 22 or 24)", opt)),
        };
        Ok(MpCapable {
            version,
            flags,
            body,
        })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        write_first(w, subtype::MP_CAPABLE, self.version.0, "MP_CAPABLE version")?;
        w.u8(self.flags.0)?;
        match self.body {
            CapableBody::NoKey => {}
            CapableBody::SenderKey(k) => w.u64(k)?,
            CapableBody::BothKeys { sender, receiver } => {
                w.u64(sender)?;
                w.u64(receiver)?;
            }
            CapableBody::BothKeysWithData {
                sender,
                receiver,
                data_len,
                checksum,
            } => {
                w.u64(sender)?;
                w.u64(receiver)?;
                w.u16(data_len)?;
                if let Some(c) = checksum {
                    w.u16(c)?;
                }
            }
        }
        Ok(())
    }
}
