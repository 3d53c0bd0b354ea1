//! `linerate report`: turns latency interval logs (the appliance's `data_dir/latency/*.hlog`,
//! loadgen's `--hlog-dir`) into a report directory: `index.html` with the summary table and
//! the plots, the plots as SVG (percentile distribution per series, latency and throughput
//! over time), `distribution.txt` (HdrHistogram's percentile distribution per series) and
//! `summary.json` (the percentiles, for scripts).
//!
//! A series is one tag of one kind of log: the appliance's `overall` (untagged) and
//! `shard-N`, loadgen's `send-lag` and `send-to-kafka`. Series of several input directories
//! are named after the directory.

pub mod html;
pub mod plot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::latency::hlog::{self, HlogError};

/// `linerate report` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Directories holding `.hlog` files (also looked for in their `latency/`), e.g. the
    /// appliance's data directory and loadgen's `--hlog-dir`.
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<PathBuf>,
    /// The report directory (created; its files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Title of the HTML page.
    #[arg(long, default_value = "linerate latency report")]
    pub title: String,
    /// Leave out, from every series, the intervals that start within this many seconds of
    /// the first interval that recorded anything (a warm-up: connections opening, the
    /// producers' first batches, the ring's first pages), as HdrHistogram's
    /// HistogramLogProcessor `-start` does. 0 keeps everything.
    #[arg(long, default_value_t = 0.0)]
    pub skip_secs: f64,
}

/// What can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hlog(#[from] HlogError),
    #[error("no .hlog file with any interval in {0}")]
    NoInput(String),
    #[error("plotting {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
}

/// One interval of a series, reduced to what the plots need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start, seconds after the report's earliest interval.
    pub at_secs: f64,
    /// Events per second over the interval.
    pub rate: f64,
    /// Percentiles of the interval, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// A named sequence of interval histograms and their merge.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    /// Every interval merged (microseconds).
    pub total: Histogram<u64>,
}

/// Percentiles of a series, milliseconds (`summary.json`, the HTML table).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub series: String,
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Series {
    /// The series' percentiles.
    pub fn summary(&self) -> Summary {
        let h = &self.total;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            series: self.name.clone(),
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

/// The `.hlog` files of `dir` and of `dir/latency`, sorted by path.
fn logs_in(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("latency")] {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if d != dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ReportError::Io { path: d, source }),
        };
        out.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "hlog")),
        );
    }
    out.sort();
    Ok(out)
}

/// The kind of log a file is, from its name (`receive-to-ack-…`, `loadgen-…`).
fn kind_of(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("loadgen-") {
        "loadgen"
    } else {
        "appliance"
    }
}

/// Read every log of `inputs` into series, ordered by name, without the intervals that
/// start within `skip_secs` of the first one that recorded anything.
pub fn collect(inputs: &[PathBuf], skip_secs: f64) -> Result<Vec<Series>, ReportError> {
    // (input index, kind, tag) → intervals.
    let mut found: Vec<(usize, &'static str, String, Vec<hlog::LoggedInterval>)> = Vec::new();
    for (i, dir) in inputs.iter().enumerate() {
        for path in logs_in(dir)? {
            let kind = kind_of(&path);
            for interval in hlog::read(&path)? {
                let tag = interval.tag.clone().unwrap_or_else(|| "overall".into());
                match found
                    .iter_mut()
                    .find(|(fi, fk, ft, _)| *fi == i && *fk == kind && *ft == tag)
                {
                    Some(f) => f.3.push(interval),
                    None => found.push((i, kind, tag, vec![interval])),
                }
            }
        }
    }
    // A kind found in several inputs is told apart by the input's name.
    let inputs_of = |kind: &str| {
        let mut dirs: Vec<usize> = found.iter().filter(|f| f.1 == kind).map(|f| f.0).collect();
        dirs.dedup();
        dirs.len()
    };
    let mut raw: BTreeMap<String, Vec<hlog::LoggedInterval>> = BTreeMap::new();
    for (i, kind, tag, intervals) in &found {
        let name = if inputs_of(kind) > 1 {
            let label = inputs[*i]
                .file_name()
                .and_then(|n| n.to_str())
                .map_or_else(|| format!("input{i}"), str::to_string);
            format!("{label}: {kind} {tag}")
        } else {
            format!("{kind} {tag}")
        };
        raw.entry(name)
            .or_default()
            .extend(intervals.iter().cloned());
    }
    if skip_secs > 0.0 {
        let first = raw
            .values()
            .flatten()
            .filter(|i| !i.histogram.is_empty())
            .map(|i| i.start_unix_micros)
            .min();
        if let Some(first) = first {
            let from = first + (skip_secs * 1e6) as i64;
            for intervals in raw.values_mut() {
                intervals.retain(|i| i.start_unix_micros >= from);
            }
        }
    }
    if raw.values().all(|v| v.is_empty()) {
        let dirs: Vec<String> = inputs.iter().map(|d| d.display().to_string()).collect();
        return Err(ReportError::NoInput(dirs.join(", ")));
    }
    let t0 = raw
        .values()
        .flatten()
        .map(|i| i.start_unix_micros)
        .min()
        .unwrap_or(0);
    let mut out = Vec::with_capacity(raw.len());
    for (name, mut intervals) in raw {
        intervals.sort_by_key(|i| i.start_unix_micros);
        let mut total = Histogram::<u64>::new(crate::latency::SIGNIFICANT_DIGITS)
            .expect("constant precision is valid");
        let mut points = Vec::with_capacity(intervals.len());
        for i in &intervals {
            // An auto-resizing histogram takes any range.
            let _ = total.add(&i.histogram);
            let h = &i.histogram;
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            points.push(Point {
                at_secs: (i.start_unix_micros - t0) as f64 / 1e6,
                rate: h.len() as f64 / i.length.as_secs_f64().max(1e-3),
                p50_ms: ms(0.5),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: h.max() as f64 / 1000.0,
            });
        }
        out.push(Series {
            name,
            points,
            total,
        });
    }
    Ok(out)
}

/// A file-name-safe form of a series name.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The files a report wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub html: PathBuf,
    pub svgs: Vec<PathBuf>,
    pub summaries: Vec<Summary>,
}

/// Write the report of `args.input` into `args.out`.
pub fn write(args: &ReportArgs) -> Result<Written, ReportError> {
    let series = collect(&args.input, args.skip_secs)?;
    std::fs::create_dir_all(&args.out).map_err(|source| ReportError::Io {
        path: args.out.clone(),
        source,
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let mut svgs = Vec::new();
    let p = args.out.join("percentiles.svg");
    plot::percentiles(&p, &series)?;
    svgs.push(p);
    let p = args.out.join("throughput.svg");
    plot::throughput(&p, &series)?;
    svgs.push(p);
    for s in &series {
        let p = args.out.join(format!("over-time-{}.svg", slug(&s.name)));
        plot::over_time(&p, s)?;
        svgs.push(p);
    }
    let summaries: Vec<Summary> = series.iter().map(Series::summary).collect();
    let text = html::distributions(&series);
    let p = args.out.join("distribution.txt");
    std::fs::write(&p, &text).map_err(io(&p))?;
    let p = args.out.join("summary.json");
    let json = serde_json::to_string_pretty(&summaries).unwrap_or_default();
    std::fs::write(&p, json + "\n").map_err(io(&p))?;
    let html_path = args.out.join("index.html");
    let page = html::page(&args.title, &args.input, &summaries, &svgs, &text);
    std::fs::write(&html_path, page).map_err(io(&html_path))?;
    Ok(Written {
        html: html_path,
        svgs,
        summaries,
    })
}

/// `linerate report`: write the report and say where it is.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let w = write(args)?;
    for s in &w.summaries {
        eprintln!(
            "{}: n={} p50={:.3}ms p99={:.3}ms p99.9={:.3}ms max={:.3}ms",
            s.series, s.count, s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms
        );
    }
    println!("{}", w.html.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(slug("appliance shard-0"), "appliance-shard-0");
        assert_eq!(
            slug("run 1: loadgen send-to-kafka"),
            "run-1-loadgen-send-to-kafka"
        );
    }
}
