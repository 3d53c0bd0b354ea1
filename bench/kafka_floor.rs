//! What librdkafka alone costs per record, producing to the embedded mock cluster: the floor
//! under linerate's CPU per event in `bench/peers.sh` (whose Kafka receivers all use the same
//! in-process mock, so the broker's work is inside every receiver's CPU).
//!
//! One producer, one thread handing it pre-built records (no socket, no parse, no ring), the
//! process's whole CPU time (its own thread, librdkafka's threads and the mock broker's)
//! divided by the records Kafka acknowledged. Variants, alternating, medians of `ROUNDS`:
//! - `rsyslog_omkafka`: the peers harness's rsyslog → Kafka output settings (its template's
//!   ~120-byte text line, no compression, librdkafka defaults: no idempotence; linger 5 ms);
//!   the baseline every other row is divided by;
//! - `linerate`: linerate's producer settings (`producer_config` of the default config:
//!   idempotence, `acks=all`, zstd level 1, linger 5 ms, 1 MiB batches) with the normalized
//!   ECS JSON of a loggen message (the `logs.normalized` record of `raw_enabled = false`);
//! - `linerate_zstd3`: the same at zstd's own default level, 3;
//! - `linerate_text`: linerate's settings with the rsyslog line (what the payload size costs);
//! - `linerate_none`: linerate's without compression;
//! - `linerate_tls_fields`, `linerate_tls_fields_zstd3`: the same event received over mutual
//!   TLS (its JSON carries ECS `tls.*`: version, cipher, client subject and SHA-256), at
//!   level 1 and 3 (what the TLS listener's events cost Kafka).
//!
//! `cargo bench --bench kafka_floor [-- RECORDS [ROUNDS]]` (defaults 500,000 and 3).
//! Performance is reported, never asserted.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use linerate::event::ReceiveMeta;
use linerate::sink::kafka::{producer_config, EmbeddedKafka};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

/// A loggen message as `bench/peers.sh` sends it (RFC 5424, 256 bytes).
fn loggen_message() -> Vec<u8> {
    let mut m = b"<38>1 2026-12-05T09:00:00.000001+00:00 localhost prg00000 1234 - [meta sequenceId=\"1\"] seq: 0000000001, thread: 0000, runid: 1733389200, stamp: 2026-12-05T09:00:00 ".to_vec();
    while m.len() + 4 <= 256 {
        m.extend_from_slice(b"PADD");
    }
    m
}

/// Counts acknowledged and failed records (reports are served on the producing thread).
#[derive(Default)]
struct Counting {
    acked: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counting {}
impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.acked.fetch_add(1, Relaxed),
            Err(_) => self.failed.fetch_add(1, Relaxed),
        };
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Produce `records` records cycling over `payloads`, keyed `localhost`; the CPU µs per acknowledged record
/// and the records per second.
fn run(config: &ClientConfig, topic: &str, payloads: &[Vec<u8>], records: u64) -> (f64, f64) {
    let producer: BaseProducer<Counting> = config
        .create_with_context(Counting::default())
        .expect("producer");
    // Connect and learn the topic before timing.
    let _ = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10));
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut sent = 0;
    while sent < records {
        let payload = &payloads[sent as usize % payloads.len()][..];
        match producer.send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .key(b"localhost")
                .payload(payload),
        ) {
            Ok(()) => sent += 1,
            Err(_) => serve_reports(&producer),
        }
        if sent % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    let ctx = producer.context();
    while ctx.acked.load(Relaxed) + ctx.failed.load(Relaxed) < records {
        serve_reports(&producer);
    }
    let (cpu, wall) = (cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    assert_eq!(ctx.failed.load(Relaxed), 0, "records refused by Kafka");
    (cpu / records as f64 * 1e6, records as f64 / wall)
}

/// As a shard does: serve what is queued, then wait for the next tick (1 ms), so waiting for
/// Kafka costs no CPU of ours.
fn serve_reports(producer: &BaseProducer<Counting>) {
    for _ in 0..64 {
        producer.poll(Duration::ZERO);
    }
    std::thread::sleep(Duration::from_millis(1));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The vendor golden corpus (`tests/data/syslog_corpus/*.log`: Cisco, ASA, FortiGate,
/// Juniper...) normalized, `count` events cycling over its lines with their digits varied
/// (a fixed-seed generator), so a batch is not one line repeated: what zstd sees from a mixed
/// fleet, more than the loggen line.
fn corpus_payloads(count: usize, meta: &ReceiveMeta) -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/syslog_corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let lines: Vec<Vec<u8>> = files
        .iter()
        .flat_map(|f| {
            std::fs::read(f)
                .expect("corpus file")
                .split(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count)
        .map(|i| {
            let mut line = lines[i % lines.len()].clone();
            for b in line.iter_mut().filter(|b| b.is_ascii_digit()) {
                if next() % 3 == 0 {
                    *b = b'0' + (next() % 10) as u8;
                }
            }
            let mut json = Vec::new();
            linerate::normalize::syslog_to_ecs(&line, &Default::default(), meta, &mut json);
            json
        })
        .collect()
}

/// zstd's ratio on `payloads` compressed in batches of about `batch_bytes` (as librdkafka
/// compresses one message set), at `level`.
fn ratio(payloads: &[Vec<u8>], batch_bytes: usize, level: i32) -> f64 {
    let (mut raw, mut packed) = (0usize, 0usize);
    let mut batch = Vec::with_capacity(batch_bytes + 4096);
    for (i, p) in payloads.iter().enumerate() {
        batch.extend_from_slice(p);
        if batch.len() >= batch_bytes || i + 1 == payloads.len() {
            raw += batch.len();
            packed += zstd::bulk::compress(&batch, level).expect("zstd").len();
            batch.clear();
        }
    }
    raw as f64 / packed as f64
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let records: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);

    let cfg = linerate::config::Config::default();
    let topic = "floor";
    let kafka = EmbeddedKafka::start(&[topic], 1).expect("mock cluster");
    let bootstrap = kafka.bootstrap_servers();

    let raw = loggen_message();
    let meta = ReceiveMeta {
        received_unix_micros: 1_733_389_200_000_000,
        peer: Some("127.0.0.1:40000".parse().expect("addr")),
    };
    let mut json = Vec::new();
    linerate::normalize::syslog_to_ecs(&raw, &Default::default(), &meta, &mut json);
    // The same event received over mutual TLS (bench/tls.sh's client): plus ECS `tls.*`.
    let mut json_tls = json.clone();
    let session = linerate::event::tls::TlsSession {
        version: 0x0304,
        cipher: 0x1302,
        client: Some(linerate::event::tls::ClientIdentity {
            subject: "CN=bench-client".into(),
            sha256: [0x5a; 32],
        }),
    };
    linerate::normalize::tls::append_tls_fields(&mut json_tls, &session.encode());
    // rsyslog's bench template: "%timereported% %hostname% %syslogtag%%msg%".
    let text = {
        let msg = &raw[raw.iter().position(|&b| b == b']').expect("sd") + 2..];
        let mut t = b"2026-12-05T09:00:00.000001+00:00 localhost prg00000[1234]: ".to_vec();
        t.extend_from_slice(msg);
        t
    };

    let corpus = corpus_payloads(100_000, &meta);
    let one = |p: &Vec<u8>| vec![p.clone()];
    let (json1, json_tls1, text1) = (one(&json), one(&json_tls), one(&text));

    let rsyslog = {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap)
            .set("queue.buffering.max.messages", "1000000")
            .set("linger.ms", "5");
        c
    };
    let ours = |extra: &[(&str, &str)]| {
        let mut c = producer_config(&cfg.kafka, &bootstrap, "floor");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    };
    let level3 = [("compression.level", "3")];
    let variants: Vec<(&str, ClientConfig, &[Vec<u8>])> = vec![
        ("rsyslog_omkafka", rsyslog, &text1),
        ("linerate", ours(&[]), &json1),
        ("linerate_zstd3", ours(&level3), &json1),
        ("linerate_text", ours(&[]), &text1),
        (
            "linerate_none",
            ours(&[("compression.type", "none")]),
            &json1,
        ),
        ("linerate_tls_fields", ours(&[]), &json_tls1),
        ("linerate_tls_fields_zstd3", ours(&level3), &json_tls1),
        ("linerate_corpus", ours(&[]), &corpus),
        ("linerate_corpus_zstd3", ours(&level3), &corpus),
    ];
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); variants.len()];
    for _ in 0..rounds {
        for (i, (_, config, payload)) in variants.iter().enumerate() {
            let (us, rate) = run(config, topic, payload, records);
            results[i].0.push(us);
            results[i].1.push(rate);
        }
    }
    println!(
        "librdkafka alone to the embedded mock cluster: {records} records per run, medians of {rounds}; \
         payloads: ECS JSON {} B (with tls.* {} B), text line {} B, corpus JSON {} B on average",
        json.len(),
        json_tls.len(),
        text.len(),
        corpus.iter().map(Vec::len).sum::<usize>() / corpus.len()
    );
    println!("| producer settings, payload | CPU µs/record | / rsyslog_omkafka | records/s |");
    println!("| --- | ---: | ---: | ---: |");
    let base = median(results[0].0.clone());
    for ((name, _, _), (us, rate)) in variants.iter().zip(results) {
        let us = median(us);
        println!(
            "| {name} | {us:.2} | {:.2}x | {:.0} |",
            us / base,
            median(rate)
        );
    }
    println!();
    println!("zstd ratio in 1 MiB batches (as librdkafka compresses a message set):");
    println!("| payload | level 1 | level 3 | level 1 / level 3 |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, payloads) in [("loggen JSON", &json1), ("corpus JSON", &corpus)] {
        let stream: Vec<Vec<u8>> = payloads.iter().cycle().take(20_000).cloned().collect();
        let (r1, r3) = (ratio(&stream, 1 << 20, 1), ratio(&stream, 1 << 20, 3));
        println!("| {name} | {r1:.2} | {r3:.2} | {:.2} |", r1 / r3);
    }
}
