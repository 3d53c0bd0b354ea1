//! Criterion: linerate's parser (alone, and with the ECS JSON writer) beside `syslog_loose`
//! (the parser Vector uses) alone, and with `serde_json` building and writing the same ECS
//! object, on the same lines, in the same run. Run: `cargo bench --bench parse`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use linerate::event::ReceiveMeta;
use linerate::normalize::syslog_to_ecs;
use linerate::parse::{parse, ParseOptions};
use serde_json::{json, Map, Value};

mod lines;
use lines::{RFC3164, RFC5424};

fn meta() -> ReceiveMeta {
    ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: Some("10.0.0.9:5140".parse().unwrap()),
    }
}

/// The same ECS object, built the way a serde-based pipeline would.
fn loose_to_json(line: &str, out: &mut Vec<u8>) {
    let m = syslog_loose::parse_message_with_year_tz::<_, chrono::Utc>(
        line,
        |_| 2025,
        Some(chrono::Utc),
        syslog_loose::Variant::Either,
    );
    let mut syslog = Map::new();
    let sev = m.severity.map(|s| s as u8).unwrap_or(5);
    let fac = m.facility.map(|f| f as u8).unwrap_or(1);
    syslog.insert(
        "priority".into(),
        json!(u32::from(fac) * 8 + u32::from(sev)),
    );
    syslog.insert(
        "facility".into(),
        json!({"code": fac, "name": m.facility.map(|f| f.as_str())}),
    );
    syslog.insert(
        "severity".into(),
        json!({"code": sev, "name": m.severity.map(|s| s.as_str())}),
    );
    if let Some(h) = m.hostname {
        syslog.insert("hostname".into(), json!(h));
    }
    if let Some(a) = m.appname {
        syslog.insert("appname".into(), json!(a));
    }
    match m.procid {
        Some(syslog_loose::ProcId::PID(p)) => {
            syslog.insert("procid".into(), json!(p.to_string()));
        }
        Some(syslog_loose::ProcId::Name(p)) => {
            syslog.insert("procid".into(), json!(p));
        }
        None => {}
    }
    if let Some(id) = m.msgid {
        syslog.insert("msgid".into(), json!(id));
    }
    if !m.structured_data.is_empty() {
        let sd: Map<String, Value> = m
            .structured_data
            .iter()
            .map(|e| {
                (
                    e.id.to_string(),
                    Value::Object(
                        e.params
                            .iter()
                            .map(|(k, v)| (k.to_string(), json!(v)))
                            .collect(),
                    ),
                )
            })
            .collect();
        syslog.insert("structured_data".into(), Value::Object(sd));
    }
    let v = json!({
        "@timestamp": m.timestamp.map(|t| t.to_rfc3339()),
        "event": {"ingested": "2025-01-08T11:00:00.000000Z", "kind": "event", "dataset": "syslog", "severity": sev},
        "log": {"level": m.severity.map(|s| s.as_str()), "syslog": syslog},
        "host": {"hostname": m.hostname},
        "source": {"ip": "10.0.0.9", "port": 5140},
        "message": m.msg,
    });
    serde_json::to_writer(out, &v).unwrap();
}

fn bench(c: &mut Criterion) {
    let opts = ParseOptions {
        year: Some(2025),
        ..Default::default()
    };
    let meta = meta();
    for (name, lines) in [("rfc5424", RFC5424), ("rfc3164", RFC3164)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function("linerate_parse", |b| {
            b.iter(|| {
                for l in lines {
                    // By reference, as for syslog_loose below: the event is built in place
                    // and not copied again into an `Option` for the harness.
                    black_box(&parse(
                        black_box(l.as_bytes()),
                        &opts,
                        meta.received_unix_micros,
                    ));
                }
            })
        });
        g.bench_function("syslog_loose_parse", |b| {
            b.iter(|| {
                for l in lines {
                    black_box(&syslog_loose::parse_message_with_year_tz::<_, chrono::Utc>(
                        black_box(l),
                        |_| 2025,
                        Some(chrono::Utc),
                        syslog_loose::Variant::Either,
                    ));
                }
            })
        });
        let mut out = Vec::with_capacity(4096);
        g.bench_function("linerate_parse_ecs_json", |b| {
            b.iter(|| {
                for l in lines {
                    out.clear();
                    black_box(syslog_to_ecs(
                        black_box(l.as_bytes()),
                        &opts,
                        &meta,
                        &mut out,
                    ));
                }
            })
        });
        g.bench_function("syslog_loose_serde_json", |b| {
            b.iter(|| {
                for l in lines {
                    out.clear();
                    loose_to_json(black_box(l), &mut out);
                    black_box(&out);
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
