//! Kafka output: one rdkafka `BaseProducer` per shard, polled from that shard's thread, so
//! delivery reports run on the shard that produced the record (nothing crosses cores).
//!
//! The in-flight bound is librdkafka's own queue (`queue_messages_max`, `queue_kbytes_max`):
//! when it is full, [`KafkaSink::try_send`] returns [`SendError::QueueFull`] and the shard's
//! sender leaves the event in the ring and tries again once deliveries drained the queue (the
//! inputs go on appending to the ring; only a full ring and spill push back on them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::buffer::acks::{AckSlots, Outcome};
use crate::config::KafkaConfig;

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
}

impl ClientContext for ShardContext {}

impl ProducerContext for ShardContext {
    /// [`AckSlots::opaque`] of the event's sequence number and the topic index.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (dead_letter, topic) = AckSlots::opaque_kind(opaque);
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

/// A shard's Kafka producer and its topic handles.
pub struct KafkaSink {
    // Declared before `producer`: topic handles must be destroyed before the client.
    topics: [Option<TopicHandle>; TOPIC_COUNT],
    dead_letter: Option<TopicHandle>,
    producer: BaseProducer<ShardContext>,
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
    /// topic on.
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
        };
        let producer: BaseProducer<ShardContext> =
            producer_config(cfg, bootstrap, &format!("linerate-shard-{shard}"))
                .create_with_context(context)?;
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
        Ok(Self {
            topics,
            dead_letter,
            producer,
        })
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

    /// Queue one record (librdkafka copies `payload` and `key`; the partitioner hashes the
    /// key). Never blocks. The delivery report carries `opaque` ([`AckSlots::opaque`]).
    pub fn try_send(
        &self,
        topic: Topic,
        key: &[u8],
        payload: &[u8],
        opaque: usize,
    ) -> Result<(), SendError> {
        match &self.topics[topic as usize] {
            Some(handle) => produce(handle, key, payload, opaque),
            None => Ok(()),
        }
    }

    /// Queue every record of `batch`, one `rd_kafka_produce_batch` call per topic (the
    /// partitioner still chooses each record's partition by its key), and empty the batch.
    /// `outcome` is told every record's opaque and whether it was queued: `QueueFull` for
    /// the records after the producer's queue filled (to be resent), `Rejected` for a record
    /// refused for good; never blocks. Records of a topic switched off are dropped silently,
    /// as [`KafkaSink::try_send`] does.
    pub fn send_batch(
        &self,
        batch: &mut ProduceBatch,
        mut outcome: impl FnMut(Topic, usize, Result<(), SendError>),
    ) {
        for topic in [Topic::Raw, Topic::Normalized, Topic::Enriched] {
            let t = topic as usize;
            if batch.records[t].is_empty() {
                continue;
            }
            let Some(handle) = &self.topics[t] else {
                continue;
            };
            let base = batch.bytes.as_ptr();
            // The librdkafka view of the topic's records (raw pointers: built per call, so
            // the batch stays `Send` and moves to its shard's thread).
            let mut messages = Vec::with_capacity(batch.records[t].len());
            for r in &batch.records[t] {
                // SAFETY: all-zero is a valid rd_kafka_message_t (null pointers, no error).
                let mut m: rdkafka::bindings::rd_kafka_message_t = unsafe { std::mem::zeroed() };
                m.partition = -1; // RD_KAFKA_PARTITION_UA: the partitioner chooses (by key)
                                  // SAFETY: the ranges were pushed inside `bytes`, which is not touched until
                                  // the call below has returned.
                m.payload = unsafe { base.add(r.payload.0) } as *mut std::ffi::c_void;
                m.len = r.payload.1;
                m.key = unsafe { base.add(r.key.0) } as *mut std::ffi::c_void;
                m.key_len = r.key.1;
                m._private = r.opaque as *mut std::ffi::c_void;
                messages.push(m);
            }
            for chunk in messages.chunks_mut(i32::MAX as usize) {
                // SAFETY: a live topic handle; every message points into `batch.bytes`, only
                // read (RD_KAFKA_MSG_F_COPY copies payload and key before returning); the
                // call writes each message's `err` and nothing else we read.
                unsafe {
                    rdkafka::bindings::rd_kafka_produce_batch(
                        handle.rkt,
                        -1,
                        rdkafka::bindings::RD_KAFKA_MSG_F_COPY,
                        chunk.as_mut_ptr(),
                        chunk.len() as i32,
                    )
                };
            }
            for m in &messages {
                let result = match RDKafkaErrorCode::from(m.err) {
                    RDKafkaErrorCode::NoError => Ok(()),
                    RDKafkaErrorCode::QueueFull => Err(SendError::QueueFull),
                    other => Err(SendError::Rejected(other)),
                };
                outcome(topic, m._private as usize, result);
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
            Some(handle) => produce(handle, key, payload, opaque),
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
/// call per topic ([`KafkaSink::send_batch`]): one call, one topic lock and one clock read
/// per batch instead of per record. Payloads and keys are copied into one reused buffer, so
/// the batch borrows nothing (librdkafka copies them again, `RD_KAFKA_MSG_F_COPY`, before
/// the call returns). Reused: [`ProduceBatch::clear`] keeps the allocations.
#[derive(Debug, Default)]
pub struct ProduceBatch {
    bytes: Vec<u8>,
    records: [Vec<BatchRecord>; TOPIC_COUNT],
}

/// One record of a [`ProduceBatch`]: where its payload and key are in the batch's buffer.
#[derive(Debug, Clone, Copy)]
struct BatchRecord {
    payload: (usize, usize),
    key: (usize, usize),
    opaque: usize,
}

impl ProduceBatch {
    /// Add a record for `topic` (its delivery report carries `opaque`).
    pub fn push(&mut self, topic: Topic, key: &[u8], payload: &[u8], opaque: usize) {
        let p = self.bytes.len();
        self.bytes.extend_from_slice(payload);
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

/// Queue one record on `handle` without blocking (see [`KafkaSink::try_send`]).
fn produce(
    handle: &TopicHandle,
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
            -1, // RD_KAFKA_PARTITION_UA: the partitioner chooses (by key)
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
