//! What the nesting pre-scan (`linerate::nesting`, issue 12) costs on the per-record path:
//! a shard's sender scans every buffered Windows and cloud record before normalizing it, so
//! this times, in one run and on the same records (the samples of `tests/data/samples`),
//! `nesting::depth_within` beside `normalize::record_to_ecs`, and prints the scan's time as
//! a share of the normalize's. Best of several rounds each, the two interleaved.
//!
//! Run: `cargo run --release --example nesting_cost` (or without `--release` for a rough
//! figure: both sides are this crate's code, built alike).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use linerate::event::ReceiveMeta;
use linerate::event::RecordKind;
use linerate::ingest::http_routes::{records, Limits, Route};
use linerate::nesting::{depth_within, DEPTH_MAX};
use linerate::normalize::record_to_ecs;

/// Rounds per measurement; the fastest counts (the machine is shared and noisy).
const ROUNDS: usize = 7;
/// Least time one round runs, so timer resolution does not matter.
const ROUND_MIN: Duration = Duration::from_millis(200);

fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/samples")
            .join(rel),
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The records of a sample body, as the HTTP input would buffer them.
fn body_records(route: Route, rel: &str) -> Vec<(RecordKind, Vec<u8>)> {
    let limits = Limits {
        body_bytes_max: 64 << 20,
        record_bytes_max: 16 << 20,
    };
    let mut budget = limits.body_bytes_max;
    records(route, &sample(rel), limits, &mut budget)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .0
}

/// Nanoseconds per record of `f` over `recs`: the fastest of [`ROUNDS`] rounds.
fn per_record(recs: &[(RecordKind, Vec<u8>)], mut f: impl FnMut(RecordKind, &[u8])) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < ROUND_MIN {
                for (kind, raw) in recs {
                    f(*kind, raw);
                }
                n += recs.len() as u64;
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let gcp: Vec<(RecordKind, Vec<u8>)> = sample("cloud/gcp/cloudaudit-logentries.ndjson")
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .map(|l| (RecordKind::Gcp, l.to_vec()))
        .collect();
    let sets = [
        (
            "cloudtrail",
            body_records(
                Route::Cloudtrail,
                "cloud/cloudtrail/123456789012_CloudTrail_eu-west-1_20240514T0930Z_9hGf3sD2aQ1wE5rT.json",
            ),
        ),
        (
            "azure",
            body_records(Route::Azure, "cloud/azure/activitylog-eventhub-records.json"),
        ),
        ("gcp", gcp),
        (
            "windows json",
            body_records(Route::Windows, "windows/nxlog.ndjson"),
        ),
        (
            "windows xml",
            body_records(Route::Windows, "windows/events.xml"),
        ),
    ];
    let meta = ReceiveMeta {
        received_unix_micros: 1_700_000_000_000_000,
        peer: None,
    };
    let mut out = Vec::with_capacity(64 << 10);
    println!("records       n  scan ns/rec  normalize ns/rec  scan/normalize");
    for (name, recs) in &sets {
        assert!(!recs.is_empty(), "{name}: no records");
        let scan = per_record(recs, |_, raw| {
            black_box(depth_within(black_box(raw), DEPTH_MAX)).ok();
        });
        let normalize = per_record(recs, |kind, raw| {
            out.clear();
            black_box(record_to_ecs(kind, black_box(raw), &meta, &mut out));
        });
        println!(
            "{name:<12} {:>3}  {scan:>11.0}  {normalize:>16.0}  {:>13.1}%",
            recs.len(),
            100.0 * scan / normalize
        );
    }
}
