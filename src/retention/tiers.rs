//! Moving day partitions between tiers, each move one transaction under the day's advisory
//! lock that re-reads the day's tier from `linerate.partitions` first (idempotent, safe to
//! overlap with another run and with the loader):
//!
//! - hot → warm: the day's rows are packed, in time order, into blocks of
//!   [`schema::PACK_ROWS_MAX`] rows (one `linerate.event_row[]` per block, lz4-compressed
//!   across its events) in `events_packed_YYYYMMDD`, and the day's partition is swapped for an
//!   empty one with a BRIN index on `timestamp` (detach / attach / rename in the same
//!   transaction), so a reader of `linerate.events` sees the rows or the blocks, never neither.
//!   The old partition is locked `SHARE` meanwhile: a late row for that day waits for the swap.
//! - warm / cold days: rows that arrived late in the (empty) partition are packed too, each
//!   run, as their own blocks (`DELETE ... RETURNING` into the blocks, one statement).
//! - warm → cold: `SET TABLESPACE` to `cold_tablespace` (partition, blocks, their indexes).
//! - any → frozen: the day's rows are added to `events_hourly_frozen`, exported to gzip NDJSON
//!   when `export_dir` is set, and the partition and blocks are dropped; the live rollup of its
//!   hours is recomputed from what raw rows remain (late rows waiting in the default
//!   partition).

use jiff::civil::Date;
use postgres::{Client, Transaction};

use super::{export, rollup, Action, RetentionError};
use crate::store::config::RetentionConfig;
use crate::store::copy_binary::COLUMNS;
use crate::store::schema::{
    self, day_bounds, day_number, day_start_literal, packed_name, partition_name, to_pg_date,
    DAY_LOCK_KEY, PACK_ROWS_MAX,
};

/// A tier, by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Hot,
    Warm,
    Cold,
    Frozen,
}

impl Tier {
    /// The name stored in `linerate.partitions.tier`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
            Tier::Frozen => "frozen",
        }
    }

    /// The tier of a stored name (unknown names read as hot, the tier of a fresh partition).
    pub fn from_name(s: &str) -> Tier {
        match s {
            "warm" => Tier::Warm,
            "cold" => Tier::Cold,
            "frozen" => Tier::Frozen,
            _ => Tier::Hot,
        }
    }

    /// The tier a day `age_days` old belongs in.
    pub fn for_age(cfg: &RetentionConfig, age_days: i64) -> Tier {
        if age_days <= cfg.hot_days as i64 {
            Tier::Hot
        } else if age_days <= cfg.warm_days as i64 {
            Tier::Warm
        } else if age_days <= cfg.cold_days as i64 {
            Tier::Cold
        } else {
            Tier::Frozen
        }
    }
}

/// Move every day whose age calls for a later tier; returns the moves made.
pub fn apply(
    client: &mut Client,
    cfg: &RetentionConfig,
    today: Date,
) -> Result<Vec<Action>, RetentionError> {
    let days: Vec<(String, String)> = client
        .query(
            "SELECT day::text, tier FROM linerate.partitions WHERE tier <> 'frozen' ORDER BY day",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut actions = Vec::new();
    for (day, tier) in days {
        let Ok(date) = day.parse::<Date>() else {
            continue;
        };
        let age = date.until(today)?.get_days() as i64;
        let want = Tier::for_age(cfg, age);
        let mut have = Tier::from_name(&tier);
        while have < want {
            let step = match (have, want) {
                (_, Tier::Frozen) => Tier::Frozen,
                (Tier::Hot, _) => Tier::Warm,
                _ => Tier::Cold,
            };
            let rows = with_retries(|| move_day(client, cfg, date, have, step))?;
            if let Some(rows) = rows {
                actions.push(Action {
                    day: day.clone(),
                    action: step.name().into(),
                    rows,
                });
            }
            have = step;
        }
        if matches!(have, Tier::Warm | Tier::Cold) {
            let rows = with_retries(|| pack_late(client, date, have))?;
            if rows > 0 {
                actions.push(Action {
                    day: day.clone(),
                    action: "packed_late".into(),
                    rows,
                });
            }
        }
    }
    Ok(actions)
}

/// Retry a move that lost a deadlock or a lock wait to the loader (it is idempotent).
fn with_retries<T>(mut f: impl FnMut() -> Result<T, RetentionError>) -> Result<T, RetentionError> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(RetentionError::Postgres(e))
                if attempt < 5
                    && e.as_db_error().is_some_and(|d| {
                        matches!(d.code().code(), "40P01" | "55P03" | "40001")
                    }) =>
            {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "retention: move lost a lock race; retrying");
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
            }
            r => return r,
        }
    }
}

/// Move `day` from `from` to `to` unless another run already did; returns the rows moved.
fn move_day(
    client: &mut Client,
    cfg: &RetentionConfig,
    day: Date,
    from: Tier,
    to: Tier,
) -> Result<Option<u64>, RetentionError> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&DAY_LOCK_KEY, &day_number(day)],
    )?;
    tx.batch_execute("SET LOCAL lock_timeout = '60s'")?;
    let date = to_pg_date(day);
    let tier: Option<String> = tx
        .query_opt(
            "SELECT tier FROM linerate.partitions WHERE day = $1::text::date",
            &[&date],
        )?
        .map(|r| r.get(0));
    if tier.as_deref() != Some(from.name()) {
        return Ok(None);
    }
    let name = partition_name(day);
    if !schema::table_exists(&mut tx, &name)? {
        return Ok(None);
    }
    let before = size(&mut tx, day)?;
    let (rows, detail, exported) = match to {
        Tier::Warm => (
            to_warm(&mut tx, day, &name)?,
            format!("packed in blocks of {PACK_ROWS_MAX} rows (lz4); BRIN on timestamp"),
            None,
        ),
        Tier::Cold => {
            let rows = count(&mut tx, day)?;
            if cfg.cold_tablespace.is_empty() {
                (rows, "no cold_tablespace: stays in place".to_string(), None)
            } else {
                let ts = &cfg.cold_tablespace;
                let packed = packed_name(day);
                tx.batch_execute(&format!(
                    "ALTER TABLE linerate.{name} SET TABLESPACE \"{ts}\";
                     ALTER INDEX linerate.{name}_timestamp_brin SET TABLESPACE \"{ts}\";"
                ))?;
                if schema::table_exists(&mut tx, &packed)? {
                    tx.batch_execute(&format!(
                        "ALTER TABLE linerate.{packed} SET TABLESPACE \"{ts}\";
                         ALTER INDEX linerate.{packed}_first SET TABLESPACE \"{ts}\";"
                    ))?;
                }
                (rows, format!("tablespace {ts}"), None)
            }
        }
        Tier::Frozen => {
            let file = if cfg.export_dir.is_empty() {
                None
            } else {
                let source = day_rows_sql(&mut tx, day)?;
                let dir = std::path::Path::new(&cfg.export_dir);
                Some(export::day(&mut tx, &name, &source, dir)?)
            };
            let rows = freeze(&mut tx, day, &name)?;
            let detail = match &file {
                Some(f) => format!("rolled up, dropped; exported to {}", f.display()),
                None => "rolled up, dropped".to_string(),
            };
            (rows, detail, file.map(|f| f.display().to_string()))
        }
        Tier::Hot => return Ok(None),
    };
    let after = if to == Tier::Frozen {
        0
    } else {
        size(&mut tx, day)?
    };
    tx.execute(
        "UPDATE linerate.partitions SET tier = $2, changed = now(), rows = $3,
                exported = coalesce($4, exported)
          WHERE day = $1::text::date",
        &[&date, &to.name(), &(rows as i64), &exported],
    )?;
    tx.execute(
        "INSERT INTO linerate.retention_log (day, action, rows, bytes_before, bytes_after, detail)
         VALUES ($1::text::date, $2, $3, $4, $5, $6)",
        &[&date, &to.name(), &(rows as i64), &before, &after, &detail],
    )?;
    tx.commit()?;
    tracing::info!(day = %date, tier = to.name(), rows, bytes_before = before, bytes_after = after, "retention: moved");
    Ok(Some(rows))
}

/// Bytes on disk of `day`: its partition and its packed blocks (tables, TOAST, indexes).
fn size(tx: &mut Transaction<'_>, day: Date) -> Result<i64, postgres::Error> {
    Ok(tx
        .query_one(
            "SELECT coalesce(pg_total_relation_size(to_regclass('linerate.' || quote_ident($1))), 0)
                  + coalesce(pg_total_relation_size(to_regclass('linerate.' || quote_ident($2))), 0)",
            &[&partition_name(day), &packed_name(day)],
        )?
        .get(0))
}

/// Rows of `day`: in its partition and in its packed blocks.
fn count(tx: &mut Transaction<'_>, day: Date) -> Result<u64, postgres::Error> {
    let sql = format!("SELECT count(*) FROM {}", day_rows_sql(tx, day)?);
    let n: i64 = tx.query_one(&sql, &[])?.get(0);
    Ok(n as u64)
}

/// A FROM item (`(...) AS e`) of `day`'s rows, with the columns of `linerate.event_row`: its
/// partition's rows and, when the day has packed blocks, their rows.
pub fn day_rows_sql(
    tx: &mut impl postgres::GenericClient,
    day: Date,
) -> Result<String, postgres::Error> {
    let name = partition_name(day);
    let packed = packed_name(day);
    let mut sql = format!("(SELECT {COLUMNS} FROM linerate.{name}");
    if schema::table_exists(tx, &packed)? {
        sql.push_str(&format!(
            " UNION ALL SELECT r.* FROM linerate.{packed} p CROSS JOIN LATERAL unnest(p.rows) AS r"
        ));
    }
    sql.push_str(") AS e");
    Ok(sql)
}

/// Create `day`'s packed-block table (attached to `linerate.events_packed`) if missing.
fn ensure_packed(tx: &mut Transaction<'_>, day: Date) -> Result<String, postgres::Error> {
    let packed = packed_name(day);
    if !schema::table_exists(tx, &packed)? {
        let start = day_start_literal(day);
        let end = day_start_literal(day.tomorrow().unwrap_or(day));
        tx.batch_execute(&format!(
            "CREATE TABLE linerate.{packed} (LIKE linerate.events_packed);
             ALTER TABLE linerate.{packed} ALTER COLUMN rows SET COMPRESSION lz4,
                 ADD CONSTRAINT {packed}_day CHECK (first >= {start} AND first < {end});
             CREATE INDEX {packed}_first ON linerate.{packed} (first, last);
             ALTER TABLE linerate.events_packed ATTACH PARTITION linerate.{packed} {bounds};",
            bounds = day_bounds(day),
        ))?;
    }
    Ok(packed)
}

/// Pack the rows `source` yields (a FROM item with the columns of `linerate.event_row`, or a
/// CTE name) into `packed` as blocks of [`PACK_ROWS_MAX`] rows in time order. The SQL of the
/// statement's tail, after any `WITH`.
fn pack_sql(packed: &str, source: &str) -> String {
    format!(
        "INSERT INTO linerate.{packed} (first, last, events, rows)
         SELECT min(t), max(t), count(*), array_agg(r ORDER BY t, o)
           FROM (SELECT s.\"timestamp\" AS t,
                        ROW({cols})::linerate.event_row AS r,
                        row_number() OVER (ORDER BY s.\"timestamp\") AS o
                   FROM {source} s) AS b
          GROUP BY (o - 1) / {PACK_ROWS_MAX}",
        cols = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Pack `day`'s rows into blocks and swap its partition for an empty one with a BRIN index;
/// returns the rows packed.
fn to_warm(tx: &mut Transaction<'_>, day: Date, name: &str) -> Result<u64, postgres::Error> {
    let start = day_start_literal(day);
    let end = day_start_literal(day.tomorrow().unwrap_or(day));
    let new = format!("{name}_rw");
    tx.batch_execute(&format!(
        "LOCK TABLE linerate.{name} IN SHARE MODE;
         DROP TABLE IF EXISTS linerate.{new};
         CREATE TABLE linerate.{new} (LIKE linerate.events_rows INCLUDING DEFAULTS);"
    ))?;
    let packed = ensure_packed(tx, day)?;
    tx.execute(&pack_sql(&packed, &format!("linerate.{name}")), &[])?;
    let rows = count(tx, day)?;
    tx.batch_execute(&format!(
        "ALTER TABLE linerate.{new} ADD CONSTRAINT {name}_day
             CHECK (\"timestamp\" >= {start} AND \"timestamp\" < {end});
         CREATE INDEX {new}_brin ON linerate.{new} USING brin (\"timestamp\");
         ALTER TABLE linerate.events_rows DETACH PARTITION linerate.{name};
         ALTER TABLE linerate.events_rows ATTACH PARTITION linerate.{new} {bounds};
         DROP TABLE linerate.{name};
         ALTER TABLE linerate.{new} RENAME TO {name};
         ALTER INDEX linerate.{new}_brin RENAME TO {name}_timestamp_brin;
         ANALYZE linerate.{name}, linerate.{packed};",
        bounds = day_bounds(day),
    ))?;
    Ok(rows)
}

/// Pack the rows that arrived late in a warm or cold `day`'s partition (unless the day moved
/// on meanwhile); returns the rows packed.
fn pack_late(client: &mut Client, day: Date, tier: Tier) -> Result<u64, RetentionError> {
    let name = partition_name(day);
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&DAY_LOCK_KEY, &day_number(day)],
    )?;
    let date = to_pg_date(day);
    let now: Option<String> = tx
        .query_opt(
            "SELECT tier FROM linerate.partitions WHERE day = $1::text::date",
            &[&date],
        )?
        .map(|r| r.get(0));
    if now.as_deref() != Some(tier.name()) || !schema::table_exists(&mut tx, &name)? {
        return Ok(0);
    }
    tx.batch_execute(&format!("LOCK TABLE linerate.{name} IN SHARE MODE"))?;
    let late: i64 = tx
        .query_one(&format!("SELECT count(*) FROM linerate.{name}"), &[])?
        .get(0);
    if late == 0 {
        return Ok(0);
    }
    let packed = ensure_packed(&mut tx, day)?;
    tx.execute(
        &format!(
            "WITH late AS (DELETE FROM linerate.{name} RETURNING *) {}",
            pack_sql(&packed, "late")
        ),
        &[],
    )?;
    let rows = count(&mut tx, day)? as i64;
    tx.execute(
        "UPDATE linerate.partitions SET rows = $2 WHERE day = $1::text::date",
        &[&date, &rows],
    )?;
    tx.execute(
        "INSERT INTO linerate.retention_log (day, action, rows, detail)
         VALUES ($1::text::date, 'packed_late', $2, 'late rows packed')",
        &[&date, &late],
    )?;
    tx.commit()?;
    Ok(late as u64)
}

/// Add `day`'s rows to the frozen rollup, drop its partition and blocks, recompute the live
/// rollup of its hours from what is left; returns the rows dropped.
fn freeze(tx: &mut Transaction<'_>, day: Date, name: &str) -> Result<u64, postgres::Error> {
    let n = count(tx, day)?;
    let source = day_rows_sql(tx, day)?;
    tx.execute(
        &format!(
            "INSERT INTO linerate.events_hourly_frozen AS f
                 (bucket, dataset, host, severity, event_code, outcome, events)
             SELECT {g}, count(*) FROM {source} GROUP BY 1, 2, 3, 4, 5, 6
             ON CONFLICT (bucket, dataset, host, severity, event_code, outcome)
             DO UPDATE SET events = f.events + excluded.events",
            g = rollup::GROUP_SQL
        ),
        &[],
    )?;
    tx.batch_execute(&format!(
        "ALTER TABLE linerate.events_rows DETACH PARTITION linerate.{name};
         DROP TABLE linerate.{name};"
    ))?;
    let packed = packed_name(day);
    if schema::table_exists(tx, &packed)? {
        tx.batch_execute(&format!(
            "ALTER TABLE linerate.events_packed DETACH PARTITION linerate.{packed};
             DROP TABLE linerate.{packed};"
        ))?;
    }
    let from = day_epoch(day);
    rollup::recompute(tx, from, from + 86_400.0)?;
    Ok(n)
}

fn day_epoch(day: Date) -> f64 {
    day_number(day) as f64 * 86_400.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_by_age() {
        let c = RetentionConfig::default();
        assert_eq!(Tier::for_age(&c, 0), Tier::Hot);
        assert_eq!(Tier::for_age(&c, 7), Tier::Hot);
        assert_eq!(Tier::for_age(&c, 8), Tier::Warm);
        assert_eq!(Tier::for_age(&c, 30), Tier::Warm);
        assert_eq!(Tier::for_age(&c, 31), Tier::Cold);
        assert_eq!(Tier::for_age(&c, 90), Tier::Cold);
        assert_eq!(Tier::for_age(&c, 91), Tier::Frozen);
        assert_eq!(Tier::for_age(&c, -2), Tier::Hot);
    }
}
