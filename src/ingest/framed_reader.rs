//! The read loop of a syslog stream connection, plain TCP or TLS alike: read into a
//! [`ReadBuffer`], frame (LF or octet counting, [`Framer`]), hand each message to the shard
//! ([`Intake`]), until the peer ends the stream, it idles out, its framing fails, or shutdown
//! begins. The caller owns the connection's counters and its ending (a TLS close_notify).
//!
//! Bounds: the read buffer grows only while a message needs it (up to
//! `read_buffer_bytes`) and shrinks back when the connection is quiet; a connection is
//! closed after `idle_timeout` without data. While the input is paused the stream is not
//! read, so the kernel's window pushes back on the sender and nothing is lost.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt};

use crate::event::{unix_micros_now, ReceiveMeta, RecordKind, Transport};
use crate::ingest::framing::{Framer, Step};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::ingest::read_buffer::ReadBuffer;

/// How often a paused connection checks whether it was resumed.
const PAUSE_CHECK: Duration = Duration::from_millis(20);

/// How a connection's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Shutdown: reading stopped mid-stream (a partial last message, cut by the shutdown
    /// rather than ended by the sender, is not taken).
    Stopped,
    /// The peer ended the stream (also without a TLS close_notify); a last message without
    /// its delimiter was taken.
    Ended,
    /// A read failed; a last message without its delimiter was taken.
    Failed,
    /// Nothing arrived for the idle timeout; a last message without its delimiter was taken.
    Idle,
    /// An octet count beyond the bound: what was read of it went in as a `pipeline_error`
    /// record (counted in `tcp_framing_errors`).
    FramingError,
}

/// What one connection is bounded by.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// The read buffer at most (it starts small; see [`ReadBuffer`]).
    pub read_buffer_bytes: usize,
    /// The connection is closed after this long without data.
    pub idle_timeout: Duration,
}

/// The connection being read: where from, and the TLS session block each of its messages
/// carries (empty on plain TCP).
pub struct Connection<'a> {
    pub peer: Option<std::net::SocketAddr>,
    pub tls: &'a [u8],
    /// `tcp` or `tls`, for logs.
    pub label: &'static str,
}

/// Read, frame and ingest `stream` until it ends (see [`Close`]). The stream's read timeout
/// must be set (short: each timeout checks shutdown and idleness). Counts framing errors and
/// idle closes; the caller counts the connection itself.
pub async fn read_framed<P: Intake, S: AsyncRead + Unpin>(
    p: &P,
    stream: &mut S,
    conn: &Connection<'_>,
    limits: ConnectionLimits,
    paused: &PauseFlag,
) -> Close {
    let mut framer = Framer::new(p.message_bytes_max());
    let mut buf = ReadBuffer::new(limits.read_buffer_bytes.max(framer.buffer_bytes_min()));
    let mut last_data = Instant::now();
    let close = loop {
        if p.stopping() {
            break Close::Stopped;
        }
        if paused.is_paused() {
            // Not read: the kernel's window fills and pushes back on the sender. Waiting on
            // a pause is not the sender's idleness.
            glommio::timer::sleep(PAUSE_CHECK).await;
            last_data = Instant::now();
            continue;
        }
        let n = match stream.read(buf.room()).await {
            Ok(0) => break Close::Ended,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                buf.shrink_if_idle();
                if last_data.elapsed() >= limits.idle_timeout {
                    break Close::Idle;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A TLS close without close_notify: what was received is kept, as on plain TCP.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break Close::Ended,
            Err(e) => {
                tracing::debug!(shard = p.shard(), peer = ?conn.peer, error = %e, "{} read failed", conn.label);
                break Close::Failed;
            }
        };
        last_data = Instant::now();
        buf.commit(n);
        let (consumed, framing_failed) = ingest_frames(p, &mut framer, buf.filled(), conn).await;
        if framing_failed {
            break Close::FramingError;
        }
        buf.consume(consumed);
        glommio::yield_if_needed().await;
    };
    match close {
        Close::Stopped => {}
        Close::FramingError => crate::stats::add(&p.stats().tcp_framing_errors, 1),
        Close::Ended | Close::Failed | Close::Idle => {
            // A last message without its delimiter (end of stream, or a sender gone quiet
            // mid-message) is still a message.
            if let Some((msg, truncated)) = framer.finish(buf.filled()) {
                if let Some(kind) = p.socket_kind(msg) {
                    let meta = receive_meta(conn);
                    p.ingest_tls(msg, truncated, &meta, conn.tls, Transport::Tcp, kind)
                        .await;
                }
            }
            if close == Close::Idle {
                tracing::debug!(shard = p.shard(), peer = ?conn.peer, "{} connection idle, closed", conn.label);
                crate::stats::add(&p.stats().tcp_connections_idle_closed, 1);
            }
        }
    }
    close
}

/// Ingest every whole message framed in `filled`; returns the bytes consumed and whether the
/// framing failed (what was read of the bad frame went in as a `pipeline_error` record).
async fn ingest_frames<P: Intake>(
    p: &P,
    framer: &mut Framer,
    filled: &[u8],
    conn: &Connection<'_>,
) -> (usize, bool) {
    // One receive time for everything one read brought.
    let meta = receive_meta(conn);
    let mut pos = 0;
    loop {
        match framer.next(&filled[pos..]) {
            Step::Frame {
                message,
                truncated,
                consumed,
            } => {
                if let Some(kind) = p.socket_kind(message) {
                    p.ingest_tls(message, truncated, &meta, conn.tls, Transport::Tcp, kind)
                        .await;
                }
                pos += consumed;
            }
            Step::Skip { consumed } => pos += consumed,
            Step::NeedMore => return (pos, false),
            Step::Error { read, count } => {
                tracing::debug!(shard = p.shard(), peer = ?conn.peer, count, "{} octet count beyond the bound", conn.label);
                let kind = RecordKind::FramingError;
                p.ingest_tls(read, false, &meta, conn.tls, Transport::Tcp, kind)
                    .await;
                return (pos, true);
            }
        }
    }
}

fn receive_meta(conn: &Connection<'_>) -> ReceiveMeta {
    ReceiveMeta {
        received_unix_micros: unix_micros_now(),
        peer: conn.peer,
    }
}
