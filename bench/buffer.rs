//! Criterion, in one run:
//! - the ring's append + consume + acknowledge cycle per event, beside the floor of the same
//!   work (copying the bytes into a preallocated buffer and reading them back);
//! - a shard's per-event work without Kafka, with the buffer (append to the ring, read it
//!   back, parse + ECS JSON from the ring's copy, acknowledge) and without it (parse + ECS
//!   JSON straight from the received bytes): the buffer's cost on the hot path.
//!
//! Run: `cargo bench --bench buffer`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use linerate::buffer::frame::RecordKind;
use linerate::buffer::ring::Ring;
use linerate::normalize::ReceiveMeta;
use linerate::shard::stats::Transport;

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

criterion_group!(benches, bench);
criterion_main!(benches);
