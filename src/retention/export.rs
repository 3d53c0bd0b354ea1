//! The optional export of a day before its raw rows are dropped: every event of the day
//! (partition and packed blocks), in time order, one JSON object per line, gzip-compressed, written to a
//! temporary name, fsynced and renamed, so a file under its final name is always whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use postgres::Transaction;

use super::RetentionError;

/// Write the rows of `source` (a FROM item with an `event` and a `timestamp` column: a day's
/// partition and packed blocks) to `dir/name.ndjson.gz` (or `name.N.ndjson.gz` when a late
/// batch of that day was exported before), `name` being the day's partition name (e.g.
/// `events_20261205`); returns the path.
pub fn day(
    tx: &mut Transaction<'_>,
    name: &str,
    source: &str,
    dir: &Path,
) -> Result<PathBuf, RetentionError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RetentionError::Export { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut path = dir.join(format!("{name}.ndjson.gz"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{name}.{n}.ndjson.gz"));
        n += 1;
    }
    let tmp = path.with_extension("gz.tmp");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut gz = GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    let rows = tx.query_raw(
        &format!("SELECT event::text FROM {source} ORDER BY \"timestamp\""),
        std::iter::empty::<i32>(),
    )?;
    let mut rows = rows;
    while let Some(row) = fallible_next(&mut rows)? {
        let text: &str = row.get(0);
        gz.write_all(text.as_bytes()).map_err(io(&tmp))?;
        gz.write_all(b"\n").map_err(io(&tmp))?;
    }
    let file = gz
        .finish()
        .map_err(io(&tmp))?
        .into_inner()
        .map_err(|e| RetentionError::Export {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

fn fallible_next(
    rows: &mut postgres::RowIter<'_>,
) -> Result<Option<postgres::Row>, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    rows.next()
}
