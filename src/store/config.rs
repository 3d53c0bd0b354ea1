//! `linerate store` and `linerate retention` configuration: one TOML file, every key
//! defaulted, unknown keys rejected; errors name the file, line and reason.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole store configuration (`[postgres]`, `[kafka]`, `[batch]`, `[http]`, `[retention]`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `[postgres]`: the server.
    pub postgres: PostgresConfig,
    /// `[kafka]`: the consumer group.
    pub kafka: StoreKafkaConfig,
    /// `[batch]`: the COPY transaction bounds.
    pub batch: BatchConfig,
    /// `[http]`: `/metrics` and `/health`.
    pub http: StoreHttpConfig,
    /// `[retention]`: the tiers.
    pub retention: RetentionConfig,
}

/// Where PostgreSQL is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// libpq-style URL or key=value string (`postgresql://user@host:port/db`).
    pub url: String,
    /// Connect timeout; a slower server counts as down (the loader pauses and retries).
    pub connect_timeout_ms: u64,
    /// Longest wait between reconnect attempts while PostgreSQL is down.
    pub retry_backoff_ms_max: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: "postgresql://linerate@127.0.0.1:5432/linerate".into(),
            connect_timeout_ms: 5_000,
            retry_backoff_ms_max: 2_000,
        }
    }
}

/// The Kafka side: the consumer group and what it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreKafkaConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group; the offsets of each group are kept in PostgreSQL
    /// (`linerate.kafka_offsets`), not committed to Kafka.
    pub group_id: String,
    /// Topics read; each message becomes one row. With an enrichment table the appliance
    /// writes every event to `logs.enriched` as well as to `logs.normalized` (events carry no
    /// id to tell the copies apart), so list `logs.enriched` alone then: the two default names
    /// together are refused, as they would store each event twice.
    pub topics: Vec<String>,
    /// Cap on librdkafka's prefetched messages per partition set (`queued.max.messages.kbytes`):
    /// with the batch bounds, what bounds the loader's memory.
    pub queued_bytes_max: u64,
    /// Session timeout of the group member: how long a killed loader keeps its partitions.
    pub session_timeout_ms: u64,
}

impl Default for StoreKafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: "linerate-store".into(),
            topics: vec![NORMALIZED_TOPIC.into()],
            queued_bytes_max: 16 << 20,
            session_timeout_ms: 10_000,
        }
    }
}

/// The appliance's default topic of normalized events (`[kafka] normalized_topic`).
pub const NORMALIZED_TOPIC: &str = "logs.normalized";
/// The appliance's default topic of enriched events (`[enrich] topic`): the normalized events
/// again, with labels.
pub const ENRICHED_TOPIC: &str = "logs.enriched";

/// Batch bounds: a batch is written when any bound is reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Rows per COPY transaction.
    pub rows_max: usize,
    /// Payload bytes per COPY transaction.
    pub bytes_max: usize,
    /// Time from a batch's first row to its write.
    pub linger_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            rows_max: 10_000,
            bytes_max: 16 << 20,
            linger_ms: 500,
        }
    }
}

/// The loader's own `/metrics` and `/health` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreHttpConfig {
    /// `host:port`; empty disables it.
    pub listen: String,
}

impl Default for StoreHttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9515".into(),
        }
    }
}

/// Tier ages (whole UTC days before today) and what the retention job does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days up to this age stay hot (btree + GIN indexes).
    pub hot_days: u32,
    /// Days up to this age are warm (packed into lz4-compressed blocks of rows).
    pub warm_days: u32,
    /// Days up to this age are cold (in `cold_tablespace`); older days are frozen (rolled up,
    /// raw rows dropped).
    pub cold_days: u32,
    /// Tablespace of cold partitions (created by the DBA); empty: they stay where they are.
    pub cold_tablespace: String,
    /// Directory for a gzip NDJSON export of each day before it is dropped; empty: no export.
    pub export_dir: String,
    /// Day partitions created ahead of today.
    pub partitions_ahead_days: u32,
    /// How often `linerate store` runs the job; 0: never (run `linerate retention run`).
    pub run_interval_ms: u64,
    /// Hours younger than this are aggregated live by `linerate.events_hourly`, older ones
    /// come from the materialized rollup.
    pub rollup_lag_ms: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            hot_days: 7,
            warm_days: 30,
            cold_days: 90,
            cold_tablespace: String::new(),
            export_dir: String::new(),
            partitions_ahead_days: 3,
            run_interval_ms: 3_600_000,
            rollup_lag_ms: 3_600_000,
        }
    }
}

/// A store configuration that could not be loaded: where and why.
#[derive(Debug, thiserror::Error)]
pub enum StoreConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl StoreConfig {
    /// Load and validate a file.
    pub fn load(path: &Path) -> Result<Self, StoreConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, StoreConfigError> {
        let cfg: StoreConfig = toml::from_str(text).map_err(|e| StoreConfigError::Invalid {
            path: path.to_owned(),
            line: e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            }),
            reason: e.message().to_string(),
        })?;
        cfg.validate()
            .map_err(|(key, reason)| StoreConfigError::Invalid {
                path: path.to_owned(),
                line: text
                    .lines()
                    .position(|l| {
                        l.trim_start()
                            .strip_prefix(key)
                            .is_some_and(|r| r.trim_start().starts_with('='))
                    })
                    .map_or(1, |i| i + 1),
                reason: format!("{key}: {reason}"),
            })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let r = &self.retention;
        if !(r.hot_days < r.warm_days && r.warm_days < r.cold_days) {
            return Err((
                "hot_days",
                format!(
                    "tiers must grow: hot_days ({}) < warm_days ({}) < cold_days ({})",
                    r.hot_days, r.warm_days, r.cold_days
                ),
            ));
        }
        if self.batch.rows_max == 0 {
            return Err(("rows_max", "must be at least 1".into()));
        }
        if self.batch.bytes_max < 1024 {
            return Err(("bytes_max", "must be at least 1024".into()));
        }
        if self.kafka.topics.is_empty() {
            return Err(("topics", "name at least one topic".into()));
        }
        let reads = |t: &str| self.kafka.topics.iter().any(|x| x == t);
        if reads(NORMALIZED_TOPIC) && reads(ENRICHED_TOPIC) {
            return Err((
                "topics",
                format!(
                    "`{ENRICHED_TOPIC}` carries every event of `{NORMALIZED_TOPIC}` again \
                     (with labels): reading both stores each event twice; list \
                     `{ENRICHED_TOPIC}` alone when the appliance enriches, else \
                     `{NORMALIZED_TOPIC}`"
                ),
            ));
        }
        if !self.http.listen.is_empty() && self.http.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(("listen", format!("`{}` is not host:port", self.http.listen)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = StoreConfig::parse("", Path::new("s.toml")).unwrap();
        assert_eq!(c.retention.hot_days, 7);
        assert_eq!(c.kafka.topics, ["logs.normalized"]);
    }

    #[test]
    fn normalized_and_enriched_together_are_refused() {
        let e = StoreConfig::parse(
            "[kafka]
group_id = \"g\"
topics = [\"logs.normalized\", \"logs.enriched\"]
",
            Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml:3: topics: `logs.enriched` carries"),
            "{e}"
        );
        let ok = StoreConfig::parse(
            "[kafka]
topics = [\"logs.enriched\"]
",
            Path::new("s.toml"),
        );
        assert_eq!(ok.unwrap().kafka.topics, ["logs.enriched"]);
    }

    #[test]
    fn unknown_key_names_the_line() {
        let e = StoreConfig::parse("[batch]\nrows_max = 5\nrowz = 1\n", Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:3: unknown field `rowz`"), "{e}");
    }

    #[test]
    fn tiers_must_grow() {
        let e = StoreConfig::parse(
            "[retention]\nhot_days = 9\nwarm_days = 8\n",
            Path::new("s.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.toml:2: hot_days: tiers must grow"), "{e}");
    }
}
