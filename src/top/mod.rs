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

use std::time::Duration;

/// `linerate top` options.
#[derive(clap::Args, Debug, Clone)]
pub struct TopArgs {
    /// Appliances' control addresses (`[http] listen`), `HOST:PORT` each.
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,
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
}

/// Run the terminal view until the user quits.
pub fn run(args: &TopArgs) -> anyhow::Result<()> {
    ui::run(args)
}
