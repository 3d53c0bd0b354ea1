//! Kafka over TLS and SASL: the real binary's producer against `openssl s_server`, which
//! verifies the client certificate it is shown (`-Verify 1`) and prints its subject.
//! librdkafka's mock cluster (2.12) has no TLS listener and no SASL handlers (no SaslHandshake
//! / SaslAuthenticate in rdkafka_mock_handlers.c), and s_server does not answer the Kafka
//! ApiVersion request that precedes SASL, so a SASL exchange itself cannot be run here: the
//! SASL test checks that `sasl_ssl` with SCRAM starts the producers, reaches the broker over
//! TLS with the client certificate, and keeps the password out of the control API (the
//! mechanisms are accepted by librdkafka: `sink::kafka` unit tests).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pki::{Ca, Leaf};
use common::{free_port, http_get, start_up_error, Appliance, Keys};

const WAIT: Duration = Duration::from_secs(60);

/// `openssl s_server` on `port` requiring a client certificate signed by `ca`; its output
/// collected into the returned buffer by a reader thread.
struct SServer {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl SServer {
    fn start(port: u16, server: &Leaf, ca: &Path) -> Self {
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&server.cert)
            .arg("-key")
            .arg(&server.key)
            .arg("-CAfile")
            .arg(ca)
            .args(["-Verify", "1"])
            // No session resumption: a producer that reconnects with a ticket from an earlier
            // handshake would skip certificate verification, and its "verify return" lines.
            .args(["-no_ticket", "-no_cache"])
            // stdin stays open: s_server ends its session at stdin's end of file.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl s_server");
        let out = Arc::new(Mutex::new(Vec::new()));
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < WAIT, "s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, out }
    }

    /// Wait until the output contains `needle` (or `WAIT` passed); returns the output.
    fn wait_for(&self, needle: &[u8]) -> String {
        let start = Instant::now();
        loop {
            let out = self.out.lock().unwrap().clone();
            if out.windows(needle.len()).any(|w| w == needle) || start.elapsed() > WAIT {
                return String::from_utf8_lossy(&out).into_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn appliance(brokers: &str, kafka_keys: &str) -> Appliance {
    let data = tempfile::tempdir().unwrap();
    let mut a = Appliance::spawn_in(
        data.path(),
        brokers,
        "",
        Keys {
            kafka: kafka_keys,
            ..Keys::default()
        },
    );
    a.data = Some(data);
    a
}

#[test]
fn the_producer_completes_a_tls_handshake_presenting_its_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "kafka");
    let broker = ca.server(dir.path(), "broker", "broker1");
    let producer = ca.client(dir.path(), "producer", "linerate-producer");
    let port = free_port();
    let server = SServer::start(port, &broker, &ca.pem);
    let keys = format!(
        "security_protocol = \"ssl\"\nssl_ca_file = \"{}\"\nssl_cert_file = \"{}\"\n\
         ssl_key_file = \"{}\"\n",
        ca.pem.display(),
        producer.cert.display(),
        producer.key.display()
    );
    let _a = appliance(&format!("localhost:{port}"), &keys);
    let out = server.wait_for(b"subject=CN = linerate-producer");
    assert!(
        out.contains("subject=CN = linerate-producer"),
        "s_server did not see the client certificate:\n{out}"
    );
    // s_server's stdout and stderr are read by two threads: the verification lines (stderr)
    // may land in the buffer after the subject (stdout), so they are waited for on their own.
    let out = server.wait_for(b"verify return:1");
    assert!(out.contains("verify return:1"), "{out}");
}

#[test]
fn sasl_ssl_reaches_the_broker_over_tls_and_keeps_the_password_secret() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "kafka");
    let broker = ca.server(dir.path(), "broker", "broker1");
    let producer = ca.client(dir.path(), "producer", "linerate-producer");
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cr3t-Pa55word\n").unwrap();
    let port = free_port();
    let server = SServer::start(port, &broker, &ca.pem);
    let keys = format!(
        "security_protocol = \"sasl_ssl\"\nssl_ca_file = \"{}\"\nssl_cert_file = \"{}\"\n\
         ssl_key_file = \"{}\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"linerate\"\n\
         sasl_password_file = \"{}\"\n",
        ca.pem.display(),
        producer.cert.display(),
        producer.key.display(),
        password.display(),
    );
    let a = appliance(&format!("localhost:{port}"), &keys);
    let out = server.wait_for(b"subject=CN = linerate-producer");
    assert!(out.contains("subject=CN = linerate-producer"), "{out}");
    // The control API shows the password file's path, never the password.
    let start = Instant::now();
    let config = loop {
        if let Some((200, body)) = http_get(a.http_port, "/api/v1/config") {
            break body;
        }
        assert!(start.elapsed() < WAIT, "control API not up");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(config.contains("sasl_password_file"), "{config}");
    assert!(!config.contains("s3cr3t"), "{config}");
}

#[test]
fn bad_kafka_security_settings_stop_start_up_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let (_d, _, err) = start_up_error(&format!(
        "[kafka]\nbrokers = \"localhost:9093\"\nsecurity_protocol = \"ssl\"\nssl_ca_file = \"{}\"\n",
        missing.display()
    ));
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("cannot read"),
        "{err}"
    );
    let (_d, path, err) = start_up_error(
        "[kafka]\nbrokers = \"localhost:9093\"\nsecurity_protocol = \"sasl_ssl\"\n\
         sasl_mechanism = \"PLAIN\"\n",
    );
    assert!(
        err.contains(&format!("{}:4:", path.display())) && err.contains("sasl_username"),
        "{err}"
    );
    let (_d, _, err) =
        start_up_error("[kafka]\nbrokers = \"localhost:9093\"\nsecurity_protocol = \"tls\"\n");
    assert!(err.contains("sasl_ssl"), "{err}");
}
