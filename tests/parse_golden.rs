//! Golden tests per device family: every line of `tests/data/syslog_corpus/FAMILY.log` is
//! parsed (year 2025, UTC) and compared with the same line of `FAMILY.expected.ndjson`.
//!
//! An expected object is a subset of the actual event: every field it names must be equal;
//! `null` means "must be absent" (SCHEMA.md never emits nulls). Only the top-level keys the
//! contract allows may appear.

use std::path::Path;

use linerate::event::ReceiveMeta;
use linerate::normalize::syslog_to_ecs;
use linerate::parse::ParseOptions;
use serde_json::Value;

const ALLOWED_TOP_LEVEL: &[&str] = &[
    "@timestamp",
    "event",
    "log",
    "host",
    "source",
    "message",
    "error",
];

fn check_subset(expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match expected {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{path}.{k}");
                match (v, actual.get(k)) {
                    (Value::Null, None) => {}
                    (Value::Null, Some(a)) => errors.push(format!("{p}: expected absent, got {a}")),
                    (_, None) => errors.push(format!("{p}: missing, expected {v}")),
                    (_, Some(a)) => check_subset(v, a, &p, errors),
                }
            }
        }
        _ if expected != actual => {
            errors.push(format!("{path}: expected {expected}, got {actual}"))
        }
        _ => {}
    }
}

#[test]
fn every_family_matches_its_expected_events() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/syslog_corpus");
    let opts = ParseOptions {
        year: Some(2025),
        ..Default::default()
    };
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: None,
    };
    let mut families = 0;
    let mut lines_checked = 0;
    let mut errors = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for log in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
    {
        families += 1;
        let family = log.file_stem().unwrap().to_string_lossy().to_string();
        let expected_path = dir.join(format!("{family}.expected.ndjson"));
        let inputs = std::fs::read(log).unwrap();
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{family}: no expected file"));
        let inputs: Vec<&[u8]> = inputs
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let expected: Vec<Value> = expected
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(inputs.len(), expected.len(), "{family}: line counts differ");
        for (n, (line, want)) in inputs.iter().zip(&expected).enumerate() {
            let mut out = Vec::new();
            syslog_to_ecs(line, &opts, &meta, &mut out);
            let got: Value = serde_json::from_slice(&out).unwrap();
            for key in got.as_object().unwrap().keys() {
                if !ALLOWED_TOP_LEVEL.contains(&key.as_str()) {
                    errors.push(format!(
                        "{family}:{}: unexpected top-level field {key}",
                        n + 1
                    ));
                }
            }
            let mut errs = Vec::new();
            check_subset(want, &got, "", &mut errs);
            errors.extend(
                errs.into_iter()
                    .map(|e| format!("{family}:{}: {e}\n    got {got}", n + 1)),
            );
            lines_checked += 1;
        }
    }
    assert!(families >= 4, "corpus families found: {families}");
    assert!(
        errors.is_empty(),
        "{} mismatches in {lines_checked} lines:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// `relays.log` holds what rsyslog 8.2302 (RSYSLOG_ForwardFormat and
/// RSYSLOG_TraditionalForwardFormat) and syslog-ng 3.38 (`network()` destination) forwarded
/// for messages from util-linux `logger` and Python's `SysLogHandler`, and
/// `relays.parsed.json` how each relay parses each of those lines itself (made by
/// `scripts/capture_relays.py`). linerate takes the same program name (appname), host and
/// message as both relays, including a TAG without its colon (`vm my-app.v2_x Grüße …`,
/// `vm CRON (root) CMD …`): rsyslog forwards every message without a process id so.
#[test]
fn relay_lines_parse_as_rsyslog_and_syslog_ng_parse_them() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/syslog_corpus/relays.parsed.json");
    let opts = ParseOptions {
        year: Some(2025),
        ..Default::default()
    };
    let mut checked = 0;
    for row in std::fs::read_to_string(path).unwrap().lines() {
        let row: Value = serde_json::from_str(row).unwrap();
        let line = row["line"].as_str().unwrap();
        let (rs, ng) = (&row["rsyslog"], &row["syslog_ng"]);
        // The relays agree with each other (rsyslog's msg keeps the space after the TAG).
        assert_eq!(rs["programname"], ng["PROGRAM"], "{line}");
        assert_eq!(rs["hostname"], ng["HOST"], "{line}");
        assert_eq!(
            rs["msg"].as_str().unwrap().strip_prefix(' '),
            ng["MSG"].as_str(),
            "{line}"
        );
        let ev = linerate::parse::parse(line.as_bytes(), &opts, 0).unwrap();
        assert_eq!(ev.appname, ng["PROGRAM"].as_str(), "appname of {line}");
        assert_eq!(ev.hostname, ng["HOST"].as_str(), "hostname of {line}");
        let msg = std::str::from_utf8(ev.message.unwrap_or_default()).unwrap();
        assert_eq!(Some(msg), ng["MSG"].as_str(), "message of {line}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked} relay lines");
}
