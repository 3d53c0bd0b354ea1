//! The hourly rollup behind the view `linerate.events_hourly` (counts by dataset, host,
//! severity, event code and outcome), used like a TimescaleDB continuous aggregate:
//!
//! - `events_hourly_live` holds the counts of raw rows for hours before `refreshed_until`,
//!   refreshed incrementally: each run aggregates the hours since the last one, plus the hours
//!   the loader marked in `rollup_invalid` (late rows for an hour already rolled up);
//! - `events_hourly_frozen` holds the counts of rows whose partitions were dropped;
//! - the view adds both and aggregates raw rows from `refreshed_until` on, live.
//!
//! The loader reads `refreshed_until` `FOR SHARE` in its batch transaction and the refresh
//! takes it `FOR UPDATE`, so a row is either in an hour the refresh aggregates or marked.

use jiff::Timestamp;
use postgres::Client;

/// The grouping of the rollup, over rows of `linerate.events` (read through
/// `linerate.events_between`, which skips packed blocks outside the hours refreshed).
pub const GROUP_SQL: &str = "date_trunc('hour', \"timestamp\", 'UTC'), dataset, host, severity, event_code, event->'event'->>'outcome'";

/// Bring the rollup up to the hour `lag_ms` before `now`; returns the rows aggregated.
pub fn refresh(client: &mut Client, now: Timestamp, lag_ms: u64) -> Result<u64, postgres::Error> {
    let target_s = (now.as_second() - (lag_ms / 1000) as i64).div_euclid(3600) * 3600;
    let mut tx = client.transaction()?;
    let old: f64 = tx
        .query_one(
            "SELECT extract(epoch FROM refreshed_until)::float8 FROM linerate.rollup_state FOR UPDATE",
            &[],
        )?
        .get(0);
    let invalid: Vec<f64> = tx
        .query(
            "DELETE FROM linerate.rollup_invalid WHERE hour < to_timestamp($1::float8)
             RETURNING extract(epoch FROM hour)::float8",
            &[&old],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rows = 0;
    for h in &invalid {
        rows += recompute(&mut tx, *h, h + 3600.0)?;
    }
    let target = target_s as f64;
    if target > old {
        rows += recompute(&mut tx, old, target)?;
        tx.execute(
            "UPDATE linerate.rollup_state SET refreshed_until = to_timestamp($1::float8)",
            &[&target],
        )?;
    }
    tx.commit()?;
    Ok(rows)
}

/// Replace the live rollup of `[from, to)` (Unix seconds; `from` may be -inf) with the
/// aggregate of the raw rows there; returns the raw rows counted.
pub fn recompute(
    tx: &mut postgres::Transaction<'_>,
    from: f64,
    to: f64,
) -> Result<u64, postgres::Error> {
    tx.execute(
        "DELETE FROM linerate.events_hourly_live
          WHERE bucket >= to_timestamp($1::float8) AND bucket < to_timestamp($2::float8)",
        &[&from, &to],
    )?;
    let n: i64 = tx
        .query_one(
            &format!(
                "WITH agg AS (
                    INSERT INTO linerate.events_hourly_live
                        (bucket, dataset, host, severity, event_code, outcome, events)
                    SELECT {GROUP_SQL}, count(*)
                      FROM linerate.events_between(to_timestamp($1::float8),
                                                   to_timestamp($2::float8))
                     GROUP BY 1, 2, 3, 4, 5, 6
                    RETURNING events)
                 SELECT coalesce(sum(events), 0)::bigint FROM agg"
            ),
            &[&from, &to],
        )?
        .get(0);
    Ok(n as u64)
}
