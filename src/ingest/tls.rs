//! A shard's syslog-over-TLS input (RFC 5425): accepts on its own SO_REUSEPORT listener,
//! completes each client's TLS handshake (rustls, TLS 1.2 and 1.3) and then reads the
//! connection like the plain TCP input: octet-counted framing as RFC 5425 says, LF framing
//! accepted too ([`crate::ingest::framing`]), every message into [`Intake::ingest_tls`](crate::ingest::intake::Intake::ingest_tls)
//! with the connection's TLS session, which its event reports as ECS `tls.*`.
//!
//! Fail closed: a connection whose first byte is not a TLS handshake record is closed without
//! an answer (no plaintext is ever read as syslog); under mutual TLS a client without a
//! certificate the CA signed, or not in `tls_permitted_peers`, fails its handshake. Every
//! refusal is counted by reason (`linerate_tls_handshake_failures_total`) and logged, at most
//! once per [`REFUSAL_LOG_INTERVAL`] per shard with the count of those not logged.
//!
//! Bounds: the handshake must complete within `tls_handshake_timeout_ms` (port scanners and
//! load-balancer probes do not hold a slot); a connection idle for `tls_idle_timeout_ms` is
//! closed; connections count against `tcp_connections_max` together with plain TCP's; each
//! holds one read buffer of `tcp_read_buffer_bytes` plus rustls's record buffers (16 KiB of
//! received plaintext at most). A refused or failed handshake costs no retry loop: the
//! connection is dropped and the listener waits for the next one. While the TCP input is
//! paused through the control API, this listener does not accept and its connections are not
//! read either.
//!
//! TLS connections are served by the shard that accepted them (the kernel's SO_REUSEPORT
//! spread; no hand-over between shards).

use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use glommio::net::{TcpListener, TcpStream};

use crate::event::tls::{ClientIdentity, TlsSession};
use crate::ingest::framed_reader::{read_framed, Close, Connection, ConnectionLimits};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::ingest::tls_config::{certificate_names, sha256, ReloadableTls};
use crate::stats::{add, sub, TlsFailure, TLS_FAILURE_NAMES};

/// How often a listener waiting for a connection checks for shutdown and pause; the pending
/// accept stays in flight across checks (it is never dropped).
const ACCEPT_CHECK: Duration = Duration::from_millis(100);
/// How often an idle connection checks for shutdown and its idle timeout.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// How often a paused listener or connection checks whether it was resumed.
const PAUSE_CHECK: Duration = Duration::from_millis(20);
/// A refusal is logged at most this often per shard (the rest are counted).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How long a closing connection may take to send its close_notify.
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);
/// How often a connection in its handshake checks for shutdown.
const HANDSHAKE_CHECK: Duration = Duration::from_millis(100);
/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The TLS input of one shard.
pub struct TlsInput {
    pub listener: TcpListener,
    /// The server configuration, reloadable; taken once per connection.
    pub config: Arc<ReloadableTls>,
    pub read_buffer_bytes: usize,
    /// Connections this shard serves at most, plain TCP's included (`tcp_connections_max`).
    pub connections_max: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Rate-limited refusal log of one shard.
#[derive(Default)]
struct RefusalLog {
    last: std::cell::Cell<Option<Instant>>,
    suppressed: std::cell::Cell<u64>,
}

impl RefusalLog {
    fn refused(
        &self,
        shard: usize,
        peer: Option<std::net::SocketAddr>,
        reason: TlsFailure,
        detail: &str,
    ) {
        let now = Instant::now();
        if self
            .last
            .get()
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_INTERVAL)
        {
            self.suppressed.set(self.suppressed.get() + 1);
            return;
        }
        self.last.set(Some(now));
        let not_logged = self.suppressed.replace(0);
        tracing::warn!(
            shard,
            ?peer,
            reason = TLS_FAILURE_NAMES[reason as usize],
            detail,
            not_logged,
            "tls: connection refused (counted in linerate_tls_handshake_failures_total)"
        );
    }
}

/// Accept connections until shutdown; each is served by a task on this shard.
pub async fn serve<P: Intake + 'static>(p: Rc<P>, input: TlsInput, paused: PauseFlag) {
    add(&p.stats().inputs_active, 1);
    let input = Rc::new(input);
    let log = Rc::new(RefusalLog::default());
    let listener = &input.listener;
    // One accept in flight at a time, kept across the shutdown/pause checks: dropping a
    // submitted accept could leave a connection accepted by the kernel and never served.
    let mut accept = Box::pin(listener.accept());
    while !p.stopping() {
        if paused.is_paused() {
            // New connections wait in the listen backlog (or in the pending accept).
            glommio::timer::sleep(PAUSE_CHECK).await;
            continue;
        }
        let accepted = future::or(async { Some((&mut accept).await) }, async {
            glommio::timer::sleep(ACCEPT_CHECK).await;
            None
        })
        .await;
        let Some(result) = accepted else { continue };
        accept.set(listener.accept());
        match result {
            Ok(_stream) if p.stopping() => break,
            Ok(stream) => {
                add(&p.stats().tcp_connections_accepted, 1);
                if p.stats().tcp_connections_open.get() >= input.connections_max as u64 {
                    add(&p.stats().tcp_connections_rejected, 1);
                    continue; // dropping the stream closes it
                }
                glommio::spawn_local(serve_connection(
                    p.clone(),
                    input.clone(),
                    stream,
                    log.clone(),
                    paused.clone(),
                ))
                .detach();
            }
            Err(e) => {
                tracing::warn!(shard = p.shard(), error = %e, "tls accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    sub(&p.stats().inputs_active, 1);
}

/// How a handshake ended.
enum Handshake {
    Done(Box<TlsStream<TcpStream>>),
    Refused(TlsFailure, String),
    /// Shutdown began during the handshake (not a refusal: not counted).
    Stopped,
}

/// Check that the client speaks TLS, then run the handshake.
async fn handshake(config: &ReloadableTls, stream: TcpStream) -> Handshake {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => return Handshake::Refused(TlsFailure::Closed, "closed before sending".into()),
        Ok(_) if first[0] != TLS_HANDSHAKE_RECORD => {
            return Handshake::Refused(
                TlsFailure::NotTls,
                format!("first byte {:#04x} is not a TLS handshake", first[0]),
            )
        }
        Ok(_) => {}
        Err(e) => return Handshake::Refused(TlsFailure::Closed, e.to_string()),
    }
    match TlsAcceptor::from(config.current()).accept(stream).await {
        Ok(tls) => Handshake::Done(Box::new(tls)),
        Err(e) => {
            let reason = classify(&e);
            Handshake::Refused(reason, e.to_string())
        }
    }
}

/// The refusal reason of a failed handshake's error.
fn classify(e: &std::io::Error) -> TlsFailure {
    use rustls::{CertificateError, Error};
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) else {
        return match e.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                TlsFailure::Closed
            }
            _ => TlsFailure::Protocol,
        };
    };
    match tls {
        Error::NoCertificatesPresented => TlsFailure::NoClientCert,
        Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => {
            TlsFailure::PeerNotPermitted
        }
        Error::InvalidCertificate(_) => TlsFailure::BadClientCert,
        Error::AlertReceived(_) => TlsFailure::ClientAlert,
        Error::PeerIncompatible(_) => TlsFailure::Incompatible,
        _ => TlsFailure::Protocol,
    }
}

/// The session block every message of the connection carries.
fn session_of(tls: &TlsStream<TcpStream>) -> TlsSession {
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
    log: Rc<RefusalLog>,
    paused: PauseFlag,
) {
    add(&p.stats().inputs_active, 1);
    add(&p.stats().tcp_connections_open, 1);
    let peer = stream.peer_addr().ok();
    let started = Instant::now();
    let outcome = future::or(handshake(&input.config, stream), async {
        loop {
            let left = input.handshake_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Handshake::Refused(
                    TlsFailure::Timeout,
                    format!("no handshake within {:?}", input.handshake_timeout),
                );
            }
            glommio::timer::sleep(left.min(HANDSHAKE_CHECK)).await;
            if p.stopping() {
                return Handshake::Stopped;
            }
        }
    })
    .await;
    match outcome {
        Handshake::Done(tls) => {
            add(&p.stats().tls_handshakes, 1);
            read_messages(&*p, &input, *tls, peer, &paused).await;
        }
        Handshake::Refused(reason, detail) => {
            add(&p.stats().tls_handshake_failures[reason as usize], 1);
            log.refused(p.shard(), peer, reason, &detail);
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
    mut tls: TlsStream<TcpStream>,
    peer: Option<std::net::SocketAddr>,
    paused: &PauseFlag,
) {
    let session = session_of(&tls).encode();
    let _ = tls.get_ref().0.set_read_timeout(Some(IDLE_CHECK));
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
async fn close_notify(tls: &mut TlsStream<TcpStream>) {
    use futures_lite::AsyncWriteExt;
    future::or(
        async {
            let _ = tls.close().await;
        },
        glommio::timer::sleep(CLOSE_NOTIFY_WAIT),
    )
    .await;
}
