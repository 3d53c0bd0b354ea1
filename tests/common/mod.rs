//! Shared harness for end-to-end tests: the real `linerate` binary, librdkafka's mock cluster
//! (a real Kafka-protocol broker on loopback) owned by the test, a real consumer, and real
//! sockets. Each appliance gets its own ports so test binaries can run side by side.
#![allow(dead_code)]

pub mod http_client;
pub mod openssl;
pub mod pki;
pub mod tmux;

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Heavy scenarios run one at a time: the machine has 2 cores, and a UDP zero-loss check
/// must not compete with a TCP flood.
pub static HEAVY: Mutex<()> = Mutex::new(());

/// Held by a test whose load (floods, hundreds of thousands of messages, many connections)
/// would starve the appliances of the other tests of its binary on a 2-core machine: such
/// tests of one binary run one at a time.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

pub const PARTITIONS: i32 = 4;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linerate"))
}

/// Run `linerate run` on a config file holding `cfg`, which must stop start-up: returns the
/// file's path (its directory lives as long as the returned guard) and the stderr.
pub fn start_up_error(cfg: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "start-up should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (dir, path, stderr)
}

/// A free loopback port (bound then released; the tiny race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP+TCP port pair that is free on both protocols.
pub fn free_syslog_port() -> u16 {
    loop {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// The mock Kafka cluster, owned by the test so it outlives the appliance.
pub struct Kafka {
    pub cluster: MockCluster<'static, DefaultProducerContext>,
}

impl Kafka {
    pub fn start() -> Self {
        let cluster = MockCluster::new(1).expect("mock cluster");
        for t in [
            "logs.raw",
            "logs.normalized",
            "logs.deadletter",
            "logs.enriched",
        ] {
            cluster
                .create_topic(t, PARTITIONS, 1)
                .expect("create topic");
        }
        Self { cluster }
    }
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}

/// A running `linerate run`, killed on drop.
pub struct Appliance {
    pub child: Child,
    pub syslog_port: u16,
    pub http_port: u16,
    pub dir: tempfile::TempDir,
    /// The data directory, when the appliance owns it.
    pub data: Option<tempfile::TempDir>,
}

/// Keys added to sections of the test config, one `key = value` per line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Keys<'a> {
    pub kafka: &'a str,
    pub buffer: &'a str,
    pub syslog: &'a str,
    pub http: &'a str,
    /// The `[shards]` section's keys (default `count = 2`).
    pub shards: &'a str,
}

/// Ring size per shard in tests (tests that fill it set their own).
pub const RING_BYTES_TEST: u64 = 64 << 20;

impl Appliance {
    /// Start with `brokers` and extra TOML appended to a 2-shard loopback config, with its
    /// own temporary data directory.
    pub fn start(brokers: &str, extra: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut a = Self::start_in(data.path(), brokers, extra, Keys::default());
        a.data = Some(data);
        a
    }

    /// Start with the ring files in `data_dir` (so a test can restart on the same one),
    /// `keys` added to the `[kafka]` and `[buffer]` sections and `extra` (whole sections)
    /// appended.
    pub fn start_in(data_dir: &Path, brokers: &str, extra: &str, keys: Keys) -> Self {
        let a = Self::spawn_in(data_dir, brokers, extra, keys);
        a.wait_healthy(Duration::from_secs(30));
        a
    }

    /// As [`Appliance::start_in`], without waiting for health.
    pub fn spawn_in(data_dir: &Path, brokers: &str, extra: &str, keys: Keys) -> Self {
        let Keys {
            kafka,
            buffer,
            syslog,
            http,
            shards,
        } = keys;
        let shards = if shards.is_empty() {
            "count = 2"
        } else {
            shards
        };
        let ring = if buffer.contains("ring_bytes_max") {
            String::new()
        } else {
            format!("ring_bytes_max = {RING_BYTES_TEST}")
        };
        let syslog_port = free_syslog_port();
        let http_port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "[shards]\n{shards}\n\n[syslog]\nudp_listen = \"127.0.0.1:{syslog_port}\"\n\
             tcp_listen = \"127.0.0.1:{syslog_port}\"\nyear = 2025\n{syslog}\n\n[kafka]\nbrokers = \"{brokers}\"\n{kafka}\n\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n{http}\n\n[stats]\ninterval_ms = 200\n\n\
             [buffer]\ndata_dir = \"{}\"\n{ring}\n{buffer}\n{extra}",
            data_dir.display(),
        );
        let path = dir.path().join("linerate.toml");
        std::fs::write(&path, cfg).unwrap();
        let child = Command::new(bin())
            .args(["run", "--config"])
            .arg(&path)
            .env("LINERATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn linerate");
        Self {
            child,
            syslog_port,
            http_port,
            dir,
            data: None,
        }
    }

    /// Resident set size of the process, bytes (from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// SIGKILL and reap: no shutdown path runs.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_healthy(&self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some((200, _)) = http_get(self.http_port, "/health") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "appliance not healthy after {timeout:?}: {:?}",
            http_get(self.http_port, "/health")
        );
    }

    pub fn metrics(&self) -> Metrics {
        let (status, body) = http_get(self.http_port, "/metrics").expect("metrics reachable");
        assert_eq!(status, 200);
        Metrics::parse(&body)
    }

    /// Poll /metrics until `pred` holds (metrics arrive as periodic snapshots).
    pub fn wait_metrics(&self, timeout: Duration, pred: impl Fn(&Metrics) -> bool) -> Metrics {
        let start = Instant::now();
        loop {
            let m = self.metrics();
            if pred(&m) || start.elapsed() > timeout {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, wait for exit; returns (exit code, stdout).
    pub fn terminate(mut self) -> (i32, String) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                self.child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                return (status.code().unwrap_or(-1), out);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "appliance did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.0 GET over a real socket: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[])
}

/// Minimal HTTP/1.0 request without a body over a real socket, with extra `headers`:
/// (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        // The control API's mutating routes take JSON (a browser form post cannot pause).
        head.push_str("Content-Type: application/json\r\nContent-Length: 0\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split(' ').nth(1)?.parse().ok()?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Assert that `text` passes `promtool check metrics` (Debian package `prometheus`, installed
/// by scripts/setup.sh).
pub fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool not found: install the Debian package `prometheus` (scripts/setup.sh does)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Parsed Prometheus samples: `name{labels}` → value.
#[derive(Debug)]
pub struct Metrics(pub HashMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Self {
        let mut m = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            if let Some((k, v)) = line.rsplit_once(' ') {
                m.insert(k.to_string(), v.parse().unwrap_or(f64::NAN));
            }
        }
        Self(m)
    }
    /// Sum of every sample of `name` whose labels contain all of `labels` (`k="v"` strings).
    pub fn sum(&self, name: &str, labels: &[&str]) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.split('{').next() == Some(name) && labels.iter().all(|l| k.contains(l))
            })
            .map(|(_, v)| *v as u64)
            .sum()
    }
    /// As [`Metrics::sum`], without rounding each sample down (for values in seconds).
    pub fn sum_f64(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.split('{').next() == Some(name) && labels.iter().all(|l| k.contains(l))
            })
            .map(|(_, v)| *v)
            .sum()
    }
}

/// `linerate loadgen --target 127.0.0.1:PORT`, for more arguments and a spawn.
pub fn loadgen_to(port: u16) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["loadgen", "--target", &format!("127.0.0.1:{port}")]);
    cmd
}

/// Run `linerate loadgen` with `args` against the appliance; returns its JSON report.
pub fn loadgen(port: u16, args: &[&str]) -> serde_json::Value {
    let out = loadgen_to(port)
        .args(args)
        .arg("--json")
        .output()
        .expect("run loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .expect("loadgen JSON line");
    serde_json::from_str(line).unwrap()
}

/// Consume `topic` from the beginning until `want` records arrived or nothing new came for
/// `idle` (returns what arrived).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    want: usize,
    idle: Duration,
) -> Vec<serde_json::Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "linerate-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(want);
    let mut last = Instant::now();
    while out.len() < want && last.elapsed() < idle {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => {
                last = Instant::now();
                let payload = msg.payload().unwrap_or_default();
                out.push(serde_json::from_slice(payload).unwrap_or_else(|e| {
                    panic!("not JSON ({e}): {}", String::from_utf8_lossy(payload))
                }));
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}

/// The `seq=N` a loadgen message carries in its normalized `message`.
pub fn seq_of(event: &serde_json::Value) -> Option<u64> {
    let msg = event.get("message")?.as_str()?;
    msg.strip_prefix("seq=")?.split(' ').next()?.parse().ok()
}

/// The sample inputs (`tests/data/samples`: EVTX, Windows and cloud records; origins and
/// licenses in its README).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/samples")
}

/// The bytes of a `tests/data/samples` file.
pub fn sample(rel: &str) -> Vec<u8> {
    std::fs::read(testdata().join(rel)).unwrap()
}
