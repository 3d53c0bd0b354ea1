//! The Debian package (scripts/package-deb.sh), built from the test's debug binary (no second,
//! release build): it lists what an install needs, its unit passes `systemd-analyze verify`
//! (offline, against the extracted package plus the host's own systemd units as the root) and
//! scores as hardened in `systemd-analyze security --offline`, and its config loads.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Build the package into `out`; returns the .deb's path.
fn build(out: &Path) -> PathBuf {
    let o = run(Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .arg("--binary")
        .arg(bin())
        .arg("--out")
        .arg(out)
        .args(["--compress", "none"]));
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    PathBuf::from(path)
}

const UNIT: &str = "/usr/lib/systemd/system/linerate.service";

#[test]
fn package_builds_lists_its_files_and_its_unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build(dir.path());
    assert!(deb.is_file(), "{deb:?}");
    assert!(deb
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("linerate_0."));

    // Contents: what an install needs, each where Debian and the unit expect it.
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let files: BTreeSet<String> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    for want in [
        "/usr/bin/linerate",
        "/etc/linerate/linerate.toml",
        "/etc/linerate/tuning/throughput.conf",
        "/etc/linerate/tuning/low-latency.conf",
        UNIT,
        "/usr/lib/sysctl.d/60-linerate.conf",
        "/usr/share/linerate/tuning/nic.sh",
        "/usr/share/linerate/prometheus/linerate-rules.yml",
        "/usr/share/linerate/grafana/linerate-fleet.json",
        "/usr/share/linerate/kubernetes/kafka-cluster.yaml",
        "/usr/share/doc/linerate/README.md",
        "/usr/share/doc/linerate/copyright",
    ] {
        assert!(files.contains(want), "{want} missing:\n{listing}");
    }
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x root/root") && l.ends_with("./usr/bin/linerate")),
        "binary not root-owned and executable:\n{listing}"
    );
    let field = |name: &str| {
        let o = run(Command::new("dpkg-deb").arg("--field").arg(&deb).arg(name));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(field("Package"), "linerate");
    assert!(field("Depends").contains("adduser"));

    // Extract: control files and the tree.
    let root = dir.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(conffiles
        .lines()
        .any(|l| l == "/etc/linerate/linerate.toml"));
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    run(Command::new("sh").arg("-n").arg(control.join("postinst")));

    // The packaged binary is the one given, and runs.
    run(Command::new(root.join("usr/bin/linerate")).arg("--version"));
    // The sysctl drop-in is the throughput profile.
    assert_eq!(
        std::fs::read(root.join("usr/lib/sysctl.d/60-linerate.conf")).unwrap(),
        std::fs::read(repo().join("tuning/throughput.conf")).unwrap()
    );

    // The unit: its own user, only the capabilities it needs, read-only system but its
    // state directory, the limits.
    let unit = std::fs::read_to_string(root.join(&UNIT[1..])).unwrap();
    let key = |k: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(key("User"), ["linerate"]);
    assert_eq!(key("ProtectSystem"), ["strict"]);
    assert_eq!(key("NoNewPrivileges"), ["yes"]);
    assert_eq!(key("StateDirectory"), ["linerate"]);
    assert_eq!(key("ReadWritePaths"), ["/var/lib/linerate"]);
    assert_eq!(key("LimitNOFILE").len(), 1);
    assert_eq!(key("LimitMEMLOCK").len(), 1);
    let caps: BTreeSet<String> = key("CapabilityBoundingSet")
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect();
    assert_eq!(
        caps,
        BTreeSet::from([
            "CAP_IPC_LOCK".to_string(),
            "CAP_NET_BIND_SERVICE".to_string()
        ])
    );
    assert!(key("ExecStart")[0].starts_with("/usr/bin/linerate run --config /etc/linerate/"));

    // The packaged config loads, and its data_dir is where the unit may write.
    let cfg = linerate::config::Config::load(&root.join("etc/linerate/linerate.toml"))
        .expect("packaged config loads");
    assert!(
        cfg.buffer.data_dir.starts_with("/var/lib/linerate"),
        "{:?}",
        cfg.buffer.data_dir
    );

    // systemd-analyze verify, offline: the package's tree as the root, with the host's own
    // units beside ours (targets the unit orders itself against). Any warning (an unknown
    // key, a missing executable) fails.
    let units = root.join("usr/lib/systemd/system");
    for host_units in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        if Path::new(host_units).join("sysinit.target").is_file() {
            run(Command::new("cp")
                .args(["-an", &format!("{host_units}/.")])
                .arg(&units));
            break;
        }
    }
    let verify = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg(UNIT));
    let warnings = String::from_utf8_lossy(&verify.stderr);
    assert!(
        warnings.trim().is_empty(),
        "systemd-analyze verify:\n{warnings}"
    );

    // And it is hardened: systemd's own exposure score (0 best, 10 worst) says "OK" or better.
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", root.display()))
        .arg(UNIT));
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for linerate.service: ")
                .nth(1)
        })
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level:\n{text}"));
    assert!(score <= 4.0, "exposure {score}:\n{text}");
}

#[test]
fn verify_rejects_a_broken_unit() {
    // The same offline verification on a unit whose ExecStart does not exist and one with a
    // misspelt key: the test above would catch either.
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for host_units in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        if Path::new(host_units).join("sysinit.target").is_file() {
            run(Command::new("cp")
                .args(["-an", &format!("{host_units}/.")])
                .arg(&units));
            break;
        }
    }
    let unit = std::fs::read_to_string(repo().join("deploy/debian/linerate.service")).unwrap();
    std::fs::write(units.join("linerate.service"), &unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", dir.path().display()))
        .arg(UNIT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("/usr/bin/linerate is not executable"),
        "{stderr}"
    );
    // With the executable there but a key misspelt: a warning on stderr.
    std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
    std::fs::copy(bin(), dir.path().join("usr/bin/linerate")).unwrap();
    std::fs::write(
        units.join("linerate.service"),
        unit.replace("ProtectSystem=strict", "ProtectSystm=strict"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", dir.path().display()))
        .arg(UNIT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unknown key 'ProtectSystm'"), "{stderr}");
}
