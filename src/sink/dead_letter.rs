//! Dead letters: records Kafka rejected for good (too large, invalid or unauthorized
//! topic...), kept with the reason instead of being retried forever or dropped.
//!
//! A dead letter is one JSON object: the event as received (`event.original`), why it was
//! rejected (`error.type` = `kafka.rejected`, `error.message` = librdkafka's reason), and
//! where it was going (`linerate.topic`, `linerate.shard`, `linerate.seq`). It is produced
//! to the dead-letter topic; when that is off or fails too, it is appended as one line to
//! the shard's dead-letter file (`data_dir/shard-N.deadletter.ndjson`), which is bounded by
//! `dead_letter_file_bytes_max`. This is a rare path: it allocates (serde_json) freely.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::buffer::frame::Event;

/// Write the dead letter of `event`, rejected by `topic` for `reason`, into `out` (cleared).
pub fn write_record(out: &mut Vec<u8>, shard: usize, topic: &str, reason: &str, event: &Event<'_>) {
    out.clear();
    let received = jiff::Timestamp::from_microsecond(event.meta.received_unix_micros)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let v = serde_json::json!({
        "@timestamp": jiff::Timestamp::now().to_string(),
        "event": {
            "kind": "pipeline_error",
            "original": String::from_utf8_lossy(event.raw),
            "ingested": received,
        },
        "error": { "type": "kafka.rejected", "message": reason },
        "linerate": { "shard": shard, "seq": event.seq, "topic": topic },
        "source": event.meta.peer.map(|p| serde_json::json!({"ip": p.ip().to_string(), "port": p.port()})),
    });
    // Serializing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// Why a dead letter could not be written to the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: dead-letter file is at dead_letter_file_bytes_max ({max} bytes)")]
    Full { path: PathBuf, max: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A shard's dead-letter file, opened on first use, appended one line per record.
pub struct DeadLetterFile {
    path: PathBuf,
    file: Option<File>,
    bytes: u64,
    bytes_max: u64,
}

impl DeadLetterFile {
    /// The file at `path`, at most `bytes_max` bytes (not opened yet).
    pub fn new(path: PathBuf, bytes_max: u64) -> Self {
        Self {
            path,
            file: None,
            bytes: 0,
            bytes_max,
        }
    }

    /// Append `record` and a newline, whole or not at all. Written to the page cache (it
    /// survives a process crash; the ring's fsync policy does not cover it).
    pub fn append(&mut self, record: &[u8]) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            path: self.path.clone(),
            source,
        };
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io)?;
            self.bytes = f.metadata().map_err(io)?.len();
            self.file = Some(f);
        }
        let need = record.len() as u64 + 1;
        if self.bytes + need > self.bytes_max {
            return Err(FileError::Full {
                path: self.path.clone(),
                max: self.bytes_max,
            });
        }
        let mut line = Vec::with_capacity(record.len() + 1);
        line.extend_from_slice(record);
        line.push(b'\n');
        let f = self.file.as_mut().expect("opened above");
        f.write_all(&line).map_err(io)?;
        self.bytes += need;
        Ok(())
    }

    /// Where the file is.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ReceiveMeta;
    use crate::event::Transport;

    #[test]
    fn records_carry_the_event_and_reason_and_the_file_is_bounded() {
        let ev = Event {
            seq: 42,
            meta: ReceiveMeta {
                received_unix_micros: 1_736_334_000_000_000,
                peer: Some("192.0.2.7:514".parse().unwrap()),
            },
            transport: Transport::Tcp,
            truncated: false,
            kind: crate::event::RecordKind::Syslog,
            tls: &[],
            raw: b"<13>Jan  8 10:00:00 host app: \"quoted\" \xff",
        };
        let mut out = Vec::new();
        write_record(
            &mut out,
            1,
            "logs.normalized",
            "Broker: Message size too large",
            &ev,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["type"], "kafka.rejected");
        assert_eq!(v["error"]["message"], "Broker: Message size too large");
        assert_eq!(v["linerate"]["seq"], 42);
        assert_eq!(v["linerate"]["topic"], "logs.normalized");
        assert_eq!(v["source"]["ip"], "192.0.2.7");
        assert!(v["event"]["original"]
            .as_str()
            .unwrap()
            .ends_with("\"quoted\" \u{fffd}"));
        let dir = tempfile::tempdir().unwrap();
        let mut f = DeadLetterFile::new(dir.path().join("dl.ndjson"), out.len() as u64 * 2 + 2);
        f.append(&out).unwrap();
        f.append(&out).unwrap();
        assert!(matches!(f.append(&out), Err(FileError::Full { .. })));
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
