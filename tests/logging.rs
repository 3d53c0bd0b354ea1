//! The appliance's log output, as journald or a log shipper sees it (stderr not a terminal):
//! plain text without ANSI colour codes by default, one JSON object per line with
//! `LINERATE_LOG_FORMAT=json`. The embedded-Kafka warning at start-up is the line looked for.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{bin, free_port, free_syslog_port};

/// Start `linerate run` with `format` as `LINERATE_LOG_FORMAT` (none: unset), collect its
/// stderr lines until one mentions the embedded cluster (or 60 s pass), stop it.
fn start_up_lines(format: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let port = free_syslog_port();
    let cfg = format!(
        "[shards]\ncount = 1\n[syslog]\nudp_listen = \"127.0.0.1:{port}\"\n\
         tcp_listen = \"127.0.0.1:{port}\"\n[kafka]\nbrokers = \"embedded\"\n\
         [http]\nlisten = \"127.0.0.1:{}\"\n[buffer]\ndata_dir = \"{}\"\n\
         ring_bytes_max = 1048576\n",
        free_port(),
        dir.path().join("data").display()
    );
    let path = dir.path().join("linerate.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--config"])
        .arg(&path)
        .env("LINERATE_LOG", "info")
        .env_remove("LINERATE_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(f) = format {
        cmd.env("LINERATE_LOG_FORMAT", f);
    }
    let mut child = cmd.spawn().expect("spawn linerate");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains("embedded");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("embedded")),
        "no start-up line about the embedded cluster in {lines:#?}"
    );
    lines
}

#[test]
fn text_logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let lines = start_up_lines(None);
    for l in &lines {
        assert!(!l.contains('\x1b'), "ANSI escape in {l:?}");
    }
    assert!(lines
        .iter()
        .any(|l| l.contains("INFO") || l.contains("WARN")));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lines = start_up_lines(Some("json"));
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{l}"
        );
    }
}
