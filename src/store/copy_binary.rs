//! PostgreSQL's binary `COPY` format for `linerate.events`, written into one buffer that the
//! loader hands to `COPY ... FROM STDIN (FORMAT binary)` in large writes.
//!
//! Written here rather than with `postgres::binary_copy::BinaryCopyInWriter`, which blocks
//! on its async writer once per row; this is the loader's hot path (ten fields, five types).

use std::net::IpAddr;

use super::row::Row;

/// The column list the buffer's fields follow, for the `COPY` statement.
pub const COLUMNS: &str =
    "\"timestamp\", ingested, dataset, host, severity, event_code, user_name, source_ip, message, event";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A binary COPY stream under construction: header, rows, then [`CopyBuffer::finish`].
#[derive(Debug)]
pub struct CopyBuffer {
    buf: Vec<u8>,
    rows: usize,
}

impl Default for CopyBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyBuffer {
    /// An empty stream (its header written).
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { buf, rows: 0 }
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Append one row: `row`'s columns and `event`, the JSON it came from, as `jsonb`.
    pub fn push(&mut self, row: &Row<'_>, event: &[u8]) {
        let b = &mut self.buf;
        b.extend_from_slice(&10i16.to_be_bytes());
        timestamptz(b, Some(row.timestamp_us));
        timestamptz(b, row.ingested_us);
        text(b, row.dataset.as_deref());
        text(b, row.host.as_deref());
        match row.severity {
            Some(s) => {
                b.extend_from_slice(&2i32.to_be_bytes());
                b.extend_from_slice(&s.to_be_bytes());
            }
            None => null(b),
        }
        text(b, row.event_code.as_deref());
        text(b, row.user_name.as_deref());
        match row.source_ip {
            Some(IpAddr::V4(a)) => {
                b.extend_from_slice(&8i32.to_be_bytes());
                b.extend_from_slice(&[2, 32, 0, 4]);
                b.extend_from_slice(&a.octets());
            }
            Some(IpAddr::V6(a)) => {
                b.extend_from_slice(&20i32.to_be_bytes());
                b.extend_from_slice(&[3, 128, 0, 16]);
                b.extend_from_slice(&a.octets());
            }
            None => null(b),
        }
        text(b, row.message.as_deref());
        b.extend_from_slice(&(event.len() as i32 + 1).to_be_bytes());
        b.push(1); // jsonb binary format version
        b.extend_from_slice(event);
        self.rows += 1;
    }

    /// The finished stream (trailer appended).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

fn null(b: &mut Vec<u8>) {
    b.extend_from_slice(&(-1i32).to_be_bytes());
}

fn timestamptz(b: &mut Vec<u8>, unix_us: Option<i64>) {
    match unix_us {
        Some(us) => {
            b.extend_from_slice(&8i32.to_be_bytes());
            b.extend_from_slice(&(us - PG_EPOCH_US).to_be_bytes());
        }
        None => null(b),
    }
}

fn text(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            b.extend_from_slice(&(s.len() as i32).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        None => null(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_one_row() {
        let event = br#"{"@timestamp":"2000-01-01T00:00:01Z"}"#;
        let row = Row::from_json(event).unwrap();
        let mut c = CopyBuffer::new();
        c.push(&row, event);
        assert_eq!(c.rows(), 1);
        let out = c.finish();
        assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
        let body = &out[19..];
        assert_eq!(&body[..2], &10i16.to_be_bytes());
        assert_eq!(&body[2..6], &8i32.to_be_bytes());
        assert_eq!(&body[6..14], &1_000_000i64.to_be_bytes());
        assert_eq!(&out[out.len() - 2..], &(-1i16).to_be_bytes());
    }
}
