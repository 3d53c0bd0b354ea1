//! The sender half of a shard: takes events from its ring in order, normalizes them,
//! hands them to the producer, and frees ring space only as Kafka acknowledges them.
//!
//! Guarantees:
//! - Nothing leaves the ring before Kafka acknowledged every topic of it (acks=all); a
//!   failed delivery, or a full producer queue, is resent after a backoff (10 ms doubling
//!   up to `retry_backoff_ms_max`), never dropped. Delivery is at-least-once: a resend or a
//!   replay after a crash may duplicate, and both are counted.
//! - The acknowledged position only moves over a prefix of events that are all settled, so
//!   a restart resends exactly the events not known to be in Kafka.
//! - Bounded: at most `in_flight_events_max` events between the ring and Kafka's reports;
//!   the normalized JSON is built in one reused buffer, its enriched copy in another.
//! - With an enrichment table every event also goes to the enriched topic (with `labels`
//!   when a row matched, else unchanged), and is acknowledged only when every topic it went
//!   to reported delivery.
//! - A record Kafka rejects for good (too large, invalid topic...) is not resent: its dead
//!   letter (the event and the reason) goes to the dead-letter topic, or to the shard's
//!   dead-letter file when that fails too ([`crate::sink::dead_letter`]); only then is the
//!   event done. Dropped (and counted) only if that file is full.
//! - With a spill: above the high watermark the spill task moves the ring's oldest events
//!   to disk ([`crate::buffer::spill`]); the sender takes events from the spill and the ring
//!   in sequence order, so nothing overtakes what spilled before it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::acks::AckSlots;
use crate::buffer::frame::Event;
use crate::buffer::ring::{Full, Ring};
use crate::buffer::spill::{Collected, Spill};
use crate::config::{BufferConfig, FsyncPolicy};
use crate::event::ReceiveMeta;
use crate::event::RecordKind;
use crate::event::Transport;
use crate::nesting;
use crate::normalize;
use crate::normalize::enrich::{self, EnrichTable};
use crate::normalize::Normalized;
use crate::parse::ParseOptions;
use crate::sink::dead_letter::{self, DeadLetterFile};
use crate::sink::kafka::{KafkaSink, ProduceBatch, SendError, Topic, TOPIC_COUNT};
use crate::stats::{add, DropReason, ShardStats};

/// First wait before resending failures.
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(10);
const TOPICS: [Topic; TOPIC_COUNT] = [Topic::Raw, Topic::Normalized, Topic::Enriched];
/// Events normalized before their records are handed to the producer in one call per topic
/// ([`KafkaSink::send_batch`]).
const PRODUCE_BATCH_EVENTS_MAX: usize = 256;

/// What the sender writes an event into, reused for every event, and the table it enriches
/// with (read-only, loaded at start-up).
struct Encoder {
    /// The normalized JSON (also the buffer of dead-letter records).
    normalized: Vec<u8>,
    /// The enriched copy of `normalized`.
    enriched: Vec<u8>,
    table: Option<Arc<EnrichTable>>,
    /// The `tls` object of the last TLS session block seen, rendered once.
    tls: normalize::tls::TlsFields,
}

/// An event handed to the producer, not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    /// Its frame's ring position, or `None` when it was read from the spill.
    pos: Option<u64>,
    /// When it was received (its frame's), for the receive→ack latency.
    received_unix_micros: i64,
}

/// A shard's ring and what is in flight from it (see the module docs).
pub struct Delivery {
    ring: Ring,
    spill: Option<Spill>,
    /// The next sequence number to send: events below it were handed to the producer.
    next_seq: u64,
    /// Ring bytes above which spilling starts, and below which it stops.
    spill_high_bytes: u64,
    spill_low_bytes: u64,
    spilling: bool,
    in_flight: VecDeque<InFlight>,
    enc: Encoder,
    /// The records of the events being pumped, handed over together.
    batch: ProduceBatch,
    fsync: FsyncPolicy,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    /// When failed events are next resent (`None`: nothing known to have failed).
    retry_due: Option<Instant>,
    /// [`AckSlots::failures`] when failures were last looked for.
    failures_seen: u64,
    /// [`AckSlots::dead`] when rejections were last looked for.
    dead_seen: u64,
    /// A dead letter could not be queued (producer queue full): look again.
    dead_retry: bool,
    dead_letters: DeadLetterFile,
    shard: usize,
}

/// The bytes to key a record by: the hostname, else the peer's IP.
fn key<'k>(
    hostname: Option<&'k str>,
    peer: Option<std::net::SocketAddr>,
    buf: &'k mut [u8; 64],
) -> &'k [u8] {
    match (hostname, peer) {
        (Some(h), _) => h.as_bytes(),
        (None, Some(peer)) => ip_key(buf, peer),
        (None, None) => b"",
    }
}

/// Format the peer IP (no port) into `buf` without allocating.
fn ip_key(buf: &mut [u8; 64], peer: std::net::SocketAddr) -> &[u8] {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{}", peer.ip());
    let n = cursor.position() as usize;
    &buf[..n]
}

impl Delivery {
    /// Wrap shard `shard`'s opened ring and, when spilling is on, its opened spill; with
    /// `table`, events are enriched for the enriched topic.
    pub fn new(
        shard: usize,
        ring: Ring,
        spill: Option<Spill>,
        cfg: &BufferConfig,
        in_flight_max: usize,
        table: Option<Arc<EnrichTable>>,
    ) -> Self {
        let dead_letters = DeadLetterFile::new(
            cfg.data_dir
                .join(format!("shard-{shard}.deadletter.ndjson")),
            cfg.dead_letter_file_bytes_max,
        );
        let cap = ring.capacity_bytes();
        Self {
            next_seq: ring.acked_seq(),
            spill_high_bytes: cap / 100 * u64::from(cfg.spill_high_watermark_percent),
            spill_low_bytes: cap / 100 * u64::from(cfg.spill_low_watermark_percent),
            spilling: false,
            spill,
            ring,
            in_flight: VecDeque::with_capacity(in_flight_max),
            enc: Encoder {
                normalized: Vec::with_capacity(64 << 10),
                enriched: Vec::with_capacity(if table.is_some() { 64 << 10 } else { 0 }),
                table,
                tls: normalize::tls::TlsFields::default(),
            },
            batch: ProduceBatch::default(),
            fsync: cfg.fsync,
            retry_backoff: RETRY_BACKOFF_MIN,
            retry_backoff_max: Duration::from_millis(cfg.retry_backoff_ms_max)
                .max(RETRY_BACKOFF_MIN),
            retry_due: None,
            failures_seen: 0,
            dead_seen: 0,
            dead_retry: false,
            dead_letters,
            shard,
        }
    }

    /// Append a received event to the ring (and sync it under `fsync = "always"`), with
    /// the TLS block of its connection (empty: not over TLS).
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        meta: &ReceiveMeta,
        transport: Transport,
        truncated: bool,
        kind: RecordKind,
        tls: &[u8],
        raw: &[u8],
        stats: &ShardStats,
    ) -> Result<(), Full> {
        self.ring
            .append_tls(meta, transport, truncated, kind, tls, raw)?;
        if self.fsync == FsyncPolicy::Always {
            self.sync(stats);
        }
        Ok(())
    }

    /// Append every record of `records` (kind and bytes, not truncated) or none of them:
    /// `Err(Full)` when they would not all fit now, and nothing is written then.
    pub fn append_all(
        &mut self,
        meta: &ReceiveMeta,
        transport: Transport,
        records: &[(RecordKind, Vec<u8>)],
        stats: &ShardStats,
    ) -> Result<(), Full> {
        if !self.ring.fits_all(records.iter().map(|(_, r)| r.len())) {
            return Err(Full);
        }
        for (kind, raw) in records {
            // fits_all said every one fits; appended without yielding, so they still do.
            self.ring.append(meta, transport, false, *kind, raw)?;
        }
        if self.fsync == FsyncPolicy::Always {
            self.sync(stats);
        }
        Ok(())
    }

    /// Hand unsent events to the producer until the ring is empty, the in-flight bound is
    /// reached, the producer's queue is full or `events_max` events were handed over (then
    /// returns true: more may wait). Records go over in batches of
    /// [`PRODUCE_BATCH_EVENTS_MAX`] events, one producer call per topic; an event is in
    /// flight from when it joins a batch, and a record the producer refuses is marked (to be
    /// resent, or dead-lettered when refused for good) before this returns.
    pub fn pump(
        &mut self,
        sink: &KafkaSink,
        stats: &ShardStats,
        parse: &ParseOptions,
        events_max: usize,
    ) -> bool {
        let acks = sink.acks();
        let window = acks.capacity().min(self.in_flight.capacity());
        let mut handed = 0;
        let mut queue_full = false;
        while self.in_flight.len() < window && handed < events_max && !queue_full {
            // The ring's next event, past copies of what was already sent (a spill write
            // the ring had not let go of when the process stopped).
            let ring_seq = loop {
                match self.ring.next_unsent() {
                    Some(u) if u.event.seq < self.next_seq => {
                        let end = u.end;
                        self.ring.advance_read(end);
                    }
                    u => break u.map(|u| u.event.seq),
                }
            };
            let spill_seq = match &mut self.spill {
                Some(sp) if !sp.is_empty_from(self.next_seq) => sp.next_seq_from(self.next_seq),
                _ => None,
            };
            let (seq, from_spill) = match (ring_seq, spill_seq) {
                (None, None) => break,
                (Some(r), Some(s)) if s < r => (s, true),
                (None, Some(s)) => (s, true),
                (Some(r), _) => (r, false),
            };
            if !acks.state(seq).free() {
                // A slot still held by an older event (sequence gap after damage): wait.
                break;
            }
            let all = [true; TOPIC_COUNT];
            let to = Handoff::Batch(&mut self.batch);
            let (pos, received_unix_micros) = if from_spill {
                let sp = self.spill.as_mut().expect("spill_seq came from it");
                if sp.is_replay(seq) {
                    add(&stats.replayed, 1);
                }
                let e = sp.event(seq).expect("just found");
                send(sink, acks, stats, parse, &mut self.enc, &e, all, true, to);
                (None, e.meta.received_unix_micros)
            } else {
                let u = self.ring.next_unsent().expect("just found");
                if u.replayed {
                    add(&stats.replayed, 1);
                }
                let (pos, end, received) = (u.pos, u.end, u.event.meta.received_unix_micros);
                send(
                    sink,
                    acks,
                    stats,
                    parse,
                    &mut self.enc,
                    &u.event,
                    all,
                    true,
                    to,
                );
                self.ring.advance_read(end);
                (Some(pos), received)
            };
            self.next_seq = seq + 1;
            self.in_flight.push_back(InFlight {
                seq,
                pos,
                received_unix_micros,
            });
            handed += 1;
            if handed % PRODUCE_BATCH_EVENTS_MAX == 0 {
                queue_full = flush_batch(sink, acks, stats, &mut self.batch);
            }
        }
        if !self.batch.is_empty() {
            queue_full |= flush_batch(sink, acks, stats, &mut self.batch);
        }
        if queue_full {
            self.schedule_retry(Instant::now());
        }
        add_gauge(stats, self);
        handed == events_max
    }

    /// Serve what the delivery reports said: free the acknowledged prefix of the ring and
    /// resend failures whose backoff has passed.
    pub fn settle(&mut self, sink: &KafkaSink, stats: &ShardStats, parse: &ParseOptions) {
        let acks = sink.acks();
        // Receive→ack latency: to when the event's own last report came (the ring frees in
        // sequence order, later); a clock read per call only for events done without one.
        let mut now = None;
        while let Some(f) = self.in_flight.front() {
            let st = acks.state(f.seq);
            if !st.free() {
                break;
            }
            let acked = acks
                .done_unix_micros(f.seq)
                .unwrap_or_else(|| *now.get_or_insert_with(crate::event::unix_micros_now));
            stats.latency.record_between(f.received_unix_micros, acked);
            acks.clear(f.seq);
            self.in_flight.pop_front();
        }
        match self.in_flight.front() {
            // Everything before the oldest event in flight is acknowledged.
            Some(f) => {
                if let Some(pos) = f.pos {
                    self.ring.set_ack(pos);
                }
                let seq = f.seq;
                self.ring.set_acked_seq(seq);
                if let Some(sp) = &mut self.spill {
                    sp.ack(seq);
                }
            }
            None => {
                let read = self.ring.read_pos();
                self.ring.set_ack(read);
                self.ring.set_acked_seq(self.next_seq);
                if let Some(sp) = &mut self.spill {
                    sp.ack(self.next_seq);
                }
            }
        }
        if acks.dead() != self.dead_seen || self.dead_retry {
            self.dead_seen = acks.dead();
            self.dead_letter(sink, stats);
        }
        let now = Instant::now();
        if acks.failures() != self.failures_seen && self.retry_due.is_none() {
            self.schedule_retry(now);
        }
        if self.retry_due.is_some_and(|due| now >= due) {
            self.failures_seen = acks.failures();
            self.resend_failed(sink, stats, parse, now);
        }
        add_gauge(stats, self);
    }

    /// Sync the ring now (msync, blocking the shard's thread: shutdown, `fsync = "always"`
    /// and the fallback of the ring sync task), counting a failure.
    pub fn sync(&mut self, stats: &ShardStats) {
        if let Err(e) = self.ring.sync() {
            add(&stats.sync_errors, 1);
            tracing::error!(error = %e, "ring msync failed");
        }
    }

    /// Everything appended has been acknowledged (ring and spill).
    pub fn is_drained(&self) -> bool {
        self.ring.is_drained() && self.spill.as_ref().is_none_or(|s| s.is_drained())
    }

    /// Whether the spill task should move a block out of the ring now (above the high
    /// watermark, and until below the low one).
    pub fn spill_wanted(&mut self) -> bool {
        if self.spill.is_none() {
            return false;
        }
        let used = self.ring.used_bytes();
        if used >= self.spill_high_bytes {
            self.spilling = true;
        } else if used < self.spill_low_bytes {
            self.spilling = false;
        }
        self.spilling
    }

    /// Copy the ring's oldest frames (up to `bytes_max`) into `out` for a spill block.
    pub fn collect_for_spill(&mut self, out: &mut Vec<u8>, bytes_max: usize) -> Option<Collected> {
        self.ring.collect_oldest(out, bytes_max)
    }

    /// The block `c` is on disk: the ring lets go of its frames.
    pub fn spilled(&mut self, c: &Collected) {
        self.ring.release(c.ring_end);
    }

    /// The spill, when spilling is on.
    pub fn spill_mut(&mut self) -> Option<&mut Spill> {
        self.spill.as_mut()
    }

    /// The spill, when spilling is on.
    pub fn spill(&self) -> Option<&Spill> {
        self.spill.as_ref()
    }

    /// Events handed to the producer and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Dead-letter every rejected topic of the events in flight: to the dead-letter topic,
    /// else (off, or it failed too) to the dead-letter file.
    fn dead_letter(&mut self, sink: &KafkaSink, stats: &ShardStats) {
        let acks = sink.acks();
        self.dead_retry = false;
        let (mut to_topic, mut to_file, mut last_reason) = (0u64, 0u64, String::new());
        for f in &self.in_flight {
            let st = acks.state(f.seq);
            if !st.needs_dead_letter() {
                continue;
            }
            let event = buffered_event(&self.ring, &mut self.spill, f);
            let reason = crate::sink::kafka::permanent_error_text(acks.reason(f.seq));
            for (t, topic) in TOPICS.iter().enumerate() {
                if !(st.topic_dead(t) || st.topic_dl_failed(t)) {
                    continue;
                }
                let Some(event) = &event else {
                    tracing::error!(
                        seq = f.seq,
                        "buffered event damaged before its dead letter; skipped"
                    );
                    acks.dead_letter_done(f.seq, t);
                    continue;
                };
                dead_letter::write_record(
                    &mut self.enc.normalized,
                    self.shard,
                    sink.topic_name(*topic),
                    &reason,
                    event,
                );
                if st.topic_dead(t) && sink.has_dead_letter_topic() {
                    let mut key_buf = [0u8; 64];
                    let key = key(None, event.meta.peer, &mut key_buf);
                    match sink.try_send_dead_letter(
                        key,
                        &self.enc.normalized,
                        AckSlots::dead_letter_opaque(f.seq, t),
                    ) {
                        Ok(()) => {
                            acks.dead_letter_sent(f.seq, t);
                            to_topic += 1;
                            last_reason.clone_from(&reason);
                            continue;
                        }
                        Err(SendError::QueueFull) => {
                            self.dead_retry = true;
                            continue;
                        }
                        Err(SendError::Rejected(_)) => {}
                    }
                }
                match self.dead_letters.append(&self.enc.normalized) {
                    Ok(()) => {
                        add(&stats.dead_lettered_file, 1);
                        to_file += 1;
                        last_reason.clone_from(&reason);
                    }
                    Err(e) => {
                        add(&stats.dropped[DropReason::DeadLetterFull as usize], 1);
                        tracing::error!(error = %e, seq = f.seq, "dead letter dropped: the dead-letter file cannot take it");
                    }
                }
                acks.dead_letter_done(f.seq, t);
            }
        }
        if to_topic + to_file > 0 {
            tracing::warn!(
                shard = self.shard,
                to_topic,
                to_file,
                file = %self.dead_letters.path().display(),
                reason = %last_reason,
                "kafka rejected records for good: dead-lettered"
            );
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        if self.retry_due.is_none() {
            self.retry_due = Some(now + self.retry_backoff);
        }
    }

    /// Resend every settled-but-failed topic of the events in flight.
    fn resend_failed(
        &mut self,
        sink: &KafkaSink,
        stats: &ShardStats,
        parse: &ParseOptions,
        now: Instant,
    ) {
        let acks = sink.acks();
        let mut still_failing = false;
        for f in &self.in_flight {
            let st = acks.state(f.seq);
            if !st.failed() {
                continue;
            }
            let topics = std::array::from_fn(|t| st.topic_failed(t));
            let event = buffered_event(&self.ring, &mut self.spill, f);
            let Some(event) = event else {
                // Damaged after it was first read: nothing left to send.
                tracing::error!(
                    seq = f.seq,
                    "buffered event damaged before its resend; skipped"
                );
                acks.clear(f.seq);
                continue;
            };
            add(&stats.resent, 1);
            if send(
                sink,
                acks,
                stats,
                parse,
                &mut self.enc,
                &event,
                topics,
                false,
                Handoff::Now,
            ) {
                still_failing = true;
                break;
            }
        }
        if still_failing {
            self.retry_backoff = (self.retry_backoff * 2).min(self.retry_backoff_max);
            self.retry_due = Some(now + self.retry_backoff);
        } else {
            self.retry_backoff = RETRY_BACKOFF_MIN;
            self.retry_due = None;
        }
    }
}

/// The event `f` still waiting for Kafka, from the ring, or from the spill when it moved
/// there since it was sent (or was read from there); `None` if damaged since.
fn buffered_event<'b>(
    ring: &'b Ring,
    spill: &'b mut Option<Spill>,
    f: &InFlight,
) -> Option<Event<'b>> {
    let in_ring = f
        .pos
        .and_then(|pos| ring.event_at(pos))
        .filter(|e| e.seq == f.seq);
    match in_ring {
        Some(e) => Some(e),
        None => spill.as_mut().and_then(|sp| sp.event(f.seq)),
    }
}

/// Where [`send`] hands an event's records: to the producer now, or to a batch handed over
/// later ([`flush_batch`]).
enum Handoff<'b> {
    Now,
    Batch(&'b mut ProduceBatch),
}

/// Hand every record of `batch` to the producer and mark each in `acks` as
/// [`record_outcome`] says. Returns whether the producer's queue was full.
fn flush_batch(
    sink: &KafkaSink,
    acks: &AckSlots,
    stats: &ShardStats,
    batch: &mut ProduceBatch,
) -> bool {
    let mut queue_full = false;
    sink.send_batch(batch, |topic, opaque, result| {
        let seq = AckSlots::opaque_seq(opaque);
        queue_full |= record_outcome(acks, stats, seq, topic as usize, result);
    });
    queue_full
}

/// Mark topic `t` of event `seq` as the producer took it: in flight, failed (the queue was
/// full: resent after a backoff; returns true) or rejected for good (dead-lettered).
fn record_outcome(
    acks: &AckSlots,
    stats: &ShardStats,
    seq: u64,
    t: usize,
    result: Result<(), SendError>,
) -> bool {
    match result {
        Ok(()) => {
            acks.sent(seq, t);
            add(&stats.produced[t], 1);
            false
        }
        Err(SendError::QueueFull) => {
            acks.fail(seq, t);
            add(&stats.backpressure_waits, 1);
            true
        }
        Err(SendError::Rejected(code)) => {
            // Refused for good (e.g. over message.max.bytes): dead-lettered, not retried.
            acks.reject(seq, t, code as i32);
            false
        }
    }
}

/// Normalize `event` and hand the chosen topics to the producer (or to a batch, see
/// [`Handoff`]). Returns whether the producer's queue was full (those topics are marked
/// failed, to be resent); always false for a batch, whose outcome [`flush_batch`] marks.
#[allow(clippy::too_many_arguments)]
fn send(
    sink: &KafkaSink,
    acks: &AckSlots,
    stats: &ShardStats,
    parse: &ParseOptions,
    enc: &mut Encoder,
    event: &Event<'_>,
    topics: [bool; TOPIC_COUNT],
    first_time: bool,
    to: Handoff<'_>,
) -> bool {
    let scratch = &mut enc.normalized;
    scratch.clear();
    // Windows and cloud records nested past the limit are never handed to a parser.
    let too_deep = match event.kind {
        RecordKind::Syslog => None,
        _ => nesting::depth_within(event.raw, nesting::DEPTH_MAX).err(),
    };
    let parsed = match (event.kind, too_deep) {
        (RecordKind::Syslog, _) => {
            match normalize::syslog_to_ecs(event.raw, parse, &event.meta, scratch) {
                Normalized::Event { hostname } => Ok(hostname),
                Normalized::PipelineError => Err(()),
            }
        }
        (kind, Some(e)) => {
            if first_time {
                add(&stats.nesting_too_deep, 1);
            }
            normalize::write_pipeline_error_message(
                scratch,
                event.raw,
                "record.too_deep",
                &format!("the record is {e}"),
                normalize::record_dataset(kind),
                &event.meta,
            );
            Err(())
        }
        // Windows and cloud records: keyed by the peer's IP.
        (kind, None) => match normalize::record_to_ecs(kind, event.raw, &event.meta, scratch) {
            normalize::RecordOutcome::Event => Ok(None),
            normalize::RecordOutcome::PipelineError => Err(()),
        },
    };
    if first_time {
        add(
            if parsed.is_ok() {
                &stats.parsed
            } else {
                &stats.parse_errors
            },
            1,
        );
    }
    let hostname = parsed.unwrap_or(None);
    enc.tls.append(scratch, event.tls);
    let enriched = Topic::Enriched as usize;
    if let Some(table) = enc.table.as_deref() {
        if topics[enriched] && sink.enabled(Topic::Enriched) {
            let peer = event.meta.peer.map(|p| p.ip());
            let matched = enrich::write_enriched(table, scratch, peer, &mut enc.enriched);
            if matched && first_time {
                add(&stats.enriched_matches, 1);
            }
        }
    }
    let mut key_buf = [0u8; 64];
    let key = key(hostname, event.meta.peer, &mut key_buf);
    let mut queue_full = false;
    let mut to = to;
    for topic in TOPICS {
        let t = topic as usize;
        if !topics[t] || !sink.enabled(topic) {
            continue;
        }
        let payload: &[u8] = match topic {
            Topic::Raw => event.raw,
            Topic::Normalized => scratch,
            Topic::Enriched => &enc.enriched,
        };
        let opaque = AckSlots::opaque(event.seq, t);
        match &mut to {
            Handoff::Batch(batch) => batch.push(topic, key, payload, opaque),
            Handoff::Now => {
                let result = sink.try_send(topic, key, payload, opaque);
                queue_full |= record_outcome(acks, stats, event.seq, t, result);
            }
        }
    }
    queue_full
}

fn add_gauge(stats: &ShardStats, d: &Delivery) {
    stats.ring_bytes_used.set(d.ring.used_bytes());
    stats.ring_bytes_capacity.set(d.ring.capacity_bytes());
    let spill_corrupt = d.spill.as_ref().map_or(0, |s| s.corrupt_skipped());
    stats
        .corrupt_skipped
        .set(d.ring.corrupt_skipped() + spill_corrupt);
    if let Some(sp) = &d.spill {
        stats.spill_bytes.set(sp.disk_bytes());
        stats.spill_segments.set(sp.segment_count() as u64);
        stats.spilled_events.set(sp.spilled_events());
    }
    stats.in_flight_events.set(d.in_flight.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch the producer's queue cannot take whole: every event is in flight, each record
    /// the queue refused is marked failed (resent after the backoff, never dropped), the
    /// ones it took are pending their delivery report, and the sender stops for the backoff.
    #[test]
    fn records_a_full_queue_refuses_in_a_batch_are_marked_for_resending() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = BufferConfig {
            data_dir: dir.path().to_path_buf(),
            spill_enabled: false,
            ..BufferConfig::default()
        };
        let ring = Ring::open(&dir.path().join("ring"), 1 << 20).unwrap().0;
        let mut d = Delivery::new(0, ring, None, &cfg, 64, None);
        let kafka = crate::config::KafkaConfig {
            queue_messages_max: 3,
            ..crate::config::KafkaConfig::default()
        };
        // No broker: records stay queued in the producer, which is all this test needs.
        let sink = KafkaSink::new(&kafka, None, "127.0.0.1:1", 0, 64).unwrap();
        let stats = ShardStats::default();
        let meta = ReceiveMeta {
            received_unix_micros: 0,
            peer: None,
        };
        for i in 0..5 {
            let raw = format!("<13>1 2026-12-05T00:00:00Z host app - - - event {i}");
            d.append(
                &meta,
                Transport::Udp,
                false,
                RecordKind::Syslog,
                &[],
                raw.as_bytes(),
                &stats,
            )
            .unwrap();
        }
        let more = d.pump(&sink, &stats, &ParseOptions::default(), 1024);
        assert!(!more);
        assert_eq!(d.in_flight(), 5);
        let acks = sink.acks();
        let (raw, normalized) = (Topic::Raw as usize, Topic::Normalized as usize);
        // The raw topic's call comes first: its first three records fill the queue.
        for seq in 0..5 {
            let st = acks.state(seq);
            assert_eq!(st.topic_failed(raw), seq >= 3, "seq {seq}");
            assert!(st.topic_failed(normalized), "seq {seq}");
            assert!(!st.free(), "seq {seq}");
        }
        assert_eq!(acks.failures(), 7);
        assert_eq!(stats.backpressure_waits.get(), 7);
        assert_eq!(stats.produced[raw].get(), 3);
        assert!(d.retry_due.is_some(), "a resend is scheduled");
    }

    #[test]
    fn ip_key_formats_v4_and_v6() {
        let mut b = [0u8; 64];
        assert_eq!(ip_key(&mut b, "10.1.2.3:514".parse().unwrap()), b"10.1.2.3");
        assert_eq!(ip_key(&mut b, "[::1]:514".parse().unwrap()), b"::1");
    }
}
