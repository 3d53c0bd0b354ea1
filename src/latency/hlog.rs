//! HdrHistogram interval logs (`.hlog`, the format of HdrHistogram's `HistogramLogWriter`):
//! one line per interval histogram, `Tag=NAME,start,length,max,base64(V2 deflate)`, readable by
//! HdrHistogram's own tools (`HistogramLogProcessor`, HdrHistogram plotters) and by
//! `linerate report`.
//!
//! Timestamps are absolute (seconds since the Unix epoch, StartTime in the header), values are
//! microseconds (the `max` column is in milliseconds: `MaxValueDivisor` 1000). The writer
//! starts a new file when one reaches its size bound and keeps a bounded number of files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The divisor of the `max` column: microseconds shown as milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1000.0;
/// The legend line HdrHistogram's Java writer puts before the intervals.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// What can go wrong writing or reading an interval log.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    #[error("{path}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not an interval log (parse error at byte {offset})")]
    Parse { path: PathBuf, offset: usize },
    #[error("{path}: interval at {start_secs:.3} s: bad histogram ({reason})")]
    Histogram {
        path: PathBuf,
        start_secs: f64,
        reason: String,
    },
    #[error("a tag cannot contain ',', ' ', CR or LF: {0:?}")]
    BadTag(String),
}

/// Appends interval histograms to `DIR/PREFIX-<UTC time>.hlog` files, starting a new file
/// past `file_bytes_max` and keeping the newest `files_max` of this prefix.
pub struct HlogWriter {
    dir: PathBuf,
    prefix: String,
    file_bytes_max: u64,
    files_max: usize,
    comment: String,
    current: Option<(PathBuf, File, u64)>,
    serializer: V2DeflateSerializer,
    line: Vec<u8>,
}

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("current", &self.path())
            .finish()
    }
}

impl HlogWriter {
    /// A writer into `dir` (created when missing); nothing is written until the first
    /// interval. `comment` goes into each file's header.
    pub fn new(
        dir: &Path,
        prefix: &str,
        comment: &str,
        file_bytes_max: u64,
        files_max: usize,
    ) -> Result<Self, HlogError> {
        std::fs::create_dir_all(dir).map_err(|source| HlogError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            file_bytes_max,
            files_max: files_max.max(1),
            comment: comment.to_string(),
            current: None,
            serializer: V2DeflateSerializer::new(),
            line: Vec::with_capacity(4096),
        })
    }

    /// The file being written, once the first interval is.
    pub fn path(&self) -> Option<&Path> {
        self.current.as_ref().map(|(p, _, _)| p.as_path())
    }

    /// Append one interval: `tag` (`None`: the untagged, overall series), its start
    /// (microseconds since the Unix epoch) and length.
    pub fn write(
        &mut self,
        tag: Option<&str>,
        h: &Histogram<u64>,
        start_unix_micros: i64,
        length: Duration,
    ) -> Result<(), HlogError> {
        let tag = match tag {
            Some(t) => Some(Tag::new(t).ok_or_else(|| HlogError::BadTag(t.to_string()))?),
            None => None,
        };
        self.line.clear();
        let start = Duration::from_micros(u64::try_from(start_unix_micros).unwrap_or(0));
        {
            let dir = &self.dir;
            let mut w = IntervalLogWriterBuilder::new()
                .with_max_value_divisor(MAX_VALUE_DIVISOR)
                .begin_log_with(&mut self.line, &mut self.serializer)
                .map_err(|source| HlogError::Io {
                    path: dir.clone(),
                    source,
                })?;
            w.write_histogram(h, start, length, tag)
                .map_err(|e| HlogError::Histogram {
                    path: dir.clone(),
                    start_secs: start.as_secs_f64(),
                    reason: e.to_string(),
                })?;
        }
        // The builder wrote its MaxValueDivisor header line first: keep only the interval.
        let body_from = self
            .line
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let need_new = match &self.current {
            None => true,
            Some((_, _, bytes)) => *bytes >= self.file_bytes_max,
        };
        if need_new {
            self.open_next(start_unix_micros)?;
        }
        let (path, file, bytes) = self.current.as_mut().expect("opened above");
        file.write_all(&self.line[body_from..])
            .map_err(|source| HlogError::Io {
                path: path.clone(),
                source,
            })?;
        *bytes += (self.line.len() - body_from) as u64;
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> HlogError {
        HlogError::Io {
            path: self.dir.clone(),
            source,
        }
    }

    /// Start a new file (header included) and remove the oldest beyond `files_max`.
    fn open_next(&mut self, start_unix_micros: i64) -> Result<(), HlogError> {
        let secs = start_unix_micros.div_euclid(1_000_000);
        let (y, mo, d, h, mi, s) = crate::parse::timestamp::civil_from_secs(secs);
        let stamp = format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z");
        let mut path = self.dir.join(format!("{}-{stamp}.hlog", self.prefix));
        let mut n = 1;
        while path.exists() {
            path = self.dir.join(format!("{}-{stamp}-{n}.hlog", self.prefix));
            n += 1;
        }
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|source| HlogError::Io {
                path: path.clone(),
                source,
            })?;
        let start =
            UNIX_EPOCH + Duration::from_micros(u64::try_from(start_unix_micros).unwrap_or(0));
        let mut header = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&self.comment)
            .add_comment("values in microseconds; Interval_Max in milliseconds")
            .with_start_time(start)
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut header, &mut serializer)
            .map_err(|e| self.io_error(e))?;
        header.extend_from_slice(LEGEND.as_bytes());
        header.push(b'\n');
        file.write_all(&header).map_err(|source| HlogError::Io {
            path: path.clone(),
            source,
        })?;
        self.current = Some((path, file, header.len() as u64));
        self.remove_oldest();
        Ok(())
    }

    /// Keep the newest `files_max` files of this prefix (names sort by time).
    fn remove_oldest(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut ours: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "hlog")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{}-", self.prefix)))
            })
            .collect();
        ours.sort();
        let excess = ours.len().saturating_sub(self.files_max);
        for p in &ours[..excess] {
            if let Err(e) = std::fs::remove_file(p) {
                tracing::warn!(path = %p.display(), error = %e, "latency log: cannot remove an old file");
            }
        }
    }
}

/// One interval histogram read back from a log.
#[derive(Debug, Clone)]
pub struct LoggedInterval {
    /// Its tag; `None` for the untagged series.
    pub tag: Option<String>,
    /// Start, microseconds since the Unix epoch (BaseTime applied).
    pub start_unix_micros: i64,
    /// Length of the interval.
    pub length: Duration,
    /// The latencies, microseconds.
    pub histogram: Histogram<u64>,
}

/// Read every interval of the log at `path`.
pub fn read(path: &Path) -> Result<Vec<LoggedInterval>, HlogError> {
    let bytes = std::fs::read(path).map_err(|source| HlogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parse the interval log `bytes` (named `path` in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<LoggedInterval>, HlogError> {
    use base64::Engine as _;
    let mut base = Duration::ZERO;
    let mut out = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                HlogError::Parse {
                    path: path.to_path_buf(),
                    offset,
                }
            }
        })?;
        match entry {
            LogEntry::BaseTime(t) => base = t,
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(i) => {
                let start = base + i.start_timestamp();
                let bad = |reason: String| HlogError::Histogram {
                    path: path.to_path_buf(),
                    start_secs: start.as_secs_f64(),
                    reason,
                };
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| bad(e.to_string()))?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut io::Cursor::new(&raw))
                    .map_err(|e| bad(format!("{e:?}")))?;
                out.push(LoggedInterval {
                    tag: i.tag().map(|t| t.as_str().to_string()),
                    start_unix_micros: i64::try_from(start.as_micros()).unwrap_or(i64::MAX),
                    length: i.duration(),
                    histogram,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_tagged_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = HlogWriter::new(dir.path(), "receive-to-ack", "test", 1 << 20, 4).unwrap();
        let mut h = crate::latency::new_histogram();
        h.saturating_record_n(4_000, 10);
        h.saturating_record(9_000);
        let t0 = 1_764_000_000_000_000;
        w.write(Some("shard-0"), &h, t0, Duration::from_secs(1))
            .unwrap();
        w.write(None, &h, t0 + 1_000_000, Duration::from_millis(500))
            .unwrap();
        let path = w.path().unwrap().to_path_buf();
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("receive-to-ack-2025"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#test\n"), "{text}");
        assert!(text.contains("#[StartTime: 1764000000.000"), "{text}");
        assert!(text.contains("\n\"StartTimestamp\""), "{text}");
        assert!(
            text.contains("\nTag=shard-0,1764000000.000,1.000,9.0"),
            "{text}"
        );
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].tag.as_deref(), Some("shard-0"));
        assert_eq!(back[0].start_unix_micros, t0);
        assert_eq!(back[0].histogram.len(), 11);
        assert_eq!(back[1].tag, None);
        assert_eq!(back[1].length, Duration::from_millis(500));
        assert!(back[1]
            .histogram
            .equivalent(back[1].histogram.value_at_quantile(0.5), 4_000));
    }

    #[test]
    fn rolls_files_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        // Every interval overflows the size bound: one file each, two kept.
        let mut w = HlogWriter::new(dir.path(), "x", "test", 1, 2).unwrap();
        let h = crate::latency::new_histogram();
        for i in 0..5 {
            w.write(
                None,
                &h,
                1_764_000_000_000_000 + i * 1_000_000,
                Duration::from_secs(1),
            )
            .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[1].ends_with("T160004Z.hlog"), "{names:?}");
    }

    #[test]
    fn rejects_what_is_not_a_log() {
        let e = parse(Path::new("x.hlog"), b"Tag=a,zzz\n").unwrap_err();
        assert!(matches!(e, HlogError::Parse { .. }), "{e}");
        assert!(matches!(
            HlogWriter::new(Path::new("/tmp"), "x", "", 1, 1)
                .unwrap()
                .write(
                    Some("a b"),
                    &crate::latency::new_histogram(),
                    0,
                    Duration::ZERO
                ),
            Err(HlogError::BadTag(_))
        ));
    }
}
