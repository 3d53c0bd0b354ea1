//! `loadgen --verify`: consume the normalized topic while the load runs, match each
//! message's `seq=N t=T r=RUN` to this run, and report loss, duplicates and the latency from
//! each message's intended send time `T` to its consumption (an upper bound of send→Kafka:
//! it includes the consumer's fetch wait).
//!
//! The consumer starts at each partition's high watermark, read before the first message is
//! sent, so earlier runs' messages are not read; a message of another run (`r=` differs) is
//! counted as foreign and otherwise ignored.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::loadgen::series::{Percentiles, Series};

/// How long Kafka metadata and watermark requests may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Missing sequence numbers listed in the report, at most.
const MISSING_LISTED_MAX: usize = 20;
/// Largest sequence number tracked (one byte each); larger ones count as foreign.
const SEQ_TRACKED_MAX: u64 = 1 << 32;

/// What `--verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// Sequence numbers sent (`0..expected`).
    pub expected: u64,
    /// Messages of this run consumed (duplicates included).
    pub consumed: u64,
    /// Sequence numbers never consumed.
    pub lost: u64,
    /// Consumptions beyond the first of a sequence number.
    pub duplicates: u64,
    /// Messages of other runs, without `seq=`, or with one this run did not send.
    pub foreign: u64,
    /// The first missing sequence numbers.
    pub missing: Vec<u64>,
    /// Intended send → consumed from the topic.
    pub latency: Percentiles,
}

#[derive(Debug, Default)]
struct Seen {
    /// Times each sequence number was consumed (saturating).
    counts: Vec<u8>,
    consumed: u64,
    foreign: u64,
}

/// A consumer thread matching this run's messages.
pub struct Verifier {
    stop: Arc<AtomicBool>,
    unique: Arc<AtomicU64>,
    last_unix_micros: Arc<AtomicI64>,
    thread: JoinHandle<Seen>,
}

/// Where a message carries its sequence number, intended send time and run.
pub fn parse_stamp(payload: &[u8]) -> Option<(u64, i64, u64)> {
    let at = memchr::memmem::find(payload, b"seq=")?;
    let rest = &payload[at + 4..];
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b" t=")?;
    let (t, rest) = number(rest)?;
    let rest = rest.strip_prefix(b" r=")?;
    let (run, _) = number(rest)?;
    Some((seq, i64::try_from(t).ok()?, run))
}

fn number(b: &[u8]) -> Option<(u64, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let v = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
    Some((v, &b[n..]))
}

impl Verifier {
    /// Connect to `brokers`, position at the end of every partition of `topic`, and start
    /// consuming into `latency`.
    pub fn start(brokers: &str, topic: &str, run: u64, latency: Arc<Series>) -> Result<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("linerate-loadgen-verify-{run}"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .context("creating the verify consumer")?;
        let md = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .with_context(|| format!("metadata of {topic} from {brokers}"))?;
        let partitions = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow!("topic {topic} has no partitions at {brokers}"))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                .with_context(|| format!("watermarks of {topic}/{p}"))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
        consumer.assign(&tpl)?;
        let stop = Arc::new(AtomicBool::new(false));
        let unique = Arc::new(AtomicU64::new(0));
        let last_unix_micros = Arc::new(AtomicI64::new(0));
        let (stop2, unique2, last2) = (stop.clone(), unique.clone(), last_unix_micros.clone());
        let thread = std::thread::Builder::new()
            .name("verify".into())
            .spawn(move || consume(consumer, run, &stop2, &unique2, &last2, &latency))?;
        Ok(Self {
            stop,
            unique,
            last_unix_micros,
            thread,
        })
    }

    /// Sequence numbers seen so far.
    pub fn unique(&self) -> u64 {
        self.unique.load(Ordering::Relaxed)
    }

    /// Wait until every sequence number sent was consumed, or nothing of this run arrived
    /// for `idle`; then stop and report. `sent[t]` is how many messages sender `t` of
    /// `sent.len()` sent: its sequence numbers are `t, t + n, …`.
    pub fn finish(self, sent: &[u64], idle: Duration, latency: &Series) -> Result<VerifyReport> {
        let threads = sent.len() as u64;
        let expected: u64 = sent.iter().sum();
        let started = Instant::now();
        loop {
            if self.unique() >= expected {
                break;
            }
            let last = self.last_unix_micros.load(Ordering::Relaxed);
            let since_last = Duration::from_micros(
                u64::try_from(crate::event::unix_micros_now() - last).unwrap_or(0),
            );
            if started.elapsed() >= idle && since_last >= idle {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop.store(true, Ordering::Relaxed);
        let seen = self
            .thread
            .join()
            .map_err(|_| anyhow!("verify thread panicked"))?;
        let mut lost = 0;
        let mut missing = Vec::new();
        let mut duplicates = 0;
        let mut matched = 0;
        for (t, &n) in sent.iter().enumerate() {
            for k in 0..n {
                let seq = t as u64 + k * threads;
                let c = seen.counts.get(seq as usize).copied().unwrap_or(0);
                if c == 0 {
                    lost += 1;
                    if missing.len() < MISSING_LISTED_MAX {
                        missing.push(seq);
                    }
                }
                matched += u64::from(c);
                duplicates += u64::from(c.saturating_sub(1));
            }
        }
        missing.sort_unstable();
        // Sequence numbers this run never sent (cannot happen with one loadgen per run).
        let unexpected = seen
            .counts
            .iter()
            .map(|&c| u64::from(c))
            .sum::<u64>()
            .saturating_sub(matched);
        Ok(VerifyReport {
            expected,
            consumed: seen.consumed,
            lost,
            duplicates,
            foreign: seen.foreign + unexpected,
            missing,
            latency: Percentiles::of(&latency.total()),
        })
    }
}

fn consume(
    consumer: BaseConsumer,
    run: u64,
    stop: &AtomicBool,
    unique: &AtomicU64,
    last: &AtomicI64,
    latency: &Series,
) -> Seen {
    let mut seen = Seen::default();
    let mut logged_error = false;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                let now = crate::event::unix_micros_now();
                match m.payload().and_then(parse_stamp) {
                    Some((seq, t, r)) if r == run && seq < SEQ_TRACKED_MAX => {
                        let i = seq as usize;
                        if i >= seen.counts.len() {
                            seen.counts.resize((i + 1).max(seen.counts.len() * 2), 0);
                        }
                        if seen.counts[i] == 0 {
                            unique.fetch_add(1, Ordering::Relaxed);
                        }
                        seen.counts[i] = seen.counts[i].saturating_add(1);
                        seen.consumed += 1;
                        last.store(now, Ordering::Relaxed);
                        latency.record_from(std::iter::once(t), now);
                    }
                    _ => seen.foreign += 1,
                }
            }
            Some(Err(e)) if !logged_error => {
                eprintln!("loadgen verify: consumer error: {e}");
                logged_error = true;
            }
            Some(Err(_)) => {}
            None => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_stamp_from_ecs_json() {
        let json = br#"{"@timestamp":"x","message":"seq=42 t=1764000000123456 r=7 xxxx"}"#;
        assert_eq!(parse_stamp(json), Some((42, 1_764_000_000_123_456, 7)));
        assert_eq!(parse_stamp(b"seq=1 xxxx"), None);
        assert_eq!(parse_stamp(b"nothing"), None);
    }
}
