//! The REST control API under `/api/v1` (JSON): shards and their counters, inputs and their
//! pause switches, the effective configuration with secrets redacted.
//!
//! Pure request → reply: the HTTP server ([`crate::control::http`]) does the socket work, so
//! every route is tested here without one. Errors are `{"error": "..."}` with a 4xx status.
//! When a token is configured every request needs `Authorization: Bearer TOKEN` (compared in
//! constant time), checked before routing, so unknown paths answer 401 too.
//!
//! Routing is exact: no trailing `/`, no empty segments, methods as registered (`POST`, not
//! `post`); otherwise 404, or 405 with `Allow`. Mutating requests (`POST`) must say
//! `Content-Type: application/json` (415 otherwise), which a browser cannot send cross-site
//! without a CORS preflight this server never grants, and one carrying an `Origin` other
//! than its own `Host` is refused with 403: a web page cannot pause an input.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::control::aggregator::{SharedState, State};
use crate::control::inputs::{Input, InputKind, InputState, Inputs};
use crate::event::{Transport, TRANSPORT_NAMES};
use crate::http_server::REJECT_NAMES;
use crate::stats::{DropReason, ShardSnapshot, DROP_REASON_NAMES};
use crate::tls::failure::{TlsListener, TLS_FAILURE_NAMES};

/// Path prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// Largest request body accepted, bytes (no route reads one; larger ones get 413).
pub const REQUEST_BODY_BYTES_MAX: usize = 4096;

/// What the API serves besides the aggregator's state. `Debug` leaves the token out.
pub struct Api {
    inputs: Arc<Inputs>,
    /// The effective configuration, already redacted.
    config: Value,
    token: Option<String>,
    /// The CPU of each shard, by shard index.
    cores: Vec<usize>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("inputs", &self.inputs)
            .field("token_required", &self.token.is_some())
            .field("cores", &self.cores)
            .finish()
    }
}

impl Api {
    /// An API over `inputs`, serving `config` (pass [`crate::config::Config::to_redacted_json`])
    /// and requiring `token` when one is given.
    pub fn new(
        inputs: Arc<Inputs>,
        config: Value,
        token: Option<String>,
        cores: Vec<usize>,
    ) -> Self {
        Self {
            inputs,
            config,
            token,
            cores,
        }
    }

    /// The input registry (for the metrics).
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }
}

/// One API request, as much of it as the routes need.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, as sent (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The URL path, without the query string.
    pub path: &'a str,
    /// The `Authorization` header, if sent.
    pub authorization: Option<&'a str>,
    /// The body length (as read, or declared), if any.
    pub body_bytes: Option<usize>,
    /// The `Content-Type` header, if sent.
    pub content_type: Option<&'a str>,
    /// The `Origin` header, if sent (browsers send it on cross-site requests).
    pub origin: Option<&'a str>,
    /// The `Host` header, if sent.
    pub host: Option<&'a str>,
}

/// The API's answer: a status, extra headers and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status: 200, or the 4xx/5xx of an error.
    pub status: u16,
    /// Headers beside `Content-Type` (`Allow` on 405, `WWW-Authenticate` on 401).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON answer; `{"error": "..."}` for errors.
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }

    /// A `{"error": message}` reply with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: json!({ "error": message.into() }),
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Whether `path` belongs to the API.
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answer one request. Pausing and resuming change the input's flag at once; the shards'
/// input tasks see it at their next read (TCP), batch (UDP), file step (EVTX) or request
/// (HTTP).
pub fn handle(api: &Api, state: &SharedState, req: &Request) -> Reply {
    if let Some(expected) = &api.token {
        if !authorized(expected, req.authorization) {
            return Reply::error(401, "missing or wrong bearer token")
                .with_header("WWW-Authenticate", "Bearer");
        }
    }
    if req.body_bytes.unwrap_or(0) > REQUEST_BODY_BYTES_MAX {
        return Reply::error(
            413,
            format!("request body over {REQUEST_BODY_BYTES_MAX} bytes"),
        );
    }
    let rest = req.path.strip_prefix(API_PREFIX).unwrap_or(req.path);
    // `/api/v1/shards` → ["shards"]; a trailing `/` or `//` leaves an empty segment: 404.
    let segments: Vec<&str> = match rest.strip_prefix('/') {
        Some(r) => r.split('/').collect(),
        None => vec![""],
    };
    let segments = if segments.contains(&"") {
        &[][..]
    } else {
        &segments[..]
    };
    match segments {
        ["shards"] => only(req, "GET", || with_state(state, |st| shards(api, st))),
        ["inputs"] => only(req, "GET", || {
            with_state(state, |st| {
                let list: Vec<Value> = api.inputs.iter().map(|i| input_json(i, st)).collect();
                Reply::ok(json!({ "inputs": list }))
            })
        }),
        ["inputs", name] => only(req, "GET", || match api.inputs.get(name) {
            Some(i) => with_state(state, |st| Reply::ok(input_json(i, st))),
            None => unknown_input(api, name),
        }),
        ["inputs", name, action @ ("pause" | "resume")] => only(req, "POST", || {
            if let Err(refused) = mutation_allowed(req) {
                return refused;
            }
            let paused = *action == "pause";
            match api.inputs.set_paused(name, paused) {
                Some(changed) => {
                    if changed {
                        tracing::info!(input = %name, "input {}d through the control API", action);
                    }
                    let input = api.inputs.get(name);
                    let state_now = input.map_or(InputState::Running, Input::state);
                    Reply::ok(json!({ "name": name, "state": state_now, "changed": changed }))
                }
                None => unknown_input(api, name),
            }
        }),
        ["config"] => only(req, "GET", || Reply::ok(api.config.clone())),
        _ => Reply::error(
            404,
            format!(
                "no such endpoint: {}; try {API_PREFIX}/shards, {API_PREFIX}/inputs, \
                 {API_PREFIX}/inputs/NAME/pause|resume, {API_PREFIX}/config",
                req.path
            ),
        ),
    }
}

/// Whether a mutating request may go ahead: a JSON content type (415 otherwise) and no
/// foreign `Origin` (403 otherwise).
fn mutation_allowed(req: &Request) -> Result<(), Reply> {
    let media = req
        .content_type
        .map(crate::http_server::media_type)
        .unwrap_or_default();
    if media != "application/json" {
        return Err(Reply::error(
            415,
            format!(
                "{} {} needs Content-Type: application/json",
                req.method, req.path
            ),
        ));
    }
    if let Some(origin) = req.origin {
        let origin_host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .trim_end_matches('/');
        if req.host != Some(origin_host) {
            return Err(Reply::error(
                403,
                format!("cross-origin request from `{origin}` refused"),
            ));
        }
    }
    Ok(())
}

/// Answer with `f` when the method is exactly `method`, else 405 with an `Allow` header.
fn only(req: &Request, method: &'static str, f: impl FnOnce() -> Reply) -> Reply {
    if req.method == method {
        f()
    } else {
        Reply::error(
            405,
            format!("{} not allowed on {}; use {method}", req.method, req.path),
        )
        .with_header("Allow", method)
    }
}

fn with_state(state: &SharedState, f: impl FnOnce(&State) -> Reply) -> Reply {
    match state.lock() {
        Ok(st) => f(&st),
        Err(_) => Reply::error(500, "state unavailable"),
    }
}

fn unknown_input(api: &Api, name: &str) -> Reply {
    let known: Vec<&str> = api.inputs.iter().map(|i| i.name.as_str()).collect();
    Reply::error(
        404,
        format!("no input `{name}`; enabled inputs: {}", known.join(", ")),
    )
}

/// Whether `header` is `Bearer <expected>` (scheme case-insensitive, token compared in
/// constant time for its length).
fn authorized(expected: &str, header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }) else {
        return false;
    };
    constant_time_eq(expected.as_bytes(), given.as_bytes())
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `GET /shards`: every shard, reported or not.
fn shards(api: &Api, st: &State) -> Reply {
    let now = Instant::now();
    let list: Vec<Value> = st
        .shards
        .iter()
        .enumerate()
        .map(|(i, latest)| {
            let alive = st.shard_alive(i, now);
            let state = match latest {
                None => "starting",
                Some((_, s)) if s.stopped => "stopped",
                Some(_) if alive => "alive",
                Some(_) => "stale",
            };
            json!({
                "id": i,
                "core": api.cores.get(i),
                "state": state,
                "alive": alive,
                "snapshot_age_ms": latest.as_ref().map(|(at, _)| now.duration_since(*at).as_millis() as u64),
                "counters": latest.as_ref().map(|(_, s)| counters_json(s, &st.topic_names)),
            })
        })
        .collect();
    Reply::ok(json!({
        "interval_ms": st.interval.as_millis() as u64,
        "shards": list,
    }))
}

/// A snapshot's counters with every array keyed by its label (transport, topic, reason).
fn counters_json(s: &ShardSnapshot, topics: &[String]) -> Value {
    let Ok(Value::Object(fields)) = serde_json::to_value(s) else {
        return Value::Null;
    };
    let keyed = |values: &[u64], names: &mut dyn Iterator<Item = &str>| -> Value {
        let mut out = Map::new();
        for (name, v) in names.zip(values) {
            if !name.is_empty() {
                out.insert(name.to_string(), (*v).into());
            }
        }
        Value::Object(out)
    };
    let mut m = Map::new();
    for (key, value) in fields {
        let value = match key.as_str() {
            "shard" | "core" | "stopped" => continue,
            "received" => keyed(&s.received, &mut TRANSPORT_NAMES.iter().copied()),
            "received_bytes" => keyed(&s.received_bytes, &mut TRANSPORT_NAMES.iter().copied()),
            "dropped" => keyed(&s.dropped, &mut DROP_REASON_NAMES.iter().copied()),
            "http_rejected" => keyed(&s.http_rejected, &mut REJECT_NAMES.iter().copied()),
            "produced" => keyed(&s.produced, &mut topics.iter().map(String::as_str)),
            "delivered" => keyed(&s.delivered, &mut topics.iter().map(String::as_str)),
            "delivery_failed" => keyed(&s.delivery_failed, &mut topics.iter().map(String::as_str)),
            _ => value,
        };
        m.insert(key, value);
    }
    Value::Object(m)
}

/// A TLS listener's handshakes and refusals by reason, summed over the shards.
fn tls_counters(st: &State, listener: TlsListener) -> Value {
    let l = listener as usize;
    let snaps = || st.shards.iter().flatten().map(|(_, s)| s);
    let mut failures = Map::new();
    for (i, reason) in TLS_FAILURE_NAMES.iter().enumerate() {
        let n: u64 = snaps().map(|s| s.tls_handshake_failures[l][i]).sum();
        failures.insert((*reason).into(), n.into());
    }
    json!({
        "tls_handshakes": snaps().map(|s| s.tls_handshakes[l]).sum::<u64>(),
        "tls_handshake_failures": failures,
    })
}

/// One input with its counters: a syslog or the HTTP input's summed over the shards' latest
/// snapshots, an EVTX input's from its shard's (shared by that shard's EVTX inputs when
/// there are more EVTX inputs than shards).
fn input_json(input: &Input, st: &State) -> Value {
    let snaps = || st.shards.iter().flatten().map(|(_, s)| s);
    let sum = |f: fn(&ShardSnapshot) -> u64| snaps().map(f).sum::<u64>();
    // What the input is and where (`setup`), then its counters.
    let (transport, setup, counters) = match &input.kind {
        InputKind::Syslog { transport, listen } => {
            let t = *transport as usize;
            let mut counters = json!({
                "received": snaps().map(|s| s.received[t]).sum::<u64>(),
                "received_bytes": snaps().map(|s| s.received_bytes[t]).sum::<u64>(),
            });
            match transport {
                Transport::Udp => {
                    // The drop reasons that only UDP has.
                    let mut dropped = Map::new();
                    for r in [
                        DropReason::Paused,
                        DropReason::BufferFull,
                        DropReason::UdpReceiveBufferFull,
                    ] {
                        let n: u64 = snaps().map(|s| s.dropped[r as usize]).sum();
                        dropped.insert(DROP_REASON_NAMES[r as usize].into(), n.into());
                    }
                    counters["dropped"] = Value::Object(dropped);
                }
                Transport::Tcp => {
                    counters["connections"] = json!({
                        "open": sum(|s| s.tcp_connections_open),
                        "accepted": sum(|s| s.tcp_connections_accepted),
                        "moved": sum(|s| s.tcp_connections_moved),
                        "rejected": sum(|s| s.tcp_connections_rejected),
                    });
                }
                // Not syslog transports: their inputs are the arms below.
                Transport::Evtx | Transport::Http => {}
            }
            (TRANSPORT_NAMES[t], json!({ "listen": listen }), counters)
        }
        InputKind::Evtx { dir, shard, .. } => {
            let snap = st.shards.get(*shard).and_then(Option::as_ref);
            let of = |f: fn(&ShardSnapshot) -> u64| snap.map_or(0, |(_, s)| f(s));
            let counters = json!({
                "files_watched": of(|s| s.evtx_files_watched),
                "records_read": of(|s| s.evtx_records_read),
                "corrupt_chunks": of(|s| s.evtx_corrupt_chunks),
                "corrupt_records": of(|s| s.evtx_corrupt_records),
            });
            let setup = json!({ "dir": dir.display().to_string(), "shard": shard });
            ("evtx", setup, counters)
        }
        InputKind::SyslogTls { listen, mutual } => {
            let counters = tls_counters(st, TlsListener::Syslog);
            (
                "tls",
                json!({ "listen": listen, "mutual_tls": mutual }),
                counters,
            )
        }
        InputKind::Http { listen, tls } => {
            let mut counters = json!({
                "requests": sum(|s| s.http_requests),
                "requests_rejected": sum(|s| s.http_rejected.iter().sum()),
                "records_accepted": sum(|s| s.http_records_accepted),
            });
            let mut setup = json!({ "listen": listen, "https": tls.is_some() });
            if let Some(mutual) = tls {
                setup["mutual_tls"] = (*mutual).into();
                if let (Value::Object(out), Value::Object(more)) =
                    (&mut counters, tls_counters(st, TlsListener::HttpInput))
                {
                    out.extend(more);
                }
            }
            ("http", setup, counters)
        }
    };
    let mut v = json!({ "name": input.name, "transport": transport });
    for part in [setup, json!({ "state": input.state() }), counters] {
        if let (Value::Object(out), Value::Object(fields)) = (&mut v, part) {
            out.extend(fields);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::control::inputs::{HTTP, SYSLOG_TCP, SYSLOG_UDP};
    use std::sync::Mutex;
    use std::time::Duration;

    fn setup(token: Option<&str>) -> (Api, SharedState) {
        let mut cfg = Config::default();
        cfg.kafka
            .properties
            .insert("sasl.password".into(), "pw".into());
        cfg.http_input.listen = "127.0.0.1:8088".into();
        cfg.evtx_input = ["/logs/dc1", "/logs/dc2"]
            .into_iter()
            .map(|d| crate::config::EvtxInputConfig {
                dir: d.into(),
                ..Default::default()
            })
            .collect();
        let inputs = Arc::new(Inputs::from_config(&cfg, 2));
        let api = Api::new(
            inputs,
            cfg.to_redacted_json(),
            token.map(str::to_string),
            vec![0, 1],
        );
        let mut st = State::new(
            2,
            ["logs.raw".into(), "logs.normalized".into(), String::new()],
            Duration::from_secs(1),
        );
        let mut snap = ShardSnapshot {
            shard: 1,
            core: 1,
            ..Default::default()
        };
        snap.received = [5, 7, 8, 9];
        snap.dropped[DropReason::Paused as usize] = 3;
        snap.tcp_connections_accepted = 2;
        snap.evtx_files_watched = 4;
        snap.evtx_records_read = 9;
        snap.http_requests = 6;
        snap.http_rejected[0] = 1;
        snap.http_records_accepted = 11;
        st.shards[1] = Some((Instant::now(), snap));
        (api, Arc::new(Mutex::new(st)))
    }

    fn req<'a>(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            authorization: None,
            body_bytes: None,
            content_type: (method == "POST").then_some("application/json"),
            origin: None,
            host: Some("127.0.0.1:9514"),
        }
    }

    #[test]
    fn lists_shards_with_state_and_keyed_counters() {
        let (api, st) = setup(None);
        let r = handle(&api, &st, &req("GET", "/api/v1/shards"));
        assert_eq!(r.status, 200, "{}", r.body);
        let shards = r.body["shards"].as_array().unwrap();
        assert_eq!(shards.len(), 2);
        assert_eq!(shards[0]["state"], "starting");
        assert_eq!(shards[0]["core"], 0);
        assert!(shards[0]["counters"].is_null());
        assert_eq!(shards[1]["state"], "alive");
        assert_eq!(shards[1]["alive"], true);
        assert_eq!(shards[1]["counters"]["received"]["tcp"], 7);
        assert_eq!(shards[1]["counters"]["received"]["evtx"], 8);
        assert_eq!(shards[1]["counters"]["received"]["http"], 9);
        assert_eq!(shards[1]["counters"]["dropped"]["paused"], 3);
        assert_eq!(shards[1]["counters"]["delivered"]["logs.normalized"], 0);
        assert!(shards[1]["snapshot_age_ms"].as_u64().is_some());
    }

    #[test]
    fn pauses_and_resumes_idempotently_and_lists_inputs() {
        let (api, st) = setup(None);
        let flags = api.inputs().flags();
        let r = handle(&api, &st, &req("POST", "/api/v1/inputs/syslog_tcp/pause"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"name": SYSLOG_TCP, "state": "paused", "changed": true})
        );
        assert!(flags.tcp.is_paused());
        let again = handle(&api, &st, &req("POST", "/api/v1/inputs/syslog_tcp/pause"));
        assert_eq!(again.body["changed"], false);
        let list = handle(&api, &st, &req("GET", "/api/v1/inputs"));
        let inputs = list.body["inputs"].as_array().unwrap();
        assert_eq!(inputs[0]["name"], SYSLOG_UDP);
        assert_eq!(inputs[0]["state"], "running");
        assert_eq!(inputs[0]["received"], 5);
        assert_eq!(inputs[0]["dropped"]["paused"], 3);
        assert_eq!(inputs[1]["state"], "paused");
        assert_eq!(inputs[1]["received"], 7);
        assert_eq!(inputs[1]["connections"]["accepted"], 2);
        let r = handle(&api, &st, &req("POST", "/api/v1/inputs/syslog_tcp/resume"));
        assert_eq!(r.body["state"], "running");
        assert!(!flags.tcp.is_paused());
        let one = handle(&api, &st, &req("GET", "/api/v1/inputs/syslog_udp"));
        assert_eq!(one.body["transport"], "udp");
    }

    #[test]
    fn lists_evtx_and_http_inputs_with_their_counters_and_pauses_them() {
        let (api, st) = setup(None);
        let flags = api.inputs().flags();
        let list = handle(&api, &st, &req("GET", "/api/v1/inputs"));
        let inputs = list.body["inputs"].as_array().unwrap();
        let names: Vec<&str> = inputs.iter().filter_map(|i| i["name"].as_str()).collect();
        assert_eq!(names, [SYSLOG_UDP, SYSLOG_TCP, "evtx_0", "evtx_1", HTTP]);
        // evtx_0 is shard 0's (no snapshot yet), evtx_1 shard 1's.
        assert_eq!(inputs[2]["dir"], "/logs/dc1");
        assert_eq!(inputs[2]["shard"], 0);
        assert_eq!(inputs[2]["records_read"], 0);
        assert_eq!(inputs[3]["shard"], 1);
        assert_eq!(inputs[3]["files_watched"], 4);
        assert_eq!(inputs[3]["records_read"], 9);
        assert_eq!(inputs[3]["corrupt_chunks"], 0);
        assert_eq!(inputs[4]["listen"], "127.0.0.1:8088");
        assert_eq!(inputs[4]["requests"], 6);
        assert_eq!(inputs[4]["requests_rejected"], 1);
        assert_eq!(inputs[4]["records_accepted"], 11);
        for name in ["evtx_1", HTTP] {
            let path = format!("/api/v1/inputs/{name}/pause");
            let r = handle(&api, &st, &req("POST", &path));
            assert_eq!(r.body["state"], "paused", "{name}");
        }
        assert!(flags.evtx[1].is_paused() && !flags.evtx[0].is_paused());
        assert!(flags.http.is_paused());
        let one = handle(&api, &st, &req("GET", "/api/v1/inputs/evtx_1"));
        assert_eq!(one.body["state"], "paused");
        let r = handle(&api, &st, &req("POST", "/api/v1/inputs/http/resume"));
        assert_eq!(r.body["changed"], true);
        assert!(!flags.http.is_paused());
        let r = handle(&api, &st, &req("POST", "/api/v1/inputs/evtx_2/pause"));
        assert_eq!(r.status, 404);
    }

    #[test]
    fn errors_are_json_with_4xx_codes() {
        let (api, st) = setup(None);
        let r = handle(&api, &st, &req("POST", "/api/v1/inputs/nope/pause"));
        assert_eq!(r.status, 404);
        assert!(r.body["error"].as_str().unwrap().contains("syslog_tcp"));
        let r = handle(&api, &st, &req("GET", "/api/v1/inputs/syslog_tcp/pause"));
        assert_eq!(r.status, 405);
        assert_eq!(r.headers, vec![("Allow", "POST".to_string())]);
        let r = handle(&api, &st, &req("DELETE", "/api/v1/shards"));
        assert_eq!(r.status, 405);
        let r = handle(&api, &st, &req("GET", "/api/v1/nothing"));
        assert_eq!(r.status, 404);
        assert!(r.body["error"].is_string());
        let mut big = req("POST", "/api/v1/inputs/syslog_tcp/pause");
        big.body_bytes = Some(REQUEST_BODY_BYTES_MAX + 1);
        assert_eq!(handle(&api, &st, &big).status, 413);
    }

    #[test]
    fn routing_and_methods_are_exact() {
        let (api, st) = setup(None);
        for path in [
            "/api/v1/inputs/syslog_tcp/pause/",
            "/api/v1//inputs/syslog_tcp/pause",
            "/api/v1/inputs//syslog_tcp/pause",
            "/api/v1/shards/",
            "/api/v1/",
            "/api/v1",
        ] {
            assert_eq!(handle(&api, &st, &req("POST", path)).status, 404, "{path}");
        }
        for method in ["pOsT", "post", "PUT"] {
            let r = handle(&api, &st, &req(method, "/api/v1/inputs/syslog_tcp/pause"));
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.headers, vec![("Allow", "POST".to_string())]);
        }
        assert_eq!(handle(&api, &st, &req("get", "/api/v1/shards")).status, 405);
        assert!(!api.inputs().flags().tcp.is_paused());
    }

    #[test]
    fn mutations_need_json_and_no_foreign_origin() {
        let (api, st) = setup(None);
        let pause = "/api/v1/inputs/syslog_tcp/pause";
        // A browser's simple cross-site form POST: no JSON content type.
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut r = req("POST", pause);
            r.content_type = ct;
            assert_eq!(handle(&api, &st, &r).status, 415, "{ct:?}");
        }
        let mut r = req("POST", pause);
        r.origin = Some("https://evil.example");
        assert_eq!(handle(&api, &st, &r).status, 403);
        assert!(!api.inputs().flags().tcp.is_paused());
        r.origin = Some("http://127.0.0.1:9514");
        r.content_type = Some("application/json; charset=utf-8");
        assert_eq!(handle(&api, &st, &r).status, 200);
        assert!(api.inputs().flags().tcp.is_paused());
    }

    #[test]
    fn config_is_redacted() {
        let (api, st) = setup(Some("hunter2"));
        let mut r = req("GET", "/api/v1/config");
        r.authorization = Some("Bearer hunter2");
        let reply = handle(&api, &st, &r);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["kafka"]["properties"]["sasl.password"], "***");
        assert!(!reply.body.to_string().contains("\"pw\""));
    }

    #[test]
    fn token_is_required_when_configured() {
        let (api, st) = setup(Some("hunter2"));
        for auth in [
            None,
            Some("Bearer hunter3"),
            Some("Bearer hunter"),
            Some("Basic hunter2"),
            Some("hunter2"),
        ] {
            let mut r = req("GET", "/api/v1/shards");
            r.authorization = auth;
            let reply = handle(&api, &st, &r);
            assert_eq!(reply.status, 401, "{auth:?}");
            assert_eq!(
                reply.headers,
                vec![("WWW-Authenticate", "Bearer".to_string())]
            );
        }
        // Unknown paths do not reveal themselves without the token either.
        assert_eq!(
            handle(&api, &st, &req("GET", "/api/v1/secret-place")).status,
            401
        );
        let mut r = req("GET", "/api/v1/shards");
        r.authorization = Some("bearer  hunter2 ");
        assert_eq!(handle(&api, &st, &r).status, 200);
    }

    #[test]
    fn api_paths() {
        assert!(is_api_path("/api/v1"));
        assert!(is_api_path("/api/v1/shards"));
        assert!(!is_api_path("/api/v10"));
        assert!(!is_api_path("/metrics"));
    }
}
