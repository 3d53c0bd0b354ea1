//! A fleet on one machine: two appliances (their own ports and data directories) producing into
//! one Kafka (the mock cluster both name as bootstrap), loadgen spreading its connections over
//! both, `linerate top` (under tmux) showing both. Every event arrives exactly once, and each
//! appliance delivered exactly what it received.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::tmux::{line_cells, Tmux};
use common::{bin, consume, heavy, seq_of, Appliance, Kafka};

const COUNT: u64 = 20_000;
const CONNECTIONS: u64 = 4;

#[test]
fn two_appliances_one_kafka_every_event_once() {
    let _g = heavy();
    let kafka = Kafka::start();
    let a = Appliance::start(&kafka.bootstrap(), "");
    let b = Appliance::start(&kafka.bootstrap(), "");
    assert_ne!(a.syslog_port, b.syslog_port);
    let apps = [&a, &b];
    let controls: Vec<String> = apps
        .iter()
        .map(|x| format!("127.0.0.1:{}", x.http_port))
        .collect();

    let tmux = Tmux::start(
        "fleet",
        &format!("{} top {} {}", bin().display(), controls[0], controls[1]),
        200,
        30,
    );
    let bound = Duration::from_secs(60);
    tmux.wait_screen("both appliances up", bound, |s| {
        s.contains("2/2 appliances up")
            && controls
                .iter()
                .all(|c| line_cells(s, c).is_some_and(|r| r.last() == Some(&"ok")))
    });

    // Load over both: connection i goes to appliance i % 2, at a rate that keeps it running
    // across several refreshes of top.
    let load = std::thread::spawn({
        let targets: Vec<String> = apps
            .iter()
            .map(|x| format!("127.0.0.1:{}", x.syslog_port))
            .collect();
        move || {
            let out = Command::new(bin())
                .arg("loadgen")
                .args(targets.iter().flat_map(|t| ["--target", t.as_str()]))
                .args(["--connections", &CONNECTIONS.to_string()])
                .args(["--count", &COUNT.to_string(), "--rate", "2000", "--json"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        }
    });
    // top shows both receiving while the load runs (each at some refresh).
    let mut seen = [false, false];
    while !load.is_finished() && seen != [true, true] {
        let s = tmux.screen();
        for (i, c) in controls.iter().enumerate() {
            if let Some(r) = line_cells(&s, c) {
                seen[i] |= r.len() >= 9 && r[2] != "-" && r[2] != "0";
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = load.join().unwrap();
    assert_eq!(report["sent"], COUNT);
    assert_eq!(seen, [true, true], "top never showed both receiving");

    // Exactly once overall.
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        COUNT as usize,
        Duration::from_secs(30),
    );
    let mut times: HashMap<u64, u32> = HashMap::new();
    for e in &events {
        *times.entry(seq_of(e).expect("loadgen seq")).or_default() += 1;
    }
    let missing: Vec<u64> = (0..COUNT).filter(|s| !times.contains_key(s)).collect();
    let dups: Vec<(&u64, &u32)> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && dups.is_empty(),
        "missing {} (first {:?}), duplicated {}",
        missing.len(),
        missing.first(),
        dups.len()
    );
    assert_eq!(events.len() as u64, COUNT);

    // Per appliance: it received what loadgen sent it (seq % 4 in {i, i + 2}) and Kafka
    // acknowledged exactly that many of its records; with every seq once overall, each
    // appliance delivered its own events exactly once.
    let by_target = report["by_target"].as_array().unwrap();
    for (i, app) in apps.iter().enumerate() {
        let sent = by_target[i]["sent"].as_u64().unwrap();
        assert_eq!(
            by_target[i]["target"],
            format!("127.0.0.1:{}", app.syslog_port)
        );
        let mine = (0..COUNT)
            .filter(|s| (s % CONNECTIONS) % 2 == i as u64)
            .count() as u64;
        assert_eq!(sent, mine);
        let m = app.wait_metrics(Duration::from_secs(30), |m| {
            m.sum(
                "linerate_events_delivered_total",
                &["topic=\"logs.normalized\""],
            ) >= sent
        });
        assert_eq!(m.sum("linerate_events_received_total", &[]), sent);
        assert_eq!(
            m.sum(
                "linerate_events_delivered_total",
                &["topic=\"logs.normalized\""]
            ),
            sent
        );
        assert_eq!(m.sum("linerate_events_dropped_total", &[]), 0);
    }

    tmux.send_keys("q");
    tmux.wait_exit(Duration::from_secs(30));
}
