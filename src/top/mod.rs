//! `linerate top`: a terminal view of one or many appliances, like `vector top` for a fleet.
//!
//! Every second it reads each appliance's `/metrics` ([`scrape`], in parallel), turns the last
//! two scrapes into rows ([`table::rows`]: per appliance and per shard the receive and
//! delivery rates, drops by reason, ring and spill fill, receive→ack p99, Kafka's state) and
//! draws them ([`ui`], ratatui). `q`, Esc or Ctrl-C quits.

pub mod prom;
pub mod scrape;
pub mod table;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// Where the Debian package installs the appliance's configuration.
pub const DEFAULT_CONFIG: &str = "/etc/linerate/linerate.toml";

/// `linerate top` options.
#[derive(clap::Args, Debug, Clone)]
pub struct TopArgs {
    /// Appliances' control addresses (`[http] listen`), `HOST:PORT` each, or
    /// `https://HOST:PORT` for a control API over HTTPS (`[http] tls_cert_file`).
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,
    /// The appliance configuration whose `[http] tls_cert_file` certificates `https://`
    /// targets are checked against (read only when a target is `https://`).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: std::path::PathBuf,
    /// Time between two refreshes, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// How long one appliance may take to answer, milliseconds (then it shows as down).
    #[arg(long, default_value_t = 800)]
    pub scrape_timeout_ms: u64,
}

impl TopArgs {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.max(100))
    }
    fn scrape_timeout(&self) -> Duration {
        Duration::from_millis(self.scrape_timeout_ms.max(10))
    }

    /// The trust `https://` targets are checked with: the certificates of `--config`'s
    /// `[http] tls_cert_file` ([`crate::tls::client`]). `None` when no target is HTTPS; an
    /// error when one is and the configuration gives no certificate.
    pub fn trust(&self) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
        if !self.targets.iter().any(|t| scrape::parse_target(t).1) {
            return Ok(None);
        }
        let cfg = crate::config::Config::load(&self.config)
            .with_context(|| format!("an https:// target: reading {}", self.config.display()))?;
        let Some(cert) = cfg.http.tls.tls_cert_file else {
            anyhow::bail!(
                "an https:// target: {} sets no [http] tls_cert_file to trust",
                self.config.display()
            );
        };
        let trust = crate::tls::client::trusting_cert_file(&cert)
            .with_context(|| format!("{}: [http] tls_cert_file", self.config.display()))?;
        Ok(Some(trust))
    }
}

/// Run the terminal view until the user quits (an `https://` target without a certificate
/// to trust stops it before the terminal is taken; the file is read again at each refresh).
pub fn run(args: &TopArgs) -> anyhow::Result<()> {
    args.trust()?;
    ui::run(args)
}
