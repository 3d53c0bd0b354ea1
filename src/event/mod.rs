//! What an event is before anything is made of it: when and how it was received, what kind
//! of record it is, and the TLS session it came over. The bottom layer: every layer above
//! (ingest, buffer, normalize, sink, shard) speaks these types, and this module imports
//! nothing else of the crate.
//!
//! The numeric values of [`Transport`] and [`RecordKind`] are stored in the ring's frames
//! (`crate::buffer::frame`), so existing values never change.

pub mod tls;

use std::net::SocketAddr;

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

/// Where a message came in. The value is also the byte the ring's frames store (see
/// `crate::buffer::frame`), so existing values never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Transport {
    /// A syslog UDP datagram.
    Udp = 0,
    /// A syslog TCP message.
    Tcp = 1,
    /// A record of an `.evtx` file read by an EVTX input.
    Evtx = 2,
    /// A record of an HTTP input request.
    Http = 3,
}

impl Transport {
    /// The transport stored as `byte`, or `None` for a value this version does not know.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Udp,
            1 => Self::Tcp,
            2 => Self::Evtx,
            3 => Self::Http,
            _ => return None,
        })
    }
}

/// Number of [`Transport`] variants.
pub const TRANSPORT_COUNT: usize = 4;
/// Label values of [`Transport`], by index.
pub const TRANSPORT_NAMES: [&str; TRANSPORT_COUNT] = ["udp", "tcp", "evtx", "http"];

/// What a buffered record is, so the sender picks its normalizer. Stored in bits 1..4 of
/// the frame's flags byte; syslog is 0, so rings written before kinds existed read as syslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// A syslog message (UDP, TCP).
    Syslog = 0,
    /// A forwarded Windows event (NXLog / Winlogbeat JSON, or event XML).
    Windows = 1,
    /// One CloudTrail record (JSON object).
    Cloudtrail = 2,
    /// One Azure Activity Log record (JSON object).
    Azure = 3,
    /// One GCP `LogEntry` (JSON object).
    Gcp = 4,
    /// What was read of a TCP syslog frame whose octet count was beyond the bound
    /// (the TCP framer's `Step::Error`); always normalized as a `pipeline_error`.
    FramingError = 5,
}

impl RecordKind {
    /// The kind stored as `bits` (already shifted down), or `None` for a value this
    /// version does not know.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0 => Self::Syslog,
            1 => Self::Windows,
            2 => Self::Cloudtrail,
            3 => Self::Azure,
            4 => Self::Gcp,
            5 => Self::FramingError,
            _ => return None,
        })
    }
}
