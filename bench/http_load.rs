//! A plain HTTP/1.1 load client for `bench/http_input.sh`: `CONNECTIONS` keep-alive
//! connections, each posting `BODY_FILE` to `URL_PATH` back to back for `SECONDS`; prints
//! one JSON line: requests answered 200, other answers, and requests per second.
//!
//! Usage: `http_load PORT PATH BODY_FILE CONNECTIONS SECONDS`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Read one response from `s`; its status.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    buf.clear();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })?;
    while buf.len() < head_end + len {
        let n = s.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(status)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, path, body_file, connections, seconds] = &args[..] else {
        eprintln!("usage: http_load PORT PATH BODY_FILE CONNECTIONS SECONDS");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("port");
    let body = std::fs::read(body_file).expect("body file");
    let connections: usize = connections.parse().expect("connections");
    let run = Duration::from_secs(seconds.parse().expect("seconds"));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_nodelay(true).unwrap();
                let (mut ok, mut other) = (0u64, 0u64);
                let mut buf = Vec::with_capacity(8192);
                while start.elapsed() < run {
                    s.write_all(&request).expect("write");
                    match read_response(&mut s, &mut buf) {
                        Some(200) => ok += 1,
                        Some(_) => other += 1,
                        None => break,
                    }
                }
                (ok, other)
            })
        })
        .collect();
    let (mut ok, mut other) = (0u64, 0u64);
    for w in workers {
        let (o, x) = w.join().expect("worker");
        ok += o;
        other += x;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"ok\":{ok},\"other\":{other},\"seconds\":{secs:.3},\"requests_per_second\":{:.0}}}",
        ok as f64 / secs
    );
}
