//! A shard's HTTP input: accepts on its own SO_REUSEPORT listener and serves each
//! connection on this shard through [`crate::http_server`] (hyper, HTTP/1.1 with
//! keep-alive), the endpoints of [`crate::ingest::http_routes`].
//!
//! Guarantees:
//! - All or nothing: a body is read, decompressed and validated whole before anything is
//!   appended; then every record goes into the ring in one step, or none does. A success
//!   status is sent only after every record is in the ring (so it is sent to Kafka, resent
//!   until acknowledged, and survives a restart like any buffered event).
//! - A body not accepted gets a 4xx with the reason (400 bad JSON or base64, or nested
//!   deeper than [`crate::nesting::DEPTH_MAX`]; 401 wrong Firehose key; 404 a path other than
//!   exactly those of [`Route`]; 405 not `POST`, with `Allow`; 413 over `body_bytes_max` as
//!   sent or decompressed, or a record over `message_bytes_max`; 415 an unknown
//!   `Content-Encoding`; 431 headers over [`HEAD_BYTES_MAX`]); a full ring, or the input
//!   paused through the control API (the flag is read once per request, after the body),
//!   gets a 503 with `Retry-After` (the sender retries): never a partial accept.
//! - Bounds: `connections_max` open connections per shard (further ones are closed at
//!   once), one body of at most `body_bytes_max` bytes at a time per connection, whatever
//!   its framing (`Content-Length` or chunked), and all gzip of one request decompressing to
//!   at most `body_bytes_max` together, stopped while decoding. A request must arrive whole
//!   within `request_timeout_ms` (a trickle of bytes does not extend it); a connection that
//!   moves no byte for `idle_timeout_ms` is closed.
//! - Every refusal is counted by reason (`linerate_http_requests_rejected_total`).
//! - HTTPS with `tls_cert_file` set: the listener serves TLS only (the handshake, reload and
//!   mutual TLS of [`crate::tls`]); a plaintext request or a refused client is closed
//!   unanswered and counted (`linerate_tls_handshake_failures_total{listener="http_input"}`),
//!   logged at most once per 10 s per shard.
//!
//! `Content-Encoding: gzip` is decompressed. After a refusal that leaves the body unread the
//! connection is closed (`Connection: close`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::BoxedLocal;
use glommio::net::TcpListener;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use crate::event::RecordKind;
use crate::event::Transport;
use crate::event::{unix_micros_now, ReceiveMeta};
use crate::http_server::{
    self, read_body, response, Body, BodyError, Handler, Limits, Reject, Tls, WhenFull,
};
use crate::ingest::http_routes::{self, Rejection, Route};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::stats::{add, sub};
use crate::tls::failure::{TlsFailure, TlsListener};
use crate::tls::handshake::RefusalLog;

/// Largest request line and headers, bytes.
pub const HEAD_BYTES_MAX: usize = 16 << 10;
/// Seconds a 503 (full ring, paused input) asks the sender to wait before retrying.
const RETRY_AFTER_SECS: &str = "1";

/// The HTTP input's settings, fixed at start and shared by a shard's connections.
#[derive(Debug, Clone)]
pub struct HttpInput {
    /// Largest body, bytes, as sent and after gzip decompression.
    pub body_bytes_max: usize,
    /// Largest record, bytes (`message_bytes_max`).
    pub record_bytes_max: usize,
    /// Open connections per shard.
    pub connections_max: usize,
    /// Longest from a request's first byte to its last (`request_timeout_ms`).
    pub request_timeout: Duration,
    /// Longest a connection may move no byte (`idle_timeout_ms`).
    pub idle_timeout: Duration,
    /// The key `POST /firehose` must carry in `X-Amz-Firehose-Access-Key`; `None`: not
    /// checked.
    pub firehose_access_key: Option<String>,
    /// Set while the input is paused through the control API: requests get a 503.
    pub paused: PauseFlag,
    /// HTTPS (`[http_input] tls_cert_file`): the listener serves TLS only.
    pub tls: Option<Tls>,
}

impl HttpInput {
    /// The server limits of this input.
    pub fn limits(&self) -> Limits {
        Limits {
            head_bytes_max: HEAD_BYTES_MAX,
            body_bytes_max: self.body_bytes_max,
            request_timeout: self.request_timeout,
            idle_timeout: self.idle_timeout,
            connections_max: self.connections_max,
            when_full: WhenFull::Refuse,
        }
    }
}

/// Accept connections until shutdown; each is served by a task on this shard.
pub async fn serve<P: Intake + 'static>(p: Rc<P>, listener: TcpListener, input: Rc<HttpInput>) {
    add(&p.stats().inputs_active, 1);
    let limits = input.limits();
    let tls = input.tls.clone();
    let refusals = RefusalLog::new(TlsListener::HttpInput);
    let handler = Rc::new(Input {
        p: p.clone(),
        input,
        refusals,
    });
    http_server::serve(listener, limits, handler, tls).await;
    sub(&p.stats().inputs_active, 1);
}

/// The input's handler on one shard.
struct Input<P> {
    p: Rc<P>,
    input: Rc<HttpInput>,
    refusals: RefusalLog,
}

impl<P: Intake + 'static> Handler for Input<P> {
    fn handle(
        self: Rc<Self>,
        req: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> BoxedLocal<Response<Body>> {
        Box::pin(async move { self.answer(req, peer).await })
    }

    fn rejected(&self, reason: Reject) {
        add(&self.p.stats().http_rejected[reason as usize], 1);
        if matches!(reason, Reject::HeadTooLarge | Reject::BadRequest) {
            // hyper answered it (431 / 400).
            add(&self.p.stats().http_requests, 1);
        }
    }

    fn stopping(&self) -> bool {
        self.p.stopping()
    }

    fn connection(&self, open: bool) {
        if open {
            add(&self.p.stats().inputs_active, 1);
        } else {
            sub(&self.p.stats().inputs_active, 1);
        }
    }

    fn tls_handshake(&self, peer: Option<SocketAddr>, outcome: Result<(), (TlsFailure, &str)>) {
        let listener = TlsListener::HttpInput as usize;
        match outcome {
            Ok(()) => add(&self.p.stats().tls_handshakes[listener], 1),
            Err((reason, detail)) => {
                add(
                    &self.p.stats().tls_handshake_failures[listener][reason as usize],
                    1,
                );
                self.refusals
                    .refused(Some(self.p.shard()), peer, reason, detail);
            }
        }
    }
}

/// Equal without an early exit on the first differing byte.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// What a request's head says that the input uses.
#[derive(Debug, Default)]
struct Head {
    encoding: Option<String>,
    firehose_key: Option<String>,
    firehose_request_id: Option<String>,
}

impl Head {
    fn of(req: &Request<Incoming>) -> Self {
        let get = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        Self {
            encoding: get("content-encoding").map(|e| e.to_ascii_lowercase()),
            firehose_key: get("x-amz-firehose-access-key"),
            firehose_request_id: get("x-amz-firehose-request-id"),
        }
    }
}

/// Check a request's method and head before its body is read: the route, or why it is
/// refused (the body is then left unread and the connection closed).
fn check_head(
    method: &Method,
    path: &str,
    head: &Head,
    input: &HttpInput,
) -> Result<Route, Rejection> {
    let route = Route::from_path(path).ok_or_else(|| {
        Rejection::new(
            404,
            format!(
                "no endpoint `{path}`: POST to /firehose, /pubsub, /cloudtrail, /azure or /windows"
            ),
        )
    })?;
    if method != Method::POST {
        return Err(Rejection::new(405, format!("{method} is not POST")));
    }
    match head.encoding.as_deref() {
        None | Some("identity") | Some("gzip") | Some("x-gzip") => {}
        Some(other) => {
            return Err(Rejection::new(
                415,
                format!("Content-Encoding `{other}` is not supported (gzip is)"),
            ))
        }
    }
    if route == Route::Firehose {
        if let Some(want) = &input.firehose_access_key {
            match &head.firehose_key {
                Some(got) if same_key(got, want) => {}
                Some(_) => return Err(Rejection::new(401, "wrong X-Amz-Firehose-Access-Key")),
                None => return Err(Rejection::new(401, "no X-Amz-Firehose-Access-Key")),
            }
        }
    }
    Ok(route)
}

fn unix_millis_now() -> u64 {
    (unix_micros_now() / 1000).max(0) as u64
}

/// The response body of `route` for a request of `request_id` (Firehose's), given how many
/// records were accepted or why not.
fn response_body(
    route: Option<Route>,
    request_id: &str,
    accepted: usize,
    error: Option<&str>,
) -> String {
    match route {
        Some(Route::Firehose) => {
            http_routes::firehose_response(request_id, unix_millis_now(), error)
        }
        _ => http_routes::plain_response(accepted, error),
    }
}

impl<P: Intake + 'static> Input<P> {
    /// Answer one request, counting it (and, unless it is a 200, why it was refused).
    async fn answer(&self, req: Request<Incoming>, peer: Option<SocketAddr>) -> Response<Body> {
        let p = &self.p;
        let path = req.uri().path().to_string();
        let route = Route::from_path(&path);
        let head = Head::of(&req);
        let header_id = head.firehose_request_id.clone().unwrap_or_default();
        let outcome = match check_head(req.method(), &path, &head, &self.input) {
            // Refused from the head: the body stays unread, so the connection closes.
            Err(r) => Err((r, true)),
            Ok(route) => match read_body(req.into_body(), self.input.body_bytes_max).await {
                Err(e @ BodyError::TooLarge(_)) => Err((
                    Rejection::new(
                        413,
                        format!(
                            "{e}, over body_bytes_max ({} bytes)",
                            self.input.body_bytes_max
                        ),
                    ),
                    true,
                )),
                Err(e @ BodyError::Broken) => Err((Rejection::new(400, e.to_string()), true)),
                // Paused: the body was read (so the connection stays usable) and is dropped.
                Ok(_) if self.input.paused.is_paused() => Err((
                    Rejection::new(
                        503,
                        "the input is paused: nothing of this request was accepted; retry later",
                    )
                    .counted_as(Reject::Paused),
                    false,
                )),
                Ok(body) => self
                    .accept(route, &body, head.encoding.as_deref(), peer)
                    .map_err(|r| (r, false)),
            },
        };
        add(&p.stats().http_requests, 1);
        let (status, body, close) = match outcome {
            Ok((n, body_id)) => {
                let id = head.firehose_request_id.or(body_id).unwrap_or_default();
                (200, response_body(route, &id, n, None), false)
            }
            Err((r, close)) => {
                tracing::debug!(shard = p.shard(), ?peer, status = r.status, reason = %r.reason, "http request refused");
                add(&p.stats().http_rejected[r.counted_as as usize], 1);
                if r.counted_as == Reject::NestingTooDeep {
                    add(&p.stats().nesting_too_deep, 1);
                }
                (
                    r.status,
                    response_body(route, &header_id, 0, Some(&r.reason)),
                    close,
                )
            }
        };
        let mut headers = Vec::new();
        if status == 503 {
            headers.push(("Retry-After", RETRY_AFTER_SECS));
        }
        if status == 405 {
            headers.push(("Allow", "POST"));
        }
        if close {
            headers.push(("Connection", "close"));
        }
        response(status, "application/json", &headers, body)
    }

    /// Decompress, validate and append one body, all or nothing: how many records went into
    /// the ring (and the body's Firehose `requestId`), or why none did.
    fn accept(
        &self,
        route: Route,
        body: &[u8],
        encoding: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Result<(usize, Option<String>), Rejection> {
        let p = &self.p;
        let limits = http_routes::Limits {
            body_bytes_max: self.input.body_bytes_max,
            record_bytes_max: self.input.record_bytes_max,
        };
        // Every decompression of this request takes from one budget.
        let mut budget = limits.body_bytes_max;
        let unzipped;
        let body = if matches!(encoding, Some("gzip") | Some("x-gzip")) {
            unzipped = http_routes::gunzip_bounded(body, &mut budget, "the body")?;
            &unzipped[..]
        } else {
            body
        };
        let (mut records, request_id) = http_routes::records(route, body, limits, &mut budget)?;
        let in_body = records.len();
        if p.http_windows_filter().is_active() {
            records.retain(|(kind, raw)| {
                *kind != RecordKind::Windows || p.http_windows_filter().keep(raw)
            });
            add(&p.stats().filtered, (in_body - records.len()) as u64);
        }
        let meta = ReceiveMeta {
            received_unix_micros: unix_micros_now(),
            peer,
        };
        p.ingest_all(&records, &meta, Transport::Http)
            .map_err(|_| {
                Rejection::new(
                    503,
                    "the buffer is full: nothing of this request was accepted; retry later",
                )
                .counted_as(Reject::BufferFull)
            })?;
        add(&p.stats().http_records_accepted, in_body as u64);
        Ok((in_body, request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(key: Option<&str>) -> HttpInput {
        HttpInput {
            body_bytes_max: 1000,
            record_bytes_max: 100,
            connections_max: 4,
            request_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            firehose_access_key: key.map(str::to_string),
            paused: PauseFlag::default(),
            tls: None,
        }
    }

    #[test]
    fn heads_are_checked_before_the_body() {
        let i = input(Some("secret"));
        let head = |encoding: Option<&str>, key: Option<&str>| Head {
            encoding: encoding.map(str::to_string),
            firehose_key: key.map(str::to_string),
            firehose_request_id: None,
        };
        let status = |method: Method, path: &str, h: Head| {
            check_head(&method, path, &h, &i).err().map(|r| r.status)
        };
        assert_eq!(
            status(Method::POST, "/firehose", head(None, Some("secret"))),
            None
        );
        assert_eq!(
            status(Method::POST, "/firehose", head(None, Some("nope"))),
            Some(401)
        );
        assert_eq!(
            status(Method::POST, "/firehose", head(None, None)),
            Some(401)
        );
        assert_eq!(
            status(Method::POST, "/nowhere", head(None, None)),
            Some(404)
        );
        assert_eq!(
            status(Method::POST, "/pubsub/", head(None, None)),
            Some(404)
        );
        assert_eq!(status(Method::GET, "/pubsub", head(None, None)), Some(405));
        let lower = Method::from_bytes(b"post").unwrap();
        assert_eq!(status(lower, "/pubsub", head(None, None)), Some(405));
        assert_eq!(
            status(Method::POST, "/azure", head(Some("br"), None)),
            Some(415)
        );
        assert_eq!(
            status(Method::POST, "/azure", head(Some("gzip"), None)),
            None
        );
        let open = input(None);
        assert!(check_head(&Method::POST, "/firehose", &head(None, None), &open).is_ok());
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("abc", "abc"));
        assert!(!same_key("abc", "abd"));
        assert!(!same_key("abc", "abcd"));
    }
}
