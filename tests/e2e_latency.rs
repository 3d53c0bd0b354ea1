//! Receive→ack latency end to end: the real binary under fixed-rate load from
//! `linerate loadgen --verify` (consuming the normalized topic from the test's mock
//! cluster), then `/metrics`' histogram against the delivered count, the interval log under
//! the data directory, and `linerate report` on that directory.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::*;

const NAME: &str = "linerate_receive_to_ack_latency_seconds";

/// `le` → cumulative count of one shard's buckets, in the order of the bounds.
fn buckets(m: &Metrics, shard: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{NAME}_bucket{{shard=\"{shard}\",le=\"");
    let mut out: Vec<(f64, u64)> =
        m.0.iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, *v as u64))
            })
            .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[test]
fn latency_histogram_counts_every_delivered_event_and_is_logged() {
    let _g = heavy();
    let kafka = Kafka::start();
    let mut app = Appliance::start(&kafka.bootstrap(), "");
    const N: u64 = 20_000;
    let report = loadgen(
        app.syslog_port,
        &[
            "--connections",
            "2",
            "--count",
            &N.to_string(),
            "--rate",
            "10000",
            "--verify",
            "--brokers",
            &kafka.bootstrap(),
            "--verify-wait-secs",
            "20",
        ],
    );
    let verify = &report["verify"];
    assert_eq!(verify["expected"], N, "{report}");
    assert_eq!(verify["lost"], 0, "{report}");
    assert_eq!(
        verify["latency"]["count"].as_u64(),
        verify["consumed"].as_u64()
    );
    assert!(report["send_lag"]["count"] == N, "{report}");

    let delivered = |m: &Metrics| {
        m.sum(
            "linerate_events_delivered_total",
            &["topic=\"logs.normalized\""],
        )
    };
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        delivered(m) == N && m.sum(&format!("{NAME}_count"), &[]) == N
    });
    assert_eq!(delivered(&m), N);
    assert_eq!(
        m.sum(&format!("{NAME}_count"), &[]),
        N,
        "one latency per delivered event"
    );
    let mut per_shard = HashMap::new();
    for shard in ["0", "1"] {
        let b = buckets(&m, shard);
        assert_eq!(b.len(), 21, "20 bounds and +Inf: {b:?}");
        assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "monotone: {b:?}");
        let count = m.sum(&format!("{NAME}_count"), &[&format!("shard=\"{shard}\"")]);
        assert_eq!(b.last().unwrap().1, count, "+Inf is the count");
        per_shard.insert(shard, count);
    }
    let sum_secs: f64 =
        m.0.iter()
            .filter(|(k, _)| k.starts_with(&format!("{NAME}_sum")))
            .map(|(_, v)| *v)
            .sum();
    assert!(sum_secs > 0.0, "latencies have a positive sum");

    // Kept past the appliance (its drop would remove the directory).
    let data_dir = app.data.take().unwrap();
    let data = data_dir.path().to_path_buf();
    let (code, _) = app.terminate();
    assert_eq!(code, 0);
    let logs: Vec<_> = std::fs::read_dir(data.join("latency"))
        .expect("data_dir/latency exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hlog"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let intervals = linerate::latency::hlog::read(&logs[0]).unwrap();
    let count = |tag: Option<&str>| -> u64 {
        intervals
            .iter()
            .filter(|i| i.tag.as_deref() == tag)
            .map(|i| i.histogram.len())
            .sum()
    };
    assert_eq!(count(Some("shard-0")), per_shard["0"]);
    assert_eq!(count(Some("shard-1")), per_shard["1"]);
    assert_eq!(count(None), N, "the untagged lines merge all shards");

    let out = tempfile::tempdir().unwrap();
    let status = Command::new(bin())
        .args(["report", "--input"])
        .arg(&data)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(out.path().join("index.html").exists());
    assert!(out.path().join("percentiles.svg").exists());
}
