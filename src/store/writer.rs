//! One batch of Kafka messages into PostgreSQL, exactly once: in a single transaction the
//! batch's partitions' stored offsets are locked (`FOR UPDATE`), messages below them are
//! skipped (already stored by an earlier run), the rest go in with one binary `COPY`, events
//! that cannot be rows go to `linerate.dead_letter`, and the offsets move past the batch.
//! A crash anywhere before `COMMIT` leaves nothing; after it, the offsets say so.
//!
//! When PostgreSQL rejects the COPY (a data error: a NUL in text, a `\u0000` in JSON, a
//! timestamp out of range), the batch is written again row by row under savepoints, and each
//! rejected row goes to the dead-letter table with PostgreSQL's reason.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use postgres::{Client, Transaction};

use super::copy_binary::{CopyBuffer, COLUMNS};
use super::row::Row;

/// One consumed Kafka message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Where it came from: topic, partition and offset (the offset stored past it).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The normalized event's JSON.
    pub payload: Vec<u8>,
}

/// What a committed batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows committed to `linerate.events` (its table `events_rows`).
    pub rows: u64,
    /// Rows committed to `linerate.dead_letter`.
    pub dead_letters: u64,
    /// Messages at offsets already stored (a replay), skipped.
    pub skipped: u64,
    /// Time spent in `COPY`.
    pub copy_time: Duration,
}

/// Whether a PostgreSQL error is about the data (retry row by row) rather than the server
/// or the connection (retry the batch later).
pub fn is_data_error(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| {
        let c = d.code().code();
        c.starts_with("22") || c.starts_with("23")
    })
}

/// Write `batch` for consumer group `group`; `row_by_row` after a COPY was rejected.
pub fn write_batch(
    client: &mut Client,
    group: &str,
    batch: &[Message],
    row_by_row: bool,
) -> Result<Written, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut next = lock_offsets(&mut tx, group, batch)?;
    let refreshed_until: f64 = tx
        .query_one(
            "SELECT extract(epoch FROM refreshed_until)::float8
               FROM linerate.rollup_state FOR SHARE",
            &[],
        )?
        .get(0);
    let mut w = Written::default();
    let mut dead: Vec<(&Message, String)> = Vec::new();
    let mut late_hours: BTreeSet<i64> = BTreeSet::new();
    let mut copy = CopyBuffer::new();
    let mut fresh: Vec<&Message> = Vec::new();
    for m in batch {
        // Every batch partition has a row (lock_offsets creates it); 0 if it vanished.
        let n = next.entry((m.topic.as_str(), m.partition)).or_insert(0);
        if m.offset < *n {
            w.skipped += 1;
            continue;
        }
        *n = m.offset + 1;
        match Row::from_json(&m.payload) {
            Ok(row) => {
                if (row.timestamp_us as f64) / 1e6 < refreshed_until {
                    late_hours.insert(row.timestamp_us.div_euclid(3_600_000_000));
                }
                if row_by_row {
                    fresh.push(m);
                } else {
                    copy.push(&row, &m.payload);
                }
            }
            Err(e) => dead.push((m, e.to_string())),
        }
    }
    let start = Instant::now();
    if row_by_row {
        w.rows = copy_row_by_row(&mut tx, fresh, &mut dead)?;
    } else if copy.rows() > 0 {
        w.rows = copy_in(&mut tx, copy)?;
    }
    w.copy_time = start.elapsed();
    w.dead_letters = insert_dead_letters(&mut tx, &dead)?;
    mark_late_hours(&mut tx, late_hours)?;
    store_offsets(&mut tx, group, &next)?;
    tx.commit()?;
    Ok(w)
}

/// The rows of `fresh` one COPY each under a savepoint: a row PostgreSQL rejects for its
/// data goes to `dead` with PostgreSQL's message. Returns the rows written.
fn copy_row_by_row<'m>(
    tx: &mut Transaction<'_>,
    fresh: Vec<&'m Message>,
    dead: &mut Vec<(&'m Message, String)>,
) -> Result<u64, postgres::Error> {
    let mut rows = 0;
    for m in fresh {
        let mut one = CopyBuffer::new();
        if let Ok(row) = Row::from_json(&m.payload) {
            one.push(&row, &m.payload);
        }
        let mut sp = tx.savepoint("one_row")?;
        match copy_in(&mut sp, one) {
            Ok(n) => {
                sp.commit()?;
                rows += n;
            }
            Err(e) if is_data_error(&e) => {
                sp.rollback()?;
                let reason = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                dead.push((m, format!("rejected by PostgreSQL: {reason}")));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rows)
}

/// The dead letters of the batch, with their reasons; returns how many.
fn insert_dead_letters(
    tx: &mut Transaction<'_>,
    dead: &[(&Message, String)],
) -> Result<u64, postgres::Error> {
    if dead.is_empty() {
        return Ok(0);
    }
    let topics: Vec<&str> = dead.iter().map(|(m, _)| m.topic.as_str()).collect();
    let parts: Vec<i32> = dead.iter().map(|(m, _)| m.partition).collect();
    let offsets: Vec<i64> = dead.iter().map(|(m, _)| m.offset).collect();
    let reasons: Vec<&str> = dead.iter().map(|(_, r)| r.as_str()).collect();
    let payloads: Vec<&[u8]> = dead.iter().map(|(m, _)| m.payload.as_slice()).collect();
    tx.execute(
        "INSERT INTO linerate.dead_letter (topic, kafka_partition, kafka_offset, reason, payload)
         SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bytea[])",
        &[&topics, &parts, &offsets, &reasons, &payloads],
    )
}

/// Hours already rolled up that got a late row: marked for re-aggregation (in the batch's
/// transaction, ordered against the refresh by the rollup state's row lock).
fn mark_late_hours(
    tx: &mut Transaction<'_>,
    late_hours: BTreeSet<i64>,
) -> Result<(), postgres::Error> {
    if late_hours.is_empty() {
        return Ok(());
    }
    let hours: Vec<i64> = late_hours.into_iter().collect();
    tx.execute(
        "INSERT INTO linerate.rollup_invalid (hour)
         SELECT to_timestamp(h * 3600) FROM unnest($1::bigint[]) AS h
         ON CONFLICT DO NOTHING",
        &[&hours],
    )?;
    Ok(())
}

/// The next offset of each of the batch's partitions, stored with its rows.
fn store_offsets(
    tx: &mut Transaction<'_>,
    group: &str,
    next: &BTreeMap<(&str, i32), i64>,
) -> Result<(), postgres::Error> {
    let topics: Vec<&str> = next.keys().map(|(t, _)| *t).collect();
    let parts: Vec<i32> = next.keys().map(|(_, p)| *p).collect();
    let offsets: Vec<i64> = next.values().copied().collect();
    tx.execute(
        "UPDATE linerate.kafka_offsets o SET next_offset = v.n, updated = now()
           FROM unnest($2::text[], $3::int[], $4::bigint[]) AS v(t, p, n)
          WHERE o.consumer_group = $1 AND o.topic = v.t AND o.kafka_partition = v.p
            AND o.next_offset < v.n",
        &[&group, &topics, &parts, &offsets],
    )?;
    Ok(())
}

/// Create missing offset rows, lock the batch's, and return their next offsets.
fn lock_offsets<'m>(
    tx: &mut Transaction<'_>,
    group: &str,
    batch: &'m [Message],
) -> Result<BTreeMap<(&'m str, i32), i64>, postgres::Error> {
    let keys: BTreeSet<(&str, i32)> = batch
        .iter()
        .map(|m| (m.topic.as_str(), m.partition))
        .collect();
    let topics: Vec<&str> = keys.iter().map(|(t, _)| *t).collect();
    let parts: Vec<i32> = keys.iter().map(|(_, p)| *p).collect();
    tx.execute(
        "INSERT INTO linerate.kafka_offsets (consumer_group, topic, kafka_partition, next_offset)
         SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS v(t, p)
         ON CONFLICT DO NOTHING",
        &[&group, &topics, &parts],
    )?;
    let rows = tx.query(
        "SELECT topic, kafka_partition, next_offset FROM linerate.kafka_offsets
          WHERE consumer_group = $1
            AND (topic, kafka_partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
          ORDER BY topic, kafka_partition
          FOR UPDATE",
        &[&group, &topics, &parts],
    )?;
    let mut next = BTreeMap::new();
    for r in rows {
        let t: String = r.get(0);
        let p: i32 = r.get(1);
        if let Some(&k) = keys.iter().find(|(kt, kp)| *kt == t && *kp == p) {
            next.insert(k, r.get::<_, i64>(2));
        }
    }
    Ok(next)
}

fn copy_in(tx: &mut Transaction<'_>, copy: CopyBuffer) -> Result<u64, postgres::Error> {
    let mut w = tx.copy_in(&format!(
        "COPY linerate.events_rows ({COLUMNS}) FROM STDIN (FORMAT binary)"
    ))?;
    // An I/O error here is the connection's; `finish` reports the server's reason.
    let _ = w.write_all(&copy.finish());
    w.finish()
}

/// The stored next offset of every partition of `group` (where a restarted loader resumes).
pub fn stored_offsets(
    client: &mut Client,
    group: &str,
) -> Result<BTreeMap<(String, i32), i64>, postgres::Error> {
    Ok(client
        .query(
            "SELECT topic, kafka_partition, next_offset FROM linerate.kafka_offsets
              WHERE consumer_group = $1",
            &[&group],
        )?
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}
