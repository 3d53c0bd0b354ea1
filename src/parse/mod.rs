//! Syslog parsing: RFC 5424, RFC 3164 and real-world variants, zero-copy over `&[u8]`.
//!
//! Guarantees: [`parse`] never panics and never allocates on the heap; every field of a
//! [`SyslogEvent`] borrows from the input. Any byte string yields exactly one event or one
//! [`ParseError`] (which the normalizer turns into a `pipeline_error` event).

mod rfc3164;
mod rfc5424;
mod timestamp;

// The lead's config loader calls `TimeZone::utc()` and `TimeZone::parse(&str) -> Option<TimeZone>`
// (accepting `UTC`, `+02:00`/`-0530`, and IANA names); keep those two.
pub use timestamp::{Timestamp, TimeZone};

/// Which grammar to apply; `Auto` detects per message (`<PRI>1 ` → RFC 5424, else RFC 3164).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Auto,
    Rfc5424,
    Rfc3164,
}

/// Parser settings, fixed for a shard's lifetime (cheap to copy).
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Grammar selection.
    pub format: Format,
    /// Year for RFC 3164 timestamps; `None` infers it from `now` (see SCHEMA.md).
    pub year: Option<i32>,
    /// Zone of RFC 3164 timestamps that carry none (default UTC).
    pub timezone: TimeZone,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { format: Format::Auto, year: None, timezone: TimeZone::utc() }
    }
}

/// One parsed syslog message; every slice borrows from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogEvent<'a> {
    /// PRI 0..=191 (13 when the message had none).
    pub priority: u8,
    /// `Some(1)` for RFC 5424, `None` for RFC 3164.
    pub version: Option<u8>,
    /// Event time in UTC, `None` when the source had none (NILVALUE or missing).
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    pub appname: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// Raw, validated RFC 5424 STRUCTURED-DATA (`[id k="v"]...`), escapes still in place;
    /// iterate it with [`sd_elements`].
    pub structured_data: Option<&'a [u8]>,
    /// MSG with a leading BOM and trailing `\n` / `\r\n` removed; may be invalid UTF-8.
    pub message: Option<&'a [u8]>,
}

/// Why a message could not be parsed: a stable code, the byte offset and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{code}: expected {expected} at byte {at}")]
pub struct ParseError {
    /// Stable short code for `error.type`, e.g. `syslog.bad_pri`.
    pub code: &'static str,
    /// Byte offset into the message where parsing failed.
    pub at: usize,
    /// What the parser expected there.
    pub expected: &'static str,
}
