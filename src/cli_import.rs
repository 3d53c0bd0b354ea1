//! `linerate import KIND FILE...`: Windows and cloud log files to ECS JSON, printed one object
//! per line with `--stdout` (a dry run), else produced to the Kafka normalized topic. A
//! summary of what was read and written goes to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::config::Config;
use crate::import::{ImportCounts, ImportError, ImportOptions, Importer, Kind, Sink};
use crate::normalize::RecordOptions;
use crate::sink::kafka::{producer_config, EmbeddedKafka};

/// Options shared by every `linerate import` kind.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Input files (gzip or plain; for `evtx`, also directories of `.evtx` files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the normalized ECS JSON, one object per line in source order, instead of
    /// producing to Kafka (a dry run).
    #[arg(long)]
    pub stdout: bool,
    /// TOML configuration file: `[kafka]` for the Kafka path, `[import]` for the inputs.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `linerate import` kinds.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ImportCommand {
    /// EVTX files or directories of them, read with the `evtx` crate.
    Evtx(ImportArgs),
    /// Forwarded Windows events, one per line: NXLog `to_json()`, Winlogbeat JSON or event
    /// XML (`<Event xmlns=...>`), detected per line.
    Windows(ImportArgs),
    /// AWS CloudTrail log files (`{"Records":[...]}`, as delivered to S3).
    Cloudtrail(ImportArgs),
    /// Azure Activity Log: `{"records":[...]}` (Event Hubs) or JSON Lines (`PT1H.json`).
    Azure(ImportArgs),
    /// GCP Cloud Logging LogEntry JSON, NDJSON, or Pub/Sub push bodies.
    Gcp(ImportArgs),
    /// Captured Amazon Data Firehose HTTP delivery request bodies (CloudTrail records).
    Firehose(ImportArgs),
    /// Captured Pub/Sub push request bodies (LogEntries in `message.data`).
    Pubsub(ImportArgs),
}

impl ImportCommand {
    fn split(&self) -> (Kind, &ImportArgs) {
        match self {
            ImportCommand::Evtx(a) => (Kind::Evtx, a),
            ImportCommand::Windows(a) => (Kind::Windows, a),
            ImportCommand::Cloudtrail(a) => (Kind::Cloudtrail, a),
            ImportCommand::Azure(a) => (Kind::Azure, a),
            ImportCommand::Gcp(a) => (Kind::Gcp, a),
            ImportCommand::Firehose(a) => (Kind::Firehose, a),
            ImportCommand::Pubsub(a) => (Kind::Pubsub, a),
        }
    }
}

struct StdoutSink<W: Write> {
    out: W,
}

impl<W: Write> Sink for StdoutSink<W> {
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError> {
        self.out
            .write_all(json)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| ImportError::Sink(e.to_string()))
    }
}

/// Counts delivery reports of the import's producer.
#[derive(Default)]
struct ImportContext {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for ImportContext {}

impl ProducerContext for ImportContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                tracing::error!(error = %e, "kafka delivery failed");
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

struct KafkaImportSink<'p> {
    producer: &'p BaseProducer<ImportContext>,
    topic: String,
    produced: u64,
}

impl Sink for KafkaImportSink<'_> {
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError> {
        loop {
            let record = BaseRecord::<(), [u8]>::to(&self.topic).payload(json);
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(ImportError::Sink(e.to_string())),
            }
        }
        self.produced += 1;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
}

fn summary(counts: &ImportCounts, kafka: Option<(u64, u64, u64)>) -> String {
    let mut s = format!(
        "linerate import: {} records read, {} events, {} pipeline errors, {} corrupt EVTX chunks skipped, {} corrupt EVTX records skipped, {} filtered out",
        counts.records,
        counts.events,
        counts.pipeline_errors,
        counts.evtx_chunks_skipped,
        counts.evtx_records_skipped,
        counts.filtered
    );
    if let Some((produced, delivered, failed)) = kafka {
        s.push_str(&format!(
            "; {produced} produced, {delivered} delivered, {failed} failed"
        ));
    }
    s
}

/// Run the command; `Err` (exit 1) when a file cannot be read or a delivery failed.
/// Records that cannot be parsed are `pipeline_error` events and do not fail the run.
pub fn run(cmd: &ImportCommand) -> Result<()> {
    crate::logging::init("info,evtx=warn");
    let (kind, args) = cmd.split();
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let nxlog_timezone = crate::parse::TimeZone::parse(&cfg.import.nxlog_timezone)
        .with_context(|| format!("unknown time zone `{}`", cfg.import.nxlog_timezone))?;
    let mut importer = Importer::new(ImportOptions {
        record: RecordOptions {
            keep_original: cfg.import.keep_original,
            nxlog_timezone,
        },
        file_bytes_max: cfg.import.file_bytes_max,
    })
    .with_filter(
        crate::normalize::windows_filter::WindowsFilter::new(&cfg.import.filter)
            .context("[import.filter]")?,
    );
    if args.stdout {
        let mut sink = StdoutSink {
            out: std::io::BufWriter::new(std::io::stdout().lock()),
        };
        let result = args
            .files
            .iter()
            .try_for_each(|f| importer.import_path(kind, f, &mut sink));
        let flushed = sink.out.flush();
        eprintln!("{}", summary(&importer.counts(), None));
        result?;
        flushed.context("writing stdout")?;
        return Ok(());
    }

    let topic = cfg.kafka.normalized_topic.clone();
    let embedded = if cfg.kafka.brokers == "embedded" {
        let k = EmbeddedKafka::start(&[topic.as_str()], cfg.kafka.embedded_partitions)
            .context("starting the embedded Kafka mock cluster")?;
        tracing::warn!(
            bootstrap = %k.bootstrap_servers(),
            "EMBEDDED KAFKA: brokers = \"embedded\" runs librdkafka's in-process MOCK cluster; \
             the imported events are LOST when this command exits. Set [kafka] brokers, or \
             use --stdout for a dry run."
        );
        Some(k)
    } else {
        None
    };
    let bootstrap = embedded
        .as_ref()
        .map(|k| k.bootstrap_servers())
        .unwrap_or_else(|| cfg.kafka.brokers.clone());
    let producer: BaseProducer<ImportContext> =
        producer_config(&cfg.kafka.with_security()?, &bootstrap, "linerate-import")
            .create_with_context(ImportContext::default())
            .context("creating the Kafka producer")?;
    let mut sink = KafkaImportSink {
        producer: &producer,
        topic,
        produced: 0,
    };
    let result = args
        .files
        .iter()
        .try_for_each(|f| importer.import_path(kind, f, &mut sink));
    let produced = sink.produced;
    let flushed = producer.flush(Duration::from_millis(cfg.kafka.shutdown_flush_ms));
    let ctx = producer.context();
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    eprintln!(
        "{}",
        summary(&importer.counts(), Some((produced, delivered, failed)))
    );
    result?;
    flushed.context("waiting for Kafka's delivery reports")?;
    if failed > 0 || delivered != produced {
        bail!("{failed} of {produced} records were not delivered to Kafka");
    }
    drop(producer);
    drop(embedded);
    Ok(())
}
