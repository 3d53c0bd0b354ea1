//! `[kafka.properties]` against the real binary and the mock cluster: properties that weaken
//! the delivery guarantee stop start-up (file, line, reason) unless `unsafe_delivery = true`,
//! which starts with a loud warning and shows in the control API's config view; properties
//! librdkafka refuses stop start-up too; the `/health` probe connects with the producers'
//! properties.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, free_port, free_syslog_port, http_get, start_up_error, Appliance, Kafka, Keys};
use serde_json::Value;

#[test]
fn acks_1_in_properties_stops_start_up_with_file_line_and_reason() {
    let (_dir, path, stderr) = start_up_error(
        "[syslog]\ntcp_listen = \"127.0.0.1:0\"\n\n[kafka.properties]\n\"client.id\" = \"edge-1\"\n\
         \"acks\" = \"1\"\n",
    );
    let at = format!(
        "{}:6:1: [kafka.properties] acks: `1` weakens the delivery guarantee",
        path.display()
    );
    assert!(stderr.contains(&at), "{stderr}");
    assert!(stderr.contains("unsafe_delivery = true"), "{stderr}");
}

#[test]
fn a_property_librdkafka_refuses_stops_start_up_with_its_reason() {
    let (_dir, path, stderr) = start_up_error(
        "[syslog]\ntcp_listen = \"127.0.0.1:0\"\n\n[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\n\
         \"socket.timeout.ms\" = \"soon\"\n",
    );
    let at = format!(
        "{}:6:1: [kafka.properties] socket.timeout.ms: librdkafka refuses `soon`",
        path.display()
    );
    assert!(stderr.contains(&at), "{stderr}");
}

#[test]
fn unsafe_delivery_starts_with_a_warning_and_shows_in_the_config_view() {
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (syslog_port, http_port) = (free_syslog_port(), free_port());
    let cfg = format!(
        "[shards]\ncount = 1\n\n[syslog]\ntcp_listen = \"127.0.0.1:{syslog_port}\"\n\n\
         [kafka]\nbrokers = \"{}\"\nunsafe_delivery = true\n\n[kafka.properties]\n\
         \"acks\" = \"1\"\n\"enable.idempotence\" = \"false\"\n\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\n\n[stats]\ninterval_ms = 200\n\n\
         [buffer]\ndata_dir = \"{}\"\nring_bytes_max = 4194304\n",
        kafka.bootstrap(),
        data.path().display()
    );
    let path = dir.path().join("linerate.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(&path)
        .env("LINERATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let health = loop {
        match http_get(http_port, "/health") {
            Some((200, body)) => break body,
            other if start.elapsed() > Duration::from_secs(30) => {
                let _ = child.kill();
                panic!("not healthy: {other:?}");
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["kafka_reachable"], true, "{health}");
    let (status, body) = http_get(http_port, "/api/v1/config").unwrap();
    assert_eq!(status, 200, "{body}");
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["kafka"]["unsafe_delivery"], true, "{config}");
    let overrides: Vec<&str> = config["kafka"]["unsafe_delivery_overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["property"].as_str().unwrap())
        .collect();
    assert_eq!(overrides, ["acks", "enable.idempotence"], "{config}");
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status}: {stderr}");
    for property in ["acks", "enable.idempotence"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("UNSAFE DELIVERY") && l.contains(property)),
            "no warning for {property}: {stderr}"
        );
    }
}

#[test]
fn health_probe_connects_with_the_producers_properties() {
    // `[kafka] brokers` points nowhere; the properties (applied last, as for the producers)
    // name the cluster and a client id: the probe must use them to find Kafka.
    let kafka = Kafka::start();
    let keys = Keys {
        kafka: &format!(
            "[kafka.properties]\n\"bootstrap.servers\" = \"{}\"\n\"client.id\" = \"edge-1\"",
            kafka.bootstrap()
        ),
        ..Keys::default()
    };
    let data = tempfile::tempdir().unwrap();
    let app = Appliance::start_in(data.path(), "127.0.0.1:1", "", keys);
    let (status, body) = http_get(app.http_port, "/health").unwrap();
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["kafka_reachable"], true);
    assert!(health.get("kafka_probe_error").is_none(), "{health}");
    assert_eq!(app.metrics().sum("linerate_kafka_reachable", &[]), 1);
}
