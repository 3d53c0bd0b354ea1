//! One accepted connection's TLS handshake, the same for every TLS listener: fail closed (a
//! connection whose first byte is not a TLS handshake record is refused without an answer,
//! so no plaintext is ever read), bounded by the listener's handshake timeout, and every
//! refusal given one [`TlsFailure`] reason; the refusals are logged at most once per
//! [`REFUSAL_LOG_INTERVAL`] per listener and shard, with the count of those not logged.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use glommio::net::TcpStream;

use crate::tls::ciphertext_reader::CiphertextReader;
use crate::tls::config::ReloadableTls;
use crate::tls::failure::{TlsFailure, TlsListener, TLS_FAILURE_NAMES, TLS_LISTENER_NAMES};

/// A refusal is logged at most this often per listener and shard (the rest are counted).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How often a connection in its handshake checks for shutdown.
const HANDSHAKE_CHECK: Duration = Duration::from_millis(100);
/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A server session over an accepted connection, its socket read through a
/// [`CiphertextReader`].
pub type TlsServerStream = TlsStream<CiphertextReader<TcpStream>>;

/// How a handshake ended.
pub enum Handshake {
    /// The session, ready for application data.
    Done(Box<TlsServerStream>),
    /// Refused, with the reason and what the error said.
    Refused(TlsFailure, String),
    /// Shutdown began during the handshake (not a refusal: not counted).
    Stopped,
}

/// Run the server handshake on `stream` with the configuration current now, within
/// `timeout`; `stopping` is polled every [`HANDSHAKE_CHECK`] so shutdown does not wait.
pub async fn accept(
    config: &ReloadableTls,
    stream: TcpStream,
    timeout: Duration,
    stopping: impl Fn() -> bool,
) -> Handshake {
    let started = Instant::now();
    future::or(handshake(config, stream), async {
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Handshake::Refused(
                    TlsFailure::Timeout,
                    format!("no handshake within {timeout:?}"),
                );
            }
            glommio::timer::sleep(left.min(HANDSHAKE_CHECK)).await;
            if stopping() {
                return Handshake::Stopped;
            }
        }
    })
    .await
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
    match TlsAcceptor::from(config.current())
        .accept(CiphertextReader::new(stream))
        .await
    {
        Ok(tls) => Handshake::Done(Box::new(tls)),
        Err(e) => Handshake::Refused(classify(&e), e.to_string()),
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

/// The rate-limited refusal log of one listener on one shard.
pub struct RefusalLog {
    listener: TlsListener,
    last: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl RefusalLog {
    /// A log for `listener`'s refusals.
    pub fn new(listener: TlsListener) -> Self {
        Self {
            listener,
            last: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// Log a refusal, unless one was logged within [`REFUSAL_LOG_INTERVAL`] (then it is only
    /// counted toward the next line's `not_logged`). `shard`: the shard's index (`None`: the
    /// control API, beside the shards).
    pub fn refused(
        &self,
        shard: Option<usize>,
        peer: Option<SocketAddr>,
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
            listener = TLS_LISTENER_NAMES[self.listener as usize],
            ?peer,
            reason = TLS_FAILURE_NAMES[reason as usize],
            detail,
            not_logged,
            "tls: connection refused (counted in linerate_tls_handshake_failures_total)"
        );
    }
}
