//! The semantic checks of a configuration that serde cannot do: each returns the offending
//! key and the reason, and [`Config::parse`] turns that into the file, line and reason.

use super::*;

impl Config {
    /// Semantic checks serde cannot do, section by section in file order; returns the
    /// offending key and the reason.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        self.validate_listen_addresses()?;
        self.validate_control_api()?;
        self.validate_http_input()?;
        self.validate_enrich()?;
        self.validate_syslog()?;
        self.validate_tls()?;
        self.validate_https()?;
        self.validate_kafka_security()?;
        self.validate_kafka()?;
        self.validate_buffer()?;
        self.validate_import()?;
        self.validate_evtx_inputs()?;
        self.validate_stats()
    }

    /// The syslog listen addresses.
    fn validate_listen_addresses(&self) -> Result<(), (&'static str, String)> {
        for (key, addr) in [
            ("udp_listen", &self.syslog.udp_listen),
            ("tcp_listen", &self.syslog.tcp_listen),
            ("tls_listen", &self.syslog.tls_listen),
        ] {
            if !addr.is_empty() && addr.parse::<SocketAddr>().is_err() {
                return Err((key, format!("`{addr}` is not an address like 0.0.0.0:5514")));
            }
        }
        Ok(())
    }

    /// `[http]`: the control API's address, token and limits.
    fn validate_control_api(&self) -> Result<(), (&'static str, String)> {
        if !self.http.listen.is_empty() {
            let Ok(addr) = self.http.listen.parse::<SocketAddr>() else {
                return Err((
                    "listen",
                    format!("`{}` is not an address", self.http.listen),
                ));
            };
            let has_token = self.http.api_token.is_some() || self.http.api_token_file.is_some();
            if !addr.ip().is_loopback() && !has_token {
                return Err((
                    "listen",
                    format!(
                        "`{addr}` is not a loopback address: set api_token or api_token_file \
                         (the control API is not served off loopback without a token)"
                    ),
                ));
            }
        }
        if self.http.api_token.is_some() && self.http.api_token_file.is_some() {
            return Err((
                "api_token_file",
                "set api_token or api_token_file, not both".into(),
            ));
        }
        if self
            .http
            .api_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(("api_token", "must not be empty".into()));
        }
        Ok(())
    }

    /// `[http_input]`: address, body and connection limits, the Firehose key; the timeouts of both HTTP servers.
    fn validate_http_input(&self) -> Result<(), (&'static str, String)> {
        let hi = &self.http_input;
        if !hi.listen.is_empty() && hi.listen.parse::<SocketAddr>().is_err() {
            return Err((
                "listen",
                format!("`{}` is not an address like 0.0.0.0:8088", hi.listen),
            ));
        }
        if !(1024..=1 << 30).contains(&hi.body_bytes_max) {
            return Err((
                "body_bytes_max",
                "must be between 1024 and 1073741824".into(),
            ));
        }
        if hi.connections_max == 0 {
            return Err(("connections_max", "must be at least 1".into()));
        }
        if !(1..=4096).contains(&self.http.connections_max) {
            return Err(("connections_max", "must be between 1 and 4096".into()));
        }
        for (key, ms) in [
            ("request_timeout_ms", self.http.request_timeout_ms),
            ("idle_timeout_ms", self.http.idle_timeout_ms),
            ("request_timeout_ms", hi.request_timeout_ms),
            ("idle_timeout_ms", hi.idle_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                return Err((key, "must be between 100 and 3600000".into()));
            }
        }
        if hi.firehose_access_key.is_some() && hi.firehose_access_key_file.is_some() {
            return Err((
                "firehose_access_key_file",
                "set firehose_access_key or firehose_access_key_file, not both".into(),
            ));
        }
        if hi
            .firehose_access_key
            .as_ref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return Err(("firehose_access_key", "must not be empty".into()));
        }
        Ok(())
    }

    /// `[enrich]`.
    fn validate_enrich(&self) -> Result<(), (&'static str, String)> {
        if !self.enrich.table.is_empty() && self.enrich.topic.trim().is_empty() {
            return Err(("topic", "must not be empty when a table is set".into()));
        }
        if self.enrich.table_rows_max == 0 {
            return Err(("table_rows_max", "must be at least 1".into()));
        }
        Ok(())
    }

    /// `[syslog]`: message and batch bounds, connections, format and time zone.
    fn validate_syslog(&self) -> Result<(), (&'static str, String)> {
        if !(16..=16 << 20).contains(&self.syslog.message_bytes_max) {
            return Err((
                "message_bytes_max",
                "must be between 16 and 16777216".into(),
            ));
        }
        if !(1..=1024).contains(&self.syslog.udp_batch_max) {
            return Err(("udp_batch_max", "must be between 1 and 1024".into()));
        }
        if self.syslog.tcp_connections_max == 0 {
            return Err(("tcp_connections_max", "must be at least 1".into()));
        }
        if !(1..=7 * 86_400).contains(&self.syslog.tcp_idle_timeout_secs) {
            return Err((
                "tcp_idle_timeout_secs",
                "must be between 1 and 604800 (7 days)".into(),
            ));
        }
        if self.parse_options().is_err() {
            return Err((
                "format",
                format!("`{}`: use auto, rfc5424 or rfc3164", self.syslog.format),
            ));
        }
        if crate::parse::TimeZone::parse(&self.syslog.timezone).is_none() {
            return Err((
                "timezone",
                format!("unknown time zone `{}`", self.syslog.timezone),
            ));
        }
        Ok(())
    }

    /// `[kafka]`: brokers, topics and the compression level.
    fn validate_kafka(&self) -> Result<(), (&'static str, String)> {
        if self.kafka.brokers.trim().is_empty() {
            return Err(("brokers", "must be `embedded` or a bootstrap list".into()));
        }
        if !self.kafka.raw_enabled && !self.kafka.normalized_enabled {
            return Err((
                "normalized_enabled",
                "at least one topic must be enabled".into(),
            ));
        }
        if !(1..=12).contains(&self.kafka.compression_level) {
            return Err((
                "compression_level",
                "must be between 1 and 12 (librdkafka's zstd levels)".into(),
            ));
        }
        Ok(())
    }

    /// `[buffer]`: the ring against the largest message, in-flight bound, fsync, spill watermarks and sizes.
    fn validate_buffer(&self) -> Result<(), (&'static str, String)> {
        let frame_max = self.syslog.message_bytes_max as u64 + FRAME_OVERHEAD_BYTES_MAX;
        let ring_min = (4 * frame_max).max(RING_BYTES_MIN);
        if self.buffer.ring_bytes_max < ring_min {
            return Err((
                "ring_bytes_max",
                format!("must be at least {ring_min} (4 frames of message_bytes_max, and 64 KiB)"),
            ));
        }
        if !(1..=1 << 24).contains(&self.buffer.in_flight_events_max) {
            return Err((
                "in_flight_events_max",
                "must be between 1 and 16777216".into(),
            ));
        }
        if self.buffer.fsync_interval_ms == 0 {
            return Err(("fsync_interval_ms", "must be at least 1".into()));
        }
        if self.buffer.retry_backoff_ms_max < 10 {
            return Err(("retry_backoff_ms_max", "must be at least 10".into()));
        }
        let b = &self.buffer;
        if !(1..=99).contains(&b.spill_high_watermark_percent) {
            return Err((
                "spill_high_watermark_percent",
                "must be between 1 and 99".into(),
            ));
        }
        if b.spill_low_watermark_percent >= b.spill_high_watermark_percent {
            return Err((
                "spill_low_watermark_percent",
                "must be below spill_high_watermark_percent".into(),
            ));
        }
        if !(4096..=64 << 20).contains(&b.spill_block_bytes_max) {
            return Err((
                "spill_block_bytes_max",
                "must be between 4096 and 67108864".into(),
            ));
        }
        if b.spill_segment_bytes_max < 4 * b.spill_block_bytes_max as u64 {
            return Err((
                "spill_segment_bytes_max",
                "must hold at least 4 blocks (4 × spill_block_bytes_max)".into(),
            ));
        }
        if b.spill_bytes_max < b.spill_segment_bytes_max {
            return Err((
                "spill_bytes_max",
                "must hold at least one segment (spill_segment_bytes_max)".into(),
            ));
        }
        if !(1..=19).contains(&b.spill_zstd_level) {
            return Err(("spill_zstd_level", "must be between 1 and 19".into()));
        }
        Ok(())
    }

    /// `[import]` and the Windows event filters.
    fn validate_import(&self) -> Result<(), (&'static str, String)> {
        if crate::parse::TimeZone::parse(&self.import.nxlog_timezone).is_none() {
            return Err((
                "nxlog_timezone",
                format!("unknown time zone `{}`", self.import.nxlog_timezone),
            ));
        }
        if self.import.file_bytes_max == 0 {
            return Err(("file_bytes_max", "must be at least 1".into()));
        }
        for (section, filter) in [
            ("[import.filter]", &self.import.filter),
            ("[syslog.windows_filter]", &self.syslog.windows_filter),
            (
                "[http_input.windows_filter]",
                &self.http_input.windows_filter,
            ),
        ] {
            crate::normalize::windows_filter::WindowsFilter::new(filter)
                .map_err(|e| (e.key, format!("{section}: {}", e.reason)))?;
        }
        Ok(())
    }

    /// `[stats]`.
    fn validate_stats(&self) -> Result<(), (&'static str, String)> {
        if self.stats.interval_ms < 10 {
            return Err(("interval_ms", "must be at least 10".into()));
        }
        if self.stats.latency_log_files_max == 0 {
            return Err(("latency_log_files_max", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The syslog TLS keys: a listener needs a certificate and key; peers need a CA.
    fn validate_tls(&self) -> Result<(), (&'static str, String)> {
        let s = &self.syslog;
        if s.tls_listen.is_empty() {
            return Ok(());
        }
        if !s.tls.enabled() {
            return Err((
                "tls_listen",
                "set tls_cert_file and tls_key_file (a TLS listener needs a certificate)".into(),
            ));
        }
        validate_tls_keys(s.tls.tls_keys())
            .map_err(|(key, reason)| (in_section(TlsSection::Syslog, key), reason))?;
        if s.tls_idle_timeout_ms < 1000 {
            return Err(("syslog.tls_idle_timeout_ms", "must be at least 1000".into()));
        }
        Ok(())
    }

    /// The HTTPS keys of the HTTP input and of the control API: each section is checked
    /// alone, as syslog's keys are.
    fn validate_https(&self) -> Result<(), (&'static str, String)> {
        validate_https_section(
            TlsSection::HttpInput,
            &self.http_input.listen,
            &self.http_input.tls,
        )?;
        validate_https_section(TlsSection::Control, &self.http.listen, &self.http.tls)
    }

    /// The first-class Kafka security keys: known values, and what each needs.
    fn validate_kafka_security(&self) -> Result<(), (&'static str, String)> {
        let k = &self.kafka;
        let protocol = k.security_protocol.to_ascii_lowercase();
        if !["", "plaintext", "ssl", "sasl_ssl", "sasl_plaintext"].contains(&protocol.as_str()) {
            return Err((
                "security_protocol",
                format!(
                    "`{}`: use plaintext, ssl, sasl_ssl or sasl_plaintext",
                    k.security_protocol
                ),
            ));
        }
        let tls = protocol == "ssl" || protocol == "sasl_ssl";
        let sasl = protocol.starts_with("sasl_");
        for (key, set) in [
            ("ssl_ca_file", k.ssl_ca_file.is_some()),
            ("ssl_cert_file", k.ssl_cert_file.is_some()),
            ("ssl_key_file", k.ssl_key_file.is_some()),
        ] {
            if set && !tls {
                return Err((
                    key,
                    "needs security_protocol = \"ssl\" or \"sasl_ssl\"".into(),
                ));
            }
        }
        if k.ssl_cert_file.is_some() != k.ssl_key_file.is_some() {
            return Err((
                if k.ssl_cert_file.is_some() {
                    "ssl_cert_file"
                } else {
                    "ssl_key_file"
                },
                "set ssl_cert_file and ssl_key_file together".into(),
            ));
        }
        let mechanism = k.sasl_mechanism.as_str();
        if !["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"].contains(&mechanism) {
            return Err((
                "sasl_mechanism",
                format!("`{mechanism}`: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
            ));
        }
        let has_sasl_keys =
            !mechanism.is_empty() || !k.sasl_username.is_empty() || k.sasl_password_file.is_some();
        if has_sasl_keys && !sasl {
            return Err((
                if mechanism.is_empty() {
                    "sasl_username"
                } else {
                    "sasl_mechanism"
                },
                "needs security_protocol = \"sasl_ssl\" or \"sasl_plaintext\"".into(),
            ));
        }
        let password_mechanism = matches!(mechanism, "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512");
        if password_mechanism && (k.sasl_username.is_empty() || k.sasl_password_file.is_none()) {
            return Err((
                "sasl_mechanism",
                format!("{mechanism} needs sasl_username and sasl_password_file"),
            ));
        }
        Ok(())
    }

    fn validate_evtx_inputs(&self) -> Result<(), (&'static str, String)> {
        for (i, input) in self.evtx_input.iter().enumerate() {
            if input.dir.as_os_str().is_empty() {
                return Err(("dir", format!("evtx_input {}: must be set", i + 1)));
            }
            if self.evtx_input[..i].iter().any(|o| o.dir == input.dir) {
                return Err((
                    "dir",
                    format!(
                        "`{}` is polled by two evtx_input entries",
                        input.dir.display()
                    ),
                ));
            }
            if !(10..=3_600_000).contains(&input.poll_interval_ms) {
                return Err(("poll_interval_ms", "must be between 10 and 3600000".into()));
            }
            if !(1..=1_000_000).contains(&input.records_per_step_max) {
                return Err((
                    "records_per_step_max",
                    "must be between 1 and 1000000".into(),
                ));
            }
            crate::normalize::windows_filter::WindowsFilter::new(&input.filter)
                .map_err(|e| (e.key, format!("evtx_input {}: {}", i + 1, e.reason)))?;
        }
        Ok(())
    }
}

/// The checks every TLS listener's keys get, given a certificate is set: the key, the CA
/// peers need, the peers' syntax, the version and the timings.
fn validate_tls_keys(k: TlsKeys) -> Result<(), (&'static str, String)> {
    if k.key_file.is_none() {
        return Err((
            "tls_cert_file",
            "set tls_key_file too (the certificate's private key)".into(),
        ));
    }
    if !k.permitted_peers.is_empty() && k.client_ca_file.is_none() {
        return Err((
            "tls_permitted_peers",
            "needs tls_client_ca_file (peers are matched after their certificate is verified)"
                .into(),
        ));
    }
    for peer in k.permitted_peers {
        crate::tls::config::PermittedPeer::parse(peer)
            .map_err(|reason| ("tls_permitted_peers", format!("`{peer}`: {reason}")))?;
    }
    if !["1.2", "1.3"].contains(&k.min_version) {
        return Err((
            "tls_min_version",
            format!("`{}`: use 1.2 or 1.3", k.min_version),
        ));
    }
    if !(100..=300_000).contains(&k.handshake_timeout_ms) {
        return Err((
            "tls_handshake_timeout_ms",
            "must be between 100 and 300000".into(),
        ));
    }
    if k.reload_check_ms != 0 && k.reload_check_ms < 100 {
        return Err((
            "tls_reload_check_ms",
            "must be 0 (SIGHUP only) or at least 100".into(),
        ));
    }
    Ok(())
}

/// A section with TLS server keys ([`TlsServerConfig`]), by its column in [`TLS_KEYS`].
#[derive(Debug, Clone, Copy)]
enum TlsSection {
    Syslog = 1,
    HttpInput = 2,
    Control = 3,
}

/// The keys [`validate_tls_keys`] names (first column), as written in each [`TlsSection`]:
/// the sections share the key names, so an error names its own section's line.
#[rustfmt::skip]
const TLS_KEYS: [[&str; 4]; 7] = [
    ["listen", "tls_listen", "http_input.listen", "http.listen"],
    ["tls_cert_file", "syslog.tls_cert_file", "http_input.tls_cert_file", "http.tls_cert_file"],
    ["tls_key_file", "syslog.tls_key_file", "http_input.tls_key_file", "http.tls_key_file"],
    ["tls_permitted_peers", "syslog.tls_permitted_peers", "http_input.tls_permitted_peers", "http.tls_permitted_peers"],
    ["tls_min_version", "syslog.tls_min_version", "http_input.tls_min_version", "http.tls_min_version"],
    ["tls_handshake_timeout_ms", "syslog.tls_handshake_timeout_ms", "http_input.tls_handshake_timeout_ms", "http.tls_handshake_timeout_ms"],
    ["tls_reload_check_ms", "syslog.tls_reload_check_ms", "http_input.tls_reload_check_ms", "http.tls_reload_check_ms"],
];

/// `key` as written in `section`.
fn in_section(section: TlsSection, key: &'static str) -> &'static str {
    TLS_KEYS
        .iter()
        .find(|k| k[0] == key)
        .map_or(key, |k| k[section as usize])
}

/// One section's HTTPS keys, when it listens: checked as syslog's when `tls_cert_file` is
/// set; another TLS key without it is an error (it would silently serve plain HTTP).
fn validate_https_section(
    section: TlsSection,
    listen: &str,
    tls: &TlsServerConfig,
) -> Result<(), (&'static str, String)> {
    if listen.is_empty() {
        return Ok(());
    }
    if !tls.enabled() {
        if tls.tls_key_file.is_some()
            || tls.tls_client_ca_file.is_some()
            || !tls.tls_permitted_peers.is_empty()
        {
            return Err((
                in_section(section, "listen"),
                "set tls_cert_file (a TLS key without a certificate would serve plain HTTP)".into(),
            ));
        }
        return Ok(());
    }
    validate_tls_keys(tls.tls_keys()).map_err(|(key, reason)| (in_section(section, key), reason))
}
