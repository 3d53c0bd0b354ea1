//! The baseline receiver for `bench/e2e.sh`: reads sockets and counts messages, nothing else.
//!
//! Binds TCP and UDP on `--listen` with SO_REUSEPORT. TCP: a thread per connection, plain
//! `read` into 256 KiB and LF counting with memchr. UDP: one thread per core, `recvmmsg`
//! batches of 64. Exits after `--expect N` messages (or SIGINT/SIGTERM) and prints
//! `{"messages":N,"bytes":B,"first_to_last_secs":S,"cpu_secs":C}` on stdout.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

impl Counters {
    fn add(&self, messages: u64, bytes: u64) {
        if messages == 0 {
            return;
        }
        let now = Instant::now();
        if self.messages.fetch_add(messages, Ordering::Relaxed) == 0 {
            *self.first.lock().unwrap() = Some(now);
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        *self.last.lock().unwrap() = Some(now);
    }
}

fn main() {
    let mut listen: SocketAddr = "127.0.0.1:5600".parse().unwrap();
    let mut expect = u64::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .expect("--listen ADDR")
                    .parse()
                    .expect("address")
            }
            "--expect" => expect = args.next().expect("--expect N").parse().expect("number"),
            other => panic!("unknown argument {other}"),
        }
    }
    let c = Arc::new(Counters {
        messages: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        first: Mutex::new(None),
        last: Mutex::new(None),
        stop: AtomicBool::new(false),
    });
    let term = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone()).unwrap();
    signal_hook::flag::register(signal_hook::consts::SIGINT, term.clone()).unwrap();

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    for _ in 0..cores {
        let sock = linerate::ingest::sockets::bind_udp(listen, 8 << 20).expect("bind udp");
        let c = c.clone();
        std::thread::spawn(move || {
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut batch = linerate::ingest::udp_batch::UdpBatch::new(64, 65_536);
            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
            while !c.stop.load(Ordering::Relaxed) {
                // Block (with timeout) until something arrives, then drain without blocking.
                if sock.peek(&mut probe).is_err() {
                    continue;
                }
                while let Ok(n) = batch.recv(sock.as_raw_fd()) {
                    if n == 0 {
                        break;
                    }
                    let bytes: usize = (0..n)
                        .filter_map(|i| batch.get(i))
                        .map(|d| d.payload.len())
                        .sum();
                    c.add(n as u64, bytes as u64);
                }
            }
        });
    }
    let tcp = linerate::ingest::sockets::bind_tcp(listen, 8 << 20, 1024).expect("bind tcp");
    let listener: TcpListener = tcp.into();
    {
        let c = c.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = vec![0u8; 256 << 10];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        c.add(
                            memchr::memchr_iter(b'\n', &buf[..n]).count() as u64,
                            n as u64,
                        );
                    }
                });
            }
        });
    }
    let mut last_print = Instant::now();
    while !term.load(Ordering::Relaxed) && c.messages.load(Ordering::Relaxed) < expect {
        std::thread::sleep(Duration::from_millis(5));
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!("raw_drain: {} messages", c.messages.load(Ordering::Relaxed));
        }
    }
    c.stop.store(true, Ordering::Relaxed);
    let span = match (*c.first.lock().unwrap(), *c.last.lock().unwrap()) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    // SAFETY: getrusage fills a local struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    println!(
        "{{\"messages\":{},\"bytes\":{},\"first_to_last_secs\":{span:.6},\"cpu_secs\":{:.3}}}",
        c.messages.load(Ordering::Relaxed),
        c.bytes.load(Ordering::Relaxed),
        cpu(ru.ru_utime) + cpu(ru.ru_stime)
    );
}
