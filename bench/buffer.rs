//! Criterion, in one run:
//! - the ring's append + consume + acknowledge cycle per event, beside the floor of the same
//!   work (copying the bytes into a preallocated buffer and reading them back);
//! - a shard's per-event work without Kafka, with the buffer (append to the ring, read it
//!   back, parse + ECS JSON from the ring's copy, acknowledge) and without it (parse + ECS
//!   JSON straight from the received bytes): the buffer's cost on the hot path;
//! - the same with Kafka, as a shard runs it: without the buffer, parse + ECS JSON + produce
//!   to `logs.raw` and `logs.normalized` on an in-process mock cluster and wait for every
//!   delivery report; with it, the shard's own sender (`Delivery`: ring append, send from the
//!   ring, settle on the reports, acknowledge). The broker runs in this process, on the same
//!   cores, as with `brokers = "embedded"`.
//!
//! Run: `cargo bench --bench buffer`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use linerate::buffer::ring::Ring;
use linerate::event::ReceiveMeta;
use linerate::event::RecordKind;
use linerate::event::Transport;

/// Events per measured batch (they are appended, then consumed and acknowledged).
const BATCH: usize = 1024;

fn message() -> Vec<u8> {
    let mut m =
        b"<134>1 2025-01-02T03:04:05.123456Z loadgen-host linerate-loadgen 4242 LOAD - seq=17 "
            .to_vec();
    m.resize(256, b'x');
    m
}

fn bench(c: &mut Criterion) {
    let msg = message();
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: Some("10.0.0.9:5140".parse().unwrap()),
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut ring, _) = Ring::open(&dir.path().join("bench.ring"), 64 << 20).unwrap();
    let mut g = c.benchmark_group("ring_256B");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("linerate_ring_append_consume_ack", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                ring.append(
                    &meta,
                    Transport::Tcp,
                    false,
                    RecordKind::Syslog,
                    black_box(&msg),
                )
                .unwrap();
            }
            while let Some(u) = ring.next_unsent() {
                black_box(u.event.raw);
                let end = u.end;
                ring.advance_read(end);
            }
            let read = ring.read_pos();
            ring.set_ack(read);
        })
    });
    // The floor: the same bytes copied into memory and read back, no framing or crc.
    let mut arena = vec![0u8; BATCH * 320];
    g.bench_function("memcpy_floor", |b| {
        b.iter_batched_ref(
            || (),
            |_| {
                let mut at = 0;
                for _ in 0..BATCH {
                    arena[at..at + msg.len()].copy_from_slice(black_box(&msg));
                    at += 320;
                }
                let mut at = 0;
                for _ in 0..BATCH {
                    black_box(&arena[at..at + msg.len()]);
                    at += 320;
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let opts = linerate::parse::ParseOptions::default();
    let mut json = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("hot_path_256B");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("without_buffer", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                json.clear();
                linerate::normalize::syslog_to_ecs(black_box(&msg), &opts, &meta, &mut json);
                black_box(&json);
            }
        })
    });
    g.bench_function("with_buffer", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                ring.append(
                    &meta,
                    Transport::Tcp,
                    false,
                    RecordKind::Syslog,
                    black_box(&msg),
                )
                .unwrap();
            }
            while let Some(u) = ring.next_unsent() {
                json.clear();
                linerate::normalize::syslog_to_ecs(u.event.raw, &opts, &u.event.meta, &mut json);
                black_box(&json);
                let end = u.end;
                ring.advance_read(end);
            }
            let read = ring.read_pos();
            ring.set_ack(read);
        })
    });
    g.finish();
}

/// How long a batch may wait for delivery reports before the bench gives up.
const DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Events in flight (sent, report pending) after each batch: a stream, as in a shard, so the
/// rate is what the work allows rather than one linger wait per batch.
const WINDOW: u64 = 16_384;
/// Pause between two rounds of serving delivery reports while the window is full.
const POLL_PAUSE: std::time::Duration = std::time::Duration::from_micros(200);

fn bench_kafka(c: &mut Criterion) {
    use linerate::buffer::acks::AckSlots;
    use linerate::shard::delivery::Delivery;
    use linerate::sink::kafka::{EmbeddedKafka, KafkaSink, Topic};
    use linerate::stats::ShardStats;

    let msg = message();
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: Some("10.0.0.9:5140".parse().unwrap()),
    };
    let cfg = linerate::config::Config::default();
    let topics = [
        cfg.kafka.raw_topic.as_str(),
        cfg.kafka.normalized_topic.as_str(),
    ];
    let kafka = EmbeddedKafka::start(&topics, 4).unwrap();
    let opts = linerate::parse::ParseOptions::default();
    let stats = ShardStats::default();
    let sink = |shard| {
        KafkaSink::new(&cfg.kafka, None, &kafka.bootstrap_servers(), shard, 1 << 16).unwrap()
    };

    let mut g = c.benchmark_group("hot_path_kafka_256B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let direct = sink(0);
    let mut json = Vec::with_capacity(4096);
    // Sequence numbers sent, and the oldest whose reports are not all in yet.
    let (mut next, mut oldest) = (0u64, 0u64);
    g.bench_function("without_buffer", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                json.clear();
                linerate::normalize::syslog_to_ecs(black_box(&msg), &opts, &meta, &mut json);
                for (topic, payload) in [(Topic::Raw, &msg[..]), (Topic::Normalized, &json[..])] {
                    let t = topic as usize;
                    direct.acks().sent(next, t);
                    while direct
                        .try_send(topic, b"loadgen-host", payload, AckSlots::opaque(next, t))
                        .is_err()
                    {
                        direct.poll_batch();
                    }
                }
                next += 1;
            }
            let start = std::time::Instant::now();
            loop {
                direct.poll_batch();
                let acks = direct.acks();
                while oldest < next && acks.state(oldest).free() {
                    acks.clear(oldest);
                    oldest += 1;
                }
                if next - oldest <= WINDOW {
                    break;
                }
                assert!(start.elapsed() < DELIVERY_WAIT, "deliveries stalled");
                // Waiting leaves the cores to librdkafka's and the broker's threads, as a
                // shard's poller does between its rounds.
                std::thread::sleep(POLL_PAUSE);
            }
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let (ring, _) = Ring::open(&dir.path().join("bench-kafka.ring"), 64 << 20).unwrap();
    let buffered = sink(1);
    let mut delivery = Delivery::new(1, ring, None, &cfg.buffer, 1 << 16, None);
    g.bench_function("with_buffer", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                while delivery
                    .append(
                        &meta,
                        Transport::Tcp,
                        false,
                        RecordKind::Syslog,
                        &[],
                        black_box(&msg),
                        &stats,
                    )
                    .is_err()
                {
                    buffered.poll_batch();
                    delivery.settle(&buffered, &stats, &opts);
                    delivery.pump(&buffered, &stats, &opts, usize::MAX);
                }
            }
            // As a shard's sender does: the inputs only append; a turn sends the batch.
            delivery.pump(&buffered, &stats, &opts, usize::MAX);
            let start = std::time::Instant::now();
            loop {
                buffered.poll_batch();
                delivery.settle(&buffered, &stats, &opts);
                delivery.pump(&buffered, &stats, &opts, usize::MAX);
                if delivery.in_flight() as u64 <= WINDOW {
                    break;
                }
                assert!(start.elapsed() < DELIVERY_WAIT, "deliveries stalled");
                // Waiting leaves the cores to librdkafka's and the broker's threads, as a
                // shard's poller does between its rounds.
                std::thread::sleep(POLL_PAUSE);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_kafka);
criterion_main!(benches);
