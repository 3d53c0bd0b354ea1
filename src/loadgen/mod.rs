//! `linerate loadgen`: native syslog load over TCP (N connections) or UDP, at a fixed rate or
//! as fast as the sockets take it, each message carrying a unique sequence number.
//!
//! Connection/thread `i` of `n` sends sequence numbers `i, i+n, i+2n, …`, so the union over
//! all threads is exactly `0..count`. The MSG part always starts with `seq=<decimal> `.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::parse::timestamp::civil_from_secs;

/// Bytes of TCP messages written per `write` call.
const TCP_CHUNK_BYTES: usize = 64 << 10;
/// Datagrams per `sendmmsg` call.
const UDP_BATCH: usize = 64;
/// Messages sent between two pacing checks in fixed-rate mode.
const PACE_BATCH: u64 = 16;

/// Wire transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Message grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MsgFormat {
    Rfc5424,
    Rfc3164,
}

/// TCP framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Framing {
    /// LF-terminated.
    Lf,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    Octet,
}

/// `linerate loadgen` options.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Where to send.
    #[arg(long, default_value = "127.0.0.1:5514")]
    pub target: SocketAddr,
    #[arg(long, value_enum, default_value = "tcp")]
    pub transport: Transport,
    /// TCP connections (UDP: sending threads), each on its own thread.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    #[arg(long, value_enum, default_value = "rfc5424")]
    pub format: MsgFormat,
    #[arg(long, value_enum, default_value = "lf")]
    pub framing: Framing,
    /// Total size of each message in bytes (padded with 'x').
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Messages to send in total (across connections).
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this many seconds instead of a count.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Total messages per second; 0 or absent: as fast as possible.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Print the report as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// What a run sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadgenReport {
    pub sent: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    pub bytes: u64,
    pub rate: f64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Builds messages of one format and size into a caller's buffer.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    format: MsgFormat,
    size: usize,
    header: Vec<u8>,
    header_secs: u64,
}

impl MessageBuilder {
    /// A builder for messages of exactly `size` bytes (or the minimum the header needs).
    pub fn new(format: MsgFormat, size: usize) -> Self {
        let mut b = Self {
            format,
            size,
            header: Vec::new(),
            header_secs: u64::MAX,
        };
        b.refresh();
        b
    }

    /// Re-render the header's timestamp if the second changed.
    pub fn refresh(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if now.as_secs() == self.header_secs {
            return;
        }
        self.header_secs = now.as_secs();
        let (y, mo, d, h, mi, s) = civil_from_secs(now.as_secs() as i64);
        self.header.clear();
        match self.format {
            MsgFormat::Rfc5424 => {
                let _ = write!(
                    self.header,
                    "<134>1 {y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z loadgen-host linerate-loadgen 4242 LOAD - ",
                    now.subsec_micros()
                );
            }
            MsgFormat::Rfc3164 => {
                const MON: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let _ = write!(
                    self.header,
                    "<134>{} {d:2} {h:02}:{mi:02}:{s:02} loadgen-host linerate-loadgen[4242]: ",
                    MON[(mo - 1) as usize]
                );
            }
        }
    }

    /// Append message `seq` (no framing) to `out`.
    pub fn append(&self, out: &mut Vec<u8>, seq: u64) {
        let start = out.len();
        out.extend_from_slice(&self.header);
        let _ = write!(out, "seq={seq} ");
        let len = out.len() - start;
        if len < self.size {
            out.resize(start + self.size, b'x');
        }
    }
}

struct Plan {
    thread: u64,
    threads: u64,
    count: Option<u64>,
    deadline: Option<Instant>,
    rate_per_thread: f64,
}

impl Plan {
    /// Sequence number of this thread's `k`-th message, if it is still to be sent.
    fn seq(&self, k: u64) -> Option<u64> {
        let seq = self.thread + k * self.threads;
        match self.count {
            Some(c) if seq >= c => None,
            _ => Some(seq),
        }
    }
    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
    /// Sleep until message `k` is due (fixed-rate mode).
    fn pace(&self, started: Instant, k: u64) {
        if self.rate_per_thread > 0.0 {
            let due = started + Duration::from_secs_f64(k as f64 / self.rate_per_thread);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

/// Send the load the arguments describe; prints a one-line summary (or JSON) and returns it.
pub fn run(args: &LoadgenArgs) -> Result<LoadgenReport> {
    if args.count.is_none() && args.duration.is_none() {
        bail!("give --count N or --duration SECS");
    }
    let threads = args.connections.max(1) as u64;
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs_f64(d));
    let rate_per_thread = args.rate.unwrap_or(0) as f64 / threads as f64;
    let mut handles = Vec::new();
    for thread in 0..threads {
        let plan = Plan {
            thread,
            threads,
            count: args.count,
            deadline,
            rate_per_thread,
        };
        let args = args.clone();
        handles.push(std::thread::spawn(move || match args.transport {
            Transport::Tcp => send_tcp(&args, &plan),
            Transport::Udp => send_udp(&args, &plan),
        }));
    }
    let (mut sent, mut bytes) = (0, 0);
    for h in handles {
        let (s, b) = h
            .join()
            .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
        sent += s;
        bytes += b;
    }
    let elapsed = started.elapsed();
    let report = LoadgenReport {
        sent,
        elapsed,
        bytes,
        rate: sent as f64 / elapsed.as_secs_f64().max(1e-9),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "sent={} rate={:.0} msg/s bytes={} elapsed={:.3}s",
            sent,
            report.rate,
            bytes,
            elapsed.as_secs_f64()
        );
    }
    Ok(report)
}

fn send_tcp(args: &LoadgenArgs, plan: &Plan) -> Result<(u64, u64)> {
    let mut stream = TcpStream::connect(args.target)
        .with_context(|| format!("connecting to {}", args.target))?;
    let mut mb = MessageBuilder::new(args.format, args.size);
    let mut chunk = Vec::with_capacity(TCP_CHUNK_BYTES + args.size + 16);
    let mut msg = Vec::with_capacity(args.size + 64);
    let started = Instant::now();
    let (mut k, mut bytes) = (0u64, 0u64);
    let mut done = false;
    while !done {
        mb.refresh();
        chunk.clear();
        let batch_end = if plan.rate_per_thread > 0.0 {
            k + PACE_BATCH
        } else {
            u64::MAX
        };
        while chunk.len() < TCP_CHUNK_BYTES && k < batch_end {
            let Some(seq) = plan.seq(k) else {
                done = true;
                break;
            };
            msg.clear();
            mb.append(&mut msg, seq);
            match args.framing {
                Framing::Lf => {
                    chunk.extend_from_slice(&msg);
                    chunk.push(b'\n');
                }
                Framing::Octet => {
                    let _ = write!(chunk, "{} ", msg.len());
                    chunk.extend_from_slice(&msg);
                }
            }
            k += 1;
        }
        stream.write_all(&chunk).context("sending")?;
        bytes += chunk.len() as u64;
        if plan.expired() {
            done = true;
        }
        plan.pace(started, k);
    }
    // Half-close and wait for the peer to finish reading, so nothing is left in flight.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 256];
    let _ = std::io::Read::read(&mut stream, &mut sink);
    Ok((k, bytes))
}

fn send_udp(args: &LoadgenArgs, plan: &Plan) -> Result<(u64, u64)> {
    let bind = if args.target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(args.target)?;
    let mut mb = MessageBuilder::new(args.format, args.size);
    let mut buf = Vec::with_capacity(UDP_BATCH * (args.size + 64));
    let mut ends = Vec::with_capacity(UDP_BATCH);
    let started = Instant::now();
    let (mut k, mut bytes) = (0u64, 0u64);
    let batch = if plan.rate_per_thread > 0.0 {
        PACE_BATCH as usize
    } else {
        UDP_BATCH
    };
    loop {
        mb.refresh();
        buf.clear();
        ends.clear();
        while ends.len() < batch {
            let Some(seq) = plan.seq(k + ends.len() as u64) else {
                break;
            };
            mb.append(&mut buf, seq);
            ends.push(buf.len());
        }
        if ends.is_empty() {
            break;
        }
        let mut off = 0;
        while off < ends.len() {
            let n = sendmmsg(
                &sock,
                &buf,
                &ends[off..],
                if off == 0 { 0 } else { ends[off - 1] },
            )?;
            off += n;
        }
        k += ends.len() as u64;
        bytes += buf.len() as u64;
        if plan.expired() {
            break;
        }
        plan.pace(started, k);
    }
    Ok((k, bytes))
}

/// Send the datagrams `buf[prev_end..ends[0]]`, `buf[ends[0]..ends[1]]`, … with one
/// `sendmmsg`; returns how many went out (blocking socket: at least one).
fn sendmmsg(sock: &UdpSocket, buf: &[u8], ends: &[usize], mut start: usize) -> Result<usize> {
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(ends.len());
    for &end in ends {
        iovs.push(libc::iovec {
            iov_base: buf[start..end].as_ptr() as *mut _,
            iov_len: end - start,
        });
        start = end;
    }
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: zeroed mmsghdr is valid; it points at one live iovec.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    loop {
        // SAFETY: headers point at live iovecs over `buf`; the socket is connected.
        let n =
            unsafe { libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), hdrs.len() as u32, 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::Interrupted => continue,
            // ECONNREFUSED from an ICMP port unreachable: the receiver is not up yet.
            std::io::ErrorKind::ConnectionRefused => continue,
            _ => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader};

    #[test]
    fn messages_have_exact_size_and_seq() {
        for format in [MsgFormat::Rfc5424, MsgFormat::Rfc3164] {
            let mb = MessageBuilder::new(format, 256);
            let mut out = Vec::new();
            mb.append(&mut out, 12345);
            assert_eq!(out.len(), 256);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(" seq=12345 x"), "{text}");
            assert!(text.starts_with("<134>"));
        }
    }

    #[test]
    fn tcp_loopback_delivers_every_seq_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut seqs = Vec::new();
            for _ in 0..3 {
                let (s, _) = listener.accept().unwrap();
                for line in BufReader::new(s).lines() {
                    let line = line.unwrap();
                    let seq: u64 = line
                        .split("seq=")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    seqs.push(seq);
                }
            }
            seqs
        });
        let args = LoadgenArgs {
            target,
            transport: Transport::Tcp,
            connections: 3,
            format: MsgFormat::Rfc3164,
            framing: Framing::Lf,
            size: 100,
            count: Some(10_000),
            duration: None,
            rate: None,
            json: false,
        };
        let report = run(&args).unwrap();
        assert_eq!(report.sent, 10_000);
        let seqs = server.join().unwrap();
        assert_eq!(seqs.len(), 10_000);
        assert_eq!(
            seqs.into_iter().collect::<HashSet<_>>(),
            (0..10_000).collect()
        );
    }

    #[test]
    fn udp_loopback_sends_datagrams_with_seqs() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let args = LoadgenArgs {
            target: rx.local_addr().unwrap(),
            transport: Transport::Udp,
            connections: 1,
            format: MsgFormat::Rfc5424,
            framing: Framing::Lf,
            size: 200,
            count: Some(100),
            duration: None,
            rate: Some(10_000),
            json: false,
        };
        assert_eq!(run(&args).unwrap().sent, 100);
        let mut buf = [0u8; 1024];
        let mut seqs = HashSet::new();
        while let Ok(n) = rx.recv(&mut buf) {
            assert_eq!(n, 200);
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            seqs.insert(
                text.split("seq=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            if seqs.len() == 100 {
                break;
            }
        }
        assert_eq!(seqs, (0..100).collect());
    }
}
