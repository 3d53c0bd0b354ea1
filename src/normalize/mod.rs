//! Normalization to the ECS contract of `docs/SCHEMA.md`, written as JSON straight into a
//! reused buffer (no intermediate tree, no per-event allocation once the buffer has grown).

pub mod azure;
mod byte_mask;
pub mod cloudtrail;
pub mod ecs_record;
pub(crate) mod ecs_writer;
pub mod enrich;
pub mod enrich_table;
pub mod gcp;
pub(crate) mod json_record;
pub mod mapping;
pub mod tls;
pub mod windows;
pub mod windows_filter;

use crate::event::ReceiveMeta;

pub use azure::azure_to_ecs;
pub use cloudtrail::cloudtrail_to_ecs;
pub use ecs_writer::{write_pipeline_error, write_pipeline_error_message, write_syslog_event};
pub use gcp::gcp_to_ecs;
pub use windows::{windows_to_ecs, windows_xml_to_ecs};

/// Settings of the Windows and cloud normalizers, fixed for an input.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Keep the record as received in `event.original` (`pipeline_error` events always do).
    pub keep_original: bool,
    /// Zone of NXLog CE's `EventTime`, which carries none (the agent host's local time).
    pub nxlog_timezone: crate::parse::TimeZone,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            keep_original: true,
            nxlog_timezone: crate::parse::TimeZone::utc(),
        }
    }
}

/// What a Windows or cloud normalizer appended: an event or a `pipeline_error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A normalized event.
    Event,
    /// The record could not be read; a `pipeline_error` event was written instead.
    PipelineError,
}

/// Append a `pipeline_error` event for `record` and say so.
pub(crate) fn pipeline_error(
    out: &mut Vec<u8>,
    record: &[u8],
    code: &str,
    message: &dyn std::fmt::Display,
    dataset: &str,
    meta: &ReceiveMeta,
) -> RecordOutcome {
    write_pipeline_error_message(out, record, code, &message.to_string(), dataset, meta);
    RecordOutcome::PipelineError
}

/// The `event.dataset` of a `pipeline_error` event for a record of `kind`.
pub fn record_dataset(kind: crate::event::RecordKind) -> &'static str {
    use crate::event::RecordKind;
    match kind {
        RecordKind::Syslog | RecordKind::FramingError => "syslog",
        RecordKind::Windows => windows::DATASET,
        RecordKind::Cloudtrail => cloudtrail::DATASET,
        RecordKind::Azure => azure::DATASET,
        RecordKind::Gcp => gcp::DATASET_LOGGING,
    }
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

/// Append the `pipeline_error` event (`syslog.octet_count_too_large`) of a TCP syslog frame
/// whose octet count was beyond the bound; `read` is what was read of it, count first.
pub fn framing_error_to_ecs(read: &[u8], meta: &ReceiveMeta, out: &mut Vec<u8>) -> RecordOutcome {
    let digits = read.iter().take_while(|b| b.is_ascii_digit()).count();
    let count = String::from_utf8_lossy(&read[..digits]);
    pipeline_error(
        out,
        read,
        "syslog.octet_count_too_large",
        &format_args!(
            "octet count {count} is beyond {}× message_bytes_max: the stream cannot be framed, \
             the connection was closed",
            crate::config::OCTET_COUNT_FACTOR_MAX
        ),
        "syslog",
        meta,
    )
}

thread_local! {
    /// Per-thread (per-shard) parse buffer and settings of [`record_to_ecs`].
    static RECORD_STATE: std::cell::RefCell<(Vec<u8>, RecordOptions)> =
        std::cell::RefCell::new((Vec::new(), RecordOptions::default()));
}

/// Normalize one buffered Windows or cloud record of `kind` and append exactly one ECS JSON
/// object to `out`, with the default [`RecordOptions`] (`event.original` kept, NXLog time in
/// UTC). Reuses a per-thread parse buffer, so a shard's sender allocates nothing per record
/// once it has grown. Syslog goes through [`syslog_to_ecs`]; a syslog `kind` here gives a
/// `pipeline_error` event. Never panics.
pub fn record_to_ecs(
    kind: crate::event::RecordKind,
    record: &[u8],
    meta: &ReceiveMeta,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    use crate::event::RecordKind;
    RECORD_STATE.with(|state| {
        let mut state = state.borrow_mut();
        let (scratch, opts) = &mut *state;
        match kind {
            RecordKind::Windows => windows_to_ecs(record, opts, meta, scratch, out),
            RecordKind::Cloudtrail => cloudtrail_to_ecs(record, opts, meta, scratch, out),
            RecordKind::Azure => azure_to_ecs(record, opts, meta, scratch, out),
            RecordKind::Gcp => gcp_to_ecs(record, opts, meta, scratch, out),
            RecordKind::FramingError => framing_error_to_ecs(record, meta, out),
            RecordKind::Syslog => pipeline_error(
                out,
                record,
                "record.syslog",
                &"syslog is normalized by syslog_to_ecs",
                "syslog",
                meta,
            ),
        }
    })
}
