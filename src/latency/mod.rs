//! Latency histograms (issue 5): HdrHistograms of microseconds, recorded on a shard without
//! locks or atomics, carried to the aggregator as interval histograms, exported as
//! Prometheus buckets ([`buckets`]) and appended to HdrHistogram interval logs ([`hlog`]).
//!
//! Every histogram here has the same shape: 1 µs to [`LATENCY_MAX_MICROS`] at
//! [`SIGNIFICANT_DIGITS`] significant digits (values within 0.1% of what was recorded);
//! larger values saturate at the maximum, negative ones (a clock stepped back) count as 0.

pub mod buckets;
pub mod hlog;

use std::cell::{Cell, RefCell};

use hdrhistogram::Histogram;

/// Largest latency a histogram tells apart, microseconds (1 hour); larger ones are recorded
/// as this.
pub const LATENCY_MAX_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits every histogram keeps.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty histogram of the shape every latency histogram here has.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// Latencies recorded over one interval, as a shard sends them to the aggregator.
#[derive(Debug, Clone)]
pub struct IntervalHistogram {
    /// The recorded latencies, microseconds.
    pub histogram: Histogram<u64>,
    /// Exact sum of the recorded latencies (after saturation), microseconds.
    pub sum_micros: u64,
    /// Start and end of the interval, microseconds since the Unix epoch.
    pub start_unix_micros: i64,
    pub end_unix_micros: i64,
}

impl Default for IntervalHistogram {
    fn default() -> Self {
        Self {
            histogram: new_histogram(),
            sum_micros: 0,
            start_unix_micros: 0,
            end_unix_micros: 0,
        }
    }
}

impl IntervalHistogram {
    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Add `other`'s latencies to these, widening the interval to cover both.
    pub fn merge(&mut self, other: &IntervalHistogram) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
        if other.start_unix_micros != 0
            && (self.start_unix_micros == 0 || other.start_unix_micros < self.start_unix_micros)
        {
            self.start_unix_micros = other.start_unix_micros;
        }
        self.end_unix_micros = self.end_unix_micros.max(other.end_unix_micros);
    }
}

/// A shard's receive→ack latency histogram (single-threaded, like the rest of
/// [`crate::stats::ShardStats`]).
#[derive(Debug)]
pub struct Recorder {
    histogram: RefCell<Histogram<u64>>,
    sum_micros: Cell<u64>,
    /// Start of the current interval, microseconds since the Unix epoch.
    since_unix_micros: Cell<i64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            histogram: RefCell::new(new_histogram()),
            sum_micros: Cell::new(0),
            since_unix_micros: Cell::new(crate::event::unix_micros_now()),
        }
    }
}

impl Recorder {
    /// Record the latency from `from_unix_micros` to `to_unix_micros` (saturating at both
    /// ends: see the module docs).
    #[inline]
    pub fn record_between(&self, from_unix_micros: i64, to_unix_micros: i64) {
        let micros = to_unix_micros
            .saturating_sub(from_unix_micros)
            .clamp(0, LATENCY_MAX_MICROS as i64) as u64;
        self.histogram.borrow_mut().saturating_record(micros);
        self.sum_micros.set(self.sum_micros.get() + micros);
    }

    /// Take what was recorded since the last take (or the start) as an interval ending now,
    /// and start a new interval.
    pub fn take_interval(&self) -> IntervalHistogram {
        let now = crate::event::unix_micros_now();
        let histogram = self.histogram.replace(new_histogram());
        IntervalHistogram {
            histogram,
            sum_micros: self.sum_micros.replace(0),
            start_unix_micros: self.since_unix_micros.replace(now),
            end_unix_micros: now,
        }
    }

    /// Put back an interval that could not be sent, so the next one carries it.
    pub fn restore(&self, interval: &IntervalHistogram) {
        let _ = self.histogram.borrow_mut().add(&interval.histogram);
        self.sum_micros
            .set(self.sum_micros.get() + interval.sum_micros);
        if interval.start_unix_micros < self.since_unix_micros.get() {
            self.since_unix_micros.set(interval.start_unix_micros);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_saturating_and_takes_intervals() {
        let r = Recorder::default();
        r.record_between(1_000, 3_500); // 2.5 ms
        r.record_between(5_000, 4_000); // clock stepped back: 0
        r.record_between(0, i64::MAX); // beyond an hour: saturates
        let a = r.take_interval();
        assert_eq!(a.count(), 3);
        assert_eq!(a.sum_micros, 2_500 + LATENCY_MAX_MICROS);
        assert_eq!(a.histogram.min(), 0);
        assert!(a.histogram.max() >= LATENCY_MAX_MICROS);
        assert!(a.end_unix_micros >= a.start_unix_micros);
        let b = r.take_interval();
        assert_eq!(b.count(), 0, "a take starts a new interval");
        assert_eq!(b.start_unix_micros, a.end_unix_micros);
    }

    #[test]
    fn restore_puts_an_unsent_interval_back() {
        let r = Recorder::default();
        r.record_between(0, 10);
        let unsent = r.take_interval();
        r.record_between(0, 20);
        r.restore(&unsent);
        let next = r.take_interval();
        assert_eq!(next.count(), 2);
        assert_eq!(next.sum_micros, 30);
        assert_eq!(next.start_unix_micros, unsent.start_unix_micros);
    }

    #[test]
    fn merge_adds_counts_and_widens_the_interval() {
        let mut a = IntervalHistogram::default();
        let mut b = IntervalHistogram::default();
        a.histogram.saturating_record(1_000);
        a.sum_micros = 1_000;
        (a.start_unix_micros, a.end_unix_micros) = (100, 200);
        b.histogram.saturating_record_n(3_000, 3);
        b.sum_micros = 9_000;
        (b.start_unix_micros, b.end_unix_micros) = (50, 180);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        assert_eq!(a.sum_micros, 10_000);
        assert_eq!((a.start_unix_micros, a.end_unix_micros), (50, 200));
        assert!(a
            .histogram
            .equivalent(a.histogram.value_at_quantile(0.5), 3_000));
        let mut empty = IntervalHistogram::default();
        empty.merge(&a);
        assert_eq!(
            empty.start_unix_micros, 50,
            "an empty interval takes the other's start"
        );
    }
}
