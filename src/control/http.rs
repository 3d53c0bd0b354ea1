//! The control plane's HTTP server (tiny_http, one thread): `/metrics` (Prometheus text) and
//! `/health` (JSON: every shard alive, Kafka reachable; 200 when healthy, else 503).

use std::time::Instant;

use crate::control::aggregator::SharedState;

/// Bind `addr` and serve on a background thread. Binding errors are returned at once.
pub fn spawn(addr: &str, state: SharedState) -> std::io::Result<std::net::SocketAddr> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("http server has no IP address"))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let (status, content_type, body) = route(request.url(), &state);
                let header = tiny_http::Header::from_bytes("Content-Type", content_type)
                    .unwrap_or_else(|_| {
                        tiny_http::Header::from_bytes("Content-Type", "text/plain")
                            .expect("static header")
                    });
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header);
                let _ = request.respond(response);
            }
        })?;
    Ok(local)
}

fn route(url: &str, state: &SharedState) -> (u16, &'static str, String) {
    let path = url.split('?').next().unwrap_or(url);
    let Ok(st) = state.lock() else {
        return (500, "text/plain", "state unavailable\n".into());
    };
    match path {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            crate::control::metrics::render(&st),
        ),
        "/health" => {
            let now = Instant::now();
            let shards: Vec<bool> = (0..st.shards.len())
                .map(|i| st.shard_alive(i, now))
                .collect();
            let healthy = shards.iter().all(|a| *a) && st.kafka_reachable;
            let body = serde_json::json!({
                "status": if healthy { "ok" } else { "degraded" },
                "shards_alive": shards,
                "kafka_reachable": st.kafka_reachable,
                "totals": st.totals(),
            });
            (
                if healthy { 200 } else { 503 },
                "application/json",
                format!("{body}\n"),
            )
        }
        _ => (
            404,
            "text/plain",
            "not found: try /metrics or /health\n".into(),
        ),
    }
}
