//! MP_TCPRST (subtype 8): RFC 8684 §3.6.
//!
//! ```text
//! | kind | length = 4 | subtype | U V W T | reason |
//! ```

use core::fmt;

use super::{bad_len, subtype, write_first};
use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};

/// The MP_TCPRST flags nibble (open: unassigned bits survive a round trip).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpRstFlags(pub u8);

impl TcpRstFlags {
    /// U: unassigned.
    pub const U: TcpRstFlags = TcpRstFlags(0x8);
    /// V: unassigned.
    pub const V: TcpRstFlags = TcpRstFlags(0x4);
    /// W: unassigned.
    pub const W: TcpRstFlags = TcpRstFlags(0x2);
    /// T: the error is transient; the subflow may be retried.
    pub const TRANSIENT: TcpRstFlags = TcpRstFlags(0x1);
    /// No flag.
    pub const NONE: TcpRstFlags = TcpRstFlags(0);

    /// The T bit.
    pub fn transient(self) -> bool {
        self.0 & TcpRstFlags::TRANSIENT.0 != 0
    }
}

/// Why a subflow was reset (RFC 8684 §3.6; open: unknown codes survive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResetReason(pub u8);

impl ResetReason {
    /// Unspecified error.
    pub const UNSPECIFIED: ResetReason = ResetReason(0);
    /// MPTCP-specific error.
    pub const MPTCP_SPECIFIC: ResetReason = ResetReason(1);
    /// Lack of resources.
    pub const LACK_OF_RESOURCES: ResetReason = ResetReason(2);
    /// Administratively prohibited.
    pub const ADMINISTRATIVELY_PROHIBITED: ResetReason = ResetReason(3);
    /// Too much outstanding data.
    pub const TOO_MUCH_OUTSTANDING_DATA: ResetReason = ResetReason(4);
    /// Unacceptable performance.
    pub const UNACCEPTABLE_PERFORMANCE: ResetReason = ResetReason(5);
    /// Middlebox interference.
    pub const MIDDLEBOX_INTERFERENCE: ResetReason = ResetReason(6);

    /// The RFC's name for a known code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "unspecified error",
            1 => "MPTCP-specific error",
            2 => "lack of resources",
            3 => "administratively prohibited",
            4 => "too much outstanding data",
            5 => "unacceptable performance",
            6 => "middlebox interference",
            _ => return None,
        })
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// An MP_TCPRST option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpTcpRst {
    /// Flags nibble.
    pub flags: TcpRstFlags,
    /// Reason code.
    pub reason: ResetReason,
}

impl MpTcpRst {
    /// Encoded length.
    pub const LEN: usize = 4;

    /// Parse the whole option (kind and length already checked).
    pub(crate) fn parse(opt: &[u8]) -> Result<MpTcpRst, ParseError> {
        if opt.len() != Self::LEN {
            return Err(bad_len("MP_TCPRST (4)", opt));
        }
        let mut r = Reader::at(opt, 2);
        let flags = TcpRstFlags(r.u8("MP_TCPRST flags")? & 0x0f);
        let reason = ResetReason(r.u8("MP_TCPRST reason")?);
        Ok(MpTcpRst { flags, reason })
    }

    /// Write everything after kind and length.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        write_first(w, subtype::MP_TCPRST, self.flags.0, "MP_TCPRST flags")?;
        w.u8(self.reason.0)
    }
}
