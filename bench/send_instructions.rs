//! Instruction counts of handing records to Kafka, for `bench/send_instructions.sh`: ITER
//! batches of 256 ECS-sized records (keys from 64 hosts, as a shard's sender builds them)
//! through `KafkaSink::send_batch` to the embedded cluster (4 partitions), each batch
//! delivered before the next, so that valgrind's callgrind can count the instructions per
//! record. MODE `librdkafka` leaves every partition to librdkafka's partitioner (the path
//! before issue 14, `partitions_refresh_ms = 0`); `shard` lets the sink choose (one call per
//! partition). Counts do not depend on what else the machine is doing.
//!
//! Prints the number of records per iteration.
//!
//! Usage: `send_instructions librdkafka|shard ITERATIONS`

use std::time::{Duration, Instant};

use linerate::buffer::acks::AckSlots;
use linerate::sink::kafka::{EmbeddedKafka, KafkaSink, ProduceBatch, Topic};

// As the binary: librdkafka's per-record allocations go to mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records per batch (the shard's `PRODUCE_BATCH_EVENTS_MAX`).
const BATCH: usize = 256;
/// Distinct hosts the records are keyed by.
const HOSTS: usize = 64;
/// How long the setup and each batch's deliveries may take before the run is abandoned.
const WAIT_MAX: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(iterations)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: send_instructions librdkafka|shard ITERATIONS");
        std::process::exit(2);
    };
    let iterations: u64 = iterations.parse().unwrap_or(0);
    let mut cfg = linerate::config::Config::default().kafka;
    cfg.raw_enabled = false;
    cfg.dead_letter_enabled = false;
    cfg.partitions_refresh_ms = match mode.as_str() {
        "librdkafka" => 0,
        "shard" => 3_600_000,
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    };
    let kafka = EmbeddedKafka::start(&[cfg.normalized_topic.as_str()], 4).unwrap();
    let sink = KafkaSink::new(&cfg, None, &kafka.bootstrap_servers(), 0, 1 << 12).unwrap();
    let start = Instant::now();
    while mode == "shard" && sink.partition_count(Topic::Normalized) == 0 {
        assert!(start.elapsed() < WAIT_MAX, "no partition count");
        std::thread::sleep(Duration::from_millis(1));
    }
    let hosts: Vec<String> = (0..HOSTS)
        .map(|i| format!("host-{i:02}.dc1.example.org"))
        .collect();
    let payload = br#"{"@timestamp":"2025-01-08T10:20:00.000Z","ecs":{"version":"8.11.0"},"event":{"kind":"event","dataset":"syslog","created":"2025-01-08T10:20:00.000Z"},"host":{"hostname":"host-00.dc1.example.org"},"log":{"syslog":{"facility":{"code":4},"severity":{"code":6}}},"message":"session opened for user root by (uid=0)","process":{"name":"sshd","pid":4242}}"#;
    let mut batch = ProduceBatch::default();
    let mut seq = 0u64;
    for _ in 0..iterations {
        for i in 0..BATCH {
            let key = hosts[(seq as usize + i * 7) % HOSTS].as_bytes();
            batch.push(Topic::Normalized, key, payload, AckSlots::opaque(seq, 1));
            seq += 1;
        }
        sink.send_batch(&mut batch, |_, _, r| assert!(r.is_ok(), "not queued"));
        let start = Instant::now();
        while sink.in_flight() > 0 {
            assert!(start.elapsed() < WAIT_MAX, "deliveries stalled");
            sink.poll_batch();
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // The script divides by records per iteration.
    println!("{BATCH}");
}
