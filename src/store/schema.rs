//! The PostgreSQL schema `linerate`, created and migrated by linerate: numbered migrations
//! applied in order, each in its own transaction under an advisory lock, recorded in
//! `linerate.schema_version` (so concurrent `store` and `retention` start-ups migrate once).
//!
//! `linerate.events_rows` (the loader's COPY target) is partitioned by `RANGE (timestamp)`,
//! one partition per UTC day (`events_YYYYMMDD`), plus `events_default` for days that have no
//! partition yet (late or early events); the retention job moves such rows out into their
//! day. Indexes are per partition (none on the parent), because each tier keeps different
//! ones. A warm or cold day's rows are packed into `events_packed_YYYYMMDD` (blocks of
//! [`PACK_ROWS_MAX`] rows, lz4-compressed); the view `linerate.events` reads both, and
//! `linerate.events_between(lo, hi)` reads a time range skipping the blocks outside it.

use jiff::civil::Date;
use postgres::{Client, GenericClient};

/// The advisory lock key of migrations (`pg_advisory_xact_lock`).
const MIGRATION_LOCK_KEY: i64 = 0x6c69_6e65_7261_7465; // "linerate"

/// The first key of a day's advisory lock (`pg_advisory_xact_lock(DAY_LOCK_KEY, day)`),
/// taken by partition creation and by every tier move.
pub const DAY_LOCK_KEY: i32 = 0x6c69_6e65;

/// Rows per packed block of a warm day (`linerate.events_packed`): big enough for lz4 to
/// compress across events (1,000 syslog events pack to about 150 bytes each), small enough
/// that a query reading a few events of a block unpacks little.
pub const PACK_ROWS_MAX: i64 = 1_000;

/// The migrations, in order; index + 1 is the version. Never edit one that shipped: add one.
const MIGRATIONS: &[&str] = &[
    // 1: events, the default partition, offsets, dead letters, the tier catalog, rollups.
    r#"
CREATE TABLE linerate.events (
    "timestamp" timestamptz NOT NULL,
    ingested    timestamptz,
    dataset     text,
    host        text,
    severity    smallint,
    event_code  text,
    user_name   text,
    source_ip   inet,
    message     text,
    event       jsonb NOT NULL
) PARTITION BY RANGE ("timestamp");
CREATE TABLE linerate.events_default PARTITION OF linerate.events DEFAULT;
CREATE INDEX events_default_timestamp ON linerate.events_default ("timestamp");

CREATE TABLE linerate.kafka_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset    bigint NOT NULL,
    updated        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

CREATE TABLE linerate.dead_letter (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    reason          text NOT NULL,
    payload         bytea NOT NULL
);

CREATE TABLE linerate.partitions (
    day      date PRIMARY KEY,
    tier     text NOT NULL CHECK (tier IN ('hot', 'warm', 'cold', 'frozen')),
    changed  timestamptz NOT NULL DEFAULT now(),
    rows     bigint,
    exported text
);

CREATE TABLE linerate.retention_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    day          date NOT NULL,
    action       text NOT NULL,
    rows         bigint NOT NULL,
    bytes_before bigint,
    bytes_after  bigint,
    detail       text
);

CREATE TABLE linerate.rollup_state (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    refreshed_until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO linerate.rollup_state DEFAULT VALUES;

CREATE TABLE linerate.rollup_invalid (hour timestamptz PRIMARY KEY);

CREATE TABLE linerate.events_hourly_live (
    bucket     timestamptz NOT NULL,
    dataset    text,
    host       text,
    severity   smallint,
    event_code text,
    outcome    text,
    events     bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (bucket, dataset, host, severity, event_code, outcome)
);
CREATE TABLE linerate.events_hourly_frozen (LIKE linerate.events_hourly_live INCLUDING ALL);

CREATE VIEW linerate.events_hourly AS
SELECT bucket, dataset, host, severity, event_code, outcome, sum(events)::bigint AS events
FROM (
    SELECT bucket, dataset, host, severity, event_code, outcome, events
      FROM linerate.events_hourly_frozen
    UNION ALL
    SELECT bucket, dataset, host, severity, event_code, outcome, events
      FROM linerate.events_hourly_live
     WHERE bucket < (SELECT refreshed_until FROM linerate.rollup_state)
    UNION ALL
    SELECT date_trunc('hour', "timestamp", 'UTC'), dataset, host, severity, event_code,
           event->'event'->>'outcome', count(*)
      FROM linerate.events
     WHERE "timestamp" >= (SELECT refreshed_until FROM linerate.rollup_state)
     GROUP BY 1, 2, 3, 4, 5, 6
) AS parts
GROUP BY bucket, dataset, host, severity, event_code, outcome;
"#,
    // 2: warm days packed. The partitioned table becomes `events_rows`; packed blocks of a
    // day's rows live in `events_packed` (one partition per day); `linerate.events` is a view
    // of both, so a query reads the same rows whatever the tier. `events_between` reads a
    // time range and skips the packed blocks outside it (the view cannot: it unpacks all).
    r#"
CREATE TYPE linerate.event_row AS (
    "timestamp" timestamptz,
    ingested    timestamptz,
    dataset     text,
    host        text,
    severity    smallint,
    event_code  text,
    user_name   text,
    source_ip   inet,
    message     text,
    event       jsonb
);
DROP VIEW linerate.events_hourly;
ALTER TABLE linerate.events RENAME TO events_rows;
CREATE TABLE linerate.events_packed (
    first  timestamptz NOT NULL,
    last   timestamptz NOT NULL,
    events integer NOT NULL,
    rows   linerate.event_row[] NOT NULL
) PARTITION BY RANGE (first);

CREATE VIEW linerate.events AS
SELECT "timestamp", ingested, dataset, host, severity, event_code, user_name, source_ip,
       message, event
  FROM linerate.events_rows
UNION ALL
SELECT r."timestamp", r.ingested, r.dataset, r.host, r.severity, r.event_code, r.user_name,
       r.source_ip, r.message, r.event
  FROM linerate.events_packed p CROSS JOIN LATERAL unnest(p.rows) AS r;

CREATE FUNCTION linerate.events_between(lo timestamptz, hi timestamptz)
RETURNS SETOF linerate.event_row LANGUAGE sql STABLE AS $$
SELECT "timestamp", ingested, dataset, host, severity, event_code, user_name, source_ip,
       message, event
  FROM linerate.events_rows
 WHERE "timestamp" >= lo AND "timestamp" < hi
UNION ALL
SELECT r."timestamp", r.ingested, r.dataset, r.host, r.severity, r.event_code, r.user_name,
       r.source_ip, r.message, r.event
  FROM linerate.events_packed p CROSS JOIN LATERAL unnest(p.rows) AS r
 WHERE p.first < hi AND p.last >= lo AND r."timestamp" >= lo AND r."timestamp" < hi
$$;

CREATE VIEW linerate.events_hourly AS
SELECT bucket, dataset, host, severity, event_code, outcome, sum(events)::bigint AS events
FROM (
    SELECT bucket, dataset, host, severity, event_code, outcome, events
      FROM linerate.events_hourly_frozen
    UNION ALL
    SELECT bucket, dataset, host, severity, event_code, outcome, events
      FROM linerate.events_hourly_live
     WHERE bucket < (SELECT refreshed_until FROM linerate.rollup_state)
    UNION ALL
    SELECT date_trunc('hour', "timestamp", 'UTC'), dataset, host, severity, event_code,
           event->'event'->>'outcome', count(*)
      FROM linerate.events_between((SELECT refreshed_until FROM linerate.rollup_state),
                                   'infinity')
     GROUP BY 1, 2, 3, 4, 5, 6
) AS parts
GROUP BY bucket, dataset, host, severity, event_code, outcome;
"#,
];

/// The schema version this build writes.
pub fn current_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Create the schema or bring it to [`current_version`]; returns the version found before.
/// A database at a newer version than this build is an error (never downgraded).
pub fn migrate(client: &mut Client) -> Result<i32, postgres::Error> {
    client.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS linerate;
         CREATE TABLE IF NOT EXISTS linerate.schema_version (
             version integer PRIMARY KEY,
             applied timestamptz NOT NULL DEFAULT now())",
    )?;
    let mut before = None;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
        let found: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM linerate.schema_version",
                &[],
            )?
            .get(0);
        before.get_or_insert(found);
        if found >= version {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO linerate.schema_version (version) VALUES ($1)",
            &[&version],
        )?;
        tx.commit()?;
    }
    Ok(before.unwrap_or(0))
}

/// The name (without schema) of `day`'s partition: `events_YYYYMMDD`.
pub fn partition_name(day: Date) -> String {
    format!("events_{}", day.strftime("%Y%m%d"))
}

/// The name (without schema) of `day`'s packed blocks: `events_packed_YYYYMMDD`.
pub fn packed_name(day: Date) -> String {
    format!("events_packed_{}", day.strftime("%Y%m%d"))
}

/// `'YYYY-MM-DD 00:00:00+00'` of `day`, a timestamptz literal.
pub fn day_start_literal(day: Date) -> String {
    format!("'{} 00:00:00+00'", day.strftime("%Y-%m-%d"))
}

/// `FOR VALUES FROM (...) TO (...)` of `day`.
pub fn day_bounds(day: Date) -> String {
    let next = day.tomorrow().unwrap_or(day);
    format!(
        "FOR VALUES FROM ({}) TO ({})",
        day_start_literal(day),
        day_start_literal(next)
    )
}

/// The hot tier's indexes on `table` (schema-qualified name without quotes, e.g.
/// `linerate.events_20261205`): btrees on the filter columns, GIN on the event.
pub fn hot_index_sql(table: &str) -> String {
    let short = table.rsplit('.').next().unwrap_or(table);
    let mut sql = String::new();
    for col in [
        "timestamp",
        "dataset",
        "host",
        "severity",
        "event_code",
        "user_name",
        "source_ip",
    ] {
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {short}_{col} ON {table} (\"{col}\");\n"
        ));
    }
    sql.push_str(&format!(
        "CREATE INDEX IF NOT EXISTS {short}_event ON {table} USING gin (event);\n"
    ));
    sql
}

/// Whether `linerate.<name>` exists as a table.
pub fn table_exists(client: &mut impl GenericClient, name: &str) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one(
            "SELECT to_regclass('linerate.' || quote_ident($1)) IS NOT NULL",
            &[&name],
        )?
        .get(0))
}

/// Create `day`'s hot partition if missing, moving its rows out of `events_default` in the
/// same transaction (the default partition is locked against inserts meanwhile, so none is
/// stranded). Returns the rows moved, or `None` when the partition already existed.
pub fn ensure_day(client: &mut Client, day: Date) -> Result<Option<u64>, postgres::Error> {
    let name = partition_name(day);
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&DAY_LOCK_KEY, &day_number(day)],
    )?;
    if table_exists(&mut tx, &name)? {
        return Ok(None);
    }
    let start = day_start_literal(day);
    let end = day_start_literal(day.tomorrow().unwrap_or(day));
    tx.batch_execute(&format!(
        "LOCK TABLE linerate.events_default IN SHARE ROW EXCLUSIVE MODE;
         CREATE TABLE linerate.{name} (LIKE linerate.events_rows INCLUDING DEFAULTS);
         ALTER TABLE linerate.{name} ADD CONSTRAINT {name}_day
             CHECK (\"timestamp\" >= {start} AND \"timestamp\" < {end});"
    ))?;
    let moved = tx.execute(
        &format!(
            "WITH moved AS (DELETE FROM linerate.events_default
                             WHERE \"timestamp\" >= {start} AND \"timestamp\" < {end}
                             RETURNING *)
             INSERT INTO linerate.{name} SELECT * FROM moved"
        ),
        &[],
    )?;
    tx.batch_execute(&format!(
        "ALTER TABLE linerate.events_rows ATTACH PARTITION linerate.{name} {bounds};
         {indexes}",
        bounds = day_bounds(day),
        indexes = hot_index_sql(&format!("linerate.{name}")),
    ))?;
    let date = to_pg_date(day);
    tx.execute(
        "INSERT INTO linerate.partitions (day, tier) VALUES ($1::text::date, 'hot')
         ON CONFLICT (day) DO UPDATE SET tier = 'hot', changed = now()",
        &[&date],
    )?;
    if moved > 0 {
        tx.execute(
            "INSERT INTO linerate.retention_log (day, action, rows, detail)
             VALUES ($1::text::date, 'from_default', $2, 'rows moved out of events_default')",
            &[&date, &(moved as i64)],
        )?;
    }
    tx.commit()?;
    Ok(Some(moved))
}

/// The days that have rows in `events_default`.
pub fn default_days(client: &mut Client) -> Result<Vec<Date>, postgres::Error> {
    let rows = client.query(
        "SELECT DISTINCT to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD')
           FROM linerate.events_default ORDER BY 1",
        &[],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get::<_, String>(0).parse().ok())
        .collect())
}

/// `day` as the text PostgreSQL casts to `date`.
pub fn to_pg_date(day: Date) -> String {
    day.strftime("%Y-%m-%d").to_string()
}

/// Days since 1970-01-01, the second key of a day's advisory lock.
pub fn day_number(day: Date) -> i32 {
    day.since(Date::constant(1970, 1, 1))
        .map_or(0, |s| s.get_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bounds() {
        let d = Date::constant(2026, 12, 31);
        assert_eq!(partition_name(d), "events_20261231");
        assert_eq!(
            day_bounds(d),
            "FOR VALUES FROM ('2026-12-31 00:00:00+00') TO ('2027-01-01 00:00:00+00')"
        );
        assert_eq!(day_number(Date::constant(1970, 1, 2)), 1);
    }
}
