//! What an input hands its records to: the narrow interface between the inputs and the
//! shard that owns them. The shard's pipeline implements it (`crate::shard::pipeline`);
//! inputs see nothing else of the shard.
//!
//! Single-threaded: one shard's inputs and its pipeline run on the shard's executor, so the
//! futures here need not be `Send`.

use crate::buffer::ring::Full;
use crate::event::{ReceiveMeta, RecordKind, Transport};
use crate::normalize::windows_filter::WindowsFilter;
use crate::stats::ShardStats;

/// The shard as its inputs see it: where records go, the shard's counters, its limits and
/// whether it is stopping.
// `async fn` in a public trait: its futures carry no `Send` bound, which is what a
// thread-per-core executor wants (everything stays on the shard's thread).
#[allow(async_fn_in_trait)]
pub trait Intake {
    /// The shard's index (for logs).
    fn shard(&self) -> usize;
    /// The shard's counters (inputs count reads, drops and errors in them).
    fn stats(&self) -> &ShardStats;
    /// `[syslog] message_bytes_max`: longer messages are truncated by the input.
    fn message_bytes_max(&self) -> usize;
    /// Whether shutdown has begun (inputs stop reading).
    fn stopping(&self) -> bool;
    /// The record kind of a message framed by a syslog socket input: syslog, or a forwarded
    /// Windows event; `None`: a forwarded Windows event the socket filter drops (counted).
    fn socket_kind(&self, msg: &[u8]) -> Option<RecordKind>;
    /// `[http_input.windows_filter]`: which records of `POST /windows` are kept.
    fn http_windows_filter(&self) -> &WindowsFilter;
    /// Take one framed message into the ring (waiting while the ring is full, except for
    /// UDP, whose datagram is dropped and counted). Returns whether it is in the ring.
    async fn ingest(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        transport: Transport,
        kind: RecordKind,
    ) -> bool;
    /// [`Intake::ingest`] of a message that came over TLS, with its connection's session
    /// block ([`crate::event::tls::TlsSession::encode`]).
    async fn ingest_tls(
        &self,
        raw: &[u8],
        truncated: bool,
        meta: &ReceiveMeta,
        tls: &[u8],
        transport: Transport,
        kind: RecordKind,
    ) -> bool;
    /// Take every record of one request into the ring, or none (`Err(Full)`, nothing
    /// counted); never waits.
    fn ingest_all(
        &self,
        records: &[(RecordKind, Vec<u8>)],
        meta: &ReceiveMeta,
        transport: Transport,
    ) -> Result<(), Full>;
}
