//! The shard's own choice of each record's partition, so that the producer gets one
//! `rd_kafka_produce_batch` call per (topic, partition) instead of running librdkafka's
//! partitioner, and looking the partition up, for every record.
//!
//! Guarantees:
//! - A keyed record goes to the partition librdkafka's default partitioner
//!   (`consistent_random`, and `consistent`) would choose: CRC-32 of the key modulo the
//!   topic's partition count (`rd_crc32` is zlib's CRC-32, which is `crc32fast::hash`). So
//!   the key → partition mapping, and with it the per-host order, is the one users had.
//! - A record without a key, a topic whose partition count is not known (missing, metadata
//!   not fetched yet) and a configured `partitioner` we do not mirror all go through
//!   librdkafka's partitioner as before ([`UNASSIGNED`]).
//! - The counts come from the shard's own producer's metadata, fetched off the shard's
//!   thread ([`spawn_refresh`]) at start-up and every `partitions_refresh_ms`; the shard only
//!   reads an atomic per topic and batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// librdkafka's `RD_KAFKA_PARTITION_UA`: its partitioner chooses.
pub const UNASSIGNED: i32 = -1;

/// How long one metadata request of the refresh may take.
const METADATA_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The `partitioner` values whose choice for a non-empty key [`partition_of`] reproduces.
const MIRRORED_PARTITIONERS: [&str; 2] = ["consistent_random", "consistent"];

/// Whether the partitioner `properties` configure (librdkafka's `partitioner`, also
/// spelled `topic.partitioner`; the later entry wins, as librdkafka applies them in order)
/// is one [`partition_of`] mirrors; true when none is set (the default, `consistent_random`).
pub fn mirrors_partitioner(properties: &BTreeMap<String, String>) -> bool {
    properties
        .iter()
        .rfind(|(k, _)| *k == "partitioner" || *k == "topic.partitioner")
        .is_none_or(|(_, v)| MIRRORED_PARTITIONERS.contains(&v.as_str()))
}

/// The partition librdkafka's default partitioner chooses for `key` among `count`
/// partitions, or [`UNASSIGNED`] when the key is empty (librdkafka spreads those itself,
/// sticky or random) or the count is unknown (0).
pub fn partition_of(key: &[u8], count: u32) -> i32 {
    if key.is_empty() || count == 0 {
        return UNASSIGNED;
    }
    // `count` comes from metadata (an i32 there), so the remainder fits an i32.
    (crc32fast::hash(key) % count) as i32
}

/// Above this many partitions a topic's records are grouped by a sort rather than by
/// counting (whose cost grows with the partition count).
const COUNTING_PARTITIONS_MAX: u32 = 4096;

/// Groups a topic's records by partition, reusing its buffers from batch to batch.
#[derive(Debug, Default)]
pub struct PartitionGroups {
    /// Each record's partition and index, in push order.
    pushed: Vec<(i32, u32)>,
    /// The same, grouped.
    grouped: Vec<(i32, u32)>,
    /// Where each partition's group starts in `grouped` (counting sort).
    starts: Vec<u32>,
}

impl PartitionGroups {
    /// The order to hand a topic's records (with `keys`, in push order) over in: each
    /// record's partition ([`partition_of`] among `count`) and index, grouped by partition
    /// in ascending order with [`UNASSIGNED`] last, push order kept within a group, so each
    /// run of one partition is one call. With `count` 0 (unknown), all unassigned in push
    /// order.
    pub fn group<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>, count: u32) -> &[(i32, u32)] {
        self.pushed.clear();
        for (i, key) in keys.enumerate() {
            self.pushed.push((partition_of(key, count), i as u32));
        }
        if count == 0 {
            return &self.pushed;
        }
        if count > COUNTING_PARTITIONS_MAX {
            // Unassigned (-1) sorts last; the index makes the unstable sort keep push order.
            self.pushed.sort_unstable_by_key(|&(p, i)| (p as u32, i));
            return &self.pushed;
        }
        // A counting sort: O(records + partitions), stable. Group `count` is unassigned.
        let group = |p: i32| {
            if p == UNASSIGNED {
                count as usize
            } else {
                p as usize
            }
        };
        self.starts.clear();
        self.starts.resize(count as usize + 2, 0);
        for &(p, _) in &self.pushed {
            self.starts[group(p) + 1] += 1;
        }
        for g in 1..self.starts.len() {
            self.starts[g] += self.starts[g - 1];
        }
        self.grouped.clear();
        self.grouped.resize(self.pushed.len(), (UNASSIGNED, 0));
        for &(p, i) in &self.pushed {
            let at = &mut self.starts[group(p)];
            self.grouped[*at as usize] = (p, i);
            *at += 1;
        }
        &self.grouped
    }
}

/// The partition counts of a shard's topics, by topic index: 0 while unknown. Written by
/// the refresh thread, read by the shard (one relaxed load per topic and batch).
#[derive(Debug, Default)]
pub struct PartitionCounts {
    counts: [AtomicU32; crate::buffer::acks::TOPICS_MAX],
}

impl PartitionCounts {
    /// The partition count of topic `t`, 0 when unknown.
    pub fn get(&self, t: usize) -> u32 {
        self.counts[t].load(Ordering::Relaxed)
    }

    /// Set topic `t`'s count (0: unknown).
    pub fn set(&self, t: usize, count: u32) {
        self.counts[t].store(count, Ordering::Relaxed);
    }
}

/// Fetch the partition counts of `topics` (topic index, name) through `producer` now and
/// then every `interval`, on a thread of its own, into `counts`. Fetching through the
/// shard's own producer also refreshes that producer's view of the topics, so the counts
/// the shard uses and the ones librdkafka checks partitions against agree. A topic the
/// metadata reports with an error (missing...) goes back to unknown; a failed request
/// leaves the counts as they were (partitions never shrink). The thread ends when `stop`'s
/// sender is dropped (with the sink) or the producer is gone.
pub fn spawn_refresh<C: ProducerContext + 'static>(
    producer: Weak<BaseProducer<C>>,
    topics: Vec<(usize, String)>,
    counts: Arc<PartitionCounts>,
    interval: Duration,
    stop: Receiver<()>,
    name: String,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(move || loop {
        {
            let Some(producer) = producer.upgrade() else {
                return;
            };
            for (t, name) in &topics {
                if let Some(count) = fetch_count(&producer, name) {
                    counts.set(*t, count);
                }
            }
        }
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    })?;
    Ok(())
}

/// `topic`'s partition count from a metadata request: `Some(0)` when the cluster reports
/// the topic with an error, `None` when the request failed.
fn fetch_count<C: ProducerContext>(producer: &BaseProducer<C>, topic: &str) -> Option<u32> {
    let md = match producer
        .client()
        .fetch_metadata(Some(topic), METADATA_FETCH_TIMEOUT)
    {
        Ok(md) => md,
        Err(e) => {
            tracing::debug!(topic, error = %e, "partition count refresh failed; keeping the last count");
            return None;
        }
    };
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() {
        return Some(0);
    }
    Some(u32::try_from(t.partitions().len()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_crc32_partitioners_are_mirrored() {
        assert!(mirrors_partitioner(&props(&[])));
        assert!(mirrors_partitioner(&props(&[("linger.ms", "5")])));
        assert!(mirrors_partitioner(&props(&[(
            "partitioner",
            "consistent_random"
        )])));
        assert!(mirrors_partitioner(&props(&[(
            "partitioner",
            "consistent"
        )])));
        for other in [
            "murmur2",
            "murmur2_random",
            "fnv1a",
            "fnv1a_random",
            "random",
        ] {
            assert!(!mirrors_partitioner(&props(&[("partitioner", other)])));
            assert!(!mirrors_partitioner(&props(&[(
                "topic.partitioner",
                other
            )])));
        }
        // librdkafka applies `topic.partitioner` after `partitioner` (sorted order).
        assert!(!mirrors_partitioner(&props(&[
            ("partitioner", "consistent"),
            ("topic.partitioner", "murmur2")
        ])));
    }

    #[test]
    fn a_key_maps_to_its_crc32_modulo_the_count_and_no_key_to_unassigned() {
        // zlib's CRC-32 check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(partition_of(b"123456789", 7), (0xCBF4_3926u32 % 7) as i32);
        assert_eq!(partition_of(b"web-01", 1), 0);
        assert_eq!(partition_of(b"", 4), UNASSIGNED);
        assert_eq!(partition_of(b"web-01", 0), UNASSIGNED);
        for count in [1u32, 2, 3, 12, 64, 1000] {
            for key in [&b"a"[..], b"host.example.org", b"10.0.0.1"] {
                let p = partition_of(key, count);
                assert!((0..count as i32).contains(&p));
            }
        }
    }

    #[test]
    fn grouping_keeps_push_order_within_a_partition_and_puts_unkeyed_last() {
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"", b"a", b"c", b"b", b"", b"a", b"d", b"e"];
        let mut groups = PartitionGroups::default();
        // Counting (3 partitions) and sorting (more than COUNTING_PARTITIONS_MAX) agree.
        for count in [3, COUNTING_PARTITIONS_MAX + 1, 3] {
            let order = groups.group(keys.iter().copied(), count).to_vec();
            assert_grouped(&keys, count, &order);
        }
    }

    fn assert_grouped(keys: &[&[u8]], count: u32, order: &[(i32, u32)]) {
        assert_eq!(order.len(), keys.len());
        // Runs: one partition per run, ascending, unassigned at the end.
        let partitions: Vec<i32> = order.iter().map(|o| o.0).collect();
        let mut runs = partitions.clone();
        runs.dedup();
        let mut distinct = runs.clone();
        distinct.sort_by_key(|p| *p as u32);
        distinct.dedup();
        assert_eq!(runs, distinct, "each partition is one run: {partitions:?}");
        assert_eq!(runs.last(), Some(&UNASSIGNED));
        for run in order.chunk_by(|x, y| x.0 == y.0) {
            let idx: Vec<u32> = run.iter().map(|o| o.1).collect();
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "push order: {idx:?}");
            for &(p, i) in run {
                assert_eq!(p, partition_of(keys[i as usize], count));
            }
        }
        // Every record exactly once.
        let mut all: Vec<u32> = order.iter().map(|o| o.1).collect();
        all.sort_unstable();
        assert_eq!(all, (0..keys.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn an_unknown_count_leaves_every_record_unassigned_in_push_order() {
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"", b"a"];
        let mut groups = PartitionGroups::default();
        groups.group(keys.iter().copied(), 5);
        let order = groups.group(keys.iter().copied(), 0);
        assert_eq!(order, [(-1, 0), (-1, 1), (-1, 2), (-1, 3)]);
    }
}
