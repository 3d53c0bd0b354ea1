//! The durable buffer against the real binary: Kafka outages, `kill -9`, and damaged ring
//! files, with the mock cluster (a real Kafka-protocol broker) owned by the test.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use linerate::buffer::frame::{self, Frame};

fn missing(seqs: &HashSet<u64>, n: u64) -> Vec<u64> {
    (0..n).filter(|s| !seqs.contains(s)).collect()
}

/// Consume the normalized topic until every seq in 0..n arrived (or nothing new for
/// `idle`); returns the distinct seqs and the number of records (duplicates included).
fn consume_seqs(kafka: &Kafka, n: u64, idle: Duration) -> (HashSet<u64>, usize) {
    // Duplicates are allowed, so read until idle rather than stopping at `n` records.
    let events = consume(&kafka.bootstrap(), "logs.normalized", 4 * n as usize, idle);
    let mut seqs = HashSet::new();
    for e in &events {
        if let Some(s) = seq_of(e) {
            seqs.insert(s);
        }
        if seqs.len() as u64 == n {
            break;
        }
    }
    (seqs, events.len())
}

#[test]
fn kill_9_with_kafka_down_then_restart_delivers_every_received_event() {
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    // 2 MiB rings: most of the backlog moves to the spill before the kill.
    let small = Keys {
        buffer: "ring_bytes_max = 2097152",
        ..Keys::default()
    };
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", small);
    kafka.cluster.broker_down(1).unwrap();
    const N: u64 = 20_000;
    let report = loadgen(
        app.syslog_port,
        &[
            "--transport",
            "tcp",
            "--connections",
            "2",
            "--count",
            &N.to_string(),
        ],
    );
    assert_eq!(report["sent"], N);
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_events_received_total", &[]) == N
    });
    assert_eq!(m.sum("linerate_events_received_total", &[]), N);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_buffer_spilled_events_total", &[]) > 0
    });
    let (used, spilled) = (
        m.sum("linerate_buffer_ring_bytes_used", &[]),
        m.sum("linerate_buffer_spill_bytes", &[]),
    );
    assert!(
        used > 0 && spilled > 0,
        "ring and spill hold what Kafka has not acked: ring {used} bytes, spill {spilled} bytes"
    );
    app.kill9();

    kafka.cluster.broker_up(1).unwrap();
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", small);
    let (seqs, records) = consume_seqs(&kafka, N, Duration::from_secs(20));
    let lost = missing(&seqs, N);
    assert!(
        lost.is_empty(),
        "{} of {N} lost after kill -9; first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
            && m.sum("linerate_buffer_spill_segments", &[]) == 0
    });
    assert_eq!(
        m.sum("linerate_buffer_spill_segments", &[]),
        0,
        "acknowledged segments are deleted"
    );
    let replayed = m.sum("linerate_buffer_replayed_events_total", &[]);
    assert!(
        replayed > 0 && replayed <= N,
        "replayed events are counted: {replayed}"
    );
    assert!(records as u64 >= N, "{records} records for {N} events");
    assert_eq!(m.sum("linerate_buffer_ring_bytes_used", &[]), 0);
    assert_eq!(
        m.sum("linerate_buffer_corrupt_records_skipped_total", &[]),
        0
    );
}

#[test]
fn kafka_outage_under_steady_load_loses_nothing_and_memory_stays_bounded() {
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    // Small rings so the outage spills them to disk.
    const RING_BYTES: u64 = 4 << 20;
    const SHARDS: u64 = 2;
    let buffer = format!("ring_bytes_max = {RING_BYTES}\nin_flight_events_max = 4096");
    let app = Appliance::start_in(
        data.path(),
        &kafka.bootstrap(),
        "",
        Keys {
            buffer: &buffer,
            ..Keys::default()
        },
    );
    let baseline_rss = app.rss_bytes();
    // Memory is sampled all along, from another thread: peaks during the outage (index 0)
    // and after it (index 1).
    let peak_rss = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let phase = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, on, phase) = (peak_rss.clone(), sampling.clone(), phase.clone());
        let pid = app.child.id();
        std::thread::spawn(move || {
            while on.load(Ordering::Relaxed) {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kb) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak[phase.load(Ordering::Relaxed) as usize]
                        .fetch_max(kb * 1024, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // 3000 msg/s for 40 s: the outage is 30 s of that.
    const N: u64 = 120_000;
    let mut load = loadgen_to(app.syslog_port)
        .args(["--transport", "tcp", "--connections", "2", "--rate", "3000"])
        .args(["--count", &N.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    kafka.cluster.broker_down(1).unwrap();
    let down_at = Instant::now();
    // While Kafka is down the rings pass their high watermark and spill to disk.
    let m = app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_buffer_spill_bytes", &[]) > 0
    });
    assert!(
        m.sum("linerate_buffer_spill_bytes", &[]) > 0,
        "the rings spilled while Kafka was down"
    );
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed()));
    let mid_outage = app.metrics();
    let spilled = mid_outage.sum("linerate_buffer_spilled_events_total", &[]);
    assert!(
        spilled > 40_000,
        "most of the outage's backlog went to disk: {spilled} events"
    );
    assert_eq!(
        mid_outage.sum("linerate_buffer_spill_write_errors_total", &[]),
        0
    );
    kafka.cluster.broker_up(1).unwrap();
    phase.store(1, Ordering::Relaxed);
    let status = load.wait().unwrap();
    assert!(status.success(), "loadgen exit {status}");
    let m = app.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("linerate_events_received_total", &[]) == N
            && m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
            && m.sum("linerate_buffer_spill_segments", &[]) == 0
    });
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(m.sum("linerate_events_received_total", &[]), N);
    assert_eq!(m.sum("linerate_buffer_ring_bytes_used", &[]), 0, "drained");
    assert_eq!(
        m.sum("linerate_buffer_spill_segments", &[]),
        0,
        "acknowledged segments deleted"
    );
    let (seqs, _) = consume_seqs(&kafka, N, Duration::from_secs(20));
    let lost = missing(&seqs, N);
    assert!(
        lost.is_empty(),
        "{} of {N} lost across the outage; first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // Memory: the rings (file pages, counted in RSS once touched) plus a stated margin.
    // While Kafka is down the margin is the in-flight window (4096 events × 2 records per
    // shard held by librdkafka), the spill's block buffers and the rest: 64 MiB (measured:
    // about 30). During the catch-up after it, at full speed, librdkafka's batches,
    // compression contexts and the allocator's retained pages add more: 128 MiB (measured:
    // about 110). Neither grows with the outage's length: the backlog waits on disk.
    const MARGIN_OUTAGE: u64 = 64 << 20;
    const MARGIN_CATCH_UP: u64 = 128 << 20;
    let (outage, after) = (
        peak_rss[0].load(Ordering::Relaxed),
        peak_rss[1].load(Ordering::Relaxed),
    );
    eprintln!(
        "rss: baseline {} MiB, peak during the outage {} MiB, after it {} MiB, rings {} MiB; \
         in flight mid-outage {}",
        baseline_rss >> 20,
        outage >> 20,
        after >> 20,
        (RING_BYTES * SHARDS) >> 20,
        mid_outage.sum("linerate_buffer_in_flight_events", &[]),
    );
    for (peak, margin) in [(outage, MARGIN_OUTAGE), (after, MARGIN_CATCH_UP)] {
        assert!(
            peak <= baseline_rss + RING_BYTES * SHARDS + margin,
            "peak RSS {peak} over baseline {baseline_rss} + rings + {margin}"
        );
    }
}

#[test]
fn damaged_ring_frames_and_spill_blocks_are_skipped_counted_and_the_rest_replayed() {
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    // 2 MiB rings: part of the backlog is in the rings, part in the spills.
    let keys = Keys {
        kafka: "shutdown_flush_ms = 300",
        buffer: "ring_bytes_max = 2097152",
        ..Keys::default()
    };
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", keys);
    kafka.cluster.broker_down(1).unwrap();
    const N: u64 = 20_000;
    loadgen(
        app.syslog_port,
        &[
            "--transport",
            "tcp",
            "--connections",
            "4",
            "--count",
            &N.to_string(),
        ],
    );
    app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_events_received_total", &[]) == N
            && m.sum("linerate_buffer_spilled_events_total", &[]) > 0
    });
    // A clean stop with Kafka down: the events stay in the rings and spills.
    let (code, _) = app.terminate();
    assert_eq!(code, 0);

    // Damage the eighth unacknowledged frame's payload in each ring file that has one (the
    // kernel spreads the connections over the shards), and remember which events those were.
    let mut damaged = HashSet::new();
    let mut spill_blocks = 0;
    let mut scanned = Vec::new();
    for shard in 0..2 {
        let path = data.path().join(format!("shard-{shard}.ring"));
        let mut bytes = std::fs::read(&path).unwrap();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let (cap, write, ack) = (word(8), word(16), word(24));
        scanned.push(format!("shard {shard}: cap {cap} ack {ack} write {write}"));
        // Walk the unacknowledged frames as the ring does: a wrap marker (or a tail too
        // short for a header) sends the walk to the start of the data area.
        let mut pos = ack;
        let mut index = 0;
        while pos < write {
            let room = cap - pos % cap;
            if room < frame::HEADER_BYTES as u64 {
                pos += room;
                continue;
            }
            let at = 4096 + (pos % cap) as usize; // after the header page
            let end = at + room.min(write - pos) as usize;
            let (ev, len) = match frame::decode(&bytes[at..end]) {
                Ok(Frame::Event(ev, len)) => (ev, len),
                Ok(Frame::Wrap) => {
                    pos += room;
                    continue;
                }
                Err(e) => panic!("shard {shard}: frame {index} at {pos}: {e}"),
            };
            if index == 7 {
                let text = String::from_utf8_lossy(ev.raw);
                let seq: u64 = text
                    .split("seq=")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|s| s.parse().ok())
                    .expect("loadgen seq");
                damaged.insert(seq);
                // A byte inside the message: the payload crc no longer matches.
                let flip = at + frame::HEADER_BYTES + frame::META_BYTES + 10;
                bytes[flip] ^= 0x20;
                break;
            }
            pos += len as u64;
            index += 1;
        }
        std::fs::write(&path, &bytes).unwrap();
        // And one byte of the compressed payload of the first spill block.
        let dir = data.path().join(format!("shard-{shard}.spill"));
        let mut segs: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        segs.sort();
        if let Some(first) = segs.first() {
            let mut b = std::fs::read(first).unwrap();
            b[48 + 100] ^= 0x5a;
            std::fs::write(first, b).unwrap();
            spill_blocks += 1;
        }
    }
    assert!(!damaged.is_empty(), "a ring to damage: {scanned:?}");
    assert!(spill_blocks > 0, "a spill to damage");
    let d = damaged.len() as u64;

    kafka.cluster.broker_up(1).unwrap();
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", keys);
    // Not every event arrives (the damaged ones): read until the topic is idle.
    let (seqs, _) = consume_seqs(&kafka, N, Duration::from_secs(8));
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
            && m.sum("linerate_buffer_spill_segments", &[]) == 0
    });
    let corrupt = m.sum("linerate_buffer_corrupt_records_skipped_total", &[]);
    assert!(
        corrupt > d,
        "damaged ring frames ({d}) and spilled events are counted: {corrupt}"
    );
    let lost: HashSet<u64> = missing(&seqs, N).into_iter().collect();
    assert!(
        damaged.is_subset(&lost),
        "the damaged ring frames are missing"
    );
    assert_eq!(
        lost.len() as u64,
        corrupt,
        "exactly the events counted as damaged are missing"
    );
    assert_eq!(
        m.sum("linerate_buffer_replayed_events_total", &[]),
        N - corrupt,
        "every sound event was replayed"
    );
}

/// Unmounts a test filesystem when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    /// A tmpfs of `size` at a new temporary directory, or `None` where mounting is not
    /// allowed (not root).
    fn tmpfs(size: &str) -> Option<(Mount, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "linerate-test",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| (Mount(dir.path().to_owned()), dir))
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {size}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_backs_off_counts_and_recovers_when_space_returns() {
    let _g = heavy();
    // A 5 MiB filesystem: two 2 MiB rings and about 1 MiB for the spills.
    let Some((mount, dir)) = Mount::tmpfs("5m") else {
        eprintln!("SKIPPED full_disk_backs_off_counts_and_recovers_when_space_returns: mounting a tmpfs needs root");
        return;
    };
    let kafka = Kafka::start();
    let keys = Keys {
        kafka: "shutdown_flush_ms = 300",
        buffer: "ring_bytes_max = 2097152\nspill_block_bytes_max = 65536",
        ..Keys::default()
    };
    let app = Appliance::start_in(dir.path(), &kafka.bootstrap(), "", keys);
    kafka.cluster.broker_down(1).unwrap();
    const N: u64 = 300_000;
    let mut load = loadgen_to(app.syslog_port)
        // 16 connections: SO_REUSEPORT spreads them over both shards (all 16 on one shard has
        // odds of 1 in 32768), so both rings fill and the UDP datagrams below, whichever shard
        // their sender hashes to, meet a full ring.
        .args(["--transport", "tcp", "--connections", "16"])
        .args(["--count", &N.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The disk fills: spill writes fail, the rings fill, TCP inputs stop reading, on both shards.
    let backed_off = |m: &Metrics, shard: &str| {
        m.sum_f64("linerate_backpressure_wait_seconds_total", &[shard]) > 0.0
    };
    let m = app.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("linerate_buffer_spill_write_errors_total", &[]) > 0
            && backed_off(m, "shard=\"0\"")
            && backed_off(m, "shard=\"1\"")
    });
    assert!(
        m.sum("linerate_buffer_spill_write_errors_total", &[]) > 0,
        "spill writes failed on the full disk"
    );
    assert!(m.sum("linerate_buffer_spill_blocked", &[]) > 0);
    assert!(
        m.sum_f64("linerate_backpressure_wait_seconds_total", &[]) > 0.0,
        "the TCP inputs backed off"
    );
    let received = m.sum("linerate_events_received_total", &[]);
    assert!(
        received < N,
        "the senders were held back: {received} of {N}"
    );
    // UDP cannot be held back: with the rings full, datagrams are dropped and counted.
    let udp = loadgen(
        app.syslog_port,
        &[
            "--transport",
            "udp",
            "--format",
            "rfc3164",
            "--count",
            "2000",
            "--rate",
            "20000",
        ],
    );
    assert_eq!(udp["sent"], 2000);
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_events_dropped_total", &["reason=\"buffer_full\""]) > 0
    });
    assert!(m.sum("linerate_events_dropped_total", &["reason=\"buffer_full\""]) > 0);
    // Still alive and serving.
    std::thread::sleep(Duration::from_secs(2));
    app.metrics();

    // Space returns, then Kafka: everything sent over TCP arrives.
    mount.resize("512m");
    app.wait_metrics(Duration::from_secs(30), |m| {
        m.sum("linerate_buffer_spill_blocked", &[]) == 0
    });
    kafka.cluster.broker_up(1).unwrap();
    let status = load.wait().unwrap();
    assert!(status.success(), "loadgen exit {status}");
    let m = app.wait_metrics(Duration::from_secs(120), |m| {
        m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
            && m.sum("linerate_buffer_spill_segments", &[]) == 0
            && m.sum("linerate_events_received_total", &["transport=\"tcp\""]) == N
    });
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]),
        N
    );
    // RFC 5424 events are the TCP ones (the UDP sender used RFC 3164).
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        4 * N as usize,
        Duration::from_secs(10),
    );
    let seqs: HashSet<u64> = events
        .iter()
        .filter(|e| e["log"]["syslog"]["version"] == 1)
        .filter_map(seq_of)
        .collect();
    let lost = missing(&seqs, N);
    assert!(
        lost.is_empty(),
        "{} of {N} lost across the full disk; first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    drop(app);
    drop(mount);
}

#[test]
fn spill_blocked_reads_0_again_once_a_kafka_outage_ends() {
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    // Small rings and a spill of one small segment: the outage fills the spill
    // (spill_bytes_max reached, spill_blocked 1), then the rings.
    let keys = Keys {
        buffer: "ring_bytes_max = 2097152\nspill_block_bytes_max = 65536\n\
                 spill_segment_bytes_max = 262144\nspill_bytes_max = 262144",
        ..Keys::default()
    };
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", keys);
    kafka.cluster.broker_down(1).unwrap();
    const N: u64 = 200_000;
    let mut load = loadgen_to(app.syslog_port)
        .args(["--transport", "tcp", "--connections", "16"])
        .args(["--count", &N.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = app.wait_metrics(Duration::from_secs(60), |m| {
        m.sum("linerate_buffer_spill_blocked", &[]) > 0
    });
    assert!(
        m.sum("linerate_buffer_spill_blocked", &[]) > 0,
        "the spill filled during the outage"
    );
    assert_eq!(
        m.sum("linerate_buffer_spill_write_errors_total", &[]),
        0,
        "held back by spill_bytes_max, not by failing writes"
    );

    // Kafka returns: everything drains, the spill empties, and nothing is held back.
    kafka.cluster.broker_up(1).unwrap();
    let status = load.wait().unwrap();
    assert!(status.success(), "loadgen exit {status}");
    let drained = |m: &Metrics| {
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]) == N
            && m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
            && m.sum("linerate_buffer_spill_segments", &[]) == 0
    };
    let m = app.wait_metrics(Duration::from_secs(120), drained);
    assert!(drained(&m), "the backlog drained");
    // The spill task looks at its condition every poll interval; a few snapshots later the
    // gauge has caught up (waited for, not timed).
    let m = app.wait_metrics(Duration::from_secs(10), |m| {
        m.sum("linerate_buffer_spill_blocked", &[]) == 0
    });
    assert_eq!(
        m.sum("linerate_buffer_spill_blocked", &[]),
        0,
        "spill_blocked after the spill drained"
    );
    let (seqs, _) = consume_seqs(&kafka, N, Duration::from_secs(10));
    let lost = missing(&seqs, N);
    assert!(lost.is_empty(), "{} of {N} lost", lost.len());
}

#[test]
fn rejected_records_are_dead_lettered_to_the_topic_or_the_file() {
    use rdkafka::types::RDKafkaApiKey;
    use rdkafka::types::RDKafkaRespErr;
    let _g = heavy();
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    // Records over message.max.bytes are refused at produce time, and so are their dead
    // letters: they go to the dead-letter file.
    let keys = Keys {
        kafka: "[kafka.properties]\n\"message.max.bytes\" = \"4000\"",
        ..Keys::default()
    };
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), "", keys);
    // The broker refuses the next produce requests for good (not authorized): their
    // records go to the dead-letter topic, which accepts them once the errors are used up.
    kafka.cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 3],
    );
    const N: u64 = 500;
    loadgen(
        app.syslog_port,
        &["--transport", "tcp", "--count", &N.to_string()],
    );
    loadgen(
        app.syslog_port,
        &["--transport", "tcp", "--count", "3", "--size", "6000"],
    );
    let m = app.wait_metrics(Duration::from_secs(60), |m| {
        m.sum(
            "linerate_events_dead_lettered_total",
            &["destination=\"file\""],
        ) >= 6
            && m.sum("linerate_events_received_total", &[]) == N + 3
            && m.sum("linerate_buffer_ring_bytes_used", &[]) == 0
    });
    assert_eq!(
        m.sum("linerate_buffer_ring_bytes_used", &[]),
        0,
        "all settled"
    );
    assert_eq!(
        m.sum(
            "linerate_events_dead_lettered_total",
            &["destination=\"file\""]
        ),
        6,
        "both records of each oversized event went to the dead-letter file"
    );
    assert_eq!(m.sum("linerate_events_dropped_total", &[]), 0);
    let to_topic = m.sum(
        "linerate_events_dead_lettered_total",
        &["destination=\"topic\""],
    );
    assert!(
        to_topic > 0,
        "the refused requests' records were dead-lettered"
    );
    // Every normal event is in the normalized topic, or its normalized record is a dead
    // letter in the dead-letter topic.
    let dl = consume(
        &kafka.bootstrap(),
        "logs.deadletter",
        10 * N as usize,
        Duration::from_secs(8),
    );
    assert_eq!(dl.len() as u64, to_topic);
    let mut seqs = HashSet::new();
    for d in &dl {
        assert_eq!(d["error"]["type"], "kafka.rejected");
        assert!(
            d["error"]["message"].as_str().unwrap().contains("uthoriz"),
            "{d}"
        );
        let original = d["event"]["original"].as_str().unwrap();
        assert!(original.contains("seq="));
        if d["linerate"]["topic"] == "logs.normalized" {
            let seq: u64 = original
                .split("seq=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            seqs.insert(seq);
        }
    }
    let delivered = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        10 * N as usize,
        Duration::from_secs(8),
    );
    seqs.extend(delivered.iter().filter_map(seq_of));
    assert!(
        missing(&seqs, N).is_empty(),
        "every event delivered or dead-lettered"
    );
    // The file has one line per oversized record, with the whole event.
    let mut lines = Vec::new();
    for shard in 0..2 {
        let p = data.path().join(format!("shard-{shard}.deadletter.ndjson"));
        if let Ok(text) = std::fs::read_to_string(&p) {
            lines.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
        }
    }
    assert_eq!(lines.len(), 6);
    for l in &lines {
        assert_eq!(l["error"]["type"], "kafka.rejected");
        assert!(
            l["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too large"),
            "{l}"
        );
        assert_eq!(l["event"]["original"].as_str().unwrap().len(), 6000);
    }
}
