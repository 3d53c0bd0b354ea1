//! The per-event path of a shard: count → parse and normalize → produce raw and normalized.
//!
//! Runs on the shard's thread only. No allocation per event: the ECS JSON goes into a scratch
//! buffer owned by the calling input task, and the Kafka key is formatted on the stack.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::normalize::{self, Normalized, ReceiveMeta};
use crate::parse::ParseOptions;
use crate::shard::stats::{add, DropReason, ShardStats, Transport};
use crate::sink::kafka::{KafkaSink, SendError, Topic};

/// How long an input waits before retrying a full producer queue.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(1);

/// Everything a shard's inputs share (single-threaded; held in an `Rc`).
pub struct Pipeline {
    pub shard: usize,
    pub sink: KafkaSink,
    pub stats: ShardStats,
    pub parse: ParseOptions,
    pub message_bytes_max: usize,
    /// Set once by the main thread on SIGINT/SIGTERM; read by inputs between batches.
    pub shutdown: Arc<AtomicBool>,
}

impl Pipeline {
    /// Whether shutdown has begun (inputs stop reading).
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Take one framed message all the way into the producer queue. Waits (yielding to the
    /// shard's other tasks) while Kafka's queue is full, so pressure reaches the socket.
    pub async fn ingest(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        transport: Transport,
        scratch: &mut Vec<u8>,
    ) {
        let t = transport as usize;
        add(&self.stats.received[t], 1);
        add(&self.stats.received_bytes[t], raw.len() as u64);
        if truncated {
            add(&self.stats.truncated, 1);
        }
        scratch.clear();
        let hostname = match normalize::syslog_to_ecs(raw, &self.parse, meta, scratch) {
            Normalized::Event { hostname } => {
                add(&self.stats.parsed, 1);
                hostname
            }
            Normalized::PipelineError => {
                add(&self.stats.parse_errors, 1);
                None
            }
        };
        let mut key_buf = [0u8; 64];
        let key: &[u8] = match (hostname, meta.peer) {
            (Some(h), _) => h.as_bytes(),
            (None, Some(peer)) => ip_key(&mut key_buf, peer),
            (None, None) => b"",
        };
        self.send(Topic::Raw, key, raw).await;
        self.send(Topic::Normalized, key, scratch).await;
    }

    async fn send(&self, topic: Topic, key: &[u8], payload: &[u8]) {
        if !self.sink.enabled(topic) {
            return;
        }
        loop {
            match self.sink.try_send(topic, key, payload) {
                Ok(()) => {
                    add(&self.stats.produced[topic as usize], 1);
                    return;
                }
                Err(SendError::QueueFull) => {
                    add(&self.stats.backpressure_waits, 1);
                    self.sink.poll();
                    glommio::timer::sleep(QUEUE_FULL_RETRY).await;
                }
                Err(SendError::Rejected(e)) => {
                    add(&self.stats.dropped[DropReason::ProduceRejected as usize], 1);
                    tracing::warn!(shard = self.shard, error = %e, "kafka rejected a record");
                    return;
                }
            }
        }
    }
}

/// Format the peer IP (no port) into `buf` without allocating.
fn ip_key(buf: &mut [u8; 64], peer: SocketAddr) -> &[u8] {
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{}", peer.ip());
    let n = cursor.position() as usize;
    &buf[..n]
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
