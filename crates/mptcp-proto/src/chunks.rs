//! Large buffer allocations, reused once every piece cut from them is
//! released.
//!
//! The send and receive buffers copy data into large allocations and hand
//! out pieces of them (`Bytes` sharing the allocation) to subflows and to
//! the application. A fresh megabyte costs page faults and zeroing in the
//! kernel on first touch; an earlier one whose pieces are all gone costs
//! nothing to write into again.

use bytes::BytesMut;
use std::collections::VecDeque;

/// Handles on earlier allocations, oldest first, at most `max` of them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChunkPool {
    spare: VecDeque<BytesMut>,
    /// Allocations made (not reused).
    fresh: u64,
}

impl ChunkPool {
    /// A tail of at least `want` bytes of room to replace `full` (whose
    /// allocation joins the pool): an earlier allocation whose pieces
    /// were all released when there is one, else a new one. The pool
    /// keeps at most `max` handles (each may hold its allocation alive).
    pub(crate) fn next(&mut self, full: BytesMut, want: usize, max: usize) -> BytesMut {
        let tail = match self.spare.iter_mut().position(|t| t.try_reclaim(want)) {
            Some(i) => self.spare.remove(i).unwrap_or_default(),
            None => {
                self.fresh += 1;
                BytesMut::with_capacity(want)
            }
        };
        while self.spare.len() >= max.max(1) {
            self.spare.pop_front();
        }
        self.spare.push_back(full);
        tail
    }

    /// Let every earlier allocation go.
    pub(crate) fn clear(&mut self) {
        self.spare.clear();
    }

    /// Whether no allocation is kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.spare.is_empty()
    }

    /// How many allocations were made rather than reused.
    #[cfg(test)]
    pub(crate) fn fresh(&self) -> u64 {
        self.fresh
    }
}
