//! A shard's TCP input: accepts on its own SO_REUSEPORT listener and serves each connection on
//! this shard, framing LF-delimited or octet-counted syslog (detected per connection); each
//! message is syslog or a forwarded Windows event ([`crate::ingest::detect`]).
//!
//! Bounds: `tcp_connections_max` open connections per shard (further ones are closed at once
//! and counted), one read buffer of `tcp_read_buffer_bytes` per connection. While Kafka's queue
//! is full the connection is not read, so the kernel's TCP window pushes back on the sender.
//! The same holds while the input is paused through the control API: the listener does not
//! accept and connections are not read (checked once per read), so nothing is lost; what the
//! senders wrote waits in the kernel until the input is resumed.

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{future, AsyncReadExt};
use glommio::net::{TcpListener, TcpStream};

use crate::control::inputs::PauseFlag;
use crate::ingest::framing::{Framer, Step};
use crate::normalize::{unix_micros_now, ReceiveMeta};
use crate::shard::pipeline::Pipeline;
use crate::shard::stats::{add, sub, Transport};

/// How often an idle connection or listener checks for shutdown.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// How often a paused listener or connection checks whether it was resumed.
const PAUSE_CHECK: Duration = Duration::from_millis(20);

/// Accept connections until shutdown; each is served by a task on this shard. While
/// `paused`, neither accepts nor reads.
pub async fn serve(
    p: Rc<Pipeline>,
    listener: TcpListener,
    read_buffer_bytes: usize,
    connections_max: usize,
    paused: PauseFlag,
) {
    add(&p.stats.inputs_active, 1);
    while !p.stopping() {
        if paused.is_paused() {
            // New connections wait in the listen backlog.
            glommio::timer::sleep(PAUSE_CHECK).await;
            continue;
        }
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            glommio::timer::sleep(IDLE_CHECK).await;
            None
        })
        .await;
        match accepted {
            None => {}
            Some(Ok(_stream)) if p.stopping() => break,
            Some(Ok(stream)) => {
                if p.stats.tcp_connections_open.get() >= connections_max as u64 {
                    add(&p.stats.tcp_connections_rejected, 1);
                    continue; // dropping the stream closes it
                }
                add(&p.stats.tcp_connections_accepted, 1);
                glommio::spawn_local(serve_connection(
                    p.clone(),
                    stream,
                    read_buffer_bytes,
                    paused.clone(),
                ))
                .detach();
            }
            Some(Err(e)) => {
                tracing::warn!(shard = p.shard, error = %e, "tcp accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    sub(&p.stats.inputs_active, 1);
}

async fn serve_connection(
    p: Rc<Pipeline>,
    mut stream: TcpStream,
    read_buffer_bytes: usize,
    paused: PauseFlag,
) {
    add(&p.stats.inputs_active, 1);
    add(&p.stats.tcp_connections_open, 1);
    let peer = stream.peer_addr().ok();
    let _ = stream.set_read_timeout(Some(IDLE_CHECK));
    let mut framer = Framer::new(p.message_bytes_max);
    let mut buf = vec![0u8; read_buffer_bytes.max(framer.buffer_bytes_min())];
    let mut filled = 0usize;
    loop {
        if p.stopping() {
            break;
        }
        if paused.is_paused() {
            // Not read: the kernel's window fills and pushes back on the sender.
            glommio::timer::sleep(PAUSE_CHECK).await;
            continue;
        }
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) => {
                // End of stream: a last message without its delimiter is still a message.
                if let Some((msg, truncated)) = framer.finish(&buf[..filled]) {
                    let meta = ReceiveMeta {
                        received_unix_micros: unix_micros_now(),
                        peer,
                    };
                    if let Some(kind) = p.socket_kind(msg) {
                        p.ingest(msg, truncated, &meta, Transport::Tcp, kind).await;
                    }
                }
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                continue
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!(shard = p.shard, ?peer, error = %e, "tcp read failed");
                break;
            }
        };
        filled += n;
        let meta = ReceiveMeta {
            received_unix_micros: unix_micros_now(),
            peer,
        };
        let mut pos = 0;
        loop {
            match framer.next(&buf[pos..filled]) {
                Step::Frame {
                    message,
                    truncated,
                    consumed,
                } => {
                    if let Some(kind) = p.socket_kind(message) {
                        p.ingest(message, truncated, &meta, Transport::Tcp, kind)
                            .await;
                    }
                    pos += consumed;
                }
                Step::Skip { consumed } => pos += consumed,
                Step::NeedMore => break,
            }
        }
        buf.copy_within(pos..filled, 0);
        filled -= pos;
        glommio::yield_if_needed().await;
    }
    sub(&p.stats.tcp_connections_open, 1);
    sub(&p.stats.inputs_active, 1);
}
