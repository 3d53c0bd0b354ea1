//! End to end against the real binary: forwarded Windows events (NXLog `to_json()` lines and
//! rendered event XML from `tests/data/samples/windows/`) over the syslog TCP port and over
//! `POST /windows`, and the enrichment table's `logs.enriched` topic, through librdkafka's
//! mock cluster (owned by the test) to a real consumer.

mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use common::http_client::*;
use common::*;
use serde_json::Value;

const IDLE: Duration = Duration::from_secs(10);

fn start(kafka: &Kafka, extra: &str) -> (Appliance, u16) {
    let port = free_port();
    let extra = format!("[http_input]\nlisten = \"127.0.0.1:{port}\"\n\n{extra}");
    (Appliance::start(&kafka.bootstrap(), &extra), port)
}

/// What `linerate import windows FILE --stdout` makes of a sample (checked field by field
/// against hand-written expectations in `tests/import_golden.rs`).
fn imported(rel: &str) -> Vec<Value> {
    let out = Command::new(bin())
        .args(["import", "windows"])
        .arg(testdata().join(rel))
        .arg("--stdout")
        .output()
        .expect("run linerate import");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Events as comparable text: without `event.ingested` (the receive time) and `labels`,
/// sorted (partitions do not keep the order between them).
fn comparable(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e["event"].as_object_mut().unwrap().remove("ingested");
            e.as_object_mut().unwrap().remove("labels");
            e.to_string()
        })
        .collect();
    out.sort();
    out
}

fn send_tcp(port: u16, lines: &[&[u8]]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for line in lines {
        s.write_all(line).unwrap();
        s.write_all(b"\n").unwrap();
    }
    s.flush().unwrap();
}

fn windows(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["event"]["dataset"] == "windows.eventlog")
        .cloned()
        .collect()
}

#[test]
fn forwarded_windows_events_over_tcp_and_http_are_normalized_as_windows_events() {
    let kafka = Kafka::start();
    let (app, http_port) = start(&kafka, "");
    let nxlog = sample("windows/nxlog.ndjson");
    let xml = sample("windows/events.xml");
    let mut expected = imported("windows/nxlog.ndjson");
    expected.extend(imported("windows/events.xml"));
    let n = expected.len();
    assert_eq!(n, 13);

    // Over the syslog TCP port, one record per line, beside a syslog line whose MSG is JSON.
    let mut lines: Vec<&[u8]> = nxlog.split(|b| *b == b'\n').collect();
    lines.extend(xml.split(|b| *b == b'\n'));
    lines.retain(|l| !l.is_empty());
    lines.push(b"<13>1 2025-03-01T10:00:00Z web-01 app - - - {\"EventID\":1}");
    send_tcp(app.syslog_port, &lines);
    let events = consume(&kafka.bootstrap(), "logs.normalized", n + 1, IDLE);
    assert_eq!(events.len(), n + 1);
    let syslog: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["dataset"] == "syslog")
        .collect();
    assert_eq!(syslog.len(), 1);
    assert_eq!(syslog[0]["message"], "{\"EventID\":1}");
    let over_tcp = windows(&events);
    assert_eq!(comparable(&over_tcp), comparable(&expected));
    assert_eq!(over_tcp[0]["event"]["kind"], "event");

    // Over POST /windows: NDJSON, and event XML gzipped.
    let r = post(http_port, "/windows", &[], &nxlog);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"accepted": 7}))
    );
    let r = post(
        http_port,
        "/windows",
        &[("Content-Encoding", "gzip")],
        &gzip(&xml),
    );
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"accepted": 6}))
    );
    // XML that is not events refuses the whole body.
    let r = post(http_port, "/windows", &[], b"<Event><System></Event>");
    assert_eq!(r.status, 400, "{r:?}");
    let events = consume(&kafka.bootstrap(), "logs.normalized", 2 * n + 1, IDLE);
    assert_eq!(events.len(), 2 * n + 1);
    let all = windows(&events);
    let mut twice = expected.clone();
    twice.extend(expected);
    assert_eq!(comparable(&all), comparable(&twice));
    let m = app.wait_metrics(IDLE, |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        ) == (2 * n + 1) as u64
    });
    assert_eq!(
        m.sum("linerate_events_parsed_total", &[]),
        (2 * n + 1) as u64
    );
    assert_eq!(m.sum("linerate_parse_errors_total", &[]), 0);
}

#[test]
fn enrichment_labels_matching_hosts_and_networks_on_logs_enriched() {
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("owners.csv");
    std::fs::write(
        &table,
        "match,owner,site,criticality\n\
         web-01.corp.example.com,web team,fra1,high\n\
         fs-02.corp.example.com,storage,ams2,medium\n\
         127.0.0.2,lab,bench,low\n\
         127.0.0.0/30,loopback,local,\n",
    )
    .unwrap();
    let extra = format!("[enrich]\ntable = \"{}\"\n", table.display());
    let (app, http_port) = start(&kafka, &extra);

    // By hostname (TCP, peer 127.0.0.1 also matches 127.0.0.0/30: the hostname wins).
    send_tcp(
        app.syslog_port,
        &[b"<13>1 2025-03-01T10:00:00Z WEB-01.corp.example.com app - - - by host"],
    );
    // By peer address (UDP from other loopback addresses): /32, /30, and no row.
    for (from, msg) in [
        ("127.0.0.2", "by address"),
        ("127.0.0.3", "by network"),
        ("127.0.0.9", "no row"),
    ] {
        let s = UdpSocket::bind((from, 0)).unwrap();
        let line = format!("<13>1 2025-03-01T10:00:00Z other app - - - {msg}");
        s.send_to(line.as_bytes(), ("127.0.0.1", app.syslog_port))
            .unwrap();
    }
    // Windows records by their Computer (host.hostname): two of FS-02's lines match.
    let r = post(http_port, "/windows", &[], &sample("windows/nxlog.ndjson"));
    assert_eq!(r.status, 200, "{r:?}");
    let total = 4 + 7;

    let enriched = consume(&kafka.bootstrap(), "logs.enriched", total, IDLE);
    assert_eq!(enriched.len(), total);
    let normalized = consume(&kafka.bootstrap(), "logs.normalized", total, IDLE);
    // The enriched topic carries every event: labels added, nothing else changed.
    assert_eq!(comparable(&enriched), comparable(&normalized));
    assert!(normalized.iter().all(|e| e.get("labels").is_none()));
    let labels_of = |message: &str| {
        enriched
            .iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("{message} not on logs.enriched"))
            .get("labels")
            .cloned()
    };
    assert_eq!(
        labels_of("by host"),
        Some(serde_json::json!({"owner": "web team", "site": "fra1", "criticality": "high"}))
    );
    assert_eq!(
        labels_of("by address"),
        Some(serde_json::json!({"owner": "lab", "site": "bench", "criticality": "low"}))
    );
    assert_eq!(
        labels_of("by network"),
        Some(serde_json::json!({"owner": "loopback", "site": "local"}))
    );
    assert_eq!(labels_of("no row"), None);
    let fs02: Vec<&Value> = enriched
        .iter()
        .filter(|e| e["host"]["hostname"] == "FS-02.corp.example.com")
        .collect();
    assert_eq!(fs02.len(), 2);
    assert!(fs02.iter().all(|e| e["labels"]["owner"] == "storage"));
    // The other Windows records match by the peer they came from (127.0.0.1, in the /30),
    // whatever their own source.ip: every event but "no row" matched.
    let matched = enriched
        .iter()
        .filter(|e| e.get("labels").is_some())
        .count();
    assert_eq!(matched, total - 1);
    let m = app.wait_metrics(IDLE, |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.enriched\""],
        ) == total as u64
    });
    assert_eq!(m.sum("linerate_enrich_matches_total", &[]), matched as u64);
    for topic in ["logs.raw", "logs.normalized", "logs.enriched"] {
        let label = format!("topic=\"{topic}\"");
        assert_eq!(
            m.sum("linerate_events_delivered_total", &[&label]),
            total as u64,
            "{topic}"
        );
    }
    // Everything acknowledged on all three topics: nothing left in flight.
    let m = app.wait_metrics(IDLE, |m| {
        m.sum("linerate_buffer_in_flight_events", &[]) == 0
    });
    assert_eq!(m.sum("linerate_buffer_in_flight_events", &[]), 0);
}

#[test]
fn a_bad_enrichment_row_stops_startup_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("owners.csv");
    std::fs::write(&table, "match,owner\nweb-01,web\nnot a host!,x\n").unwrap();
    let cfg = dir.path().join("linerate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[syslog]\ntcp_listen = \"127.0.0.1:0\"\nudp_listen = \"\"\n\n[http]\nlisten = \"\"\n\n\
             [buffer]\ndata_dir = \"{}\"\n\n[enrich]\ntable = \"{}\"\n",
            dir.path().join("data").display(),
            table.display()
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:3: match `not a host!`", table.display());
    assert!(err.contains(&want), "{err}");
}

#[test]
fn socket_and_http_windows_filters_keep_only_what_they_name() {
    let kafka = Kafka::start();
    // TCP: every event but the logons (4624-4625); POST /windows: process creation only.
    let (app, http_port) = start(
        &kafka,
        "[syslog.windows_filter.exclude]\nevent_ids = [\"4624-4625\"]\n\n\
         [http_input.windows_filter.include]\nevent_ids = [4688]\n",
    );
    let nxlog = sample("windows/nxlog.ndjson");
    let all = imported("windows/nxlog.ndjson");
    let code = |e: &Value| e["event"]["code"].as_str().unwrap().to_string();
    let tcp_kept: Vec<Value> = all
        .iter()
        .filter(|e| !["4624", "4625"].contains(&code(e).as_str()))
        .cloned()
        .collect();
    let http_kept: Vec<Value> = all.iter().filter(|e| code(e) == "4688").cloned().collect();
    assert_eq!((all.len(), tcp_kept.len(), http_kept.len()), (7, 4, 1));

    let mut lines: Vec<&[u8]> = nxlog.split(|b| *b == b'\n').collect();
    lines.retain(|l| !l.is_empty());
    // Syslog is never filtered, whatever its MSG holds.
    lines.push(b"<13>1 2025-03-01T10:00:00Z web-01 app - - - {\"EventID\":4624}");
    send_tcp(app.syslog_port, &lines);
    let r = post(http_port, "/windows", &[], &nxlog);
    // The whole body was taken; what the filter dropped is counted, not buffered.
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"accepted": 7}))
    );
    let n = tcp_kept.len() + http_kept.len() + 1;
    let events = consume(&kafka.bootstrap(), "logs.normalized", n, IDLE);
    assert_eq!(events.len(), n);
    let mut expected = tcp_kept;
    expected.extend(http_kept);
    assert_eq!(comparable(&windows(&events)), comparable(&expected));
    let m = app.wait_metrics(IDLE, |m| {
        m.sum("linerate_events_filtered_total", &[]) == 3 + 6
            && m.sum(
                "linerate_events_delivered_total",
                &["topic=\"logs.normalized\""],
            ) == n as u64
    });
    assert_eq!(m.sum("linerate_events_filtered_total", &[]), 9);
    assert_eq!(m.sum("linerate_events_received_total", &[]), n as u64);
}

/// The quadratic-work case of issue 12: NXLog events of 64 KiB, each with ~4,000 `EventData`
/// fields (one name in five repeated), sent over the syslog TCP port. Before the linear
/// de-duplication one such event cost ~40 ms of a shard's time; now every event arrives,
/// each name once with its last value, and the appliance stays healthy. (No timing is
/// asserted: the cost is measured in `cargo bench --bench import -- nxlog_64k`.)
#[test]
fn nxlog_events_of_64_kib_with_thousands_of_fields_arrive_with_the_last_value_of_each() {
    const EVENTS: usize = 20;
    const EVENT_BYTES_MAX: usize = 65_000;
    let sample = String::from_utf8(sample("windows/nxlog.ndjson")).unwrap();
    let first = sample.lines().next().unwrap().trim_end();
    let mut record = first.strip_suffix('}').unwrap().to_string();
    let mut fields = 0usize;
    for i in 0.. {
        // Every fifth field repeats the name four before it, with a new value.
        let name = if i % 5 == 4 { i - 4 } else { i };
        let field = format!(",\"D{name:04}\":\"v{i}\"");
        if record.len() + field.len() + 1 > EVENT_BYTES_MAX {
            break;
        }
        record.push_str(&field);
        fields += 1;
    }
    record.push('}');
    assert!(fields > 3_500, "{fields} fields");
    let kafka = Kafka::start();
    let (app, _) = start(&kafka, "");
    let lines: Vec<&[u8]> = (0..EVENTS).map(|_| record.as_bytes()).collect();
    send_tcp(app.syslog_port, &lines);
    let events = windows(&consume(
        &kafka.bootstrap(),
        "logs.normalized",
        EVENTS,
        IDLE,
    ));
    assert_eq!(events.len(), EVENTS);
    for e in &events {
        let data = e["winlog"]["event_data"]
            .as_object()
            .unwrap_or_else(|| panic!("no winlog.event_data in {e}"));
        // D0000 was given at i = 0 and again at i = 4: the last value wins.
        assert_eq!(data["D0000"], "v4");
        assert_eq!(data["D0001"], "v1");
        assert_eq!(data["D0005"], "v9");
        let padded = data
            .keys()
            .filter(|k| {
                k.len() == 5 && k.starts_with('D') && k[1..].bytes().all(|b| b.is_ascii_digit())
            })
            .count();
        assert_eq!(padded, fields - fields / 5, "each name once");
    }
    let (status, _) = http_get(app.http_port, "/health").expect("/health answers");
    assert_eq!(status, 200);
}
