//! The control plane's HTTP server (tiny_http, one thread): `/metrics` (Prometheus text),
//! `/health` (JSON: every shard alive, Kafka reachable; 200 when healthy, else 503), both open
//! to anyone who can reach the address, and the control API under `/api/v1`
//! ([`crate::control::api`]; a bearer token when one is configured).

use std::time::Instant;

use crate::control::aggregator::SharedState;
use crate::control::api::{self, Api};

/// Bind `addr` and serve on a background thread. Binding errors are returned at once.
pub fn spawn(addr: &str, state: SharedState, api: Api) -> std::io::Result<std::net::SocketAddr> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("http server has no IP address"))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let url = request.url();
                let path = url.split('?').next().unwrap_or(url);
                let (status, content_type, body, headers) = if api::is_api_path(path) {
                    let reply = api::handle(
                        &api,
                        &state,
                        &api::Request {
                            method: request.method().as_str(),
                            path,
                            authorization: request
                                .headers()
                                .iter()
                                .find(|h| h.field.equiv("Authorization"))
                                .map(|h| h.value.as_str()),
                            body_bytes: request.body_length(),
                        },
                    );
                    let body = serde_json::to_string_pretty(&reply.body).unwrap_or_default();
                    (reply.status, "application/json", body + "\n", reply.headers)
                } else {
                    let (status, content_type, body) = route(path, &state, &api);
                    (status, content_type, body, Vec::new())
                };
                let mut response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header("Content-Type", content_type));
                for (name, value) in &headers {
                    response = response.with_header(header(name, value));
                }
                let _ = request.respond(response);
            }
        })?;
    Ok(local)
}

/// A response header; a value tiny_http refuses (never one of ours) becomes an empty
/// `X-Invalid` header rather than a panic.
fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value)
        .unwrap_or_else(|_| tiny_http::Header::from_bytes("X-Invalid", "").expect("static header"))
}

fn route(path: &str, state: &SharedState, api: &Api) -> (u16, &'static str, String) {
    let Ok(st) = state.lock() else {
        return (500, "text/plain", "state unavailable\n".into());
    };
    match path {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            crate::control::metrics::render(&st, api.inputs()),
        ),
        "/health" => {
            let (healthy, body) = st.health(Instant::now());
            (
                if healthy { 200 } else { 503 },
                "application/json",
                format!("{body}\n"),
            )
        }
        _ => (
            404,
            "text/plain",
            "not found: try /metrics, /health or /api/v1/shards\n".into(),
        ),
    }
}
