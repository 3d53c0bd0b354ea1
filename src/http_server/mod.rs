//! The one HTTP/1.1 server stack of the appliance (hyper 1, HTTP/1 only, on glommio), used
//! by the shards' HTTP input and by the control API: each accepted connection is a task on
//! the executor that accepted it, so one slow or hostile client holds only its own task.
//!
//! Guarantees, each limit named in [`Limits`]:
//! - Request line and headers: at most `head_bytes_max` bytes and [`HEADERS_MAX`] headers;
//!   more gets hyper's 431 (a malformed head its 400), then the connection closes.
//! - Bodies: [`read_body`] takes at most `body_bytes_max` bytes whatever the framing
//!   (`Content-Length`, chunked); a declared length over it is refused before a byte of the
//!   body is read; a `Content-Length` no integer type can hold is hyper's 400.
//! - Deadlines: a request must arrive whole (first byte to handler, body included) within
//!   `request_timeout`, however slowly its bytes trickle; a connection that moves no byte
//!   either way for `idle_timeout` closes (a keep-alive connection between requests, or a
//!   peer that sends requests and never reads the responses).
//! - Connections: at most `connections_max` at once; past it the new connection is closed,
//!   or the connection idle longest is closed to make room ([`WhenFull`]).
//! - Every refusal and every connection closed by a limit is reported to the handler once
//!   ([`Handler::rejected`], by [`Reject`] reason).
//! - HTTPS when given a [`Tls`]: each connection first completes a TLS handshake within
//!   [`Tls::handshake_timeout`] ([`crate::tls::handshake`]: fail closed, a plaintext request
//!   is refused unanswered), every handshake's outcome reported to
//!   [`Handler::tls_handshake`]; requests are then served over the session as above. The
//!   configuration is taken once per connection, so a reload applies to the next handshake
//!   and open (keep-alive) connections keep theirs.
//!
//! hyper's own timers are not used: they need a `Send` timer and glommio's are not, so the
//! deadlines are a watchdog racing the connection on glommio's timer, fed by [`io::Io`].

pub mod io;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future::{self, BoxedLocal};
use glommio::net::{TcpListener, TcpStream};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::{Request, Response};

use crate::poll_on_wake::PollOnWake;
use crate::tls::config::ReloadableTls;
use crate::tls::failure::TlsFailure;
use crate::tls::handshake::{self, Handshake};
use io::{Activity, Io};

/// The response body type of every handler: the whole body, in memory.
pub type Body = Full<Bytes>;

/// Most headers in a request.
pub const HEADERS_MAX: usize = 64;
/// Largest read buffer of a connection, bytes: bodies are read in pieces up to this (the
/// head is held to `head_bytes_max` separately).
const READ_BUF_BYTES_MAX: usize = 64 << 10;
/// Longest a watchdog sleeps before looking at shutdown and eviction again.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// Pause after a failed accept (out of descriptors, ...), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// The TLS side of an HTTPS server.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The server configuration, reloadable; taken once per connection.
    pub config: Arc<ReloadableTls>,
    /// Longest a client may take to complete its handshake.
    pub handshake_timeout: Duration,
}

/// What to do with a new connection when `connections_max` are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Close the new one at once.
    Refuse,
    /// Close the connection that moved no byte for longest and keep the new one (so a client
    /// holding every slot cannot lock others out).
    EvictIdlest,
}

/// The limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request line plus headers, bytes.
    pub head_bytes_max: usize,
    /// Largest request body, bytes (whatever its framing).
    pub body_bytes_max: usize,
    /// Longest from a request's first byte to its last (the handler then has it whole).
    pub request_timeout: Duration,
    /// Longest a connection may move no byte.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub connections_max: usize,
    /// What happens past `connections_max`.
    pub when_full: WhenFull,
}

/// Why a request or connection was refused: the label of the rejection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Malformed request (head or body), bad JSON or base64: 400.
    BadRequest = 0,
    /// Request line and headers over `head_bytes_max` or [`HEADERS_MAX`]: 431.
    HeadTooLarge = 1,
    /// Body over its limit, as sent or decompressed: 413.
    BodyTooLarge = 2,
    /// No such path: 404.
    NotFound = 3,
    /// Method not allowed on the path: 405.
    MethodNotAllowed = 4,
    /// Unsupported `Content-Type` or `Content-Encoding`: 415.
    UnsupportedMediaType = 5,
    /// Missing or wrong token or key: 401.
    Unauthorized = 6,
    /// A cross-origin request to a mutating route: 403.
    Forbidden = 7,
    /// JSON or XML nested deeper than [`crate::nesting::DEPTH_MAX`]: 400.
    NestingTooDeep = 8,
    /// The request did not arrive whole within `request_timeout`: closed.
    RequestTimeout = 9,
    /// No byte moved for `idle_timeout` in the middle of a request or response: closed.
    IdleTimeout = 10,
    /// `connections_max` open: the new or the idlest connection closed.
    ConnectionsMax = 11,
    /// The input is paused: 503.
    Paused = 12,
    /// The buffer is full: 503.
    BufferFull = 13,
}

/// Number of [`Reject`] reasons.
pub const REJECT_COUNT: usize = 14;
/// Label values of [`Reject`], by index.
pub const REJECT_NAMES: [&str; REJECT_COUNT] = [
    "bad_request",
    "head_too_large",
    "body_too_large",
    "not_found",
    "method_not_allowed",
    "unsupported_media_type",
    "unauthorized",
    "forbidden",
    "nesting_too_deep",
    "request_timeout",
    "idle_timeout",
    "connections_max",
    "paused",
    "buffer_full",
];

/// What a server serves: requests in, responses out, and what it is told about refusals.
pub trait Handler: 'static {
    /// Answer one request (whose body is read through [`read_body`]).
    fn handle(
        self: Rc<Self>,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> BoxedLocal<Response<Body>>;
    /// A request or connection was refused by the server itself (not by `handle`).
    fn rejected(&self, reason: Reject);
    /// Whether to stop: the accept loop ends and open connections close.
    fn stopping(&self) -> bool {
        false
    }
    /// A connection opened (`true`) or closed (`false`).
    fn connection(&self, _open: bool) {}
    /// An HTTPS connection's handshake ended: completed, or refused with the reason and what
    /// the error said (the connection is then closed unanswered).
    fn tls_handshake(&self, _peer: Option<SocketAddr>, _outcome: Result<(), (TlsFailure, &str)>) {}
}

/// The open connections of a server, for the cap and eviction.
#[derive(Default)]
struct Open {
    conns: RefCell<Vec<Rc<Activity>>>,
}

impl Open {
    fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Mark the connection that moved no byte for longest (not already marked) to close.
    fn evict_idlest(&self) -> bool {
        let conns = self.conns.borrow();
        let idlest = conns
            .iter()
            .filter(|a| !a.evicted.get())
            .min_by_key(|a| a.last_io.get());
        if let Some(a) = idlest {
            a.evicted.set(true);
        }
        idlest.is_some()
    }

    fn remove(&self, a: &Rc<Activity>) {
        self.conns.borrow_mut().retain(|c| !Rc::ptr_eq(c, a));
    }
}

/// Accept connections on `listener` until the handler says stop; each is served by its
/// own task on this executor (over TLS when `tls` is given).
pub async fn serve<H: Handler>(
    listener: TcpListener,
    limits: Limits,
    handler: Rc<H>,
    tls: Option<Tls>,
) {
    let tls = tls.map(Rc::new);
    let open = Rc::new(Open::default());
    // Connections marked for eviction still count until they close.
    let evicting = Rc::new(Cell::new(0usize));
    // One accept stays in flight across the stop checks: when the timer wins the race the
    // accept is kept, not dropped. Dropping a submitted io_uring accept (glommio 0.9) loses
    // a connection the kernel had already accepted: nobody would read or close it (see
    // `ingest::tcp`'s test of exactly that).
    // Wrapped in PollOnWake: glommio keeps a waker clone per poll of a pending accept, and
    // the loop polls it at every timer tick (see `crate::poll_on_wake`).
    let accept = PollOnWake::new(listener.accept());
    futures_lite::pin!(accept);
    while !handler.stopping() {
        let accepted = future::or(async { Some(accept.as_mut().await) }, async {
            glommio::timer::sleep(WATCH_INTERVAL).await;
            None
        })
        .await;
        let Some(accepted) = accepted else { continue };
        accept.set(PollOnWake::new(listener.accept()));
        let stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                glommio::timer::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        if handler.stopping() {
            break;
        }
        if open.len() >= limits.connections_max {
            handler.rejected(Reject::ConnectionsMax);
            match limits.when_full {
                WhenFull::Refuse => continue, // dropping the stream closes it
                WhenFull::EvictIdlest => {
                    if open.len() >= limits.connections_max + evicting.get() && open.evict_idlest()
                    {
                        evicting.set(evicting.get() + 1);
                    }
                }
            }
        }
        let activity = Rc::new(Activity::new());
        open.conns.borrow_mut().push(activity.clone());
        let (handler, open, evicting) = (handler.clone(), open.clone(), evicting.clone());
        let tls = tls.clone();
        glommio::spawn_local(async move {
            handler.connection(true);
            serve_connection(stream, &limits, &handler, &activity, tls.as_deref()).await;
            if activity.evicted.get() {
                evicting.set(evicting.get().saturating_sub(1));
            }
            open.remove(&activity);
            handler.connection(false);
        })
        .detach();
    }
}

/// Why a watchdog ended a connection.
enum Ended {
    Shutdown,
    Evicted,
    RequestTimeout,
    Idle,
}

/// Wait until a deadline of the connection passes, it is evicted or the server stops.
async fn watchdog<H: Handler>(activity: &Activity, limits: &Limits, handler: &H) -> Ended {
    loop {
        if handler.stopping() {
            return Ended::Shutdown;
        }
        if activity.evicted.get() {
            return Ended::Evicted;
        }
        let now = Instant::now();
        let request_due = activity
            .request_since
            .get()
            .map(|t| t + limits.request_timeout);
        let idle_due = activity.last_io.get() + limits.idle_timeout;
        if request_due.is_some_and(|d| now >= d) {
            return Ended::RequestTimeout;
        }
        if now >= idle_due {
            return Ended::Idle;
        }
        let due = request_due.map_or(idle_due, |d| d.min(idle_due));
        glommio::timer::sleep((due - now).min(WATCH_INTERVAL)).await;
    }
}

/// Serve one connection: its TLS handshake first when `tls` is given, then its requests.
async fn serve_connection<H: Handler>(
    stream: TcpStream,
    limits: &Limits,
    handler: &Rc<H>,
    activity: &Rc<Activity>,
    tls: Option<&Tls>,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        let io = Io::new(stream, activity.clone());
        return serve_requests(io, peer, limits, handler, activity).await;
    };
    let stopping = || handler.stopping();
    match handshake::accept(&tls.config, stream, tls.handshake_timeout, stopping).await {
        Handshake::Done(session) => {
            handler.tls_handshake(peer, Ok(()));
            // Bytes moved during the handshake: the idle clock starts now.
            activity.last_io.set(Instant::now());
            let io = Io::new(*session, activity.clone());
            serve_requests(io, peer, limits, handler, activity).await;
        }
        Handshake::Refused(reason, detail) => handler.tls_handshake(peer, Err((reason, &detail))),
        Handshake::Stopped => {}
    }
}

/// Serve the requests of one connection (plain or TLS) until it ends or a deadline passes.
async fn serve_requests<H, S>(
    io: Io<S>,
    peer: Option<SocketAddr>,
    limits: &Limits,
    handler: &Rc<H>,
    activity: &Rc<Activity>,
) where
    H: Handler,
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
{
    let service = {
        let (handler, activity) = (handler.clone(), activity.clone());
        hyper::service::service_fn(move |req| {
            let (handler, activity) = (handler.clone(), activity.clone());
            async move {
                // One request per turn: a connection with many pipelined requests (whose
                // reads and writes complete at once) does not hold the executor.
                future::yield_now().await;
                let response = handler.handle(req, peer).await;
                // The request is whole and answered: its deadline ends here.
                activity.request_since.set(None);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .max_buf_size(READ_BUF_BYTES_MAX.max(limits.head_bytes_max))
        .max_header_size(limits.head_bytes_max)
        .max_headers(HEADERS_MAX)
        .keep_alive(true)
        // Header names as usually written (`Retry-After`), for clients that compare them
        // case-sensitively.
        .title_case_headers(true)
        .serve_connection(io, service);
    let served = future::or(async { Ok(conn.await) }, async {
        Err(watchdog(activity, limits, &**handler).await)
    })
    .await;
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_parse_too_large() => handler.rejected(Reject::HeadTooLarge),
        Ok(Err(e)) if e.is_parse() => handler.rejected(Reject::BadRequest),
        Ok(Err(e)) => tracing::debug!(?peer, error = %e, "http connection ended"),
        Err(Ended::Shutdown | Ended::Evicted) => {}
        Err(Ended::RequestTimeout) => handler.rejected(Reject::RequestTimeout),
        Err(Ended::Idle) => {
            // A keep-alive connection quiet between requests just expires.
            if activity.request_since.get().is_some() || activity.write_blocked.get() {
                handler.rejected(Reject::IdleTimeout);
            }
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over the limit (declared or as it arrived).
    #[error("the body is over {0} bytes")]
    TooLarge(usize),
    /// The peer broke off or sent a malformed chunked body.
    #[error("the body could not be read")]
    Broken,
}

/// The whole body of a request, at most `bytes_max` bytes whatever its framing: a declared
/// `Content-Length` over it is refused before any of the body is read, a chunked body as soon
/// as it passes it.
pub async fn read_body(body: Incoming, bytes_max: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > bytes_max as u64 {
        return Err(BodyError::TooLarge(bytes_max));
    }
    match Limited::new(body, bytes_max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge(bytes_max)),
        Err(_) => Err(BodyError::Broken),
    }
}

/// A response of `status` with `content_type`, `headers` and `body`.
pub fn response(
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(Full::new(body.into())).unwrap_or_else(|e| {
        // Only a header value of ours could be refused; answer without the headers.
        tracing::error!(error = %e, "http response not built");
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The media type of a `Content-Type` value, lowercase, without its parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_names_follow_the_enum() {
        assert_eq!(REJECT_NAMES[Reject::BufferFull as usize], "buffer_full");
        assert_eq!(
            REJECT_NAMES[Reject::NestingTooDeep as usize],
            "nesting_too_deep"
        );
        assert_eq!(REJECT_NAMES.len(), Reject::BufferFull as usize + 1);
    }

    #[test]
    fn media_types_drop_parameters_and_case() {
        assert_eq!(
            media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(media_type("text/plain"), "text/plain");
        assert_eq!(media_type(""), "");
    }
}
