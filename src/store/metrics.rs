//! The loader's counters, shared between its loop (writer) and the HTTP responder (reader),
//! rendered as Prometheus text (`linerate_store_*`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the COPY latency histogram's buckets.
pub const COPY_SECONDS_BUCKETS: [f64; 10] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// What `linerate store` has done; every field is monotonic except the gauges `lag`,
/// `postgres_up` and `paused`.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    /// Rows committed to `linerate.events`.
    pub rows_written: AtomicU64,
    /// Rows committed to `linerate.dead_letter`.
    pub dead_letters: AtomicU64,
    /// Messages skipped because PostgreSQL already had their offset (replays after a crash).
    pub duplicates_skipped: AtomicU64,
    /// Committed batches.
    pub batches: AtomicU64,
    /// Failed batch attempts (PostgreSQL errors; the batch is retried).
    pub postgres_errors: AtomicU64,
    /// Consumer errors reported by librdkafka.
    pub kafka_errors: AtomicU64,
    /// Whether the last PostgreSQL attempt succeeded.
    pub postgres_up: AtomicBool,
    /// Whether consumption is paused (PostgreSQL slow or down).
    pub paused: AtomicBool,
    copy_buckets: [AtomicU64; COPY_SECONDS_BUCKETS.len()],
    copy_count: AtomicU64,
    copy_sum_us: AtomicU64,
    /// Messages behind the high watermark, per (topic, partition), as of the last batch.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl StoreMetrics {
    /// Record one COPY's duration.
    pub fn observe_copy(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, le) in COPY_SECONDS_BUCKETS.iter().enumerate() {
            if s <= *le {
                self.copy_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.copy_count.fetch_add(1, Ordering::Relaxed);
        self.copy_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        };
        counter(
            &mut o,
            "linerate_store_rows_written_total",
            "Rows committed to linerate.events.",
            &self.rows_written,
        );
        counter(
            &mut o,
            "linerate_store_dead_letters_total",
            "Rows committed to linerate.dead_letter.",
            &self.dead_letters,
        );
        counter(
            &mut o,
            "linerate_store_duplicates_skipped_total",
            "Messages skipped because their offset was already stored.",
            &self.duplicates_skipped,
        );
        counter(
            &mut o,
            "linerate_store_batches_total",
            "Committed COPY transactions.",
            &self.batches,
        );
        counter(
            &mut o,
            "linerate_store_postgres_errors_total",
            "Failed batch attempts (retried).",
            &self.postgres_errors,
        );
        counter(
            &mut o,
            "linerate_store_kafka_errors_total",
            "Consumer errors.",
            &self.kafka_errors,
        );
        let gauge = |o: &mut String, name: &str, help: &str, v: bool| {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                v as u8
            );
        };
        gauge(
            &mut o,
            "linerate_store_postgres_up",
            "1 when the last PostgreSQL attempt succeeded.",
            self.postgres_up.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "linerate_store_paused",
            "1 while consumption is paused for PostgreSQL.",
            self.paused.load(Ordering::Relaxed),
        );
        let _ = writeln!(o, "# HELP linerate_store_copy_seconds COPY transaction latency.\n# TYPE linerate_store_copy_seconds histogram");
        for (i, le) in COPY_SECONDS_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "linerate_store_copy_seconds_bucket{{le=\"{le}\"}} {}",
                self.copy_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.copy_count.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "linerate_store_copy_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "linerate_store_copy_seconds_sum {}\nlinerate_store_copy_seconds_count {count}",
            self.copy_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "# HELP linerate_store_lag_messages Messages behind the partition's high watermark.\n# TYPE linerate_store_lag_messages gauge");
        if let Ok(lag) = self.lag.lock() {
            for ((topic, p), v) in lag.iter() {
                let _ = writeln!(
                    o,
                    "linerate_store_lag_messages{{topic=\"{topic}\",partition=\"{p}\"}} {v}"
                );
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = StoreMetrics::default();
        m.observe_copy(Duration::from_millis(30));
        let t = m.render();
        assert!(
            t.contains("linerate_store_copy_seconds_bucket{le=\"0.025\"} 0"),
            "{t}"
        );
        assert!(
            t.contains("linerate_store_copy_seconds_bucket{le=\"0.05\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("linerate_store_copy_seconds_bucket{le=\"+Inf\"} 1"),
            "{t}"
        );
    }
}
