//! `linerate store` (Kafka → PostgreSQL loader, with the retention job on a schedule) and
//! `linerate retention run|status`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::retention;
use crate::store::config::StoreConfig;
use crate::store::metrics::StoreMetrics;
use crate::store::{http, loader, schema};

/// `linerate store` options.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// TOML configuration (`[postgres]`, `[kafka]`, `[batch]`, `[http]`, `[retention]`).
    #[arg(long)]
    pub config: PathBuf,
    /// Exit once everything consumed is committed and nothing new arrived for this long
    /// (a one-shot load, as bench/ does); without it, run until SIGTERM.
    #[arg(long)]
    pub exit_idle_ms: Option<u64>,
}

/// `linerate retention` actions.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum RetentionCommand {
    /// Create partitions ahead, refresh the hourly rollup, move days to their tiers.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// The time to act at (RFC 3339), instead of the clock.
        #[arg(long)]
        now: Option<String>,
    },
    /// Each partition: tier, rows, bytes on disk, compression ratio.
    Status {
        #[arg(long)]
        config: PathBuf,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Run `linerate store` until SIGTERM / SIGINT (or idle, with `--exit-idle-ms`).
pub fn store(args: &StoreArgs) -> Result<()> {
    let cfg = StoreConfig::load(&args.config)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let metrics = Arc::new(StoreMetrics::default());
    if !cfg.http.listen.is_empty() {
        let addr = http::spawn(&cfg.http.listen, metrics.clone())
            .with_context(|| format!("binding [http] listen {}", cfg.http.listen))?;
        tracing::info!(%addr, "store: /metrics /health");
    }
    // The schema first: wait for PostgreSQL (it may start after us), but not past a stop.
    let mut backoff = Duration::from_millis(200);
    loop {
        match loader::connect(&cfg).and_then(|mut c| schema::migrate(&mut c)) {
            Ok(before) => {
                metrics.postgres_up.store(true, Ordering::Relaxed);
                tracing::info!(
                    from = before,
                    to = schema::current_version(),
                    "store: schema ready"
                );
                break;
            }
            Err(e) if !stop.load(Ordering::Relaxed) => {
                tracing::warn!(error = %e, "store: PostgreSQL not ready; retrying");
                std::thread::sleep(backoff);
                backoff =
                    (backoff * 2).min(Duration::from_millis(cfg.postgres.retry_backoff_ms_max));
            }
            Err(e) => return Err(e).context("connecting to PostgreSQL"),
        }
    }
    if cfg.retention.run_interval_ms > 0 {
        spawn_retention(cfg.clone(), stop.clone())?;
    }
    let summary = loader::run(
        &cfg,
        metrics,
        stop,
        args.exit_idle_ms.map(Duration::from_millis),
    )?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// The retention job every `run_interval_ms`, on its own thread and connection.
fn spawn_retention(cfg: StoreConfig, stop: Arc<AtomicBool>) -> Result<()> {
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            let every = Duration::from_millis(cfg.retention.run_interval_ms);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let r = loader::connect(&cfg)
                        .map_err(retention::RetentionError::from)
                        .and_then(|mut c| {
                            retention::run(&mut c, &cfg.retention, jiff::Timestamp::now())
                        });
                    match r {
                        Ok(actions) if !actions.is_empty() => {
                            tracing::info!(?actions, "retention: run done")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "retention: run failed; next run retries")
                        }
                    }
                    next = Instant::now() + every;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })?;
    Ok(())
}

/// `linerate retention run|status`.
pub fn retention(cmd: &RetentionCommand) -> Result<()> {
    match cmd {
        RetentionCommand::Run { config, now } => {
            let cfg = StoreConfig::load(config)?;
            let now = match now {
                Some(t) => t
                    .parse::<jiff::Timestamp>()
                    .with_context(|| format!("--now `{t}` is not an RFC 3339 time"))?,
                None => jiff::Timestamp::now(),
            };
            let mut client = loader::connect(&cfg).context("connecting to PostgreSQL")?;
            let actions = retention::run(&mut client, &cfg.retention, now)?;
            println!("{}", serde_json::to_string(&actions)?);
        }
        RetentionCommand::Status { config, json } => {
            let cfg = StoreConfig::load(config)?;
            let mut client = loader::connect(&cfg).context("connecting to PostgreSQL")?;
            schema::migrate(&mut client)?;
            let rows = retention::status::collect(&mut client)?;
            if *json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                print!("{}", retention::status::table(&rows));
            }
        }
    }
    Ok(())
}
