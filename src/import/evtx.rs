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
            Err(e @ EvtxError::FailedToParseChunk { .. }) => {
                EvtxItem::CorruptChunk(error_chain(&e))
            }
            Err(e) => EvtxItem::CorruptRecord(error_chain(&e)),
        })?;
    }
    Ok(())
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
