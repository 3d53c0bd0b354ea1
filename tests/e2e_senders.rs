//! End to end against the real binary, from the senders' side: connection churn, idle
//! connections, framing edge cases real senders produce, kernel UDP drops, and the real
//! `logger` and Python `SysLogHandler` sending to linerate over loopback.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// `host`'s count of each `message` among `events`.
fn messages_of(events: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for ev in events {
        let msg = ev["message"].as_str().unwrap_or_default().to_string();
        *seen.entry(msg).or_insert(0) += 1;
    }
    seen
}

/// Thousands of short connections opened and closed in parallel (each one message, no
/// delimiter on some): every connection is counted as accepted and every message arrives
/// exactly once. Paced at random (0 to 8 ms apart on each sender), so many arrive while a
/// shard's listener is idle with an accept in flight and its 5 ms inbox check due: the binary
/// before the accept-loop fix failed this test in each of 3 runs here (3, 1 and 3 of 3,000
/// messages missing, their connections uncounted); the fixed one passed 4 of 4.
#[test]
fn thousands_of_short_connections_are_all_served() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const THREADS: usize = 2;
    const PER_THREAD: usize = 1500;
    const TOTAL: usize = THREADS * PER_THREAD;
    let port = app.syslog_port;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                // A fixed pseudo-random pace per sender (xorshift), so runs are alike.
                let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (t as u64 + 1);
                for i in 0..PER_THREAD {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    // Half end with LF, half end at the close (as `logger -T` may).
                    let end = if i % 2 == 0 { "\n" } else { "" };
                    write!(s, "<13>Jan  2 03:04:05 host app: short t{t} i{i}{end}").unwrap();
                    drop(s);
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    std::thread::sleep(Duration::from_micros(x % 8000));
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        TOTAL,
        Duration::from_secs(30),
    );
    let seen = messages_of(&events);
    let missing: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| format!("short t{t} i{i}")))
        .filter(|m| !seen.contains_key(m))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {TOTAL} arrived; missing {missing:?}",
        seen.len()
    );
    assert!(seen.values().all(|&n| n == 1), "a message arrived twice");
    assert_eq!(events.len(), TOTAL);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_tcp_connections_accepted_total", &[]) == TOTAL as u64
            && m.sum("linerate_tcp_connections_open", &[]) == 0
    });
    assert_eq!(
        m.sum("linerate_tcp_connections_accepted_total", &[]),
        TOTAL as u64
    );
    assert_eq!(m.sum("linerate_tcp_connections_open", &[]), 0);
    assert_eq!(m.sum("linerate_events_dropped_total", &[]), 0);
}

/// Send one LF-terminated line on a fresh connection and close it.
fn send_line(port: u16, line: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    writeln!(s, "{line}").unwrap();
}

/// 2,000 idle connections (each sent one message, then nothing) cost a few KiB each, not a
/// read buffer of `tcp_read_buffer_bytes` (256 KiB) each, and a new sender is still served.
#[test]
fn idle_connections_stay_small_and_a_new_sender_is_served() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const IDLE: usize = 2000;
    // Warm up: the first connections and events allocate the shards' steady state.
    send_line(app.syslog_port, "<13>Jan  2 03:04:05 host app: warm-up");
    app.wait_metrics(Duration::from_secs(15), |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        ) == 1
    });
    let before = app.rss_bytes();
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s = TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
        writeln!(s, "<13>Jan  2 03:04:05 host app: idle {i}").unwrap();
        idle.push(s);
    }
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_tcp_connections_open", &[]) == IDLE as u64
            && m.sum(
                "linerate_events_delivered_total",
                &["topic=\"logs.normalized\""],
            ) == IDLE as u64 + 1
    });
    assert_eq!(m.sum("linerate_tcp_connections_open", &[]), IDLE as u64);
    let grown = app.rss_bytes().saturating_sub(before);
    eprintln!(
        "RSS {} MiB -> +{} KiB for {IDLE} idle connections ({} bytes each)",
        before >> 20,
        grown >> 10,
        grown / IDLE as u64
    );
    // 256 KiB each before read buffers were sized on demand (+514 MB for 2,000); allow
    // 32 KiB each for the task, the stream and the 4 KiB buffer.
    assert!(
        grown < (IDLE as u64) * (32 << 10),
        "RSS grew {grown} bytes for {IDLE} idle connections"
    );
    send_line(app.syslog_port, "<13>Jan  2 03:04:05 host app: newcomer");
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        IDLE + 2,
        Duration::from_secs(30),
    );
    let seen = messages_of(&events);
    assert_eq!(seen.get("newcomer"), Some(&1), "the new sender was served");
    assert!((0..IDLE).all(|i| seen.get(&format!("idle {i}")) == Some(&1)));
    drop(idle);
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_tcp_connections_open", &[]) == 0
    });
    assert_eq!(m.sum("linerate_tcp_connections_open", &[]), 0);
    assert_eq!(m.sum("linerate_tcp_connections_idle_closed_total", &[]), 0);
}

/// Connections that go quiet are closed after `tcp_idle_timeout_secs` and counted; one that
/// went quiet in the middle of a message still has it delivered; the senders see the close.
#[test]
fn quiet_connections_are_closed_after_the_idle_timeout_and_counted() {
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let app = Appliance::start_in(
        data.path(),
        &kafka.bootstrap(),
        "",
        Keys {
            syslog: "tcp_idle_timeout_secs = 1",
            ..Keys::default()
        },
    );
    const QUIET: usize = 50;
    let mut quiet = Vec::new();
    for i in 0..QUIET {
        let mut s = TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
        // Every tenth stops mid-message (no LF).
        let end = if i % 10 == 0 { "" } else { "\n" };
        write!(s, "<13>Jan  2 03:04:05 host app: quiet {i}{end}").unwrap();
        quiet.push(s);
    }
    let m = app.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("linerate_tcp_connections_idle_closed_total", &[]) == QUIET as u64
            && m.sum("linerate_tcp_connections_open", &[]) == 0
    });
    assert_eq!(
        m.sum("linerate_tcp_connections_idle_closed_total", &[]),
        QUIET as u64
    );
    assert_eq!(m.sum("linerate_tcp_connections_open", &[]), 0);
    for mut s in quiet {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        assert_eq!(
            std::io::Read::read_to_end(&mut s, &mut rest).unwrap(),
            0,
            "closed by linerate"
        );
    }
    send_line(app.syslog_port, "<13>Jan  2 03:04:05 host app: after");
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        QUIET + 1,
        Duration::from_secs(30),
    );
    let seen = messages_of(&events);
    for i in 0..QUIET {
        assert_eq!(
            seen.get(&format!("quiet {i}")),
            Some(&1),
            "quiet {i}: {seen:?}"
        );
    }
    assert_eq!(seen.get("after"), Some(&1));
}

/// An octet count far beyond any message (`9999999999`) is a framing error: the frames
/// before it arrive, a `pipeline_error` event carries what was read of the bad frame, it is
/// counted, and the connection is closed instead of swallowing the rest of the stream.
#[test]
fn an_absurd_octet_count_is_a_counted_framing_error_that_closes_the_connection() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let mut s = TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
    let good = "<13>Jan  2 03:04:05 host app: before";
    write!(
        s,
        "{} {good}9999999999 <13>Jan  2 03:04:05 host app: bad",
        good.len()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    // Closed by linerate (EOF, or a reset if it closed with unread bytes).
    let _ = std::io::Read::read_to_end(&mut s, &mut rest);
    assert!(rest.is_empty());
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        2,
        Duration::from_secs(30),
    );
    assert_eq!(events.len(), 2, "{events:?}");
    // Keyed differently (hostname, peer), so on different partitions: found by kind.
    let (errs, ok): (Vec<_>, Vec<_>) = events
        .iter()
        .partition(|e| e["event"]["kind"] == "pipeline_error");
    assert_eq!(ok.len(), 1, "{events:?}");
    assert_eq!(ok[0]["message"], "before");
    let err = errs[0];
    assert_eq!(err["event"]["kind"], "pipeline_error", "{err}");
    assert_eq!(
        err["error"]["type"], "syslog.octet_count_too_large",
        "{err}"
    );
    assert_eq!(
        err["event"]["original"],
        "9999999999 <13>Jan  2 03:04:05 host app: bad"
    );
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_tcp_framing_errors_total", &[]) == 1
    });
    assert_eq!(m.sum("linerate_tcp_framing_errors_total", &[]), 1);
    assert_eq!(m.sum("linerate_parse_errors_total", &[]), 1);
}

/// Datagrams the kernel drops on a full receive buffer are counted even when no datagram
/// follows them: the process is stopped (SIGSTOP) while a burst overflows its small receive
/// buffer, then continued, and nothing more is sent; every datagram ends up received or
/// counted as `udp_receive_buffer_full`.
#[test]
fn kernel_udp_drops_show_without_a_later_datagram() {
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let app = Appliance::start_in(
        data.path(),
        &kafka.bootstrap(),
        "",
        Keys {
            syslog: "recv_buffer_bytes = 4096",
            ..Keys::default()
        },
    );
    const SENT: u64 = 500;
    let pid = app.child.id() as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        let line = format!("<13>Jan  2 03:04:05 host app: burst {i}");
        tx.send_to(line.as_bytes(), ("127.0.0.1", app.syslog_port))
            .unwrap();
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let dropped = |m: &Metrics| {
        m.sum(
            "linerate_events_dropped_total",
            &["reason=\"udp_receive_buffer_full\""],
        )
    };
    let received = |m: &Metrics| m.sum("linerate_events_received_total", &["transport=\"udp\""]);
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        received(m) + dropped(m) == SENT
    });
    assert!(dropped(&m) > 0, "the small buffer overflowed: {m:?}");
    assert!(received(&m) > 0);
    assert_eq!(received(&m) + dropped(&m), SENT, "{m:?}");
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        received(&m) as usize,
        Duration::from_secs(20),
    );
    assert_eq!(events.len() as u64, received(&m));
}

/// Run a sender command; it must succeed.
fn run(cmd: &mut std::process::Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// This machine's host name as `logger` sends it (up to the first dot).
fn short_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: a live buffer of the length passed.
    assert_eq!(
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) },
        0
    );
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    name.split('.').next().unwrap_or_default().to_string()
}

/// The real senders: util-linux `logger` over TCP (RFC 5424, LF-framed), TCP with octet
/// counting, TCP in RFC 3164, UDP, and Python's `logging.handlers.SysLogHandler` over UDP and
/// TCP (which ends each message with NUL, no LF): each message arrives exactly once, with
/// the fields its sender set.
#[test]
fn logger_and_python_syslog_handler_messages_arrive_once_with_their_fields() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let port = app.syslog_port.to_string();
    let logger = |args: &[&str], text: &str| {
        run(std::process::Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &port, "-t", "myapp", "--id=4242"])
            .args(args)
            .arg(text));
    };
    logger(&["-T"], "logger tcp rfc5424");
    logger(&["-T", "--octet-count"], "logger tcp octet-counted");
    logger(&["-T", "--rfc3164"], "logger tcp rfc3164");
    logger(&["-d"], "logger udp rfc5424");
    logger(&["-d", "--rfc3164"], "logger udp rfc3164");
    let python = format!(
        r#"
import logging, logging.handlers, socket
for st, name in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
    h = logging.handlers.SysLogHandler(address=("127.0.0.1", {port}), socktype=st,
                                       facility=logging.handlers.SysLogHandler.LOG_LOCAL3)
    h.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger("pyapp")
    log.handlers = [h]
    log.setLevel(logging.INFO)
    log.warning("python %s warning", name)
    log.info("python %s info", name)
    h.close()
"#
    );
    run(std::process::Command::new("python3").args(["-c", &python]));
    const SENT: usize = 9;
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        SENT,
        Duration::from_secs(15),
    );
    let seen = messages_of(&events);
    assert_eq!(events.len(), SENT, "{seen:?}");
    // Nothing more was received than the messages sent (no message split or doubled).
    let m = app.metrics();
    assert_eq!(m.sum("linerate_events_received_total", &[]), SENT as u64);
    let host = short_hostname();
    for ev in &events {
        let msg = ev["message"].as_str().unwrap_or_default();
        assert_eq!(seen[msg], 1, "{msg} arrived more than once");
        let syslog = &ev["log"]["syslog"];
        assert_eq!(ev["event"]["kind"], "event", "{ev}");
        assert!(!msg.contains('\0'), "{ev}");
        if msg.starts_with("logger") {
            assert_eq!(syslog["appname"], "myapp", "{ev}");
            assert_eq!(syslog["procid"], "4242", "{ev}");
            assert_eq!(syslog["priority"], 13, "{ev}"); // user.notice
            let sent_host = ev["host"]["hostname"].as_str().unwrap_or_default();
            assert_eq!(sent_host.split('.').next(), Some(host.as_str()), "{ev}");
            assert_eq!(
                syslog.get("version").is_some(),
                msg.ends_with("rfc5424") || msg.ends_with("octet-counted"),
                "{ev}"
            );
        } else {
            assert_eq!(syslog["appname"], "pyapp", "{ev}");
            assert_eq!(syslog["facility"]["name"], "local3", "{ev}");
            let severity = if msg.ends_with("warning") {
                "warning"
            } else {
                "informational"
            };
            assert_eq!(syslog["severity"]["name"], severity, "{ev}");
        }
    }
    let mut want: Vec<&str> = vec![
        "logger tcp rfc5424",
        "logger tcp octet-counted",
        "logger tcp rfc3164",
        "logger udp rfc5424",
        "logger udp rfc3164",
        "python udp warning",
        "python udp info",
        "python tcp warning",
        "python tcp info",
    ];
    want.retain(|m| seen.get(*m) != Some(&1));
    assert!(want.is_empty(), "missing {want:?} in {seen:?}");
}
