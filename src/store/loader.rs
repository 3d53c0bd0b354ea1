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
    let consumer = consumer(cfg, &metrics)?;
    let mut l = Loader {
        cfg,
        metrics: &metrics,
        consumer: &consumer,
        linger: Duration::from_millis(cfg.batch.linger_ms),
        pg: None,
        batch: Vec::new(),
        batch_bytes: 0,
        batch_started: Instant::now(),
        retry_at: Instant::now(),
        backoff: BACKOFF_FIRST,
        paused: false,
        summary: LoadSummary::default(),
        first_message: None,
        last_activity: Instant::now(),
        last_commit: Instant::now(),
        last_probe: Instant::now(),
    };
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let full = l.batch.len() >= cfg.batch.rows_max || l.batch_bytes >= cfg.batch.bytes_max;
        let due = !l.batch.is_empty()
            && (full || stopping || l.batch_started.elapsed() >= l.linger)
            && Instant::now() >= l.retry_at;
        if due {
            if l.flush(stopping) == Flushed::GiveUp {
                break;
            }
            continue;
        }
        l.probe_while_idle();
        if stopping && l.batch.is_empty() {
            break;
        }
        if exit_idle.is_some_and(|idle| l.idle_for(idle)) {
            break;
        }
        l.poll(full);
    }
    let mut summary = l.summary;
    summary.seconds = l.first_message.map_or(0.0, |f| {
        l.last_commit.saturating_duration_since(f).as_secs_f64()
    });
    Ok(summary)
}

/// First wait after a failed batch; doubles up to `retry_backoff_ms_max`.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// The Kafka consumer of the configured topics: offsets never committed to Kafka (they are
/// stored in PostgreSQL with the rows), its prefetch bounded by `queued_bytes_max`.
fn consumer(
    cfg: &StoreConfig,
    metrics: &Arc<StoreMetrics>,
) -> Result<BaseConsumer<StoreContext>, LoaderError> {
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
    Ok(consumer)
}

/// What a flush of the batch in hand came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Written, or kept for a retry after the backoff.
    Continue,
    /// Stopping with PostgreSQL down: the batch is left to the next run.
    GiveUp,
}

/// The loader's state between polls: the batch in hand (bounded by `[batch]`), the
/// PostgreSQL connection, the retry backoff and whether consumption is paused.
struct Loader<'a> {
    cfg: &'a StoreConfig,
    metrics: &'a StoreMetrics,
    consumer: &'a BaseConsumer<StoreContext>,
    linger: Duration,
    pg: Option<Client>,
    batch: Vec<Message>,
    batch_bytes: usize,
    batch_started: Instant,
    retry_at: Instant,
    backoff: Duration,
    paused: bool,
    summary: LoadSummary,
    first_message: Option<Instant>,
    last_activity: Instant,
    last_commit: Instant,
    last_probe: Instant,
}

impl Loader<'_> {
    /// Write the batch in one transaction with its offsets. On success count it and resume
    /// consumption; on failure keep it, back off, and pause every assigned partition (Kafka
    /// holds the backlog).
    fn flush(&mut self, stopping: bool) -> Flushed {
        let metrics = self.metrics;
        match write(&mut self.pg, self.cfg, &self.batch) {
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
                self.summary.rows += w.rows;
                self.summary.dead_letters += w.dead_letters;
                self.summary.skipped += w.skipped;
                self.summary.batches += 1;
                update_lag(self.consumer, metrics, &self.batch);
                self.batch.clear();
                self.batch_bytes = 0;
                self.backoff = BACKOFF_FIRST;
                self.last_commit = Instant::now();
                self.last_activity = self.last_commit;
                if self.paused {
                    if let Ok(a) = self.consumer.assignment() {
                        let _ = self.consumer.resume(&a);
                    }
                    self.paused = false;
                    metrics.paused.store(false, Ordering::Relaxed);
                    tracing::info!("store: PostgreSQL back, consumption resumed");
                }
                Flushed::Continue
            }
            Err(e) => {
                metrics.postgres_up.store(false, Ordering::Relaxed);
                metrics.postgres_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, rows = self.batch.len(), retry_in_ms = self.backoff.as_millis() as u64, "store: batch not written; kept, retrying");
                self.pg = None;
                self.retry_at = Instant::now() + self.backoff;
                let backoff_max = Duration::from_millis(self.cfg.postgres.retry_backoff_ms_max);
                self.backoff = (self.backoff * 2).min(backoff_max);
                if stopping {
                    // Not written, not lost: its offsets were not stored, so the next
                    // run reads it again from Kafka.
                    tracing::warn!(
                        rows = self.batch.len(),
                        "store: stopping with PostgreSQL down; the batch is left to the next run"
                    );
                    return Flushed::GiveUp;
                }
                if !self.paused {
                    if let Ok(a) = self.consumer.assignment() {
                        let _ = self.consumer.pause(&a);
                    }
                    self.paused = true;
                    metrics.paused.store(true, Ordering::Relaxed);
                }
                Flushed::Continue
            }
        }
    }

    /// While idle, check PostgreSQL now and then, so /health says when it goes away.
    fn probe_while_idle(&mut self) {
        if !self.batch.is_empty() || self.last_probe.elapsed() < HEALTH_PROBE_INTERVAL {
            return;
        }
        self.last_probe = Instant::now();
        let up = match self.pg.as_mut() {
            Some(c) => c.is_valid(HEALTH_PROBE_INTERVAL).is_ok(),
            None => connect(self.cfg).map(|c| self.pg = Some(c)).is_ok(),
        };
        if !up {
            self.pg = None;
        }
        self.metrics.postgres_up.store(up, Ordering::Relaxed);
    }

    /// Nothing in hand, something was loaded, and nothing arrived for `idle`.
    fn idle_for(&self, idle: Duration) -> bool {
        self.batch.is_empty()
            && self.summary.rows + self.summary.dead_letters > 0
            && self.last_activity.elapsed() >= idle
    }

    /// Poll the consumer once, adding a message to the batch. Keeps polling while a full
    /// batch waits (group membership); a message that was in flight when the partitions
    /// paused still joins the batch (bounded by the prefetch).
    fn poll(&mut self, full: bool) {
        let wait = if self.paused || full {
            Duration::from_millis(50)
        } else if self.batch.is_empty() {
            Duration::from_millis(100)
        } else {
            self.linger
                .saturating_sub(self.batch_started.elapsed())
                .clamp(Duration::from_millis(1), Duration::from_millis(100))
        };
        match self.consumer.poll(wait) {
            Some(Ok(m)) => {
                if self.batch.is_empty() {
                    self.batch_started = Instant::now();
                }
                self.first_message.get_or_insert_with(Instant::now);
                self.last_activity = Instant::now();
                let payload = m.payload().unwrap_or_default().to_vec();
                self.batch_bytes += payload.len();
                self.batch.push(Message {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    payload,
                });
            }
            Some(Err(e)) => {
                self.metrics.kafka_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "store: consumer error");
            }
            None => {}
        }
    }
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
