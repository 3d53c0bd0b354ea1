//! The control API over HTTPS end to end, with clients nobody here wrote: curl (`--cacert`,
//! and `--cert/--key` under mutual TLS) gets `/health` and `/metrics` from the real binary;
//! plain HTTP to the HTTPS port gets no answer and is counted
//! (`linerate_tls_handshake_failures_total{listener="control",reason="not_tls"}`, and the
//! text still passes `promtool check metrics`); under
//! mutual TLS a client without a certificate is refused and counted; a certificate swapped
//! in place is presented at the next handshake (`openssl s_client`), a broken one (SIGHUP) is
//! refused with the old kept; a bad certificate stops start-up with the file and the reason.
//! `linerate top` reads the appliance over HTTPS trusting the certificate its configuration
//! names (no `--ca`), in a real terminal (tmux). Certificates are made by the test (rcgen).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::openssl::{presented_subject, replace, WAIT};
use common::pki::{Leaf, Pki};
use common::tmux::{line_cells, Tmux};
use common::{
    assert_promtool_accepts, bin, free_port, http_get, start_up_error, Appliance, Kafka, Keys,
    Metrics,
};

/// The operators' CA, the control API's certificate (CN `linerate-a`) and an operator's.
fn pki() -> Pki {
    Pki::new("ops", "linerate-a", "operator.example.com")
}

/// The appliance with its control API over HTTPS (`extra`: more `[http]` keys), healthy.
fn start(kafka: &Kafka, pki: &Pki, extra: &str) -> (Appliance, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let http = format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{extra}",
        pki.server.cert.display(),
        pki.server.key.display(),
    );
    let keys = Keys {
        http: &http,
        ..Keys::default()
    };
    let a = Appliance::spawn_in(data.path(), &kafka.bootstrap(), "", keys);
    let client = extra.contains("tls_client_ca_file").then_some(&pki.client);
    let start = Instant::now();
    loop {
        let r = curl(a.http_port, "/health", &pki.ca.pem, client);
        if r.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not healthy over HTTPS: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (a, data)
}

/// What curl got: the HTTP status (0: no response) and the body, or curl's error.
#[derive(Debug)]
struct Curl {
    status: u16,
    text: String,
}

/// `curl` GETting `path` from `https://localhost:port` (127.0.0.1), trusting `ca`,
/// presenting `client` if given.
fn curl(port: u16, path: &str, ca: &Path, client: Option<&Leaf>) -> Curl {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg("--cacert")
        .arg(ca);
    if let Some(c) = client {
        cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
    }
    let out = cmd
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("curl (Debian package curl)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    Curl {
        status: code.trim().parse().unwrap_or(0),
        text: format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// `/metrics` over HTTPS.
fn metrics(a: &Appliance, pki: &Pki, client: Option<&Leaf>) -> Metrics {
    let r = curl(a.http_port, "/metrics", &pki.ca.pem, client);
    assert_eq!(r.status, 200, "{r:?}");
    Metrics::parse(&r.text)
}

/// Poll `/metrics` over HTTPS until `pred` holds (or [`WAIT`] passed).
fn wait_metrics(
    a: &Appliance,
    pki: &Pki,
    client: Option<&Leaf>,
    pred: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let start = Instant::now();
    loop {
        let m = metrics(a, pki, client);
        if pred(&m) || start.elapsed() > WAIT {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn control_failures(m: &Metrics, reason: &str) -> u64 {
    m.sum(
        "linerate_tls_handshake_failures_total",
        &["listener=\"control\"", &format!("reason=\"{reason}\"")],
    )
}

#[test]
fn curl_gets_health_and_metrics_over_https_plaintext_is_refused_and_a_swapped_cert_is_used() {
    let kafka = Kafka::start();
    let pki = pki();
    let (a, _data) = start(&kafka, &pki, "tls_reload_check_ms = 200\n");

    // /health and /metrics over HTTPS.
    let health = curl(a.http_port, "/health", &pki.ca.pem, None);
    assert_eq!(health.status, 200, "{health:?}");
    assert!(health.text.contains("\"status\":\"ok\""), "{health:?}");
    let m = metrics(&a, &pki, None);
    assert!(m.sum("linerate_shard_up", &[]) >= 2, "{m:?}");

    // Plain HTTP to the HTTPS port: no answer, counted under listener="control".
    assert_eq!(http_get(a.http_port, "/health"), None, "plaintext answered");
    let m = wait_metrics(&a, &pki, None, |m| control_failures(m, "not_tls") >= 1);
    assert_eq!(control_failures(&m, "not_tls"), 1, "{m:?}");
    // The control API's samples (without a shard label) keep the text valid.
    let text = curl(a.http_port, "/metrics", &pki.ca.pem, None).text;
    assert_promtool_accepts(&text);
    let handshakes = m.sum("linerate_tls_handshakes_total", &["listener=\"control\""]);
    assert!(handshakes >= 3, "{handshakes}");
    // No shard counts the control API's handshakes.
    assert_eq!(
        m.sum(
            "linerate_tls_handshakes_total",
            &["listener=\"control\"", "shard="]
        ),
        0
    );

    // Renewal: the files are replaced in place; the watcher sees the change and the next
    // handshake presents the new certificate.
    assert!(presented_subject(a.http_port, &pki.ca.pem, &pki.client).contains("CN = linerate-a"));
    let renewed = pki.ca.server(pki.dir.path(), "renewed", "linerate-b");
    replace(&renewed.cert, &pki.server.cert);
    replace(&renewed.key, &pki.server.key);
    let start = Instant::now();
    while !presented_subject(a.http_port, &pki.ca.pem, &pki.client).contains("CN = linerate-b") {
        assert!(
            start.elapsed() < WAIT,
            "the renewed certificate was never presented"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(curl(a.http_port, "/health", &pki.ca.pem, None).status, 200);

    // A broken certificate (SIGHUP this time) is refused; the renewed one stays in use.
    let refused = |m: &Metrics| {
        m.sum(
            "linerate_tls_certificate_reloads_total",
            &["result=\"refused\""],
        )
    };
    let refused_before = refused(&metrics(&a, &pki, None));
    std::fs::write(
        &pki.server.cert,
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .unwrap();
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(a.child.id() as i32, libc::SIGHUP) };
    let m = wait_metrics(&a, &pki, None, |m| refused(m) > refused_before);
    assert!(
        refused(&m) > refused_before,
        "the broken certificate was not refused"
    );
    assert!(presented_subject(a.http_port, &pki.ca.pem, &pki.client).contains("CN = linerate-b"));
    assert_eq!(curl(a.http_port, "/health", &pki.ca.pem, None).status, 200);
}

#[test]
fn under_mutual_tls_a_client_without_a_certificate_is_refused_and_counted() {
    let kafka = Kafka::start();
    let pki = pki();
    let extra = format!(
        "tls_client_ca_file = \"{}\"\ntls_permitted_peers = [\"*.example.com\"]\n",
        pki.ca.pem.display()
    );
    let (a, _data) = start(&kafka, &pki, &extra);
    let good = Some(&pki.client);

    let r = curl(a.http_port, "/api/v1/shards", &pki.ca.pem, good);
    assert_eq!(r.status, 200, "{r:?}");
    let r = curl(a.http_port, "/health", &pki.ca.pem, None);
    assert_eq!(
        r.status, 0,
        "a client without a certificate was answered: {r:?}"
    );
    assert_eq!(
        http_get(a.http_port, "/metrics"),
        None,
        "plaintext answered"
    );

    let m = wait_metrics(&a, &pki, good, |m| {
        control_failures(m, "no_client_cert") >= 1 && control_failures(m, "not_tls") >= 1
    });
    assert_eq!(control_failures(&m, "no_client_cert"), 1, "{m:?}");
    assert_eq!(control_failures(&m, "not_tls"), 1, "{m:?}");
    // The good client keeps working.
    assert_eq!(curl(a.http_port, "/health", &pki.ca.pem, good).status, 200);
}

#[test]
fn a_bad_control_api_certificate_stops_start_up_with_the_file_and_the_reason() {
    let pki = pki();
    let missing = pki.dir.path().join("missing.pem");
    // (certificate, key, the file the error names, the reason it gives).
    let cases = [
        (&missing, &pki.server.key, &missing, "cannot read"),
        (
            &pki.server.cert,
            &pki.client.key,
            &pki.client.key,
            "the key is not the certificate's",
        ),
    ];
    for (cert, key, file, reason) in cases {
        let cfg = format!(
            "[syslog]\nudp_listen = \"\"\ntcp_listen = \"\"\n[http_input]\n\
             listen = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n\
             tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            free_port(),
            free_port(),
            cert.display(),
            key.display()
        );
        let (_d, _, err) = start_up_error(&cfg);
        for want in [&*file.display().to_string(), reason, "control API"] {
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}

#[test]
fn linerate_top_reads_the_control_api_over_https_trusting_the_configured_certificate() {
    let kafka = Kafka::start();
    let pki = pki();
    let (a, _data) = start(&kafka, &pki, "");
    let config = a.dir.path().join("linerate.toml");
    let target = format!("https://localhost:{}", a.http_port);

    // Without a configuration that names a certificate, an https target stops `top` at once
    // (before it takes the terminal).
    let bare = pki.dir.path().join("plain.toml");
    std::fs::write(&bare, "[http]\nlisten = \"127.0.0.1:9514\"\n").unwrap();
    let refused = Command::new(bin())
        .arg("top")
        .arg(format!("--config={}", bare.display()))
        .arg(&target)
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{why}");
    assert!(why.contains("sets no [http] tls_cert_file"), "{why}");

    let command = format!(
        "{} top --config {} {target}",
        bin().display(),
        config.display()
    );
    let tmux = Tmux::start("top-https", &command, 200, 30);
    let screen = tmux.wait_screen(
        "the appliance up with Kafka ok",
        Duration::from_secs(60),
        |s| {
            line_cells(s, &target)
                .is_some_and(|c| c.len() >= 9 && c[1] == "all" && !c.contains(&"down)"))
                && s.contains("1/1 appliances up")
        },
    );
    let row = line_cells(&screen, &target).unwrap();
    assert_eq!(row.last(), Some(&"ok"), "{row:?}\n{screen}");
    tmux.send_keys("q");
    tmux.wait_exit(Duration::from_secs(30));
    // Every scrape was a completed handshake; none was refused.
    let m = metrics(&a, &pki, None);
    assert_eq!(
        m.sum(
            "linerate_tls_handshake_failures_total",
            &["listener=\"control\""]
        ),
        0,
        "{m:?}"
    );
}
