//! TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 8684 §2): parsing an
//! options area one option at a time, and emitting option lists.
//!
//! Iteration keeps going past a bad option when it can: an option whose kind
//! and length bytes are sound but whose contents are not (an MPTCP option of
//! an impossible length, an MSS option of length 3) yields an `Err` and the
//! next option follows. When the length byte itself is unusable (missing,
//! 0 or 1, or running past the end of the area), the option's end is
//! unknown: the iterator yields an `Err` and stops.

use crate::bytes::{Reader, Writer};
use crate::error::{EmitError, ParseError};
use crate::mptcp::MptcpOption;
use crate::seq::SubflowSeq;

/// Option kinds this crate parses (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation.
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323).
    pub const TIMESTAMPS: u8 = 8;
    /// Multipath TCP (RFC 8684).
    pub const MPTCP: u8 = 30;
}

/// The TCP option space: a data offset of 15 words less the fixed header.
pub const MAX_OPTIONS_LEN: usize = 40;

/// One SACK block: the left and right edges of a received range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SubflowSeq,
    /// Sequence number just past the block.
    pub right: SubflowSeq,
}

/// One to four SACK blocks (four is all that fits in the option space).
#[derive(Clone, Copy, Debug)]
pub struct SackBlocks {
    len: u8,
    blocks: [SackBlock; 4],
}

impl SackBlocks {
    /// Most blocks a SACK option carries.
    pub const CAPACITY: usize = 4;

    /// The blocks of `blocks`; `None` unless there are 1 to 4.
    pub fn new(blocks: &[SackBlock]) -> Option<SackBlocks> {
        if blocks.is_empty() || blocks.len() > Self::CAPACITY {
            return None;
        }
        let mut out = SackBlocks {
            len: blocks.len() as u8,
            blocks: [SackBlock::default(); 4],
        };
        out.blocks.get_mut(..blocks.len())?.copy_from_slice(blocks);
        Some(out)
    }

    /// The blocks.
    pub fn as_slice(&self) -> &[SackBlock] {
        self.blocks.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Number of blocks (1 to 4).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

/// A parsed TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list; iteration stops after it.
    Eol,
    /// No operation (padding).
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift count (kept as sent, even above 14).
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// Selective acknowledgment blocks.
    Sack(SackBlocks),
    /// Timestamps.
    Timestamps {
        /// Timestamp value.
        tsval: u32,
        /// Timestamp echo reply.
        tsecr: u32,
    },
    /// A Multipath TCP option.
    Mptcp(MptcpOption),
    /// Any other option, kept raw.
    Unknown {
        /// Option kind.
        kind: u8,
        /// The bytes after the kind and length bytes.
        data: &'a [u8],
    },
}

/// Fail with `BadLength` unless an option of kind `what` has length `len`.
fn expect_len(what: &'static str, bytes: &[u8], len: usize) -> Result<(), ParseError> {
    if bytes.len() != len {
        return Err(ParseError::bad_length(what, 1, bytes.len()));
    }
    Ok(())
}

impl<'a> TcpOption<'a> {
    /// Parse one option: `bytes` is exactly the option, kind and length
    /// bytes included (a single byte for EOL and NOP).
    pub fn parse(bytes: &'a [u8]) -> Result<TcpOption<'a>, ParseError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8("TCP option kind")?;
        if kind == kind::EOL || kind == kind::NOP {
            expect_len("EOL/NOP option", bytes, 1)?;
            return Ok(if kind == kind::EOL {
                TcpOption::Eol
            } else {
                TcpOption::Nop
            });
        }
        let len = usize::from(r.u8("TCP option length")?);
        if len != bytes.len() {
            return Err(ParseError::bad_length("TCP option length byte", 1, len));
        }
        match kind {
            kind::MSS => {
                expect_len("MSS option", bytes, 4)?;
                Ok(TcpOption::Mss(r.u16("MSS")?))
            }
            kind::WINDOW_SCALE => {
                expect_len("window scale option", bytes, 3)?;
                Ok(TcpOption::WindowScale(r.u8("window scale")?))
            }
            kind::SACK_PERMITTED => {
                expect_len("SACK permitted option", bytes, 2)?;
                Ok(TcpOption::SackPermitted)
            }
            kind::SACK => parse_sack(&mut r, len),
            kind::TIMESTAMPS => {
                expect_len("timestamps option", bytes, 10)?;
                let tsval = r.u32("TSval")?;
                let tsecr = r.u32("TSecr")?;
                Ok(TcpOption::Timestamps { tsval, tsecr })
            }
            kind::MPTCP => MptcpOption::parse(bytes).map(TcpOption::Mptcp),
            kind => Ok(TcpOption::Unknown {
                kind,
                data: r.rest(),
            }),
        }
    }

    /// The option's kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::Eol => kind::EOL,
            TcpOption::Nop => kind::NOP,
            TcpOption::Mss(_) => kind::MSS,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::Sack(_) => kind::SACK,
            TcpOption::Timestamps { .. } => kind::TIMESTAMPS,
            TcpOption::Mptcp(_) => kind::MPTCP,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// Encoded length in bytes.
    #[allow(clippy::len_without_is_empty)] // an option is never empty
    pub fn len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Mptcp(m) => m.len(),
            TcpOption::Unknown { data, .. } => data.len().saturating_add(2),
        }
    }

    /// Write the option at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if let TcpOption::Mptcp(m) = self {
            return m.emit(buf);
        }
        let len = self.len();
        let len_byte = u8::try_from(len).map_err(|_| EmitError::TooLong {
            what: "TCP option",
            len,
            max: 255,
        })?;
        let mut w = Writer::with_room(buf, len)?;
        w.u8(self.kind())?;
        match self {
            TcpOption::Eol | TcpOption::Nop | TcpOption::Mptcp(_) => return Ok(1),
            _ => w.u8(len_byte)?,
        }
        match self {
            TcpOption::Mss(mss) => w.u16(*mss)?,
            TcpOption::WindowScale(shift) => w.u8(*shift)?,
            TcpOption::Sack(blocks) => {
                for b in blocks.as_slice() {
                    w.u32(b.left.0)?;
                    w.u32(b.right.0)?;
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                w.u32(*tsval)?;
                w.u32(*tsecr)?;
            }
            TcpOption::Unknown { data, .. } => w.put(data)?,
            _ => {}
        }
        Ok(w.pos())
    }
}

/// The blocks of a SACK option of length `len`, the reader past the length.
fn parse_sack<'a>(r: &mut Reader<'_>, len: usize) -> Result<TcpOption<'a>, ParseError> {
    let n = len.saturating_sub(2) / 8;
    if len < 10 || !(len - 2).is_multiple_of(8) || n > SackBlocks::CAPACITY {
        return Err(ParseError::bad_length("SACK option", 1, len));
    }
    let mut blocks = [SackBlock::default(); 4];
    for b in blocks.iter_mut().take(n) {
        b.left = SubflowSeq(r.u32("SACK left edge")?);
        b.right = SubflowSeq(r.u32("SACK right edge")?);
    }
    let blocks = blocks.get(..n).and_then(SackBlocks::new);
    blocks
        .map(TcpOption::Sack)
        .ok_or(ParseError::bad_length("SACK option", 1, len))
}

/// One option of an options area, not yet parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// Offset of the kind byte (counted like [`ParseError::offset`]).
    pub offset: usize,
    /// The option's bytes, kind and length included.
    pub bytes: &'a [u8],
}

impl<'a> RawOption<'a> {
    /// The kind byte.
    pub fn kind(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(kind::EOL)
    }

    /// Parse the option; error offsets count like [`RawOption::offset`].
    pub fn parse(&self) -> Result<TcpOption<'a>, ParseError> {
        TcpOption::parse(self.bytes).map_err(|e| e.shifted(self.offset))
    }
}

/// Iterator over the options of an options area, each as raw bytes.
#[derive(Clone, Debug)]
pub struct RawTcpOptions<'a> {
    area: &'a [u8],
    pos: usize,
    base: usize,
    done: bool,
}

impl<'a> RawTcpOptions<'a> {
    /// Iterate over `area`, offsets counted from `base`.
    pub fn with_base(area: &'a [u8], base: usize) -> RawTcpOptions<'a> {
        RawTcpOptions {
            area,
            pos: 0,
            base,
            done: false,
        }
    }

    /// The option starting at `self.pos`; error offsets count from the
    /// start of the area.
    fn next_option(&mut self) -> Result<RawOption<'a>, ParseError> {
        let start = self.pos;
        let mut r = Reader::at(self.area, start);
        let kind = r.u8("TCP option kind")?;
        let len = if kind == kind::EOL || kind == kind::NOP {
            1
        } else {
            let len = usize::from(r.u8("TCP option length")?);
            if len < 2 {
                let what = "TCP option length byte";
                return Err(ParseError::bad_length(what, start + 1, len));
            }
            len
        };
        let bytes = Reader::at(self.area, start).slice(len, "TCP option")?;
        self.pos = start + len;
        if kind == kind::EOL {
            self.done = true;
        }
        let offset = self.base.saturating_add(start);
        Ok(RawOption { offset, bytes })
    }
}

impl<'a> Iterator for RawTcpOptions<'a> {
    type Item = Result<RawOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.area.len() {
            return None;
        }
        let item = self.next_option();
        if item.is_err() {
            self.done = true;
        }
        Some(item.map_err(|e| e.shifted(self.base)))
    }
}

/// Iterator over the options of an options area, parsed (see the module
/// documentation for how errors end or do not end the iteration).
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    raw: RawTcpOptions<'a>,
}

impl<'a> TcpOptions<'a> {
    /// Iterate over the options area `area`, offsets counted from its start.
    pub fn new(area: &'a [u8]) -> TcpOptions<'a> {
        TcpOptions::with_base(area, 0)
    }

    /// Iterate over `area`, offsets counted from `base`.
    pub fn with_base(area: &'a [u8], base: usize) -> TcpOptions<'a> {
        TcpOptions {
            raw: RawTcpOptions::with_base(area, base),
        }
    }

    /// The same options, unparsed.
    pub fn raw(self) -> RawTcpOptions<'a> {
        self.raw
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.raw.next().map(|raw| raw.and_then(|o| o.parse()))
    }
}

/// The length of `opts` once padded to a multiple of four; an error when it
/// exceeds [`MAX_OPTIONS_LEN`].
pub fn options_len(opts: &[TcpOption<'_>]) -> Result<usize, EmitError> {
    let raw = opts
        .iter()
        .fold(0usize, |acc, o| acc.saturating_add(o.len()));
    let padded = raw.saturating_add(3) & !3;
    if padded > MAX_OPTIONS_LEN {
        return Err(EmitError::OptionSpaceExceeded {
            needed: padded,
            available: MAX_OPTIONS_LEN,
        });
    }
    Ok(padded)
}

/// Write `opts` in order, then NOPs up to a multiple of four bytes (as
/// Linux pads); returns the padded length.
pub fn emit_options(opts: &[TcpOption<'_>], buf: &mut [u8]) -> Result<usize, EmitError> {
    let padded = options_len(opts)?;
    let available = buf.len();
    let area = buf.get_mut(..padded).ok_or(EmitError::BufferTooSmall {
        needed: padded,
        available,
    })?;
    let mut pos = 0;
    for o in opts {
        let rest = area.get_mut(pos..).unwrap_or_default();
        pos += o.emit(rest)?;
    }
    for b in area.get_mut(pos..).unwrap_or_default() {
        *b = kind::NOP;
    }
    Ok(padded)
}

#[cfg(test)]
mod tests;
