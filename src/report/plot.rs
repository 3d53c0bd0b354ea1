//! The report's SVG plots (plotters' SVG backend; text is left to the viewer's fonts).

use std::path::Path;

use plotters::prelude::*;

use crate::report::{ReportError, Series};

/// Size of every plot, pixels.
const SIZE: (u32, u32) = (960, 540);
/// Deepest percentile plotted: 99.999% (five nines).
const NINES_MAX: f64 = 5.0;
/// Points per nine on the percentile axis.
const STEPS_PER_NINE: usize = 40;

fn plot_error(path: &Path) -> impl Fn(String) -> ReportError + '_ {
    move |reason| ReportError::Plot {
        path: path.to_path_buf(),
        reason,
    }
}

/// "99.9%" for 3 nines.
fn nines_label(x: f64) -> String {
    let q = 1.0 - 10f64.powf(-x);
    let pct = q * 100.0;
    let digits = (x - 2.0).ceil().clamp(0.0, 6.0) as usize;
    format!("{pct:.digits$}%")
}

fn color(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Latency by percentile, one line per series; the x axis is in nines (90%, 99%, 99.9% …),
/// as HdrHistogram plots it, up to what each series' count supports.
pub fn percentiles(path: &Path, series: &[Series]) -> Result<(), ReportError> {
    let err = plot_error(path);
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|s| !s.total.is_empty())
        .map(|s| {
            let nines = (s.total.len() as f64).log10().clamp(1.0, NINES_MAX);
            let steps = (nines * STEPS_PER_NINE as f64) as usize;
            let pts = (0..=steps)
                .map(|i| {
                    let x = i as f64 / STEPS_PER_NINE as f64;
                    let q = 1.0 - 10f64.powf(-x);
                    (x, s.total.value_at_quantile(q) as f64 / 1000.0)
                })
                .collect();
            (s.name.clone(), pts)
        })
        .collect();
    let x_max = curves
        .iter()
        .filter_map(|(_, p)| p.last().map(|l| l.0))
        .fold(1.0, f64::max);
    let y_max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|v| v.1))
        .fold(0.001, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency by percentile", ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_labels((x_max as usize + 1).max(2))
        .x_label_formatter(&|x| nines_label(*x))
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, pts)) in curves.into_iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// Events per second over time, one line per series.
pub fn throughput(path: &Path, series: &[Series]) -> Result<(), ReportError> {
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.points.iter().map(|p| (p.at_secs, p.rate)).collect(),
            )
        })
        .collect();
    lines_plot(
        path,
        "Throughput (events per second, per interval)",
        "events/s",
        &lines,
    )
}

/// p50, p99, p99.9 and max of each interval of one series, over time.
pub fn over_time(path: &Path, s: &Series) -> Result<(), ReportError> {
    type Get = fn(&crate::report::Point) -> f64;
    let parts: [(&str, Get); 4] = [
        ("p50", |p| p.p50_ms),
        ("p99", |p| p.p99_ms),
        ("p99.9", |p| p.p999_ms),
        ("max", |p| p.max_ms),
    ];
    let lines: Vec<(String, Vec<(f64, f64)>)> = parts
        .iter()
        .map(|(n, get)| {
            (
                (*n).to_string(),
                s.points.iter().map(|p| (p.at_secs, get(p))).collect(),
            )
        })
        .collect();
    lines_plot(
        path,
        &format!("{}: latency per interval", s.name),
        "latency (ms)",
        &lines,
    )
}

fn lines_plot(
    path: &Path,
    caption: &str,
    y_desc: &str,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Result<(), ReportError> {
    let err = plot_error(path);
    let all = || lines.iter().flat_map(|(_, p)| p.iter());
    let x_max = all().map(|p| p.0).fold(1.0, f64::max);
    let y_max = all().map(|p| p.1).fold(0.001, f64::max) * 1.05;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_are_labelled_as_percentiles() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(5.0), "99.999%");
    }
}
