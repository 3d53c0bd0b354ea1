//! File imports of Windows and cloud logs (`linerate import KIND FILE...`): read a file
//! ([`input`]: gzip or plain), split it into records ([`json_split`], lines, [`evtx`]),
//! unwrap push envelopes ([`envelope`]), and normalize each record to one ECS JSON object
//! (`crate::normalize`), handed to a sink in source order.
//!
//! Guarantees: every record gives exactly one object, an event or a `pipeline_error` event;
//! nothing is dropped except what the `evtx` crate cannot read (corrupt chunks and records),
//! which is counted in [`ImportCounts`] and logged, and Windows records a filter drops
//! (counted).

pub mod envelope;
pub mod evtx;
pub mod input;
pub mod json_split;

use std::path::{Path, PathBuf};

use crate::event::ReceiveMeta;
use crate::normalize;
use crate::normalize::windows_filter::WindowsFilter;
use crate::normalize::{write_pipeline_error_message, RecordOptions, RecordOutcome};
use json_split::{split_records, Piece};

use crate::nesting;

/// What an input file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// EVTX files (or directories of them).
    Evtx,
    /// Forwarded Windows events, one per line: NXLog JSON, Winlogbeat JSON or event XML.
    Windows,
    /// CloudTrail log files (`{"Records":[...]}`), or records one per line.
    Cloudtrail,
    /// Azure Activity Log: `{"records":[...]}` bodies, or JSON Lines (`PT1H.json`).
    Azure,
    /// GCP LogEntry JSON: one entry, an array, NDJSON, or Pub/Sub push bodies.
    Gcp,
    /// Amazon Data Firehose HTTP delivery request bodies carrying CloudTrail records.
    Firehose,
    /// Pub/Sub push request bodies carrying GCP LogEntries.
    Pubsub,
}

impl Kind {
    /// `event.dataset` of this kind's `pipeline_error` events.
    pub fn error_dataset(self) -> &'static str {
        match self {
            Kind::Evtx | Kind::Windows => normalize::windows::DATASET,
            Kind::Cloudtrail | Kind::Firehose => normalize::cloudtrail::DATASET,
            Kind::Azure => normalize::azure::DATASET,
            Kind::Gcp | Kind::Pubsub => normalize::gcp::DATASET_LOGGING,
        }
    }
}

/// Settings of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Normalizer settings (`event.original`, NXLog's time zone).
    pub record: RecordOptions,
    /// Largest input file read, bytes (also the limit after gzip decompression).
    pub file_bytes_max: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            record: RecordOptions::default(),
            file_bytes_max: 1 << 30,
        }
    }
}

/// What an import read and wrote, over all its files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// Records read (each gave one output object).
    pub records: u64,
    /// Normalized events written.
    pub events: u64,
    /// `pipeline_error` events written.
    pub pipeline_errors: u64,
    /// EVTX chunks the `evtx` crate could not read (skipped, logged).
    pub evtx_chunks_skipped: u64,
    /// EVTX records the `evtx` crate could not read (skipped, logged).
    pub evtx_records_skipped: u64,
    /// Windows records the `[import.filter]` dropped (no object written).
    pub filtered: u64,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is larger than `file_bytes_max`.
    #[error("{path}: larger than {bytes_max} bytes")]
    TooLarge { path: PathBuf, bytes_max: u64 },
    /// A file is not an EVTX file (its header cannot be read).
    #[error("{path}: not a readable EVTX file: {message}")]
    Evtx { path: PathBuf, message: String },
    /// The sink refused an object (stdout closed, Kafka rejected it).
    #[error("writing the output: {0}")]
    Sink(String),
}

/// Where normalized objects go, one call per record, in source order.
pub trait Sink {
    /// Take one ECS JSON object (no trailing newline).
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError>;
}

/// Normalizes records and hands them to a sink; keeps its buffers between records.
pub struct Importer {
    opts: ImportOptions,
    counts: ImportCounts,
    out: Vec<u8>,
    scratch: Vec<u8>,
    unwrap_scratch: Vec<u8>,
    filter: Option<WindowsFilter>,
}

impl Importer {
    /// An importer with `opts`.
    pub fn new(opts: ImportOptions) -> Self {
        Self {
            opts,
            counts: ImportCounts::default(),
            out: Vec::with_capacity(8 << 10),
            scratch: Vec::new(),
            unwrap_scratch: Vec::new(),
            filter: None,
        }
    }

    /// Keep only the Windows records (`evtx`, `windows`) `filter` keeps; the others are
    /// counted in [`ImportCounts::filtered`] and give no object.
    pub fn with_filter(mut self, filter: WindowsFilter) -> Self {
        self.filter = filter.is_active().then_some(filter);
        self
    }

    /// The counts so far.
    pub fn counts(&self) -> ImportCounts {
        self.counts
    }

    /// Import `path` as `kind` into `sink`. For EVTX `path` may be a directory.
    pub fn import_path(
        &mut self,
        kind: Kind,
        path: &Path,
        sink: &mut dyn Sink,
    ) -> Result<(), ImportError> {
        if kind == Kind::Evtx {
            for file in evtx::evtx_files(path)? {
                self.import_evtx(&file, sink)?;
            }
            return Ok(());
        }
        let data = input::read_input(path, self.opts.file_bytes_max)?;
        self.import_bytes(kind, &data, sink)
    }

    /// Import the contents of one (decompressed) file or request body as `kind`.
    pub fn import_bytes(
        &mut self,
        kind: Kind,
        data: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), ImportError> {
        match kind {
            Kind::Evtx => Err(ImportError::Sink(
                "EVTX is read from files, not bytes".into(),
            )),
            Kind::Windows => {
                for line in data.split(|&b| b == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    self.record(kind, line, sink)?;
                }
                Ok(())
            }
            Kind::Cloudtrail | Kind::Azure | Kind::Gcp | Kind::Firehose | Kind::Pubsub => {
                let key = match kind {
                    Kind::Cloudtrail => Some("Records"),
                    Kind::Azure | Kind::Firehose => Some("records"),
                    Kind::Gcp => Some("entries"),
                    _ => None,
                };
                for piece in split_records(data, key) {
                    match piece {
                        Piece::Record(r) => self.record(kind, &data[r], sink)?,
                        Piece::Broken(r) => self.error(
                            kind,
                            &data[r],
                            "import.truncated",
                            "the envelope breaks off here: not a complete JSON value",
                            sink,
                        )?,
                    }
                }
                Ok(())
            }
        }
    }

    fn meta() -> ReceiveMeta {
        ReceiveMeta {
            received_unix_micros: crate::event::unix_micros_now(),
            peer: None,
        }
    }

    fn emit(&mut self, outcome: RecordOutcome, sink: &mut dyn Sink) -> Result<(), ImportError> {
        self.counts.records += 1;
        match outcome {
            RecordOutcome::Event => self.counts.events += 1,
            RecordOutcome::PipelineError => self.counts.pipeline_errors += 1,
        }
        sink.write(&self.out)
    }

    fn error(
        &mut self,
        kind: Kind,
        raw: &[u8],
        code: &str,
        message: &str,
        sink: &mut dyn Sink,
    ) -> Result<(), ImportError> {
        self.out.clear();
        write_pipeline_error_message(
            &mut self.out,
            raw,
            code,
            message,
            kind.error_dataset(),
            &Self::meta(),
        );
        self.emit(RecordOutcome::PipelineError, sink)
    }

    /// Normalize one record of `kind` (unwrapping Firehose and Pub/Sub envelopes).
    fn record(&mut self, kind: Kind, raw: &[u8], sink: &mut dyn Sink) -> Result<(), ImportError> {
        // Nested past the limit: a pipeline_error, never handed to a parser.
        if let Err(e) = nesting::depth_within(raw, nesting::DEPTH_MAX) {
            let msg = format!("the record is {e}");
            return self.error(kind, raw, "record.too_deep", &msg, sink);
        }
        let windows = matches!(kind, Kind::Evtx | Kind::Windows);
        if windows && self.filter.as_ref().is_some_and(|f| !f.keep(raw)) {
            self.counts.filtered += 1;
            return Ok(());
        }
        let meta = Self::meta();
        let opts = &self.opts.record;
        let payload = match kind {
            Kind::Firehose => Some(envelope::firehose_record(raw, &mut self.unwrap_scratch)),
            Kind::Pubsub => Some(envelope::pubsub_message(raw, &mut self.unwrap_scratch)),
            Kind::Gcp if envelope::is_pubsub_push(raw, &mut self.unwrap_scratch) => {
                Some(envelope::pubsub_message(raw, &mut self.unwrap_scratch))
            }
            _ => None,
        };
        let payload = match payload {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return self.error(kind, raw, e.code, &e.message, sink),
        };
        let record = payload.as_deref().unwrap_or(raw);
        // A Firehose record may carry gzip (as CloudWatch Logs subscriptions deliver).
        let gunzipped;
        let record = if kind == Kind::Firehose && input::is_gzip(record) {
            match input::gunzip(record, self.opts.file_bytes_max) {
                Ok(g) => {
                    gunzipped = g;
                    &gunzipped[..]
                }
                Err(e) => {
                    let msg = format!("`data` is not valid gzip: {e}");
                    return self.error(kind, record, "firehose.bad_gzip", &msg, sink);
                }
            }
        } else {
            record
        };
        if let Err(e) = nesting::depth_within(record, nesting::DEPTH_MAX) {
            let msg = format!("the record's payload is {e}");
            return self.error(kind, raw, "record.too_deep", &msg, sink);
        }
        self.out.clear();
        let (out, scratch) = (&mut self.out, &mut self.scratch);
        let outcome = match kind {
            Kind::Evtx => normalize::windows_xml_to_ecs(record, opts, &meta, out),
            Kind::Windows => normalize::windows_to_ecs(record, opts, &meta, scratch, out),
            Kind::Cloudtrail | Kind::Firehose => {
                normalize::cloudtrail_to_ecs(record, opts, &meta, scratch, out)
            }
            Kind::Azure => normalize::azure_to_ecs(record, opts, &meta, scratch, out),
            Kind::Gcp | Kind::Pubsub => normalize::gcp_to_ecs(record, opts, &meta, scratch, out),
        };
        self.emit(outcome, sink)
    }

    fn import_evtx(&mut self, path: &Path, sink: &mut dyn Sink) -> Result<(), ImportError> {
        evtx::for_each_item(path, |item| match item {
            evtx::EvtxItem::Record(xml) => self.record(Kind::Evtx, &xml, sink),
            evtx::EvtxItem::CorruptChunk(error) => {
                self.counts.evtx_chunks_skipped += 1;
                tracing::warn!(file = %path.display(), %error, "EVTX chunk skipped: the evtx crate cannot read it");
                Ok(())
            }
            evtx::EvtxItem::CorruptRecord(error) => {
                self.counts.evtx_records_skipped += 1;
                tracing::warn!(file = %path.display(), %error, "EVTX record skipped: the evtx crate cannot read it");
                Ok(())
            }
        })
    }
}
