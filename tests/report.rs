//! `linerate report` on a small recorded run (`tests/data/report/`: the appliance's data
//! directory with its `latency/receive-to-ack-*.hlog` and loadgen's `--hlog-dir`, from 40,000
//! messages at 20,000/s against a debug build): the real binary writes the HTML page, the SVG
//! plots, the text distribution and the summary.

use std::path::Path;
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_linerate")
}

#[test]
fn report_of_a_recorded_run_writes_html_and_svg() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(bin())
        .args(["report", "--input"])
        .arg(data.join("appliance"))
        .arg(data.join("loadgen"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
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
