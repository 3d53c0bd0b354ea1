//! The aggregator's share of receive→ack latency: each shard's interval histograms become
//! cumulative Prometheus buckets (in [`crate::control::aggregator::State`]) and lines of the
//! interval log under `data_dir/latency/`: one line per shard interval (`Tag=shard-N`), and one
//! untagged line per round in which every shard reported (all shards merged).
//!
//! Intervals in which nothing was acknowledged are not written. Events replayed after a
//! restart carry their original receive time, so their latency includes the downtime: a real
//! latency, and it shows in the log and the buckets.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::latency::hlog::{HlogError, HlogWriter};
use crate::latency::IntervalHistogram;

/// File name prefix of the appliance's latency logs.
pub const LOG_PREFIX: &str = "receive-to-ack";
/// Directory of the latency logs, under the data directory.
pub const LOG_DIR: &str = "latency";
/// An overall line is written without the shards that have not reported after this many
/// intervals (a stalled or stopped shard does not hold the others back).
const OVERALL_WAIT_INTERVALS: u32 = 2;

/// Writes the appliance's latency interval log (see the module docs).
#[derive(Debug)]
pub struct LatencyLog {
    writer: HlogWriter,
    overall: IntervalHistogram,
    reported: Vec<bool>,
    pending_since: Option<Instant>,
    interval: Duration,
    /// Whether the last write failed (errors are logged once until a write succeeds).
    failing: bool,
}

impl LatencyLog {
    /// A log in `data_dir/latency/` for `shards` shards reporting every `interval`.
    pub fn open(
        data_dir: &Path,
        shards: usize,
        interval: Duration,
        file_bytes_max: u64,
        files_max: usize,
    ) -> Result<Self, HlogError> {
        let writer = HlogWriter::new(
            &data_dir.join(LOG_DIR),
            LOG_PREFIX,
            "linerate receive-to-ack latency (received by a shard -> acknowledged by Kafka); Tag=shard-N per shard, untagged: all shards",
            file_bytes_max,
            files_max,
        )?;
        Ok(Self {
            writer,
            overall: IntervalHistogram::default(),
            reported: vec![false; shards],
            pending_since: None,
            interval,
            failing: false,
        })
    }

    /// The file being written, once anything was.
    pub fn path(&self) -> Option<&Path> {
        self.writer.path()
    }

    /// Take shard `shard`'s interval: write its line, merge it into the overall one, and
    /// write that when every shard has reported.
    pub fn add(&mut self, shard: usize, h: &IntervalHistogram) {
        if h.count() > 0 {
            let tag = format!("shard-{shard}");
            let r = self
                .writer
                .write(Some(&tag), &h.histogram, h.start_unix_micros, length(h));
            self.note(r);
            self.overall.merge(h);
        }
        if let Some(r) = self.reported.get_mut(shard) {
            *r = true;
        }
        self.pending_since.get_or_insert_with(Instant::now);
        if self.reported.iter().all(|r| *r) {
            self.flush();
        }
    }

    /// Write the overall line if a shard has kept it waiting too long.
    pub fn tick(&mut self) {
        if self
            .pending_since
            .is_some_and(|t| t.elapsed() >= self.interval * OVERALL_WAIT_INTERVALS)
        {
            self.flush();
        }
    }

    /// Write the overall line of what has been merged so far, and start a new round.
    pub fn flush(&mut self) {
        if self.overall.count() > 0 {
            let r = self.writer.write(
                None,
                &self.overall.histogram,
                self.overall.start_unix_micros,
                length(&self.overall),
            );
            self.note(r);
        }
        self.overall = IntervalHistogram::default();
        self.reported.iter_mut().for_each(|r| *r = false);
        self.pending_since = None;
    }

    fn note(&mut self, r: Result<(), HlogError>) {
        match r {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    tracing::error!(error = %e, "latency log: write failed (the Prometheus buckets still count)");
                }
                self.failing = true;
            }
        }
    }
}

fn length(h: &IntervalHistogram) -> Duration {
    Duration::from_micros(
        u64::try_from(h.end_unix_micros.saturating_sub(h.start_unix_micros)).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(start: i64, values: &[u64]) -> IntervalHistogram {
        let mut h = IntervalHistogram::default();
        for &v in values {
            h.histogram.saturating_record(v);
            h.sum_micros += v;
        }
        (h.start_unix_micros, h.end_unix_micros) = (start, start + 1_000_000);
        h
    }

    #[test]
    fn writes_shard_lines_and_an_overall_line_per_round() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LatencyLog::open(dir.path(), 2, Duration::from_secs(1), 1 << 20, 4).unwrap();
        let t0 = 1_764_000_000_000_000;
        log.add(0, &interval(t0, &[1_000, 2_000]));
        log.add(1, &interval(t0 + 10_000, &[3_000]));
        // Second round: shard 1 acknowledged nothing; the overall line has shard 0 only.
        log.add(0, &interval(t0 + 1_000_000, &[4_000]));
        log.add(1, &interval(t0 + 1_000_000, &[]));
        let path = log.path().unwrap().to_path_buf();
        assert!(path.starts_with(dir.path().join("latency")));
        let back = crate::latency::hlog::read(&path).unwrap();
        let tags: Vec<Option<&str>> = back.iter().map(|i| i.tag.as_deref()).collect();
        assert_eq!(
            tags,
            [
                Some("shard-0"),
                Some("shard-1"),
                None,
                Some("shard-0"),
                None
            ]
        );
        let counts: Vec<u64> = back.iter().map(|i| i.histogram.len()).collect();
        assert_eq!(counts, [2, 1, 3, 1, 1]);
        assert_eq!(back[2].start_unix_micros, t0);
        assert_eq!(back[2].length, Duration::from_micros(1_010_000));
    }

    #[test]
    fn a_silent_shard_does_not_hold_the_overall_line_forever() {
        let dir = tempfile::tempdir().unwrap();
        let mut log =
            LatencyLog::open(dir.path(), 2, Duration::from_millis(1), 1 << 20, 4).unwrap();
        log.add(0, &interval(1_764_000_000_000_000, &[1_000]));
        std::thread::sleep(Duration::from_millis(5));
        log.tick();
        let back = crate::latency::hlog::read(log.path().unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].tag, None);
    }
}
