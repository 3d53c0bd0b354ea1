//! A glommio `TcpStream` (or a TLS session over one) as hyper's IO (`hyper::rt::Read` / `Write`), noting when bytes
//! last moved and when the request being read began, for the connection's deadlines.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// What a connection's watchdog reads: when bytes last moved, when the request being read
/// began, and whether the connection was picked to make room (see [`super::WhenFull`]).
#[derive(Debug)]
pub struct Activity {
    /// Last time a read or write moved at least one byte (or the connection opened).
    pub last_io: Cell<Instant>,
    /// First byte of the request not yet handed to the handler, if any.
    pub request_since: Cell<Option<Instant>>,
    /// A write is waiting for the peer to read.
    pub write_blocked: Cell<bool>,
    /// Set to close the connection at the watchdog's next look.
    pub evicted: Cell<bool>,
}

impl Activity {
    /// A connection that opened now.
    pub fn new() -> Self {
        Self {
            last_io: Cell::new(Instant::now()),
            request_since: Cell::new(None),
            write_blocked: Cell::new(false),
            evicted: Cell::new(false),
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// The stream with its [`Activity`]: a plain `TcpStream` or a TLS session over one.
pub struct Io<S = TcpStream> {
    stream: S,
    activity: Rc<Activity>,
}

impl<S> Io<S> {
    /// Wrap `stream`, recording into `activity`.
    pub fn new(stream: S, activity: Rc<Activity>) -> Self {
        Self { stream, activity }
    }
}

impl<S: AsyncRead + Unpin> hyper::rt::Read for Io<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the uninitialised tail is zeroed before it is viewed as `&mut [u8]`, and
        // `advance` is called with exactly the bytes the read filled.
        let n = unsafe {
            let tail = buf.as_mut();
            tail.as_mut_ptr().write_bytes(0, tail.len());
            let bytes = std::slice::from_raw_parts_mut(tail.as_mut_ptr().cast::<u8>(), tail.len());
            match Pin::new(&mut self.stream).poll_read(cx, bytes) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        };
        // SAFETY: `n` bytes were written above.
        unsafe { buf.advance(n) };
        if n > 0 {
            let now = Instant::now();
            self.activity.last_io.set(now);
            if self.activity.request_since.get().is_none() {
                self.activity.request_since.set(Some(now));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> hyper::rt::Write for Io<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        match &r {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.activity.last_io.set(Instant::now());
                self.activity.write_blocked.set(false);
            }
            Poll::Pending => self.activity.write_blocked.set(true),
            _ => {}
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}
