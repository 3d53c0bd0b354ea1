//! The REST control API end to end: the real binary, real sockets, librdkafka's mock cluster
//! owned by the test. Pausing a TCP input holds its senders back without losing anything;
//! pausing a UDP input drops and counts; a paused EVTX input reads nothing and continues where
//! it stopped; a paused HTTP input answers 503 and accepts nothing; the config is served redacted; a configured token is
//! required; `/metrics` passes `promtool check metrics`.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http_client::{connect, post, read_response, write_request};
use common::*;

/// An API request with an optional bearer token: (status, JSON body).
fn api(app: &Appliance, method: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let (status, body) = http_request(app.http_port, method, path, &headers)
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"));
    (status, json)
}

/// The input called `name` from `GET /api/v1/inputs`.
fn input(app: &Appliance, name: &str) -> serde_json::Value {
    let (status, body) = api(app, "GET", "/api/v1/inputs", None);
    assert_eq!(status, 200, "{body}");
    body["inputs"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no input {name} in {body}"))
}

/// Poll `f` until it returns true or `timeout` passes; returns whether it did.
fn eventually(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_all_seqs(events: &[serde_json::Value], n: u64, what: &str) {
    let seqs: HashSet<u64> = events.iter().filter_map(seq_of).collect();
    let missing: Vec<u64> = (0..n).filter(|s| !seqs.contains(s)).take(10).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {n} present; first missing {missing:?}",
        seqs.len()
    );
}

#[test]
fn lists_shards_and_inputs_and_answers_errors_in_json() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    assert!(
        eventually(Duration::from_secs(10), || {
            let (_, body) = api(&app, "GET", "/api/v1/shards", None);
            body["shards"]
                .as_array()
                .is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["state"] == "alive"))
        }),
        "both shards alive"
    );
    let (status, body) = api(&app, "GET", "/api/v1/shards", None);
    assert_eq!(status, 200);
    assert_eq!(body["interval_ms"], 200);
    for (i, shard) in body["shards"].as_array().unwrap().iter().enumerate() {
        assert_eq!(shard["id"], i, "{shard}");
        assert!(shard["core"].is_u64(), "{shard}");
        assert_eq!(shard["alive"], true);
        assert!(shard["snapshot_age_ms"].as_u64().unwrap() < 2000, "{shard}");
        let c = &shard["counters"];
        assert!(c["received"]["tcp"].is_u64(), "{shard}");
        assert!(c["delivered"]["logs.normalized"].is_u64(), "{shard}");
        assert!(c["dropped"]["paused"].is_u64(), "{shard}");
    }

    let (status, body) = api(&app, "GET", "/api/v1/inputs", None);
    assert_eq!(status, 200);
    let listen = format!("127.0.0.1:{}", app.syslog_port);
    let inputs = body["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "{body}");
    assert_eq!(inputs[0]["name"], "syslog_udp");
    assert_eq!(inputs[0]["transport"], "udp");
    assert_eq!(inputs[1]["name"], "syslog_tcp");
    assert_eq!(inputs[1]["transport"], "tcp");
    for i in inputs {
        assert_eq!(i["listen"], listen.as_str());
        assert_eq!(i["state"], "running");
        assert_eq!(i["received"], 0);
    }

    // Counters move with traffic.
    loadgen(app.syslog_port, &["--transport", "tcp", "--count", "500"]);
    assert!(eventually(Duration::from_secs(10), || input(
        &app,
        "syslog_tcp"
    )["received"]
        == 500));

    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_smtp/pause", None);
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("syslog_tcp"));
    let (status, body) = api(&app, "GET", "/api/v1/inputs/syslog_tcp/pause", None);
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].is_string());
    let (status, body) = api(&app, "GET", "/api/v1/nowhere", None);
    assert_eq!(status, 404, "{body}");
    // Idempotent: resuming a running input says so and changes nothing.
    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_udp/resume", None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"name": "syslog_udp", "state": "running", "changed": false})
    );
}

#[test]
fn paused_tcp_input_stops_intake_and_resume_delivers_every_message() {
    let _g = heavy();
    let kafka = Kafka::start();
    // Small socket buffers, so the paused connections fill and push back on the sender.
    let data = tempfile::tempdir().unwrap();
    let app = Appliance::start_in(
        data.path(),
        &kafka.bootstrap(),
        "",
        Keys {
            syslog: "recv_buffer_bytes = 65536",
            ..Keys::default()
        },
    );
    const N: u64 = 60_000;
    let mut load = loadgen_to(app.syslog_port)
        .args([
            "--transport",
            "tcp",
            "--connections",
            "2",
            "--rate",
            "20000",
        ])
        .args(["--count", &N.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Pause in the middle of the flow.
    assert!(
        eventually(Duration::from_secs(30), || input(&app, "syslog_tcp")
            ["received"]
            .as_u64()
            .is_some_and(|r| r > 5_000)),
        "load is flowing"
    );
    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_tcp/pause", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "paused");
    assert_eq!(body["changed"], true);
    // A read in progress finishes; then nothing is read. Two snapshot intervals settle it.
    std::thread::sleep(Duration::from_millis(800));
    let before = input(&app, "syslog_tcp");
    assert_eq!(before["state"], "paused");
    let received_paused = before["received"].as_u64().unwrap();
    assert!(received_paused < N, "{before}");
    std::thread::sleep(Duration::from_millis(1500));
    let after = input(&app, "syslog_tcp");
    assert_eq!(
        after["received"], received_paused,
        "nothing received while paused: {after}"
    );
    let m = app.metrics();
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]),
        received_paused
    );
    assert_eq!(m.sum("linerate_input_paused", &["input=\"syslog_tcp\""]), 1);
    assert_eq!(m.sum("linerate_input_paused", &["input=\"syslog_udp\""]), 0);
    // What the sender wrote meanwhile waits in the kernel (its socket buffers and the
    // appliance's); once they are full the sender blocks.
    let sender_running = load.try_wait().unwrap().is_none();
    eprintln!(
        "paused at {received_paused} of {N} received; sender still running: {sender_running}"
    );

    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_tcp/resume", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "running");
    let status = load.wait().unwrap();
    assert!(status.success(), "loadgen failed");
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        N as usize,
        Duration::from_secs(30),
    );
    assert_eq!(events.len() as u64, N, "every message arrives after resume");
    assert_all_seqs(&events, N, "tcp paused and resumed");
    assert!(eventually(Duration::from_secs(10), || input(
        &app,
        "syslog_tcp"
    )["received"]
        == N));
    let m = app.metrics();
    assert_eq!(m.sum("linerate_events_dropped_total", &[]), 0);
    assert_eq!(m.sum("linerate_input_paused", &["input=\"syslog_tcp\""]), 0);
    let (code, _) = app.terminate();
    assert_eq!(code, 0);
}

#[test]
fn paused_udp_input_drops_and_counts_then_resume_receives_again() {
    let _g = heavy();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    const N: u64 = 1_000;
    let udp = |app: &Appliance| {
        let report = loadgen(
            app.syslog_port,
            &[
                "--transport",
                "udp",
                "--rate",
                "2000",
                "--count",
                &N.to_string(),
            ],
        );
        assert_eq!(report["sent"], N);
    };
    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_udp/pause", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "paused");
    udp(&app);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_events_dropped_total", &["reason=\"paused\""]) >= N
    });
    assert_eq!(
        m.sum("linerate_events_dropped_total", &["reason=\"paused\""]),
        N,
        "every datagram sent while paused is dropped and counted"
    );
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"udp\""]),
        0
    );
    assert_eq!(m.sum("linerate_input_paused", &["input=\"syslog_udp\""]), 1);
    let paused = input(&app, "syslog_udp");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["dropped"]["paused"], N, "{paused}");
    assert_eq!(paused["received"], 0);

    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_udp/resume", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "running");
    udp(&app);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_events_received_total", &["transport=\"udp\""]) >= N
    });
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"udp\""]),
        N
    );
    assert_eq!(
        m.sum("linerate_events_dropped_total", &["reason=\"paused\""]),
        N
    );
    // Only what was sent after the resume reaches Kafka.
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        2 * N as usize,
        Duration::from_secs(5),
    );
    assert_eq!(events.len() as u64, N);
    assert_all_seqs(&events, N, "udp after resume");
}

#[test]
fn paused_evtx_input_reads_nothing_and_resume_continues_where_it_stopped() {
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[[evtx_input]]\ndir = \"{}\"\npoll_interval_ms = 100\nrecords_per_step_max = 200\n",
        dir.path().display()
    );
    let app = Appliance::start(&kafka.bootstrap(), &extra);
    let evtx = input(&app, "evtx_0");
    assert_eq!(evtx["transport"], "evtx", "{evtx}");
    assert_eq!(evtx["dir"], dir.path().display().to_string().as_str());
    assert_eq!(evtx["shard"], 0);
    assert_eq!(evtx["state"], "running");
    let (status, body) = api(&app, "POST", "/api/v1/inputs/evtx_0/pause", None);
    assert_eq!((status, &body["state"]), (200, &"paused".into()), "{body}");

    let security = testdata().join("evtx/security.evtx");
    let ids: HashSet<u64> = evtx::EvtxParser::from_path(&security)
        .unwrap()
        .records()
        .flatten()
        .map(|r| r.event_record_id)
        .collect();
    assert!(ids.len() > 1000, "{}", ids.len());
    std::fs::copy(&security, dir.path().join("security.evtx")).unwrap();
    // Ten poll intervals paused: nothing read, nothing in Kafka.
    std::thread::sleep(Duration::from_secs(1));
    let evtx = input(&app, "evtx_0");
    assert_eq!(evtx["state"], "paused");
    assert_eq!(evtx["records_read"], 0, "{evtx}");
    let early = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        1,
        Duration::from_secs(1),
    );
    assert!(early.is_empty(), "{} events while paused", early.len());

    let (status, _) = api(&app, "POST", "/api/v1/inputs/evtx_0/resume", None);
    assert_eq!(status, 200);
    let got = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        ids.len() + 1,
        Duration::from_secs(5),
    );
    let got_ids: HashSet<u64> = got
        .iter()
        .filter_map(|e| e["winlog"]["record_id"].as_u64())
        .collect();
    assert_eq!(got.len(), ids.len(), "each record exactly once");
    assert_eq!(got_ids, ids);
    assert!(eventually(Duration::from_secs(5), || {
        let evtx = input(&app, "evtx_0");
        evtx["records_read"] == ids.len() as u64 && evtx["files_watched"] == 1
    }));

    // Paused while it reads 8 more copies: the count stands still while paused (once the
    // step in progress ended), and after the resume every copy's records arrive once.
    const COPIES: usize = 8;
    for c in 0..COPIES {
        std::fs::copy(&security, dir.path().join(format!("copy-{c}.evtx"))).unwrap();
    }
    let read = |app: &Appliance| input(app, "evtx_0")["records_read"].as_u64().unwrap();
    assert!(eventually(Duration::from_secs(10), || read(&app) > ids.len() as u64));
    let (status, _) = api(&app, "POST", "/api/v1/inputs/evtx_0/pause", None);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(600));
    let paused_at = read(&app);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(read(&app), paused_at, "records read while paused");
    let (status, _) = api(&app, "POST", "/api/v1/inputs/evtx_0/resume", None);
    assert_eq!(status, 200);
    let total = ids.len() * (COPIES + 1);
    let got = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        total + 1,
        Duration::from_secs(5),
    );
    assert_eq!(got.len(), total, "paused after {paused_at} records");
    let mut per_id: HashMap<u64, usize> = HashMap::new();
    for e in &got {
        *per_id
            .entry(e["winlog"]["record_id"].as_u64().unwrap())
            .or_default() += 1;
    }
    assert!(per_id.values().all(|&n| n == COPIES + 1));
    assert_eq!(per_id.len(), ids.len());
}

#[test]
fn paused_http_input_answers_503_and_resume_accepts_again() {
    let kafka = Kafka::start();
    let port = free_port();
    let extra = format!("[http_input]\nlisten = \"127.0.0.1:{port}\"\n");
    let app = Appliance::start(&kafka.bootstrap(), &extra);
    let http = input(&app, "http");
    assert_eq!(
        http["listen"],
        format!("127.0.0.1:{port}").as_str(),
        "{http}"
    );
    assert_eq!(http["state"], "running");
    let body = sample("cloud/azure/activitylog-eventhub-records.json");
    let r = post(port, "/azure", &[], &body);
    assert_eq!(r.status, 200, "{r:?}");
    let per_body = r.json()["accepted"].as_u64().unwrap();
    assert!(per_body > 0);

    let (status, body_json) = api(&app, "POST", "/api/v1/inputs/http/pause", None);
    assert_eq!((status, &body_json["state"]), (200, &"paused".into()));
    // One keep-alive connection across the pause and the resume.
    let mut conn = connect(port);
    write_request(&mut conn, "/azure", &[], &body);
    let r = read_response(&mut conn);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.head.contains("Retry-After: 1"), "{r:?}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("paused"),
        "{r:?}"
    );

    let (status, _) = api(&app, "POST", "/api/v1/inputs/http/resume", None);
    assert_eq!(status, 200);
    write_request(&mut conn, "/azure", &[], &body);
    let r = read_response(&mut conn);
    assert_eq!(r.status, 200, "{r:?}");

    // The two accepted bodies arrive, the refused one does not.
    let want = 2 * per_body as usize;
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        want + 1,
        Duration::from_secs(5),
    );
    assert_eq!(events.len(), want);
    assert!(eventually(Duration::from_secs(5), || {
        let http = input(&app, "http");
        http["requests"] == 3
            && http["requests_rejected"] == 1
            && http["records_accepted"] == want as u64
    }));
    let m = app.metrics();
    assert_eq!(m.sum("linerate_http_requests_total", &[]), 3);
    assert_eq!(m.sum("linerate_http_requests_rejected_total", &[]), 1);
    assert_eq!(
        m.sum("linerate_http_records_accepted_total", &[]),
        want as u64
    );
}

#[test]
fn token_is_required_when_configured_and_config_is_redacted() {
    const TOKEN: &str = "t0ken-for-the-api-test";
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let app = Appliance::start_in(
        data.path(),
        &kafka.bootstrap(),
        "[kafka.properties]\n\"sasl.password\" = \"hunter2\"\n\"client.rack\" = \"rack-7\"\n",
        Keys {
            http: &format!("api_token = \"{TOKEN}\""),
            ..Keys::default()
        },
    );
    for path in ["/api/v1/config", "/api/v1/shards", "/api/v1/nowhere"] {
        let (status, body) = api(&app, "GET", path, None);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"].is_string());
        let (status, _) = api(&app, "GET", path, Some("not-the-token"));
        assert_eq!(status, 401, "{path}");
    }
    let (status, _) = api(&app, "POST", "/api/v1/inputs/syslog_tcp/pause", None);
    assert_eq!(status, 401);
    assert_eq!(input_state_with(&app, TOKEN), "running", "not paused");
    // /metrics and /health stay open.
    assert_eq!(http_get(app.http_port, "/metrics").unwrap().0, 200);
    assert_eq!(http_get(app.http_port, "/health").unwrap().0, 200);

    let (status, cfg) = api(&app, "GET", "/api/v1/config", Some(TOKEN));
    assert_eq!(status, 200, "{cfg}");
    assert_eq!(cfg["kafka"]["properties"]["sasl.password"], "***");
    assert_eq!(cfg["kafka"]["properties"]["client.rack"], "rack-7");
    assert_eq!(cfg["http"]["api_token"], "***");
    assert_eq!(cfg["kafka"]["brokers"], kafka.bootstrap().as_str());
    assert_eq!(cfg["shards"]["count"], 2);
    let text = cfg.to_string();
    assert!(!text.contains("hunter2") && !text.contains(TOKEN), "{text}");

    let (status, body) = api(&app, "POST", "/api/v1/inputs/syslog_tcp/pause", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(input_state_with(&app, TOKEN), "paused");
}

fn input_state_with(app: &Appliance, token: &str) -> String {
    let (status, body) = api(app, "GET", "/api/v1/inputs/syslog_tcp", Some(token));
    assert_eq!(status, 200, "{body}");
    body["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn http_off_loopback_without_a_token_stops_startup() {
    let (_dir, path, stderr) = start_up_error(&format!(
        "[syslog]\ntcp_listen = \"127.0.0.1:0\"\nudp_listen = \"\"\n\n[http]\nlisten = \"0.0.0.0:{}\"\n",
        free_port()
    ));
    assert!(
        stderr.contains(&format!("{}:6:1: listen:", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("api_token"),
        "{stderr}"
    );
}

#[test]
fn metrics_pass_promtool_check() {
    let Ok(out) = Command::new("promtool").arg("--version").output() else {
        panic!(
            "promtool not found: install the Debian package `prometheus` (scripts/setup.sh does)"
        );
    };
    assert!(out.status.success());
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    // Every family with samples: traffic on both transports, one input paused.
    loadgen(app.syslog_port, &["--transport", "tcp", "--count", "200"]);
    loadgen(
        app.syslog_port,
        &["--transport", "udp", "--rate", "2000", "--count", "200"],
    );
    let (status, _) = api(&app, "POST", "/api/v1/inputs/syslog_udp/pause", None);
    assert_eq!(status, 200);
    app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_events_delivered_total", &[]) >= 800
    });
    let (status, text) = http_get(app.http_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("linerate_input_paused{input=\"syslog_udp\"} 1"));
    assert_promtool_accepts(&text);
}
