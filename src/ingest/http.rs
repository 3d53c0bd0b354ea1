//! A shard's HTTP input: accepts on its own SO_REUSEPORT listener and serves each
//! connection on this shard, HTTP/1.1 with keep-alive (parsed by `httparse`), the endpoints
//! of [`crate::ingest::http_routes`].
//!
//! Guarantees:
//! - All or nothing: a body is decoded and validated whole before anything is appended;
//!   then every record goes into the ring in one step, or none does. A success status is
//!   sent only after every record is in the ring (so it is sent to Kafka, resent until
//!   acknowledged, and survives a restart like any buffered event).
//! - A body not accepted gets a 4xx with the reason (400 bad JSON or base64, 401 wrong
//!   Firehose key, 404, 405, 411 no `Content-Length` or a chunked body, 413 over
//!   `body_bytes_max` or a record over `message_bytes_max`, 415 an unknown
//!   `Content-Encoding`, 431 headers over 16 KiB); a full ring, or the input paused through
//!   the control API (the flag is read once per request), gets a 503 with `Retry-After` (the
//!   sender retries): never a partial accept.
//! - Bounds: `connections_max` open connections per shard (further ones are closed at
//!   once), one body of at most `body_bytes_max` bytes per connection (also after gzip
//!   decompression), headers at most [`HEAD_BYTES_MAX`]. A connection idle for
//!   [`IDLE_TIMEOUT`] is closed.
//!
//! Bodies need `Content-Length`: chunked transfer coding is refused with 411 (Firehose and
//! Pub/Sub send a length). `Content-Encoding: gzip` is decompressed. After a refusal that
//! leaves the body unread the connection is closed (`Connection: close`).

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::buffer::frame::RecordKind;
use crate::control::inputs::PauseFlag;
use crate::ingest::http_routes::{self, Limits, Rejection, Route};
use crate::normalize::{unix_micros_now, ReceiveMeta};
use crate::shard::pipeline::Pipeline;
use crate::shard::stats::{add, sub, Transport};

/// How often an idle connection or listener checks for shutdown.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request line and headers, bytes.
pub const HEAD_BYTES_MAX: usize = 16 << 10;
/// Most headers in a request.
const HEADERS_MAX: usize = 64;
/// Bytes read from the socket per call.
const READ_CHUNK_BYTES: usize = 64 << 10;
/// Seconds a 503 (full ring, paused input) asks the sender to wait before retrying.
const RETRY_AFTER_SECS: u32 = 1;

/// The HTTP input's settings, fixed at start and shared by a shard's connections.
#[derive(Debug, Clone)]
pub struct HttpInput {
    /// Largest body, bytes, as sent and after gzip decompression.
    pub body_bytes_max: usize,
    /// Largest record, bytes (`message_bytes_max`).
    pub record_bytes_max: usize,
    /// Open connections per shard.
    pub connections_max: usize,
    /// The key `POST /firehose` must carry in `X-Amz-Firehose-Access-Key`; `None`: not
    /// checked.
    pub firehose_access_key: Option<String>,
    /// Set while the input is paused through the control API: requests get a 503.
    pub paused: PauseFlag,
}

/// Accept connections until shutdown; each is served by a task on this shard.
pub async fn serve(p: Rc<Pipeline>, listener: TcpListener, input: Rc<HttpInput>) {
    add(&p.stats.inputs_active, 1);
    let open = Rc::new(Cell::new(0usize));
    while !p.stopping() {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            glommio::timer::sleep(IDLE_CHECK).await;
            None
        })
        .await;
        match accepted {
            None => {}
            Some(Ok(_stream)) if p.stopping() => break,
            Some(Ok(stream)) => {
                if open.get() >= input.connections_max {
                    tracing::debug!(shard = p.shard, "http: connections_max reached; closed");
                    continue; // dropping the stream closes it
                }
                open.set(open.get() + 1);
                let (p, input, open) = (p.clone(), input.clone(), open.clone());
                glommio::spawn_local(async move {
                    add(&p.stats.inputs_active, 1);
                    serve_connection(&p, stream, &input).await;
                    sub(&p.stats.inputs_active, 1);
                    open.set(open.get() - 1);
                })
                .detach();
            }
            Some(Err(e)) => {
                tracing::warn!(shard = p.shard, error = %e, "http accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    sub(&p.stats.inputs_active, 1);
}

/// What a request's head says (only what the input uses).
#[derive(Debug, Default)]
struct Head {
    len: usize,
    method: String,
    target: String,
    http11: bool,
    content_length: Option<usize>,
    chunked: bool,
    encoding: Option<String>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    firehose_key: Option<String>,
    firehose_request_id: Option<String>,
}

impl Head {
    /// Whether the connection stays open after this request's response.
    fn persistent(&self) -> bool {
        if self.http11 {
            !self.close
        } else {
            self.keep_alive
        }
    }
}

/// Parse a request head from the start of `buf`: `Ok(None)` when it is not complete yet.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > HEAD_BYTES_MAX => {
            return Err(Rejection::new(
                431,
                format!("request line and headers over {HEAD_BYTES_MAX} bytes"),
            ))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Rejection::new(400, format!("not an HTTP request: {e}"))),
    };
    if len > HEAD_BYTES_MAX {
        return Err(Rejection::new(
            431,
            format!("request line and headers over {HEAD_BYTES_MAX} bytes"),
        ));
    }
    let mut head = Head {
        len,
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        http11: req.version == Some(1),
        ..Head::default()
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| Rejection::new(400, format!("bad Content-Length `{value}`")))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(Rejection::new(400, "conflicting Content-Length headers"));
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = true;
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.encoding = Some(value.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("x-amz-firehose-access-key") {
            head.firehose_key = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("x-amz-firehose-request-id") {
            head.firehose_request_id = Some(value.to_string());
        }
    }
    Ok(Some(head))
}

/// Equal without an early exit on the first differing byte.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Check a complete head against the route and limits before the body is read: the route,
/// or why the request is refused (the body is then left unread and the connection closed).
fn check_head(head: &Head, input: &HttpInput) -> Result<Route, Rejection> {
    let route = Route::from_target(&head.target).ok_or_else(|| {
        Rejection::new(
            404,
            format!(
                "no endpoint `{}`: POST to /firehose, /pubsub, /cloudtrail or /azure",
                head.target
            ),
        )
    })?;
    if head.method != "POST" {
        return Err(Rejection::new(405, format!("{} is not POST", head.method)));
    }
    if head.chunked {
        return Err(Rejection::new(
            411,
            "chunked bodies are not supported: send Content-Length",
        ));
    }
    let Some(len) = head.content_length else {
        return Err(Rejection::new(411, "Content-Length is required"));
    };
    if len > input.body_bytes_max {
        return Err(Rejection::new(
            413,
            format!(
                "the body is {len} bytes, over body_bytes_max ({} bytes)",
                input.body_bytes_max
            ),
        ));
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

/// What reading more bytes gave.
enum Read {
    Data,
    /// End of stream, shutdown, idle timeout or a socket error: close.
    Closed,
}

/// Read more bytes into `buf`, waiting (checking shutdown) up to [`IDLE_TIMEOUT`].
async fn read_more(p: &Pipeline, stream: &mut TcpStream, buf: &mut Vec<u8>) -> Read {
    let start = Instant::now();
    let filled = buf.len();
    // Read straight into `buf` (no chunk array held in every connection's future).
    buf.resize(filled + READ_CHUNK_BYTES, 0);
    let read = loop {
        if p.stopping() || start.elapsed() > IDLE_TIMEOUT {
            break Read::Closed;
        }
        match stream.read(&mut buf[filled..]).await {
            Ok(0) => break Read::Closed,
            Ok(n) => {
                buf.truncate(filled + n);
                return Read::Data;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::debug!(shard = p.shard, error = %e, "http read failed");
                break Read::Closed;
            }
        }
    };
    buf.truncate(filled);
    read
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Write one response; `false` when the connection is gone.
async fn respond(stream: &mut TcpStream, status: u16, body: &str, close: bool) -> bool {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        reason_phrase(status),
        body.len()
    );
    if status == 503 {
        head.push_str(&format!("Retry-After: {RETRY_AFTER_SECS}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes()).await.is_ok() && stream.flush().await.is_ok()
}

/// [`respond`], counting the request (and, unless it is a 200, as rejected).
async fn answer(
    p: &Pipeline,
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    close: bool,
) -> bool {
    add(&p.stats.http_requests, 1);
    if status != 200 {
        add(&p.stats.http_requests_rejected, 1);
    }
    respond(stream, status, body, close).await
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

async fn serve_connection(p: &Pipeline, mut stream: TcpStream, input: &HttpInput) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_read_timeout(Some(IDLE_CHECK));
    let limits = Limits {
        body_bytes_max: input.body_bytes_max,
        record_bytes_max: input.record_bytes_max,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    loop {
        // The head.
        let head = loop {
            match parse_head(&buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {}
                Err(r) => {
                    let body = http_routes::plain_response(0, Some(&r.reason));
                    answer(p, &mut stream, r.status, &body, true).await;
                    return;
                }
            }
            if let Read::Closed = read_more(p, &mut stream, &mut buf).await {
                return;
            }
        };
        let route = Route::from_target(&head.target);
        let header_id = head.firehose_request_id.clone().unwrap_or_default();
        let route = match check_head(&head, input) {
            Ok(r) => r,
            Err(r) => {
                tracing::debug!(shard = p.shard, ?peer, status = r.status, reason = %r.reason, "http request refused");
                let body = response_body(route, &header_id, 0, Some(&r.reason));
                answer(p, &mut stream, r.status, &body, true).await;
                return;
            }
        };
        let body_len = head.content_length.unwrap_or(0);
        let wants_continue = head.expect_continue && buf.len() < head.len + body_len;
        if wants_continue
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        // The body.
        while buf.len() < head.len + body_len {
            if let Read::Closed = read_more(p, &mut stream, &mut buf).await {
                return;
            }
        }
        let body: Vec<u8> = buf.drain(..head.len + body_len).skip(head.len).collect();
        let persistent = head.persistent();
        // Paused: the body was read (so the connection stays usable) and is dropped whole.
        let outcome = if input.paused.is_paused() {
            Err(Rejection::new(
                503,
                "the input is paused: nothing of this request was accepted; retry later",
            ))
        } else {
            accept(p, route, &body, head.encoding.as_deref(), limits, peer)
        };
        let (status, body) = match outcome {
            Ok((n, body_id)) => {
                let id = head.firehose_request_id.or(body_id).unwrap_or_default();
                (200, response_body(Some(route), &id, n, None))
            }
            Err(r) => {
                tracing::debug!(shard = p.shard, ?peer, status = r.status, reason = %r.reason, "http body refused");
                (
                    r.status,
                    response_body(Some(route), &header_id, 0, Some(&r.reason)),
                )
            }
        };
        if !answer(p, &mut stream, status, &body, !persistent).await || !persistent {
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Decompress, validate and append one body, all or nothing: how many records went into
/// the ring (and the body's Firehose `requestId`), or why none did.
fn accept(
    p: &Pipeline,
    route: Route,
    body: &[u8],
    encoding: Option<&str>,
    limits: Limits,
    peer: Option<std::net::SocketAddr>,
) -> Result<(usize, Option<String>), Rejection> {
    let unzipped;
    let body = if matches!(encoding, Some("gzip") | Some("x-gzip")) {
        unzipped = http_routes::gunzip_bounded(body, limits.body_bytes_max, "the body")?;
        &unzipped[..]
    } else {
        body
    };
    let (mut records, request_id) = http_routes::records(route, body, limits)?;
    let in_body = records.len();
    if p.http_windows_filter.is_active() {
        records
            .retain(|(kind, raw)| *kind != RecordKind::Windows || p.http_windows_filter.keep(raw));
        add(&p.stats.filtered, (in_body - records.len()) as u64);
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
        })?;
    add(&p.stats.http_records_accepted, in_body as u64);
    Ok((in_body, request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(key: Option<&str>) -> HttpInput {
        HttpInput {
            body_bytes_max: 1000,
            record_bytes_max: 100,
            connections_max: 4,
            firehose_access_key: key.map(str::to_string),
            paused: PauseFlag::default(),
        }
    }

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn heads_parse_incrementally_and_keep_alive_follows_the_version() {
        let full = "POST /firehose HTTP/1.1\r\nContent-Length: 5\r\nX-Amz-Firehose-Access-Key: k\r\n\r\nhello";
        assert!(parse_head(&full.as_bytes()[..20]).unwrap().is_none());
        let h = head(full);
        assert_eq!(h.len, full.len() - 5);
        assert_eq!(
            (h.content_length, h.firehose_key.as_deref()),
            (Some(5), Some("k"))
        );
        assert!(h.persistent());
        assert!(!head("POST /a HTTP/1.1\r\nConnection: close\r\n\r\n").persistent());
        assert!(!head("POST /a HTTP/1.0\r\n\r\n").persistent());
        assert!(head("POST /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").persistent());
        assert_eq!(
            parse_head(b"\x01\x02 nonsense\r\n\r\n").unwrap_err().status,
            400
        );
        let huge = format!("POST / HTTP/1.1\r\nX: {}", "a".repeat(HEAD_BYTES_MAX));
        assert_eq!(parse_head(huge.as_bytes()).unwrap_err().status, 431);
    }

    #[test]
    fn heads_are_checked_before_the_body() {
        let i = input(Some("secret"));
        let status = |text: &str| check_head(&head(text), &i).err().map(|r| r.status);
        assert_eq!(status("POST /firehose HTTP/1.1\r\nContent-Length: 1\r\nX-Amz-Firehose-Access-Key: secret\r\n\r\n"), None);
        assert_eq!(status("POST /firehose HTTP/1.1\r\nContent-Length: 1\r\nX-Amz-Firehose-Access-Key: nope\r\n\r\n"), Some(401));
        assert_eq!(
            status("POST /firehose HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
            Some(401)
        );
        assert_eq!(
            status("POST /nowhere HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
            Some(404)
        );
        assert_eq!(status("GET /pubsub HTTP/1.1\r\n\r\n"), Some(405));
        assert_eq!(
            status("POST /pubsub HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(411)
        );
        assert_eq!(status("POST /pubsub HTTP/1.1\r\n\r\n"), Some(411));
        assert_eq!(
            status("POST /pubsub HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            status("POST /azure HTTP/1.1\r\nContent-Length: 1\r\nContent-Encoding: br\r\n\r\n"),
            Some(415)
        );
        assert_eq!(
            status("POST /azure HTTP/1.1\r\nContent-Length: 1\r\nContent-Encoding: gzip\r\n\r\n"),
            None
        );
        let open = input(None);
        assert!(check_head(
            &head("POST /firehose HTTP/1.1\r\nContent-Length: 1\r\n\r\n"),
            &open
        )
        .is_ok());
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("abc", "abc"));
        assert!(!same_key("abc", "abd"));
        assert!(!same_key("abc", "abcd"));
    }
}
