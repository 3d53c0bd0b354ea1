//! A TLS connection's socket, read through a buffer that adapts to the load.
//!
//! rustls asks its socket for at most 4 KiB of ciphertext per read (its `read_tls`), so a
//! busy connection read directly would cost one `recv` per 4 KiB: a syslog sender at full
//! rate made the TLS listener enter the kernel sixteen times as often as plain TCP (measured:
//! 15,840 against 1,020 `recvfrom` calls for the same million messages). Reading through this
//! buffer takes what the socket holds in one `recv` (up to [`CIPHERTEXT_BUFFER_BYTES_MAX`]) and
//! hands it to rustls from memory.
//!
//! Bounds: no buffer at all while the connection is quiet (handshakes and idle connections
//! cost nothing here); a read that fills what rustls asked for, or the whole buffer, doubles
//! it, from [`CIPHERTEXT_BUFFER_BYTES_START`] up to [`CIPHERTEXT_BUFFER_BYTES_MAX`]; it is freed
//! when a read times out (the connection went quiet) with nothing buffered. Bytes are handed
//! on in the order they arrived, none kept back: a read is served from the buffer whenever it
//! holds anything, so rustls never waits on the socket while ciphertext sits here. Writes pass
//! straight through.

use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

/// The buffer's first size once a connection turns busy, bytes.
pub const CIPHERTEXT_BUFFER_BYTES_START: usize = 16 << 10;
/// The most ciphertext buffered per connection, bytes.
pub const CIPHERTEXT_BUFFER_BYTES_MAX: usize = 64 << 10;

/// `S` read through an adaptive buffer (see the module docs).
#[derive(Debug)]
pub struct CiphertextReader<S> {
    inner: S,
    /// Empty while the connection is quiet; else its whole length is read into.
    buf: Vec<u8>,
    /// Buffered bytes not yet handed on: `buf[start..end]`.
    start: usize,
    end: usize,
    /// The `recv` that filled the buffer filled all of it (more is likely waiting).
    recv_filled_all: bool,
}

impl<S> CiphertextReader<S> {
    /// `inner`, with no buffer yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            recv_filled_all: false,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes the buffer holds allocated now.
    pub fn buffer_bytes(&self) -> usize {
        self.buf.len()
    }

    /// More is likely waiting: a bigger buffer for the next `recv` (called only when
    /// nothing is buffered, so nothing is copied).
    fn grow(&mut self) {
        let next =
            (self.buf.len() * 2).clamp(CIPHERTEXT_BUFFER_BYTES_START, CIPHERTEXT_BUFFER_BYTES_MAX);
        if next > self.buf.len() {
            self.buf = vec![0; next];
        }
    }

    /// A read failed: on a timeout (the connection is quiet) give the buffer back.
    fn failed(&mut self, e: &io::Error) {
        if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) && self.start == self.end
        {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CiphertextReader<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.start == this.end {
            if out.len() >= this.buf.len() {
                // Asked for at least what the buffer holds: read straight into `out`.
                return match ready!(Pin::new(&mut this.inner).poll_read(cx, out)) {
                    Ok(n) => {
                        if n > 0 && n == out.len() {
                            this.grow();
                        }
                        Poll::Ready(Ok(n))
                    }
                    Err(e) => {
                        this.failed(&e);
                        Poll::Ready(Err(e))
                    }
                };
            }
            match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buf)) {
                Ok(n) => {
                    this.start = 0;
                    this.end = n;
                    this.recv_filled_all = n == this.buf.len();
                }
                Err(e) => {
                    this.failed(&e);
                    return Poll::Ready(Err(e));
                }
            }
        }
        let n = out.len().min(this.end - this.start);
        out[..n].copy_from_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        if this.start == this.end {
            this.start = 0;
            this.end = 0;
            if this.recv_filled_all {
                this.grow();
            }
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CiphertextReader<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use futures_lite::io::Cursor;
    use futures_lite::AsyncReadExt;

    /// A source that hands out `data` in reads of at most `chunk` bytes, then times out
    /// `timeouts` times, then ends; counts the reads it served.
    struct Source {
        data: Vec<u8>,
        at: usize,
        chunk: usize,
        timeouts: usize,
        reads: usize,
    }

    impl AsyncRead for Source {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let s = self.get_mut();
            s.reads += 1;
            if s.at == s.data.len() && s.timeouts > 0 {
                s.timeouts -= 1;
                return Poll::Ready(Err(ErrorKind::TimedOut.into()));
            }
            let n = out.len().min(s.chunk).min(s.data.len() - s.at);
            out[..n].copy_from_slice(&s.data[s.at..s.at + n]);
            s.at += n;
            Poll::Ready(Ok(n))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Read everything in reads of `ask` bytes (as rustls does, 4 KiB), keeping the timeouts
    /// out of the data.
    fn read_all(r: &mut CiphertextReader<Source>, ask: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0; ask];
        loop {
            match block_on(r.read(&mut buf)) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut),
            }
        }
    }

    #[test]
    fn a_busy_connection_is_read_in_large_recvs_and_every_byte_arrives_in_order() {
        let data = pattern(1 << 20);
        let mut r = CiphertextReader::new(source(&data, usize::MAX, 0));
        assert_eq!(read_all(&mut r, 4096), data);
        assert_eq!(r.buffer_bytes(), CIPHERTEXT_BUFFER_BYTES_MAX);
        // 1 MiB in 4 KiB asks would be 256 recvs unbuffered; through the buffer it is the
        // first direct one, 16 KiB and 32 KiB while growing, then 64 KiB at a time.
        let reads = r.get_ref().reads;
        assert!(reads <= 20, "{reads} recvs");
    }

    fn source(data: &[u8], chunk: usize, timeouts: usize) -> Source {
        Source {
            data: data.to_vec(),
            at: 0,
            chunk,
            timeouts,
            reads: 0,
        }
    }

    #[test]
    fn short_reads_do_not_grow_it() {
        let data = pattern(100_000);
        let mut r = CiphertextReader::new(source(&data, 1000, 0));
        assert_eq!(read_all(&mut r, 4096), data);
        assert_eq!(r.buffer_bytes(), 0);
    }

    #[test]
    fn a_quiet_connection_gives_the_buffer_back() {
        let data = pattern(100_000);
        let mut r = CiphertextReader::new(source(&data, usize::MAX, 1));
        let mut buf = vec![0; 4096];
        let mut got = Vec::new();
        while got.len() < data.len() {
            let n = block_on(r.read(&mut buf)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
        assert!(r.buffer_bytes() > 0, "grown while busy");
        let e = block_on(r.read(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_eq!(r.buffer_bytes(), 0, "freed once quiet");
        assert_eq!(block_on(r.read(&mut buf)).unwrap(), 0);
    }

    #[test]
    fn a_timeout_keeps_what_is_buffered() {
        // Grow the buffer with full reads, then leave bytes in it across a timeout.
        let data = pattern(200_000);
        let mut r = CiphertextReader::new(source(&data, usize::MAX, 0));
        let mut buf = vec![0; 4096];
        let mut got = Vec::new();
        for _ in 0..10 {
            let n = block_on(r.read(&mut buf)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert!(r.buffer_bytes() > 0);
        r.failed(&ErrorKind::TimedOut.into());
        assert!(r.buffer_bytes() > 0, "buffered bytes are kept");
        got.extend(read_all(&mut r, 4096));
        assert_eq!(got, data);
    }

    #[test]
    fn writes_pass_through() {
        use futures_lite::AsyncWriteExt;
        let mut r = CiphertextReader::new(Cursor::new(Vec::new()));
        block_on(r.write_all(b"hello")).unwrap();
        assert_eq!(r.get_ref().get_ref(), b"hello");
    }
}
