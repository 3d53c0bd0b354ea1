//! The fleet's alerting rules and dashboard (deploy/prometheus, deploy/grafana) against promtool
//! and a running appliance: the rules pass `promtool check rules` and their unit tests, every
//! dashboard expression parses (wrapped into a rule file for promtool), and every `linerate_*`
//! metric either uses is one a running appliance exports.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{http_get, Appliance, Kafka};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

/// Run promtool with `args`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian package prometheus; scripts/setup.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Every `expr` of the rule file, in order.
fn rule_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("prometheus/linerate-rules.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            out.push((
                rule["alert"].as_str().unwrap().to_string(),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// Every target `expr` of the dashboard's panels (and the instance variable's query metric),
/// with Grafana's variables replaced by what they stand for in PromQL.
fn dashboard_exprs() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("grafana/dashboards/linerate-fleet.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".*");
            assert!(!expr.contains('$'), "unknown variable in {expr}");
            out.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    out
}

/// The `linerate_*` metric names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("linerate_"))
        .map(str::to_string)
        .collect()
}

/// The sample names a /metrics text holds (histogram series as `_bucket`, `_sum`, `_count`).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    let rules = deploy("prometheus/linerate-rules.yml");
    let check = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(check.contains("SUCCESS: 10 rules found"), "{check}");
    let tests = deploy("prometheus/linerate-rules.test.yml");
    let out = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
    // The scrape config loads them (rule_files relative to it).
    let config = deploy("prometheus/prometheus.yml");
    let out = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
    // Every alert has its unit test.
    let test_text = std::fs::read_to_string(&tests).unwrap();
    for (alert, _) in rule_exprs() {
        assert!(
            test_text.contains(&format!("alertname: {alert}\n")),
            "no promtool unit test for {alert}"
        );
    }
}

#[test]
fn dashboard_expressions_parse() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "{} expressions", exprs.len());
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(expr).unwrap();
        file.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, &file).unwrap();
    let out = promtool(&["check", "rules", path.to_str().unwrap()]);
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

#[test]
fn every_metric_rules_and_dashboard_use_is_exported() {
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    // Every family is rendered from the first snapshot on; wait for both shards' snapshots
    // (and so every per-shard series).
    app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_shard_up", &[]) == 2
    });
    let (status, text) = http_get(app.http_port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let exported = exported_names(&text);

    let mut used = BTreeSet::new();
    for (what, expr) in rule_exprs().into_iter().chain(dashboard_exprs()) {
        let names = metric_names(&expr);
        for n in &names {
            assert!(
                exported.contains(n),
                "{what}: {n} is not exported by a running appliance\n{expr}"
            );
        }
        used.extend(names);
    }
    // The cross-check itself reads what it should: the counters the issue names.
    for name in [
        "linerate_events_dropped_total",
        "linerate_buffer_ring_bytes_used",
        "linerate_buffer_spill_blocked",
        "linerate_delivery_failures_total",
        "linerate_events_dead_lettered_total",
        "linerate_shard_up",
        "linerate_kafka_reachable",
        "linerate_receive_to_ack_latency_seconds_bucket",
        "linerate_events_received_total",
        "linerate_events_delivered_total",
    ] {
        assert!(used.contains(name), "nothing uses {name}");
    }
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(linerate_receive_to_ack_latency_seconds_bucket{job=\"linerate\"}[1m]))) / linerate_x",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "linerate_receive_to_ack_latency_seconds_bucket",
            "linerate_x"
        ]
    );
}
