//! One GET of an appliance's `/metrics` over HTTP/1.0, plain or HTTPS, with a deadline.
//!
//! `/metrics` is open (no token) and plain text; a blocking std socket (in a rustls session
//! for an `https://` target, trusting what [`crate::tls::client`] says) with `httparse` for
//! the status line does it without pulling an HTTP client crate (ureq, reqwest) into the
//! appliance's binary for one request a second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

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
    /// An `https://` target, and no trust configured to check its certificate with.
    #[error(
        "{0} is https: give --config the appliance's config (its [http] tls_cert_file is trusted)"
    )]
    NoTrust(String),
    /// The TLS session could not be set up (the certificate is not trusted, the name does
    /// not match, ...).
    #[error("TLS: {0}")]
    Tls(String),
    /// The body is not Prometheus text.
    #[error("bad /metrics: {0}")]
    Metrics(#[from] prom::ParseError),
}

/// What a target names: the `HOST:PORT` to connect to and whether over HTTPS
/// (`https://HOST:PORT`; `http://` or no scheme: plain HTTP).
pub fn parse_target(target: &str) -> (&str, bool) {
    if let Some(rest) = target.strip_prefix("https://") {
        return (rest.trim_end_matches('/'), true);
    }
    let rest = target.strip_prefix("http://").unwrap_or(target);
    (rest.trim_end_matches('/'), false)
}

/// Read `target`'s (`HOST:PORT` or `https://HOST:PORT`) `/metrics` within `timeout` per
/// socket operation and keep what `top` shows; an HTTPS target's certificate is checked
/// with `trust` (see [`crate::tls::client`]).
pub fn scrape(
    target: &str,
    timeout: Duration,
    trust: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Counters, ScrapeError> {
    let (host_port, https) = parse_target(target);
    let addr: SocketAddr = host_port
        .to_socket_addrs()
        .map_err(|_| ScrapeError::Resolve(host_port.into()))?
        .next()
        .ok_or_else(|| ScrapeError::Resolve(host_port.into()))?;
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let raw = if https {
        let trust = trust.ok_or_else(|| ScrapeError::NoTrust(target.into()))?;
        let host = host_port
            .rsplit_once(':')
            .map_or(host_port, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| ScrapeError::Tls(format!("{host}: {e}")))?;
        let session = rustls::ClientConnection::new(trust.clone(), name)
            .map_err(|e| ScrapeError::Tls(e.to_string()))?;
        get_metrics(rustls::StreamOwned::new(session, s), host_port).map_err(tls_error)?
    } else {
        get_metrics(s, host_port)?
    };
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

/// Send the GET on `s` and read the reply until the server closes (HTTP/1.0).
fn get_metrics(mut s: impl Read + Write, host: &str) -> std::io::Result<Vec<u8>> {
    // One write (one segment, one TLS record): `write!` on an unbuffered stream writes each
    // piece apart, and a server that answers after its first read would see the rest of the
    // request arrive after it closed (a broken pipe here).
    let request =
        format!("GET /metrics HTTP/1.0\r\nHost: {host}\r\nUser-Agent: linerate-top\r\n\r\n");
    s.write_all(request.as_bytes())?;
    s.flush()?;
    let mut raw = Vec::new();
    s.take(METRICS_BYTES_MAX).read_to_end(&mut raw)?;
    Ok(raw)
}

/// An I/O error of a TLS session: rustls's own errors (an untrusted certificate...) as
/// [`ScrapeError::Tls`].
fn tls_error(e: std::io::Error) -> ScrapeError {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => ScrapeError::Tls(tls.to_string()),
        None => ScrapeError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::path::PathBuf;

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
        let c = scrape(&addr, Duration::from_secs(5), None).unwrap();
        assert_eq!(c.kafka_reachable, Some(true));
        assert!(c.shards[&3].up);
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let addr = serve_once("HTTP/1.0 404 Not Found\r\n\r\nnope");
        let e = scrape(&addr, Duration::from_secs(5), None).unwrap_err();
        assert_eq!(e.to_string(), "/metrics answered 404");
        let addr = serve_once("HTTP/1.0 200 OK\r\n\r\nx{ 1\n");
        let e = scrape(&addr, Duration::from_secs(5), None).unwrap_err();
        assert!(e.to_string().starts_with("bad /metrics: line 1"), "{e}");
        // A port nobody listens on (bound, then released).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = scrape(&format!("127.0.0.1:{port}"), Duration::from_secs(5), None).unwrap_err();
        assert!(matches!(e, ScrapeError::Io(_)), "{e}");
        assert!(matches!(
            scrape("no-such-host.invalid:1", Duration::from_secs(5), None).unwrap_err(),
            ScrapeError::Resolve(_)
        ));
    }

    /// A CA's certificate and key, and a server certificate for `localhost` it signed,
    /// written into `dir` as `<name>.pem`/`<name>.key` (and the CA's as `ca-<name>.pem`).
    fn signed_server(dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let (cert_file, key_file, ca_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
            dir.join(format!("ca-{name}.pem")),
        );
        std::fs::write(&cert_file, leaf.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        std::fs::write(&ca_file, ca.pem()).unwrap();
        (cert_file, key_file, ca_file)
    }

    /// A one-shot HTTPS server on loopback (the appliance's own server configuration, from
    /// `cert` and `key`) answering the next connection's request with a `/metrics` body.
    fn serve_once_tls(cert: &std::path::Path, key: &std::path::Path) -> u16 {
        let files = crate::tls::config::TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
            permitted: Vec::new(),
            tls13_only: false,
        };
        let config = files.load().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            let session = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(session, c);
            let mut buf = [0u8; 1024];
            if tls.read(&mut buf).is_ok() {
                let _ = tls.write_all(
                    b"HTTP/1.0 200 OK\r\n\r\nlinerate_kafka_reachable 1\nlinerate_shard_up{shard=\"0\"} 1\n",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        port
    }

    #[test]
    fn https_targets_trust_the_configured_certificate_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = signed_server(dir.path(), "a");
        let timeout = Duration::from_secs(5);
        // The configured certificate itself is trusted (pinned), whatever the name used.
        let pinned = crate::tls::client::trusting_cert_file(&cert).unwrap();
        let port = serve_once_tls(&cert, &key);
        let c = scrape(&format!("https://127.0.0.1:{port}"), timeout, Some(&pinned)).unwrap();
        assert_eq!(c.kafka_reachable, Some(true));
        // A full chain (leaf, then its CA) verifies a sibling the CA signed, by its name.
        let sibling_dir = tempfile::tempdir().unwrap();
        let (sibling, sibling_key, _) = signed_server(sibling_dir.path(), "b");
        let chain = dir.path().join("chain.pem");
        let mut pem = std::fs::read(&cert).unwrap();
        pem.extend(std::fs::read(&ca).unwrap());
        std::fs::write(&chain, pem).unwrap();
        let by_chain = crate::tls::client::trusting_cert_file(&chain).unwrap();
        let port = serve_once_tls(&cert, &key);
        assert!(scrape(
            &format!("https://localhost:{port}"),
            timeout,
            Some(&by_chain)
        )
        .is_ok());
        // Another CA's server is refused: the session never reaches HTTP.
        let port = serve_once_tls(&sibling, &sibling_key);
        let e = scrape(
            &format!("https://localhost:{port}"),
            timeout,
            Some(&by_chain),
        )
        .unwrap_err();
        assert!(
            matches!(&e, ScrapeError::Tls(m) if m.contains("certificate")),
            "{e}"
        );
        // An https target without a configured certificate is an error, not plain HTTP.
        let e = scrape(&format!("https://localhost:{port}"), timeout, None).unwrap_err();
        assert!(matches!(e, ScrapeError::NoTrust(_)), "{e}");
        // A plaintext scrape of an HTTPS server gets no HTTP reply.
        let port = serve_once_tls(&cert, &key);
        assert!(scrape(&format!("127.0.0.1:{port}"), timeout, None).is_err());
    }
}
