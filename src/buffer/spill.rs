//! A shard's spill: when its ring runs above the high watermark, the oldest events in the
//! ring move, a block at a time, to segment files on disk, and are read back from there
//! when their turn to be sent comes.
//!
//! ```text
//! data_dir/shard-N.spill/00000000000000123456.seg   (named by the first sequence number)
//!   [block][block]...   each block: header, zstd payload, padding to 4096 (spill_block.rs)
//! ```
//!
//! Guarantees:
//! - Order: blocks hold consecutive ring frames, oldest first; the sender merges spill and
//!   ring by sequence number, so what spilled is sent before what came after it.
//! - Durability: [`SpillWriter`] writes a block with O_DIRECT through the shard's io_uring
//!   (glommio `DmaFile`) and only then does the ring give up those frames
//!   ([`crate::buffer::ring::Ring::release`]); a crash between the two leaves the events in
//!   both, and the sender skips the copies it already sent. Under `fsync = "always"` every
//!   block is also `fdatasync`ed before the ring lets go of it.
//! - Bounded: at most `spill_bytes_max` bytes of segments on disk; past that (or when a
//!   write fails, e.g. the disk is full) nothing more spills, the ring fills, and the
//!   ring's own back-pressure applies. A segment is deleted once every event in it is
//!   acknowledged.
//! - Damage: every block is checked (header crc, payload crc) at open and as it is read;
//!   damaged events are skipped and counted, never fatal.
//! - Reads use plain `pread` on the segment (they happen only while catching up, a block of
//!   `spill_block_bytes_max` at a time) and keep one decompressed block in memory.
//!
//! Single-threaded: [`Spill`] (index and reader) lives in the shard's delivery state;
//! [`SpillWriter`] in the shard's spill task.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frame::Event;
use super::spill_block::{self, BlockHeader, Payload, BLOCK_ALIGN_BYTES, BLOCK_HEADER_BYTES};

/// Where and how much a shard may spill.
#[derive(Debug, Clone)]
pub struct SpillConfig {
    /// The shard's segment directory (created if missing).
    pub dir: PathBuf,
    /// Bytes of segments on disk, at most.
    pub bytes_max: u64,
    /// A segment is closed and a new one started past this many bytes.
    pub segment_bytes_max: u64,
    /// Bytes of ring frames per block (before compression).
    pub block_bytes_max: usize,
    /// zstd level of the blocks.
    pub zstd_level: i32,
    /// `fdatasync` every block before the ring lets go of its events.
    pub sync_each_block: bool,
}

/// Why a spill could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SpillError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// What `open` found from an earlier run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpillRecovery {
    /// Segments found.
    pub segments: u64,
    /// Events in blocks not yet acknowledged: they will be sent again.
    pub pending_events: u64,
    /// Blocks whose payload crc failed (their sound frames are still sent).
    pub damaged_blocks: u64,
    /// Events lost to damaged block headers (counted from the sequence gap they leave).
    pub lost_events: u64,
}

struct Segment {
    id: u64,
    path: PathBuf,
    file: File,
    disk_bytes: u64,
    last_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct BlockRef {
    seg: u64,
    offset: u64,
    hdr: BlockHeader,
    /// Damaged events of this block already counted.
    counted: bool,
}

/// The decompressed block the reader is in, and where in it.
struct Cursor {
    first_seq: u64,
    verify: bool,
    /// Offset and sequence number of the last frame found.
    hint: Option<(usize, u64)>,
}

/// A shard's spilled blocks and the reader over them (see the module docs).
pub struct Spill {
    cfg: SpillConfig,
    segments: VecDeque<Segment>,
    blocks: VecDeque<BlockRef>,
    disk_bytes: u64,
    /// The segment the writer appends to (never deleted while open).
    open_segment: Option<u64>,
    /// Events with a smaller sequence number are acknowledged.
    acked_seq: u64,
    /// Blocks present at open end here: events up to it are replays.
    replay_last_seq: Option<u64>,
    spilled_events: u64,
    corrupt_skipped: u64,
    decompressor: zstd::bulk::Decompressor<'static>,
    zbuf: Vec<u8>,
    raw: Vec<u8>,
    cursor: Option<Cursor>,
}

/// What [`Spill::open`] has learned so far while scanning the segments in order.
struct Scan {
    rec: SpillRecovery,
    /// The sequence number the next sound block should start at, if nothing was lost.
    expect: Option<u64>,
    /// A damaged header was skipped and no sound block has followed yet.
    gap_open: bool,
}

/// Maps an I/O error on `path` to a [`SpillError`].
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpillError {
    let path = path.to_owned();
    move |source| SpillError { path, source }
}

/// The segment files (`ID.seg`) in `dir`, by id; creates `dir` when missing.
fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpillError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            let id = p
                .extension()
                .filter(|x| *x == "seg")
                .and(p.file_stem())
                .and_then(|s| s.to_str()?.parse::<u64>().ok())?;
            Some((id, p))
        })
        .collect();
    names.sort();
    Ok(names)
}

impl Spill {
    /// Open the spill directory, check every block, drop segments that are wholly
    /// acknowledged (`acked_seq`: every event below it is in Kafka) and index the rest.
    /// `ring_next_seq` is the sequence number of the ring's oldest unacknowledged event (or
    /// its next one): a damaged tail ending before it lost events; one reaching past it was
    /// a write the ring never let go of.
    pub fn open(
        cfg: SpillConfig,
        acked_seq: u64,
        ring_next_seq: u64,
    ) -> Result<(Spill, SpillRecovery), SpillError> {
        let names = segment_files(&cfg.dir)?;
        let mut spill = Spill {
            decompressor: zstd::bulk::Decompressor::new().map_err(io_err(&cfg.dir))?,
            cfg,
            segments: VecDeque::new(),
            blocks: VecDeque::new(),
            disk_bytes: 0,
            open_segment: None,
            acked_seq,
            replay_last_seq: None,
            spilled_events: 0,
            corrupt_skipped: 0,
            zbuf: Vec::new(),
            raw: Vec::new(),
            cursor: None,
        };
        let mut scan = Scan {
            rec: SpillRecovery::default(),
            expect: None,
            gap_open: false,
        };
        for (id, path) in names {
            spill.scan_segment(id, path, &mut scan)?;
        }
        let mut rec = scan.rec;
        if scan.gap_open {
            // A damaged tail: events between the last sound block and the ring were lost;
            // a torn last write reaching past the ring's oldest event lost nothing.
            if let Some(e) = scan.expect {
                let lost = ring_next_seq.saturating_sub(e);
                rec.lost_events += lost;
                if lost > 0 {
                    tracing::error!(lost, "spill: damaged last block; its events are lost");
                }
            }
        }
        spill.corrupt_skipped = rec.lost_events;
        spill.replay_last_seq = spill.blocks.back().map(|b| b.hdr.last_seq);
        spill.ack(acked_seq);
        Ok((spill, rec))
    }

    /// Index the sound blocks of segment `id` at `path` (a damaged header resynchronises on
    /// the next aligned one, counting the events between as lost); a segment with no sound
    /// block is deleted.
    fn scan_segment(&mut self, id: u64, path: PathBuf, scan: &mut Scan) -> Result<(), SpillError> {
        let file = File::open(&path).map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        let mut offset = 0u64;
        let mut last_seq = None;
        let mut head = [0u8; BLOCK_HEADER_BYTES];
        while offset + BLOCK_HEADER_BYTES as u64 <= len {
            let hdr = file
                .read_exact_at(&mut head, offset)
                .ok()
                .and_then(|_| BlockHeader::parse(&head))
                .filter(|h| offset + h.disk_bytes() <= len);
            let Some(hdr) = hdr else {
                scan.gap_open = true;
                offset += BLOCK_ALIGN_BYTES as u64;
                continue;
            };
            if scan.gap_open {
                if let Some(e) = scan.expect {
                    let lost = hdr.first_seq.saturating_sub(e);
                    scan.rec.lost_events += lost;
                    tracing::error!(segment = %path.display(), offset, lost, "spill: damaged block header; its events are lost");
                }
                scan.gap_open = false;
            }
            scan.expect = Some(hdr.last_seq + 1);
            let z = read_payload(&file, offset, &hdr, &mut self.zbuf).unwrap_or(&[]);
            if z.len() != hdr.zlen as usize || crc32fast::hash(z) != hdr.payload_crc {
                scan.rec.damaged_blocks += 1;
            }
            if hdr.last_seq >= self.acked_seq {
                scan.rec.pending_events += hdr.last_seq + 1 - hdr.first_seq.max(self.acked_seq);
            }
            self.blocks.push_back(BlockRef {
                seg: id,
                offset,
                hdr,
                counted: false,
            });
            last_seq = Some(hdr.last_seq);
            offset += hdr.disk_bytes();
        }
        let Some(last_seq) = last_seq else {
            // Nothing sound in it: an empty or torn new segment.
            let _ = std::fs::remove_file(&path);
            return Ok(());
        };
        scan.rec.segments += 1;
        self.disk_bytes += len;
        self.segments.push_back(Segment {
            id,
            path,
            file,
            disk_bytes: len,
            last_seq,
        });
        Ok(())
    }

    /// Everything spilled below `seq` is acknowledged: delete segments wholly below it.
    pub fn ack(&mut self, seq: u64) {
        self.acked_seq = self.acked_seq.max(seq);
        while let Some(s) = self.segments.front() {
            if s.last_seq >= self.acked_seq || Some(s.id) == self.open_segment {
                break;
            }
            let s = self.segments.pop_front().expect("front exists");
            while self.blocks.front().is_some_and(|b| b.seg == s.id) {
                self.blocks.pop_front();
            }
            let front = self.blocks.front().map(|b| b.hdr.first_seq);
            if self
                .cursor
                .as_ref()
                .is_some_and(|c| front.is_none_or(|f| c.first_seq < f))
            {
                self.cursor = None;
            }
            self.disk_bytes -= s.disk_bytes;
            if let Err(e) = std::fs::remove_file(&s.path) {
                tracing::warn!(segment = %s.path.display(), error = %e, "spill: could not delete an acknowledged segment");
            }
        }
    }

    /// The sequence number of the first spilled event at or after `seq`, loading its block.
    pub fn next_seq_from(&mut self, seq: u64) -> Option<u64> {
        self.event_from(seq).map(|e| e.seq)
    }

    /// The first spilled event at or after `seq` (skipping and counting damaged ones).
    pub fn event_from(&mut self, seq: u64) -> Option<Event<'_>> {
        if self.blocks.back().is_none_or(|b| b.hdr.last_seq < seq) {
            return None;
        }
        // The first block that may hold `seq` or a later event.
        let mut i = self.blocks.partition_point(|b| b.hdr.last_seq < seq);
        while i < self.blocks.len() {
            if self.load(i) {
                let c = self.cursor.as_ref().expect("loaded");
                let (start, verify) = match c.hint {
                    Some((at, s)) if s <= seq => (at, c.verify),
                    _ => (0, c.verify),
                };
                let mut pos = start;
                let found = loop {
                    match spill_block::next_frame(&self.raw, pos, verify).0 {
                        Some((e, end)) if e.seq < seq => pos = end,
                        Some((e, _)) => break Some((pos, e.seq)),
                        None => break None,
                    }
                };
                if let Some((at, s)) = found {
                    self.cursor.as_mut().expect("loaded").hint = Some((at, s));
                    let (f, _) = spill_block::next_frame(&self.raw, at, verify);
                    return f.map(|(e, _)| e);
                }
            }
            i += 1;
        }
        None
    }

    /// The spilled event `seq`, if it is spilled and sound (for a resend).
    pub fn event(&mut self, seq: u64) -> Option<Event<'_>> {
        self.event_from(seq).filter(|e| e.seq == seq)
    }

    /// Whether `seq` was spilled before this process opened the spill (a replay).
    pub fn is_replay(&self, seq: u64) -> bool {
        self.replay_last_seq.is_some_and(|l| seq <= l)
    }

    /// No spilled event at or after `seq` waits to be sent.
    pub fn is_empty_from(&self, seq: u64) -> bool {
        self.blocks.back().is_none_or(|b| b.hdr.last_seq < seq)
    }

    /// Every spilled event is acknowledged.
    pub fn is_drained(&self) -> bool {
        self.is_empty_from(self.acked_seq)
    }

    /// Bytes of segments on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// Segments on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Events spilled by this process.
    pub fn spilled_events(&self) -> u64 {
        self.spilled_events
    }

    /// Damaged events skipped (or lost to damaged headers) since open.
    pub fn corrupt_skipped(&self) -> u64 {
        self.corrupt_skipped
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &SpillConfig {
        &self.cfg
    }

    /// Room for a block of up to `bytes` more on disk within `spill_bytes_max`.
    pub fn has_room(&self, bytes: u64) -> bool {
        self.disk_bytes + bytes <= self.cfg.bytes_max
    }

    /// The writer closed its segment: it may be deleted once acknowledged.
    fn segment_closed(&mut self) {
        self.open_segment = None;
        let acked = self.acked_seq;
        self.ack(acked);
    }

    /// The writer wrote `hdr` at `offset` of its open segment `seg` (at `path`).
    fn block_written(
        &mut self,
        seg: u64,
        path: &Path,
        offset: u64,
        hdr: BlockHeader,
    ) -> std::io::Result<()> {
        if self.segments.back().is_none_or(|s| s.id != seg) {
            self.segments.push_back(Segment {
                id: seg,
                path: path.to_owned(),
                file: File::open(path)?,
                disk_bytes: 0,
                last_seq: hdr.last_seq,
            });
            self.open_segment = Some(seg);
        }
        let s = self.segments.back_mut().expect("pushed above");
        s.disk_bytes += hdr.disk_bytes();
        s.last_seq = hdr.last_seq;
        self.disk_bytes += hdr.disk_bytes();
        self.spilled_events += u64::from(hdr.count);
        self.blocks.push_back(BlockRef {
            seg,
            offset,
            hdr,
            counted: false,
        });
        Ok(())
    }

    /// Make block `i` the decompressed one; false if nothing in it can be read.
    fn load(&mut self, i: usize) -> bool {
        let b = self.blocks[i];
        if self
            .cursor
            .as_ref()
            .is_some_and(|c| c.first_seq == b.hdr.first_seq)
        {
            return true;
        }
        self.cursor = None;
        let Some(seg) = self.segments.iter().find(|s| s.id == b.seg) else {
            return false;
        };
        let z = read_payload(&seg.file, b.offset, &b.hdr, &mut self.zbuf).unwrap_or(&[]);
        let payload = spill_block::decode_payload(&b.hdr, z, &mut self.decompressor, &mut self.raw);
        let verify = payload == Payload::Damaged;
        if verify && !b.counted {
            self.blocks[i].counted = true;
            self.count_damage(i);
        }
        self.cursor = Some(Cursor {
            first_seq: b.hdr.first_seq,
            verify,
            hint: None,
        });
        true
    }

    /// Count the events of damaged block `i` (loaded) that cannot be read.
    fn count_damage(&mut self, i: usize) {
        let b = self.blocks[i];
        let (mut pos, mut sound) = (0, 0u64);
        while let (Some((_, end)), _) = spill_block::next_frame(&self.raw, pos, true) {
            sound += 1;
            pos = end;
        }
        let lost = u64::from(b.hdr.count).saturating_sub(sound);
        self.corrupt_skipped += lost;
        tracing::error!(
            first_seq = b.hdr.first_seq,
            last_seq = b.hdr.last_seq,
            lost,
            "spill: damaged block; its sound events are still sent"
        );
    }
}

/// Read block `hdr`'s compressed payload at `offset` into `buf`.
fn read_payload<'b>(
    file: &File,
    offset: u64,
    hdr: &BlockHeader,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<&'b [u8]> {
    buf.resize(hdr.zlen as usize, 0);
    file.read_exact_at(buf, offset + BLOCK_HEADER_BYTES as u64)?;
    Ok(buf)
}

/// What the spill task took from the ring for one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    pub count: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The ring position after the last frame taken.
    pub ring_end: u64,
}

/// Why a block could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("spill_bytes_max reached")]
    BudgetFull,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Glommio(String),
}

/// The writing side of a shard's spill, owned by its spill task (see the module docs).
pub struct SpillWriter {
    compressor: zstd::bulk::Compressor<'static>,
    /// Ring frames of the block being built (bounded by `block_bytes_max` + one frame).
    pub frames: Vec<u8>,
    /// The open segment: its file, id, path and the offset of the next block.
    file: Option<OpenSegment>,
}

struct OpenSegment {
    file: glommio::io::DmaFile,
    id: u64,
    path: PathBuf,
    offset: u64,
}

impl SpillWriter {
    /// A writer for `spill` (allocates the block buffer once).
    pub fn new(spill: &Spill) -> std::io::Result<Self> {
        Ok(Self {
            compressor: zstd::bulk::Compressor::new(spill.cfg.zstd_level)?,
            frames: Vec::with_capacity(spill.cfg.block_bytes_max * 2),
            file: None,
        })
    }

    /// Compress `self.frames` (described by `c`) into a block and append it to the open
    /// segment (starting one if needed). Call with the spill borrowed only in between: the
    /// write itself is awaited with no borrow held, through `with_spill`.
    pub async fn write_block<F>(&mut self, c: Collected, with_spill: F) -> Result<u64, WriteError>
    where
        F: Fn(&mut dyn FnMut(&mut Spill)),
    {
        let max = spill_block::encoded_bytes_max(self.frames.len()) as u64;
        let mut cfg = None;
        let mut room = true;
        with_spill(&mut |s| {
            cfg = Some(s.cfg.clone());
            room = s.has_room(max);
        });
        let cfg = cfg.expect("with_spill ran");
        if !room {
            return Err(WriteError::BudgetFull);
        }
        if self
            .file
            .as_ref()
            .is_some_and(|o| o.offset > 0 && o.offset + max > cfg.segment_bytes_max)
        {
            self.close(&with_spill).await?;
        }
        if self.file.is_none() {
            let path = cfg.dir.join(format!("{:020}.seg", c.first_seq));
            let file = glommio::io::DmaFile::create(&path)
                .await
                .map_err(|e| WriteError::Glommio(e.to_string()))?;
            self.file = Some(OpenSegment {
                file,
                id: c.first_seq,
                path,
                offset: 0,
            });
        }
        let o = self.file.as_mut().expect("opened above");
        let mut buf = o.file.alloc_dma_buffer(max as usize);
        let hdr = spill_block::encode(
            &self.frames,
            c.count,
            c.first_seq,
            c.last_seq,
            &mut self.compressor,
            buf.as_bytes_mut(),
        )
        .map_err(|e| WriteError::Io(std::io::Error::other(e)))?;
        let n = hdr.disk_bytes();
        buf.trim_to_size(n as usize);
        // A failed or short write leaves `offset` where it was: the block is written again
        // there (the ring still holds its events).
        let written = o
            .file
            .write_at(buf, o.offset)
            .await
            .map_err(|e| WriteError::Glommio(e.to_string()))?;
        if written as u64 != n {
            return Err(WriteError::Io(std::io::Error::other(format!(
                "short write: {written} of {n} bytes"
            ))));
        }
        if cfg.sync_each_block {
            o.file
                .fdatasync()
                .await
                .map_err(|e| WriteError::Glommio(e.to_string()))?;
        }
        let at = o.offset;
        o.offset += n;
        let (id, path) = (o.id, o.path.clone());
        let mut res = Ok(());
        with_spill(&mut |s| res = s.block_written(id, &path, at, hdr));
        res?;
        Ok(n)
    }

    /// Whether a segment is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Sync and close the open segment; it is deleted once everything in it is acknowledged.
    pub async fn close<F>(&mut self, with_spill: &F) -> Result<(), WriteError>
    where
        F: Fn(&mut dyn FnMut(&mut Spill)),
    {
        if let Some(o) = self.file.take() {
            let synced = o.file.fdatasync().await;
            let _ = o.file.close().await;
            with_spill(&mut |s| s.segment_closed());
            synced.map_err(|e| WriteError::Glommio(e.to_string()))?;
        }
        Ok(())
    }

    /// Sync the open segment (for `fsync = "interval"`).
    pub async fn sync(&self) -> Result<(), WriteError> {
        if let Some(o) = &self.file {
            o.file
                .fdatasync()
                .await
                .map_err(|e| WriteError::Glommio(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::spill_block::test_frames;
    use std::cell::RefCell;

    fn cfg(dir: &Path) -> SpillConfig {
        SpillConfig {
            dir: dir.to_owned(),
            bytes_max: 64 << 20,
            segment_bytes_max: 16 << 10,
            block_bytes_max: 8 << 10,
            zstd_level: 1,
            sync_each_block: false,
        }
    }

    /// Write blocks of `per_block` events for sequence numbers `seqs` through a writer on a
    /// glommio executor, as the shard's spill task does.
    fn write(spill: Spill, seqs: std::ops::Range<u64>, per_block: u64) -> Spill {
        glommio::LocalExecutorBuilder::default()
            .io_memory(512 << 10)
            .spawn(move || async move {
                let cell = RefCell::new(spill);
                let mut w = SpillWriter::new(&cell.borrow()).unwrap();
                let with_spill = |f: &mut dyn FnMut(&mut Spill)| f(&mut cell.borrow_mut());
                let mut seq = seqs.start;
                while seq < seqs.end {
                    let n = per_block.min(seqs.end - seq);
                    w.frames = test_frames(seq, n);
                    let c = Collected {
                        count: n as u32,
                        first_seq: seq,
                        last_seq: seq + n - 1,
                        ring_end: 0,
                    };
                    w.write_block(c, &with_spill).await.unwrap();
                    seq += n;
                }
                w.close(&with_spill).await.unwrap();
                cell.into_inner()
            })
            .unwrap()
            .join()
            .unwrap()
    }

    /// Read every spilled event from `from` on, in order.
    fn read_all(s: &mut Spill, from: u64) -> Vec<u64> {
        let mut got = Vec::new();
        let mut next = from;
        while let Some(e) = s.event_from(next) {
            assert!(e.raw.ends_with(&[b'y'; 40]));
            got.push(e.seq);
            next = e.seq + 1;
        }
        got
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_reads_back_in_order_and_deletes_acknowledged_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (s, rec) = Spill::open(cfg(dir.path()), 0, 0).unwrap();
        assert_eq!(rec, SpillRecovery::default());
        let mut s = write(s, 0..2000, 90);
        assert_eq!(s.spilled_events(), 2000);
        let segs = segments(dir.path());
        assert!(segs.len() > 2, "{segs:?}");
        assert_eq!(s.segment_count(), segs.len());
        assert!(s.disk_bytes() > 0 && s.has_room(1 << 20));
        assert_eq!(read_all(&mut s, 0), (0..2000).collect::<Vec<_>>());
        // Random access for resends, then sequential again from the middle.
        assert_eq!(s.event(1234).unwrap().seq, 1234);
        assert_eq!(s.event(17).unwrap().seq, 17);
        assert_eq!(read_all(&mut s, 1990), (1990..2000).collect::<Vec<_>>());
        assert!(!s.is_drained());
        s.ack(1000);
        let left = segments(dir.path());
        assert!(left.len() < segs.len());
        assert!(s.event_from(0).unwrap().seq <= 1000);
        s.ack(2000);
        assert!(s.is_drained());
        assert!(segments(dir.path()).is_empty());
        assert_eq!(s.disk_bytes(), 0);
    }

    #[test]
    fn reopen_replays_what_is_not_acknowledged_and_counts_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Spill::open(cfg(dir.path()), 0, 0).unwrap();
        drop(write(s, 0..1000, 100));
        // Clean reopen: everything from seq 300 on is pending.
        let (mut s, rec) = Spill::open(cfg(dir.path()), 300, 1000).unwrap();
        assert_eq!(
            (rec.pending_events, rec.damaged_blocks, rec.lost_events),
            (700, 0, 0)
        );
        assert!(s.is_replay(999) && !s.is_replay(1000));
        assert_eq!(read_all(&mut s, 300), (300..1000).collect::<Vec<_>>());
        drop(s);
        // Flip a payload byte of the block holding seqs 500..600 and damage the header of
        // the block holding 700..800.
        let mut found = Vec::new();
        for p in segments(dir.path()) {
            let bytes = std::fs::read(&p).unwrap();
            let mut off = 0;
            while off < bytes.len() {
                let h = BlockHeader::parse(&bytes[off..]).unwrap();
                found.push((p.clone(), off, h));
                off += h.disk_bytes() as usize;
            }
        }
        let flip = |seq: u64, at: usize| {
            let (p, off, _) = found.iter().find(|(_, _, h)| h.first_seq == seq).unwrap();
            let mut b = std::fs::read(p).unwrap();
            b[off + at] ^= 0x5a;
            std::fs::write(p, b).unwrap();
        };
        flip(500, BLOCK_HEADER_BYTES + 200);
        flip(700, 9);
        let (mut s, rec) = Spill::open(cfg(dir.path()), 300, 1000).unwrap();
        assert_eq!((rec.damaged_blocks, rec.lost_events), (1, 100));
        let got = read_all(&mut s, 300);
        let lost = s.corrupt_skipped();
        assert!(lost > 100, "lost {lost}");
        assert_eq!(
            got.len() as u64 + lost,
            700,
            "every event is read or counted"
        );
        assert!(got.iter().all(|q| !(700..800).contains(q)));
        assert!((300..500)
            .chain(600..700)
            .chain(800..1000)
            .all(|q| got.contains(&q)));
    }
}
