//! `linerate store`'s loop: a Kafka consumer-group member that batches messages (bounded by
//! rows, bytes and linger time) and commits each batch with [`writer::write_batch`].
//!
//! Back-pressure: while PostgreSQL is down or failing, the batch in hand is kept and retried
//! with a growing backoff, and every assigned partition is paused, so Kafka holds the backlog;
//! the loop keeps polling (group membership) and the memory held is the batch plus
//! librdkafka's prefetch (`queued_bytes_max`). On assignment, each partition starts at the
//! offset stored in PostgreSQL, so a restart after a crash or `kill -9` resumes exactly there.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message as _, Offset, TopicPartitionList};

use super::config::StoreConfig;
use super::metrics::StoreMetrics;
use super::writer::{self, Message, Written};

/// How often an idle loader checks that PostgreSQL answers (and the longest it waits).
pub const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Errors that stop the loader (PostgreSQL being down does not: it waits).
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error("Kafka consumer: {0}")]
    Kafka(#[from] KafkaError),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
}

/// What a run of the loader did, printed as JSON when it ends.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadSummary {
    /// Rows committed to `linerate.events`.
    pub rows: u64,
    /// Rows committed to `linerate.dead_letter`.
    pub dead_letters: u64,
    /// Messages already stored (replayed after a crash), skipped.
    pub skipped: u64,
    /// Committed batches.
    pub batches: u64,
    /// From the first message consumed to the last commit.
    pub seconds: f64,
}

/// Connect to PostgreSQL with the configured timeout.
pub fn connect(cfg: &StoreConfig) -> Result<Client, postgres::Error> {
    let mut pg: postgres::Config = cfg.postgres.url.parse()?;
    pg.connect_timeout(Duration::from_millis(cfg.postgres.connect_timeout_ms));
    pg.application_name("linerate store");
    pg.connect(NoTls)
}

/// The consumer's context: on assignment, start each partition at the offset stored in
/// PostgreSQL for the group (read over a connection of its own).
struct StoreContext {
    cfg: StoreConfig,
    metrics: Arc<StoreMetrics>,
    pg: Mutex<Option<Client>>,
}

impl ClientContext for StoreContext {}

impl ConsumerContext for StoreContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            match self.offsets() {
                Ok(stored) => {
                    for ((topic, p), next) in stored {
                        if let Some(mut e) = tpl.find_partition(&topic, p) {
                            let _ = e.set_offset(Offset::Offset(next));
                        }
                    }
                }
                // Without them the partitions start at the earliest offset; the writer
                // still skips what PostgreSQL holds, so nothing is stored twice.
                Err(e) => {
                    tracing::warn!(error = %e, "store: stored offsets unavailable at assignment")
                }
            }
            tracing::info!(partitions = tpl.count(), "store: partitions assigned");
        }
        // librdkafka's own assign / unassign, as the default implementation does.
        let consumer = base_consumer;
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => consumer.assign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = result {
            self.metrics.kafka_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "store: rebalance assign failed");
        }
    }
}

impl StoreContext {
    fn offsets(&self) -> Result<BTreeMap<(String, i32), i64>, postgres::Error> {
        let mut pg = self.pg.lock().unwrap_or_else(|p| p.into_inner());
        if pg.as_ref().is_none_or(|c| c.is_closed()) {
            *pg = Some(connect(&self.cfg)?);
        }
        let client = pg.as_mut().expect("connected just above");
        let r = writer::stored_offsets(client, &self.cfg.kafka.group_id);
        if r.is_err() {
            *pg = None;
        }
        r
    }
}

/// Run the loader until `stop` is set (then the batch in hand is written) or, with
/// `exit_idle`, until nothing arrived for that long after the last commit.
pub fn run(
    cfg: &StoreConfig,
    metrics: Arc<StoreMetrics>,
    stop: Arc<AtomicBool>,
    exit_idle: Option<Duration>,
) -> Result<LoadSummary, LoaderError> {
    let ctx = StoreContext {
        cfg: cfg.clone(),
        metrics: metrics.clone(),
        pg: Mutex::new(None),
    };
    let consumer: BaseConsumer<StoreContext> = ClientConfig::new()
        .set("bootstrap.servers", &cfg.kafka.brokers)
        .set("group.id", &cfg.kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            cfg.kafka.session_timeout_ms.to_string(),
        )
        .set(
            "queued.max.messages.kbytes",
            (cfg.kafka.queued_bytes_max / 1024).max(1).to_string(),
        )
        // One fetch response is at most the prefetch cap, so it stays the memory bound.
        .set(
            "fetch.max.bytes",
            cfg.kafka
                .queued_bytes_max
                .clamp(1 << 20, i32::MAX as u64)
                .to_string(),
        )
        .set("topic.metadata.refresh.interval.ms", "10000")
        .create_with_context(ctx)?;
    let topics: Vec<&str> = cfg.kafka.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;

    let linger = Duration::from_millis(cfg.batch.linger_ms);
    let backoff_max = Duration::from_millis(cfg.postgres.retry_backoff_ms_max);
    let mut pg: Option<Client> = None;
    let mut batch: Vec<Message> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut batch_started = Instant::now();
    let mut retry_at = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut paused = false;
    let mut summary = LoadSummary::default();
    let mut first_message: Option<Instant> = None;
    let mut last_activity = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_probe = Instant::now();

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let full = batch.len() >= cfg.batch.rows_max || batch_bytes >= cfg.batch.bytes_max;
        let due = !batch.is_empty()
            && (full || stopping || batch_started.elapsed() >= linger)
            && Instant::now() >= retry_at;
        if due {
            match write(&mut pg, cfg, &batch) {
                Ok(w) => {
                    metrics.postgres_up.store(true, Ordering::Relaxed);
                    metrics.rows_written.fetch_add(w.rows, Ordering::Relaxed);
                    metrics
                        .dead_letters
                        .fetch_add(w.dead_letters, Ordering::Relaxed);
                    metrics
                        .duplicates_skipped
                        .fetch_add(w.skipped, Ordering::Relaxed);
                    metrics.batches.fetch_add(1, Ordering::Relaxed);
                    metrics.observe_copy(w.copy_time);
                    summary.rows += w.rows;
                    summary.dead_letters += w.dead_letters;
                    summary.skipped += w.skipped;
                    summary.batches += 1;
                    update_lag(&consumer, &metrics, &batch);
                    batch.clear();
                    batch_bytes = 0;
                    backoff = Duration::from_millis(100);
                    last_commit = Instant::now();
                    last_activity = last_commit;
                    if paused {
                        if let Ok(a) = consumer.assignment() {
                            let _ = consumer.resume(&a);
                        }
                        paused = false;
                        metrics.paused.store(false, Ordering::Relaxed);
                        tracing::info!("store: PostgreSQL back, consumption resumed");
                    }
                }
                Err(e) => {
                    metrics.postgres_up.store(false, Ordering::Relaxed);
                    metrics.postgres_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, rows = batch.len(), retry_in_ms = backoff.as_millis() as u64, "store: batch not written; kept, retrying");
                    pg = None;
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(backoff_max);
                    if stopping {
                        // Not written, not lost: its offsets were not stored, so the next
                        // run reads it again from Kafka.
                        tracing::warn!(rows = batch.len(), "store: stopping with PostgreSQL down; the batch is left to the next run");
                        break;
                    }
                    if !paused {
                        if let Ok(a) = consumer.assignment() {
                            let _ = consumer.pause(&a);
                        }
                        paused = true;
                        metrics.paused.store(true, Ordering::Relaxed);
                    }
                }
            }
            continue;
        }
        // While idle, check PostgreSQL now and then, so /health says when it goes away.
        if batch.is_empty() && last_probe.elapsed() >= HEALTH_PROBE_INTERVAL {
            last_probe = Instant::now();
            let up = match pg.as_mut() {
                Some(c) => c.is_valid(HEALTH_PROBE_INTERVAL).is_ok(),
                None => connect(cfg).map(|c| pg = Some(c)).is_ok(),
            };
            if !up {
                pg = None;
            }
            metrics.postgres_up.store(up, Ordering::Relaxed);
        }
        if stopping && batch.is_empty() {
            break;
        }
        if let Some(idle) = exit_idle {
            if batch.is_empty()
                && summary.rows + summary.dead_letters > 0
                && last_activity.elapsed() >= idle
            {
                break;
            }
        }
        // Keep polling while a full batch waits (group membership); a message that was in
        // flight when the partitions paused still joins the batch (bounded by the prefetch).
        let wait = if batch.is_empty() {
            Duration::from_millis(100)
        } else {
            linger
                .saturating_sub(batch_started.elapsed())
                .clamp(Duration::from_millis(1), Duration::from_millis(100))
        };
        let wait = if paused || full {
            Duration::from_millis(50)
        } else {
            wait
        };
        match consumer.poll(wait) {
            Some(Ok(m)) => {
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                first_message.get_or_insert_with(Instant::now);
                last_activity = Instant::now();
                let payload = m.payload().unwrap_or_default().to_vec();
                batch_bytes += payload.len();
                batch.push(Message {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    payload,
                });
            }
            Some(Err(e)) => {
                metrics.kafka_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "store: consumer error");
            }
            None => {}
        }
    }
    summary.seconds = first_message.map_or(0.0, |f| {
        last_commit.saturating_duration_since(f).as_secs_f64()
    });
    Ok(summary)
}

/// Write `batch`, connecting first when needed; a COPY PostgreSQL rejects for its data is
/// written again row by row (the rejected rows to the dead-letter table).
fn write(
    pg: &mut Option<Client>,
    cfg: &StoreConfig,
    batch: &[Message],
) -> Result<Written, postgres::Error> {
    if pg.as_ref().is_none_or(|c| c.is_closed()) {
        *pg = Some(connect(cfg)?);
    }
    let client = pg.as_mut().expect("connected just above");
    match writer::write_batch(client, &cfg.kafka.group_id, batch, false) {
        Err(e) if writer::is_data_error(&e) => {
            tracing::warn!(error = %e, rows = batch.len(), "store: COPY rejected; writing the batch row by row");
            writer::write_batch(client, &cfg.kafka.group_id, batch, true)
        }
        r => r,
    }
}

/// Lag of each partition in `batch` from librdkafka's cached high watermarks
/// (`rd_kafka_get_watermark_offsets`: no broker round trip, unlike `fetch_watermarks`).
fn update_lag(consumer: &BaseConsumer<StoreContext>, metrics: &StoreMetrics, batch: &[Message]) {
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for m in batch {
        last.insert((m.topic.as_str(), m.partition), m.offset);
    }
    if let Ok(mut lag) = metrics.lag.lock() {
        for ((t, p), off) in last {
            let Ok(topic) = std::ffi::CString::new(t) else {
                continue;
            };
            let (mut low, mut high) = (0i64, 0i64);
            // SAFETY: a live client handle, a NUL-terminated topic and two out-parameters.
            let err = unsafe {
                rdkafka::bindings::rd_kafka_get_watermark_offsets(
                    consumer.client().native_ptr(),
                    topic.as_ptr(),
                    p,
                    &mut low,
                    &mut high,
                )
            };
            if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 {
                lag.insert((t.to_string(), p), (high - off - 1).max(0));
            }
        }
    }
}
