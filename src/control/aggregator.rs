//! The one aggregator: receives every shard's periodic snapshot, keeps the latest per shard,
//! logs one summary line per interval, and answers the HTTP server's questions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::control::latency::LatencyLog;
use crate::event::TRANSPORT_COUNT;
use crate::latency::buckets::Buckets;
use crate::sink::kafka::TOPIC_COUNT;
use crate::stats::{ShardSnapshot, DROP_REASON_COUNT};

/// A shard counts as alive while its last snapshot is younger than this many intervals.
const ALIVE_INTERVALS: u32 = 3;

/// Latest view of every shard, shared between the aggregator thread and the HTTP server.
#[derive(Debug)]
pub struct State {
    /// Latest snapshot and its arrival time, by shard index.
    pub shards: Vec<Option<(Instant, ShardSnapshot)>>,
    /// Whether the last metadata request to Kafka succeeded.
    pub kafka_reachable: bool,
    /// Why the Kafka probe could not be set up (its client config was refused), when so:
    /// reported by `/health` instead of an unexplained "unreachable".
    pub kafka_probe_error: Option<String>,
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
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
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
            kafka_probe_error: None,
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

    /// [`State::totals`] with each array keyed by its names (transports, this run's topics
    /// and drop reasons; a topic that is off is left out).
    pub fn named_totals(&self) -> serde_json::Value {
        use crate::event::TRANSPORT_NAMES;
        use crate::stats::DROP_REASON_NAMES;
        let keyed = |values: &[u64], names: &mut dyn Iterator<Item = &str>| {
            let mut m = serde_json::Map::new();
            for (name, v) in names.zip(values) {
                if !name.is_empty() {
                    m.insert(name.to_string(), (*v).into());
                }
            }
            serde_json::Value::Object(m)
        };
        let t = self.totals();
        let topics = || self.topic_names.iter().map(String::as_str);
        serde_json::json!({
            "received": keyed(&t.received, &mut TRANSPORT_NAMES.iter().copied()),
            "parse_errors": t.parse_errors,
            "truncated": t.truncated,
            "produced": keyed(&t.produced, &mut topics()),
            "delivered": keyed(&t.delivered, &mut topics()),
            "delivery_failed": keyed(&t.delivery_failed, &mut topics()),
            "dropped": keyed(&t.dropped, &mut DROP_REASON_NAMES.iter().copied()),
        })
    }

    /// `/health`'s answer: whether every shard is alive and Kafka reachable, and the body
    /// (`status` `ok` or `degraded`, `shards_alive`, `kafka_reachable`, the probe's
    /// `kafka_probe_error` when it could not start, `totals` with every number named: by
    /// transport, topic or drop reason, as `{"produced": {"logs.raw": 10, ...}}`).
    pub fn health(&self, now: Instant) -> (bool, serde_json::Value) {
        let shards: Vec<bool> = (0..self.shards.len())
            .map(|i| self.shard_alive(i, now))
            .collect();
        let healthy = shards.iter().all(|a| *a) && self.kafka_reachable;
        let mut body = serde_json::json!({
            "status": if healthy { "ok" } else { "degraded" },
            "shards_alive": shards,
            "kafka_reachable": self.kafka_reachable,
            "totals": self.named_totals(),
        });
        if let Some(e) = &self.kafka_probe_error {
            body["kafka_probe_error"] = e.as_str().into();
        }
        (healthy, body)
    }

    /// Whether every shard has sent its final snapshot.
    pub fn all_stopped(&self) -> bool {
        self.shards
            .iter()
            .all(|s| matches!(s, Some((_, snap)) if snap.stopped))
    }
}

/// Run the aggregator loop on the calling thread, logging a summary at most every
/// `summary_every` and only when a counter or Kafka's reachability changed, until
/// `stop` is set (after every shard has been joined) or every sender is gone; then take the
/// snapshots still queued and return the final totals. Each snapshot's latencies go into
/// the state's buckets and, when given, the latency log.
pub fn run(
    state: SharedState,
    rx: Receiver<ShardSnapshot>,
    stop: Arc<AtomicBool>,
    mut latency_log: Option<LatencyLog>,
    summary_every: Duration,
) -> Totals {
    let interval = state
        .lock()
        .map(|s| s.interval)
        .unwrap_or(Duration::from_secs(1));
    let mut last_log = Instant::now();
    let mut last_totals = Totals::default();
    let mut last_reachable = false;
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
        if last_log.elapsed() >= summary_every.max(interval) {
            let Ok(s) = state.lock() else { break };
            let t = s.totals();
            if t == last_totals && s.kafka_reachable == last_reachable {
                continue; // nothing happened: no line
            }
            let secs = last_log.elapsed().as_secs_f64();
            last_log = Instant::now();
            last_reachable = s.kafka_reachable;
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

/// Probe Kafka's reachability once per interval from a separate client (never a shard's),
/// configured by `config` ([`crate::sink::kafka::probe_config`]: the producers' bootstrap and
/// properties). When librdkafka refuses `config`, the reason goes to
/// [`State::kafka_probe_error`] and the probe stops (Kafka stays "not reachable").
pub fn spawn_kafka_probe(state: SharedState, config: rdkafka::ClientConfig, interval: Duration) {
    use rdkafka::producer::{BaseProducer, Producer};
    let _ = std::thread::Builder::new()
        .name("kafka-probe".into())
        .spawn(move || {
            let client: BaseProducer = match config.create() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "kafka health client failed: /health reports it");
                    if let Ok(mut s) = state.lock() {
                        s.kafka_probe_error = Some(format!("kafka probe client: {e}"));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;

    fn state() -> SharedState {
        Arc::new(Mutex::new(State::new(
            1,
            Default::default(),
            Duration::from_millis(50),
        )))
    }

    /// Wait (bounded, not timed) until `pred` holds of the state.
    fn wait_for(st: &SharedState, pred: impl Fn(&State) -> bool) -> bool {
        for _ in 0..600 {
            if pred(&st.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    #[test]
    fn the_probe_uses_the_properties_and_reaches_the_cluster() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        let mut cfg = KafkaConfig::default();
        cfg.properties
            .insert("client.id".into(), "edge-probe".into());
        let config = crate::sink::kafka::probe_config(&cfg, &cluster.bootstrap_servers());
        assert_eq!(config.get("client.id"), Some("edge-probe"));
        assert_eq!(config.get("acks"), Some("all"));
        let st = state();
        spawn_kafka_probe(st.clone(), config, Duration::from_millis(50));
        assert!(
            wait_for(&st, |s| s.kafka_reachable),
            "the probe reached the mock cluster"
        );
        let (_, body) = st.lock().unwrap().health(Instant::now());
        assert_eq!(body["kafka_reachable"], true);
        assert!(body.get("kafka_probe_error").is_none(), "{body}");
    }

    #[test]
    fn a_refused_probe_config_is_reported_not_unreachable() {
        // A value librdkafka takes one by one but refuses together at client creation.
        let mut cfg = KafkaConfig::default();
        cfg.properties.insert("acks".into(), "1".into());
        let st = state();
        spawn_kafka_probe(
            st.clone(),
            crate::sink::kafka::probe_config(&cfg, "127.0.0.1:9"),
            Duration::from_millis(50),
        );
        assert!(wait_for(&st, |s| s.kafka_probe_error.is_some()));
        let (healthy, body) = st.lock().unwrap().health(Instant::now());
        assert!(!healthy);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["kafka_reachable"], false);
        let e = body["kafka_probe_error"].as_str().unwrap();
        assert!(e.starts_with("kafka probe client: "), "{e}");
        assert!(e.contains("acks"), "{e}");
    }
}
