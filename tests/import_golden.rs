//! `linerate import KIND FILE --stdout`, run as the real binary, against expectations written
//! by hand from `docs/SCHEMA.md` and `tests/data/samples/README.md` (`tests/data/import/`),
//! field by field; EVTX files against the `evtx` crate's own counts; bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::testdata;
use serde_json::Value;

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import")
}

fn import(kind: &str, file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linerate"))
        .args(["import", kind])
        .arg(file)
        .arg("--stdout")
        .output()
        .expect("run linerate")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Keys the expectations may leave out (then not checked); every other key the program
/// writes must be expected, so a field that should be absent is checked to be absent.
const UNCHECKED: [&str; 4] = [
    "event.ingested",
    "event.original",
    "message",
    "winlog.event_data",
];

/// `actual` has every field of `expected`, equal, and no other field but [`UNCHECKED`] ones.
fn check(expected: &Value, actual: &Value, path: &str, what: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{what}: `{p}` missing; expected {ev}"));
                check(ev, av, &p, what);
            }
            for k in a.keys() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                assert!(
                    e.contains_key(k) || UNCHECKED.contains(&p.as_str()),
                    "{what}: unexpected field `{p}` = {}",
                    a[k]
                );
            }
        }
        _ => assert_eq!(expected, actual, "{what}: `{path}`"),
    }
}

fn golden(kind: &str, input: &Path, expected_name: &str) -> Vec<Value> {
    let out = import(kind, input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{kind} {}: {stderr}", input.display());
    let actual = lines(&out);
    let expected: Vec<Value> = std::fs::read_to_string(expected_dir().join(expected_name))
        .expect("expected file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("expected JSON"))
        .collect();
    assert_eq!(
        actual.len(),
        expected.len(),
        "{expected_name}: one object per record, in source order"
    );
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        check(e, a, "", &format!("{expected_name} record {i}"));
        assert!(
            a["event"]["original"].is_string(),
            "{expected_name} record {i}: event.original kept by default"
        );
        assert!(a["event"]["ingested"].is_string());
    }
    let n = expected.len();
    assert!(
        stderr.contains(&format!("{n} records read, {n} events, 0 pipeline errors")),
        "{stderr}"
    );
    actual
}

#[test]
fn cloudtrail_gzip_log_file() {
    let f = testdata().join(
        "cloud/cloudtrail/123456789012_CloudTrail_us-east-1_20240514T0925Z_hT3kV9pQ2mX7cL4w.json.gz",
    );
    let out = golden("cloudtrail", &f, "cloudtrail-us-east-1.expected.ndjson");
    // event.original is the record's own bytes, cut from the compact log file.
    let original: Value = serde_json::from_str(out[5]["event"]["original"].as_str().unwrap())
        .expect("original is the record JSON");
    assert_eq!(original["sourceIPAddress"], "ecs-tasks.amazonaws.com");
}

#[test]
fn cloudtrail_plain_log_file() {
    let f = testdata().join(
        "cloud/cloudtrail/123456789012_CloudTrail_eu-west-1_20240514T0930Z_9hGf3sD2aQ1wE5rT.json",
    );
    let out = golden("cloudtrail", &f, "cloudtrail-eu-west-1.expected.ndjson");
    let text = std::fs::read_to_string(&f).unwrap();
    for o in &out {
        assert!(text.contains(o["event"]["original"].as_str().unwrap()));
    }
}

#[test]
fn firehose_request_body() {
    let f = testdata().join("cloud/firehose/request-cloudtrail.json");
    let out = golden(
        "firehose",
        &f,
        "firehose-request-cloudtrail.expected.ndjson",
    );
    // event.original is the decoded `data`: the CloudTrail record itself.
    let original: Value =
        serde_json::from_str(out[0]["event"]["original"].as_str().unwrap()).unwrap();
    assert_eq!(original["eventName"], "ConsoleLogin");
}

#[test]
fn azure_event_hubs_records() {
    let f = testdata().join("cloud/azure/activitylog-eventhub-records.json");
    let out = golden(
        "azure",
        &f,
        "azure-activitylog-eventhub-records.expected.ndjson",
    );
    // The upper-cased record keeps its source text in event.original.
    assert!(out[2]["event"]["original"]
        .as_str()
        .unwrap()
        .contains("\"operationName\":\"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE\""));
}

#[test]
fn azure_pt1h_json_lines() {
    let f = testdata().join("cloud/azure/PT1H.json");
    let out = golden("azure", &f, "azure-PT1H.expected.ndjson");
    let text = std::fs::read_to_string(&f).unwrap();
    for (o, line) in out.iter().zip(text.lines()) {
        assert_eq!(o["event"]["original"], line);
    }
}

#[test]
fn gcp_ndjson_log_entries() {
    let f = testdata().join("cloud/gcp/cloudaudit-logentries.ndjson");
    let out = golden("gcp", &f, "gcp-cloudaudit-logentries.expected.ndjson");
    let text = std::fs::read_to_string(&f).unwrap();
    for (o, line) in out.iter().zip(text.lines()) {
        assert_eq!(o["event"]["original"], line);
    }
}

#[test]
fn gcp_pubsub_push_body_as_gcp_and_as_pubsub() {
    let f = testdata().join("cloud/gcp/pubsub-push.json");
    for kind in ["gcp", "pubsub"] {
        let out = golden(kind, &f, "gcp-pubsub-push.expected.ndjson");
        let original: Value =
            serde_json::from_str(out[0]["event"]["original"].as_str().unwrap()).unwrap();
        assert_eq!(
            original["insertId"], "k2v9qwe4d6x0",
            "{kind}: the decoded LogEntry"
        );
    }
}

const UAC: &str = "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084";

#[test]
fn windows_nxlog() {
    let f = testdata().join("windows/nxlog.ndjson");
    let out = golden("windows", &f, "windows-nxlog.expected.ndjson");
    assert_eq!(out[3]["winlog"]["event_data"]["UserAccountControl"], UAC);
    // NXLog's own fields are not event data; `-` values are absent.
    let data = out[0]["winlog"]["event_data"].as_object().unwrap();
    assert_eq!(data["IpAddress"], "198.51.100.31");
    assert_eq!(data["LogonProcessName"], "NtLmSsp ");
    for k in [
        "EventTime",
        "Hostname",
        "Keywords",
        "SeverityValue",
        "SubjectUserName",
    ] {
        assert!(!data.contains_key(k), "{k}");
    }
    assert!(out[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:"));
}

#[test]
fn windows_winlogbeat() {
    let f = testdata().join("windows/winlogbeat.ndjson");
    let out = golden("windows", &f, "windows-winlogbeat.expected.ndjson");
    assert_eq!(out[3]["winlog"]["event_data"]["UserAccountControl"], UAC);
    assert_eq!(
        out[0]["winlog"]["event_data"]["TargetUserName"],
        "ana.souza"
    );
}

#[test]
fn windows_event_xml() {
    let f = testdata().join("windows/events.xml");
    let out = golden("windows", &f, "windows-events-xml.expected.ndjson");
    assert_eq!(out[3]["winlog"]["event_data"]["UserAccountControl"], UAC);
    assert_eq!(
        out[5]["message"].as_str().unwrap().split('\n').next(),
        Some("Faulting application name: sqlagent.exe, version: 2022.160.4105.2, time stamp: 0x65c3a1b2\r")
    );
    let text = std::fs::read_to_string(&f).unwrap();
    for (o, line) in out.iter().zip(text.lines()) {
        assert_eq!(o["event"]["original"], line);
    }
}

// ---------------------------------------------------------------------------------------
// EVTX

/// `Ok` and `Err` items of the `evtx` crate linked into linerate.
fn evtx_crate_counts(path: &Path) -> (usize, usize) {
    let mut parser = evtx::EvtxParser::from_path(path).expect("evtx header");
    parser.records().fold((0, 0), |(ok, err), r| {
        if r.is_ok() {
            (ok + 1, err)
        } else {
            (ok, err + 1)
        }
    })
}

fn summary_number(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("linerate import:"))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    line.split(", ")
        .find_map(|part| {
            let part = part.trim_start_matches("linerate import: ");
            part.strip_suffix(label)?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no `{label}` in {line}"))
}

#[test]
fn evtx_counts_match_the_evtx_crate() {
    let dir = testdata().join("evtx");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for f in &files {
        let (ok, crate_errors) = evtx_crate_counts(f);
        // Chunk slots the crate reports but that hold no chunk and no record (unused space,
        // nothing lost): not counted or logged as corrupt.
        let unused = if f.ends_with("sysmon.evtx") { 8 } else { 0 };
        let err = crate_errors - unused;
        let out = import("evtx", f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", f.display());
        let events = lines(&out);
        assert_eq!(
            events.len(),
            ok,
            "{}: one event per readable record",
            f.display()
        );
        assert!(events.iter().all(|e| e["event"]["kind"] == "event"));
        let skipped = summary_number(&stderr, "corrupt EVTX chunks skipped")
            + summary_number(&stderr, "corrupt EVTX records skipped");
        assert_eq!(
            skipped as usize,
            err,
            "{}: every error counted",
            f.display()
        );
        assert_eq!(
            stderr.matches("EVTX chunk skipped").count()
                + stderr.matches("EVTX record skipped").count(),
            err,
            "{}: every error logged",
            f.display()
        );
    }
}

#[test]
fn evtx_damaged_files_yield_their_readable_records() {
    let dir = testdata().join("evtx");
    // The counts of evtx 0.15.1, which linerate links (the testdata README gives 0.8.5's:
    // 270 records, 2 corrupt chunks, 3 corrupt records).
    for (name, ok, chunks, records) in [
        ("sample_with_a_bad_chunk_magic.evtx", 301, 2, 1),
        // Slots 9-16 hold no chunk header and no record (unused space): the crate reports
        // 8 chunk errors, nothing is lost, none is counted.
        ("sysmon.evtx", 358, 0, 0),
    ] {
        let out = import("evtx", &dir.join(name));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(lines(&out).len(), ok, "{name}");
        assert_eq!(
            summary_number(&stderr, "corrupt EVTX chunks skipped"),
            chunks,
            "{name}"
        );
        assert_eq!(
            summary_number(&stderr, "corrupt EVTX records skipped"),
            records,
            "{name}"
        );
    }
}

#[test]
fn import_filter_keeps_only_the_events_it_names() {
    let f = testdata().join("evtx/security.evtx");
    let (_d, cfg) = temp_file(
        "filter.toml",
        b"[import.filter.include]\nevent_ids = [\"4624-4625\"]\n[import.filter.exclude]\nkeywords = [\"audit_failure\"]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_linerate"))
        .args(["import", "evtx"])
        .arg(&f)
        .arg("--stdout")
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run linerate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events = lines(&out);
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["event"]["code"], "4624", "{e}");
        assert_eq!(e["event"]["outcome"], "success", "{e}");
    }
    let (ok, _) = evtx_crate_counts(&f);
    assert_eq!(
        summary_number(&stderr, "filtered out") as usize,
        ok - events.len(),
        "{stderr}"
    );
    let (_d, bad) = temp_file(
        "bad.toml",
        b"[import.filter.include]\nevent_ids = [\"40-3\"]\n",
    );
    let out = import_to_kafka("evtx", &f, Some(&bad));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:2:1: event_ids"), "{stderr}");
}

#[test]
fn evtx_directory_and_known_records() {
    let dir = testdata().join("evtx");
    let out = import("evtx", &dir.join("new-user-security.evtx"));
    let events = lines(&out);
    assert_eq!(events.len(), 4);
    let created = events
        .iter()
        .find(|e| e["event"]["code"] == "4720")
        .expect("a 4720 record");
    assert_eq!(created["event"]["dataset"], "windows.eventlog");
    assert_eq!(created["event"]["action"], "User Account Management");
    assert_eq!(created["event"]["outcome"], "success");
    assert_eq!(created["event"]["category"], serde_json::json!(["iam"]));
    assert_eq!(
        created["event"]["type"],
        serde_json::json!(["user", "creation"])
    );
    assert_eq!(
        created["event"]["provider"],
        "Microsoft-Windows-Security-Auditing"
    );
    assert_eq!(created["winlog"]["channel"], "Security");
    assert_eq!(created["winlog"]["event_id"], "4720");
    assert_eq!(created["log"]["level"], "informational");
    let data = &created["winlog"]["event_data"];
    assert_eq!(created["user"]["name"], data["TargetUserName"]);
    assert!(created["host"]["hostname"].is_string());
    assert!(created["@timestamp"].as_str().unwrap().ends_with('Z'));
    // The original is the record as the evtx crate renders it.
    assert!(created["event"]["original"]
        .as_str()
        .unwrap()
        .contains("<EventID>4720</EventID>"));

    // A directory imports every .evtx file in it, in name order.
    let all = lines(&import("evtx", &dir));
    let total: usize = [
        "Application_no_crc32",
        "Security_short_selected",
        "new-user-security",
        "sample_with_a_bad_chunk_magic",
        "security",
        "sysmon",
        "system",
    ]
    .iter()
    .map(|n| evtx_crate_counts(&dir.join(format!("{n}.evtx"))).0)
    .sum();
    assert_eq!(all.len(), total);
}

// ---------------------------------------------------------------------------------------
// Bad input

fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, contents).unwrap();
    (dir, p)
}

#[test]
fn bad_records_become_pipeline_errors_and_nothing_is_dropped() {
    let nx = std::fs::read_to_string(testdata().join("windows/nxlog.ndjson")).unwrap();
    let xml = std::fs::read_to_string(testdata().join("windows/events.xml")).unwrap();
    let good_json = nx.lines().next().unwrap();
    let good_xml = xml.lines().next().unwrap();
    let truncated_xml = &good_xml[..good_xml.len() / 2];
    let input = format!(
        "{good_json}\n{{\"EventID\": 4624, \"Hostname\": \n{truncated_xml}\nplain text\n{good_xml}\n"
    );
    let (_d, f) = temp_file("mixed.ndjson", input.as_bytes());
    let out = import("windows", &f);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pipeline errors do not fail the run: {stderr}"
    );
    let events = lines(&out);
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["event"]["kind"].as_str().unwrap(),
                e["error"]["type"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("event", None),
            ("pipeline_error", Some("windows.bad_json")),
            ("pipeline_error", Some("windows.bad_xml")),
            ("pipeline_error", Some("windows.unknown_format")),
            ("event", None),
        ]
    );
    assert_eq!(
        events[1]["event"]["original"],
        "{\"EventID\": 4624, \"Hostname\": "
    );
    assert_eq!(events[2]["event"]["original"], truncated_xml);
    for e in &events[1..4] {
        assert_eq!(e["event"]["dataset"], "windows.eventlog");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(e["event"]["severity"], 3);
    }
    assert!(
        stderr.contains("5 records read, 2 events, 3 pipeline errors"),
        "{stderr}"
    );
}

#[test]
fn garbage_base64_in_firehose_is_a_pipeline_error() {
    let body = br#"{"requestId":"r-1","timestamp":1715679193412,"records":[
        {"data":"eyJldmVudE5hbWUiOiJHZXRDYWxsZXJJZGVudGl0eSIsImV2ZW50VGltZSI6IjIwMjQtMDUtMTRUMDk6MzM6MTFaIn0="},
        {"data":"%%% not base64 %%%"},
        {"nodata":1},
        {"data":"bm90IGpzb24="}
    ]}"#;
    let (_d, f) = temp_file("firehose.json", body);
    let out = import("firehose", &f);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events = lines(&out);
    assert_eq!(events.len(), 4, "one object per record");
    assert_eq!(events[0]["event"]["code"], "GetCallerIdentity");
    assert_eq!(events[0]["@timestamp"], "2024-05-14T09:33:11Z");
    assert_eq!(events[1]["error"]["type"], "firehose.bad_base64");
    assert_eq!(
        events[1]["event"]["original"],
        r#"{"data":"%%% not base64 %%%"}"#
    );
    assert_eq!(events[2]["error"]["type"], "firehose.no_data");
    assert_eq!(events[3]["error"]["type"], "cloudtrail.bad_json");
    assert_eq!(events[3]["event"]["original"], "not json");
    assert!(
        stderr.contains("4 records read, 1 events, 3 pipeline errors"),
        "{stderr}"
    );
}

#[test]
fn truncated_cloudtrail_file_keeps_its_complete_records() {
    let f = testdata().join(
        "cloud/cloudtrail/123456789012_CloudTrail_eu-west-1_20240514T0930Z_9hGf3sD2aQ1wE5rT.json",
    );
    let text = std::fs::read(&f).unwrap();
    let cut = &text[..text.len() * 3 / 5];
    let (_d, f) = temp_file("truncated.json", cut);
    let out = import("cloudtrail", &f);
    assert!(out.status.success());
    let events = lines(&out);
    let last = events.last().unwrap();
    assert_eq!(last["event"]["kind"], "pipeline_error");
    assert_eq!(last["error"]["type"], "import.truncated");
    assert!(events[..events.len() - 1]
        .iter()
        .all(|e| e["event"]["kind"] == "event"));
    // Every input byte from the first record on is in some event.original.
    let originals: usize = events
        .iter()
        .map(|e| e["event"]["original"].as_str().unwrap().len())
        .sum();
    assert!(originals >= cut.len() - "{\"Records\":[".len() - events.len());
}

#[test]
fn missing_file_fails_the_run() {
    let out = import("azure", Path::new("/nonexistent/linerate-import-test.json"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}

// ---------------------------------------------------------------------------------------
// Kafka path (no --stdout)

fn import_to_kafka(kind: &str, file: &Path, config: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linerate"));
    cmd.args(["import", kind]).arg(file);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.output().expect("run linerate")
}

#[test]
fn kafka_path_waits_for_every_delivery_report() {
    let f = testdata().join("cloud/azure/activitylog-eventhub-records.json");
    let out = import_to_kafka("azure", &f, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout without --stdout");
    assert!(stderr.contains("EMBEDDED KAFKA"), "{stderr}");
    assert!(
        stderr.contains("5 records read, 5 events, 0 pipeline errors")
            && stderr.contains("5 produced, 5 delivered, 0 failed"),
        "{stderr}"
    );
}

#[test]
fn kafka_delivery_failure_exits_non_zero() {
    let (_d, cfg) = temp_file(
        "unreachable.toml",
        b"[kafka]\nbrokers = \"127.0.0.1:1\"\nshutdown_flush_ms = 10000\n[kafka.properties]\n\"message.timeout.ms\" = \"1500\"\n",
    );
    let f = testdata().join("cloud/azure/PT1H.json");
    let out = import_to_kafka("azure", &f, Some(&cfg));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 produced, 0 delivered, 2 failed"),
        "{stderr}"
    );
}
