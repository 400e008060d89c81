//! Typed errors for parsing and emission.
//!
//! A [`ParseError`] says which field was wrong and at which byte offset, so
//! that a decoder can point at the byte and an engine can decide who is at
//! fault. An [`EmitError`] is always a caller problem: a buffer too small, an
//! option list too long for the TCP header, or a value that does not fit its
//! field.

use core::fmt;

/// Malformed input: what was wrong, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    /// Byte offset of the offending field, counted from the start of the
    /// bytes handed to the outermost parser of the call (an options iterator
    /// obtained from a [`TcpSegment`](crate::TcpSegment) counts from the start
    /// of the TCP header).
    pub offset: usize,
}

/// The ways input can be malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A field runs past the end of the input.
    Truncated {
        /// The field or structure that did not fit.
        what: &'static str,
        /// Bytes the field needs, counted from the error's offset.
        needed: usize,
        /// Bytes available from the error's offset.
        available: usize,
    },
    /// A length (a length byte, a header length, or the input's own length)
    /// is not one the format allows.
    BadLength {
        /// The structure whose length is wrong.
        what: &'static str,
        /// The length found.
        len: usize,
    },
    /// A field holds a value the format does not allow.
    BadValue {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A pcap link type this crate cannot strip.
    UnsupportedLinkType(u32),
    /// Well-formed input that this crate does not handle (for example an
    /// IPv6 fragment header in front of the transport header).
    Unsupported {
        /// What was found.
        what: &'static str,
    },
}

impl ParseError {
    /// An error of `kind` at `offset`.
    pub const fn new(kind: ParseErrorKind, offset: usize) -> ParseError {
        ParseError { kind, offset }
    }

    /// A [`ParseErrorKind::Truncated`] error.
    pub const fn truncated(
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    ) -> ParseError {
        ParseError::new(
            ParseErrorKind::Truncated {
                what,
                needed,
                available,
            },
            offset,
        )
    }

    /// A [`ParseErrorKind::BadLength`] error.
    pub const fn bad_length(what: &'static str, offset: usize, len: usize) -> ParseError {
        ParseError::new(ParseErrorKind::BadLength { what, len }, offset)
    }

    /// A [`ParseErrorKind::BadValue`] error.
    pub const fn bad_value(what: &'static str, offset: usize, value: u64) -> ParseError {
        ParseError::new(ParseErrorKind::BadValue { what, value }, offset)
    }

    /// The same error, with its offset moved `base` bytes further (used when
    /// a parser of an inner structure reports to the parser of the outer one).
    pub const fn shifted(self, base: usize) -> ParseError {
        ParseError {
            kind: self.kind,
            offset: self.offset.saturating_add(base),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: needs {needed} bytes, {available} available"
            )?,
            ParseErrorKind::BadLength { what, len } => write!(f, "bad length {len} for {what}")?,
            ParseErrorKind::BadValue { what, value } => write!(f, "bad {what}: {value:#x}")?,
            ParseErrorKind::UnsupportedLinkType(lt) => write!(f, "unsupported link type {lt}")?,
            ParseErrorKind::Unsupported { what } => write!(f, "unsupported {what}")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Why a value could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is shorter than the encoding.
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The TCP options, padded to a multiple of 4, exceed the 40 bytes a TCP
    /// header can carry (RFC 9293 §3.1: data offset is at most 15 words).
    OptionSpaceExceeded {
        /// Padded length of the options.
        needed: usize,
        /// Option space available.
        available: usize,
    },
    /// A variable-length part is longer than its length field can express.
    TooLong {
        /// The part.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// A field value does not fit its field, or would read back differently.
    BadValue {
        /// The field.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// Source and destination addresses are not of the same IP version.
    AddressFamilyMismatch,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EmitError::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: needs {needed} bytes, has {available}")
            }
            EmitError::OptionSpaceExceeded { needed, available } => write!(
                f,
                "TCP options need {needed} bytes, only {available} available"
            ),
            EmitError::TooLong { what, len, max } => {
                write!(f, "{what} too long: {len} bytes, at most {max}")
            }
            EmitError::BadValue { what, value } => {
                write!(f, "value {value:#x} does not fit {what}")
            }
            EmitError::AddressFamilyMismatch => {
                write!(f, "source and destination are of different IP versions")
            }
        }
    }
}

impl std::error::Error for EmitError {}
