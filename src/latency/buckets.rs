//! Prometheus histogram buckets from HdrHistograms: fixed bounds, cumulative counts kept
//! per shard by the aggregator (`_bucket`, `_sum`, `_count`).

use hdrhistogram::Histogram;

/// Upper bounds of the exported buckets, microseconds (`le` in seconds: 0.5 ms … 60 s, and
/// `+Inf`). Dense around the 5 ms default linger, where receive→ack latency sits.
pub const BUCKET_BOUNDS_MICROS: [u64; 20] = [
    500, 1_000, 2_500, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 50_000, 75_000, 100_000,
    250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Cumulative bucket counts, exact sum and count of latencies (one shard's, since start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets {
    /// `counts[i]`: latencies at most `BUCKET_BOUNDS_MICROS[i]` (cumulative, as Prometheus
    /// wants them); the `+Inf` bucket is `count`.
    pub counts: [u64; BUCKET_BOUNDS_MICROS.len()],
    /// Sum of the latencies, microseconds.
    pub sum_micros: u64,
    /// Number of latencies.
    pub count: u64,
}

impl Buckets {
    /// Add the latencies of `h` (whose exact sum is `sum_micros`).
    ///
    /// A recorded value is compared with a bound by the lowest value HdrHistogram holds as
    /// equivalent to it, so a value within the histogram's precision (0.1%) above a bound
    /// may count below it: the same rule as `Histogram::count_between`.
    pub fn add(&mut self, h: &Histogram<u64>, sum_micros: u64) {
        for v in h.iter_recorded() {
            let value = h.lowest_equivalent(v.value_iterated_to());
            let n = v.count_at_value();
            // Cumulative: the value counts in every bucket whose bound it does not exceed.
            let first = BUCKET_BOUNDS_MICROS.partition_point(|&b| b < value);
            for c in &mut self.counts[first..] {
                *c += n;
            }
        }
        self.count += h.len();
        self.sum_micros = self.sum_micros.saturating_add(sum_micros);
    }
}

/// A bucket bound as Prometheus writes `le`: seconds, shortest decimal form.
pub fn le_label(bound_micros: u64) -> String {
    let secs = bound_micros as f64 / 1e6;
    format!("{secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_counts_are_monotone_and_end_at_count() {
        let mut h = crate::latency::new_histogram();
        for v in [
            100,
            499,
            500,
            501,
            4_000,
            6_000,
            6_000,
            2_000_000,
            3_600_000_000,
        ] {
            h.saturating_record(v);
        }
        let mut b = Buckets::default();
        b.add(&h, 42);
        assert_eq!(b.counts[0], 3, "100, 499 and 500 are <= 0.5 ms");
        assert_eq!(b.counts[1], 4, "501 is <= 1 ms");
        assert_eq!(b.counts[3], 5, "4 ms is <= 5 ms");
        assert_eq!(b.counts[4], 7, "6 ms twice is <= 7.5 ms");
        assert_eq!(b.counts[15], 8, "2 s is <= 2.5 s");
        assert_eq!(*b.counts.last().unwrap(), 8, "an hour is only in +Inf");
        assert_eq!(b.count, 9);
        assert_eq!(b.sum_micros, 42);
        assert!(b.counts.windows(2).all(|w| w[0] <= w[1]));
        // Adding another interval accumulates.
        b.add(&h, 8);
        assert_eq!(b.count, 18);
        assert_eq!(b.counts[0], 6);
        assert_eq!(b.sum_micros, 50);
    }

    #[test]
    fn labels_are_seconds() {
        assert_eq!(le_label(500), "0.0005");
        assert_eq!(le_label(5_000), "0.005");
        assert_eq!(le_label(1_000_000), "1");
        assert_eq!(le_label(2_500_000), "2.5");
    }
}
