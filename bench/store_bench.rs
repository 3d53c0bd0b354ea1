//! `linerate store` throughput beside `psql \copy` of the same rows, and bytes per event in
//! the hot, warm and cold tiers, in one run against a private PostgreSQL 15
//! (scripts/postgres.sh). Run by bench/store.sh, which makes the events file (realistic
//! syslog through `linerate parse`); prints one JSON object of measurements.
//!
//! Usage: store_bench LINERATE_BIN EVENTS_NDJSON ROUNDS

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::ClientConfig;

/// The mock broker keeps 5 MB per partition: enough partitions for ~100 MB of events.
const PARTITIONS: i32 = 24;
const TOPIC: &str = "bench.normalized";
const COLUMNS: &str =
    "\"timestamp\", ingested, dataset, host, severity, event_code, user_name, source_ip, message, event";

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = PathBuf::from(&args[1]);
    let events = PathBuf::from(&args[2]);
    let rounds: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(2);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let pgdir = tmp.path().join("pg");
    let script = root.join("scripts/postgres.sh");
    let url = sh(Command::new("bash").arg(&script).arg("start").arg(&pgdir));
    let result = std::panic::catch_unwind(|| run(&bin, &events, rounds, &url, tmp.path()));
    sh(Command::new("bash").arg(&script).arg("stop").arg(&pgdir));
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => std::panic::resume_unwind(e),
    }
}

fn run(bin: &Path, events: &Path, rounds: usize, url: &str, tmp: &Path) -> serde_json::Value {
    let cluster: MockCluster<'static, DefaultProducerContext> = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2000000")
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut first_day = String::new();
    for line in std::io::BufReader::new(std::fs::File::open(events).unwrap()).lines() {
        let line = line.unwrap();
        if first_day.is_empty() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            first_day = v["@timestamp"].as_str().unwrap()[..10].to_string();
        }
        let key = n.to_string();
        let mut rec = BaseRecord::to(TOPIC).payload(&line).key(&key);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        n += 1;
        bytes += line.len() as u64;
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    eprintln!(
        "store_bench: {n} events ({bytes} bytes of JSON) on the mock cluster; day {first_day}"
    );

    let mut pg = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let psql_file = tmp.join("rows.copy");
    let config = |group: &str| -> PathBuf {
        let path = tmp.join(format!("{group}.toml"));
        std::fs::write(
            &path,
            format!(
                "[postgres]\nurl = \"{url}\"\n[kafka]\nbrokers = \"{bootstrap}\"\ngroup_id = \"{group}\"\n\
                 topics = [\"{TOPIC}\"]\n[batch]\nrows_max = 10000\nbytes_max = 16777216\nlinger_ms = 200\n\
                 [http]\nlisten = \"\"\n[retention]\nrun_interval_ms = 0\n"
            ),
        )
        .unwrap();
        path
    };
    // The day's hot partition first, so both loads write to it with all its indexes.
    let retention = |cfg: &Path, now: &str| {
        sh(Command::new(bin)
            .args(["retention", "run", "--config"])
            .arg(cfg)
            .args(["--now", now])
            .env("LINERATE_LOG", "warn"));
    };
    let cfg0 = config("setup");
    retention(&cfg0, &format!("{first_day}T12:00:00Z"));
    let truncate = |pg: &mut postgres::Client| {
        pg.batch_execute("TRUNCATE linerate.events_rows, linerate.kafka_offsets; CHECKPOINT;")
            .unwrap();
    };
    let psql = |sql: &str| {
        sh(Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]));
    };
    let mut store_rates = Vec::new();
    let mut psql_rates = Vec::new();
    for round in 0..rounds {
        truncate(&mut pg);
        let cfg = config(&format!("bench-{round}"));
        let out = sh(Command::new(bin)
            .args(["store", "--exit-idle-ms", "3000", "--config"])
            .arg(&cfg)
            .env("LINERATE_LOG", "warn"));
        let s: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        let rows = s["rows"].as_u64().unwrap();
        assert_eq!(rows, n, "store loaded every event");
        let rate = rows as f64 / s["seconds"].as_f64().unwrap();
        eprintln!(
            "store_bench: round {round}: linerate store {rows} rows in {}s = {rate:.0} rows/s",
            s["seconds"]
        );
        store_rates.push(rate);
        if round == 0 {
            psql(&format!(
                "\\copy (SELECT {COLUMNS} FROM linerate.events) TO '{}'",
                psql_file.display()
            ));
        }
        truncate(&mut pg);
        let start = Instant::now();
        psql(&format!(
            "\\copy linerate.events_rows ({COLUMNS}) FROM '{}'",
            psql_file.display()
        ));
        let secs = start.elapsed().as_secs_f64();
        let got: i64 = pg
            .query_one("SELECT count(*) FROM linerate.events", &[])
            .unwrap()
            .get(0);
        assert_eq!(got as u64, n);
        let rate = n as f64 / secs;
        eprintln!(
            "store_bench: round {round}: psql \\copy {n} rows in {secs:.3}s = {rate:.0} rows/s"
        );
        psql_rates.push(rate);
    }
    // Bytes per event in each tier, from `linerate retention status`.
    pg.batch_execute("VACUUM ANALYZE linerate.events_rows")
        .unwrap();
    let day_status = |cfg: &Path| -> serde_json::Value {
        let out = sh(Command::new(bin)
            .args(["retention", "status", "--json", "--config"])
            .arg(cfg));
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        all.into_iter()
            .find(|s| s["day"] == first_day.as_str())
            .unwrap()
    };
    let date: jiff::civil::Date = first_day.parse().unwrap();
    let at = |days: i64| {
        format!(
            "{}T12:00:00Z",
            date.checked_add(jiff::Span::new().days(days)).unwrap()
        )
    };
    let hot = day_status(&cfg0);
    retention(&cfg0, &at(8));
    let warm = day_status(&cfg0);
    retention(&cfg0, &at(31));
    let cold = day_status(&cfg0);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let store = median(&mut store_rates.clone());
    let copy = median(&mut psql_rates.clone());
    serde_json::json!({
        "events": n,
        "json_bytes_per_event": bytes as f64 / n as f64,
        "store_rows_per_s": store_rates,
        "psql_copy_rows_per_s": psql_rates,
        "store_over_psql_copy": store / copy,
        "hot_bytes_per_event": hot["bytes_per_row"],
        "warm_bytes_per_event": warm["bytes_per_row"],
        "cold_bytes_per_event": cold["bytes_per_row"],
        "hot_over_warm": hot["bytes_per_row"].as_f64().unwrap() / warm["bytes_per_row"].as_f64().unwrap(),
    })
}
