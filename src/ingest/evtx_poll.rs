//! The EVTX directory-poll input: every `poll_interval_ms`, list one directory's `.evtx`
//! files; read each file that is new or has changed from where it got to (the last record ID
//! appended, [`super::evtx_state`]), and append every new record, rendered as event XML, to
//! the shard's ring as a Windows record (the sender normalizes it like any Windows event).
//! Records the input's [`WindowsFilter`] drops are counted, not appended.
//!
//! It runs on the owning shard's executor, not on a helper thread: a step reads one 64 KiB
//! chunk at a time (a positioned read, normally from the page cache) and renders its records
//! one by one, with `yield_if_needed` between records and between chunk headers, so the
//! executor is held for about one record's rendering at a time and no queue crosses cores.
//! A file gives at most `records_per_step_max` records per step; then its position is saved
//! and the other files and tasks get their turn.
//!
//! Paused through the control API, the input reads nothing: the flag is read before each
//! file step (a step in progress ends first) and at each poll, the saved positions stay, and
//! after a resume every file continues from its position (nothing skipped or repeated).
//!
//! A file Windows is writing: only whole chunks are read; an error in the newest chunk that
//! no readable record follows may be a record still being written, so it is retried at the
//! next poll and only counted and skipped once the file stayed unchanged over a poll. A file
//! never seen before whose chunks are not in record-ID order (a wrapped log) is read once it
//! stopped changing over a poll, so a copy in progress is not read out of order.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::evtx_file::{self, ChunkHead, FileStat};
use super::evtx_state::{DirState, FilePosition};
use crate::event::RecordKind;
use crate::event::Transport;
use crate::event::{unix_micros_now, ReceiveMeta};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::normalize::windows_filter::WindowsFilter;
use crate::stats::{add, sub};

/// Longest sleep between checks for shutdown while waiting for the next poll.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// One directory input, as its shard runs it.
#[derive(Debug)]
pub struct EvtxInput {
    pub dir: PathBuf,
    pub poll_interval: Duration,
    pub records_per_step_max: usize,
    pub filter: WindowsFilter,
    /// The state file of this directory ([`super::evtx_state::state_path`]).
    pub state_file: PathBuf,
    /// Set while the input is paused through the control API.
    pub paused: PauseFlag,
}

/// What a file's step left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read to its end.
    Done,
    /// More records wait: step again after the other files.
    More,
    /// Nothing to read until the next poll.
    Waiting,
}

/// What the input remembers of a file between polls, beside its saved position.
#[derive(Debug, Default)]
struct FileRun {
    ino: u64,
    /// The file's stat when an error in its newest chunk was retried.
    pending: Option<FileStat>,
    /// The file's stat at the previous look, for new wrapped files.
    last_stat: Option<FileStat>,
    /// Chunks already counted as corrupt (counted once per run of the process).
    corrupt_chunks: BTreeSet<u64>,
}

/// Poll `input.dir` until shutdown (see the module docs).
pub async fn serve<P: Intake + 'static>(p: Rc<P>, input: EvtxInput) {
    add(&p.stats().inputs_active, 1);
    let mut state = DirState::load(&input.state_file, &input.dir).unwrap_or_else(|e| {
        tracing::error!(shard = p.shard(), dir = %input.dir.display(), state = %input.state_file.display(), error = %e,
            "evtx: cannot read the saved positions; every file is read from the start (records may repeat)");
        DirState {
            dir: input.dir.clone(),
            files: BTreeMap::new(),
        }
    });
    let mut runs: BTreeMap<String, FileRun> = BTreeMap::new();
    let mut watched = 0u64;
    let mut list_failed = false;
    while !p.stopping() {
        let listed = if input.paused.is_paused() {
            None
        } else {
            Some(crate::import::evtx::evtx_files(&input.dir))
        };
        match listed {
            None => {}
            Some(Ok(files)) => {
                list_failed = false;
                let named: Vec<(String, PathBuf)> = files
                    .into_iter()
                    .filter_map(|f| Some((f.file_name()?.to_string_lossy().into_owned(), f)))
                    .collect();
                sub(&p.stats().evtx_files_watched, watched);
                watched = named.len() as u64;
                add(&p.stats().evtx_files_watched, watched);
                poll_files(&*p, &input, &mut state, &mut runs, &named).await;
            }
            Some(Err(e)) => {
                if !list_failed {
                    tracing::warn!(shard = p.shard(), dir = %input.dir.display(), error = %e, "evtx: cannot list the directory; retrying every poll");
                }
                list_failed = true;
            }
        }
        let mut waited = Duration::ZERO;
        while waited < input.poll_interval && !p.stopping() {
            let nap = STOP_CHECK_INTERVAL.min(input.poll_interval - waited);
            glommio::timer::sleep(nap).await;
            waited += nap;
        }
    }
    sub(&p.stats().evtx_files_watched, watched);
    sub(&p.stats().inputs_active, 1);
}

/// Step every file of the directory, round robin, until each is read to its end or waits;
/// save the positions after every step that moved one.
async fn poll_files<P: Intake + 'static>(
    p: &P,
    input: &EvtxInput,
    state: &mut DirState,
    runs: &mut BTreeMap<String, FileRun>,
    named: &[(String, PathBuf)],
) {
    let mut dirty = false;
    let mut active: Vec<&(String, PathBuf)> = named.iter().collect();
    while !active.is_empty() && !p.stopping() {
        let mut still = Vec::new();
        for entry in active {
            if input.paused.is_paused() {
                still.clear();
                break;
            }
            let (name, path) = (&entry.0, &entry.1);
            let was = state.files.get(name).copied();
            let run = runs.entry(name.clone()).or_default();
            let step = match step_file(p, input, state, run, name, path).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(shard = p.shard(), file = %path.display(), error = %e, "evtx: cannot read the file; retrying at the next poll");
                    Step::Waiting
                }
            };
            dirty |= state.files.get(name).copied() != was;
            if dirty {
                match state.save(&input.state_file) {
                    Ok(()) => dirty = false,
                    Err(e) => {
                        tracing::error!(shard = p.shard(), state = %input.state_file.display(), error = %e, "evtx: cannot save the positions (a restart would repeat records)")
                    }
                }
            }
            if step == Step::More && !p.stopping() {
                still.push(entry);
            }
            glommio::yield_if_needed().await;
        }
        active = still;
    }
    // Forgotten only now, so a file renamed since the last poll found its position first.
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let before = state.files.len();
    state.retain(&names);
    runs.retain(|n, _| names.contains(n));
    if dirty || state.files.len() != before {
        if let Err(e) = state.save(&input.state_file) {
            tracing::error!(shard = p.shard(), state = %input.state_file.display(), error = %e, "evtx: cannot save the positions (a restart would repeat records)");
        }
    }
}

/// Whether chunk headers by position are out of record-ID order (a wrapped, circular log).
fn is_wrapped(heads: &[ChunkHead]) -> bool {
    let firsts: Vec<u64> = heads
        .iter()
        .filter_map(|h| match h {
            ChunkHead::Records { first_id, .. } => Some(*first_id),
            _ => None,
        })
        .collect();
    firsts.windows(2).any(|w| w[1] < w[0])
}

/// Read one step of file `name`: at most `records_per_step_max` records past its position,
/// in record-ID order. Updates its position in `state`.
async fn step_file<P: Intake + 'static>(
    p: &P,
    input: &EvtxInput,
    state: &mut DirState,
    run: &mut FileRun,
    name: &str,
    path: &Path,
) -> io::Result<Step> {
    let file = File::open(path)?;
    let stat = FileStat::of(&file)?;
    if run.ino != stat.ino {
        *run = FileRun {
            ino: stat.ino,
            ..FileRun::default()
        };
    }
    let mut pos = state.position(name, &stat);
    let fresh = pos.last_record_id == 0 && pos.len == 0;
    let step = read_new_records(p, input, run, &file, &stat, &mut pos, fresh, path).await;
    state.files.insert(name.to_owned(), pos);
    step
}

/// One file being read at one poll: what every chunk of it needs.
struct FileRead<'a> {
    input: &'a EvtxInput,
    file: &'a File,
    stat: &'a FileStat,
    path: &'a Path,
}

#[allow(clippy::too_many_arguments)]
async fn read_new_records<P: Intake + 'static>(
    p: &P,
    input: &EvtxInput,
    run: &mut FileRun,
    file: &File,
    stat: &FileStat,
    pos: &mut FilePosition,
    fresh: bool,
    path: &Path,
) -> io::Result<Step> {
    if pos.is_unchanged(stat) && run.pending.is_none() {
        return Ok(Step::Done);
    }
    if !evtx_file::is_evtx(file)? {
        // Not (yet) an EVTX file (a copy just begun): looked at again at the next poll.
        tracing::debug!(file = %path.display(), "evtx: no EVTX file header (yet)");
        return Ok(Step::Waiting);
    }
    let mut heads = Vec::new();
    for index in 0..stat.chunks() {
        heads.push(evtx_file::chunk_head(file, index)?);
        glommio::yield_if_needed().await;
    }
    if fresh && is_wrapped(&heads) && run.last_stat != Some(*stat) {
        run.last_stat = Some(*stat);
        return Ok(Step::Waiting);
    }
    run.last_stat = Some(*stat);
    for (index, h) in heads.iter().enumerate() {
        if *h == ChunkHead::Corrupt {
            corrupt_chunk(p, run, path, index as u64, "bad chunk magic");
        }
    }
    let (work, newest) = chunks_to_read(&heads, pos, path);
    let f = FileRead {
        input,
        file,
        stat,
        path,
    };
    let mut appended = 0usize;
    for (index, head_last_id) in work {
        let tail = Some(index) == newest;
        if let Some(step) = read_chunk(p, &f, run, pos, index, tail, &mut appended).await? {
            return Ok(step);
        }
        // Every record of the chunk was appended, filtered out or counted as unreadable.
        pos.last_record_id = pos.last_record_id.max(head_last_id);
    }
    pos.len = stat.len;
    pos.mtime_ns = stat.mtime_ns;
    run.pending = None;
    Ok(Step::Done)
}

/// The chunks holding records after `pos` (index and last record id, oldest first) and the
/// index of the newest chunk. Record ids lower than the saved position (a cleared log)
/// start the file over.
fn chunks_to_read(
    heads: &[ChunkHead],
    pos: &mut FilePosition,
    path: &Path,
) -> (Vec<(u64, u64)>, Option<u64>) {
    let records = || {
        heads.iter().enumerate().filter_map(|(i, h)| match h {
            ChunkHead::Records { first_id, last_id } => Some((*first_id, i as u64, *last_id)),
            _ => None,
        })
    };
    let max_id = records().map(|(_, _, last)| last).max().unwrap_or(0);
    if max_id < pos.last_record_id {
        tracing::warn!(file = %path.display(), last_record_id = pos.last_record_id, max_id, "evtx: record IDs went backwards (log cleared?); reading the file from the start");
        pos.last_record_id = 0;
    }
    let newest = records().max().map(|(_, index, _)| index);
    let mut work: Vec<(u64, u64, u64)> = records()
        .filter(|&(_, _, last)| last > pos.last_record_id)
        .collect();
    work.sort_unstable();
    let work = work
        .into_iter()
        .map(|(_, index, last)| (index, last))
        .collect();
    (work, newest)
}

/// Append the records of chunk `index` after `pos` (the filter applied). `Some(step)`: stop
/// here for this poll (shutdown, the per-step bound, or an error in the newest chunk to look
/// at again); `None`: the chunk is done.
async fn read_chunk<P: Intake + 'static>(
    p: &P,
    f: &FileRead<'_>,
    run: &mut FileRun,
    pos: &mut FilePosition,
    index: u64,
    tail: bool,
    appended: &mut usize,
) -> io::Result<Option<Step>> {
    let mut data = match evtx_file::chunk_data(evtx_file::read_chunk(f.file, index)?) {
        Ok(d) => d,
        Err(e) => {
            corrupt_chunk(p, run, f.path, index, &e);
            return Ok(None);
        }
    };
    let mut chunk = match data.parse(evtx_file::parser_settings()) {
        Ok(c) => c,
        Err(e) => {
            corrupt_chunk(p, run, f.path, index, &crate::import::evtx::error_chain(&e));
            return Ok(None);
        }
    };
    // An error in the newest chunk, not yet known to be more than a record being written.
    let mut deferred: Option<String> = None;
    let meta = ReceiveMeta {
        received_unix_micros: unix_micros_now(),
        peer: None,
    };
    for item in chunk.iter() {
        if p.stopping() {
            return Ok(Some(Step::More));
        }
        let record = match item {
            Ok(r) => r,
            Err(e) => {
                record_error(p, f.path, tail, &mut deferred, pos.last_record_id, &e);
                continue;
            }
        };
        let id = record.event_record_id;
        if id <= pos.last_record_id {
            continue;
        }
        let xml = match record.into_xml() {
            Ok(x) => x.data,
            Err(e) => {
                record_error(p, f.path, tail, &mut deferred, pos.last_record_id, &e);
                continue;
            }
        };
        if let Some(earlier) = deferred.take() {
            corrupt_record(p, f.path, &earlier);
        }
        if !append_record(p, f.input, xml.as_bytes(), &meta).await {
            // Shutting down with a full ring: read again at the next start.
            return Ok(Some(Step::More));
        }
        pos.last_record_id = id;
        *appended += 1;
        if *appended >= f.input.records_per_step_max {
            return Ok(Some(Step::More));
        }
        glommio::yield_if_needed().await;
    }
    if let Some(error) = deferred {
        if run.pending != Some(*f.stat) {
            // Retried at the next poll; skipped only if the file has not changed by then.
            run.pending = Some(*f.stat);
            return Ok(Some(Step::Waiting));
        }
        corrupt_record(p, f.path, &error);
    }
    Ok(None)
}

/// Count one record read and, if the input's filter keeps it, append its XML (truncated to
/// `message_bytes_max`). False: the ring stayed full through shutdown.
async fn append_record<P: Intake + 'static>(
    p: &P,
    input: &EvtxInput,
    xml: &[u8],
    meta: &ReceiveMeta,
) -> bool {
    add(&p.stats().evtx_records_read, 1);
    if !input.filter.keep(xml) {
        add(&p.stats().filtered, 1);
        return true;
    }
    let truncated = xml.len() > p.message_bytes_max();
    let raw = &xml[..xml.len().min(p.message_bytes_max())];
    p.ingest(raw, truncated, meta, Transport::Evtx, RecordKind::Windows)
        .await
}

fn corrupt_chunk<P: Intake + 'static>(
    p: &P,
    run: &mut FileRun,
    path: &Path,
    index: u64,
    error: &str,
) {
    if run.corrupt_chunks.insert(index) {
        add(&p.stats().evtx_corrupt_chunks, 1);
        tracing::warn!(shard = p.shard(), file = %path.display(), chunk = index, %error, "EVTX chunk skipped: the evtx crate cannot read it");
    }
}

/// A record the crate cannot read: counted, unless it is in the newest chunk (`tail`), where
/// it is `deferred` until a readable record follows it or the file stays unchanged over a
/// poll. Not counted again when its part of the chunk was read before.
fn record_error<P: Intake + 'static>(
    p: &P,
    path: &Path,
    tail: bool,
    deferred: &mut Option<String>,
    last_record_id: u64,
    e: &evtx::err::EvtxError,
) {
    if let evtx::err::EvtxError::FailedToParseRecord { record_id, .. } = e {
        if *record_id <= last_record_id {
            return;
        }
    }
    let error = crate::import::evtx::error_chain(e);
    if tail {
        if let Some(earlier) = deferred.replace(error) {
            corrupt_record(p, path, &earlier);
        }
    } else {
        corrupt_record(p, path, &error);
    }
}

fn corrupt_record<P: Intake + 'static>(p: &P, path: &Path, error: &str) {
    add(&p.stats().evtx_corrupt_records, 1);
    tracing::warn!(shard = p.shard(), file = %path.display(), %error, "EVTX record skipped: the evtx crate cannot read it");
}
