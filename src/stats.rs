//! Shard-local counters and the snapshots that carry them to the aggregator.
//!
//! Counters are plain `Cell<u64>`s owned by one shard: no atomics, no sharing. Once per
//! interval the shard copies them into a [`ShardSnapshot`] (a `Send` value of plain integers)
//! and sends it over a bounded channel; that is the only thing that leaves the core. The
//! receive→ack latency histogram goes the same way, as the interval's histogram.

use std::cell::Cell;

use serde::Serialize;

use crate::event::TRANSPORT_COUNT;
use crate::tls::failure::{TLS_FAILURE_COUNT, TLS_LISTENER_COUNT};

/// Why an event was dropped (every drop is counted under one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Kafka rejected the record for good and the dead-letter file was full (or unwritable).
    DeadLetterFull = 0,
    /// A UDP datagram arrived while the shard's ring was full.
    BufferFull = 1,
    /// The kernel dropped datagrams because the socket's receive buffer was full.
    UdpReceiveBufferFull = 2,
    /// A UDP datagram arrived while its input was paused through the control API.
    Paused = 3,
}

/// Number of [`DropReason`] variants.
pub const DROP_REASON_COUNT: usize = 4;
/// Label values of [`DropReason`], by index.
pub const DROP_REASON_NAMES: [&str; DROP_REASON_COUNT] = [
    "dead_letter_full",
    "buffer_full",
    "udp_receive_buffer_full",
    "paused",
];

/// The live counters of one shard (single-threaded; see module docs).
#[derive(Debug, Default)]
pub struct ShardStats {
    pub received: [Cell<u64>; TRANSPORT_COUNT],
    pub received_bytes: [Cell<u64>; TRANSPORT_COUNT],
    pub truncated: Cell<u64>,
    pub parsed: Cell<u64>,
    pub parse_errors: Cell<u64>,
    pub produced: [Cell<u64>; crate::sink::kafka::TOPIC_COUNT],
    pub dropped: [Cell<u64>; DROP_REASON_COUNT],
    pub tcp_connections_open: Cell<u64>,
    pub tcp_connections_accepted: Cell<u64>,
    /// Connections this shard accepted and handed to a shard serving fewer.
    pub tcp_connections_moved: Cell<u64>,
    pub tcp_connections_rejected: Cell<u64>,
    /// Connections closed because they sent nothing for `tcp_idle_timeout_secs`.
    pub tcp_connections_idle_closed: Cell<u64>,
    /// Connections closed because their stream could not be framed (an octet count beyond
    /// the bound); each gave a `pipeline_error` event.
    pub tcp_framing_errors: Cell<u64>,
    /// Times an event could not be handed to Kafka because its queue was full.
    pub backpressure_waits: Cell<u64>,
    /// Time TCP inputs spent waiting for ring space, microseconds.
    pub backpressure_micros: Cell<u64>,
    /// Events sent again because an earlier run wrote them and did not see them
    /// acknowledged (possible duplicates).
    pub replayed: Cell<u64>,
    /// Events sent again after a failed delivery or a full producer queue.
    pub resent: Cell<u64>,
    /// Damaged ring frames (or regions) and spilled events skipped since start.
    pub corrupt_skipped: Cell<u64>,
    /// Bytes of the ring holding unacknowledged events.
    pub ring_bytes_used: Cell<u64>,
    /// Data capacity of the ring.
    pub ring_bytes_capacity: Cell<u64>,
    /// Failed msyncs of the ring.
    pub sync_errors: Cell<u64>,
    /// Events handed to the producer, not yet acknowledged.
    pub in_flight_events: Cell<u64>,
    /// Input tasks still running (shutdown waits for zero).
    pub inputs_active: Cell<u64>,
    /// Bytes of spill segments on disk.
    pub spill_bytes: Cell<u64>,
    /// Spill segment files on disk.
    pub spill_segments: Cell<u64>,
    /// Events moved from the ring to the spill since start.
    pub spilled_events: Cell<u64>,
    /// Spill block writes that failed (disk full, I/O error); the events stayed in the ring.
    pub spill_write_errors: Cell<u64>,
    /// 1 while a spill block waits and cannot be written (spill_bytes_max reached or writes
    /// failing); 0 again after a successful write or once nothing waits to be spilled.
    pub spill_blocked: Cell<u64>,
    /// Rejected records written to the dead-letter file.
    pub dead_lettered_file: Cell<u64>,
    /// Events an enrichment table row matched (counted when first sent).
    pub enriched_matches: Cell<u64>,
    /// `.evtx` files in the directories of the shard's EVTX inputs.
    pub evtx_files_watched: Cell<u64>,
    /// New EVTX records read (appended or filtered out).
    pub evtx_records_read: Cell<u64>,
    /// EVTX chunks the `evtx` crate cannot read (skipped).
    pub evtx_corrupt_chunks: Cell<u64>,
    /// EVTX records the `evtx` crate cannot read (skipped).
    pub evtx_corrupt_records: Cell<u64>,
    /// Records an input's Windows filter dropped (not appended).
    pub filtered: Cell<u64>,
    /// HTTP input requests answered (every response sent, refusals included).
    pub http_requests: Cell<u64>,
    /// HTTP input requests or connections refused (nothing of them accepted), by
    /// [`crate::http_server::Reject`] reason.
    pub http_rejected: [Cell<u64>; crate::http_server::REJECT_COUNT],
    /// Records or bodies refused for nesting deeper than [`crate::nesting::DEPTH_MAX`] (an
    /// HTTP 400, or a `pipeline_error` event).
    pub nesting_too_deep: Cell<u64>,
    /// Records of accepted HTTP input requests (appended or filtered out).
    pub http_records_accepted: Cell<u64>,
    /// TLS handshakes completed (connections then served), by [`crate::tls::failure::TlsListener`].
    pub tls_handshakes: [Cell<u64>; TLS_LISTENER_COUNT],
    /// TLS connections refused, by [`crate::tls::failure::TlsListener`] and [`crate::tls::failure::TlsFailure`].
    pub tls_handshake_failures: [[Cell<u64>; TLS_FAILURE_COUNT]; TLS_LISTENER_COUNT],
    /// Receive→ack latency of the events Kafka acknowledged this interval.
    pub latency: crate::latency::Recorder,
}

/// Add `n` to a shard-local counter.
#[inline]
pub fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

/// Subtract `n` from a shard-local gauge (saturating at zero).
#[inline]
pub fn sub(c: &Cell<u64>, n: u64) {
    c.set(c.get().saturating_sub(n));
}

/// A point-in-time copy of one shard's counters (cumulative since start).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub core: usize,
    pub received: [u64; TRANSPORT_COUNT],
    pub received_bytes: [u64; TRANSPORT_COUNT],
    pub truncated: u64,
    pub parsed: u64,
    pub parse_errors: u64,
    pub produced: [u64; crate::sink::kafka::TOPIC_COUNT],
    pub delivered: [u64; crate::sink::kafka::TOPIC_COUNT],
    pub delivery_failed: [u64; crate::sink::kafka::TOPIC_COUNT],
    pub dropped: [u64; DROP_REASON_COUNT],
    pub tcp_connections_open: u64,
    pub tcp_connections_accepted: u64,
    pub tcp_connections_moved: u64,
    pub tcp_connections_rejected: u64,
    pub tcp_connections_idle_closed: u64,
    pub tcp_framing_errors: u64,
    pub backpressure_waits: u64,
    pub backpressure_micros: u64,
    pub replayed: u64,
    pub resent: u64,
    pub corrupt_skipped: u64,
    pub ring_bytes_used: u64,
    pub ring_bytes_capacity: u64,
    pub sync_errors: u64,
    pub in_flight_events: u64,
    pub kafka_in_flight: u64,
    pub spill_bytes: u64,
    pub spill_segments: u64,
    pub spilled_events: u64,
    pub spill_write_errors: u64,
    pub spill_blocked: u64,
    /// Events an enrichment table row matched.
    pub enriched_matches: u64,
    /// Rejected records delivered to the dead-letter topic / written to the file.
    pub dead_lettered: [u64; 2],
    pub evtx_files_watched: u64,
    pub evtx_records_read: u64,
    pub evtx_corrupt_chunks: u64,
    pub evtx_corrupt_records: u64,
    pub filtered: u64,
    pub http_requests: u64,
    pub http_rejected: [u64; crate::http_server::REJECT_COUNT],
    pub http_records_accepted: u64,
    pub nesting_too_deep: u64,
    /// By [`crate::tls::failure::TlsListener`].
    pub tls_handshakes: [u64; TLS_LISTENER_COUNT],
    /// By listener, then refusal reason.
    pub tls_handshake_failures: [[u64; TLS_FAILURE_COUNT]; TLS_LISTENER_COUNT],
    /// Set on the last snapshot a shard sends, after its producer was flushed.
    pub stopped: bool,
    /// Receive→ack latencies since the previous snapshot (not cumulative, unlike the
    /// counters): each snapshot takes them and the shard starts a new interval. `None` once
    /// the aggregator took them.
    #[serde(skip)]
    pub latency: Option<crate::latency::IntervalHistogram>,
}

fn copy<const N: usize>(c: &[Cell<u64>; N]) -> [u64; N] {
    std::array::from_fn(|i| c[i].get())
}

impl ShardStats {
    /// Copy the counters, and take the interval's latencies; delivery figures come from the
    /// producer's callbacks.
    pub fn snapshot(
        &self,
        shard: usize,
        core: usize,
        sink: &crate::sink::kafka::KafkaSink,
    ) -> ShardSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = sink.counters();
        let delivered = std::array::from_fn(|i| counters.delivered[i].load(Relaxed));
        let delivery_failed = std::array::from_fn(|i| counters.failed[i].load(Relaxed));
        let dropped = copy(&self.dropped);
        ShardSnapshot {
            shard,
            core,
            received: copy(&self.received),
            received_bytes: copy(&self.received_bytes),
            truncated: self.truncated.get(),
            parsed: self.parsed.get(),
            parse_errors: self.parse_errors.get(),
            produced: copy(&self.produced),
            delivered,
            delivery_failed,
            dropped,
            tcp_connections_open: self.tcp_connections_open.get(),
            tcp_connections_accepted: self.tcp_connections_accepted.get(),
            tcp_connections_moved: self.tcp_connections_moved.get(),
            tcp_connections_rejected: self.tcp_connections_rejected.get(),
            tcp_connections_idle_closed: self.tcp_connections_idle_closed.get(),
            tcp_framing_errors: self.tcp_framing_errors.get(),
            backpressure_waits: self.backpressure_waits.get(),
            backpressure_micros: self.backpressure_micros.get(),
            replayed: self.replayed.get(),
            resent: self.resent.get(),
            corrupt_skipped: self.corrupt_skipped.get(),
            ring_bytes_used: self.ring_bytes_used.get(),
            ring_bytes_capacity: self.ring_bytes_capacity.get(),
            sync_errors: self.sync_errors.get(),
            in_flight_events: self.in_flight_events.get(),
            kafka_in_flight: u64::try_from(sink.in_flight()).unwrap_or(0),
            spill_bytes: self.spill_bytes.get(),
            spill_segments: self.spill_segments.get(),
            spilled_events: self.spilled_events.get(),
            spill_write_errors: self.spill_write_errors.get(),
            spill_blocked: self.spill_blocked.get(),
            enriched_matches: self.enriched_matches.get(),
            dead_lettered: [
                counters.dead_lettered.load(Relaxed),
                self.dead_lettered_file.get(),
            ],
            evtx_files_watched: self.evtx_files_watched.get(),
            evtx_records_read: self.evtx_records_read.get(),
            evtx_corrupt_chunks: self.evtx_corrupt_chunks.get(),
            evtx_corrupt_records: self.evtx_corrupt_records.get(),
            filtered: self.filtered.get(),
            http_requests: self.http_requests.get(),
            http_rejected: copy(&self.http_rejected),
            http_records_accepted: self.http_records_accepted.get(),
            nesting_too_deep: self.nesting_too_deep.get(),
            tls_handshakes: copy(&self.tls_handshakes),
            tls_handshake_failures: std::array::from_fn(|l| copy(&self.tls_handshake_failures[l])),
            stopped: false,
            latency: Some(self.latency.take_interval()),
        }
    }
}
