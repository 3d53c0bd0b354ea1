//! `linerate loadgen`: native syslog load over TCP (N connections) or UDP, at a fixed rate or
//! as fast as the sockets take it, each message carrying a unique sequence number.
//!
//! Connection/thread `i` of `n` sends sequence numbers `i, i+n, i+2n, …`, so the union over
//! all threads is exactly `0..count`. The MSG part always starts with
//! `seq=<decimal> t=<unix micros> r=<run> `: `t` is the message's intended send time and `r`
//! identifies the run (see [`verify`]).
//!
//! Fixed-rate mode (`--rate`) schedules message `k` of a thread at `start + k / rate`,
//! whatever happened to earlier sends: a stalled socket makes the next messages late, and
//! their lateness is measured from when they were due (no coordinated omission). The send
//! lag (due → written to the socket) is recorded per message; `--verify` records due →
//! consumed from Kafka. `--hlog-dir` writes both as an HdrHistogram interval log
//! (`loadgen-*.hlog`, tags `send-lag` and `send-to-kafka`) for `linerate report`.

pub mod progress;
pub mod replay;
pub mod series;
pub mod tls_client;
pub mod verify;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::event::unix_micros_now;
use crate::latency::hlog::HlogWriter;
use crate::parse::timestamp::civil_from_secs;
use series::{Percentiles, Series};

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
    /// Where to send; repeat it for a fleet (connection/thread `i` sends to target
    /// `i % targets`, so give `--connections` at least the number of targets).
    #[arg(
        long = "target",
        default_value = "127.0.0.1:5514",
        value_name = "HOST:PORT"
    )]
    pub targets: Vec<SocketAddr>,
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
    /// Send the lines of this file (in order, cycling; default count: one pass) instead of
    /// generated messages.
    #[arg(long, conflicts_with = "verify")]
    pub replay: Option<PathBuf>,
    /// Show progress even when stderr is not a terminal (plain lines there; a terminal
    /// always gets a progress bar).
    #[arg(long)]
    pub progress: bool,
    /// Consume `--topic` from `--brokers` while sending; report loss, duplicates and
    /// send→Kafka latency (exit 1 when anything was lost).
    #[arg(long, requires = "brokers")]
    pub verify: bool,
    /// Kafka bootstrap servers for `--verify`.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topic `--verify` consumes.
    #[arg(long, default_value = "logs.normalized")]
    pub topic: String,
    /// How long `--verify` waits for missing messages once nothing new arrives, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub verify_wait_secs: f64,
    /// Directory for loadgen's latency interval log (`loadgen-<UTC time>.hlog`).
    #[arg(long)]
    pub hlog_dir: Option<PathBuf>,
    /// Send over TLS (syslog over TLS, RFC 5425) trusting this CA bundle (PEM); TCP only.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `--tls-key`.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The name the server's certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub tls_server_name: String,
}

/// What a run sent (and, with `--verify`, what arrived).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadgenReport {
    pub sent: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    pub bytes: u64,
    pub rate: f64,
    /// The run's `r=` value.
    pub run: u64,
    /// Due → written to the socket, per message (fixed-rate mode only).
    pub send_lag: Option<Percentiles>,
    /// What `--verify` found.
    pub verify: Option<verify::VerifyReport>,
    /// The interval log written, with `--hlog-dir`.
    pub hlog: Option<PathBuf>,
    /// What each target was sent, in `--target` order.
    pub by_target: Vec<TargetReport>,
}

/// One target's share of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetReport {
    pub target: SocketAddr,
    /// Connections (UDP: sending threads) that sent to it.
    pub connections: usize,
    /// Messages sent to it.
    pub sent: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Builds messages of one format and size into a caller's buffer.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    format: MsgFormat,
    size: usize,
    run: u64,
    header: Vec<u8>,
    header_secs: u64,
}

impl MessageBuilder {
    /// A builder for messages of run `run` of exactly `size` bytes (or the minimum the
    /// header needs).
    pub fn new(format: MsgFormat, size: usize, run: u64) -> Self {
        let mut b = Self {
            format,
            size,
            run,
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

    /// Append message `seq`, due at `due_unix_micros`, (no framing) to `out`.
    pub fn append(&self, out: &mut Vec<u8>, seq: u64, due_unix_micros: i64) {
        let start = out.len();
        out.extend_from_slice(&self.header);
        let _ = write!(out, "seq={seq} t={due_unix_micros} r={} ", self.run);
        let len = out.len() - start;
        if len < self.size {
            out.resize(start + self.size, b'x');
        }
    }
}

/// What a sender writes: generated messages or a replayed file's lines.
#[derive(Debug, Clone)]
enum Source {
    Generated(MessageBuilder),
    Replay(Arc<replay::Lines>),
}

impl Source {
    fn refresh(&mut self) {
        if let Source::Generated(b) = self {
            b.refresh();
        }
    }
    fn append(&self, out: &mut Vec<u8>, seq: u64, due_unix_micros: i64) {
        match self {
            Source::Generated(b) => b.append(out, seq, due_unix_micros),
            Source::Replay(lines) => out.extend_from_slice(lines.get(seq)),
        }
    }
}

/// One sender thread's share of the run.
struct Plan {
    thread: u64,
    threads: u64,
    count: Option<u64>,
    deadline: Option<Instant>,
    rate_per_thread: f64,
    source: Source,
    /// Where this thread sends.
    target: SocketAddr,
    /// Messages sent by all threads (for the progress display).
    sent: Arc<AtomicU64>,
    send_lag: Arc<Series>,
}

/// The schedule of one thread: when its `k`-th message is due.
struct Clock {
    started: Instant,
    started_unix_micros: i64,
}

impl Clock {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            started_unix_micros: unix_micros_now(),
        }
    }
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
    fn fixed_rate(&self) -> bool {
        self.rate_per_thread > 0.0
    }
    /// When message `k` is due, microseconds after the clock started (fixed-rate mode).
    fn due_offset_micros(&self, k: u64) -> i64 {
        (k as f64 * 1e6 / self.rate_per_thread) as i64
    }
    /// When message `k` is due, microseconds since the Unix epoch: its schedule in
    /// fixed-rate mode, else now (`now_unix_micros`).
    fn due_unix_micros(&self, clock: &Clock, k: u64, now_unix_micros: i64) -> i64 {
        if self.fixed_rate() {
            clock.started_unix_micros + self.due_offset_micros(k)
        } else {
            now_unix_micros
        }
    }
    /// Sleep until message `k` is due (fixed-rate mode).
    fn pace(&self, clock: &Clock, k: u64) {
        if self.fixed_rate() {
            let due = clock.started + Duration::from_micros(self.due_offset_micros(k) as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    /// Messages `from..to` of this thread were written: count them and, in fixed-rate
    /// mode, record each one's lag behind its due time.
    fn written(&self, clock: &Clock, from: u64, to: u64) {
        self.sent.fetch_add(to - from, Ordering::Relaxed);
        if self.fixed_rate() {
            let now = unix_micros_now();
            self.send_lag.record_from(
                (from..to).map(|k| clock.started_unix_micros + self.due_offset_micros(k)),
                now,
            );
        }
    }
}

/// A run identifier for `r=`: the start time's microseconds mixed with the process id.
fn run_id() -> u64 {
    let t = unix_micros_now() as u64;
    (t ^ (u64::from(std::process::id()) << 20)) % 1_000_000_000
}

/// Send the load the arguments describe; prints a one-line summary (or JSON) and returns it.
pub fn run(args: &LoadgenArgs) -> Result<LoadgenReport> {
    let lines = args
        .replay
        .as_deref()
        .map(replay::Lines::read)
        .transpose()?
        .map(Arc::new);
    let count = message_count(args, lines.as_deref())?;
    if args.tls_ca.is_some() && args.transport != Transport::Tcp {
        bail!("--tls-ca needs --transport tcp");
    }
    if args.targets.is_empty() {
        bail!("give at least one --target");
    }
    let run = run_id();
    let source = match lines {
        Some(l) => Source::Replay(l),
        None => Source::Generated(MessageBuilder::new(args.format, args.size, run)),
    };
    let send_lag = Arc::new(Series::default());
    let to_kafka = Arc::new(Series::default());
    let verifier = start_verifier(args, run, &to_kafka)?;
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watched = progress::Watched {
        sent: sent.clone(),
        done: done.clone(),
        total: count,
        series: vec![
            ("send-lag", send_lag.clone()),
            ("send-to-kafka", to_kafka.clone()),
        ],
        log: latency_log(args)?,
        verified: None,
    };
    let display = progress::Display::choose(args.progress);
    let monitor = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || progress::run(watched, display))?;
    let outcome = send_all(args, &source, count, &sent, &send_lag);
    let verify_report = match verifier {
        Some(v) if outcome.failure.is_none() => Some(v.finish(
            &outcome.sent_by_thread,
            Duration::from_secs_f64(args.verify_wait_secs.max(0.0)),
            &to_kafka,
        )?),
        _ => None,
    };
    done.store(true, Ordering::Relaxed);
    let log = monitor
        .join()
        .map_err(|_| anyhow::anyhow!("progress thread panicked"))?;
    if let Some(e) = outcome.failure {
        return Err(e);
    }
    let lag = send_lag.total();
    let sent_total: u64 = outcome.sent_by_thread.iter().sum();
    let report = LoadgenReport {
        sent: sent_total,
        elapsed: outcome.elapsed,
        bytes: outcome.bytes,
        rate: sent_total as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        run,
        send_lag: (!lag.is_empty()).then(|| Percentiles::of(&lag)),
        verify: verify_report,
        hlog: log.as_ref().and_then(|l| l.path().map(|p| p.to_path_buf())),
        by_target: by_target(&args.targets, &outcome.sent_by_thread),
    };
    print_report(args, &report)?;
    if let Some(v) = &report.verify {
        if v.lost > 0 {
            bail!("verify: {} of {} sequence numbers lost", v.lost, v.expected);
        }
    }
    Ok(report)
}

/// How many messages to send: `--count`, else none (until `--duration`), else every replayed
/// line once.
fn message_count(args: &LoadgenArgs, lines: Option<&replay::Lines>) -> Result<Option<u64>> {
    Ok(match (lines, args.count, args.duration) {
        (_, Some(c), _) => Some(c),
        (_, None, Some(_)) => None,
        (Some(l), None, None) => Some(l.len() as u64),
        (None, None, None) => bail!("give --count N or --duration SECS"),
    })
}

/// With `--verify`: a consumer of `--topic` on `--brokers` that checks run `run`'s
/// sequence numbers arrive, recording send→Kafka latency into `to_kafka`.
fn start_verifier(
    args: &LoadgenArgs,
    run: u64,
    to_kafka: &Arc<Series>,
) -> Result<Option<verify::Verifier>> {
    if !args.verify {
        return Ok(None);
    }
    let brokers = args
        .brokers
        .as_deref()
        .context("--verify needs --brokers")?;
    Ok(Some(verify::Verifier::start(
        brokers,
        &args.topic,
        run,
        to_kafka.clone(),
    )?))
}

/// With `--hlog-dir`: the HDR histogram log the progress thread writes each interval to.
fn latency_log(args: &LoadgenArgs) -> Result<Option<HlogWriter>> {
    let Some(dir) = args.hlog_dir.as_deref() else {
        return Ok(None);
    };
    Ok(Some(HlogWriter::new(
        dir,
        "loadgen",
        "linerate loadgen: send-lag = due -> written to the socket; send-to-kafka = due -> consumed from Kafka",
        u64::MAX,
        usize::MAX,
    )?))
}

/// What the sender threads did together.
struct SendOutcome {
    /// Messages each thread sent (thread order).
    sent_by_thread: Vec<u64>,
    bytes: u64,
    elapsed: Duration,
    /// The last thread's error, if one failed.
    failure: Option<anyhow::Error>,
}

/// Run `--connections` sender threads (each its share of the rate, thread `i` to target
/// `i % targets`) until they are done.
fn send_all(
    args: &LoadgenArgs,
    source: &Source,
    count: Option<u64>,
    sent: &Arc<AtomicU64>,
    send_lag: &Arc<Series>,
) -> SendOutcome {
    let threads = args.connections.max(1) as u64;
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs_f64(d));
    let rate_per_thread = args.rate.unwrap_or(0) as f64 / threads as f64;
    let mut handles = Vec::new();
    for thread in 0..threads {
        let plan = Plan {
            thread,
            threads,
            count,
            deadline,
            rate_per_thread,
            target: args.targets[thread as usize % args.targets.len()],
            source: source.clone(),
            sent: sent.clone(),
            send_lag: send_lag.clone(),
        };
        let args = args.clone();
        handles.push(std::thread::spawn(move || match args.transport {
            Transport::Tcp => send_tcp(&args, &plan),
            Transport::Udp => send_udp(&args, &plan),
        }));
    }
    let mut outcome = SendOutcome {
        sent_by_thread: Vec::with_capacity(handles.len()),
        bytes: 0,
        elapsed: Duration::ZERO,
        failure: None,
    };
    for h in handles {
        match h.join() {
            Ok(Ok((s, b))) => {
                outcome.bytes += b;
                outcome.sent_by_thread.push(s);
            }
            Ok(Err(e)) => outcome.failure = Some(e),
            Err(_) => outcome.failure = Some(anyhow::anyhow!("sender thread panicked")),
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Print the report: one JSON line with `--json`, else the summary lines.
fn print_report(args: &LoadgenArgs, report: &LoadgenReport) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!(
        "sent={} rate={:.0} msg/s bytes={} elapsed={:.3}s",
        report.sent,
        report.rate,
        report.bytes,
        report.elapsed.as_secs_f64()
    );
    if let Some(p) = &report.send_lag {
        println!("send lag (due -> written): {p}");
    }
    if let Some(v) = &report.verify {
        println!(
            "verify: expected={} consumed={} lost={} duplicates={} foreign={}{}",
            v.expected,
            v.consumed,
            v.lost,
            v.duplicates,
            v.foreign,
            if v.missing.is_empty() {
                String::new()
            } else {
                format!(" first missing={:?}", v.missing)
            }
        );
        println!("send -> kafka (due -> consumed): {}", v.latency);
    }
    if let Some(p) = &report.hlog {
        println!("latency log: {}", p.display());
    }
    Ok(())
}

/// Each target's connections and messages: thread `i` sent `sent_by_thread[i]` to target
/// `i % targets`.
fn by_target(targets: &[SocketAddr], sent_by_thread: &[u64]) -> Vec<TargetReport> {
    let mut out: Vec<TargetReport> = targets
        .iter()
        .map(|t| TargetReport {
            target: *t,
            connections: 0,
            sent: 0,
        })
        .collect();
    for (i, sent) in sent_by_thread.iter().enumerate() {
        let r = &mut out[i % targets.len()];
        r.connections += 1;
        r.sent += sent;
    }
    out
}

fn send_tcp(args: &LoadgenArgs, plan: &Plan) -> Result<(u64, u64)> {
    let tcp = TcpStream::connect(plan.target)
        .with_context(|| format!("connecting to {}", plan.target))?;
    let tls = match &args.tls_ca {
        Some(ca) => Some(tls_client::client_config(
            ca,
            args.tls_cert.as_deref().zip(args.tls_key.as_deref()),
        )?),
        None => None,
    };
    let mut stream = tls_client::Conn::new(
        tcp,
        tls.as_ref().map(|c| (c, args.tls_server_name.as_str())),
    )?;
    let mut source = plan.source.clone();
    let mut chunk = Vec::with_capacity(TCP_CHUNK_BYTES + args.size + 16);
    let mut msg = Vec::with_capacity(args.size + 64);
    let clock = Clock::start();
    let (mut k, mut bytes) = (0u64, 0u64);
    let mut done = false;
    while !done {
        source.refresh();
        chunk.clear();
        let batch_start = k;
        let batch_end = if plan.fixed_rate() {
            k + PACE_BATCH
        } else {
            u64::MAX
        };
        let now = unix_micros_now();
        while chunk.len() < TCP_CHUNK_BYTES && k < batch_end {
            let Some(seq) = plan.seq(k) else {
                done = true;
                break;
            };
            msg.clear();
            source.append(&mut msg, seq, plan.due_unix_micros(&clock, k, now));
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
        plan.written(&clock, batch_start, k);
        if plan.expired() {
            done = true;
        }
        plan.pace(&clock, k);
    }
    // Half-close and wait for the peer to finish reading, so nothing is left in flight.
    let stream = stream.finish();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 256];
    let _ = std::io::Read::read(&mut &stream, &mut sink);
    Ok((k, bytes))
}

fn send_udp(args: &LoadgenArgs, plan: &Plan) -> Result<(u64, u64)> {
    let bind = if plan.target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(plan.target)?;
    let mut source = plan.source.clone();
    let mut buf = Vec::with_capacity(UDP_BATCH * (args.size + 64));
    let mut ends = Vec::with_capacity(UDP_BATCH);
    let clock = Clock::start();
    let (mut k, mut bytes) = (0u64, 0u64);
    let batch = if plan.fixed_rate() {
        PACE_BATCH as usize
    } else {
        UDP_BATCH
    };
    loop {
        source.refresh();
        buf.clear();
        ends.clear();
        let now = unix_micros_now();
        while ends.len() < batch {
            let kk = k + ends.len() as u64;
            let Some(seq) = plan.seq(kk) else {
                break;
            };
            source.append(&mut buf, seq, plan.due_unix_micros(&clock, kk, now));
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
        plan.written(&clock, k, k + ends.len() as u64);
        k += ends.len() as u64;
        bytes += buf.len() as u64;
        if plan.expired() {
            break;
        }
        plan.pace(&clock, k);
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

    /// Arguments with every new option off.
    fn quiet_args(target: SocketAddr) -> LoadgenArgs {
        LoadgenArgs {
            targets: vec![target],
            transport: Transport::Tcp,
            connections: 1,
            format: MsgFormat::Rfc5424,
            framing: Framing::Lf,
            size: 256,
            count: None,
            duration: None,
            rate: None,
            json: false,
            replay: None,
            progress: false,
            verify: false,
            brokers: None,
            topic: "logs.normalized".into(),
            verify_wait_secs: 1.0,
            hlog_dir: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_server_name: "localhost".into(),
        }
    }

    #[test]
    fn messages_have_exact_size_and_seq() {
        for format in [MsgFormat::Rfc5424, MsgFormat::Rfc3164] {
            let mb = MessageBuilder::new(format, 256, 7);
            let mut out = Vec::new();
            mb.append(&mut out, 12345, 1_764_000_000_000_001);
            assert_eq!(out.len(), 256);
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains(" seq=12345 t=1764000000000001 r=7 x"),
                "{text}"
            );
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
            transport: Transport::Tcp,
            connections: 3,
            format: MsgFormat::Rfc3164,
            framing: Framing::Lf,
            size: 100,
            count: Some(10_000),
            duration: None,
            rate: None,
            json: false,
            ..quiet_args(target)
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

    /// A TCP server on loopback taking `connections` connections one after another; returns
    /// its address and, on join, every `seq=` it read.
    fn seq_server(connections: usize) -> (SocketAddr, std::thread::JoinHandle<Vec<u64>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut seqs = Vec::new();
            for _ in 0..connections {
                let (s, _) = listener.accept().unwrap();
                for line in BufReader::new(s).lines() {
                    let line = line.unwrap();
                    let seq = line.split("seq=").nth(1).unwrap().split(' ').next();
                    seqs.push(seq.unwrap().parse().unwrap());
                }
            }
            seqs
        });
        (addr, server)
    }

    #[test]
    fn connections_spread_over_several_targets() {
        let (a, server_a) = seq_server(2);
        let (b, server_b) = seq_server(2);
        let args = LoadgenArgs {
            targets: vec![a, b],
            connections: 4,
            size: 100,
            count: Some(1_000),
            ..quiet_args(a)
        };
        let report = run(&args).unwrap();
        assert_eq!(report.sent, 1_000);
        // Threads 0 and 2 send to a (seq % 4 in {0, 2}), 1 and 3 to b.
        let mut got_a = server_a.join().unwrap();
        let mut got_b = server_b.join().unwrap();
        got_a.sort_unstable();
        got_b.sort_unstable();
        assert_eq!(
            got_a,
            (0..1_000).filter(|s| s % 2 == 0).collect::<Vec<u64>>()
        );
        assert_eq!(
            got_b,
            (0..1_000).filter(|s| s % 2 == 1).collect::<Vec<u64>>()
        );
        assert_eq!(report.by_target.len(), 2);
        assert_eq!(
            (
                report.by_target[0].target,
                report.by_target[0].connections,
                report.by_target[0].sent
            ),
            (a, 2, 500)
        );
        assert_eq!(
            (
                report.by_target[1].target,
                report.by_target[1].connections,
                report.by_target[1].sent
            ),
            (b, 2, 500)
        );
    }

    #[test]
    fn udp_loopback_sends_datagrams_with_seqs() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let args = LoadgenArgs {
            transport: Transport::Udp,
            connections: 1,
            format: MsgFormat::Rfc5424,
            framing: Framing::Lf,
            size: 200,
            count: Some(100),
            duration: None,
            rate: Some(10_000),
            json: false,
            ..quiet_args(rx.local_addr().unwrap())
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

    #[test]
    fn fixed_rate_records_send_lag_and_writes_its_log() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let args = LoadgenArgs {
            transport: Transport::Udp,
            count: Some(2_000),
            rate: Some(1_000_000),
            hlog_dir: Some(dir.path().to_path_buf()),
            ..quiet_args(rx.local_addr().unwrap())
        };
        let report = run(&args).unwrap();
        let lag = report.send_lag.expect("fixed rate measures send lag");
        assert_eq!(lag.count, 2_000);
        let log = report.hlog.expect("a log was written");
        let intervals = crate::latency::hlog::read(&log).unwrap();
        assert!(intervals
            .iter()
            .all(|i| i.tag.as_deref() == Some("send-lag")));
        let n: u64 = intervals.iter().map(|i| i.histogram.len()).sum();
        assert_eq!(n, 2_000);
    }

    #[test]
    fn replay_sends_the_file_lines_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            BufReader::new(s)
                .lines()
                .map(|l| l.unwrap())
                .collect::<Vec<_>>()
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lines.log");
        std::fs::write(&file, "<13>first line\n\n<13>second line\r\n").unwrap();
        let args = LoadgenArgs {
            replay: Some(file),
            count: Some(5),
            ..quiet_args(target)
        };
        assert_eq!(run(&args).unwrap().sent, 5);
        let got = server.join().unwrap();
        assert_eq!(
            got,
            [
                "<13>first line",
                "<13>second line",
                "<13>first line",
                "<13>second line",
                "<13>first line"
            ]
        );
    }
}
