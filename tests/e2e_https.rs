//! The HTTP input over HTTPS end to end, with clients nobody here wrote: curl (`--cacert`,
//! and `--cert/--key` under mutual TLS) posts Firehose, Pub/Sub push and Windows bodies to the
//! real binary, whose events are read back from the mock Kafka cluster; plain HTTP to the
//! HTTPS port, a client without a certificate and one of an unknown CA are refused and
//! counted while a good client keeps working; a certificate swapped while a keep-alive
//! connection (`openssl s_client`) is open applies to the next handshake only, and a broken
//! one is refused with the old kept; bad HTTPS configuration stops start-up with the file and
//! the reason. Certificates are made by the tests (rcgen).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::openssl::{client_args, presented_subject, replace, s_client, wait_output, WAIT};
use common::pki::{Ca, Leaf};
use common::{consume, free_port, http_get, sample, start_up_error, Appliance, Kafka};
use serde_json::Value;

const KEY: &str = "test-firehose-key-EXAMPLE";
const CONSUME_IDLE: Duration = Duration::from_secs(8);

/// A CA, the server's certificate, a client it signed and a client of an unknown CA.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Leaf,
    client: Leaf,
    stranger: Leaf,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "good");
        let server = ca.server(dir.path(), "server", "linerate-a");
        let client = ca.client(dir.path(), "client", "firehose.example.com");
        let rogue = Ca::new(dir.path(), "rogue");
        let stranger = rogue.client(dir.path(), "stranger", "relay2.example.com");
        Self {
            dir,
            ca,
            server,
            client,
            stranger,
        }
    }
}

/// The appliance with its HTTP input on `port` over HTTPS (mutual TLS when `mutual`).
fn start(kafka: &Kafka, pki: &Pki, port: u16, mutual: bool, extra: &str) -> Appliance {
    let ca = if mutual {
        format!("tls_client_ca_file = \"{}\"\n", pki.ca.pem.display())
    } else {
        String::new()
    };
    let section = format!(
        "[http_input]\nlisten = \"127.0.0.1:{port}\"\nfirehose_access_key = \"{KEY}\"\n\
         tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{ca}{extra}",
        pki.server.cert.display(),
        pki.server.key.display(),
    );
    Appliance::start(&kafka.bootstrap(), &section)
}

/// What curl got: the HTTP status (0: no response) and the body, or curl's error.
#[derive(Debug)]
struct Curl {
    status: u16,
    text: String,
}

/// `curl` POSTing `body` to `url` with `args` (TLS options) and `headers`.
fn curl(url: &str, args: &[String], headers: &[&str], body: &[u8], dir: &Path) -> Curl {
    let file = tempfile::NamedTempFile::new_in(dir).unwrap();
    std::fs::write(file.path(), body).unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(["--data-binary", &format!("@{}", file.path().display())])
        .args(["-H", "Content-Type: application/json"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.args(args).arg(url).output().expect("curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Curl {
        status: code.trim().parse().unwrap_or(0),
        text: format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// curl's options for HTTPS to 127.0.0.1 as `localhost` (the certificate's name), trusting
/// `ca`, presenting `client` if given.
fn tls_args(port: u16, ca: &Path, client: Option<&Leaf>) -> Vec<String> {
    let mut v = vec![
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        "--cacert".into(),
        ca.display().to_string(),
    ];
    if let Some(c) = client {
        v.extend([
            "--cert".into(),
            c.cert.display().to_string(),
            "--key".into(),
            c.key.display().to_string(),
        ]);
    }
    v
}

fn https(port: u16, path: &str) -> String {
    format!("https://localhost:{port}{path}")
}

fn failures(a: &Appliance, reason: &str) -> u64 {
    a.metrics().sum(
        "linerate_tls_handshake_failures_total",
        &["listener=\"http_input\"", &format!("reason=\"{reason}\"")],
    )
}

#[test]
fn curl_posts_over_mutual_tls_and_refused_clients_are_counted() {
    let kafka = Kafka::start();
    let pki = Pki::new();
    let port = free_port();
    let a = start(&kafka, &pki, port, true, "");
    let dir = pki.dir.path();
    let good = tls_args(port, &pki.ca.pem, Some(&pki.client));
    let firehose_headers = [
        "X-Amz-Firehose-Request-Id: 4a7c2e91-5d3b-4f68-a0e2-9c1b7d5f3e86",
        &format!("X-Amz-Firehose-Access-Key: {KEY}") as &str,
    ];

    // Firehose (4 CloudTrail records), a Pub/Sub push (1), Windows NDJSON (7).
    let firehose = sample("cloud/firehose/request-cloudtrail.json");
    let r = curl(
        &https(port, "/firehose"),
        &good,
        &firehose_headers,
        &firehose,
        dir,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("4a7c2e91"), "{r:?}");
    let pubsub = sample("cloud/gcp/pubsub-push.json");
    let r = curl(&https(port, "/pubsub"), &good, &[], &pubsub, dir);
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, "{\"accepted\":1}"),
        "{r:?}"
    );
    let windows = sample("windows/nxlog.ndjson");
    let r = curl(&https(port, "/windows"), &good, &[], &windows, dir);
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, "{\"accepted\":7}"),
        "{r:?}"
    );

    // Refused, each without an HTTP answer: plain HTTP to the HTTPS port, no client
    // certificate, a certificate of an unknown CA.
    let plain = format!("http://127.0.0.1:{port}/pubsub");
    let r = curl(&plain, &[], &[], &pubsub, dir);
    assert_eq!(r.status, 0, "plain HTTP was answered: {r:?}");
    let no_cert = tls_args(port, &pki.ca.pem, None);
    let r = curl(&https(port, "/pubsub"), &no_cert, &[], &pubsub, dir);
    assert_eq!(
        r.status, 0,
        "a client without a certificate was answered: {r:?}"
    );
    let stranger = tls_args(port, &pki.ca.pem, Some(&pki.stranger));
    let r = curl(&https(port, "/pubsub"), &stranger, &[], &pubsub, dir);
    assert_eq!(r.status, 0, "a client of an unknown CA was answered: {r:?}");

    // The good client keeps working.
    let r = curl(&https(port, "/pubsub"), &good, &[], &pubsub, dir);
    assert_eq!(r.status, 200, "{r:?}");

    let m = a.wait_metrics(WAIT, |m| {
        let f = |reason: &str| {
            m.sum(
                "linerate_tls_handshake_failures_total",
                &["listener=\"http_input\"", &format!("reason=\"{reason}\"")],
            )
        };
        f("not_tls") >= 1
            && f("no_client_cert") >= 1
            && f("bad_client_cert") >= 1
            && m.sum(
                "linerate_tls_handshakes_total",
                &["listener=\"http_input\""],
            ) >= 4
            && m.sum("linerate_http_requests_total", &[]) >= 4
    });
    let handshakes = m.sum(
        "linerate_tls_handshakes_total",
        &["listener=\"http_input\""],
    );
    assert_eq!(handshakes, 4, "one per good curl");
    for reason in ["not_tls", "no_client_cert", "bad_client_cert"] {
        assert_eq!(failures(&a, reason), 1, "{reason}");
    }
    assert_eq!(
        m.sum(
            "linerate_tls_handshake_failures_total",
            &["listener=\"syslog\""]
        ),
        0
    );
    // The requests refused at the handshake never reached HTTP.
    assert_eq!(m.sum("linerate_http_requests_total", &[]), 4);

    // The inputs listing shows HTTPS with its handshake counters.
    let (status, body) = http_get(a.http_port, "/api/v1/inputs/http").unwrap();
    assert_eq!(status, 200, "{body}");
    let http: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(http["https"], true, "{http}");
    assert_eq!(http["mutual_tls"], true, "{http}");
    assert_eq!(http["tls_handshake_failures"]["not_tls"], 1, "{http}");

    // What arrived: 4 CloudTrail, 2 GCP, 7 Windows; nothing of the refused requests (the
    // consumer waits past the count for strays).
    let want = 4 + 2 + 7;
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        want + 1,
        CONSUME_IDLE,
    );
    assert_eq!(events.len(), want, "{events:#?}");
    let datasets = |prefix: &str| {
        events
            .iter()
            .filter(|e| {
                e["event"]["dataset"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(prefix))
            })
            .count()
    };
    assert_eq!(datasets("aws.cloudtrail"), 4);
    assert_eq!(datasets("gcp."), 2);
}

/// An HTTP/1.1 POST of `body` to `/pubsub`, keeping the connection open.
fn pubsub_request(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /pubsub HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Wait for a line of `lines` holding `what` (a response's status line follows the previous
/// body, which ends without a newline, on the same line).
fn wait_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if let Some(at) = line.find(what) {
                return line[at..].to_string();
            }
        }
    }
    panic!("no `{what}` line within {WAIT:?}");
}

#[test]
fn a_certificate_swapped_under_an_open_keep_alive_connection_applies_to_the_next_handshake() {
    let kafka = Kafka::start();
    let pki = Pki::new();
    let port = free_port();
    let a = start(&kafka, &pki, port, false, "tls_reload_check_ms = 200\n");
    assert!(presented_subject(port, &pki.ca.pem, &pki.client).contains("CN = linerate-a"));

    // One keep-alive connection: openssl s_client carrying HTTP/1.1 requests.
    let args = client_args(&pki.client, &pki.ca.pem);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut open = s_client(port, &argv);
    let mut open_in = open.stdin.take().unwrap();
    let out = open.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let body = sample("cloud/gcp/pubsub-push.json");
    open_in.write_all(&pubsub_request(&body)).unwrap();
    open_in.flush().unwrap();
    let status = wait_line(&lines, "HTTP/1.1 ");
    assert!(status.contains("200"), "{status}");

    // Renewal: the files are replaced in place; the watcher sees the change.
    let renewed = pki.ca.server(pki.dir.path(), "renewed", "linerate-b");
    replace(&renewed.cert, &pki.server.cert);
    replace(&renewed.key, &pki.server.key);
    let start = Instant::now();
    while !presented_subject(port, &pki.ca.pem, &pki.client).contains("CN = linerate-b") {
        assert!(
            start.elapsed() < WAIT,
            "the renewed certificate was never presented"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The connection opened before the swap still serves requests.
    open_in.write_all(&pubsub_request(&body)).unwrap();
    open_in.flush().unwrap();
    let status = wait_line(&lines, "HTTP/1.1 ");
    assert!(status.contains("200"), "{status}");
    drop(open_in);
    let _ = wait_output(open, WAIT);

    // A broken certificate (SIGHUP this time) is refused; the renewed one stays in use.
    let refused = |a: &Appliance| {
        a.metrics().sum(
            "linerate_tls_certificate_reloads_total",
            &["result=\"refused\""],
        )
    };
    let refused_before = refused(&a);
    std::fs::write(
        &pki.server.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .unwrap();
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(a.child.id() as i32, libc::SIGHUP) };
    let start = Instant::now();
    while refused(&a) <= refused_before {
        assert!(
            start.elapsed() < WAIT,
            "the broken certificate was not refused"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(presented_subject(port, &pki.ca.pem, &pki.client).contains("CN = linerate-b"));
    let r = curl(
        &https(port, "/pubsub"),
        &tls_args(port, &pki.ca.pem, None),
        &[],
        &body,
        pki.dir.path(),
    );
    assert_eq!(r.status, 200, "{r:?}");

    let events = consume(&kafka.bootstrap(), "logs.normalized", 4, CONSUME_IDLE);
    assert_eq!(events.len(), 3, "{events:#?}");
}

#[test]
fn bad_https_configuration_stops_start_up_with_the_file_and_the_reason() {
    let pki = Pki::new();
    let port = free_port();
    let base = |cert: &Path, key: &Path| {
        format!(
            "[syslog]\nudp_listen = \"\"\ntcp_listen = \"\"\n[http_input]\n\
             listen = \"127.0.0.1:{port}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        )
    };
    // A missing certificate file.
    let missing = pki.dir.path().join("missing.pem");
    let (_d, _, err) = start_up_error(&base(&missing, &pki.server.key));
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("cannot read"),
        "{err}"
    );
    // A key that is not the certificate's.
    let (_d, _, err) = start_up_error(&base(&pki.server.cert, &pki.client.key));
    assert!(
        err.contains(&pki.client.key.display().to_string()) && err.contains("key"),
        "{err}"
    );
    // A key without a certificate would serve plain HTTP: refused, naming the section's line.
    let (_d, path, err) = start_up_error(&format!(
        "[http_input]\nlisten = \"127.0.0.1:{port}\"\ntls_key_file = \"{}\"\n",
        pki.server.key.display()
    ));
    assert!(
        err.contains(&format!("{}:2:", path.display())) && err.contains("tls_cert_file"),
        "{err}"
    );
    // A bad minimum version: the error names `[http_input]`'s line, not `[syslog]`'s.
    let (_d, path, err) = start_up_error(&format!(
        "[syslog]\ntls_min_version = \"1.2\"\n[http_input]\nlisten = \"127.0.0.1:{port}\"\n\
         tls_cert_file = \"c\"\ntls_key_file = \"k\"\ntls_min_version = \"1.1\"\n"
    ));
    assert!(
        err.contains(&format!("{}:7:", path.display())) && err.contains("tls_min_version"),
        "{err}"
    );
}
