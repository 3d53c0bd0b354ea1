//! `linerate doctor` end to end: the real binary against this host's /proc/sys, limits,
//! sockets and file systems, with profiles and configs written by the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STATUSES: [&str; 4] = ["PASS  ", "WARN  ", "FAIL  ", "SKIP  "];

/// A directory holding a config that this host can meet: one shard on CPU 0, loopback ports
/// that are free, a small receive buffer (granted without privileges) and a small ring.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_syslog_port();
        let http = common::free_port();
        let cfg = format!(
            "[shards]\ncores = [0]\n\n[syslog]\nudp_listen = \"127.0.0.1:{port}\"\n\
             tcp_listen = \"127.0.0.1:{port}\"\nrecv_buffer_bytes = 65536\n\
             tcp_connections_max = 16\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n\
             [buffer]\ndata_dir = \"{}\"\nring_bytes_max = 1048576\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("linerate.toml"), cfg).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("linerate.toml")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn doctor(&self, profile: &Path, extra: &[&str]) -> Output {
        Command::new(common::bin())
            .args(["doctor", "--config"])
            .arg(self.config())
            .arg("--profile")
            .arg(profile)
            .args(extra)
            .output()
            .expect("run linerate doctor")
    }
}

fn proc_sys(key: &str) -> String {
    let text = std::fs::read_to_string(Path::new("/proc/sys").join(key.replace('.', "/")))
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A profile of this host's own values: one capacity key, one multi-value capacity key and
/// two keys compared for equality.
fn profile_of_this_host() -> String {
    [
        "net.core.rmem_max",
        "net.ipv4.tcp_wmem",
        "net.core.netdev_budget",
        "net.core.busy_poll",
    ]
    .iter()
    .map(|k| format!("# this host's own value\n{k} = {}\n", proc_sys(k)))
    .collect()
}

#[test]
fn one_line_per_check_with_a_status() {
    let s = Setup::new();
    let profile = s.write("met.conf", &profile_of_this_host());
    let out = s.doctor(&profile, &[]);
    let lines = stdout_lines(&out);
    for line in &lines {
        assert!(
            STATUSES.iter().any(|st| line.starts_with(st)) && line.contains(": "),
            "not a check line: {line}"
        );
    }
    for check in [
        "sysctl net.core.rmem_max:",
        "sysctl net.ipv4.tcp_wmem:",
        "limit memlock:",
        "limit nofile:",
        "io_uring:",
        "transparent huge pages:",
        "cpu shards:",
        "cpu governor:",
        "SO_RCVBUF granted:",
        "port udp 127.0.0.1:",
        "port tcp 127.0.0.1:",
        "nic numa",
        "data_dir /",
        "data_dir free space:",
        "data_dir encryption at rest:",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l[6..].starts_with(check)).count(),
            if check == "port tcp 127.0.0.1:" { 2 } else { 1 },
            "{check} in:\n{}",
            lines.join("\n")
        );
    }
    // Every FAIL and WARN says how to fix it.
    for l in lines
        .iter()
        .filter(|l| l.starts_with("FAIL") || l.starts_with("WARN"))
    {
        assert!(l.contains(" — fix: "), "{l}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} checks", lines.len())),
        "{stderr}"
    );
}

#[test]
fn a_profile_the_host_does_not_meet_fails() {
    let s = Setup::new();
    let rmem_max: u64 = proc_sys("net.core.rmem_max").parse().unwrap();
    let busy_poll: u64 = proc_sys("net.core.busy_poll").parse().unwrap();
    let profile = s.write(
        "unmet.conf",
        &format!(
            "# more than this host has\nnet.core.rmem_max = {}\n\
             # a different value where only the same one will do\nnet.core.busy_poll = {}\n",
            rmem_max + 1,
            busy_poll + 1
        ),
    );
    let out = s.doctor(&profile, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = stdout_lines(&out);
    let rmem = lines
        .iter()
        .find(|l| l.contains("sysctl net.core.rmem_max:"))
        .expect("rmem_max line");
    assert!(
        rmem.starts_with("FAIL  ")
            && rmem.contains(&format!("want >= {}", rmem_max + 1))
            && rmem.contains(&format!(
                "fix: sysctl -w net.core.rmem_max={}",
                rmem_max + 1
            )),
        "{rmem}"
    );
    let busy = lines
        .iter()
        .find(|l| l.contains("sysctl net.core.busy_poll:"))
        .expect("busy_poll line");
    assert!(
        busy.starts_with("FAIL  ") && busy.contains(&format!("want = {}", busy_poll + 1)),
        "{busy}"
    );
}

#[test]
fn a_profile_the_host_meets_has_no_sysctl_fail() {
    let s = Setup::new();
    let profile = s.write("met.conf", &profile_of_this_host());
    let out = s.doctor(&profile, &[]);
    let lines = stdout_lines(&out);
    let sysctl: Vec<&String> = lines
        .iter()
        .filter(|l| l[6..].starts_with("sysctl "))
        .collect();
    assert_eq!(sysctl.len(), 4, "{lines:?}");
    assert!(sysctl.iter().all(|l| l.starts_with("PASS  ")), "{sysctl:?}");
    // The exit code says whether anything at all failed.
    let failed = lines.iter().any(|l| l.starts_with("FAIL  "));
    assert_eq!(
        out.status.code(),
        Some(if failed { 1 } else { 0 }),
        "{lines:?}"
    );
}

#[test]
fn shard_cores_this_host_lacks_fail() {
    let s = Setup::new();
    let profile = s.write("met.conf", &profile_of_this_host());
    let text = std::fs::read_to_string(s.config()).unwrap();
    std::fs::write(s.config(), text.replace("cores = [0]", "cores = [0, 4095]")).unwrap();
    let out = s.doctor(&profile, &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stdout_lines(&out);
    let cpu = lines.iter().find(|l| l.contains("cpu shards:")).unwrap();
    assert!(
        cpu.starts_with("FAIL  ") && cpu.contains("cores 4095 do not exist"),
        "{cpu}"
    );
}

#[test]
fn json_has_the_same_checks() {
    let s = Setup::new();
    let profile = s.write("met.conf", &profile_of_this_host());
    let text = stdout_lines(&s.doctor(&profile, &[]));
    let out = s.doctor(&profile, &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), text.len());
    for c in checks {
        assert!(
            ["pass", "warn", "fail", "skip"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        assert!(c["check"].is_string() && c["found"].is_string(), "{c}");
    }
    assert_eq!(
        v["config"].as_str().unwrap(),
        s.config().display().to_string()
    );
}

#[test]
fn named_profiles_resolve_in_tuning() {
    let s = Setup::new();
    for name in ["throughput", "low-latency"] {
        let out = s.doctor(Path::new(name), &[]);
        let lines = stdout_lines(&out);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("sysctl net.core.rmem_max:")),
            "{name}: {lines:?}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("tuning/{name}.conf")), "{stderr}");
    }
}

#[test]
fn unknown_or_broken_profiles_are_errors() {
    let s = Setup::new();
    let out = s.doctor(Path::new("no-such-profile"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("profile `no-such-profile` not found"),
        "{stderr}"
    );

    let bad = s.write("bad.conf", "# fine\nnet.core.rmem_max 4\n");
    let out = s.doctor(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.conf:2: "), "{stderr}");
}
