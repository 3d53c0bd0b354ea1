//! The per-event path of a shard: count → append to the ring. The shard's sender task
//! ([`Pipeline::service`]) then hands what the ring holds to Kafka in batches (see
//! [`crate::shard::delivery`], which normalizes as it sends), so an input's read loop
//! only reads and appends.
//!
//! Runs on the shard's thread only. No allocation per event.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::ring::Full;
use crate::event::ReceiveMeta;
use crate::event::RecordKind;
use crate::event::Transport;
use crate::ingest::intake::Intake;
use crate::normalize::windows_filter::WindowsFilter;
use crate::parse::ParseOptions;
use crate::shard::delivery::Delivery;
use crate::sink::kafka::KafkaSink;
use crate::stats::{add, DropReason, ShardStats};

/// How long a TCP input waits before retrying a full ring.
const RING_FULL_RETRY: Duration = Duration::from_millis(1);
/// Events the sender normalizes and hands to the producer per turn before it lets the
/// shard's other tasks (the UDP reader first) run: about a millisecond of work.
pub const PUMP_EVENTS_MAX: usize = 1024;

/// Everything a shard's inputs share (single-threaded; held in an `Rc`).
pub struct Pipeline {
    pub shard: usize,
    pub sink: KafkaSink,
    pub stats: ShardStats,
    pub parse: ParseOptions,
    pub message_bytes_max: usize,
    /// `[syslog] detect_windows`: socket messages that look like forwarded Windows events
    /// are buffered as [`RecordKind::Windows`].
    pub detect_windows: bool,
    /// `[syslog.windows_filter]`: which forwarded Windows events from the syslog sockets
    /// are kept.
    pub socket_windows_filter: WindowsFilter,
    /// `[http_input.windows_filter]`: which records of `POST /windows` are kept.
    pub http_windows_filter: WindowsFilter,
    /// The ring and its sender. Borrowed only between awaits.
    pub delivery: RefCell<Delivery>,
    /// Set once by the main thread on SIGINT/SIGTERM; read by inputs between batches.
    pub shutdown: Arc<AtomicBool>,
}

impl Pipeline {
    /// Whether shutdown has begun (inputs stop reading).
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// The record kind of a message framed by a syslog socket input: syslog, or a
    /// forwarded Windows event when `detect_windows` is on and its first bytes say so.
    /// `None`: a forwarded Windows event that `[syslog.windows_filter]` drops (counted as
    /// filtered, not as received). Syslog messages are never filtered.
    pub fn socket_kind(&self, msg: &[u8]) -> Option<RecordKind> {
        if !self.detect_windows {
            return Some(RecordKind::Syslog);
        }
        let kind = crate::ingest::detect::socket_record_kind(msg);
        if kind == RecordKind::Windows && !self.socket_windows_filter.keep(msg) {
            add(&self.stats.filtered, 1);
            return None;
        }
        Some(kind)
    }

    /// Take one framed message into the ring (the sender task sends it). When the ring is
    /// full a TCP input waits (yielding to the shard's other tasks), so pressure reaches the
    /// socket; a UDP datagram is dropped and counted (`buffer_full`). Returns whether the
    /// message is in the ring (not: dropped, also at shutdown with the ring still full).
    pub async fn ingest(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        transport: Transport,
        kind: RecordKind,
    ) -> bool {
        self.ingest_tls(raw, truncated, meta, &[], transport, kind)
            .await
    }

    /// [`Pipeline::ingest`] of a message that came over TLS: `tls` is its connection's
    /// session block ([`crate::normalize::tls::TlsSession::encode`]), kept with the event
    /// so its normalized form carries the `tls.*` fields.
    pub async fn ingest_tls(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        tls: &[u8],
        transport: Transport,
        kind: RecordKind,
    ) -> bool {
        let t = transport as usize;
        add(&self.stats.received[t], 1);
        add(&self.stats.received_bytes[t], raw.len() as u64);
        if truncated {
            add(&self.stats.truncated, 1);
        }
        let mut waiting_since: Option<Instant> = None;
        loop {
            let appended = self.delivery.borrow_mut().append(
                meta,
                transport,
                truncated,
                kind,
                tls,
                raw,
                &self.stats,
            );
            if appended.is_ok() {
                break;
            }
            if transport == Transport::Udp {
                add(&self.stats.dropped[DropReason::BufferFull as usize], 1);
                return false;
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            self.service();
            let slept = Instant::now();
            glommio::timer::sleep(RING_FULL_RETRY).await;
            // Counted as it passes, so a long outage shows while it lasts.
            add(
                &self.stats.backpressure_micros,
                slept.elapsed().as_micros() as u64,
            );
            if self.stopping() && since.elapsed() > Duration::from_secs(1) {
                // Shutting down with a full ring: the event was counted as received and is
                // reported as dropped rather than waited on forever.
                add(&self.stats.dropped[DropReason::BufferFull as usize], 1);
                return false;
            }
        }
        true
    }

    /// Take every record of one accepted request into the ring, or none (`Err(Full)`: the
    /// ring cannot hold them all now; nothing was appended or counted). Never waits, so a
    /// caller can answer "retry later" instead of holding a request open.
    pub fn ingest_all(
        &self,
        records: &[(RecordKind, Vec<u8>)],
        meta: &ReceiveMeta,
        transport: Transport,
    ) -> Result<(), Full> {
        self.delivery
            .borrow_mut()
            .append_all(meta, transport, records, &self.stats)?;
        let t = transport as usize;
        add(&self.stats.received[t], records.len() as u64);
        let bytes: usize = records.iter().map(|(_, r)| r.len()).sum();
        add(&self.stats.received_bytes[t], bytes as u64);
        Ok(())
    }

    /// Serve delivery reports, free acknowledged ring space, resend failures and send up
    /// to [`PUMP_EVENTS_MAX`] waiting events. Returns whether more may wait (call again
    /// after yielding). Called by the shard's sender task and by inputs waiting for space.
    pub fn service(&self) -> bool {
        self.sink.poll_batch();
        let mut d = self.delivery.borrow_mut();
        d.settle(&self.sink, &self.stats, &self.parse);
        d.pump(&self.sink, &self.stats, &self.parse, PUMP_EVENTS_MAX)
    }
}

/// The inputs' view of the pipeline (see [`Intake`]).
impl Intake for Pipeline {
    fn shard(&self) -> usize {
        self.shard
    }

    fn stats(&self) -> &ShardStats {
        &self.stats
    }

    fn message_bytes_max(&self) -> usize {
        self.message_bytes_max
    }

    fn stopping(&self) -> bool {
        Pipeline::stopping(self)
    }

    fn socket_kind(&self, msg: &[u8]) -> Option<RecordKind> {
        Pipeline::socket_kind(self, msg)
    }

    fn http_windows_filter(&self) -> &WindowsFilter {
        &self.http_windows_filter
    }

    async fn ingest(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        transport: Transport,
        kind: RecordKind,
    ) -> bool {
        Pipeline::ingest(self, raw, truncated, meta, transport, kind).await
    }

    async fn ingest_tls(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        tls: &[u8],
        transport: Transport,
        kind: RecordKind,
    ) -> bool {
        Pipeline::ingest_tls(self, raw, truncated, meta, tls, transport, kind).await
    }

    fn ingest_all(
        &self,
        records: &[(RecordKind, Vec<u8>)],
        meta: &ReceiveMeta,
        transport: Transport,
    ) -> Result<(), Full> {
        Pipeline::ingest_all(self, records, meta, transport)
    }
}
