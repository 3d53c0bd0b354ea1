//! One GET of an appliance's `/metrics` over plain HTTP/1.0, with a deadline.
//!
//! `/metrics` is open (no token) and plain text; a blocking std socket with `httparse` for
//! the status line does it without pulling an HTTP client crate (ureq, reqwest) into the
//! appliance's binary for one request a second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::prom;
use super::table::Counters;

/// Largest `/metrics` body read, bytes (a 64-shard appliance exports about 400 KiB).
pub const METRICS_BYTES_MAX: u64 = 16 << 20;
/// Reply headers parsed at most (tiny_http sends a handful).
pub const RESPONSE_HEADERS_MAX: usize = 32;

/// Why an appliance could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The address does not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// Connect, write or read failed (or timed out).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The reply is not HTTP, or not a 200.
    #[error("{0}")]
    Http(String),
    /// The body is not Prometheus text.
    #[error("bad /metrics: {0}")]
    Metrics(#[from] prom::ParseError),
}

/// Read `target`'s (`HOST:PORT`) `/metrics` within `timeout` per socket operation and keep
/// what `top` shows.
pub fn scrape(target: &str, timeout: Duration) -> Result<Counters, ScrapeError> {
    let addr: SocketAddr = target
        .to_socket_addrs()
        .map_err(|_| ScrapeError::Resolve(target.into()))?
        .next()
        .ok_or_else(|| ScrapeError::Resolve(target.into()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: {target}\r\nUser-Agent: linerate-top\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(METRICS_BYTES_MAX).read_to_end(&mut raw)?;
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(&raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(ScrapeError::Http("truncated reply".into())),
        Err(e) => return Err(ScrapeError::Http(format!("not HTTP: {e}"))),
    };
    if resp.code != Some(200) {
        return Err(ScrapeError::Http(format!(
            "/metrics answered {}",
            resp.code.unwrap_or(0)
        )));
    }
    let body = String::from_utf8_lossy(&raw[head..]);
    Ok(Counters::from_samples(&prom::parse(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server on loopback answering the next connection with `reply`.
    fn serve_once(reply: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            c.write_all(reply.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn reads_metrics_from_a_real_socket() {
        let addr = serve_once(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n# TYPE linerate_kafka_reachable gauge\nlinerate_kafka_reachable 1\nlinerate_shard_up{shard=\"3\"} 1\n",
        );
        let c = scrape(&addr, Duration::from_secs(5)).unwrap();
        assert_eq!(c.kafka_reachable, Some(true));
        assert!(c.shards[&3].up);
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let addr = serve_once("HTTP/1.0 404 Not Found\r\n\r\nnope");
        let e = scrape(&addr, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.to_string(), "/metrics answered 404");
        let addr = serve_once("HTTP/1.0 200 OK\r\n\r\nx{ 1\n");
        let e = scrape(&addr, Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().starts_with("bad /metrics: line 1"), "{e}");
        // A port nobody listens on (bound, then released).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = scrape(&format!("127.0.0.1:{port}"), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, ScrapeError::Io(_)), "{e}");
        assert!(matches!(
            scrape("no-such-host.invalid:1", Duration::from_secs(5)).unwrap_err(),
            ScrapeError::Resolve(_)
        ));
    }
}
