//! MP_JOIN (subtype 1): RFC 8684 §3.2 (the same in RFC 6824).
//!
//! ```text
//! SYN (12):     | kind | len | subtype | rsv(3) B | address id |
//!               | receiver's token (32) | sender's random number (32) |
//! SYN/ACK (16): | kind | len | subtype | rsv(3) B | address id |
//!               | sender's truncated HMAC (64) | sender's random number (32) |
//! ACK (24):     | kind | len | subtype | reserved (12) | sender's HMAC (160) |
//! ```

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer, check_width};
use crate::error::{EmitError, ParseError};

/// The 4 bits after the subtype in MP_JOIN SYN, SYN/ACK and MP_PRIO: three
/// reserved bits and the backup bit (open: reserved bits survive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct BackupFlags(pub u8);

impl BackupFlags {
    /// B: the sender wants this subflow used as a backup.
    pub const BACKUP: BackupFlags = BackupFlags(0x01);
    /// No flag.
    pub const NONE: BackupFlags = BackupFlags(0);

    /// The B bit.
    pub fn backup(self) -> bool {
        self.0 & BackupFlags::BACKUP.0 != 0
    }
}

/// An MP_JOIN option, in one of its three forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpJoin {
    /// In the SYN of a new subflow (length 12).
    Syn {
        /// Backup and reserved bits.
        flags: BackupFlags,
        /// The sender's address id.
        address_id: u8,
        /// The receiver's token.
        token: u32,
        /// The sender's random number.
        nonce: u32,
    },
    /// In the SYN/ACK (length 16).
    SynAck {
        /// Backup and reserved bits.
        flags: BackupFlags,
        /// The sender's address id.
        address_id: u8,
        /// Leftmost 64 bits of the sender's HMAC.
        truncated_hmac: u64,
        /// The sender's random number.
        nonce: u32,
    },
    /// In the third ACK (length 24).
    Ack {
        /// The 12 reserved bits.
        reserved: u16,
        /// The sender's HMAC, leftmost 160 bits.
        hmac: [u8; 20],
    },
}

impl MpJoin {
    /// The backup bit (false for the third ACK, which has none).
    pub fn backup(&self) -> bool {
        match self {
            MpJoin::Syn { flags, .. } | MpJoin::SynAck { flags, .. } => flags.backup(),
            MpJoin::Ack { .. } => false,
        }
    }

    /// The sender's address id (SYN and SYN/ACK).
    pub fn address_id(&self) -> Option<u8> {
        match self {
            MpJoin::Syn { address_id, .. } | MpJoin::SynAck { address_id, .. } => Some(*address_id),
            MpJoin::Ack { .. } => None,
        }
    }

    /// Encoded length.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        match self {
            MpJoin::Syn { .. } => 12,
            MpJoin::SynAck { .. } => 16,
            MpJoin::Ack { .. } => 24,
        }
    }

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpJoin, ParseError> {
        let mut r = Reader::at(opt, 2);
        match opt.len() {
            12 | 16 => {
                let flags = BackupFlags(r.u8("MP_JOIN flags")? & 0x0f);
                let address_id = r.u8("MP_JOIN address id")?;
                if opt.len() == 12 {
                    let token = r.u32("MP_JOIN token")?;
                    let nonce = r.u32("MP_JOIN random number")?;
                    return Ok(MpJoin::Syn {
                        flags,
                        address_id,
                        token,
                        nonce,
                    });
                }
                let truncated_hmac = r.u64("MP_JOIN truncated HMAC")?;
                let nonce = r.u32("MP_JOIN random number")?;
                Ok(MpJoin::SynAck {
                    flags,
                    address_id,
                    truncated_hmac,
                    nonce,
                })
            }
            24 => {
                let reserved = r.u16("MP_JOIN reserved")? & 0x0fff;
                let hmac = r.array("MP_JOIN HMAC")?;
                Ok(MpJoin::Ack { reserved, hmac })
            }
            _ => Err(bad_len("MP_JOIN (12, 16 or 24)", opt)),
        }
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match *self {
            MpJoin::Syn {
                flags,
                address_id,
                token,
                nonce,
            } => {
                write_first(w, subtype::MP_JOIN, flags.0, "MP_JOIN flags")?;
                w.u8(address_id)?;
                w.u32(token)?;
                w.u32(nonce)
            }
            MpJoin::SynAck {
                flags,
                address_id,
                truncated_hmac,
                nonce,
            } => {
                write_first(w, subtype::MP_JOIN, flags.0, "MP_JOIN flags")?;
                w.u8(address_id)?;
                w.u64(truncated_hmac)?;
                w.u32(nonce)
            }
            MpJoin::Ack { reserved, hmac } => {
                check_width("MP_JOIN reserved", u64::from(reserved), 12)?;
                w.u16(u16::from(subtype::MP_JOIN) << 12 | reserved)?;
                w.put(&hmac)
            }
        }
    }
}
