//! Kafka output: one rdkafka `BaseProducer` per shard, polled from that shard's thread, so
//! delivery reports run on the shard that produced the record (nothing crosses cores).
//!
//! The in-flight bound is librdkafka's own queue (`queue_messages_max`, `queue_kbytes_max`):
//! when it is full, [`KafkaSink::try_send`] returns [`SendError::QueueFull`] and the shard's
//! sender leaves the event in the ring and tries again once deliveries drained the queue (the
//! inputs go on appending to the ring; only a full ring and spill push back on them).
//!
//! A keyed record's partition is chosen here, as librdkafka's default partitioner would
//! ([`crate::sink::partitions`]), so a batch reaches librdkafka as one call per (topic,
//! partition): no partitioner run, partition lookup and clock read per record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::buffer::acks::{AckSlots, Outcome};
use crate::config::KafkaConfig;
use crate::sink::partitions::{self, PartitionCounts, UNASSIGNED};
use crate::sink::payload_arenas::PayloadArenas;

/// The topics a shard writes; the index is the record's delivery opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// The bytes as received.
    Raw = 0,
    /// ECS JSON.
    Normalized = 1,
    /// ECS JSON with the enrichment table's `labels` (only with `[enrich] table`).
    Enriched = 2,
}

/// Delivery-report events served per poll tick.
pub const POLL_EVENTS_MAX: usize = 16;

/// Number of [`Topic`] variants (at most [`crate::buffer::acks::TOPICS_MAX`]).
pub const TOPIC_COUNT: usize = 3;
const _: () = assert!(TOPIC_COUNT <= crate::buffer::acks::TOPICS_MAX);

/// Delivery counters, written only by the owning shard's thread in delivery callbacks.
///
/// They are atomics only because librdkafka's context must be `Sync`; they are never shared
/// across cores, so updates are uncontended load+store pairs (no read-modify-write).
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub delivered: [AtomicU64; TOPIC_COUNT],
    pub failed: [AtomicU64; TOPIC_COUNT],
    /// Dead-letter records delivered to the dead-letter topic.
    pub dead_lettered: AtomicU64,
}

/// Whether librdkafka's `code` rejects a record for good: sending it again cannot succeed
/// (it goes to the dead-letter topic or file instead). Everything else is retried.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    PERMANENT_ERRORS.contains(&code)
}

/// The errors [`is_permanent`] accepts.
const PERMANENT_ERRORS: [RDKafkaErrorCode; 9] = [
    RDKafkaErrorCode::MessageSizeTooLarge,
    RDKafkaErrorCode::InvalidMessageSize,
    RDKafkaErrorCode::MessageBatchTooLarge,
    RDKafkaErrorCode::InvalidTopic,
    RDKafkaErrorCode::UnknownTopic,
    RDKafkaErrorCode::TopicAuthorizationFailed,
    RDKafkaErrorCode::PolicyViolation,
    RDKafkaErrorCode::InvalidRecord,
    RDKafkaErrorCode::InvalidMessage,
];

/// librdkafka's text for a permanent error's code (as stored by [`AckSlots::reject`]).
pub fn permanent_error_text(code: i32) -> String {
    PERMANENT_ERRORS
        .iter()
        .find(|c| **c as i32 == code)
        .map_or_else(|| format!("error code {code}"), |c| c.to_string())
}

fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Per-shard producer context: counts delivery reports and marks them in the shard's
/// [`AckSlots`], which move the ring's acknowledged position.
#[derive(Debug)]
pub struct ShardContext {
    pub counters: DeliveryCounters,
    pub acks: AckSlots,
    /// The batch buffers whose payloads librdkafka references (see [`KafkaSink::send_batch`]).
    pub arenas: PayloadArenas,
}

impl ClientContext for ShardContext {}

impl ProducerContext for ShardContext {
    /// [`AckSlots::opaque`] of the event's sequence number and the topic index.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (dead_letter, topic) = AckSlots::opaque_kind(opaque);
        if !dead_letter {
            // The record is done with: its batch buffer may go once all its records are.
            let message = match result {
                Ok(m) | Err((_, m)) => m,
            };
            if let Some(payload) = rdkafka::Message::payload(message) {
                self.arenas.release(payload.as_ptr());
            }
        }
        let outcome = match result {
            Ok(_) => Outcome::Delivered,
            Err((KafkaError::MessageProduction(code), _)) if is_permanent(*code) => {
                Outcome::Rejected(*code as i32)
            }
            Err(_) => Outcome::Retry,
        };
        match (dead_letter, outcome, result) {
            (false, Outcome::Delivered, _) => bump(&self.counters.delivered[topic]),
            (true, Outcome::Delivered, _) => bump(&self.counters.dead_lettered),
            (false, Outcome::Rejected(_), Err((e, _))) => {
                bump(&self.counters.failed[topic]);
                // Logged once per batch of dead letters by the shard's sender.
                tracing::debug!(error = %e, "kafka rejected a record for good");
            }
            (false, _, Err((e, _))) => {
                bump(&self.counters.failed[topic]);
                tracing::warn!(error = %e, "kafka delivery failed; the event will be sent again");
            }
            (true, _, Err((e, _))) => {
                tracing::debug!(error = %e, "the dead-letter topic failed too; the record goes to the dead-letter file");
            }
            _ => {}
        }
        self.acks.report(opaque, outcome);
    }
}

/// Why a record was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// librdkafka's queue is at its bound: poll, wait, retry.
    #[error("producer queue full")]
    QueueFull,
    /// Rejected for good (e.g. larger than `message.max.bytes`).
    #[error("record rejected: {0}")]
    Rejected(RDKafkaErrorCode),
}

/// A librdkafka topic handle, created once per shard so the hot path neither allocates a
/// C string nor looks the topic up by name for every record (as rdkafka's `send` does).
struct TopicHandle {
    name: String,
    rkt: *mut rdkafka::bindings::rd_kafka_topic_t,
}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_new; destroyed once, before the producer (see the
        // field order of KafkaSink).
        unsafe { rdkafka::bindings::rd_kafka_topic_destroy(self.rkt) };
    }
}

// SAFETY: librdkafka topic handles are thread-safe reference-counted objects.
unsafe impl Send for TopicHandle {}
unsafe impl Sync for TopicHandle {}

/// A shard's Kafka producer, its topic handles and their partition counts.
pub struct KafkaSink {
    // Declared before `producer`: topic handles must be destroyed before the client.
    topics: [Option<TopicHandle>; TOPIC_COUNT],
    dead_letter: Option<TopicHandle>,
    /// The topics' partition counts, kept fresh by the refresh thread.
    partitions: Arc<PartitionCounts>,
    /// Whether this sink chooses keyed records' partitions (`partitions_refresh_ms` above 0
    /// and a partitioner it mirrors); else librdkafka's partitioner chooses every one.
    partitioning: bool,
    /// Dropped with the sink: ends the refresh thread.
    _refresh_stop: Option<std::sync::mpsc::Sender<()>>,
    /// Shared only with the refresh thread (which holds it weakly, and strongly only
    /// during a metadata request).
    producer: Arc<BaseProducer<ShardContext>>,
}

/// The librdkafka settings linerate applies, before `[kafka.properties]` overrides them.
pub fn producer_config(cfg: &KafkaConfig, bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("compression.level", cfg.compression_level.to_string())
        .set("linger.ms", cfg.linger_ms.to_string())
        .set("batch.size", cfg.batch_bytes_max.to_string())
        .set("batch.num.messages", "100000")
        .set(
            "queue.buffering.max.messages",
            cfg.queue_messages_max.to_string(),
        )
        .set(
            "queue.buffering.max.kbytes",
            cfg.queue_kbytes_max.to_string(),
        );
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

/// The configuration of the `/health` probe's client: the producers' own (bootstrap,
/// `[kafka.properties]` with its security settings), so the probe reaches the brokers the
/// way the shards do; `client.id` is `linerate-health` unless the properties set one.
pub fn probe_config(cfg: &KafkaConfig, bootstrap: &str) -> ClientConfig {
    producer_config(cfg, bootstrap, "linerate-health")
}

impl KafkaSink {
    /// Create shard `shard`'s producer against `bootstrap`, tracking up to
    /// `in_flight_events_max` events' deliveries; `enriched_topic` switches the enriched
    /// topic on. Starts the thread that fetches the topics' partition counts (when
    /// [`partitions::mirrors_partitioner`] and `partitions_refresh_ms` is not 0); until the
    /// first counts arrive, librdkafka's partitioner chooses.
    pub fn new(
        cfg: &KafkaConfig,
        enriched_topic: Option<&str>,
        bootstrap: &str,
        shard: usize,
        in_flight_events_max: usize,
    ) -> Result<Self, KafkaError> {
        let context = ShardContext {
            counters: DeliveryCounters::default(),
            acks: AckSlots::new(in_flight_events_max),
            arenas: PayloadArenas::default(),
        };
        let producer: Arc<BaseProducer<ShardContext>> = Arc::new(
            producer_config(cfg, bootstrap, &format!("linerate-shard-{shard}"))
                .create_with_context(context)?,
        );
        let handle = |enabled: bool, name: &str| -> Result<Option<TopicHandle>, KafkaError> {
            if !enabled {
                return Ok(None);
            }
            let c_name = std::ffi::CString::new(name).map_err(|_| {
                KafkaError::ClientCreation(format!("topic name {name:?} has a NUL byte"))
            })?;
            // SAFETY: a live client and a NUL-terminated name; a NULL conf means defaults.
            let rkt = unsafe {
                rdkafka::bindings::rd_kafka_topic_new(
                    producer.client().native_ptr(),
                    c_name.as_ptr(),
                    std::ptr::null_mut(),
                )
            };
            if rkt.is_null() {
                return Err(KafkaError::ClientCreation(format!(
                    "cannot create topic handle {name:?}"
                )));
            }
            Ok(Some(TopicHandle {
                name: name.to_string(),
                rkt,
            }))
        };
        let topics = [
            handle(cfg.raw_enabled, &cfg.raw_topic)?,
            handle(cfg.normalized_enabled, &cfg.normalized_topic)?,
            handle(enriched_topic.is_some(), enriched_topic.unwrap_or_default())?,
        ];
        let dead_letter = handle(cfg.dead_letter_enabled, &cfg.dead_letter_topic)?;
        let partitions = Arc::new(PartitionCounts::default());
        let partitioning =
            cfg.partitions_refresh_ms > 0 && partitions::mirrors_partitioner(&cfg.properties);
        let refresh_stop = if partitioning {
            let (stop_tx, stop_rx) = std::sync::mpsc::channel();
            let names = topics
                .iter()
                .enumerate()
                .filter_map(|(t, h)| h.as_ref().map(|h| (t, h.name.clone())))
                .collect();
            partitions::spawn_refresh(
                Arc::downgrade(&producer),
                names,
                partitions.clone(),
                Duration::from_millis(cfg.partitions_refresh_ms),
                stop_rx,
                format!("kafka-parts-{shard}"),
            )
            .map_err(|e| {
                KafkaError::ClientCreation(format!("cannot start the partition refresh: {e}"))
            })?;
            Some(stop_tx)
        } else {
            None
        };
        Ok(Self {
            topics,
            dead_letter,
            partitions,
            partitioning,
            _refresh_stop: refresh_stop,
            producer,
        })
    }

    /// The partition count of `topic` this sink partitions by: 0 while unknown, or when
    /// librdkafka's partitioner chooses (see [`KafkaSink::new`]).
    pub fn partition_count(&self, topic: Topic) -> u32 {
        if self.partitioning {
            self.partitions.get(topic as usize)
        } else {
            0
        }
    }

    /// Whether `topic` is switched on.
    pub fn enabled(&self, topic: Topic) -> bool {
        self.topics[topic as usize].is_some()
    }

    /// The configured name of `topic` (empty when switched off).
    pub fn topic_name(&self, topic: Topic) -> &str {
        self.topics[topic as usize]
            .as_ref()
            .map_or("", |t| t.name.as_str())
    }

    /// Queue one record (librdkafka copies `payload` and `key`) to the partition its key
    /// maps to, as [`KafkaSink::send_batch`] does. Never blocks. The delivery report carries
    /// `opaque` ([`AckSlots::opaque`]).
    pub fn try_send(
        &self,
        topic: Topic,
        key: &[u8],
        payload: &[u8],
        opaque: usize,
    ) -> Result<(), SendError> {
        let Some(handle) = &self.topics[topic as usize] else {
            return Ok(());
        };
        let partition = partitions::partition_of(key, self.partition_count(topic));
        match produce(handle, partition, key, payload, opaque) {
            // librdkafka's view of the topic lags the metadata the count came from.
            Err(SendError::Rejected(RDKafkaErrorCode::UnknownPartition))
                if partition != UNASSIGNED =>
            {
                produce(handle, UNASSIGNED, key, payload, opaque)
            }
            r => r,
        }
    }

    /// Queue every record of `batch`, one `rd_kafka_produce_batch` call per topic and
    /// partition (a keyed record's partition chosen by [`partitions::partition_of`], order
    /// within a partition kept; records without a key, or of a topic whose partition count
    /// is unknown, in one call where librdkafka's partitioner chooses), and empty the batch.
    /// `outcome` is told every record's opaque and whether it was queued: `QueueFull` for
    /// the records after the producer's queue filled (within a topic, every record of the
    /// partitions handed over after it too; to be resent), `Rejected` for a record refused
    /// for good; never blocks. Records of a topic switched off are dropped silently, as
    /// [`KafkaSink::try_send`] does.
    // Once per batch: out of line costs nothing and lets bench/send_instructions.sh count it.
    #[inline(never)]
    pub fn send_batch(
        &self,
        batch: &mut ProduceBatch,
        mut outcome: impl FnMut(Topic, usize, Result<(), SendError>),
    ) {
        // The payloads are referenced, not copied, while a range is free to hold the buffer.
        let arenas = &self.producer.context().arenas;
        let reserved = arenas.reserve();
        let flags = if reserved.is_some() {
            0
        } else {
            rdkafka::bindings::RD_KAFKA_MSG_F_COPY
        };
        let ProduceBatch {
            bytes,
            records,
            groups,
        } = batch;
        let mut accepted = 0;
        for topic in [Topic::Raw, Topic::Normalized, Topic::Enriched] {
            let records = &records[topic as usize];
            if records.is_empty() {
                continue;
            }
            let Some(handle) = &self.topics[topic as usize] else {
                continue;
            };
            let keys = records.iter().map(|r| &bytes[r.key.0..r.key.0 + r.key.1]);
            let order = groups.group(keys, self.partition_count(topic));
            let base = bytes.as_ptr();
            // The librdkafka view of the topic's records in `order` (raw pointers: built per
            // call, so the batch stays `Send` and moves to its shard's thread).
            let mut messages: Vec<_> = order
                .iter()
                .map(|&(_, i)| records[i as usize].message(base))
                .collect();
            produce_runs(handle, order, &mut messages, flags);
            for m in &messages {
                let result = match RDKafkaErrorCode::from(m.err) {
                    RDKafkaErrorCode::NoError => Ok(()),
                    RDKafkaErrorCode::QueueFull => Err(SendError::QueueFull),
                    other => Err(SendError::Rejected(other)),
                };
                accepted += usize::from(result.is_ok());
                outcome(topic, m._private as usize, result);
            }
        }
        if let Some(r) = reserved {
            if accepted > 0 {
                // librdkafka points into `bytes` until the reports: hold it, take another.
                *bytes = arenas.hold(r, std::mem::take(bytes), accepted);
            } else {
                arenas.unreserve(r);
            }
        }
        batch.clear();
    }

    /// Whether a dead-letter topic is configured.
    pub fn has_dead_letter_topic(&self) -> bool {
        self.dead_letter.is_some()
    }

    /// The dead-letter topic's name (empty when off).
    pub fn dead_letter_topic(&self) -> &str {
        self.dead_letter.as_ref().map_or("", |t| t.name.as_str())
    }

    /// Queue a dead-letter record (as [`KafkaSink::try_send`]); `opaque` is
    /// [`AckSlots::dead_letter_opaque`]. `Rejected` when no dead-letter topic is configured.
    pub fn try_send_dead_letter(
        &self,
        key: &[u8],
        payload: &[u8],
        opaque: usize,
    ) -> Result<(), SendError> {
        match &self.dead_letter {
            Some(handle) => produce(handle, UNASSIGNED, key, payload, opaque),
            None => Err(SendError::Rejected(RDKafkaErrorCode::UnknownTopic)),
        }
    }

    /// Serve delivery reports without blocking (runs the callbacks on this thread).
    pub fn poll(&self) {
        self.acks().set_poll_time(crate::event::unix_micros_now());
        self.producer.poll(Duration::ZERO);
    }

    /// Serve up to [`POLL_EVENTS_MAX`] queued delivery-report events (rdkafka's `poll` with a
    /// zero timeout takes one event per call; each event carries a whole batch of reports).
    pub fn poll_batch(&self) {
        self.acks().set_poll_time(crate::event::unix_micros_now());
        for _ in 0..POLL_EVENTS_MAX {
            self.producer.poll(Duration::ZERO);
        }
    }

    /// Records queued or in flight, not yet reported.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// The delivery state of this producer's events.
    pub fn acks(&self) -> &AckSlots {
        &self.producer.context().acks
    }

    /// Delivery counters of this producer.
    pub fn counters(&self) -> &DeliveryCounters {
        &self.producer.context().counters
    }

    /// Block until everything queued is delivered or `timeout` passes (shutdown only).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Records waiting to be handed to the producer together, one `rd_kafka_produce_batch`
/// call per topic and partition ([`KafkaSink::send_batch`]): one call, one topic lock, one
/// partition lookup and one clock read per partition of a batch instead of per record.
/// Payloads and keys are copied into one buffer, so the batch borrows nothing; librdkafka
/// references the payloads there until their delivery reports (the buffer is then held by
/// [`PayloadArenas`] and the batch takes another), or copies them when every arena is held.
/// Reused: [`ProduceBatch::clear`] keeps the allocations.
#[derive(Debug, Default)]
pub struct ProduceBatch {
    bytes: Vec<u8>,
    records: [Vec<BatchRecord>; TOPIC_COUNT],
    /// Groups a topic's records by partition.
    groups: partitions::PartitionGroups,
}

/// One record of a [`ProduceBatch`]: where its payload and key are in the batch's buffer.
#[derive(Debug, Clone, Copy)]
struct BatchRecord {
    payload: (usize, usize),
    key: (usize, usize),
    opaque: usize,
}

impl BatchRecord {
    /// librdkafka's view of this record, its payload and key inside the buffer at `base`.
    fn message(&self, base: *const u8) -> rdkafka::bindings::rd_kafka_message_t {
        // SAFETY: all-zero is a valid rd_kafka_message_t (null pointers, no error).
        let mut m: rdkafka::bindings::rd_kafka_message_t = unsafe { std::mem::zeroed() };
        m.partition = UNASSIGNED; // not read: the partition is the call's
                                  // SAFETY: the ranges were pushed inside the buffer `base` starts, which is not
                                  // touched until the messages were handed over.
        m.payload = unsafe { base.add(self.payload.0) } as *mut std::ffi::c_void;
        m.len = self.payload.1;
        m.key = unsafe { base.add(self.key.0) } as *mut std::ffi::c_void;
        m.key_len = self.key.1;
        m._private = self.opaque as *mut std::ffi::c_void;
        m
    }
}

impl ProduceBatch {
    /// Add a record for `topic` (its delivery report carries `opaque`).
    pub fn push(&mut self, topic: Topic, key: &[u8], payload: &[u8], opaque: usize) {
        let p = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        if payload.is_empty() {
            // Every payload starts inside the buffer, so its report finds the buffer.
            self.bytes.push(0);
        }
        let k = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.records[topic as usize].push(BatchRecord {
            payload: (p, payload.len()),
            key: (k, key.len()),
            opaque,
        });
    }

    /// Records waiting, over all topics.
    pub fn len(&self) -> usize {
        self.records.iter().map(Vec::len).sum()
    }

    /// Whether no record waits.
    pub fn is_empty(&self) -> bool {
        self.records.iter().all(Vec::is_empty)
    }

    /// Forget every record, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        for r in &mut self.records {
            r.clear();
        }
    }
}

/// Hand `messages` over in `order`'s runs of one partition, one `rd_kafka_produce_batch`
/// call each; every message's `err` says how it went. A run refused whole for one reason
/// other than a full queue goes again through librdkafka's partitioner, so each record gets
/// the outcome it had before partitions were chosen here: with a partition given,
/// librdkafka checks the topic and partition once before any record (and refuses them all
/// with the topic's error, or `UnknownPartition` when its view of the topic has fewer
/// partitions than the metadata the count came from: it lags a refresh), where its
/// partitioner checks a record's size first. Once the producer's queue is full, the
/// topic's later runs are not tried (`QueueFull`).
fn produce_runs(
    handle: &TopicHandle,
    order: &[(i32, u32)],
    messages: &mut [rdkafka::bindings::rd_kafka_message_t],
    flags: i32,
) {
    let queue_full = rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__QUEUE_FULL;
    let no_error = rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR;
    let mut full = false;
    let mut rest = messages;
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        let (msgs, after) = rest.split_at_mut(run.len());
        rest = after;
        if full {
            msgs.iter_mut().for_each(|m| m.err = queue_full);
            continue;
        }
        let partition = run[0].0;
        produce_batch(handle, partition, msgs, flags);
        let first = msgs[0].err;
        let refused_whole = first != no_error && msgs.iter().all(|m| m.err == first);
        if partition != UNASSIGNED && refused_whole && first != queue_full {
            produce_batch(handle, UNASSIGNED, msgs, flags);
        }
        full = msgs.iter().any(|m| m.err == queue_full);
    }
}

/// One `rd_kafka_produce_batch` call per `i32::MAX` messages to `partition` of `handle`
/// (`UNASSIGNED`: librdkafka's partitioner chooses each), with `flags` (0: the payloads are
/// referenced, and must stay until their reports; `RD_KAFKA_MSG_F_COPY`: copied).
fn produce_batch(
    handle: &TopicHandle,
    partition: i32,
    messages: &mut [rdkafka::bindings::rd_kafka_message_t],
    flags: i32,
) {
    for chunk in messages.chunks_mut(i32::MAX as usize) {
        // SAFETY: a live topic handle; every message points into a batch's buffer, only
        // read (keys are always copied; payloads too with RD_KAFKA_MSG_F_COPY, else the
        // caller keeps the buffer unchanged until each accepted record's delivery report,
        // PayloadArenas); the call writes each message's `err` and nothing else we read.
        // Without RD_KAFKA_MSG_F_PARTITION the messages' own `partition` is not read: a
        // partition given here is looked up once for the whole chunk.
        unsafe {
            rdkafka::bindings::rd_kafka_produce_batch(
                handle.rkt,
                partition,
                flags,
                chunk.as_mut_ptr(),
                chunk.len() as i32,
            )
        };
    }
}

/// Queue one record on `handle`'s `partition` (`UNASSIGNED`: the partitioner chooses by
/// key) without blocking (see [`KafkaSink::try_send`]).
fn produce(
    handle: &TopicHandle,
    partition: i32,
    key: &[u8],
    payload: &[u8],
    opaque: usize,
) -> Result<(), SendError> {
    // SAFETY: a live topic handle; payload and key are only read (MSG_F_COPY copies them
    // before returning); the opaque is a plain integer, read back as `usize` by
    // ShardContext::delivery.
    let rc = unsafe {
        rdkafka::bindings::rd_kafka_produce(
            handle.rkt,
            partition,
            rdkafka::bindings::RD_KAFKA_MSG_F_COPY,
            payload.as_ptr() as *mut std::ffi::c_void,
            payload.len(),
            key.as_ptr().cast(),
            key.len(),
            opaque as *mut std::ffi::c_void,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: librdkafka's thread-local error of the call above, on this thread.
    let code: RDKafkaErrorCode = unsafe { rdkafka::bindings::rd_kafka_last_error() }.into();
    match code {
        RDKafkaErrorCode::QueueFull => Err(SendError::QueueFull),
        other => Err(SendError::Rejected(other)),
    }
}

/// The in-process mock cluster behind `brokers = "embedded"`; dropping it stops the brokers.
pub struct EmbeddedKafka {
    cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Start a one-broker mock cluster with `topics` created, `partitions` each.
    pub fn start(topics: &[&str], partitions: i32) -> Result<Self, KafkaError> {
        let cluster = rdkafka::mocking::MockCluster::new(1)?;
        for t in topics {
            cluster.create_topic(t, partitions, 1)?;
        }
        Ok(Self { cluster })
    }

    /// The bootstrap list of the mock brokers (`127.0.0.1:PORT`).
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;
    use std::collections::{BTreeMap, HashMap};

    /// librdkafka is built with SSL and SASL: a producer starts with every supported
    /// protocol and mechanism (without SSL built in, `ssl`/`sasl_ssl` are refused at creation).
    #[test]
    fn producers_start_with_every_security_protocol_and_sasl_mechanism() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("pw");
        std::fs::write(&password, "hunter2\n").unwrap();
        let mut cases = vec![("ssl", ""), ("sasl_ssl", "OAUTHBEARER")];
        for protocol in ["sasl_ssl", "sasl_plaintext"] {
            for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
                cases.push((protocol, mechanism));
            }
        }
        for (protocol, mechanism) in cases {
            let mut cfg = KafkaConfig {
                security_protocol: protocol.into(),
                sasl_mechanism: mechanism.into(),
                ..KafkaConfig::default()
            };
            if matches!(mechanism, "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") {
                cfg.sasl_username = "linerate".into();
                cfg.sasl_password_file = Some(password.clone());
            }
            if mechanism == "OAUTHBEARER" {
                cfg.properties
                    .insert("enable.sasl.oauthbearer.unsecure.jwt".into(), "true".into());
            }
            let resolved = cfg.with_security().unwrap();
            assert_eq!(
                resolved.properties.get("sasl.password").map(String::as_str),
                (!cfg.sasl_username.is_empty()).then_some("hunter2")
            );
            let made: Result<BaseProducer, _> =
                producer_config(&resolved, "127.0.0.1:1", "t").create();
            assert!(made.is_ok(), "{protocol} {mechanism}: {:?}", made.err());
        }
    }

    /// Every record of a batch gets its own outcome: queued, refused for good (too large),
    /// or refused because the producer's queue filled (that record and every one after it
    /// in the topic's call), in order, with its opaque; the batch is empty afterwards.
    #[test]
    fn a_batch_reports_each_record_queued_rejected_or_queue_full() {
        let mut cfg = KafkaConfig {
            queue_messages_max: 3,
            ..KafkaConfig::default()
        };
        cfg.properties
            .insert("message.max.bytes".into(), "1000".into());
        // No broker: the producer queues locally, which is all a produce call does.
        let sink = KafkaSink::new(&cfg, None, "127.0.0.1:1", 0, 64).unwrap();
        let mut batch = ProduceBatch::default();
        let big = vec![b'x'; 2000];
        batch.push(Topic::Normalized, b"k", b"n0", 10);
        batch.push(Topic::Normalized, b"k", &big, 11);
        batch.push(Topic::Raw, b"k", b"r0", 20);
        batch.push(Topic::Normalized, b"", b"n1", 12);
        batch.push(Topic::Normalized, b"k", b"n2", 13);
        batch.push(Topic::Normalized, b"k", b"n3", 14);
        assert_eq!(batch.len(), 6);
        let mut seen = Vec::new();
        sink.send_batch(&mut batch, |topic, opaque, r| {
            let r = match r {
                Ok(()) => "queued".to_string(),
                Err(SendError::QueueFull) => "full".to_string(),
                Err(SendError::Rejected(c)) => format!("rejected {c:?}"),
            };
            seen.push((topic, opaque, r));
        });
        let expected = [
            (Topic::Raw, 20, "queued"),
            (Topic::Normalized, 10, "queued"),
            (Topic::Normalized, 11, "rejected MessageSizeTooLarge"),
            (Topic::Normalized, 12, "queued"),
            (Topic::Normalized, 13, "full"),
            (Topic::Normalized, 14, "full"),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(t, o, r)| (*t, *o, r.to_string()))
            .collect();
        assert_eq!(seen, expected);
        assert!(batch.is_empty());
    }

    /// Wait (bounded, not timed) until `pred` holds.
    fn wait_until(what: &str, mut pred: impl FnMut() -> bool) {
        for _ in 0..1200 {
            if pred() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("never happened: {what}");
    }

    /// A sink writing ECS records to `topic` only, with `properties`.
    fn sink_for(
        topic: &str,
        bootstrap: &str,
        refresh_ms: u64,
        properties: &[(&str, &str)],
    ) -> KafkaSink {
        let mut cfg = KafkaConfig {
            normalized_topic: topic.into(),
            raw_enabled: false,
            dead_letter_enabled: false,
            partitions_refresh_ms: refresh_ms,
            linger_ms: 1,
            ..KafkaConfig::default()
        };
        for (k, v) in properties {
            cfg.properties.insert(k.to_string(), v.to_string());
        }
        KafkaSink::new(&cfg, None, bootstrap, 0, 4096).unwrap()
    }

    /// Every record of `topic` (all its `partitions`): payload → partition, and each
    /// partition's payloads in offset order.
    fn consume_all(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        expected: usize,
    ) -> (HashMap<String, i32>, BTreeMap<i32, Vec<String>>) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset, TopicPartitionList};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "partitions-test")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let (mut by_payload, mut in_order) = (HashMap::new(), BTreeMap::<i32, Vec<String>>::new());
        wait_until(&format!("{expected} records consumed from {topic}"), || {
            while let Some(m) = consumer.poll(Duration::from_millis(10)) {
                let m = m.unwrap();
                let payload = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                by_payload.insert(payload.clone(), m.partition());
                in_order.entry(m.partition()).or_default().push(payload);
            }
            by_payload.len() >= expected
        });
        (by_payload, in_order)
    }

    /// The claim the shard's partitioning rests on: with a topic of several partitions,
    /// records handed over per partition land where librdkafka's own partitioner (the
    /// unassigned path, what linerate used before) puts the same keys, which is CRC-32
    /// (`crc32fast`) of the key modulo the count; each key's records keep their order.
    #[test]
    fn keyed_records_land_in_the_partition_librdkafkas_own_partitioner_chooses() {
        const PARTITIONS: i32 = 5;
        let kafka = EmbeddedKafka::start(&["lr.parts", "lr.ref"], PARTITIONS).unwrap();
        let bootstrap = kafka.bootstrap_servers();
        let sink = sink_for("lr.parts", &bootstrap, 60_000, &[]);
        wait_until("the sink knows the partition count", || {
            sink.partition_count(Topic::Normalized) == PARTITIONS as u32
        });
        let reference: BaseProducer = producer_config(&KafkaConfig::default(), &bootstrap, "ref")
            .create()
            .unwrap();
        let keys: Vec<String> = (0..40).map(|i| format!("host-{i}.example.org")).collect();
        let mut batch = ProduceBatch::default();
        let mut seq = 0u64;
        for round in 0..4 {
            for key in keys.iter().map(String::as_str).chain([""]) {
                let payload = format!("{key}|{round}");
                batch.push(
                    Topic::Normalized,
                    key.as_bytes(),
                    payload.as_bytes(),
                    AckSlots::opaque(seq, 1),
                );
                seq += 1;
                reference
                    .send(
                        rdkafka::producer::BaseRecord::to("lr.ref")
                            .key(key)
                            .payload(&payload),
                    )
                    .unwrap();
            }
        }
        let total = seq as usize;
        let mut queued = 0;
        sink.send_batch(&mut batch, |_, _, r| queued += usize::from(r.is_ok()));
        assert_eq!(queued, total);
        reference.flush(Duration::from_secs(30)).unwrap();
        wait_until("every record delivered", || {
            sink.poll();
            sink.counters().delivered[1].load(Ordering::Relaxed) == total as u64
        });
        let (ours, in_order) = consume_all(&bootstrap, "lr.parts", PARTITIONS, total);
        let (theirs, _) = consume_all(&bootstrap, "lr.ref", PARTITIONS, total);
        let mut used = std::collections::BTreeSet::new();
        for key in &keys {
            let crc = (crc32fast::hash(key.as_bytes()) % PARTITIONS as u32) as i32;
            for round in 0..4 {
                let payload = format!("{key}|{round}");
                assert_eq!(
                    theirs[&payload], crc,
                    "librdkafka's partitioner is CRC-32: {payload}"
                );
                assert_eq!(ours[&payload], crc, "{payload}");
            }
            used.insert(crc);
            // One key's records, in their partition, in the order they were pushed.
            let rounds: Vec<&String> = in_order[&crc]
                .iter()
                .filter(|p| p.starts_with(&format!("{key}|")))
                .collect();
            let pushed: Vec<String> = (0..4).map(|r| format!("{key}|{r}")).collect();
            assert_eq!(rounds, pushed.iter().collect::<Vec<_>>());
        }
        assert!(
            used.len() >= 4,
            "the keys spread over the partitions: {used:?}"
        );
        for round in 0..4 {
            assert!(
                ours.contains_key(&format!("|{round}")),
                "unkeyed records delivered too"
            );
        }
    }

    /// librdkafka references the batches' payloads instead of copying them: each batch's
    /// buffer is held while its records are in flight (the next batches are written into
    /// other buffers meanwhile) and taken back once every record was reported; every
    /// payload arrives as it was pushed, an empty one included.
    #[test]
    fn referenced_payloads_arrive_intact_and_their_buffers_come_back() {
        let kafka = EmbeddedKafka::start(&["lr.zero"], 1).unwrap();
        let sink = sink_for("lr.zero", &kafka.bootstrap_servers(), 0, &[]);
        let arenas = &sink.producer.context().arenas;
        let mut batch = ProduceBatch::default();
        let (mut seq, mut expected) = (0u64, Vec::new());
        for b in 0..20 {
            for i in 0..100 {
                let payload = if b == 7 && i == 99 {
                    String::new()
                } else {
                    format!("batch {b} record {i} {}", "x".repeat(i))
                };
                batch.push(
                    Topic::Normalized,
                    b"k",
                    payload.as_bytes(),
                    AckSlots::opaque(seq, 1),
                );
                expected.push(payload);
                seq += 1;
            }
            let mut queued = 0;
            sink.send_batch(&mut batch, |_, _, r| queued += usize::from(r.is_ok()));
            assert_eq!(queued, 100);
            assert!(arenas.held() >= 1, "batch {b}: its buffer is held");
        }
        wait_until("every record delivered", || {
            sink.poll();
            sink.counters().delivered[1].load(Ordering::Relaxed) == seq
        });
        let r = arenas.reserve().unwrap();
        arenas.unreserve(r);
        assert_eq!(arenas.held(), 0, "every buffer taken back");
        let (_, in_order) = consume_all(&kafka.bootstrap_servers(), "lr.zero", 1, expected.len());
        assert_eq!(in_order[&0], expected);
    }

    /// A count above librdkafka's own (its metadata lags ours) sends the records it has no
    /// partition for through its partitioner: all are queued and delivered, none rejected.
    #[test]
    fn a_partition_librdkafka_does_not_know_yet_falls_back_to_its_partitioner() {
        let kafka = EmbeddedKafka::start(&["lr.lag"], 2).unwrap();
        let sink = sink_for("lr.lag", &kafka.bootstrap_servers(), 3_600_000, &[]);
        wait_until("the sink knows the partition count", || {
            sink.partition_count(Topic::Normalized) == 2
        });
        // As if a refresh had seen the topic grow before the producer's own view did.
        sink.partitions.set(Topic::Normalized as usize, 64);
        let mut batch = ProduceBatch::default();
        for i in 0..64u64 {
            let key = format!("h{i}");
            batch.push(
                Topic::Normalized,
                key.as_bytes(),
                b"x",
                AckSlots::opaque(i, 1),
            );
        }
        let mut outcomes = Vec::new();
        sink.send_batch(&mut batch, |_, _, r| outcomes.push(r.is_ok()));
        assert_eq!(outcomes, vec![true; 64]);
        assert_eq!(
            sink.try_send(Topic::Normalized, b"h3", b"y", AckSlots::opaque(64, 1))
                .ok(),
            Some(())
        );
        wait_until("every record delivered", || {
            sink.poll();
            sink.counters().delivered[1].load(Ordering::Relaxed) == 65
        });
        assert_eq!(sink.counters().failed[1].load(Ordering::Relaxed), 0);
    }

    /// The refresh picks up a topic that appears after start-up (its count was unknown:
    /// librdkafka's partitioner chose meanwhile).
    #[test]
    fn the_refresh_picks_up_a_topic_created_after_start_up() {
        let kafka = EmbeddedKafka::start(&[], 1).unwrap();
        let sink = sink_for(
            "lr.late",
            &kafka.bootstrap_servers(),
            50,
            &[("allow.auto.create.topics", "false")],
        );
        assert_eq!(sink.partition_count(Topic::Normalized), 0);
        kafka.cluster.create_topic("lr.late", 3, 1).unwrap();
        wait_until("the new topic's count", || {
            sink.partition_count(Topic::Normalized) == 3
        });
    }

    /// A partitioner linerate does not reproduce, or a refresh interval of 0, leaves every
    /// record to librdkafka's partitioner.
    #[test]
    fn another_partitioner_or_no_refresh_leaves_librdkafka_choosing() {
        let kafka = EmbeddedKafka::start(&["lr.other"], 3).unwrap();
        let b = kafka.bootstrap_servers();
        let mirrored = sink_for("lr.other", &b, 60_000, &[("partitioner", "consistent")]);
        let murmur = sink_for("lr.other", &b, 60_000, &[("partitioner", "murmur2_random")]);
        let off = sink_for("lr.other", &b, 0, &[]);
        wait_until("the mirrored sink knows the count", || {
            mirrored.partition_count(Topic::Normalized) == 3
        });
        assert_eq!(murmur.partition_count(Topic::Normalized), 0);
        assert_eq!(off.partition_count(Topic::Normalized), 0);
        assert!(murmur._refresh_stop.is_none() && off._refresh_stop.is_none());
    }

    #[test]
    fn an_explicit_property_wins_over_a_first_class_key() {
        let mut cfg = KafkaConfig {
            security_protocol: "ssl".into(),
            ..KafkaConfig::default()
        };
        cfg.properties
            .insert("security.protocol".into(), "plaintext".into());
        let resolved = cfg.with_security().unwrap();
        assert_eq!(resolved.properties["security.protocol"], "plaintext");
    }
}
