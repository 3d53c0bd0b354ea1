//! The EVTX directory-poll input against the real binary and the mock cluster: files copied
//! into a polled directory while the appliance runs arrive in `logs.normalized` exactly once
//! (as many records as the `evtx` crate reads), also across a restart on the same data
//! directory; a file that grows is read as it grows; a filter removes exactly the events it
//! names; a damaged file gives its readable records and its corrupt chunks are counted (and
//! unused chunk slots are not).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{consume, http_get, Appliance, Kafka, Keys};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    common::testdata().join("evtx").join(name)
}

/// The records the `evtx` crate reads from `path`: record ID → event ID.
fn crate_records(path: &Path) -> BTreeMap<u64, Option<u32>> {
    let mut parser = evtx::EvtxParser::from_path(path).expect("evtx header");
    parser
        .records()
        .flatten()
        .map(|r| {
            let fields =
                linerate::normalize::windows::windows_fields(r.data.as_bytes(), &mut Vec::new());
            (r.event_record_id, fields.and_then(|f| f.event_id))
        })
        .collect()
}

fn evtx_input(dir: &Path, filter: &str) -> String {
    format!(
        "[[evtx_input]]\ndir = \"{}\"\npoll_interval_ms = 100\nrecords_per_step_max = 200\n{filter}\n",
        dir.display()
    )
}

/// Wait up to 20 s for `want` events, then 2 s more for any surplus.
fn events(kafka: &Kafka, want: usize) -> Vec<Value> {
    let mut got = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        want,
        Duration::from_secs(20),
    );
    if got.len() == want {
        got = consume(
            &kafka.bootstrap(),
            "logs.normalized",
            want + 1,
            Duration::from_secs(2),
        );
    }
    got
}

fn channel_and_record_id(e: &Value) -> (String, u64) {
    (
        e["winlog"]["channel"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        e["winlog"]["record_id"].as_u64().expect("winlog.record_id"),
    )
}

#[test]
fn copied_files_arrive_once_across_a_restart() {
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = evtx_input(dir.path(), "");
    let a = Appliance::start_in(data.path(), &kafka.bootstrap(), &extra, Keys::default());
    let security = testdata("security.evtx");
    let first = crate_records(&security);
    assert!(first.len() > 1000, "{}", first.len());
    std::fs::copy(&security, dir.path().join("security.evtx")).unwrap();
    let got = events(&kafka, first.len());
    assert_eq!(got.len(), first.len());
    let ids: BTreeSet<u64> = got.iter().map(|e| channel_and_record_id(e).1).collect();
    assert_eq!(ids, first.keys().copied().collect::<BTreeSet<u64>>());
    for e in &got {
        assert_eq!(e["event"]["dataset"], "windows.eventlog", "{e}");
        assert_eq!(e["winlog"]["channel"], "Security", "{e}");
        assert!(e["event"]["code"].is_string(), "{e}");
        assert!(e["host"]["hostname"].is_string(), "{e}");
        assert!(e["event"]["original"]
            .as_str()
            .is_some_and(|o| o.contains("<Event")));
    }
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_evtx_records_read_total", &[]) == first.len() as u64
    });
    assert_eq!(
        m.sum("linerate_evtx_records_read_total", &[]),
        first.len() as u64
    );
    assert_eq!(m.sum("linerate_evtx_files_watched", &[]), 1);
    assert_eq!(m.sum("linerate_evtx_corrupt_chunks_total", &[]), 0);
    // Counted as received under their own transport (in /metrics and /api/v1), not TCP's.
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_events_received_total", &["transport=\"evtx\""]) == first.len() as u64
    });
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"evtx\""]),
        first.len() as u64
    );
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]),
        0
    );
    assert!(m.sum("linerate_received_bytes_total", &["transport=\"evtx\""]) > 0);
    let (status, body) = http_get(a.http_port, "/api/v1/shards").unwrap();
    assert_eq!(status, 200);
    let shards: Value = serde_json::from_str(&body).unwrap();
    let received: u64 = shards["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["counters"]["received"]["evtx"].as_u64().unwrap())
        .sum();
    assert_eq!(received, first.len() as u64, "{body}");
    let (code, _) = a.terminate();
    assert_eq!(code, 0);

    // Same data directory: the first file's position was saved; only the second is read.
    let a = Appliance::start_in(data.path(), &kafka.bootstrap(), &extra, Keys::default());
    let system = testdata("system.evtx");
    let second = crate_records(&system);
    std::fs::copy(&system, dir.path().join("system.evtx")).unwrap();
    let want = first.len() + second.len();
    let got = events(&kafka, want);
    assert_eq!(
        got.len(),
        want,
        "the first file's records are not sent again"
    );
    let keys: BTreeSet<(String, u64)> = got.iter().map(channel_and_record_id).collect();
    assert_eq!(keys.len(), want, "no record twice");
    let system_ids: BTreeSet<u64> = got
        .iter()
        .map(channel_and_record_id)
        .filter(|(c, _)| c == "System")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(
        system_ids,
        second.keys().copied().collect::<BTreeSet<u64>>()
    );
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_evtx_files_watched", &[]) == 2
    });
    assert_eq!(
        m.sum("linerate_evtx_records_read_total", &[]),
        second.len() as u64
    );
    // Renamed, as Windows archives a full log: the same file, not read again.
    std::fs::rename(
        dir.path().join("system.evtx"),
        dir.path().join("Archive-System-2025-01-01.evtx"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let m = a.metrics();
    assert_eq!(m.sum("linerate_evtx_files_watched", &[]), 2);
    assert_eq!(
        m.sum("linerate_evtx_records_read_total", &[]),
        second.len() as u64
    );
    let (code, _) = a.terminate();
    assert_eq!(code, 0);
    assert_eq!(events(&kafka, want).len(), want);
}

#[test]
fn kill_9_while_reading_loses_nothing() {
    let security = testdata("security.evtx");
    let all = crate_records(&security);
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Small steps, so the kill most likely lands between two saved positions.
    let extra = format!(
        "[[evtx_input]]\ndir = \"{}\"\npoll_interval_ms = 100\nrecords_per_step_max = 20\n",
        dir.path().display()
    );
    let a = Appliance::start_in(data.path(), &kafka.bootstrap(), &extra, Keys::default());
    std::fs::copy(&security, dir.path().join("security.evtx")).unwrap();
    let m = a.wait_metrics(Duration::from_secs(20), |m| {
        m.sum("linerate_evtx_records_read_total", &[]) >= 100
    });
    a.kill9();
    eprintln!(
        "killed after {} of {} records read",
        m.sum("linerate_evtx_records_read_total", &[]),
        all.len()
    );
    let _a = Appliance::start_in(data.path(), &kafka.bootstrap(), &extra, Keys::default());
    // At least once: every record arrives; repeats are possible (the last step, the ring's
    // replay of what Kafka had not acknowledged).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut ids = BTreeSet::new();
    while std::time::Instant::now() < deadline {
        let got = consume(
            &kafka.bootstrap(),
            "logs.normalized",
            2 * all.len(),
            Duration::from_secs(2),
        );
        ids = got.iter().map(|e| channel_and_record_id(e).1).collect();
        if ids.len() == all.len() {
            break;
        }
    }
    assert_eq!(ids, all.keys().copied().collect::<BTreeSet<u64>>());
}

#[test]
fn a_growing_file_is_read_as_it_grows() {
    let security = testdata("security.evtx");
    let bytes = std::fs::read(&security).unwrap();
    let all = crate_records(&security);
    // The file header, 10 whole chunks and part of the 11th.
    let cut = 4096 + 10 * 65536 + 30_000;
    let scratch = tempfile::tempdir().unwrap();
    let prefix_path = scratch.path().join("prefix.evtx");
    std::fs::write(&prefix_path, &bytes[..cut]).unwrap();
    let prefix = crate_records(&prefix_path);
    assert!(!prefix.is_empty() && prefix.len() < all.len());
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let _a = Appliance::start(&kafka.bootstrap(), &evtx_input(dir.path(), ""));
    let live = dir.path().join("Security.evtx");
    std::fs::write(&live, &bytes[..cut]).unwrap();
    let got = events(&kafka, prefix.len());
    assert_eq!(
        got.len(),
        prefix.len(),
        "the whole chunks so far, not the partial one"
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    std::io::Write::write_all(&mut f, &bytes[cut..]).unwrap();
    drop(f);
    let got = events(&kafka, all.len());
    assert_eq!(got.len(), all.len());
    let ids: BTreeSet<u64> = got.iter().map(|e| channel_and_record_id(e).1).collect();
    assert_eq!(ids, all.keys().copied().collect::<BTreeSet<u64>>());
}

#[test]
fn a_filter_removes_exactly_the_ids_it_excludes() {
    let security = testdata("security.evtx");
    let all = crate_records(&security);
    let excluded = |id: Option<u32>| id.is_some_and(|id| (4624..=4634).contains(&id) || id == 4688);
    let dropped = all.values().filter(|id| excluded(**id)).count();
    assert!(
        dropped > 0 && dropped < all.len(),
        "{dropped} of {}",
        all.len()
    );
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let extra = evtx_input(
        dir.path(),
        "[evtx_input.filter.exclude]\nevent_ids = [\"4624-4634\", 4688]\n",
    );
    let a = Appliance::start(&kafka.bootstrap(), &extra);
    std::fs::copy(&security, dir.path().join("security.evtx")).unwrap();
    let kept = all.len() - dropped;
    let got = events(&kafka, kept);
    assert_eq!(got.len(), kept);
    for e in &got {
        let code: u32 = e["event"]["code"].as_str().unwrap().parse().unwrap();
        assert!(!excluded(Some(code)), "{code} should have been filtered");
    }
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_events_filtered_total", &[]) == dropped as u64
    });
    assert_eq!(m.sum("linerate_events_filtered_total", &[]), dropped as u64);
    assert_eq!(
        m.sum("linerate_evtx_records_read_total", &[]),
        all.len() as u64
    );
}

#[test]
fn a_bad_chunk_is_counted_and_the_readable_records_arrive() {
    let sample = testdata("sample_with_a_bad_chunk_magic.evtx");
    let readable = crate_records(&sample);
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Appliance::start(&kafka.bootstrap(), &evtx_input(dir.path(), ""));
    std::fs::copy(&sample, dir.path().join("sample.evtx")).unwrap();
    let got = events(&kafka, readable.len());
    assert_eq!(got.len(), readable.len());
    // One of its records renders an empty EventRecordID; the others carry theirs.
    let ids: BTreeSet<u64> = got
        .iter()
        .filter_map(|e| e["winlog"]["record_id"].as_u64())
        .collect();
    assert_eq!(ids.len(), readable.len() - 1);
    assert!(ids.iter().all(|id| readable.contains_key(id)));
    // evtx 0.15.1's counts (the testdata README gives 0.8.5's, 3 corrupt records): 2 corrupt
    // chunks, 1 corrupt record.
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_evtx_corrupt_chunks_total", &[]) == 2
            && m.sum("linerate_evtx_corrupt_records_total", &[]) == 1
    });
    assert_eq!(m.sum("linerate_evtx_corrupt_chunks_total", &[]), 2);
    assert_eq!(m.sum("linerate_evtx_corrupt_records_total", &[]), 1);
}

#[test]
fn unused_chunk_slots_past_a_dirty_header_are_not_counted_as_corrupt() {
    // sysmon.evtx: 358 records in chunks 0-8, then 8 slots of leftover bytes holding no
    // chunk header and no record (the crate reports each as a chunk error; nothing is lost).
    let sample = testdata("sysmon.evtx");
    let readable = crate_records(&sample);
    assert_eq!(readable.len(), 358);
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Appliance::start(&kafka.bootstrap(), &evtx_input(dir.path(), ""));
    std::fs::copy(&sample, dir.path().join("sysmon.evtx")).unwrap();
    let got = events(&kafka, readable.len());
    assert_eq!(got.len(), readable.len());
    // The chunk heads are looked at before any record of the file is read.
    let m = a.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_evtx_records_read_total", &[]) == 358
    });
    assert_eq!(m.sum("linerate_evtx_records_read_total", &[]), 358);
    assert_eq!(m.sum("linerate_evtx_corrupt_chunks_total", &[]), 0);
    assert_eq!(m.sum("linerate_evtx_corrupt_records_total", &[]), 0);
}

#[test]
fn a_bad_filter_stops_start_up_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[syslog]\ntcp_listen = \"127.0.0.1:0\"\n\n{}[evtx_input.filter.include]\nevent_ids = [\"40-3\"]\n",
        evtx_input(dir.path(), "")
    );
    let (_guard, path, stderr) = common::start_up_error(&cfg);
    assert!(
        stderr.contains(&format!("{}:10:1: event_ids", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("40-3"), "{stderr}");
}
