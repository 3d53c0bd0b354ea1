//! A latency series loadgen records from several threads: the current interval (taken once
//! a second for the interval log) and the whole run (for the summary).

use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::latency::{new_histogram, IntervalHistogram, LATENCY_MAX_MICROS};

/// Percentiles of a series, milliseconds, as loadgen reports them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `h` (microseconds).
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.3}ms p90={:.3}ms p99={:.3}ms p99.9={:.3}ms max={:.3}ms",
            self.count, self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }
}

#[derive(Debug)]
struct Inner {
    interval: IntervalHistogram,
    total: Histogram<u64>,
}

/// A latency series shared between threads (a lock per recorded batch, not per message).
#[derive(Debug)]
pub struct Series {
    inner: Mutex<Inner>,
}

impl Default for Series {
    fn default() -> Self {
        let interval = IntervalHistogram {
            start_unix_micros: crate::event::unix_micros_now(),
            ..Default::default()
        };
        Self {
            inner: Mutex::new(Inner {
                interval,
                total: new_histogram(),
            }),
        }
    }
}

impl Series {
    /// Record the latencies `to - from` for every `from` in `froms` (all ending at `to`).
    pub fn record_from(&self, froms: impl Iterator<Item = i64>, to_unix_micros: i64) {
        let Ok(mut g) = self.inner.lock() else { return };
        let inner = &mut *g;
        for from in froms {
            let v = to_unix_micros
                .saturating_sub(from)
                .clamp(0, LATENCY_MAX_MICROS as i64) as u64;
            inner.interval.histogram.saturating_record(v);
            inner.interval.sum_micros += v;
            inner.total.saturating_record(v);
        }
    }

    /// Take the current interval (ending now) and start the next.
    pub fn take_interval(&self) -> IntervalHistogram {
        let now = crate::event::unix_micros_now();
        let Ok(mut g) = self.inner.lock() else {
            return IntervalHistogram::default();
        };
        let next = IntervalHistogram {
            start_unix_micros: now,
            ..Default::default()
        };
        let mut taken = std::mem::replace(&mut g.interval, next);
        taken.end_unix_micros = now;
        taken
    }

    /// Everything recorded so far.
    pub fn total(&self) -> Histogram<u64> {
        self.inner
            .lock()
            .map(|g| g.total.clone())
            .unwrap_or_else(|_| new_histogram())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_intervals_and_totals() {
        let s = Series::default();
        s.record_from([1_000, 2_000].into_iter(), 5_000);
        let a = s.take_interval();
        assert_eq!(a.count(), 2);
        assert_eq!(a.sum_micros, 4_000 + 3_000);
        s.record_from(std::iter::once(0), 1_000_000);
        assert_eq!(s.take_interval().count(), 1);
        let p = Percentiles::of(&s.total());
        assert_eq!(p.count, 3);
        assert!((p.max_ms - 1000.0).abs() < 1.0, "{p}");
    }
}
