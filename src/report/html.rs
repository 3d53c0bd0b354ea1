//! The report's text: HdrHistogram's percentile distribution per series, and the HTML page.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::report::{Series, Summary};

/// Percentile steps per halving of the remaining distance (HdrHistogram's default is 5).
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Every series' percentile distribution, in HdrHistogram's `outputPercentileDistribution`
/// layout (values in milliseconds).
pub fn distributions(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let h = &s.total;
        let _ = writeln!(out, "# {}", s.name);
        let _ = writeln!(
            out,
            "{:>12} {:>14} {:>10} {:>14}\n",
            "Value(ms)", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            let q = v.quantile_iterated_to();
            let inv = if q < 1.0 {
                format!("{:>14.2}", 1.0 / (1.0 - q))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{:>12.3} {:>14.12} {:>10} {inv}",
                v.value_iterated_to() as f64 / 1000.0,
                q,
                // Count up to and including this value.
                h.count_between(0, v.value_iterated_to()),
            );
        }
        let _ = writeln!(
            out,
            "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n#[Max     = {:>12.3}, Total count    = {:>12}]\n",
            h.mean() / 1000.0,
            h.stdev() / 1000.0,
            h.max() as f64 / 1000.0,
            h.len()
        );
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report page: inputs, summary table, the plots, the distributions.
pub fn page(
    title: &str,
    inputs: &[PathBuf],
    summaries: &[Summary],
    svgs: &[PathBuf],
    distributions: &str,
) -> String {
    let mut h = String::new();
    let t = escape(title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #aaa;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;border:1px solid #ddd;margin:1em 0}}</style></head><body>\n<h1>{t}</h1>\n<p>Inputs: "
    );
    for (i, d) in inputs.iter().enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        let _ = write!(h, "{sep}<code>{}</code>", escape(&d.display().to_string()));
    }
    h.push_str("</p>\n<p>appliance: receive→ack (a shard received the event → Kafka acknowledged every topic of it); loadgen send-lag: due → written to the socket; loadgen send-to-kafka: due → consumed from the topic.</p>\n<h2>Summary (ms)</h2>\n<table><tr><th>series</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
    for s in summaries {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            escape(&s.series),
            s.count,
            s.mean_ms,
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.p999_ms,
            s.max_ms
        );
    }
    h.push_str("</table>\n<h2>Plots</h2>\n");
    for svg in svgs {
        let name = svg
            .file_name()
            .and_then(|n| n.to_str())
            .map(escape)
            .unwrap_or_default();
        let _ = writeln!(h, "<p><img src=\"{name}\" alt=\"{name}\"></p>");
    }
    let _ = write!(
        h,
        "<h2>Percentile distributions</h2>\n<p>Also in <a href=\"distribution.txt\">distribution.txt</a>; numbers in <a href=\"summary.json\">summary.json</a>.</p>\n<pre>{}</pre>\n</body></html>\n",
        escape(distributions)
    );
    h
}
