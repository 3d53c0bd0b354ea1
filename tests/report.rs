//! `linerate report` on a small recorded run (`tests/data/report/`: the appliance's data
//! directory with its `latency/receive-to-ack-*.hlog` and loadgen's `--hlog-dir`, from 40,000
//! messages at 20,000/s against a debug build): the real binary writes the HTML page, the SVG
//! plots, the text distribution and the summary.

use std::path::Path;
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_linerate")
}

/// A report of the recorded run, made with `extra` arguments: its output directory.
fn report_of_recorded_run(extra: &[&str]) -> tempfile::TempDir {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report");
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(bin())
        .args(["report", "--input"])
        .arg(data.join("appliance"))
        .arg(data.join("loadgen"))
        .arg("--out")
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

#[test]
fn report_of_a_recorded_run_writes_html_and_svg() {
    let out = report_of_recorded_run(&[]);
    let html = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    for svg in [
        "percentiles.svg",
        "throughput.svg",
        "over-time-appliance-overall.svg",
        "over-time-appliance-shard-0.svg",
        "over-time-loadgen-send-to-kafka.svg",
    ] {
        let text =
            std::fs::read_to_string(out.path().join(svg)).unwrap_or_else(|e| panic!("{svg}: {e}"));
        assert!(text.starts_with("<svg"), "{svg}");
        assert!(text.contains("<polyline"), "{svg} has no line");
        assert!(
            html.contains(&format!("<img src=\"{svg}\"")),
            "{svg} not in the page"
        );
    }
    assert!(
        html.contains("<td>appliance overall</td><td>40000</td>"),
        "{html}"
    );
    let dist = std::fs::read_to_string(out.path().join("distribution.txt")).unwrap();
    assert!(dist.contains("# appliance shard-0"));
    assert!(dist.contains("Total count    =        40000"), "{dist}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    let overall = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == "appliance overall")
        .unwrap();
    let (p50, p99) = (
        overall["p50_ms"].as_f64().unwrap(),
        overall["p99_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{overall}");
}

#[test]
fn report_without_logs_fails_with_the_directory_named() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["report", "--input"])
        .arg(empty.path())
        .arg("--out")
        .arg(empty.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no .hlog file"), "{stderr}");
    assert!(
        stderr.contains(&empty.path().display().to_string()),
        "{stderr}"
    );
}

/// `count` of the series `name` in the summary.json of a report of the recorded run made
/// with `extra` arguments.
fn summary_count(name: &str, extra: &[&str]) -> u64 {
    let out = report_of_recorded_run(extra);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    summary
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn skip_secs_leaves_the_warm_up_out_of_every_series() {
    for series in ["appliance overall", "loadgen send-to-kafka"] {
        let all = summary_count(series, &[]);
        let after = summary_count(series, &["--skip-secs", "1"]);
        assert_eq!(all, 40000, "{series}");
        // 2 s at 20,000/s: leaving out the first second leaves part of the run.
        assert!(0 < after && after < all, "{series}: {after} of {all}");
    }
}
