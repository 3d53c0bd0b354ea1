//! Configuration: one TOML file, every key defaulted, unknown keys rejected with file and line.
//!
//! Every limit carries its unit last in its name (`message_bytes_max`, `linger_ms`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod guarantees;
mod validate;

pub use guarantees::{weakened_guarantees, WeakenedGuarantee};

/// A TCP octet count above this many times `[syslog] message_bytes_max` is a framing error,
/// not an over-long message: no sender means a message that long, and skipping it would take
/// the rest of the connection (16 × the default 64 KiB = 1 MiB).
pub const OCTET_COUNT_FACTOR_MAX: usize = 16;

/// Smallest ring, bytes: `[buffer] ring_bytes_max` is refused below it (and below four
/// frames of `message_bytes_max`), and the buffer rounds a smaller capacity up to it.
pub const RING_BYTES_MIN: u64 = 64 << 10;
/// Most bytes the ring's frame adds to a message that did not come over TLS (header, receive
/// metadata, padding): the buffer's frame format stays within it (its tests check).
pub const FRAME_OVERHEAD_BYTES_MAX: u64 = 64;

/// The whole appliance configuration. `Config::default()` is what runs with no `--config`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub shards: ShardsConfig,
    pub syslog: SyslogConfig,
    pub kafka: KafkaConfig,
    pub http: HttpConfig,
    pub http_input: HttpInputConfig,
    pub stats: StatsConfig,
    pub buffer: BufferConfig,
    pub import: ImportConfig,
    pub enrich: EnrichConfig,
    /// EVTX directory-poll inputs (`[[evtx_input]]`, one per directory); none by default.
    pub evtx_input: Vec<EvtxInputConfig>,
}

/// `[enrich]`: the enrichment table and the topic of enriched events (off without a table).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// The table's file (CSV, or TOML by its `.toml` extension); empty: no enrichment.
    pub table: String,
    /// Topic every normalized event also goes to, with `labels` when a row matched.
    pub topic: String,
    /// Rows the table may hold; a larger table stops start-up.
    pub table_rows_max: usize,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            table: String::new(),
            topic: "logs.enriched".into(),
            table_rows_max: 1_000_000,
        }
    }
}

impl EnrichConfig {
    /// The enriched topic, when a table is configured.
    pub fn enabled_topic(&self) -> Option<&str> {
        (!self.table.is_empty()).then_some(self.topic.as_str())
    }
}

/// One `[[evtx_input]]`: a directory of `.evtx` files polled by one shard (input `i` goes to
/// shard `i % shards`), every new record appended to its ring as a Windows event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvtxInputConfig {
    /// The directory (not recursive): one per server or channel.
    pub dir: PathBuf,
    /// How often the directory is listed and its files checked for growth.
    pub poll_interval_ms: u64,
    /// Records appended from one file per step before the input yields to the shard's other
    /// tasks and files and saves its position.
    pub records_per_step_max: usize,
    /// Which events are kept (empty: all).
    pub filter: crate::normalize::windows_filter::WindowsFilterConfig,
}

impl Default for EvtxInputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            poll_interval_ms: 1000,
            records_per_step_max: 1000,
            filter: Default::default(),
        }
    }
}

/// `linerate import` (Windows and cloud files).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Keep each record as received in `event.original`.
    pub keep_original: bool,
    /// Zone of NXLog CE's `EventTime`, which is the agent host's local time with no zone:
    /// `UTC`, `+02:00`, or an IANA name.
    pub nxlog_timezone: String,
    /// Largest input file, bytes (also the limit after gzip decompression).
    pub file_bytes_max: u64,
    /// Which Windows records (`evtx`, `windows`) are imported (empty: all).
    pub filter: crate::normalize::windows_filter::WindowsFilterConfig,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            keep_original: true,
            nxlog_timezone: "UTC".into(),
            file_bytes_max: 1 << 30,
            filter: Default::default(),
        }
    }
}

/// How many shards run and where: one glommio executor pinned per core.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardsConfig {
    /// Number of shards; 0 means one per CPU but a quarter of them (at least one from two
    /// CPUs up), which are left to librdkafka's threads and the kernel, the shards taking the
    /// last CPUs (2 CPUs: one shard on CPU 1; 16: twelve on 4-15, as
    /// `shards/single-socket-16.toml`). Ignored when `cores` is set.
    pub count: usize,
    /// Explicit CPU list, one shard pinned to each (e.g. `[2, 3, 4, 5]`).
    pub cores: Vec<usize>,
    /// io_uring buffer memory per shard (locked memory), bytes.
    pub io_memory_bytes: usize,
    /// Pin the threads that are not shards (librdkafka's, the embedded Kafka's, the control
    /// API, the aggregator) to the CPUs no shard runs on, when there are any; `false` lets
    /// the kernel place them anywhere, the shards' cores included.
    pub pin_helpers: bool,
}

/// The shard → CPU assignment of `shards` on a host of `cpus` CPUs: `cores` as given; else
/// `count` shards on CPUs 0, 1, ... (wrapping); else ([`ShardsConfig::count`] 0) one shard
/// per CPU on the last CPUs but a quarter of them (at least one from two CPUs up): measured
/// on the 2-core VM with the peers benchmark (TCP, `raw_enabled = false`, 6 paired runs),
/// one shard cost 1.25 µs of CPU per event against two shards' 1.69 at a higher rate, as
/// each shard's producer has a librdkafka broker thread (batching, zstd, sending) that
/// competes with the shards for their cores when every core runs one.
pub fn shard_cores_on(shards: &ShardsConfig, cpus: usize) -> Vec<usize> {
    let cpus = cpus.max(1);
    if !shards.cores.is_empty() {
        return shards.cores.clone();
    }
    if shards.count > 0 {
        return (0..shards.count).map(|i| i % cpus).collect();
    }
    let left = if cpus >= 2 { (cpus / 4).max(1) } else { 0 };
    (left..cpus).collect()
}

/// Smallest io_uring buffer memory a shard is given, whatever `io_memory_bytes` says.
pub const IO_MEMORY_BYTES_MIN: usize = 256 << 10;
/// Locked memory a shard takes beside its io_uring buffers (its rings' own pages).
const LOCKED_OVERHEAD_BYTES_PER_SHARD: u64 = 1 << 20;
/// File descriptors a shard holds beside its TCP connections: its sockets, ring file,
/// io_uring instances and eventfds, and its producer's broker sockets and wake-up fds.
const FDS_PER_SHARD_BASE: u64 = 64;
/// File descriptors of the process beside its shards (HTTP, embedded Kafka, logs, libraries).
const FDS_PROCESS_BASE: u64 = 256;

impl ShardsConfig {
    /// The io_uring buffer memory each shard is actually given (at least
    /// [`IO_MEMORY_BYTES_MIN`]).
    pub fn io_memory_effective_bytes(&self) -> usize {
        self.io_memory_bytes.max(IO_MEMORY_BYTES_MIN)
    }
}

impl Default for ShardsConfig {
    fn default() -> Self {
        Self {
            count: 0,
            cores: Vec::new(),
            io_memory_bytes: 1 << 20,
            pin_helpers: true,
        }
    }
}

/// Syslog inputs, shared by every shard (each shard binds its own SO_REUSEPORT sockets).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// UDP listen address; empty string disables UDP.
    pub udp_listen: String,
    /// TCP listen address; empty string disables TCP.
    pub tcp_listen: String,
    /// SO_RCVBUF requested for each socket, bytes (the kernel may grant less; see doctor).
    pub recv_buffer_bytes: usize,
    /// Longest message kept; longer ones are truncated to this size and counted.
    pub message_bytes_max: usize,
    /// Datagrams read per recvmmsg call.
    pub udp_batch_max: usize,
    /// Per-connection read buffer at most, bytes (raised to hold at least one maximal
    /// message). Each connection starts with 4 KiB and grows toward this only while reads
    /// fill its buffer or a frame needs more; an idle connection shrinks back.
    pub tcp_read_buffer_bytes: usize,
    /// A TCP connection that sends nothing for this long is closed and counted
    /// (`linerate_tcp_connections_idle_closed_total`); a partial last message is kept.
    /// 1800 s, as rsyslog's imdtls closes idle sessions.
    pub tcp_idle_timeout_secs: u64,
    /// Open TCP connections per shard; further ones are closed at once and counted.
    pub tcp_connections_max: usize,
    /// Listen backlog of each TCP socket.
    pub tcp_backlog_max: u32,
    /// Hand a newly accepted TCP (or TLS) connection to the shard serving fewest of that
    /// listener's connections when that is fewer than the accepting shard's (see
    /// `ingest::tcp_balance`).
    pub tcp_balance: bool,
    /// `auto`, `rfc5424` or `rfc3164`.
    pub format: String,
    /// Zone of RFC 3164 timestamps: `UTC`, `+02:00`, or an IANA name such as `Europe/Berlin`.
    pub timezone: String,
    /// Pin the year of RFC 3164 timestamps (default: inferred from the clock).
    pub year: Option<i32>,
    /// Take a TCP or UDP message that starts with `{`, `<?xml` or `<Event` as a forwarded
    /// Windows event (see `ingest::detect`) instead of syslog.
    pub detect_windows: bool,
    /// Which of those forwarded Windows events are kept (`[syslog.windows_filter]`; empty:
    /// all). Syslog messages are never filtered.
    pub windows_filter: crate::normalize::windows_filter::WindowsFilterConfig,
    /// Syslog over TLS (RFC 5425, port 6514) listen address; empty string disables it.
    /// Needs `tls_cert_file` and `tls_key_file`. Its connections count against
    /// `tcp_connections_max` together with plain TCP's.
    pub tls_listen: String,
    /// A TLS connection that sends nothing for this long is closed.
    pub tls_idle_timeout_ms: u64,
    /// The listener's certificate, key and mutual TLS (`tls_*` keys of this section).
    #[serde(flatten)]
    pub tls: TlsServerConfig,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            udp_listen: "0.0.0.0:5514".into(),
            tcp_listen: "0.0.0.0:5514".into(),
            recv_buffer_bytes: 8 << 20,
            message_bytes_max: 64 << 10,
            udp_batch_max: 64,
            tcp_read_buffer_bytes: 256 << 10,
            tcp_idle_timeout_secs: 1800,
            tcp_connections_max: 4096,
            tcp_backlog_max: 1024,
            tcp_balance: true,
            format: "auto".into(),
            timezone: "UTC".into(),
            year: None,
            detect_windows: true,
            windows_filter: Default::default(),
            tls_listen: String::new(),
            tls_idle_timeout_ms: 3_600_000,
            tls: TlsServerConfig::default(),
        }
    }
}

/// The server TLS keys of one listener (`[syslog]`, `[http_input]`, `[http]` `tls_*`), borrowed:
/// what [`crate::tls::config::TlsFiles`] is built from and what the shared checks look at.
#[derive(Debug, Clone, Copy)]
pub struct TlsKeys<'a> {
    pub cert_file: Option<&'a Path>,
    pub key_file: Option<&'a Path>,
    pub client_ca_file: Option<&'a Path>,
    pub permitted_peers: &'a [String],
    pub min_version: &'a str,
    pub handshake_timeout_ms: u64,
    pub reload_check_ms: u64,
}

/// Kafka output: one producer per shard.
///
/// `Debug` shows secret `properties` (see [`is_secret_property`]) as [`REDACTED`]: after
/// [`KafkaConfig::with_security`] they hold the SASL password.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `embedded` starts librdkafka's in-process mock cluster; otherwise a bootstrap list.
    pub brokers: String,
    /// Topic for the bytes as received.
    pub raw_topic: String,
    pub raw_enabled: bool,
    /// Topic for ECS JSON.
    pub normalized_topic: String,
    pub normalized_enabled: bool,
    /// Topic for records Kafka rejected for good (too large, invalid topic...), with the
    /// reason; when it is off or rejects them too, they go to the dead-letter file.
    pub dead_letter_topic: String,
    pub dead_letter_enabled: bool,
    /// librdkafka `linger.ms`.
    pub linger_ms: u64,
    /// librdkafka `batch.size`, bytes.
    pub batch_bytes_max: u64,
    /// zstd level of the record batches (librdkafka `compression.level`), 1 to 12. Level 1
    /// costs about 30% less CPU per record than zstd's default 3 for about 90% of its ratio on
    /// mixed device logs (`bench/kafka_floor.rs`, docs/benchmarks.md); 3 for the better ratio.
    pub compression_level: i32,
    /// librdkafka `queue.buffering.max.messages`: records in the producer's queue per shard.
    /// When it is full the shard's sender waits (the events stay in the ring, the inputs go
    /// on reading into it); see also `[buffer] in_flight_events_max`.
    pub queue_messages_max: u64,
    /// librdkafka `queue.buffering.max.kbytes`, per shard.
    pub queue_kbytes_max: u64,
    /// How long shutdown waits for outstanding deliveries.
    pub shutdown_flush_ms: u64,
    /// Partitions of each topic the embedded cluster creates.
    pub embedded_partitions: i32,
    /// How often each shard re-reads its topics' partition counts from its producer's
    /// metadata (also done at start-up), off the shard's thread: the shard chooses a keyed
    /// record's partition itself, as librdkafka's default partitioner would (CRC-32 of the
    /// key), and hands each partition's records over in one call. A topic whose partitions
    /// grew is picked up within this time. 0 switches this off: librdkafka's partitioner
    /// chooses every record's partition (as does a `partitioner` property other than
    /// `consistent_random` or `consistent`).
    pub partitions_refresh_ms: u64,
    /// librdkafka `security.protocol`: `plaintext`, `ssl`, `sasl_ssl` or `sasl_plaintext`
    /// (empty: librdkafka's default, plaintext).
    pub security_protocol: String,
    /// CA bundle (PEM) the brokers' certificates are verified against (`ssl.ca.location`;
    /// unset: the system's CA store).
    pub ssl_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) presented to the brokers (`ssl.certificate.location`).
    pub ssl_cert_file: Option<PathBuf>,
    /// Its private key (PEM, `ssl.key.location`).
    pub ssl_key_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER` (`sasl.mechanisms`).
    pub sasl_mechanism: String,
    /// SASL user name (`sasl.username`).
    pub sasl_username: String,
    /// File holding the SASL password (surrounding whitespace ignored; `sasl.password`),
    /// read at start-up; the password never appears in logs or the control API.
    pub sasl_password_file: Option<PathBuf>,
    /// Any librdkafka property, passed through last (overrides the above; the `/health`
    /// probe uses them too). Each must be a property librdkafka knows, with a value it takes
    /// (else start-up stops with file, line and librdkafka's reason). One that weakens the
    /// delivery guarantee stops start-up unless `unsafe_delivery`: `acks` other than `all`,
    /// `enable.idempotence` not true, `max.in.flight.requests.per.connection` above 5,
    /// `retries` 0, `queuing.strategy` other than `fifo`, `delivery.report.only.error`
    /// (aliases included; see [`weakened_guarantees`]).
    pub properties: BTreeMap<String, String>,
    /// Accept `properties` that weaken the delivery guarantee (events may be lost or
    /// duplicated): each is logged as a warning at start-up and listed under
    /// `kafka.unsafe_delivery_overrides` in `GET /api/v1/config` (librdkafka itself refuses
    /// `acks` below `all` while `enable.idempotence` is true: set both).
    pub unsafe_delivery: bool,
}

impl KafkaConfig {
    /// Check `properties`: each one librdkafka takes (name and value), and none weakening
    /// the delivery guarantee unless `unsafe_delivery`. Returns the offending key and why.
    fn validate_properties(&self) -> Result<(), (String, String)> {
        for (key, value) in &self.properties {
            if let Err(e) = rdkafka::ClientConfig::new()
                .set(key, value)
                .create_native_config()
            {
                return Err((key.clone(), format!("librdkafka refuses `{value}`: {e}")));
            }
        }
        if self.unsafe_delivery {
            return Ok(());
        }
        match weakened_guarantees(&self.properties).first() {
            Some(w) => Err((
                w.key.clone(),
                format!(
                    "`{}` weakens the delivery guarantee: {}. Remove it, or set [kafka] \
                     unsafe_delivery = true to accept losing or duplicating events",
                    w.value, w.reason
                ),
            )),
            None => Ok(()),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "embedded".into(),
            raw_topic: "logs.raw".into(),
            raw_enabled: true,
            normalized_topic: "logs.normalized".into(),
            normalized_enabled: true,
            dead_letter_topic: "logs.deadletter".into(),
            dead_letter_enabled: true,
            linger_ms: 5,
            batch_bytes_max: 1 << 20,
            compression_level: 1,
            queue_messages_max: 200_000,
            queue_kbytes_max: 256 << 10,
            shutdown_flush_ms: 30_000,
            embedded_partitions: 4,
            partitions_refresh_ms: 30_000,
            security_protocol: String::new(),
            ssl_ca_file: None,
            ssl_cert_file: None,
            ssl_key_file: None,
            sasl_mechanism: String::new(),
            sasl_username: String::new(),
            sasl_password_file: None,
            properties: BTreeMap::new(),
            unsafe_delivery: false,
        }
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_property(k) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("raw_topic", &self.raw_topic)
            .field("raw_enabled", &self.raw_enabled)
            .field("normalized_topic", &self.normalized_topic)
            .field("normalized_enabled", &self.normalized_enabled)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("dead_letter_enabled", &self.dead_letter_enabled)
            .field("linger_ms", &self.linger_ms)
            .field("batch_bytes_max", &self.batch_bytes_max)
            .field("compression_level", &self.compression_level)
            .field("queue_messages_max", &self.queue_messages_max)
            .field("queue_kbytes_max", &self.queue_kbytes_max)
            .field("shutdown_flush_ms", &self.shutdown_flush_ms)
            .field("embedded_partitions", &self.embedded_partitions)
            .field("partitions_refresh_ms", &self.partitions_refresh_ms)
            .field("security_protocol", &self.security_protocol)
            .field("ssl_ca_file", &self.ssl_ca_file)
            .field("ssl_cert_file", &self.ssl_cert_file)
            .field("ssl_key_file", &self.ssl_key_file)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password_file", &self.sasl_password_file)
            .field("properties", &properties)
            .finish()
    }
}

impl KafkaConfig {
    /// The librdkafka properties of the first-class security keys (`security_protocol`,
    /// `ssl_*`, `sasl_*`), with the SASL password read from `sasl_password_file` (trimmed;
    /// an unreadable or empty file is an error naming it).
    pub fn security_properties(&self) -> Result<Vec<(&'static str, String)>, ConfigError> {
        let mut props = Vec::new();
        if !self.security_protocol.is_empty() {
            props.push((
                "security.protocol",
                self.security_protocol.to_ascii_lowercase(),
            ));
        }
        for (key, file) in [
            ("ssl.ca.location", &self.ssl_ca_file),
            ("ssl.certificate.location", &self.ssl_cert_file),
            ("ssl.key.location", &self.ssl_key_file),
        ] {
            if let Some(path) = file {
                // Checked here so a missing file names itself at start-up, before librdkafka's
                // less specific "ssl.ca.location failed" errors.
                std::fs::File::open(path).map_err(|e| ConfigError::TokenFile {
                    path: path.clone(),
                    reason: format!("cannot read: {e}"),
                })?;
                props.push((key, path.display().to_string()));
            }
        }
        if !self.sasl_mechanism.is_empty() {
            props.push(("sasl.mechanisms", self.sasl_mechanism.clone()));
        }
        if !self.sasl_username.is_empty() {
            props.push(("sasl.username", self.sasl_username.clone()));
        }
        if let Some(path) = &self.sasl_password_file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile {
                path: path.clone(),
                reason: format!("cannot read: {e}"),
            })?;
            let password = text.trim();
            if password.is_empty() {
                return Err(ConfigError::TokenFile {
                    path: path.clone(),
                    reason: "sasl_password_file is empty".into(),
                });
            }
            props.push(("sasl.password", password.to_string()));
        }
        Ok(props)
    }

    /// This configuration with [`KafkaConfig::security_properties`] added to `properties`
    /// (an explicit `[kafka.properties]` entry still wins): what the producers are built
    /// from. Holds the SASL password: never log or serialize it.
    pub fn with_security(&self) -> Result<KafkaConfig, ConfigError> {
        let mut k = self.clone();
        for (key, value) in self.security_properties()? {
            k.properties.entry(key.to_string()).or_insert(value);
        }
        Ok(k)
    }
}

/// The control plane's HTTP server (metrics, health, the control API).
///
/// `Debug` leaves the token out.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address; empty string disables it. Off loopback a token is required.
    pub listen: String,
    /// Bearer token every `/api/v1` request must carry (`Authorization: Bearer TOKEN`).
    pub api_token: Option<String>,
    /// File holding the token (surrounding whitespace ignored), instead of `api_token`.
    pub api_token_file: Option<PathBuf>,
    /// Most open connections; past it the one idle longest is closed.
    pub connections_max: usize,
    /// Longest from a request's first byte to its last, milliseconds; then it is closed.
    pub request_timeout_ms: u64,
    /// Longest a connection may move no byte, milliseconds; then it is closed.
    pub idle_timeout_ms: u64,
    /// HTTPS (`tls_*` keys of this section): the control API over TLS only.
    #[serde(flatten)]
    pub tls: TlsServerConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9514".into(),
            api_token: None,
            api_token_file: None,
            connections_max: 64,
            request_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            tls: TlsServerConfig::default(),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("api_token", &self.api_token.as_ref().map(|_| REDACTED))
            .field("api_token_file", &self.api_token_file)
            .field("connections_max", &self.connections_max)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A secret given inline (`value`) or in a file (`file`, read now and trimmed; an unreadable
/// or empty file is an error naming `file_key`). `None` when neither is set.
fn secret(
    value: &Option<String>,
    file: &Option<PathBuf>,
    file_key: &str,
) -> Result<Option<String>, ConfigError> {
    if let Some(v) = value {
        return Ok(Some(v.clone()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(ConfigError::TokenFile {
            path: path.clone(),
            reason: format!("{file_key} is empty"),
        });
    }
    Ok(Some(secret.to_string()))
}

impl HttpConfig {
    /// The API token from `api_token` or the contents of `api_token_file` (trimmed; an
    /// unreadable or empty file is an error). `None` when neither is set.
    pub fn api_token(&self) -> Result<Option<String>, ConfigError> {
        secret(&self.api_token, &self.api_token_file, "api_token_file")
    }
}

/// The HTTP input of the shards (Firehose, Pub/Sub push, CloudTrail and Azure bodies): each
/// shard binds its own SO_REUSEPORT listener. Off unless `listen` is set.
///
/// `Debug` leaves the access key out.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpInputConfig {
    /// Listen address (e.g. `0.0.0.0:8088`); empty string disables the input.
    pub listen: String,
    /// Largest request body, bytes, as sent and after gzip decompression.
    pub body_bytes_max: usize,
    /// Open connections per shard; further ones are closed at once.
    pub connections_max: usize,
    /// Listen backlog of each shard's socket.
    pub backlog_max: u32,
    /// The key Firehose must send in `X-Amz-Firehose-Access-Key` on `POST /firehose`;
    /// unset (and no file): the header is not checked.
    pub firehose_access_key: Option<String>,
    /// File holding that key (surrounding whitespace ignored), instead of the inline one.
    pub firehose_access_key_file: Option<PathBuf>,
    /// Which records of `POST /windows` are kept (`[http_input.windows_filter]`; empty: all).
    pub windows_filter: crate::normalize::windows_filter::WindowsFilterConfig,
    /// Longest from a request's first byte to its last, milliseconds; then it is closed.
    pub request_timeout_ms: u64,
    /// Longest a connection may move no byte, milliseconds; then it is closed.
    pub idle_timeout_ms: u64,
    /// HTTPS (`tls_*` keys of this section).
    #[serde(flatten)]
    pub tls: TlsServerConfig,
}

impl Default for HttpInputConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            body_bytes_max: 8 << 20,
            connections_max: 1024,
            backlog_max: 1024,
            firehose_access_key: None,
            firehose_access_key_file: None,
            windows_filter: Default::default(),
            request_timeout_ms: 60_000,
            idle_timeout_ms: 60_000,
            tls: TlsServerConfig::default(),
        }
    }
}

impl std::fmt::Debug for HttpInputConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpInputConfig")
            .field("listen", &self.listen)
            .field("body_bytes_max", &self.body_bytes_max)
            .field("connections_max", &self.connections_max)
            .field("backlog_max", &self.backlog_max)
            .field(
                "firehose_access_key",
                &self.firehose_access_key.as_ref().map(|_| REDACTED),
            )
            .field("firehose_access_key_file", &self.firehose_access_key_file)
            .field("windows_filter", &self.windows_filter)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl HttpInputConfig {
    /// The Firehose access key from `firehose_access_key` or the contents of
    /// `firehose_access_key_file` (trimmed; an unreadable or empty file is an error).
    /// `None` when neither is set.
    pub fn firehose_access_key(&self) -> Result<Option<String>, ConfigError> {
        secret(
            &self.firehose_access_key,
            &self.firehose_access_key_file,
            "firehose_access_key_file",
        )
    }
}

/// The TLS keys of a server's section, written in it as `tls_cert_file = ...`: `[syslog]`
/// (for `tls_listen`), and the HTTPS of `[http_input]` and `[http]` (on when `tls_cert_file`
/// is set; the listener then serves TLS only). One set of keys, one validation, one loader
/// ([`crate::tls::config::TlsFiles`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    /// The server's certificate chain (PEM, leaf first). Needs `tls_key_file`. `[syslog]`:
    /// what `tls_listen` serves; `[http_input]`, `[http]`: when set, `listen` serves HTTPS
    /// only (a plaintext request is refused and counted).
    pub tls_cert_file: Option<PathBuf>,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    /// CA bundle (PEM) for mutual TLS: when set, every client must present a certificate
    /// that chains to one of these, or its handshake is refused.
    pub tls_client_ca_file: Option<PathBuf>,
    /// Under mutual TLS, the clients let in (empty: any the CA signed): a DNS SAN or
    /// subject CN pattern (`*` matches one label or more characters within a label, as
    /// `*.example.com`), or a certificate's SHA-256 fingerprint `sha256:AB:CD:…` (colons
    /// optional).
    pub tls_permitted_peers: Vec<String>,
    /// Lowest TLS version accepted: `1.2` or `1.3`.
    pub tls_min_version: String,
    /// Time a client has to complete its handshake; then the connection is closed and
    /// counted (`reason="timeout"`).
    pub tls_handshake_timeout_ms: u64,
    /// How often the certificate, key and CA files are checked for changes (a change is
    /// loaded for new connections); 0: only on SIGHUP.
    pub tls_reload_check_ms: u64,
}

impl TlsServerConfig {
    /// The keys, borrowed, as the checks and the loader take them.
    pub fn tls_keys(&self) -> TlsKeys<'_> {
        TlsKeys {
            cert_file: self.tls_cert_file.as_deref(),
            key_file: self.tls_key_file.as_deref(),
            client_ca_file: self.tls_client_ca_file.as_deref(),
            permitted_peers: &self.tls_permitted_peers,
            min_version: &self.tls_min_version,
            handshake_timeout_ms: self.tls_handshake_timeout_ms,
            reload_check_ms: self.tls_reload_check_ms,
        }
    }

    /// Whether a certificate is set (for `[http_input]` and `[http]`: whether HTTPS is on).
    pub fn enabled(&self) -> bool {
        self.tls_cert_file.is_some()
    }
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        Self {
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_permitted_peers: Vec::new(),
            tls_min_version: "1.2".into(),
            tls_handshake_timeout_ms: 10_000,
            tls_reload_check_ms: 5_000,
        }
    }
}

/// What redacted values read as in [`Config::to_redacted_json`].
pub const REDACTED: &str = "***";

/// A `[kafka.properties]` key containing any of these (case-insensitive) holds a secret.
const SECRET_PROPERTY_WORDS: [&str; 5] = ["password", "secret", "token", "key", "sasl.jaas"];

/// Whether a librdkafka property named `key` may hold a secret (and is redacted).
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_PROPERTY_WORDS.iter().any(|w| key.contains(w))
}

/// Stats snapshots from shards to the aggregator.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Interval of the shards' snapshots to the aggregator (and of the latency log).
    pub interval_ms: u64,
    /// Shortest time between two `stats` summary lines in the log; a line is written only
    /// when a counter changed since the last one (an idle appliance stays quiet).
    pub summary_log_interval_ms: u64,
    /// Size of a receive→ack latency log file (`data_dir/latency/*.hlog`) before the next
    /// one is started, bytes; 0 writes no latency log.
    pub latency_log_bytes_max: u64,
    /// Latency log files kept (the oldest are removed).
    pub latency_log_files_max: usize,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            summary_log_interval_ms: 10_000,
            latency_log_bytes_max: 64 << 20,
            latency_log_files_max: 8,
        }
    }
}

/// When the ring's pages are forced to disk (msync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Never: survives a process crash (the page cache holds the ring), not a power loss.
    Never,
    /// Every `fsync_interval_ms`: a power loss loses at most that much.
    Interval,
    /// After every append: survives a power loss; costs a disk write per event.
    Always,
}

/// The durable per-shard buffer between the inputs and Kafka.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Directory of the shards' ring files (`shard-N.ring`), created if missing.
    pub data_dir: PathBuf,
    /// Data bytes of each shard's ring (a 256-byte event takes 312 bytes).
    pub ring_bytes_max: u64,
    /// Events handed to the producer and not yet acknowledged, per shard (the rest wait in
    /// the ring). Bounds the producer's copies in memory: 16,384 cost about 10% less CPU per
    /// event than 65,536 on the peers benchmark (fewer fresh heap pages) and carry
    /// 16,384 / round-trip events per second per shard (330k/s at 50 ms); raise it for
    /// brokers further away.
    pub in_flight_events_max: usize,
    /// `never`, `interval` or `always`.
    pub fsync: FsyncPolicy,
    /// Period of `fsync = "interval"`.
    pub fsync_interval_ms: u64,
    /// Longest wait between resends of failed deliveries (the wait starts at 10 ms and
    /// doubles while they keep failing).
    pub retry_backoff_ms_max: u64,
    /// Move the ring's oldest events to segment files on disk when it runs full.
    pub spill_enabled: bool,
    /// Start spilling when the ring is this full (percent of `ring_bytes_max`).
    pub spill_high_watermark_percent: u8,
    /// Stop spilling once the ring is back below this (percent).
    pub spill_low_watermark_percent: u8,
    /// Bytes of spill segments on disk per shard, at most (compressed).
    pub spill_bytes_max: u64,
    /// Bytes per segment file before a new one is started.
    pub spill_segment_bytes_max: u64,
    /// Bytes of ring frames per compressed block (the unit of a spill write and read).
    pub spill_block_bytes_max: usize,
    /// zstd level of spill blocks (1 is fastest).
    pub spill_zstd_level: i32,
    /// Bytes of each shard's dead-letter file (`shard-N.deadletter.ndjson`) at most; past
    /// it, rejected records are dropped and counted (`dead_letter_full`).
    pub dead_letter_file_bytes_max: u64,
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            // About 1M events of 256 bytes.
            ring_bytes_max: 320 << 20,
            in_flight_events_max: 16_384,
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 1000,
            retry_backoff_ms_max: 5000,
            spill_enabled: true,
            spill_high_watermark_percent: 80,
            spill_low_watermark_percent: 60,
            // About 10M events of 256 bytes even before compression (3.1 GB of frames).
            spill_bytes_max: 3 << 30,
            spill_segment_bytes_max: 64 << 20,
            spill_block_bytes_max: 256 << 10,
            spill_zstd_level: 1,
            dead_letter_file_bytes_max: 1 << 30,
        }
    }
}

/// A configuration that could not be loaded: where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    TokenFile { path: PathBuf, reason: String },
    #[error("{path}:{line}:{column}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
}

impl Config {
    /// Load and validate a file; errors name the file, line and reason.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().to_string();
            let ((line, column), reason) = match unknown_key_at(text, span.clone(), &message) {
                Some(at) => (line_col(text, at), message),
                // serde reports a flattened key's wrong type against its whole section.
                None => match flattened_type_error(text) {
                    Some((key, reason)) => (find_key(text, &key), format!("{key}: {reason}")),
                    None => (line_col(text, span.start), message),
                },
            };
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason,
            }
        })?;
        cfg.validate().map_err(|(key, reason)| {
            let (line, column) = find_key(text, key);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason: format!("{key}: {reason}"),
            }
        })?;
        cfg.kafka.validate_properties().map_err(|(key, reason)| {
            let (line, column) = find_key(text, &key);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                reason: format!("[kafka.properties] {key}: {reason}"),
            }
        })?;
        Ok(cfg)
    }

    /// The configuration as JSON with every secret replaced by [`REDACTED`]: the API token
    /// and each `[kafka.properties]` value whose key [`is_secret_property`].
    pub fn to_redacted_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(t) = v.pointer_mut("/http/api_token") {
            if !t.is_null() {
                *t = REDACTED.into();
            }
        }
        if let Some(k) = v.pointer_mut("/http_input/firehose_access_key") {
            if !k.is_null() {
                *k = REDACTED.into();
            }
        }
        if let Some(serde_json::Value::Object(props)) = v.pointer_mut("/kafka/properties") {
            for (key, value) in props.iter_mut() {
                if is_secret_property(key) {
                    *value = REDACTED.into();
                }
            }
        }
        let weakened = weakened_guarantees(&self.kafka.properties);
        if self.kafka.unsafe_delivery && !weakened.is_empty() {
            if let Some(serde_json::Value::Object(kafka)) = v.pointer_mut("/kafka") {
                let list = weakened
                    .iter()
                    .map(|w| serde_json::json!({"property": w.key, "value": w.value, "reason": w.reason}))
                    .collect();
                kafka.insert(
                    "unsafe_delivery_overrides".into(),
                    serde_json::Value::Array(list),
                );
            }
        }
        v
    }

    /// The shard → CPU assignment this config asks for.
    pub fn shard_cores(&self) -> Vec<usize> {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        shard_cores_on(&self.shards, cpus)
    }

    /// RLIMIT_MEMLOCK the shards need (their io_uring buffers and rings, locked by glommio),
    /// and the control API's executor when it is on.
    pub fn locked_memory_bytes(&self) -> u64 {
        let control = if self.http.listen.is_empty() {
            0
        } else {
            IO_MEMORY_BYTES_MIN as u64 + LOCKED_OVERHEAD_BYTES_PER_SHARD
        };
        self.shard_cores().len() as u64
            * (self.shards.io_memory_effective_bytes() as u64 + LOCKED_OVERHEAD_BYTES_PER_SHARD)
            + control
    }

    /// RLIMIT_NOFILE the appliance needs with every shard at `tcp_connections_max` (and the
    /// HTTP input's `connections_max`, when it is on).
    pub fn open_files_needed(&self) -> u64 {
        self.shard_cores().len() as u64
            * (self.syslog.tcp_connections_max as u64
                + self.http_input_connections_max() as u64
                + FDS_PER_SHARD_BASE)
            + FDS_PROCESS_BASE
            + if self.http.listen.is_empty() {
                0
            } else {
                self.http.connections_max as u64
            }
    }

    /// HTTP input connections a shard may hold: `connections_max`, or 0 when it is off.
    fn http_input_connections_max(&self) -> usize {
        if self.http_input.listen.is_empty() {
            0
        } else {
            self.http_input.connections_max
        }
    }

    /// Parser settings derived from `[syslog]`.
    pub fn parse_options(&self) -> Result<crate::parse::ParseOptions, String> {
        use crate::parse::Format;
        let format = match self.syslog.format.as_str() {
            "auto" => Format::Auto,
            "rfc5424" => Format::Rfc5424,
            "rfc3164" => Format::Rfc3164,
            other => return Err(format!("unknown format `{other}`")),
        };
        let timezone = crate::parse::TimeZone::parse(&self.syslog.timezone)
            .ok_or_else(|| format!("unknown time zone `{}`", self.syslog.timezone))?;
        Ok(crate::parse::ParseOptions {
            format,
            year: self.syslog.year,
            timezone,
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|i| before.len() - i)
        .unwrap_or(before.len() + 1);
    (line, column)
}

/// Where an unknown key of `message` ("unknown field `k`") is assigned within `span`. serde
/// reports the keys of a section holding flattened keys ([`TlsServerConfig`]) with the whole
/// section's span; this finds the key's own line in it.
fn unknown_key_at(text: &str, span: std::ops::Range<usize>, message: &str) -> Option<usize> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let body = text.get(span.clone())?;
    let mut offset = span.start;
    for line in body.split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(offset + line.len() - t.len());
        }
        offset += line.len();
    }
    None
}

/// The first `[section] tls_*` key ([`TlsServerConfig`], flattened into its section) whose
/// value has the wrong type, as `section.key`, and why: serde reports such an error against
/// the whole section without naming the key.
fn flattened_type_error(text: &str) -> Option<(String, String)> {
    let doc: toml::Table = text.parse().ok()?;
    for section in ["syslog", "http_input", "http"] {
        let Some(toml::Value::Table(keys)) = doc.get(section) else {
            continue;
        };
        for (key, value) in keys.iter().filter(|(k, _)| k.starts_with("tls_")) {
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            match TlsServerConfig::deserialize(toml::Value::Table(one)) {
                Err(e) if !e.message().starts_with("unknown field") => {
                    return Some((format!("{section}.{key}"), e.message().to_string()));
                }
                _ => {}
            }
        }
    }
    None
}

/// Line of the first `key =` assignment (the key bare or quoted, as a dotted property name
/// must be), for semantic errors that serde has no span for.
fn find_key(text: &str, key: &str) -> (usize, usize) {
    // `section.key`: the key under `[section]` (two sections may have a key of one name),
    // when the file has that section (a dotted key such as a librdkafka property is whole).
    let (mut in_section, key) = match key.split_once('.') {
        Some((section, rest))
            if text
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("[{section}]"))) =>
        {
            (Some(format!("[{section}]")), rest)
        }
        _ => (None, key),
    };
    let quoted = [format!("\"{key}\""), format!("'{key}'")];
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(header) = &in_section {
            if t.starts_with(header.as_str()) {
                in_section = None;
            }
            continue;
        }
        let assigns = |k: &str| {
            t.strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        };
        if assigns(key) || quoted.iter().any(|q| assigns(q)) {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sasl_password_is_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "  s3cret-pw\n").unwrap();
        let text = format!(
            "[kafka]\nbrokers = \"b:9096\"\nsecurity_protocol = \"SASL_SSL\"\n\
             sasl_mechanism = \"SCRAM-SHA-256\"\nsasl_username = \"u\"\nsasl_password_file = \"{}\"\n",
            pw.display()
        );
        let cfg = Config::parse(&text, Path::new("x.toml")).unwrap();
        let k = cfg.kafka.with_security().unwrap();
        assert_eq!(k.properties["sasl.password"], "s3cret-pw");
        assert_eq!(k.properties["security.protocol"], "sasl_ssl");
        assert_eq!(k.properties["sasl.mechanisms"], "SCRAM-SHA-256");
        assert!(!format!("{k:?}").contains("s3cret"));
        assert!(!cfg.to_redacted_json().to_string().contains("s3cret"));
        std::fs::write(&pw, "\n").unwrap();
        let err = cfg.kafka.with_security().unwrap_err().to_string();
        assert!(
            err.contains(&pw.display().to_string()) && err.contains("empty"),
            "{err}"
        );
    }

    #[test]
    fn tls_keys_are_checked_with_the_line_named() {
        let bad = [
            ("[syslog]\ntls_listen = \"0.0.0.0:6514\"\n", "tls_listen"),
            (
                "[syslog]\ntls_listen = \"0.0.0.0:6514\"\ntls_cert_file = \"c\"\ntls_key_file = \"k\"\ntls_min_version = \"1.1\"\n",
                "tls_min_version",
            ),
            (
                "[syslog]\ntls_listen = \"0.0.0.0:6514\"\ntls_cert_file = \"c\"\ntls_key_file = \"k\"\ntls_client_ca_file = \"ca\"\ntls_permitted_peers = [\"sha256:12\"]\n",
                "tls_permitted_peers",
            ),
            (
                "[kafka]\nssl_ca_file = \"ca.pem\"\n",
                "ssl_ca_file",
            ),
            (
                "[kafka]\nsecurity_protocol = \"ssl\"\nsasl_mechanism = \"PLAIN\"\n",
                "sasl_mechanism",
            ),
        ];
        for (text, key) in bad {
            let err = Config::parse(text, Path::new("x.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
            let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
            assert!(err.starts_with(&format!("x.toml:{line}:")), "{key}: {err}");
        }
    }

    #[test]
    fn https_keys_of_the_control_api_are_checked_with_their_section_named() {
        // (config, line of the error, what it names)
        let bad = [
            (
                "[http_input]\nlisten = \"127.0.0.1:8088\"\n\n[http]\nlisten = \"127.0.0.1:9514\"\n\
                 tls_cert_file = \"c\"\ntls_key_file = \"k\"\ntls_min_version = \"1.1\"\n",
                8,
                "http.tls_min_version",
            ),
            // A key without a certificate would serve plain HTTP.
            (
                "[http]\nlisten = \"127.0.0.1:9514\"\ntls_key_file = \"k\"\n",
                2,
                "set tls_cert_file",
            ),
            // A flattened key's wrong type names the key and its line.
            (
                "[syslog]\ntls_min_version = \"1.2\"\n[http]\nlisten = \"127.0.0.1:9514\"\n\
                 tls_handshake_timeout_ms = \"10s\"\n",
                5,
                "http.tls_handshake_timeout_ms: invalid type",
            ),
            // Unknown keys of a section with flattened TLS keys still name their own line.
            (
                "[http]\nlisten = \"127.0.0.1:9514\"\n\ntls_cert_flie = \"c\"\n",
                4,
                "tls_cert_flie",
            ),
        ];
        for (text, line, names) in bad {
            let err = Config::parse(text, Path::new("x.toml"))
                .unwrap_err()
                .to_string();
            let at = format!("x.toml:{line}:");
            assert!(err.starts_with(&at) && err.contains(names), "{err}");
        }
        let cfg = Config::parse(
            "[http]\ntls_cert_file = \"c\"\ntls_key_file = \"k\"\ntls_reload_check_ms = 0\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(cfg.http.tls.tls_cert_file.as_deref(), Some(Path::new("c")));
        assert_eq!(cfg.http.tls.tls_reload_check_ms, 0);
        assert!(!cfg.http_input.tls.enabled());
    }

    #[test]
    fn defaults_are_valid() {
        let cfg = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(cfg.kafka.brokers, "embedded");
        assert_eq!(cfg.syslog.message_bytes_max, 65536);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "[syslog]\nudp_listen = \"127.0.0.1:1\"\nbogus = 3\n";
        let err = Config::parse(text, Path::new("cfg.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cfg.toml:3:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn semantic_error_names_line() {
        let text = "[syslog]\n\nmessage_bytes_max = 1\n";
        let err = Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:3:1: message_bytes_max"), "{err}");
    }

    #[test]
    fn the_default_shard_count_leaves_a_quarter_of_the_cpus_to_librdkafka() {
        let auto = ShardsConfig::default();
        assert_eq!(shard_cores_on(&auto, 1), vec![0]);
        assert_eq!(shard_cores_on(&auto, 2), vec![1]);
        assert_eq!(shard_cores_on(&auto, 4), vec![1, 2, 3]);
        assert_eq!(shard_cores_on(&auto, 16), (4..16).collect::<Vec<_>>());
        let two = ShardsConfig {
            count: 2,
            ..ShardsConfig::default()
        };
        assert_eq!(shard_cores_on(&two, 2), vec![0, 1]);
        assert_eq!(shard_cores_on(&two, 1), vec![0, 0]);
        let listed = ShardsConfig {
            cores: vec![3, 5],
            ..ShardsConfig::default()
        };
        assert_eq!(shard_cores_on(&listed, 2), vec![3, 5]);
    }

    #[test]
    fn compression_level_outside_zstds_range_names_line() {
        for level in [0, 13] {
            let text = format!("[kafka]\ncompression_level = {level}\n");
            let err = Config::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("c.toml:2:1: compression_level"), "{err}");
        }
        let ok = Config::parse("[kafka]\ncompression_level = 3\n", Path::new("c.toml")).unwrap();
        assert_eq!(ok.kafka.compression_level, 3);
    }

    #[test]
    fn http_off_loopback_needs_a_token() {
        let text = "[http]\nlisten = \"0.0.0.0:9514\"\n";
        let err = Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:1: listen:"), "{err}");
        assert!(err.contains("api_token"), "{err}");
        let with = "[http]\nlisten = \"0.0.0.0:9514\"\napi_token = \"s3cret\"\n";
        assert!(Config::parse(with, Path::new("c.toml")).is_ok());
        assert!(Config::parse("[http]\nlisten = \"[::1]:9514\"\n", Path::new("c.toml")).is_ok());
        let both = "[http]\napi_token = \"a\"\napi_token_file = \"/t\"\n";
        let err = Config::parse(both, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:3:1: api_token_file"), "{err}");
        let empty = "[http]\napi_token = \" \"\n";
        assert!(Config::parse(empty, Path::new("c.toml")).is_err());
    }

    #[test]
    fn windows_detection_is_on_and_enrichment_off_by_default() {
        let cfg = Config::parse("", Path::new("c.toml")).unwrap();
        assert!(cfg.syslog.detect_windows);
        assert_eq!(cfg.enrich.enabled_topic(), None);
        let on = "[enrich]\ntable = \"owners.csv\"\n";
        let cfg = Config::parse(on, Path::new("c.toml")).unwrap();
        assert_eq!(cfg.enrich.enabled_topic(), Some("logs.enriched"));
        let bad = "[enrich]\ntable = \"owners.csv\"\ntopic = \"\"\n";
        let err = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:3:1: topic"), "{err}");
        let err = Config::parse("[enrich]\ntabel = \"x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.toml:2:1: unknown field `tabel`"),
            "{err}"
        );
    }

    #[test]
    fn http_input_is_off_by_default_and_checked() {
        let cfg = Config::parse("", Path::new("c.toml")).unwrap();
        assert!(cfg.http_input.listen.is_empty());
        assert_eq!(cfg.http_input.body_bytes_max, 8 << 20);
        let bad = "[http_input]\nlisten = \"nope\"\n";
        let err = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:1: listen"), "{err}");
        let both = "[http_input]\nfirehose_access_key = \"a\"\nfirehose_access_key_file = \"/k\"\n";
        assert!(Config::parse(both, Path::new("c.toml")).is_err());
        let ok = "[http_input]\nlisten = \"0.0.0.0:8088\"\nfirehose_access_key = \"s3cret\"\n";
        let cfg = Config::parse(ok, Path::new("c.toml")).unwrap();
        assert!(!format!("{:?}", cfg.http_input).contains("s3cret"));
        assert!(!cfg.to_redacted_json().to_string().contains("s3cret"));
    }

    #[test]
    fn token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc123\n").unwrap();
        let http = HttpConfig {
            api_token_file: Some(path.clone()),
            ..HttpConfig::default()
        };
        assert_eq!(http.api_token().unwrap().as_deref(), Some("abc123"));
        std::fs::write(&path, "\n").unwrap();
        assert!(http.api_token().is_err());
        assert!(format!("{http:?}").contains("token"));
        let inline = HttpConfig {
            api_token: Some("hunter2".into()),
            ..HttpConfig::default()
        };
        assert!(!format!("{inline:?}").contains("hunter2"));
    }

    #[test]
    fn redacted_json_hides_secrets_only() {
        let text = "[http]\napi_token = \"hunter2\"\n[kafka.properties]\n\
                    \"sasl.password\" = \"pw\"\n\"security.protocol\" = \"sasl_plaintext\"\n";
        let mut cfg = Config::parse(text, Path::new("c.toml")).unwrap();
        // Names this librdkafka (no OpenSSL) would refuse at start-up, redacted all the same.
        for (k, v) in [
            ("ssl.key.pem", "pem"),
            ("sasl.jaas.config", "jaas"),
            ("client.SECRET", "x"),
            ("oauthbearer.token.endpoint.url", "u"),
        ] {
            cfg.kafka.properties.insert(k.into(), v.into());
        }
        let v = cfg.to_redacted_json();
        let s = v.to_string();
        for secret in ["hunter2", "\"pw\"", "\"pem\"", "jaas\"", "\"x\"", "\"u\""] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        assert_eq!(v["http"]["api_token"], REDACTED);
        assert_eq!(v["kafka"]["properties"]["sasl.password"], REDACTED);
        assert_eq!(
            v["kafka"]["properties"]["security.protocol"],
            "sasl_plaintext"
        );
        assert_eq!(v["kafka"]["brokers"], "embedded");
        let plain = Config::default().to_redacted_json();
        assert!(plain["http"]["api_token"].is_null());
    }

    #[test]
    fn properties_weakening_the_delivery_guarantee_stop_start_up() {
        for (line, property) in [
            ("\"acks\" = \"1\"", "acks"),
            ("'request.required.acks' = \"0\"", "request.required.acks"),
            ("\"enable.idempotence\" = \"false\"", "enable.idempotence"),
            (
                "\"max.in.flight.requests.per.connection\" = \"10\"",
                "max.in.flight.requests.per.connection",
            ),
            ("\"retries\" = \"0\"", "retries"),
            ("\"queuing.strategy\" = \"lifo\"", "queuing.strategy"),
            (
                "\"delivery.report.only.error\" = \"true\"",
                "delivery.report.only.error",
            ),
        ] {
            let text = format!(
                "[kafka]\nlinger_ms = 5\n\n[kafka.properties]\n\"client.id\" = \"a\"\n{line}\n"
            );
            let err = Config::parse(&text, Path::new("/etc/l.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("/etc/l.toml:6:1: [kafka.properties] {property}: ")),
                "{err}"
            );
            assert!(err.contains("weakens the delivery guarantee"), "{err}");
            assert!(err.contains("unsafe_delivery = true"), "{err}");
            // Accepted, and listed, with unsafe_delivery.
            let text = text.replace("linger_ms = 5", "unsafe_delivery = true");
            let cfg = Config::parse(&text, Path::new("l.toml")).unwrap();
            let v = cfg.to_redacted_json();
            assert_eq!(v["kafka"]["unsafe_delivery"], true);
            assert_eq!(
                v["kafka"]["unsafe_delivery_overrides"][0]["property"], property,
                "{v}"
            );
        }
        // Values that keep the guarantee, and properties it does not rest on.
        let text = "[kafka.properties]\n\"acks\" = \"all\"\n\"enable.idempotence\" = \"true\"\n\
                    \"max.in.flight\" = \"5\"\n\"retries\" = \"10\"\n\"client.id\" = \"edge-1\"\n\
                    \"security.protocol\" = \"sasl_plaintext\"\n\"sasl.mechanisms\" = \"PLAIN\"\n";
        let cfg = Config::parse(text, Path::new("l.toml")).unwrap();
        assert!(weakened_guarantees(&cfg.kafka.properties).is_empty());
        assert!(cfg.to_redacted_json()["kafka"]
            .get("unsafe_delivery_overrides")
            .is_none());
    }

    #[test]
    fn properties_librdkafka_refuses_stop_start_up() {
        let text = "[kafka.properties]\n\"client.id\" = \"a\"\n\"no.such.property\" = \"1\"\n";
        let err = Config::parse(text, Path::new("l.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("l.toml:3:1: [kafka.properties] no.such.property: librdkafka refuses"),
            "{err}"
        );
        let text = "[kafka.properties]\n\"linger.ms\" = \"soon\"\n";
        let err = Config::parse(text, Path::new("l.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("l.toml:2:1: [kafka.properties] linger.ms: "),
            "{err}"
        );
    }

    #[test]
    fn evtx_inputs_are_checked() {
        let text = "[[evtx_input]]\ndir = \"/var/evtx/dc01\"\n\
                    [evtx_input.filter.include]\nevent_ids = [\"4624-4634\", 4688]\n\
                    [[evtx_input]]\ndir = \"/var/evtx/dc02\"\npoll_interval_ms = 250\n";
        let cfg = Config::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(cfg.evtx_input.len(), 2);
        assert_eq!(cfg.evtx_input[0].poll_interval_ms, 1000);
        assert_eq!(cfg.evtx_input[1].poll_interval_ms, 250);
        assert_eq!(cfg.evtx_input[0].records_per_step_max, 1000);
        let bad =
            "[[evtx_input]]\ndir = \"/d\"\n[evtx_input.filter.exclude]\n\nevent_ids = [\"40-3\"]\n";
        let err = Config::parse(bad, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:5:1: event_ids:"), "{err}");
        assert!(err.contains("40-3"), "{err}");
        let unknown = "[[evtx_input]]\ndir = \"/d\"\n[evtx_input.filter.include]\nids = [1]\n";
        let err = Config::parse(unknown, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:4:"), "{err}");
        for bad in [
            "[[evtx_input]]\npoll_interval_ms = 100\n",
            "[[evtx_input]]\ndir = \"/d\"\n[[evtx_input]]\ndir = \"/d\"\n",
            "[[evtx_input]]\ndir = \"/d\"\nrecords_per_step_max = 0\n",
        ] {
            assert!(Config::parse(bad, Path::new("c.toml")).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_address_is_rejected() {
        let err = Config::parse("[syslog]\ntcp_listen = \"nope\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml:2:1") && err.contains("nope"), "{err}");
    }
}
