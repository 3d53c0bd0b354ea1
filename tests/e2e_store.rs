//! `linerate store` and `linerate retention` end to end, against a real PostgreSQL 15 started
//! by the test (scripts/postgres.sh on a temporary directory) and the mock Kafka cluster:
//! events through the appliance land as rows with the right columns; `kill -9` of the loader
//! mid-load loses and duplicates nothing; PostgreSQL stopped under load loses nothing and the
//! loader's memory stays bounded; a day walks through every tier with a pinned clock and every
//! query gives the same answers at each step.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http_get, Appliance, Kafka, Metrics, HEAVY};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

/// How long PostgreSQL stays down under load (the issue's number).
const POSTGRES_DOWN: Duration = Duration::from_secs(30);
/// Events produced while PostgreSQL is down: a ~55 MB backlog, spread over
/// [`BACKLOG_PARTITIONS`] because the mock broker keeps only 5 MB per partition.
const BACKLOG_EVENTS: u64 = 100_000;
const BACKLOG_PARTITIONS: i32 = 16;
/// What the loader's RSS may grow by while PostgreSQL is down: its prefetch cap
/// (`queued_bytes_max`, 4 MiB here, also its fetch size), a batch (`bytes_max`, 2 MiB) and
/// allocator slack: well under the backlog Kafka holds meanwhile.
const RSS_GROWTH_BYTES_MAX: u64 = 32 << 20;

/// A private PostgreSQL 15, stopped (and its directory removed) on drop.
struct Postgres {
    dir: tempfile::TempDir,
    url: String,
}

impl Postgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = Self::script("start", dir.path());
        Self { dir, url }
    }
    fn script(cmd: &str, dir: &Path) -> String {
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh"))
            .arg(cmd)
            .arg(dir)
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    fn stop(&self) {
        Self::script("stop", self.dir.path());
    }
    fn restart(&self) {
        let url = Self::script("start", self.dir.path());
        assert_eq!(url, self.url, "restarted on the same port");
    }
    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to PostgreSQL")
    }
    fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
    /// A directory the server may write (for a tablespace), inside its own.
    fn server_dir(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        Command::new("chown").arg("postgres").arg(&d).status().ok();
        d
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// A store configuration for `pg` and `bootstrap`, with `extra` TOML appended per section.
struct StoreCfg {
    dir: tempfile::TempDir,
    path: PathBuf,
    http_port: u16,
}

fn store_config(pg: &Postgres, bootstrap: &str, batch: &str, retention: &str) -> StoreCfg {
    store_config_topics(pg, bootstrap, "[\"logs.normalized\"]", batch, retention)
}

fn store_config_topics(
    pg: &Postgres,
    bootstrap: &str,
    topics: &str,
    batch: &str,
    retention: &str,
) -> StoreCfg {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let text = format!(
        "[postgres]\nurl = \"{}\"\nretry_backoff_ms_max = 500\nconnect_timeout_ms = 2000\n\n\
         [kafka]\nbrokers = \"{bootstrap}\"\ngroup_id = \"store-tests\"\ntopics = {topics}\nsession_timeout_ms = 6000\n\
         queued_bytes_max = 4194304\n\n\
         [batch]\n{batch}\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n\
         [retention]\n{schedule}{retention}\n",
        pg.url,
        // The job runs only when a test asks for it (`retention run --now` otherwise).
        schedule = if retention.contains("run_interval_ms") {
            ""
        } else {
            "run_interval_ms = 0\n"
        },
    );
    let path = dir.path().join("store.toml");
    std::fs::write(&path, text).unwrap();
    StoreCfg {
        dir,
        path,
        http_port,
    }
}

/// A running `linerate store`, killed on drop.
struct Store {
    child: Child,
    http_port: u16,
}

impl Store {
    fn start(cfg: &StoreCfg) -> Self {
        let child = Command::new(common::bin())
            .args(["store", "--config"])
            .arg(&cfg.path)
            .env("LINERATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn linerate store");
        let mut s = Self {
            child,
            http_port: cfg.http_port,
        };
        // Healthy once the schema is migrated.
        wait_for(Duration::from_secs(60), "store /health 200", || {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("linerate store exited at start-up: {status}");
            }
            (s.health() == Some(200)).then_some(())
        });
        s
    }
    fn metrics(&self) -> Option<Metrics> {
        let (status, body) = http_get(self.http_port, "/metrics")?;
        (status == 200).then(|| Metrics::parse(&body))
    }
    fn health(&self) -> Option<u16> {
        http_get(self.http_port, "/health").map(|(s, _)| s)
    }
    fn rss_bytes(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// SIGTERM; the loader writes its batch in hand and prints its summary.
    fn terminate(mut self) -> serde_json::Value {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "store exited with {status}");
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("queue.buffering.max.messages", "1000000")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Produce `payloads` to `logs.normalized`, spread over its partitions, and flush.
fn produce(p: &BaseProducer, payloads: impl IntoIterator<Item = String>) {
    produce_to(p, "logs.normalized", payloads);
}

/// Produce `payloads` to `topic`, spread over its partitions, and flush.
fn produce_to(p: &BaseProducer, topic: &str, payloads: impl IntoIterator<Item = String>) {
    for (i, payload) in payloads.into_iter().enumerate() {
        let key = i.to_string();
        let mut rec = BaseRecord::to(topic).payload(&payload).key(&key);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// A normalized syslog event numbered `seq` at `ts`.
fn event(seq: u64, ts: &str) -> String {
    serde_json::json!({
        "@timestamp": ts,
        "event": {"ingested": "2026-01-10T00:00:00Z", "kind": "event", "dataset": "syslog", "severity": 6},
        "log": {"level": "informational", "syslog": {"priority": 38, "hostname": format!("web-{}", seq % 7), "appname": "sshd"}},
        "host": {"hostname": format!("web-{}", seq % 7)},
        "source": {"ip": format!("10.0.{}.{}", seq % 5, seq % 250), "port": 514},
        "message": format!("seq={seq} Failed password for invalid user admin{} from 10.0.0.{} port {} ssh2", seq % 97, seq % 250, 30000 + seq % 20000),
    })
    .to_string()
}

#[test]
fn events_sent_to_the_appliance_land_as_rows_with_their_columns() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let pg = Postgres::start();
    let kafka = Kafka::start();
    let app = Appliance::start(&kafka.bootstrap(), "");
    let cfg = store_config(
        &pg,
        &kafka.bootstrap(),
        "rows_max = 100\nlinger_ms = 100",
        "",
    );
    let store = Store::start(&cfg);

    let lines = [
        "<34>1 2026-12-04T10:00:00.000003Z web-1 sshd 123 ID47 - Failed password for bob\n",
        "<13>1 2026-12-04T11:30:00Z db-2 cron - - - job done\n",
        "<165>Dec  4 12:00:00 fw-3 kernel: dropped packet\n",
    ];
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
    for l in lines {
        tcp.write_all(l.as_bytes()).unwrap();
    }
    drop(tcp);
    // Rejected rows go to the dead-letter table with the reason and block nothing behind them.
    produce(
        &producer(&kafka.bootstrap()),
        [
            "not json at all".to_string(),
            r#"{"@timestamp":"2026-12-04T13:00:00Z","message":"nul \u0000 inside"}"#.to_string(),
            r#"{"message":"no timestamp"}"#.to_string(),
            r#"{"@timestamp":"2026-12-04T14:00:00Z","message":"after the bad ones"}"#.to_string(),
        ],
    );

    wait_for(Duration::from_secs(60), "4 rows and 3 dead letters", || {
        let rows = pg.count("SELECT count(*) FROM linerate.events");
        let dead = pg.count("SELECT count(*) FROM linerate.dead_letter");
        (rows == 4 && dead == 3).then_some(())
    });
    let mut c = pg.client();
    let r = c
        .query_one(
            "SELECT to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), dataset,
                    host, severity, event_code, user_name, host(source_ip), message,
                    event->'log'->'syslog'->>'appname', ingested IS NOT NULL
               FROM linerate.events WHERE host = 'web-1'",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "2026-12-04 10:00:00.000003");
    assert_eq!(r.get::<_, Option<String>>(1).as_deref(), Some("syslog"));
    assert_eq!(r.get::<_, Option<String>>(2).as_deref(), Some("web-1"));
    assert_eq!(r.get::<_, Option<i16>>(3), Some(2));
    assert_eq!(r.get::<_, Option<String>>(4), None);
    assert_eq!(r.get::<_, Option<String>>(5), None);
    assert_eq!(r.get::<_, Option<String>>(6).as_deref(), Some("127.0.0.1"));
    assert_eq!(
        r.get::<_, Option<String>>(7).as_deref(),
        Some("Failed password for bob")
    );
    assert_eq!(r.get::<_, Option<String>>(8).as_deref(), Some("sshd"));
    assert!(r.get::<_, bool>(9));
    let severities: Vec<(String, i16)> = c
        .query(
            "SELECT host, severity FROM linerate.events WHERE dataset = 'syslog' ORDER BY host",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        severities,
        [("db-2".into(), 5), ("fw-3".into(), 5), ("web-1".into(), 2)]
    );
    // No partition exists for that day yet: the rows wait in the default partition.
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_default"), 4);
    let reasons: Vec<String> = c
        .query("SELECT reason FROM linerate.dead_letter ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("not a JSON object")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r == "no @timestamp"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("rejected by PostgreSQL") && r.contains("0x00")),
        "{reasons:?}"
    );
    assert_eq!(store.health(), Some(200));
    let m = store.metrics().expect("metrics");
    assert_eq!(m.sum("linerate_store_rows_written_total", &[]), 4);
    assert_eq!(m.sum("linerate_store_dead_letters_total", &[]), 3);
    assert!(m.sum("linerate_store_copy_seconds_count", &[]) >= 1);
    assert!(m
        .0
        .keys()
        .any(|k| k.starts_with("linerate_store_lag_messages{topic=\"logs.normalized\"")));

    // Offsets stored with the rows: a restarted loader writes nothing twice.
    let summary = store.terminate();
    assert_eq!(summary["rows"], 4);
    let store = Store::start(&cfg);
    produce(
        &producer(&kafka.bootstrap()),
        [r#"{"@timestamp":"2026-12-04T15:00:00Z","message":"after restart"}"#.to_string()],
    );
    wait_for(Duration::from_secs(60), "the row after the restart", || {
        (pg.count("SELECT count(*) FROM linerate.events") == 5).then_some(())
    });
    assert_eq!(pg.count("SELECT count(*) FROM linerate.dead_letter"), 3);
    drop(store);
}

#[test]
fn kill9_mid_load_and_restart_neither_loses_nor_duplicates() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // Under the mock broker's 5 MB per partition (4 partitions, ~500 B per event).
    const EVENTS: u64 = 20_000;
    let pg = Postgres::start();
    let kafka = Kafka::start();
    produce(
        &producer(&kafka.bootstrap()),
        (0..EVENTS).map(|i| event(i, &format!("2026-01-10T{:02}:{:02}:00Z", i % 24, i % 60))),
    );
    let cfg = store_config(
        &pg,
        &kafka.bootstrap(),
        "rows_max = 500\nlinger_ms = 50",
        "",
    );
    let store = Store::start(&cfg);
    let mid = wait_for(Duration::from_secs(120), "a partial load", || {
        let n = pg.count("SELECT count(*) FROM linerate.events");
        (n > 0).then_some(n)
    });
    store.kill9();
    let at_kill = pg.count("SELECT count(*) FROM linerate.events");
    assert!(
        (at_kill as u64) < EVENTS,
        "killed after the whole load ({at_kill}); nothing was tested"
    );
    let store = Store::start(&cfg);
    wait_for(
        Duration::from_secs(180),
        "every event after the restart",
        || (pg.count("SELECT count(*) FROM linerate.events") as u64 >= EVENTS).then_some(()),
    );
    let summary = store.terminate();
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events") as u64,
        EVENTS
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT message) FROM linerate.events") as u64,
        EVENTS
    );
    assert_eq!(
        pg.count("SELECT sum(next_offset)::bigint FROM linerate.kafka_offsets") as u64,
        EVENTS
    );
    eprintln!("kill -9 with {mid}..{at_kill} rows stored; restart summary {summary}");
}

#[test]
fn postgres_down_under_load_loses_nothing_and_memory_stays_bounded() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let pg = Postgres::start();
    let kafka = Kafka::start();
    kafka
        .cluster
        .create_topic("store.backlog", BACKLOG_PARTITIONS, 1)
        .unwrap();
    let cfg = store_config_topics(
        &pg,
        &kafka.bootstrap(),
        "[\"store.backlog\"]",
        "rows_max = 2000\nbytes_max = 2097152\nlinger_ms = 100",
        "",
    );
    let store = Store::start(&cfg);
    let p = producer(&kafka.bootstrap());
    produce_to(
        &p,
        "store.backlog",
        (0..10_000).map(|i| event(i, "2026-01-10T10:00:00Z")),
    );
    wait_for(Duration::from_secs(120), "the first 10000 rows", || {
        (pg.count("SELECT count(*) FROM linerate.events") == 10_000).then_some(())
    });
    let rss_before = store.rss_bytes();

    pg.stop();
    let down = Instant::now();
    let bootstrap = kafka.bootstrap();
    let load = std::thread::spawn(move || {
        let p = producer(&bootstrap);
        produce_to(
            &p,
            "store.backlog",
            (10_000..10_000 + BACKLOG_EVENTS).map(|i| event(i, "2026-01-10T11:00:00Z")),
        );
    });
    let mut rss_max = 0;
    let mut saw_unhealthy = false;
    let mut saw_paused = false;
    while down.elapsed() < POSTGRES_DOWN {
        rss_max = rss_max.max(store.rss_bytes());
        saw_unhealthy |= store.health() == Some(503);
        saw_paused |= store
            .metrics()
            .is_some_and(|m| m.sum("linerate_store_paused", &[]) == 1);
        std::thread::sleep(Duration::from_millis(250));
    }
    load.join().unwrap();
    rss_max = rss_max.max(store.rss_bytes());
    pg.restart();
    let total = 10_000 + BACKLOG_EVENTS;
    wait_for(
        Duration::from_secs(300),
        "the backlog after PostgreSQL returned",
        || (pg.count("SELECT count(*) FROM linerate.events") as u64 >= total).then_some(()),
    );
    assert!(
        saw_unhealthy,
        "/health never said 503 while PostgreSQL was down"
    );
    assert!(
        saw_paused,
        "consumption never paused while PostgreSQL was down"
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events") as u64,
        total
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT message) FROM linerate.events") as u64,
        total
    );
    assert!(
        rss_max.saturating_sub(rss_before) < RSS_GROWTH_BYTES_MAX,
        "RSS grew from {rss_before} to {rss_max} while PostgreSQL was down"
    );
    assert_eq!(store.health(), Some(200));
    eprintln!(
        "PostgreSQL down {POSTGRES_DOWN:?}: loader RSS {rss_before} -> max {rss_max} bytes, {total} rows"
    );
}

/// Hourly counts over `timestamp` for one day: from the raw rows and from the rollup view.
fn answers(pg: &Postgres) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut c = pg.client();
    let q = |c: &mut postgres::Client, sql: &str| -> BTreeMap<String, i64> {
        c.query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    let raw = q(
        &mut c,
        "SELECT concat_ws('|', to_char(date_trunc('hour', \"timestamp\", 'UTC') AT TIME ZONE 'UTC', 'HH24'),
                          host, severity, event->'event'->>'outcome'), count(*)
           FROM linerate.events
          WHERE \"timestamp\" >= '2026-01-10 00:00+00' AND \"timestamp\" < '2026-01-11 00:00+00'
          GROUP BY 1",
    );
    let rollup = q(
        &mut c,
        "SELECT concat_ws('|', to_char(bucket AT TIME ZONE 'UTC', 'HH24'), host, severity, outcome),
                sum(events)::bigint
           FROM linerate.events_hourly
          WHERE bucket >= '2026-01-10 00:00+00' AND bucket < '2026-01-11 00:00+00'
          GROUP BY 1",
    );
    (raw, rollup)
}

/// Every column of the day's rows (as text), in time order, through `events_between`; and the
/// same rows through the view `linerate.events`.
fn between(pg: &Postgres) -> Vec<String> {
    let rows = |sql: &str| -> Vec<String> {
        pg.client()
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let b = rows(
        "SELECT e::text FROM linerate.events_between('2026-01-10 00:00+00', '2026-01-11 00:00+00') e
          ORDER BY \"timestamp\", message",
    );
    let v = rows(
        "SELECT ROW(e.*)::text FROM linerate.events e
          WHERE \"timestamp\" BETWEEN '2026-01-10 00:00+00' AND '2026-01-10 23:59:59.999999+00'
          ORDER BY \"timestamp\", message",
    );
    assert_eq!(b, v, "events_between and the view agree");
    b
}

fn retention(cfg: &StoreCfg, now: &str) -> serde_json::Value {
    let out = Command::new(common::bin())
        .args(["retention", "run", "--config"])
        .arg(&cfg.path)
        .args(["--now", now])
        .env("LINERATE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "retention run --now {now}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status(cfg: &StoreCfg) -> Vec<serde_json::Value> {
    let out = Command::new(common::bin())
        .args(["retention", "status", "--json", "--config"])
        .arg(&cfg.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn day_status(cfg: &StoreCfg) -> serde_json::Value {
    status(cfg)
        .into_iter()
        .find(|s| s["day"] == "2026-01-10")
        .expect("2026-01-10 in the status")
}

fn indexes(pg: &Postgres) -> Vec<String> {
    pg.client()
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'linerate'
              AND tablename = 'events_20260110' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn a_day_walks_through_every_tier_with_the_same_answers() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    const EVENTS: u64 = 5_000;
    let pg = Postgres::start();
    let kafka = Kafka::start();
    let cold_dir = pg.server_dir("cold");
    pg.client()
        .batch_execute(&format!(
            "CREATE TABLESPACE cold LOCATION '{}'",
            cold_dir.display()
        ))
        .unwrap();
    let export_dir = tempfile::tempdir().unwrap();
    let cfg = store_config(
        &pg,
        &kafka.bootstrap(),
        "rows_max = 1000\nlinger_ms = 50",
        &format!(
            "cold_tablespace = \"cold\"\nexport_dir = \"{}\"\nrollup_lag_ms = 3600000",
            export_dir.path().display()
        ),
    );
    // Outcomes and severities vary, so the rollup has several groups per hour.
    let events: Vec<String> = (0..EVENTS)
        .map(|i| {
            let mut e: serde_json::Value = serde_json::from_str(&event(
                i,
                &format!(
                    "2026-01-10T{:02}:{:02}:{:02}.{:06}Z",
                    i % 24,
                    i % 60,
                    i % 59,
                    i
                ),
            ))
            .unwrap();
            e["event"]["severity"] = (i % 3 + 4).into();
            e["event"]["outcome"] = if i % 5 == 0 { "failure" } else { "success" }.into();
            e.to_string()
        })
        .collect();
    produce(&producer(&kafka.bootstrap()), events);
    let store = Store::start(&cfg);
    wait_for(Duration::from_secs(120), "the day's rows", || {
        (pg.count("SELECT count(*) FROM linerate.events") as u64 == EVENTS).then_some(())
    });
    let (raw0, live0) = answers(&pg);
    assert_eq!(raw0.values().sum::<i64>() as u64, EVENTS);
    assert_eq!(
        raw0, live0,
        "the rollup view aggregates live before any refresh"
    );

    // Day 0: the day's partition is created and its rows move out of the default partition.
    let a = retention(&cfg, "2026-01-10T23:30:00Z");
    assert!(a.to_string().contains("\"created\""), "{a}");
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_default"), 0);
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events_20260110") as u64,
        EVENTS
    );
    assert_eq!(day_status(&cfg)["tier"], "hot");
    assert!(indexes(&pg).iter().any(|i| i.contains("USING gin (event)")));
    assert!(indexes(&pg)
        .iter()
        .any(|i| i.contains("USING btree (host)")));
    assert_eq!(answers(&pg), (raw0.clone(), raw0.clone()));
    let hot = day_status(&cfg);

    // Warm: packed into lz4 blocks of 1,000 rows, the partition left empty with only a BRIN
    // index; same answers, through the view and through events_between; a second run is a
    // no-op.
    let between0 = between(&pg);
    retention(&cfg, "2026-01-18T12:00:00Z");
    let again = retention(&cfg, "2026-01-18T12:00:00Z");
    assert!(!again.to_string().contains("\"warm\""), "{again}");
    let warm = day_status(&cfg);
    assert_eq!(warm["tier"], "warm");
    assert_eq!(warm["rows"].as_u64(), Some(EVENTS));
    assert_eq!(indexes(&pg).len(), 1);
    assert!(
        indexes(&pg)[0].contains("USING brin (\"timestamp\")"),
        "{:?}",
        indexes(&pg)
    );
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_20260110"), 0);
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events_packed_20260110"),
        EVENTS.div_ceil(1000) as i64
    );
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM linerate.events_packed_20260110
              WHERE pg_column_compression(rows) = 'lz4'"
        ),
        EVENTS.div_ceil(1000) as i64
    );
    assert!(
        warm["bytes"].as_i64().unwrap() * 3 < hot["bytes"].as_i64().unwrap(),
        "warm {warm} hot {hot}"
    );
    assert_eq!(answers(&pg), (raw0.clone(), raw0.clone()));
    assert_eq!(
        between(&pg),
        between0,
        "every column of every row, in time order"
    );

    // A late event for the warm day lands in its empty partition; the next run packs it.
    produce(
        &producer(&kafka.bootstrap()),
        [event(EVENTS + 7, "2026-01-10T07:45:00Z")],
    );
    wait_for(Duration::from_secs(60), "the late row", || {
        (pg.count("SELECT count(*) FROM linerate.events_20260110") == 1).then_some(())
    });
    let (raw1, _) = answers(&pg);
    assert_eq!(raw1.values().sum::<i64>() as u64, EVENTS + 1);
    let a = retention(&cfg, "2026-01-18T12:00:00Z");
    assert!(a.to_string().contains("\"packed_late\""), "{a}");
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_20260110"), 0);
    assert_eq!(day_status(&cfg)["rows"].as_u64(), Some(EVENTS + 1));
    assert_eq!(
        answers(&pg),
        (raw1.clone(), raw1.clone()),
        "the late row's hour was re-aggregated"
    );
    let raw0 = raw1;
    let between0 = between(&pg);
    const EVENTS_LATE: u64 = EVENTS + 1;

    // Cold: in the cold tablespace; same answers.
    retention(&cfg, "2026-02-10T12:00:00Z");
    let cold = day_status(&cfg);
    assert_eq!(cold["tier"], "cold");
    assert_eq!(cold["tablespace"], "cold");
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'linerate'
              AND tablename IN ('events_20260110', 'events_packed_20260110')
              AND tablespace = 'cold'"
        ),
        2
    );
    assert_eq!(answers(&pg), (raw0.clone(), raw0.clone()));
    assert_eq!(between(&pg), between0);

    // Frozen: exported, dropped; the rollup keeps every count.
    retention(&cfg, "2026-04-11T12:00:00Z");
    let frozen = day_status(&cfg);
    assert_eq!(frozen["tier"], "frozen");
    assert_eq!(frozen["rows"].as_u64(), Some(EVENTS_LATE));
    assert_eq!(frozen["rollup_events"].as_u64(), Some(EVENTS_LATE));
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_packed"), 0);
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events"), 0);
    let (raw, rollup) = answers(&pg);
    assert!(raw.is_empty());
    assert_eq!(rollup, raw0, "the rollup answers as the raw rows did");
    let file = export_dir.path().join("events_20260110.ndjson.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let exported: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len() as u64, EVENTS_LATE);
    assert_eq!(exported[0]["@timestamp"], "2026-01-10T00:00:00.000000Z");

    // A late event for the frozen day lands (default partition), then joins the rollup.
    produce(
        &producer(&kafka.bootstrap()),
        [event(EVENTS + 8, "2026-01-10T05:30:00Z")],
    );
    wait_for(Duration::from_secs(60), "the late row", || {
        (pg.count("SELECT count(*) FROM linerate.events_default") == 1).then_some(())
    });
    retention(&cfg, "2026-04-11T12:00:00Z");
    let late = day_status(&cfg);
    assert_eq!(late["tier"], "frozen");
    assert_eq!(late["rollup_events"].as_u64(), Some(EVENTS_LATE + 1));
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events"), 0);
    assert!(export_dir
        .path()
        .join("events_20260110.2.ndjson.gz")
        .exists());
    drop(store);
    drop(cfg.dir);
}

#[test]
fn retention_runs_overlapping_each_other_and_the_loader_lose_nothing() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    const PER_DAY: u64 = 6_000;
    let pg = Postgres::start();
    let kafka = Kafka::start();
    let cfg = store_config(
        &pg,
        &kafka.bootstrap(),
        "rows_max = 300\nlinger_ms = 20",
        "",
    );
    let store = Store::start(&cfg);
    // Day 1 (2026-01-10) is old enough for warm at the pinned clock, day 2 (2026-01-18) hot;
    // both keep arriving while two retention jobs run side by side, over and over.
    let bootstrap = kafka.bootstrap();
    let load = std::thread::spawn(move || {
        let p = producer(&bootstrap);
        for chunk in 0..6u64 {
            produce(
                &p,
                (chunk * PER_DAY / 6..(chunk + 1) * PER_DAY / 6).flat_map(|i| {
                    [
                        event(i, &format!("2026-01-10T{:02}:00:{:02}Z", i % 24, i % 60)),
                        event(
                            PER_DAY + i,
                            &format!("2026-01-18T{:02}:00:{:02}Z", i % 24, i % 60),
                        ),
                    ]
                }),
            );
        }
    });
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let path = cfg.path.clone();
            std::thread::spawn(move || {
                for _ in 0..4 {
                    let out = Command::new(common::bin())
                        .args(["retention", "run", "--config"])
                        .arg(&path)
                        .args(["--now", "2026-01-18T18:00:00Z"])
                        .env("LINERATE_LOG", "warn")
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "retention run: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    load.join().unwrap();
    for j in jobs {
        j.join().unwrap();
    }
    wait_for(Duration::from_secs(120), "every row", || {
        (pg.count("SELECT count(*) FROM linerate.events") as u64 >= 2 * PER_DAY).then_some(())
    });
    // Rows that arrived after the last run wait in the default partition; one more run
    // (with nothing else running) moves them into their day, which keeps its tier.
    retention(&cfg, "2026-01-18T18:00:00Z");
    store.terminate();
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events") as u64,
        2 * PER_DAY
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT message) FROM linerate.events") as u64,
        2 * PER_DAY
    );
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events_default"), 0);
    for day in ["2026-01-10", "2026-01-18"] {
        assert_eq!(
            pg.count(&format!(
                "SELECT count(*) FROM linerate.events_between('{day}', '{day}'::date + 1)"
            )) as u64,
            PER_DAY
        );
    }
    let tiers: BTreeMap<String, String> = pg
        .client()
        .query(
            "SELECT day::text, tier FROM linerate.partitions
              WHERE day IN ('2026-01-10', '2026-01-18')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(tiers["2026-01-10"], "warm");
    assert_eq!(tiers["2026-01-18"], "hot");
    // Each move happened once, whatever the number of overlapping runs.
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.retention_log WHERE action = 'warm' AND day = '2026-01-10'"),
        1
    );
    let (raw, rollup) = answers(&pg);
    assert_eq!(raw.values().sum::<i64>() as u64, PER_DAY);
    assert_eq!(raw, rollup);
}

#[test]
fn store_runs_the_retention_job_on_its_schedule() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let pg = Postgres::start();
    let kafka = Kafka::start();
    let cfg = store_config(
        &pg,
        &kafka.bootstrap(),
        "rows_max = 10\nlinger_ms = 20",
        "run_interval_ms = 300",
    );
    // The job runs on the real clock: today's event lands in today's partition once the
    // scheduled run created it (or moved it there out of the default partition).
    let today = chrono::Utc::now().date_naive();
    let store = Store::start(&cfg);
    produce(
        &producer(&kafka.bootstrap()),
        [event(1, &format!("{today}T00:00:01Z"))],
    );
    let table = format!("linerate.events_{}", today.format("%Y%m%d"));
    wait_for(
        Duration::from_secs(60),
        "today's row in today's partition",
        || {
            let mut c = pg.client();
            let exists: bool = c
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .unwrap()
                .get(0);
            (exists
                && pg.count(&format!("SELECT count(*) FROM {table}")) == 1
                && pg.count("SELECT count(*) FROM linerate.events_default") == 0)
                .then_some(())
        },
    );
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM linerate.partitions WHERE tier = 'hot' AND day >= current_date"
        ),
        4,
        "today and partitions_ahead_days (3) ahead"
    );
    drop(store);
}

#[test]
fn a_replayed_batch_is_skipped_by_its_stored_offsets() {
    use linerate::store::{schema, writer};
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let pg = Postgres::start();
    let mut c = pg.client();
    schema::migrate(&mut c).unwrap();
    let msg = |partition: i32, offset: i64| writer::Message {
        topic: "logs.normalized".into(),
        partition,
        offset,
        payload: event(
            offset as u64 * 10 + partition as u64,
            "2026-01-10T10:00:00Z",
        )
        .into_bytes(),
    };
    let first: Vec<_> = (0..50).flat_map(|o| [msg(0, o), msg(1, o)]).collect();
    let w = writer::write_batch(&mut c, "g", &first, false).unwrap();
    assert_eq!((w.rows, w.skipped), (100, 0));
    // What a consumer that restarted before the stored offsets reads again: the old
    // messages and some new ones, interleaved as Kafka delivers them.
    let replay: Vec<_> = (40..60).flat_map(|o| [msg(0, o), msg(1, o)]).collect();
    let w = writer::write_batch(&mut c, "g", &replay, false).unwrap();
    assert_eq!((w.rows, w.skipped), (20, 20));
    assert_eq!(pg.count("SELECT count(*) FROM linerate.events"), 120);
    assert_eq!(
        pg.count("SELECT count(DISTINCT message) FROM linerate.events"),
        120
    );
    assert_eq!(
        writer::stored_offsets(&mut c, "g")
            .unwrap()
            .into_values()
            .collect::<Vec<_>>(),
        [60, 60]
    );
    // Another group stores its own copy: offsets are per group.
    let w = writer::write_batch(&mut c, "other", &replay, false).unwrap();
    assert_eq!((w.rows, w.skipped), (40, 0));
}

#[test]
fn with_enrichment_each_event_is_one_row_with_its_labels() {
    let _g = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let pg = Postgres::start();
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("owners.csv");
    std::fs::write(&table, "match,owner,site\nweb-1,web team,fra1\n").unwrap();
    // The appliance writes every event to logs.normalized and, enriched, to logs.enriched.
    let app = Appliance::start(
        &kafka.bootstrap(),
        &format!("[enrich]\ntable = \"{}\"\n", table.display()),
    );
    // Reading both topics is refused at start-up, naming the line.
    let both = store_config_topics(
        &pg,
        &kafka.bootstrap(),
        "[\"logs.normalized\", \"logs.enriched\"]",
        "rows_max = 100",
        "",
    );
    // (With --exit-idle-ms, a build that accepted the list would exit 0 rather than run on.)
    let out = Command::new(common::bin())
        .args(["store", "--exit-idle-ms", "3000", "--config"])
        .arg(&both.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("store.toml:9: topics: `logs.enriched` carries every event"),
        "{err}"
    );
    let cfg = store_config_topics(
        &pg,
        &kafka.bootstrap(),
        "[\"logs.enriched\"]",
        "rows_max = 100\nlinger_ms = 100",
        "",
    );
    let store = Store::start(&cfg);
    let lines = [
        "<34>1 2026-12-04T10:00:00Z web-1 sshd 123 - - Failed password for bob\n",
        "<13>1 2026-12-04T11:30:00Z db-2 cron - - - job done\n",
        "<165>1 2026-12-04T12:00:00Z web-1 nginx - - - GET /\n",
    ];
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", app.syslog_port)).unwrap();
    for l in lines {
        tcp.write_all(l.as_bytes()).unwrap();
    }
    drop(tcp);
    let normalized = common::consume(
        &kafka.bootstrap(),
        "logs.normalized",
        lines.len(),
        Duration::from_secs(30),
    );
    assert_eq!(
        normalized.len(),
        lines.len(),
        "the appliance wrote both topics"
    );
    // Every message of logs.enriched stored (its offsets moved past them), each once.
    wait_for(Duration::from_secs(60), "the enriched topic stored", || {
        (pg.count(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM linerate.kafka_offsets
              WHERE topic = 'logs.enriched'",
        ) == lines.len() as i64)
            .then_some(())
    });
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events"),
        lines.len() as i64
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT message) FROM linerate.events"),
        lines.len() as i64
    );
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM linerate.events
              WHERE host = 'web-1' AND event->'labels'->>'owner' = 'web team'"
        ),
        2
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM linerate.events WHERE event ? 'labels'"),
        2
    );
    drop(store);
    drop(app);
}
