//! Normalization to the ECS contract of `shared/SCHEMA.md`, written as JSON straight into a
//! reused buffer (no intermediate tree, no per-event allocation once the buffer has grown).

pub(crate) mod ecs_writer;

use std::net::SocketAddr;

pub use ecs_writer::{write_pipeline_error, write_syslog_event};

/// What the transport knows about a message, independent of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveMeta {
    /// Receive time, microseconds since the Unix epoch (UTC): `event.ingested`, and
    /// `@timestamp` when the message has none.
    pub received_unix_micros: i64,
    /// The peer the bytes came from (`source.ip` / `source.port`), if over a socket.
    pub peer: Option<SocketAddr>,
}

/// Wall-clock time in microseconds since the Unix epoch: what inputs stamp as the receive
/// time, once per read batch (not per event).
pub fn unix_micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Outcome of [`syslog_to_ecs`], so the caller can count and key the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalized<'a> {
    /// Parsed; carries the hostname (Kafka key) when the message named one.
    Event { hostname: Option<&'a str> },
    /// Unparseable; a `pipeline_error` event was written instead.
    PipelineError,
}

/// Parse `raw` as syslog and append exactly one ECS JSON object (no trailing newline) to
/// `out`: the event, or a `pipeline_error` event for unparseable input. Never panics.
pub fn syslog_to_ecs<'a>(
    raw: &'a [u8],
    opts: &crate::parse::ParseOptions,
    meta: &ReceiveMeta,
    out: &mut Vec<u8>,
) -> Normalized<'a> {
    match crate::parse::parse(raw, opts, meta.received_unix_micros) {
        Ok(ev) => {
            write_syslog_event(out, &ev, meta);
            Normalized::Event {
                hostname: ev.hostname,
            }
        }
        Err(err) => {
            write_pipeline_error(out, raw, &err, "syslog", meta);
            Normalized::PipelineError
        }
    }
}
