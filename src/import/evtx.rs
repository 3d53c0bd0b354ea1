//! EVTX files, through the `evtx` crate: each record rendered as event XML (then normalized
//! like forwarded event XML); records and chunks the crate cannot read are skipped, counted
//! and logged, and the rest of the file is read.

use std::path::{Path, PathBuf};

use evtx::err::EvtxError;
use evtx::EvtxParser;

use super::ImportError;

/// One item of an EVTX file, in file order.
pub enum EvtxItem {
    /// A record rendered as event XML (UTF-8, as the crate renders it; not checked here, the
    /// normalizer checks it once).
    Record(Vec<u8>),
    /// A chunk the crate could not read (its records are lost).
    CorruptChunk(String),
    /// A record the crate could not read.
    CorruptRecord(String),
}

/// The `.evtx` files of `path`: the file itself, or a directory's `*.evtx` files in name
/// order (not recursive).
pub fn evtx_files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.is_file()
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
        {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Call `f` with every item of the EVTX file at `path`, in file order. Fails only when the
/// file cannot be opened or its header is not an EVTX header.
pub fn for_each_item(
    path: &Path,
    mut f: impl FnMut(EvtxItem) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut parser = EvtxParser::from_path(path).map_err(|e| ImportError::Evtx {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    for item in parser.records_bytes() {
        f(match item {
            Ok(r) => EvtxItem::Record(r.data),
            Err(EvtxError::FailedToParseChunk { chunk_id, .. })
                if is_unused_slot(path, chunk_id) =>
            {
                tracing::debug!(file = %path.display(), chunk = chunk_id, "EVTX: chunk slot holds no chunk and no record (unused space), not counted");
                continue;
            }
            Err(e @ EvtxError::FailedToParseChunk { .. }) => {
                EvtxItem::CorruptChunk(error_chain(&e))
            }
            Err(e) => EvtxItem::CorruptRecord(error_chain(&e)),
        })?;
    }
    Ok(())
}

/// Bytes of an EVTX file header (chunks start after it).
const FILE_HEADER_BYTES: u64 = 4096;
/// Bytes of one EVTX chunk slot.
const CHUNK_BYTES: usize = 65536;
/// Offset of a chunk's first record (after the chunk header and its string and template
/// tables).
const CHUNK_RECORDS_OFFSET: usize = 512;
/// Magic of an EVTX record header (`**\0\0`).
const RECORD_MAGIC: &[u8; 4] = b"**\0\0";

/// Whether the bytes of a chunk slot whose chunk header the `evtx` crate refused hold no
/// record either: space the log never wrote a chunk into (a preallocated file's tail with
/// leftover bytes, past what a dirty header counts), not a damaged chunk. Nothing is lost
/// in it, so it is not counted as corrupt. A damaged chunk still holds its records' headers
/// (`sample_with_a_bad_chunk_magic.evtx`: 15 and 68 of them in its two bad chunks).
pub fn is_unused_chunk_slot(data: &[u8]) -> bool {
    data.get(CHUNK_RECORDS_OFFSET..)
        .is_some_and(|records| memchr::memmem::find(records, RECORD_MAGIC).is_none())
}

/// [`is_unused_chunk_slot`] of chunk `index` of the file at `path` (false when it cannot be
/// read: then it counts as corrupt).
fn is_unused_slot(path: &Path, index: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut data = vec![0u8; CHUNK_BYTES];
    let read = std::fs::File::open(path)
        .and_then(|f| f.read_exact_at(&mut data, FILE_HEADER_BYTES + index * CHUNK_BYTES as u64));
    read.is_ok() && is_unused_chunk_slot(&data)
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
