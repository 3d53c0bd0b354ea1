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
//!   the normalized JSON is built in one reused buffer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::buffer::acks::AckSlots;
use crate::buffer::frame::Event;
use crate::buffer::ring::{Full, Ring};
use crate::config::{BufferConfig, FsyncPolicy};
use crate::normalize::{self, Normalized, ReceiveMeta};
use crate::parse::ParseOptions;
use crate::shard::stats::{add, DropReason, ShardStats, Transport};
use crate::sink::kafka::{KafkaSink, SendError, Topic};

/// First wait before resending failures.
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(10);
const TOPICS: [Topic; 2] = [Topic::Raw, Topic::Normalized];

/// An event handed to the producer, not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    pos: u64,
}

/// A shard's ring and what is in flight from it (see the module docs).
pub struct Delivery {
    ring: Ring,
    in_flight: VecDeque<InFlight>,
    scratch: Vec<u8>,
    fsync: FsyncPolicy,
    fsync_interval: Duration,
    last_sync: Instant,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    /// When failed events are next resent (`None`: nothing known to have failed).
    retry_due: Option<Instant>,
    /// [`AckSlots::failures`] when failures were last looked for.
    failures_seen: u64,
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
    /// Wrap an opened ring.
    pub fn new(ring: Ring, cfg: &BufferConfig, in_flight_max: usize) -> Self {
        Self {
            ring,
            in_flight: VecDeque::with_capacity(in_flight_max),
            scratch: Vec::with_capacity(64 << 10),
            fsync: cfg.fsync,
            fsync_interval: Duration::from_millis(cfg.fsync_interval_ms),
            last_sync: Instant::now(),
            retry_backoff: RETRY_BACKOFF_MIN,
            retry_backoff_max: Duration::from_millis(cfg.retry_backoff_ms_max)
                .max(RETRY_BACKOFF_MIN),
            retry_due: None,
            failures_seen: 0,
        }
    }

    /// Append a received event to the ring (and sync it under `fsync = "always"`).
    pub fn append(
        &mut self,
        meta: &ReceiveMeta,
        transport: Transport,
        truncated: bool,
        raw: &[u8],
        stats: &ShardStats,
    ) -> Result<(), Full> {
        self.ring.append(meta, transport, truncated, raw)?;
        if self.fsync == FsyncPolicy::Always {
            self.sync(stats);
        }
        Ok(())
    }

    /// Hand unsent events to the producer until the ring is empty, the in-flight bound is
    /// reached or the producer's queue is full.
    pub fn pump(&mut self, sink: &KafkaSink, stats: &ShardStats, parse: &ParseOptions) {
        let acks = sink.acks();
        let window = acks.capacity().min(self.in_flight.capacity());
        while self.in_flight.len() < window {
            let Some(u) = self.ring.next_unsent() else {
                break;
            };
            let (seq, pos, end) = (u.event.seq, u.pos, u.end);
            if !acks.state(seq).free() {
                // A slot still held by an older event (sequence gap after damage): wait.
                break;
            }
            if u.replayed {
                add(&stats.replayed, 1);
            }
            let all = [true, true];
            let queue_full = send(
                sink,
                acks,
                stats,
                parse,
                &mut self.scratch,
                &u.event,
                all,
                true,
            );
            self.in_flight.push_back(InFlight { seq, pos });
            self.ring.advance_read(end);
            if queue_full {
                self.schedule_retry(Instant::now());
                break;
            }
        }
        add_gauge(stats, self);
    }

    /// Serve what the delivery reports said: free the acknowledged prefix of the ring and
    /// resend failures whose backoff has passed.
    pub fn settle(&mut self, sink: &KafkaSink, stats: &ShardStats, parse: &ParseOptions) {
        let acks = sink.acks();
        while let Some(f) = self.in_flight.front() {
            let st = acks.state(f.seq);
            if !st.settled() || st.failed() {
                break;
            }
            acks.clear(f.seq);
            self.in_flight.pop_front();
        }
        let ack_to = self
            .in_flight
            .front()
            .map_or(self.ring.read_pos(), |f| f.pos);
        self.ring.set_ack(ack_to);
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

    /// Sync the ring if `fsync = "interval"` and the interval has passed.
    pub fn sync_if_due(&mut self, stats: &ShardStats) {
        if self.fsync == FsyncPolicy::Interval && self.last_sync.elapsed() >= self.fsync_interval {
            self.sync(stats);
        }
    }

    /// Sync the ring now (msync), counting a failure.
    pub fn sync(&mut self, stats: &ShardStats) {
        self.last_sync = Instant::now();
        if let Err(e) = self.ring.sync() {
            add(&stats.sync_errors, 1);
            tracing::error!(error = %e, "ring msync failed");
        }
    }

    /// Everything appended has been acknowledged.
    pub fn is_drained(&self) -> bool {
        self.ring.is_drained()
    }

    /// Events handed to the producer and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
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
            if !(st.settled() && st.failed()) {
                continue;
            }
            let topics = [st.topic_failed(0), st.topic_failed(1)];
            let Some(event) = self.ring.event_at(f.pos) else {
                // Damaged after it was first read: nothing left to send.
                tracing::error!(seq = f.seq, "ring frame damaged before its resend; skipped");
                acks.clear(f.seq);
                continue;
            };
            add(&stats.resent, 1);
            if send(
                sink,
                acks,
                stats,
                parse,
                &mut self.scratch,
                &event,
                topics,
                false,
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

/// Normalize `event` and hand the chosen topics to the producer. Returns whether the
/// producer's queue was full (those topics are marked failed, to be resent).
#[allow(clippy::too_many_arguments)]
fn send(
    sink: &KafkaSink,
    acks: &AckSlots,
    stats: &ShardStats,
    parse: &ParseOptions,
    scratch: &mut Vec<u8>,
    event: &Event<'_>,
    topics: [bool; 2],
    first_time: bool,
) -> bool {
    scratch.clear();
    let hostname = match normalize::syslog_to_ecs(event.raw, parse, &event.meta, scratch) {
        Normalized::Event { hostname } => {
            if first_time {
                add(&stats.parsed, 1);
            }
            hostname
        }
        Normalized::PipelineError => {
            if first_time {
                add(&stats.parse_errors, 1);
            }
            None
        }
    };
    let mut key_buf = [0u8; 64];
    let key = key(hostname, event.meta.peer, &mut key_buf);
    let mut queue_full = false;
    for topic in TOPICS {
        let t = topic as usize;
        if !topics[t] || !sink.enabled(topic) {
            continue;
        }
        let payload: &[u8] = match topic {
            Topic::Raw => event.raw,
            Topic::Normalized => scratch,
        };
        match sink.try_send(topic, key, payload, AckSlots::opaque(event.seq, t)) {
            Ok(()) => {
                acks.sent(event.seq, t);
                add(&stats.produced[t], 1);
            }
            Err(SendError::QueueFull) => {
                acks.fail(event.seq, t);
                add(&stats.backpressure_waits, 1);
                queue_full = true;
            }
            Err(SendError::Rejected(e)) => {
                // Refused for good (e.g. over message.max.bytes): counted, not retried.
                add(&stats.dropped[DropReason::ProduceRejected as usize], 1);
                tracing::warn!(error = %e, seq = event.seq, "kafka rejected a record");
            }
        }
    }
    queue_full
}

fn add_gauge(stats: &ShardStats, d: &Delivery) {
    stats.ring_bytes_used.set(d.ring.used_bytes());
    stats.ring_bytes_capacity.set(d.ring.capacity_bytes());
    stats.corrupt_skipped.set(d.ring.corrupt_skipped());
    stats.in_flight_events.set(d.in_flight.len() as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_key_formats_v4_and_v6() {
        let mut b = [0u8; 64];
        assert_eq!(ip_key(&mut b, "10.1.2.3:514".parse().unwrap()), b"10.1.2.3");
        assert_eq!(ip_key(&mut b, "[::1]:514".parse().unwrap()), b"::1");
    }
}
