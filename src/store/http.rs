//! The loader's `/metrics` and `/health`: one std thread answering one connection at a time
//! (request head at most [`REQUEST_BYTES_MAX`], [`IO_TIMEOUT`] per read and write), so a
//! slow or hostile client costs one socket and a few KB, never a thread or memory per client.
//! Self-contained on purpose: the appliance's control HTTP is being replaced (hyper), and
//! this listener only ever serves two fixed GETs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::metrics::StoreMetrics;

/// Longest request head read.
pub const REQUEST_BYTES_MAX: usize = 4096;
/// Read and write timeout per connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Bind `listen` and serve from a thread; returns the bound address.
pub fn spawn(listen: &str, metrics: Arc<StoreMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("store-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &metrics);
            }
        })?;
    Ok(addr)
}

fn serve(mut s: TcpStream, metrics: &StoreMetrics) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = [0u8; REQUEST_BYTES_MAX];
    let mut n = 0;
    while n < head.len() && !head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let line = head[..n].split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, ctype, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            ("200 OK", "text/plain; version=0.0.4", metrics.render())
        }
        (Some(b"GET"), Some(b"/health")) => {
            let up = metrics.postgres_up.load(Ordering::Relaxed);
            let paused = metrics.paused.load(Ordering::Relaxed);
            let body = format!(
                "{{\"status\":\"{}\",\"postgres_up\":{up},\"paused\":{paused}}}\n",
                if up { "ok" } else { "degraded" }
            );
            (
                if up {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                },
                "application/json",
                body,
            )
        }
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
