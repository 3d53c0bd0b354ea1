//! `linerate retention status`: every day the catalog knows (and the default partition), its
//! tier, rows, bytes on disk (partition and packed blocks: tables, TOAST and indexes), bytes per row, and its compression
//! ratio: the bytes of its events as JSON text over the bytes on disk. Frozen days show the
//! rows they had when dropped and what their rollup holds. Exact counts: it scans each day.

use std::fmt::Write;

use postgres::Client;

use crate::store::schema;

/// One line of the status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionStatus {
    /// `YYYY-MM-DD`, or `default`.
    pub day: String,
    /// `hot`, `warm`, `cold`, `frozen`, or `default`.
    pub tier: String,
    /// Rows now (exact count); for a frozen day, the rows it had when dropped.
    pub rows: i64,
    /// Bytes on disk: partition and packed blocks, with TOAST and indexes (0 once frozen).
    pub bytes: i64,
    /// `bytes / rows`.
    pub bytes_per_row: f64,
    /// JSON text bytes of the events over bytes on disk (0 when nothing is on disk).
    pub compression_ratio: f64,
    /// Where the table lives (`pg_default` unless moved to the cold tablespace).
    pub tablespace: String,
    /// Events the hourly rollup holds for the day.
    pub rollup_events: i64,
    /// The export file, when the day was exported before it was dropped.
    pub exported: Option<String>,
}

/// The status of every partition, oldest first, the default partition last.
pub fn collect(client: &mut Client) -> Result<Vec<PartitionStatus>, postgres::Error> {
    /// A catalog row: day, tier, rows when last moved, export file, table name.
    struct Known {
        day: String,
        tier: String,
        rows_then: Option<i64>,
        exported: Option<String>,
        name: String,
    }
    let mut known: Vec<Known> = client
        .query(
            "SELECT day::text, tier, rows, exported FROM linerate.partitions ORDER BY day",
            &[],
        )?
        .iter()
        .map(|r| {
            let day: String = r.get(0);
            let name = day.parse().map(schema::partition_name).unwrap_or_default();
            Known {
                day,
                tier: r.get(1),
                rows_then: r.get(2),
                exported: r.get(3),
                name,
            }
        })
        .collect();
    known.push(Known {
        day: "default".into(),
        tier: "default".into(),
        rows_then: None,
        exported: None,
        name: "events_default".into(),
    });
    let mut out = Vec::with_capacity(known.len());
    for Known {
        day,
        tier,
        rows_then,
        exported,
        name,
    } in known
    {
        let rollup: i64 = if day == "default" {
            0
        } else {
            client
                .query_one(
                    "SELECT coalesce(sum(events), 0)::bigint FROM linerate.events_hourly
                      WHERE bucket >= $1::text::timestamptz
                        AND bucket < $1::text::timestamptz + interval '1 day'",
                    &[&format!("{day} 00:00:00+00")],
                )?
                .get(0)
        };
        if tier == "frozen" || !schema::table_exists(client, &name)? {
            out.push(PartitionStatus {
                day,
                tier,
                rows: rows_then.unwrap_or(0),
                bytes: 0,
                bytes_per_row: 0.0,
                compression_ratio: 0.0,
                tablespace: String::new(),
                rollup_events: rollup,
                exported,
            });
            continue;
        }
        let r = measure(client, &day, &name)?;
        let rows: i64 = r.get(0);
        let json: i64 = r.get(1);
        let bytes: i64 = r.get(2);
        out.push(PartitionStatus {
            day,
            tier,
            rows,
            bytes,
            bytes_per_row: if rows > 0 {
                bytes as f64 / rows as f64
            } else {
                0.0
            },
            compression_ratio: if bytes > 0 {
                json as f64 / bytes as f64
            } else {
                0.0
            },
            tablespace: r.get(3),
            rollup_events: rollup,
            exported,
        });
    }
    Ok(out)
}

/// Rows, JSON text bytes, bytes on disk and tablespace of `day` (`YYYY-MM-DD`, or `default`)
/// whose partition is `name`: the partition's rows and, for a packed day, its blocks.
fn measure(client: &mut Client, day: &str, name: &str) -> Result<postgres::Row, postgres::Error> {
    let (source, packed) = match day.parse() {
        Ok(date) => (
            super::tiers::day_rows_sql(client, date)?,
            Some(format!("linerate.{}", schema::packed_name(date))),
        ),
        Err(_) => (format!("linerate.{name} AS e"), None),
    };
    client.query_one(
        &format!(
            "SELECT count(*), coalesce(sum(octet_length(e.event::text)), 0)::bigint,
                    pg_total_relation_size('linerate.{name}'::regclass)
                      + coalesce(pg_total_relation_size(to_regclass($1)), 0),
                    coalesce((SELECT t.spcname FROM pg_class c
                                JOIN pg_tablespace t ON t.oid = c.reltablespace
                               WHERE c.oid = 'linerate.{name}'::regclass), 'pg_default')
               FROM {source}"
        ),
        &[&packed],
    )
}

/// The status as an aligned text table.
pub fn table(rows: &[PartitionStatus]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<10} {:<7} {:>10} {:>12} {:>9} {:>6} {:<12} {:>10}  exported",
        "day", "tier", "rows", "bytes", "bytes/row", "ratio", "tablespace", "rollup"
    );
    for r in rows {
        let _ = writeln!(
            o,
            "{:<10} {:<7} {:>10} {:>12} {:>9.1} {:>6.2} {:<12} {:>10}  {}",
            r.day,
            r.tier,
            r.rows,
            r.bytes,
            r.bytes_per_row,
            r.compression_ratio,
            r.tablespace,
            r.rollup_events,
            r.exported.as_deref().unwrap_or("-")
        );
    }
    o
}
