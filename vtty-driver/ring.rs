// SPDX-License-Identifier: GPL-2.0

//! A bounded byte queue: the output an attacher has not read yet.

use kernel::prelude::*;

/// Bytes an attacher may have unread before the container's writes wait (and,
/// after the stall timeout, drop).
pub(crate) const ATTACH_BUFFER_SIZE: usize = 64 * 1024;

/// A fixed-capacity FIFO of bytes.
pub(crate) struct ByteRing {
    buf: KVec<u8>,
    /// Index of the oldest byte.
    head: usize,
    /// Number of bytes queued.
    len: usize,
}

impl ByteRing {
    /// Allocates a ring of `capacity` bytes. Sleeps.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let mut buf = KVec::with_capacity(capacity, GFP_KERNEL)?;
        buf.resize(capacity, 0, GFP_KERNEL)?;
        Ok(Self { buf, head: 0, len: 0 })
    }

    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Room left.
    pub(crate) fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Appends as much of `data` as fits; returns the number of bytes taken.
    pub(crate) fn push(&mut self, data: &[u8]) -> usize {
        let capacity = self.buf.len();
        let count = data.len().min(self.free());
        let tail = (self.head + self.len) % capacity.max(1);
        let first = count.min(capacity - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..count - first].copy_from_slice(&data[first..count]);
        self.len += count;
        count
    }

    /// Moves up to `out.len()` of the oldest bytes into `out`; returns the count.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> usize {
        let capacity = self.buf.len();
        let count = out.len().min(self.len);
        let first = count.min(capacity - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..count].copy_from_slice(&self.buf[..count - first]);
        self.head = (self.head + count) % capacity.max(1);
        self.len -= count;
        count
    }
}

#[kunit_tests(vtty_ring)]
mod tests {
    use super::*;

    #[test]
    fn push_stops_at_capacity() -> Result {
        let mut ring = ByteRing::new(8)?;
        assert_eq!(ring.push(b"0123456789"), 8);
        assert_eq!(ring.free(), 0);
        assert_eq!(ring.push(b"x"), 0);
        Ok(())
    }

    #[test]
    fn pop_returns_bytes_in_order_across_wrap() -> Result {
        let mut ring = ByteRing::new(8)?;
        let mut out = [0u8; 8];
        assert_eq!(ring.push(b"abcdef"), 6);
        assert_eq!(ring.pop(&mut out[..4]), 4);
        assert_eq!(&out[..4], b"abcd");
        assert_eq!(ring.push(b"ghijkl"), 6);
        assert_eq!(ring.len(), 8);
        assert_eq!(ring.pop(&mut out), 8);
        assert_eq!(&out, b"efghijkl");
        assert_eq!(ring.len(), 0);
        Ok(())
    }

    #[test]
    fn pop_from_empty_returns_nothing() -> Result {
        let mut ring = ByteRing::new(4)?;
        let mut out = [0u8; 4];
        assert_eq!(ring.pop(&mut out), 0);
        Ok(())
    }
}
