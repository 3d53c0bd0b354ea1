//! The retention job (`linerate retention run`, and `linerate store` on a schedule): day
//! partitions created ahead and moved out of the default partition ([`crate::store::schema`]),
//! the hourly rollup refreshed ([`rollup`]), then each day moved to the tier its age calls for
//! ([`tiers`]). Every step is idempotent and takes a per-day advisory lock, so runs may overlap
//! each other and the loader. [`status`] reports each partition's tier and size.
//!
//! The clock is a parameter (`--now`): a test walks a day through every tier without sleeping.

pub mod export;
pub mod rollup;
pub mod status;
pub mod tiers;

use jiff::civil::Date;
use jiff::Timestamp;
use postgres::Client;

use crate::store::config::RetentionConfig;
use crate::store::schema;

/// A retention step that failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("export to {path}: {source}")]
    Export {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("date arithmetic: {0}")]
    Date(#[from] jiff::Error),
}

/// One thing the job did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Action {
    /// The day (`YYYY-MM-DD`) acted on.
    pub day: String,
    /// `created`, `rollup_refreshed`, or the tier moved to.
    pub action: String,
    /// Rows moved (out of the default partition, between tiers) or aggregated.
    pub rows: u64,
}

/// The UTC day of `now`.
pub fn today(now: Timestamp) -> Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// Run every step once at time `now`; returns what was done.
pub fn run(
    client: &mut Client,
    cfg: &RetentionConfig,
    now: Timestamp,
) -> Result<Vec<Action>, RetentionError> {
    schema::migrate(client)?;
    let mut actions = Vec::new();
    let today = today(now);
    let mut days: Vec<Date> = (0..=cfg.partitions_ahead_days as i64)
        .filter_map(|i| today.checked_add(jiff::Span::new().days(i)).ok())
        .collect();
    days.extend(schema::default_days(client)?);
    for day in days {
        if let Some(moved) = schema::ensure_day(client, day)? {
            actions.push(Action {
                day: schema::to_pg_date(day),
                action: "created".into(),
                rows: moved,
            });
        }
    }
    let refreshed = rollup::refresh(client, now, cfg.rollup_lag_ms)?;
    if refreshed > 0 {
        actions.push(Action {
            day: schema::to_pg_date(today),
            action: "rollup_refreshed".into(),
            rows: refreshed,
        });
    }
    actions.extend(tiers::apply(client, cfg, today)?);
    Ok(actions)
}
