//! A shard's syslog-over-TLS input (RFC 5425): accepts on its own SO_REUSEPORT listener,
//! completes each client's TLS handshake (rustls, TLS 1.2 and 1.3) and then reads the
//! connection like the plain TCP input: octet-counted framing as RFC 5425 says, LF framing
//! accepted too ([`crate::ingest::framing`]), every message into [`Intake::ingest_tls`](crate::ingest::intake::Intake::ingest_tls)
//! with the connection's TLS session, which its event reports as ECS `tls.*`.
//!
//! Fail closed: a connection whose first byte is not a TLS handshake record is closed without
//! an answer (no plaintext is ever read as syslog); under mutual TLS a client without a
//! certificate the CA signed, or not in `tls_permitted_peers`, fails its handshake. Every
//! refusal is counted by reason (`linerate_tls_handshake_failures_total{listener="syslog"}`)
//! and logged, at most once per [`REFUSAL_LOG_INTERVAL`](crate::tls::handshake::REFUSAL_LOG_INTERVAL)
//! per shard with the count of those not logged (the handshake is [`crate::tls::handshake`]'s).
//!
//! Bounds: the handshake must complete within `tls_handshake_timeout_ms` (port scanners and
//! load-balancer probes do not hold a slot); a connection idle for `tls_idle_timeout_ms` is
//! closed; connections count against `tcp_connections_max` together with plain TCP's; each
//! holds one read buffer that grows up to `tcp_read_buffer_bytes` only while a message needs
//! it (the read loop is plain TCP's, [`crate::ingest::framed_reader`]) plus rustls's record
//! buffers (16 KiB of received plaintext at most). A refused or failed handshake costs no retry loop: the
//! connection is dropped and the listener waits for the next one. While it is paused through
//! the control API (`syslog_tls`, as TCP's pause), this listener does not accept and its
//! connections are not read.
//!
//! A connection accepted by a shard serving more TLS connections than another is handed,
//! before its handshake, to the one serving fewest ([`crate::ingest::tcp_balance`], as plain
//! TCP's; `[syslog] tcp_balance`): the kernel's SO_REUSEPORT spread of a few long-lived
//! relay connections is often lopsided. It is served there for its life.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::TcpStream;

use crate::event::tls::{ClientIdentity, TlsSession};
use crate::ingest::accept::{accept_balanced, BalancedListener};
use crate::ingest::framed_reader::{read_framed, Close, Connection, ConnectionLimits};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::ingest::tcp_balance::ConnectionSlot;
use crate::stats::{add, sub};
use crate::tls::config::{certificate_names, sha256, ReloadableTls};
use crate::tls::failure::TlsListener;
use crate::tls::handshake::{self, Handshake, RefusalLog, TlsServerStream};

/// How often an idle connection checks for shutdown and its idle timeout.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// How long a closing connection may take to send its close_notify.
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);

/// The TLS input of one shard.
pub struct TlsInput {
    /// The listener, its share of the TLS connection balance and the connection cap
    /// (plain TCP's included, `tcp_connections_max`).
    pub listener: BalancedListener,
    /// The server configuration, reloadable; taken once per connection.
    pub config: Arc<ReloadableTls>,
    pub read_buffer_bytes: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Accept connections until shutdown; each is served by a task on this shard or handed,
/// before its handshake, to the shard serving fewest TLS connections ([`accept_balanced`]).
/// While `paused`, neither accepts nor reads (connections handed over are taken, and wait
/// for their handshake until resumed).
pub async fn serve<P: Intake + 'static>(p: Rc<P>, input: TlsInput, paused: PauseFlag) {
    add(&p.stats().inputs_active, 1);
    let input = Rc::new(input);
    let log = Rc::new(RefusalLog::new(TlsListener::Syslog));
    accept_balanced(&*p, &input.listener, "tls", &paused, |stream, slot| {
        let conn = serve_connection(
            p.clone(),
            input.clone(),
            stream.bind_to_executor(),
            slot,
            log.clone(),
            paused.clone(),
        );
        glommio::spawn_local(conn).detach();
    })
    .await;
    sub(&p.stats().inputs_active, 1);
}

/// The session block every message of the connection carries.
fn session_of(tls: &TlsServerStream) -> TlsSession {
    let (_, conn) = tls.get_ref();
    let version = conn.protocol_version().map_or(0, u16::from);
    let cipher = conn
        .negotiated_cipher_suite()
        .map_or(0, |s| u16::from(s.suite()));
    let client = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| ClientIdentity {
            subject: certificate_names(leaf)
                .map(|(subject, _)| subject)
                .unwrap_or_default(),
            sha256: sha256(leaf),
        });
    TlsSession {
        version,
        cipher,
        client,
    }
}

async fn serve_connection<P: Intake + 'static>(
    p: Rc<P>,
    input: Rc<TlsInput>,
    stream: TcpStream,
    _slot: ConnectionSlot,
    log: Rc<RefusalLog>,
    paused: PauseFlag,
) {
    add(&p.stats().inputs_active, 1);
    add(&p.stats().tcp_connections_open, 1);
    let peer = stream.peer_addr().ok();
    let outcome = handshake::accept(&input.config, stream, input.handshake_timeout, || {
        p.stopping()
    })
    .await;
    match outcome {
        Handshake::Done(tls) => {
            add(&p.stats().tls_handshakes[TlsListener::Syslog as usize], 1);
            read_messages(&*p, &input, *tls, peer, &paused).await;
        }
        Handshake::Refused(reason, detail) => {
            let failures = &p.stats().tls_handshake_failures[TlsListener::Syslog as usize];
            add(&failures[reason as usize], 1);
            log.refused(Some(p.shard()), peer, reason, &detail);
        }
        Handshake::Stopped => {}
    }
    sub(&p.stats().tcp_connections_open, 1);
    sub(&p.stats().inputs_active, 1);
}

/// Read and frame the connection's messages until it ends, idles out or shutdown begins
/// ([`read_framed`], as plain TCP does); a close we start sends close_notify.
async fn read_messages<P: Intake + 'static>(
    p: &P,
    input: &TlsInput,
    mut tls: TlsServerStream,
    peer: Option<std::net::SocketAddr>,
    paused: &PauseFlag,
) {
    let session = session_of(&tls).encode();
    let _ = tls.get_ref().0.get_ref().set_read_timeout(Some(IDLE_CHECK));
    let conn = Connection {
        peer,
        tls: &session,
        label: "tls",
    };
    let limits = ConnectionLimits {
        read_buffer_bytes: input.read_buffer_bytes,
        idle_timeout: input.idle_timeout,
    };
    match read_framed(p, &mut tls, &conn, limits, paused).await {
        Close::Stopped | Close::Idle | Close::FramingError => close_notify(&mut tls).await,
        Close::Ended | Close::Failed => {}
    }
}

/// End the session with a close_notify alert, waiting at most [`CLOSE_NOTIFY_WAIT`] (a peer
/// that reads nothing cannot hold the connection).
async fn close_notify(tls: &mut TlsServerStream) {
    use futures_lite::AsyncWriteExt;
    future::or(
        async {
            let _ = tls.close().await;
        },
        glommio::timer::sleep(CLOSE_NOTIFY_WAIT),
    )
    .await;
}
