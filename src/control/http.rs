//! The control plane's HTTP server: `/metrics` (Prometheus text), `/health` (JSON: every
//! shard alive, Kafka reachable; 200 when healthy, else 503), both open to anyone who can
//! reach the address, and the control API under `/api/v1` ([`crate::control::api`]; a bearer
//! token when one is configured).
//!
//! Served by [`crate::http_server`] on one glommio executor on its own thread (not a shard's
//! core): one task per connection, so a client that stalls, trickles or never reads holds
//! only its own connection until a deadline closes it, and `/health` keeps answering. Limits:
//! `[http] connections_max` connections (past it the idlest is closed), headers
//! [`HEAD_BYTES_MAX`], bodies [`crate::control::api::REQUEST_BODY_BYTES_MAX`] (chunked too),
//! whole requests within `request_timeout_ms`, connections idle at most `idle_timeout_ms`.
//! Paths and methods are exact (`/metrics`, not `/metrics/`; `GET`, not `get`): 404, or 405
//! with `Allow`. Requests refused are counted by reason
//! (`linerate_control_http_requests_rejected_total`).
//!
//! HTTPS when `[http] tls_cert_file` is set, with the HTTP input's certificate handling
//! ([`crate::tls`]: reload on SIGHUP or changed files, optional mutual TLS): the listener then
//! serves TLS only; a plaintext or refused client is closed unanswered and counted
//! (`linerate_tls_handshake_failures_total{listener="control"}`), its refusal logged at most
//! every [`crate::tls::handshake::REFUSAL_LOG_INTERVAL`].

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::BoxedLocal;
use glommio::{LocalExecutorBuilder, Placement};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::config::HttpConfig;
use crate::control::aggregator::SharedState;
use crate::control::api::{self, Api, REQUEST_BODY_BYTES_MAX};
use crate::control::metrics::ControlTls;
use crate::http_server::{
    self, read_body, response, Body, BodyError, Handler, Limits, Reject, Tls, WhenFull,
    REJECT_COUNT,
};
use crate::tls::failure::{TlsFailure, TlsListener, TLS_FAILURE_COUNT};
use crate::tls::handshake::RefusalLog;

/// Largest request line plus headers, bytes.
pub const HEAD_BYTES_MAX: usize = 8 << 10;
/// io_uring buffer memory of the control executor (locked memory), bytes.
pub const IO_MEMORY_BYTES: usize = crate::config::IO_MEMORY_BYTES_MIN;

/// The limits the control API is served with under `cfg`.
pub fn limits(cfg: &HttpConfig) -> Limits {
    Limits {
        head_bytes_max: HEAD_BYTES_MAX,
        body_bytes_max: REQUEST_BODY_BYTES_MAX,
        request_timeout: Duration::from_millis(cfg.request_timeout_ms),
        idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
        connections_max: cfg.connections_max,
        when_full: WhenFull::EvictIdlest,
    }
}

/// Bind `cfg.listen` and serve on a background thread, over TLS only when `tls` is given
/// (loaded from `cfg.tls` by the caller). Binding errors (and a failure to start the
/// executor) are returned at once.
pub fn spawn(
    cfg: &HttpConfig,
    state: SharedState,
    api: Api,
    tls: Option<Tls>,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(&cfg.listen)?;
    let limits = limits(cfg);
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("control-http")
        .io_memory(IO_MEMORY_BYTES)
        .spawn(move || async move {
            // SAFETY: the fd comes from a listener we own and hand over whole.
            let listener = unsafe {
                <glommio::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(
                    listener.into_raw_fd(),
                )
            };
            let _ = ready_tx.send(());
            let control = Rc::new(Control {
                state,
                api,
                rejected: Default::default(),
                https: tls.is_some(),
                tls_handshakes: Cell::new(0),
                tls_failures: Default::default(),
                refusals: RefusalLog::new(TlsListener::Control),
            });
            http_server::serve(listener, limits, control, tls).await;
        })?;
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| std::io::Error::other("the control HTTP executor did not start"))?;
    Ok(local)
}

/// The control API's handler, its rejection counters and its TLS handshake counters.
struct Control {
    state: SharedState,
    api: Api,
    rejected: [Cell<u64>; REJECT_COUNT],
    /// Served over TLS (`[http] tls_cert_file`).
    https: bool,
    tls_handshakes: Cell<u64>,
    tls_failures: [Cell<u64>; TLS_FAILURE_COUNT],
    refusals: RefusalLog,
}

impl Handler for Control {
    fn handle(
        self: Rc<Self>,
        req: Request<Incoming>,
        _peer: Option<SocketAddr>,
    ) -> BoxedLocal<Response<Body>> {
        Box::pin(async move {
            let (status, content_type, headers, body) = self.answer(req).await;
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            response(status, content_type, &headers, body)
        })
    }

    fn rejected(&self, reason: Reject) {
        let c = &self.rejected[reason as usize];
        c.set(c.get() + 1);
    }

    fn tls_handshake(&self, peer: Option<SocketAddr>, outcome: Result<(), (TlsFailure, &str)>) {
        let counter = match outcome {
            Ok(()) => &self.tls_handshakes,
            Err((reason, detail)) => {
                self.refusals.refused(None, peer, reason, detail);
                &self.tls_failures[reason as usize]
            }
        };
        counter.set(counter.get() + 1);
    }
}

/// Status, content type, extra headers and body of an answer.
type Answer = (u16, &'static str, Vec<(&'static str, String)>, String);

impl Control {
    async fn answer(&self, req: Request<Incoming>) -> Answer {
        let path = req.uri().path().to_string();
        let method = req.method().as_str().to_string();
        let header = |name: hyper::header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let authorization = header(hyper::header::AUTHORIZATION);
        let content_type = header(hyper::header::CONTENT_TYPE);
        let origin = header(hyper::header::ORIGIN);
        let host = header(hyper::header::HOST);
        // Every body is read (so a keep-alive connection stays usable), none is used.
        let body_bytes = match read_body(req.into_body(), REQUEST_BODY_BYTES_MAX).await {
            Ok(b) => b.len(),
            Err(BodyError::TooLarge(_)) => REQUEST_BODY_BYTES_MAX + 1,
            Err(BodyError::Broken) => {
                self.rejected(Reject::BadRequest);
                return json_answer(api::Reply::error(400, "the body could not be read"));
            }
        };
        if api::is_api_path(&path) {
            let reply = api::handle(
                &self.api,
                &self.state,
                &api::Request {
                    method: &method,
                    path: &path,
                    authorization: authorization.as_deref(),
                    body_bytes: Some(body_bytes),
                    content_type: content_type.as_deref(),
                    origin: origin.as_deref(),
                    host: host.as_deref(),
                },
            );
            if let Some(reason) = reject_of(reply.status) {
                self.rejected(reason);
            }
            let mut answer = json_answer(reply);
            if body_bytes > REQUEST_BODY_BYTES_MAX {
                // The rest of the body is unread: the connection cannot be reused.
                answer.2.push(("Connection", "close".into()));
            }
            return answer;
        }
        let (status, content_type, body, allow) = route(&method, &path, self);
        if let Some(reason) = reject_of(status) {
            self.rejected(reason);
        }
        let headers = allow
            .map(|a| vec![("Allow", a.to_string())])
            .unwrap_or_default();
        (status, content_type, headers, body)
    }
}

/// The counter a refusal status goes to (`None`: not a refusal).
fn reject_of(status: u16) -> Option<Reject> {
    Some(match status {
        400 => Reject::BadRequest,
        401 => Reject::Unauthorized,
        403 => Reject::Forbidden,
        404 => Reject::NotFound,
        405 => Reject::MethodNotAllowed,
        413 => Reject::BodyTooLarge,
        415 => Reject::UnsupportedMediaType,
        _ => return None,
    })
}

fn json_answer(reply: api::Reply) -> Answer {
    let body = serde_json::to_string_pretty(&reply.body).unwrap_or_default() + "\n";
    (reply.status, "application/json", reply.headers, body)
}

/// `/metrics` and `/health`: status, content type, body and the `Allow` of a 405.
fn route(
    method: &str,
    path: &str,
    control: &Control,
) -> (u16, &'static str, String, Option<&'static str>) {
    if !matches!(path, "/metrics" | "/health") {
        return (
            404,
            "text/plain",
            "not found: try /metrics, /health or /api/v1/shards\n".into(),
            None,
        );
    }
    if method != "GET" {
        return (
            405,
            "text/plain",
            format!("{method} not allowed on {path}; use GET\n"),
            Some("GET"),
        );
    }
    let Ok(st) = control.state.lock() else {
        return (500, "text/plain", "state unavailable\n".into(), None);
    };
    if path == "/metrics" {
        let tls = ControlTls {
            enabled: control.https,
            handshakes: control.tls_handshakes.get(),
            failures: std::array::from_fn(|i| control.tls_failures[i].get()),
        };
        let mut text = crate::control::metrics::render(&st, control.api.inputs(), &tls);
        let counts: Vec<u64> = control.rejected.iter().map(Cell::get).collect();
        crate::control::metrics::render_control_http(&mut text, &counts);
        return (200, "text/plain; version=0.0.4", text, None);
    }
    let (healthy, body) = st.health(Instant::now());
    (
        if healthy { 200 } else { 503 },
        "application/json",
        format!("{body}\n"),
        None,
    )
}
