//! A TCP connection's read buffer, sized on demand: it starts at [`READ_BUFFER_START_BYTES`],
//! doubles (up to its cap) while reads fill it or a frame needs more room, and shrinks back
//! once the connection is idle, so thousands of quiet connections cost a few KiB each while
//! a busy one still reads in large chunks.
//!
//! Guarantees: never larger than its cap; bytes not yet consumed are kept, in order, across
//! growing and shrinking; there is always room to read after [`ReadBuffer::consume`] unless
//! the buffer is at its cap and full (which a framer whose minimum buffer is the cap never
//! leaves it).

/// Bytes a connection's buffer starts with (and shrinks back to when idle).
pub const READ_BUFFER_START_BYTES: usize = 4 << 10;

/// See the module docs.
#[derive(Debug)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    filled: usize,
    start_bytes: usize,
    max_bytes: usize,
    /// The last read filled all the room there was (more is likely waiting).
    read_filled_room: bool,
}

impl ReadBuffer {
    /// A buffer of `READ_BUFFER_START_BYTES` (or `max_bytes`, if smaller) that grows to at most
    /// `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(1);
        let start_bytes = READ_BUFFER_START_BYTES.min(max_bytes);
        Self {
            buf: vec![0; start_bytes],
            filled: 0,
            start_bytes,
            max_bytes,
            read_filled_room: false,
        }
    }

    /// The room to read into.
    pub fn room(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into [`room`](Self::room).
    pub fn commit(&mut self, n: usize) {
        let room = self.buf.len() - self.filled;
        self.read_filled_room = n >= room;
        self.filled += n.min(room);
    }

    /// The bytes read and not yet consumed.
    pub fn filled(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Drop the first `n` filled bytes (framed or skipped); then grow if the last read filled
    /// all the room or what is left fills the buffer (a frame needs more).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
        let full = self.filled == self.buf.len();
        if (full || self.read_filled_room) && self.buf.len() < self.max_bytes {
            let grown = self.buf.len().saturating_mul(2).min(self.max_bytes);
            self.buf.resize(grown, 0);
        }
        self.read_filled_room = false;
    }

    /// The connection is idle: give back memory beyond the start size if what is kept fits.
    pub fn shrink_if_idle(&mut self) {
        if self.buf.len() > self.start_bytes && self.filled <= self.start_bytes {
            self.buf.truncate(self.start_bytes);
            self.buf.shrink_to_fit();
        }
    }

    /// Bytes allocated now.
    pub fn capacity_bytes(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_while_reads_fill_it_and_shrinks_when_idle() {
        let mut b = ReadBuffer::new(64 << 10);
        assert_eq!(b.capacity_bytes(), READ_BUFFER_START_BYTES);
        // A read that fills the room: more is waiting, so the next read gets twice the room.
        let room = b.room().len();
        b.room().fill(b'x');
        b.commit(room);
        b.consume(room);
        assert_eq!(b.capacity_bytes(), 2 * READ_BUFFER_START_BYTES);
        // A short read does not grow it.
        b.room()[..10].fill(b'y');
        b.commit(10);
        b.consume(10);
        assert_eq!(b.capacity_bytes(), 2 * READ_BUFFER_START_BYTES);
        b.shrink_if_idle();
        assert_eq!(b.capacity_bytes(), READ_BUFFER_START_BYTES);
    }

    #[test]
    fn a_frame_longer_than_the_buffer_grows_it_to_the_cap_and_no_further() {
        let max = 20_000;
        let mut b = ReadBuffer::new(max);
        let frame: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < frame.len() {
            let n = b.room().len().min(frame.len() - sent).min(1000);
            b.room()[..n].copy_from_slice(&frame[sent..sent + n]);
            b.commit(n);
            sent += n;
            b.consume(0); // no complete frame yet
            assert!(b.capacity_bytes() <= max);
            assert!(!b.room().is_empty() || b.filled().len() == max);
        }
        assert_eq!(b.filled(), &frame[..]);
        assert_eq!(b.capacity_bytes(), max);
        // Consumed, idle: back to the start size, nothing lost of what was left.
        b.consume(max - 3);
        b.shrink_if_idle();
        assert_eq!(b.capacity_bytes(), READ_BUFFER_START_BYTES);
        assert_eq!(b.filled(), &frame[max - 3..]);
    }

    #[test]
    fn keeps_a_partial_frame_larger_than_the_start_size_when_idle() {
        let mut b = ReadBuffer::new(1 << 20);
        for _ in 0..3 {
            let room = b.room().len();
            b.room().fill(b'z');
            b.commit(room);
            b.consume(0);
        }
        let kept = b.filled().len();
        assert!(kept > READ_BUFFER_START_BYTES);
        b.shrink_if_idle();
        assert_eq!(b.filled().len(), kept);
        assert!(b.filled().iter().all(|&c| c == b'z'));
    }
}
