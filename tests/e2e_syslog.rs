//! End to end against the real binary: syslog over loopback sockets → linerate → a real
//! Kafka-protocol broker (librdkafka's mock cluster, owned by the test) → a real consumer.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn assert_all_seqs(seqs: &HashSet<u64>, n: u64, what: &str) {
    let missing: Vec<u64> = (0..n).filter(|s| !seqs.contains(s)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {n} present; first missing {missing:?}",
        seqs.len()
    );
}

#[test]
fn tcp_both_framings_reach_kafka_in_order_and_counted() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let port = app.syslog_port;
    const PER_RUN: u64 = 100_000;
    let count = PER_RUN.to_string();
    let lf = std::thread::spawn({
        let count = count.clone();
        move || {
            loadgen(
                port,
                &[
                    "--transport",
                    "tcp",
                    "--connections",
                    "2",
                    "--format",
                    "rfc5424",
                    "--framing",
                    "lf",
                    "--count",
                    &count,
                ],
            )
        }
    });
    let octet = loadgen(
        port,
        &[
            "--transport",
            "tcp",
            "--connections",
            "2",
            "--format",
            "rfc3164",
            "--framing",
            "octet",
            "--count",
            &count,
        ],
    );
    let lf = lf.join().unwrap();
    assert_eq!(lf["sent"], PER_RUN);
    assert_eq!(octet["sent"], PER_RUN);

    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        2 * PER_RUN as usize,
        Duration::from_secs(30),
    );
    assert_eq!(
        events.len() as u64,
        2 * PER_RUN,
        "normalized events consumed"
    );
    let (mut rfc5424, mut rfc3164) = (HashSet::new(), HashSet::new());
    for ev in &events {
        let seq = seq_of(ev).unwrap_or_else(|| panic!("no seq in {ev}"));
        let syslog = &ev["log"]["syslog"];
        assert_eq!(ev["event"]["kind"], "event", "{ev}");
        assert_eq!(ev["event"]["dataset"], "syslog");
        assert_eq!(syslog["priority"], 134, "{ev}");
        assert_eq!(syslog["facility"]["name"], "local0");
        assert_eq!(syslog["severity"]["name"], "informational");
        assert_eq!(ev["log"]["level"], "informational");
        assert_eq!(ev["event"]["severity"], 6);
        assert_eq!(syslog["hostname"], "loadgen-host", "{ev}");
        assert_eq!(ev["host"]["hostname"], "loadgen-host");
        assert_eq!(syslog["appname"], "linerate-loadgen", "{ev}");
        assert_eq!(syslog["procid"], "4242", "{ev}");
        assert_eq!(ev["source"]["ip"], "127.0.0.1", "{ev}");
        assert!(ev["@timestamp"].as_str().unwrap().ends_with('Z'));
        let fresh = if syslog["version"] == 1 {
            assert_eq!(syslog["msgid"], "LOAD", "{ev}");
            rfc5424.insert(seq)
        } else {
            assert!(syslog.get("version").is_none(), "{ev}");
            rfc3164.insert(seq)
        };
        assert!(fresh, "duplicate seq {seq}");
    }
    assert_all_seqs(&rfc5424, PER_RUN, "rfc5424 over LF framing");
    assert_all_seqs(&rfc3164, PER_RUN, "rfc3164 over octet-counted framing");

    // The raw topic carries the same records as received.
    let raw_count = app
        .wait_metrics(Duration::from_secs(10), |m| {
            m.sum("linerate_events_delivered_total", &["topic=\"logs.raw\""]) == 2 * PER_RUN
        })
        .sum("linerate_events_delivered_total", &["topic=\"logs.raw\""]);
    assert_eq!(raw_count, 2 * PER_RUN);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        ) == 2 * PER_RUN
    });
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]),
        2 * PER_RUN
    );
    assert_eq!(
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""]
        ),
        events.len() as u64
    );
    assert_eq!(m.sum("linerate_parse_errors_total", &[]), 0);
    assert_eq!(m.sum("linerate_events_dropped_total", &[]), 0);
    assert_eq!(m.sum("linerate_tcp_connections_accepted_total", &[]), 4);
    let (code, _) = app.terminate();
    assert_eq!(code, 0);
}

#[test]
fn udp_at_a_modest_rate_loses_nothing_and_reports_loss_counters() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const N: u64 = 20_000;
    let report = loadgen(
        app.syslog_port,
        &[
            "--transport",
            "udp",
            "--rate",
            "4000",
            "--count",
            &N.to_string(),
        ],
    );
    assert_eq!(report["sent"], N);
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        N as usize,
        Duration::from_secs(15),
    );
    let seqs: HashSet<u64> = events.iter().filter_map(seq_of).collect();
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        ) >= events.len() as u64
    });
    // Loss is reported, per reason, and at this rate it is zero.
    let kernel_drops = m.sum(
        "linerate_events_dropped_total",
        &["reason=\"udp_receive_buffer_full\""],
    );
    assert!(
        m.0.keys()
            .any(|k| k.contains("reason=\"udp_receive_buffer_full\"")),
        "drop counter exported"
    );
    assert_eq!(kernel_drops, 0, "kernel dropped datagrams");
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"udp\""]),
        N
    );
    assert_eq!(events.len() as u64, N);
    assert_all_seqs(&seqs, N, "udp");
    assert_eq!(
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""]
        ),
        N
    );
}

#[test]
fn sigterm_under_tcp_load_loses_nothing_counted_as_received() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let mut load = loadgen_to(app.syslog_port)
        .args([
            "--transport",
            "tcp",
            "--connections",
            "4",
            "--count",
            "50000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let load build up, then stop the appliance in the middle of it.
    app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_events_received_total", &[]) > 50_000
    });
    let (code, stdout) = app.terminate();
    let _ = load.kill();
    let _ = load.wait();
    assert_eq!(code, 0, "graceful shutdown exits 0");
    let totals: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("final counts")).unwrap();
    let received = totals["received"][1].as_u64().unwrap();
    assert!(received > 50_000, "{totals}");
    assert_eq!(
        totals["delivered"][1].as_u64().unwrap(),
        received,
        "every received event delivered: {totals}"
    );
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        received as usize,
        Duration::from_secs(20),
    );
    let seqs: HashSet<u64> = events.iter().filter_map(seq_of).collect();
    assert_eq!(
        events.len() as u64,
        received,
        "events in Kafka vs counted as received"
    );
    assert_eq!(seqs.len() as u64, received, "distinct sequence numbers");
}

#[test]
fn embedded_broker_default_runs_without_kafka() {
    let app = Appliance::start("embedded", "");
    let report = loadgen(app.syslog_port, &["--transport", "tcp", "--count", "1000"]);
    assert_eq!(report["sent"], 1000);
    let m = app.wait_metrics(Duration::from_secs(20), |m| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        ) == 1000
    });
    assert_eq!(
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""]
        ),
        1000
    );
    assert_eq!(m.sum("linerate_kafka_reachable", &[]), 1);
    let (status, body) = http_get(app.http_port, "/health").unwrap();
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["kafka_reachable"], true);
    assert_eq!(health["shards_alive"], serde_json::json!([true, true]));
    // Every number named: by transport, topic and drop reason.
    assert_eq!(health["totals"]["received"]["tcp"], 1000, "{body}");
    assert_eq!(
        health["totals"]["delivered"]["logs.normalized"], 1000,
        "{body}"
    );
    assert!(
        health["totals"]["dropped"]["buffer_full"].is_u64(),
        "{body}"
    );
}

#[test]
fn oversized_and_unparseable_messages_are_kept_and_counted() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
    let mut big = b"<13>Jan  2 03:04:05 bighost app: ".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100_000));
    big.push(b'\n');
    s.write_all(&big).unwrap();
    s.write_all(b"<999>not a valid pri\n").unwrap();
    s.write_all(b"<13>Jan  2 03:04:05 okhost app: after\n")
        .unwrap();
    drop(s);
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        3,
        Duration::from_secs(15),
    );
    assert_eq!(events.len(), 3, "{events:?}");
    let truncated = events
        .iter()
        .find(|e| e["log"]["syslog"]["hostname"] == "bighost")
        .expect("truncated event kept");
    assert!(truncated["message"].as_str().unwrap().len() < 65_536);
    let error = events
        .iter()
        .find(|e| e["event"]["kind"] == "pipeline_error")
        .expect("pipeline_error event");
    assert_eq!(error["event"]["original"], "<999>not a valid pri");
    assert_eq!(error["error"]["type"], "syslog.bad_pri");
    assert!(events.iter().any(|e| e["message"] == "after"));
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_events_truncated_total", &[]) == 1
    });
    assert_eq!(m.sum("linerate_events_truncated_total", &[]), 1);
    assert_eq!(m.sum("linerate_parse_errors_total", &[]), 1);
}

#[test]
fn bad_config_stops_startup_with_file_line_and_reason() {
    let (_dir, path, stderr) =
        start_up_error("[syslog]\ntcp_listen = \"127.0.0.1:0\"\nmesage_bytes_max = 10\n");
    assert!(
        stderr.contains(&format!("{}:3:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("mesage_bytes_max"), "{stderr}");
}

#[test]
fn parse_command_prints_one_ecs_object_per_line() {
    let mut child = Command::new(bin())
        .args(["parse", "--year", "2025", "--timezone", "UTC"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n\n<13>Oct  1 12:00:00 web1 nginx[7]: hello\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["@timestamp"], "2003-10-11T22:14:15.003Z");
    assert_eq!(
        lines[0]["log"]["syslog"]["hostname"],
        "mymachine.example.com"
    );
    assert_eq!(lines[1]["log"]["syslog"]["appname"], "nginx");
    assert_eq!(lines[1]["log"]["syslog"]["procid"], "7");
    assert_eq!(lines[1]["@timestamp"], "2025-10-01T12:00:00Z");
}

#[test]
fn tcp_connections_are_spread_evenly_over_the_shards_and_all_served() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const CONNECTIONS: usize = 16;
    // One at a time, so no two shards accept at the same moment: whatever SO_REUSEPORT's hash
    // of each source port says, the shards end with 8 each.
    let mut streams = Vec::new();
    for i in 0..CONNECTIONS {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
        writeln!(s, "<13>Jan  2 03:04:05 host{i} app: connection {i}").unwrap();
        streams.push(s);
        std::thread::sleep(Duration::from_millis(30));
    }
    let open = |m: &Metrics, shard: &str| {
        m.sum(
            "linerate_tcp_connections_open",
            &[&format!("shard=\"{shard}\"")],
        )
    };
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        open(m, "0") + open(m, "1") == CONNECTIONS as u64
    });
    assert_eq!((open(&m, "0"), open(&m, "1")), (8, 8), "{m:?}");
    assert_eq!(
        m.sum("linerate_tcp_connections_accepted_total", &[]),
        CONNECTIONS as u64
    );
    // Every connection, handed over or not, is read: one event from each.
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        CONNECTIONS,
        Duration::from_secs(15),
    );
    let hosts: HashSet<String> = events
        .iter()
        .filter_map(|e| e["host"]["hostname"].as_str().map(str::to_string))
        .collect();
    assert_eq!(hosts.len(), CONNECTIONS, "{events:?}");
    drop(streams);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        open(m, "0") + open(m, "1") == 0
    });
    assert_eq!(m.sum("linerate_tcp_connections_open", &[]), 0);
}

/// The CPUs a thread may run on, from `/proc` (its `Cpus_allowed_list`, expanded).
fn thread_cpus(status: &str) -> Vec<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// A shard owns its core: with the shard on the last CPU, librdkafka's threads, the
/// embedded cluster's, the control API's and the aggregator run on the other CPUs only (on
/// a one-CPU host nothing is left to them, and they stay unpinned); events still flow.
#[test]
fn helper_threads_run_off_the_shard_cores() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let shard_cpu = cpus - 1;
    let shards = format!("cores = [{shard_cpu}]");
    let data = tempfile::tempdir().unwrap();
    let keys = Keys {
        shards: &shards,
        ..Keys::default()
    };
    let app = Appliance::start_in(data.path(), "embedded", "", keys);
    let report = loadgen(app.syslog_port, &["--transport", "tcp", "--count", "500"]);
    assert_eq!(report["sent"], 500);
    let delivered = |m: &Metrics| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        )
    };
    let m = app.wait_metrics(Duration::from_secs(20), |m| delivered(m) == 500);
    assert_eq!(delivered(&m), 500);
    let mut seen = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", app.child.id())).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue;
        };
        let (comm, allowed) = (comm.trim().to_string(), thread_cpus(&status));
        if comm.starts_with("shard-") {
            assert_eq!(allowed, vec![shard_cpu], "{comm}");
        } else if comm.starts_with("rdk:") || comm == "aggregator" {
            if cpus > 1 {
                assert!(
                    !allowed.contains(&shard_cpu),
                    "{comm} may run on the shard's CPU: {allowed:?}"
                );
            }
            assert!(!allowed.is_empty(), "{comm}");
        }
        seen.push(comm);
    }
    assert!(seen.iter().any(|c| c.starts_with("shard-")), "{seen:?}");
    assert!(seen.iter().any(|c| c.starts_with("rdk:broker")), "{seen:?}");
    assert!(seen.iter().any(|c| c == "aggregator"), "{seen:?}");
}
