//! Criterion, in one run (issue 6):
//! - EVTX: the `evtx` crate's bare iteration of a sample file, records rendered to XML
//!   (`EvtxParser::records()`, what our import asks of it) and, for context, to JSON
//!   (`records_json()`), beside linerate's full import of the same file (iterate, normalize
//!   to ECS JSON into a reused buffer, no output I/O);
//! - CloudTrail, Azure and GCP records (the samples of `tests/data/samples/cloud`, replicated in
//!   memory): `serde_json::from_slice::<Value>` of each record beside linerate's normalize
//!   of the same records to ECS JSON;
//! - one 64 KiB NXLog event (a sample record padded with 5000-odd short `EventData` names,
//!   one in five a repeat; issue 12): its `winlog.event_data` de-duplication by the
//!   quadratic scan the writer used before (every pair against every later one) and by the
//!   linear table it uses now (`LastNames::mark_by_scan` / `mark_by_table`, same pairs, same
//!   result), and the whole record's normalization to ECS JSON.
//!
//! Run: `cargo bench --bench import`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evtx::EvtxParser;
use linerate::event::ReceiveMeta;
use linerate::import::json_split::{split_records, Piece};
use linerate::import::{input, ImportError, ImportOptions, Importer, Kind, Sink};
use linerate::normalize::ecs_record::LastNames;
use linerate::normalize::{
    azure_to_ecs, cloudtrail_to_ecs, gcp_to_ecs, windows_to_ecs, RecordOptions, RecordOutcome,
};

const CLOUDTRAIL: &[&str] = &[
    "cloud/cloudtrail/123456789012_CloudTrail_eu-west-1_20240514T0930Z_9hGf3sD2aQ1wE5rT.json",
    "cloud/cloudtrail/123456789012_CloudTrail_us-east-1_20240514T0925Z_hT3kV9pQ2mX7cL4w.json.gz",
];
const AZURE: &[&str] = &[
    "cloud/azure/PT1H.json",
    "cloud/azure/activitylog-eventhub-records.json",
];
const GCP: &[&str] = &["cloud/gcp/cloudaudit-logentries.ndjson"];

/// Records per measured batch of cloud records (the samples repeated up to this many).
const CLOUD_RECORDS: usize = 4096;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/samples")
        .join(rel)
}

/// Takes the normalized objects and keeps only their total size (no output I/O).
struct CountingSink(usize);

impl Sink for CountingSink {
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError> {
        self.0 += black_box(json).len();
        Ok(())
    }
}

/// The `evtx` crate alone: open the file and render every record as XML.
fn evtx_xml(path: &Path) -> usize {
    let mut parser = EvtxParser::from_path(path).expect("an EVTX sample");
    parser
        .records()
        .filter_map(Result::ok)
        .map(|r| black_box(r.data).len())
        .sum()
}

/// The `evtx` crate alone: open the file and render every record as JSON.
fn evtx_json(path: &Path) -> usize {
    let mut parser = EvtxParser::from_path(path).expect("an EVTX sample");
    parser
        .records_json()
        .filter_map(Result::ok)
        .map(|r| black_box(r.data).len())
        .sum()
}

/// linerate's import of the file: every record normalized to ECS JSON.
fn linerate_evtx(importer: &mut Importer, path: &Path) -> usize {
    let mut sink = CountingSink(0);
    importer
        .import_path(Kind::Evtx, path, &mut sink)
        .expect("an EVTX sample");
    sink.0
}

fn bench_evtx(c: &mut Criterion) {
    for name in ["security.evtx", "system.evtx"] {
        let path = testdata(&format!("evtx/{name}"));
        let records = EvtxParser::from_path(&path)
            .expect("an EVTX sample")
            .records()
            .filter(Result::is_ok)
            .count();
        let mut g = c.benchmark_group(format!("evtx/{name}"));
        g.throughput(Throughput::Elements(records as u64));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(8));
        g.bench_function("evtx_crate_records_xml", |b| {
            b.iter(|| evtx_xml(black_box(&path)))
        });
        g.bench_function("evtx_crate_records_json", |b| {
            b.iter(|| evtx_json(black_box(&path)))
        });
        let mut importer = Importer::new(ImportOptions::default());
        g.bench_function("linerate_import_ecs_json", |b| {
            b.iter(|| linerate_evtx(&mut importer, black_box(&path)))
        });
        g.finish();
        let counts = importer.counts();
        assert_eq!(counts.pipeline_errors, 0, "{name}: every record normalized");
    }
}

/// The records of the sample `files` (gzip or plain), split as the import splits them,
/// repeated up to [`CLOUD_RECORDS`].
fn cloud_records(files: &[&str], envelope_key: &str) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    for file in files {
        let data = input::read_input(&testdata(file), 1 << 30).expect("a sample file");
        for piece in split_records(&data, Some(envelope_key)) {
            if let Piece::Record(r) = piece {
                records.push(data[r].to_vec());
            }
        }
    }
    assert!(!records.is_empty(), "{files:?}: no records");
    records
        .iter()
        .cycle()
        .take(CLOUD_RECORDS)
        .cloned()
        .collect()
}

type Normalizer =
    fn(&[u8], &RecordOptions, &ReceiveMeta, &mut Vec<u8>, &mut Vec<u8>) -> RecordOutcome;

fn bench_cloud(c: &mut Criterion) {
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: None,
    };
    let opts = RecordOptions::default();
    let sources: [(&str, &[&str], &str, Normalizer); 3] = [
        ("cloudtrail", CLOUDTRAIL, "Records", cloudtrail_to_ecs),
        ("azure", AZURE, "records", azure_to_ecs),
        ("gcp", GCP, "entries", gcp_to_ecs),
    ];
    for (name, files, key, normalize) in sources {
        let records = cloud_records(files, key);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("serde_json_parse_value", |b| {
            b.iter(|| {
                for r in &records {
                    black_box(
                        &serde_json::from_slice::<serde_json::Value>(black_box(r))
                            .expect("a JSON record"),
                    );
                }
            })
        });
        let (mut scratch, mut out) = (Vec::new(), Vec::with_capacity(16 << 10));
        g.bench_function("linerate_normalize_ecs_json", |b| {
            b.iter(|| {
                for r in &records {
                    out.clear();
                    let outcome = normalize(black_box(r), &opts, &meta, &mut scratch, &mut out);
                    assert_eq!(outcome, RecordOutcome::Event, "{name}: a normalized record");
                    black_box(&out);
                }
            })
        });
        g.finish();
    }
}

/// Bytes of the padded NXLog event.
const NXLOG_EVENT_BYTES: usize = 64 << 10;

/// The first NXLog sample record padded to [`NXLOG_EVENT_BYTES`] with `"Dnnnn":"v"` fields
/// (every fifth name repeats one four places back), and the padding's name/value pairs.
fn nxlog_64k() -> (Vec<u8>, Vec<(String, String)>) {
    let sample = std::fs::read_to_string(testdata("windows/nxlog.ndjson")).expect("a sample");
    let first = sample.lines().next().expect("a record").trim_end();
    let mut record = first.strip_suffix('}').expect("a JSON object").to_string();
    let mut pairs = Vec::new();
    for i in 0.. {
        let name = if i % 5 == 4 {
            format!("D{:04}", i - 4)
        } else {
            format!("D{i:04}")
        };
        let field = format!(",\"{name}\":\"v{}\"", i % 10);
        if record.len() + field.len() + 1 > NXLOG_EVENT_BYTES {
            break;
        }
        record.push_str(&field);
        pairs.push((name, format!("v{}", i % 10)));
    }
    record.push('}');
    (record.into_bytes(), pairs)
}

fn bench_nxlog_64k(c: &mut Criterion) {
    let (record, pairs) = nxlog_64k();
    let data: Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str().into(), v.as_str().into()))
        .collect();
    let mut last = LastNames::default();
    let by_scan = last.mark_by_scan(&data).to_vec();
    assert_eq!(by_scan, last.mark_by_table(&data));
    eprintln!(
        "nxlog_64k: a {}-byte record, {} padding pairs",
        record.len(),
        data.len()
    );
    let mut g = c.benchmark_group("nxlog_64k");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("event_data_by_scan_before", |b| {
        b.iter(|| black_box(last.mark_by_scan(black_box(&data))).len())
    });
    g.bench_function("event_data_by_table_after", |b| {
        b.iter(|| black_box(last.mark_by_table(black_box(&data))).len())
    });
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: None,
    };
    let opts = RecordOptions::default();
    let (mut scratch, mut out) = (Vec::new(), Vec::with_capacity(128 << 10));
    g.bench_function("linerate_normalize_ecs_json", |b| {
        b.iter(|| {
            out.clear();
            let outcome = windows_to_ecs(black_box(&record), &opts, &meta, &mut scratch, &mut out);
            assert_eq!(outcome, RecordOutcome::Event);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_evtx, bench_cloud, bench_nxlog_64k);
criterion_main!(benches);
