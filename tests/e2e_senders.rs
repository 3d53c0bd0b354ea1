//! End to end against the real binary, from the senders' side: connection churn, idle
//! connections, framing edge cases real senders produce, kernel UDP drops, and the real
//! `logger` and Python `SysLogHandler` sending to linerate over loopback.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

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
/// exactly once. An accept dropped in flight would leave one connection unserved.
#[test]
fn thousands_of_short_connections_are_all_served() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const THREADS: usize = 8;
    const PER_THREAD: usize = 500;
    const TOTAL: usize = THREADS * PER_THREAD;
    let port = app.syslog_port;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    // Half end with LF, half end at the close (as `logger -T` may).
                    let end = if i % 2 == 0 { "\n" } else { "" };
                    write!(s, "<13>Jan  2 03:04:05 host app: short t{t} i{i}{end}").unwrap();
                    drop(s);
                    // Paced unevenly, so connections also arrive while the listener is idle
                    // with an accept in flight (not only from a full backlog).
                    std::thread::sleep(Duration::from_micros(((i * 7 + t) % 6) as u64 * 1000));
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
