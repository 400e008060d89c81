//! Bounds-checked big-endian reading and writing (crate-internal).
//!
//! Every access goes through `get`/`get_mut`, so a short input becomes a
//! [`ParseError`] and a short buffer an [`EmitError`], never a panic.

use crate::error::{EmitError, ParseError};

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// A reader starting at `pos`.
    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    /// Current offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes, as a slice.
    pub(crate) fn slice(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(ParseError::truncated(what, self.pos, n, self.remaining())),
        }
    }

    /// The next `N` bytes, as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], ParseError> {
        let s = self.slice(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// The next byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    /// The next big-endian `u16`.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// The next big-endian `u32`.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// The next big-endian `u64`.
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, ParseError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Everything after the current offset.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }
}

/// A cursor over an output buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    /// A writer at the start of `buf`, after checking that `needed` bytes fit.
    pub(crate) fn with_room(buf: &'a mut [u8], needed: usize) -> Result<Writer<'a>, EmitError> {
        if buf.len() < needed {
            return Err(EmitError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        Ok(Writer::new(buf))
    }

    /// Bytes written so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Write `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EmitError> {
        let available = self.buf.len();
        let end = self.pos.saturating_add(bytes.len());
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EmitError::BufferTooSmall {
                needed: end,
                available,
            })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Write one byte.
    pub(crate) fn u8(&mut self, v: u8) -> Result<(), EmitError> {
        self.put(&[v])
    }

    /// Write a big-endian `u16`.
    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EmitError> {
        self.put(&v.to_be_bytes())
    }

    /// Write a big-endian `u32`.
    pub(crate) fn u32(&mut self, v: u32) -> Result<(), EmitError> {
        self.put(&v.to_be_bytes())
    }

    /// Write a big-endian `u64`.
    pub(crate) fn u64(&mut self, v: u64) -> Result<(), EmitError> {
        self.put(&v.to_be_bytes())
    }
}

/// Fails with [`EmitError::BadValue`] unless `value` fits in `bits` bits.
pub(crate) fn check_width(what: &'static str, value: u64, bits: u32) -> Result<(), EmitError> {
    if bits < 64 && value >> bits != 0 {
        return Err(EmitError::BadValue { what, value });
    }
    Ok(())
}
