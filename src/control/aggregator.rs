//! The one aggregator: receives every shard's periodic snapshot, keeps the latest per shard,
//! logs one summary line per interval, and answers the HTTP server's questions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::control::latency::LatencyLog;
use crate::latency::buckets::Buckets;
use crate::shard::stats::{ShardSnapshot, DROP_REASON_COUNT, TRANSPORT_COUNT};
use crate::sink::kafka::TOPIC_COUNT;

/// A shard counts as alive while its last snapshot is younger than this many intervals.
const ALIVE_INTERVALS: u32 = 3;

/// Latest view of every shard, shared between the aggregator thread and the HTTP server.
#[derive(Debug)]
pub struct State {
    /// Latest snapshot and its arrival time, by shard index.
    pub shards: Vec<Option<(Instant, ShardSnapshot)>>,
    /// Whether the last metadata request to Kafka succeeded.
    pub kafka_reachable: bool,
    /// Topic label values, by topic index (raw, normalized).
    pub topic_names: [String; TOPIC_COUNT],
    /// Snapshot interval.
    pub interval: Duration,
    /// Receive→ack latency buckets since start, by shard index.
    pub latency: Vec<Buckets>,
}

/// Shared handle to [`State`].
pub type SharedState = Arc<Mutex<State>>;

/// Sum of all shards' counters.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub received: [u64; TRANSPORT_COUNT],
    pub parse_errors: u64,
    pub truncated: u64,
    pub produced: [u64; TOPIC_COUNT],
    pub delivered: [u64; TOPIC_COUNT],
    pub delivery_failed: [u64; TOPIC_COUNT],
    pub dropped: [u64; DROP_REASON_COUNT],
}

impl State {
    /// A state for `shards` shards with nothing reported yet.
    pub fn new(shards: usize, topic_names: [String; TOPIC_COUNT], interval: Duration) -> Self {
        Self {
            shards: vec![None; shards],
            kafka_reachable: false,
            topic_names,
            interval,
            latency: vec![Buckets::default(); shards],
        }
    }

    /// Whether shard `i` reported within the last few intervals (or stopped cleanly).
    pub fn shard_alive(&self, i: usize, now: Instant) -> bool {
        match self.shards.get(i) {
            Some(Some((at, snap))) => {
                !snap.stopped && now.duration_since(*at) < self.interval * ALIVE_INTERVALS
            }
            _ => false,
        }
    }

    /// Counters summed over shards.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, s) in self.shards.iter().flatten() {
            for i in 0..TRANSPORT_COUNT {
                t.received[i] += s.received[i];
            }
            for i in 0..TOPIC_COUNT {
                t.produced[i] += s.produced[i];
                t.delivered[i] += s.delivered[i];
                t.delivery_failed[i] += s.delivery_failed[i];
            }
            for i in 0..DROP_REASON_COUNT {
                t.dropped[i] += s.dropped[i];
            }
            t.parse_errors += s.parse_errors;
            t.truncated += s.truncated;
        }
        t
    }

    /// Whether every shard has sent its final snapshot.
    pub fn all_stopped(&self) -> bool {
        self.shards
            .iter()
            .all(|s| matches!(s, Some((_, snap)) if snap.stopped))
    }
}

/// Run the aggregator loop on the calling thread, logging a summary each interval, until
/// `stop` is set (after every shard has been joined) or every sender is gone; then take the
/// snapshots still queued and return the final totals. Each snapshot's latencies go into
/// the state's buckets and, when given, the latency log.
pub fn run(
    state: SharedState,
    rx: Receiver<ShardSnapshot>,
    stop: Arc<AtomicBool>,
    mut latency_log: Option<LatencyLog>,
) -> Totals {
    let interval = state
        .lock()
        .map(|s| s.interval)
        .unwrap_or(Duration::from_secs(1));
    let mut last_log = Instant::now();
    let mut last_totals = Totals::default();
    loop {
        if stop.load(Ordering::Relaxed) {
            while let Ok(snap) = rx.try_recv() {
                record(&state, &mut latency_log, snap);
            }
            break;
        }
        match rx.recv_timeout(interval.min(Duration::from_millis(100))) {
            Ok(snap) => record(&state, &mut latency_log, snap),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(log) = latency_log.as_mut() {
            log.tick();
        }
        if last_log.elapsed() >= interval {
            let secs = last_log.elapsed().as_secs_f64();
            last_log = Instant::now();
            let Ok(s) = state.lock() else { break };
            let t = s.totals();
            let recv: u64 = t.received.iter().sum();
            let prev: u64 = last_totals.received.iter().sum();
            let deliv: u64 = t.delivered.iter().sum();
            let prev_deliv: u64 = last_totals.delivered.iter().sum();
            tracing::info!(
                received = recv,
                received_per_sec = ((recv - prev.min(recv)) as f64 / secs) as u64,
                delivered = deliv,
                delivered_per_sec = ((deliv - prev_deliv.min(deliv)) as f64 / secs) as u64,
                parse_errors = t.parse_errors,
                truncated = t.truncated,
                dropped = t.dropped.iter().sum::<u64>(),
                kafka_reachable = s.kafka_reachable,
                "stats"
            );
            last_totals = t;
        }
    }
    if let Some(log) = latency_log.as_mut() {
        log.flush();
    }
    state.lock().map(|s| s.totals()).unwrap_or_default()
}

/// Keep `snap` as its shard's latest, its latencies in the buckets and the log.
fn record(state: &SharedState, latency_log: &mut Option<LatencyLog>, mut snap: ShardSnapshot) {
    let i = snap.shard;
    let latency = snap.latency.take();
    if let Ok(mut s) = state.lock() {
        if i < s.shards.len() {
            if let Some(l) = &latency {
                s.latency[i].add(&l.histogram, l.sum_micros);
            }
            s.shards[i] = Some((Instant::now(), snap));
        }
    }
    if let (Some(log), Some(l)) = (latency_log.as_mut(), &latency) {
        log.add(i, l);
    }
}

/// Probe Kafka's reachability once per interval from a separate client (never a shard's).
pub fn spawn_kafka_probe(
    state: SharedState,
    bootstrap: String,
    properties: std::collections::BTreeMap<String, String>,
    interval: Duration,
) {
    use rdkafka::producer::{BaseProducer, Producer};
    let _ = std::thread::Builder::new()
        .name("kafka-probe".into())
        .spawn(move || {
            let mut config = rdkafka::ClientConfig::new();
            // The producers' properties (security ones included), so the probe reaches the
            // brokers the way they do.
            for (k, v) in &properties {
                config.set(k, v);
            }
            let client: BaseProducer = match config
                .set("bootstrap.servers", &bootstrap)
                .set("client.id", "linerate-health")
                .create()
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "kafka health client failed");
                    return;
                }
            };
            loop {
                let ok = client
                    .client()
                    .fetch_metadata(None, Duration::from_secs(2))
                    .is_ok();
                match state.lock() {
                    Ok(mut s) => s.kafka_reachable = ok,
                    Err(_) => return,
                }
                std::thread::sleep(interval);
            }
        });
}
