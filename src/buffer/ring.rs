//! A shard's ring of received events in a memory-mapped file: append at the write
//! position, send from the read position, free up to the acknowledged position.
//!
//! ```text
//! file: [header page: magic, capacity, write, ack, next seq][data: capacity bytes]
//! positions are logical byte offsets that only grow; data offset = position % capacity
//!   ack ≤ read ≤ write,  write − ack ≤ capacity
//! ```
//!
//! Guarantees:
//! - Order: frames are read in the order they were appended (across restarts too).
//! - A frame is in the file, and counted by the header's write position, when `append`
//!   returns: a process crash loses nothing appended (the page cache has it); a power loss
//!   keeps what the last [`Ring::sync`] covered.
//! - Space is freed only by [`Ring::set_ack`], which the shard calls only for events Kafka
//!   acknowledged, so an event is never lost to make room: [`Ring::append`] fails instead.
//! - Frames an earlier run wrote are verified (crc32 of header and payload) as they are read;
//!   damaged ones are skipped and counted, never fatal. Frames this process wrote are read
//!   back from its own page cache without re-checking their crcs (that doubled the ring's
//!   cost per event in `cargo bench --bench buffer`). A damaged header page moves
//!   the file aside and starts empty, with an error in the log, rather than crash-looping.
//! - One process per file: the file is `flock`ed for the ring's life.
//!
//! Single-threaded (owned by one shard); no allocation after `open`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, Ordering};

use memmap2::MmapMut;

use super::frame;
use super::frame::{Event, Frame, FrameError, ALIGN_BYTES, HEADER_BYTES};
use super::spill::Collected;
use crate::config::RING_BYTES_MIN;
use crate::event::ReceiveMeta;
use crate::event::RecordKind;
use crate::event::Transport;

/// Bytes of the header page at the start of the file.
const HEADER_PAGE_BYTES: usize = 4096;
/// File magic and layout version.
const RING_MAGIC: &[u8; 8] = b"LRRING01";
const CAPACITY_AT: usize = 8;
const WRITE_AT: usize = 16;
const ACK_AT: usize = 24;
const NEXT_SEQ_AT: usize = 32;
/// Every event with a smaller sequence number is acknowledged (ring or spill).
const ACKED_SEQ_AT: usize = 40;

/// Why a ring could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("{path}: {source} (the ring reserves its whole size on disk at start)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: another process holds this ring (is another linerate running on this data_dir?)"
    )]
    Locked { path: PathBuf },
    #[error("{path}: the ring holds {file} bytes but ring_bytes_max is {config}; set ring_bytes_max = {file} until it has drained, or move the file away")]
    Capacity {
        path: PathBuf,
        file: u64,
        config: u64,
    },
}

/// The ring is full: the event was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring full")]
pub struct Full;

/// What `open` found from an earlier run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Events written but not acknowledged: they will be sent again.
    pub pending_events: u64,
    /// Their bytes (frames).
    pub pending_bytes: u64,
    /// Damaged frames (or damaged regions) found among them, which will be skipped.
    pub corrupt_frames: u64,
    /// The header page was damaged: the old file was moved aside (see the log).
    pub moved_aside: bool,
}

/// The next event to send: where its frame is and whether an earlier run wrote it.
#[derive(Debug, Clone, Copy)]
pub struct Unsent<'a> {
    pub pos: u64,
    pub end: u64,
    pub event: Event<'a>,
    /// Written before this process opened the ring (a replay: maybe a duplicate).
    pub replayed: bool,
}

/// A shard's ring (see the module docs).
pub struct Ring {
    map: MmapMut,
    /// Held for the `flock`.
    _file: File,
    cap: u64,
    write: u64,
    read: u64,
    ack: u64,
    next_seq: u64,
    /// The write position at open: frames before it are replays.
    replay_end: u64,
    /// Damaged frames or regions skipped by the reader since open.
    corrupt_skipped: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RingError + '_ {
    move |source| RingError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Ring {
    /// Size on disk of a ring file of `capacity_bytes` (the header page and the data, as
    /// [`Ring::open`] rounds it): what a shard reserves at start.
    pub fn file_bytes(capacity_bytes: u64) -> u64 {
        HEADER_PAGE_BYTES as u64 + Self::data_bytes(capacity_bytes)
    }

    fn data_bytes(capacity_bytes: u64) -> u64 {
        capacity_bytes.max(RING_BYTES_MIN) / ALIGN_BYTES as u64 * ALIGN_BYTES as u64
    }

    /// Open (or create) the ring file at `path` with `capacity_bytes` of data (rounded down
    /// to a multiple of 8, at least [`RING_BYTES_MIN`]), and check what an earlier run left.
    pub fn open(path: &Path, capacity_bytes: u64) -> Result<(Ring, Recovery), RingError> {
        let cap = Self::data_bytes(capacity_bytes);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(path))?;
        }
        let mut recovery = Recovery::default();
        let file = open_locked(path)?;
        let len = file.metadata().map_err(io_err(path))?.len();
        let fresh = len == 0;
        if !fresh {
            let header = read_header(&file).map_err(io_err(path))?;
            match header {
                Some(h) if h.cap != cap => {
                    return Err(RingError::Capacity {
                        path: path.to_owned(),
                        file: h.cap,
                        config: cap,
                    })
                }
                Some(h) if len == HEADER_PAGE_BYTES as u64 + h.cap && h.consistent() => {}
                _ => {
                    drop(file);
                    let aside =
                        path.with_extension(format!("damaged-{}", crate::event::unix_micros_now()));
                    std::fs::rename(path, &aside).map_err(io_err(path))?;
                    tracing::error!(
                        ring = %path.display(),
                        moved_to = %aside.display(),
                        "ring header damaged: moved the file aside, starting empty"
                    );
                    recovery.moved_aside = true;
                    return Self::open(path, cap).map(|(r, _)| (r, recovery));
                }
            }
        }
        // Reserve every block now: a write fault into a hole on a full disk would be a
        // SIGBUS, so the ring's disk space is taken at start, where a full disk is a clear
        // error, never later.
        let total = (HEADER_PAGE_BYTES as u64 + cap) as libc::off_t;
        // SAFETY: posix_fallocate on a descriptor we own.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, total) };
        if rc != 0 {
            if fresh {
                let _ = std::fs::remove_file(path);
            }
            return Err(RingError::Io {
                path: path.to_owned(),
                source: std::io::Error::from_raw_os_error(rc),
            });
        }
        // SAFETY: the file is ours (flocked) and sized above; nothing else maps it.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(io_err(path))?;
        populate(&map, path);
        if fresh {
            map[..8].copy_from_slice(RING_MAGIC);
            map[CAPACITY_AT..CAPACITY_AT + 8].copy_from_slice(&cap.to_le_bytes());
            map.flush_range(0, HEADER_PAGE_BYTES)
                .map_err(io_err(path))?;
        }
        let write = get_u64(&map, WRITE_AT);
        let ack = get_u64(&map, ACK_AT);
        let next_seq = get_u64(&map, NEXT_SEQ_AT);
        let mut ring = Ring {
            map,
            _file: file,
            cap,
            write,
            read: ack,
            ack,
            next_seq,
            replay_end: write,
            corrupt_skipped: 0,
        };
        while let Some(u) = ring.next_unsent() {
            let end = u.end;
            recovery.pending_events += 1;
            recovery.pending_bytes += end - u.pos;
            ring.read = end;
        }
        recovery.corrupt_frames = ring.corrupt_skipped;
        ring.read = ring.ack;
        ring.corrupt_skipped = 0;
        Ok((ring, recovery))
    }

    /// Whether messages of `raw_lens` bytes, appended in this order right now, would all
    /// fit (the same arithmetic as [`Ring::append`], wrap padding included): a caller that
    /// appends them without yielding in between gets no `Full` for any of them.
    pub fn fits_all(&self, raw_lens: impl IntoIterator<Item = usize>) -> bool {
        let mut write = self.write;
        for raw_len in raw_lens {
            let need = frame::frame_len(raw_len) as u64;
            let room = self.cap - write % self.cap;
            let pad = if need > room { room } else { 0 };
            if need > self.cap || write + pad + need - self.ack > self.cap {
                return false;
            }
            write += pad + need;
        }
        true
    }

    /// Append one event. `Err(Full)` when its frame does not fit before the acknowledged
    /// position; nothing is written then.
    pub fn append(
        &mut self,
        meta: &ReceiveMeta,
        transport: Transport,
        truncated: bool,
        kind: RecordKind,
        raw: &[u8],
    ) -> Result<u64, Full> {
        self.append_tls(meta, transport, truncated, kind, &[], raw)
    }

    /// [`Ring::append`] of a message that came over TLS, with its session's block (see
    /// [`frame::write_event_tls`]; empty: none).
    pub fn append_tls(
        &mut self,
        meta: &ReceiveMeta,
        transport: Transport,
        truncated: bool,
        kind: RecordKind,
        tls: &[u8],
        raw: &[u8],
    ) -> Result<u64, Full> {
        let tls = &tls[..tls.len().min(frame::TLS_BLOCK_BYTES_MAX)];
        let need = frame::frame_len_tls(raw.len(), tls.len()) as u64;
        let room = self.cap - self.write % self.cap;
        let pad = if need > room { room } else { 0 };
        if need > self.cap || self.write + pad + need - self.ack > self.cap {
            return Err(Full);
        }
        if pad > 0 {
            if room >= HEADER_BYTES as u64 {
                let at = self.data_offset(self.write);
                frame::write_wrap(&mut self.map[at..at + HEADER_BYTES]);
            }
            self.write += pad;
        }
        let at = self.data_offset(self.write);
        let seq = self.next_seq;
        frame::write_event_tls(
            &mut self.map[at..at + need as usize],
            seq,
            meta,
            transport,
            truncated,
            kind,
            tls,
            raw,
        );
        // The frame's bytes are stored before the header page counts them.
        compiler_fence(Ordering::Release);
        self.write += need;
        self.next_seq += 1;
        set_u64(&mut self.map, WRITE_AT, self.write);
        set_u64(&mut self.map, NEXT_SEQ_AT, self.next_seq);
        Ok(seq)
    }

    /// The next event after the read position, skipping (and counting) damaged frames.
    /// Does not move the read position past the event: call [`Ring::advance_read`].
    pub fn next_unsent(&mut self) -> Option<Unsent<'_>> {
        loop {
            if self.read >= self.write {
                return None;
            }
            match self.classify(self.read, self.read < self.replay_end) {
                Class::Event(len) => break Some(len),
                Class::Skip(n) => self.read += n,
                Class::Corrupt(Some(len)) => {
                    self.corrupt_skipped += 1;
                    self.read += len;
                }
                Class::Corrupt(None) => {
                    self.corrupt_skipped += 1;
                    self.read = self.resync(self.read + ALIGN_BYTES as u64);
                }
            }
        }
        .map(|len| {
            let pos = self.read;
            let at = self.data_offset(pos);
            let event = match frame::decode_checked(&self.map[at..at + len as usize], false) {
                Ok(Frame::Event(e, _)) => e,
                // classify() just decoded this frame.
                _ => unreachable!("a classified frame no longer decodes"),
            };
            Unsent {
                pos,
                end: pos + len,
                event,
                replayed: pos < self.replay_end,
            }
        })
    }

    /// The event whose frame starts at `pos` (between ack and write), for a resend.
    pub fn event_at(&self, pos: u64) -> Option<Event<'_>> {
        if pos < self.ack || pos >= self.write {
            return None;
        }
        let at = self.data_offset(pos);
        let avail = (self.cap - pos % self.cap).min(self.write - pos) as usize;
        match frame::decode(&self.map[at..at + avail]) {
            Ok(Frame::Event(e, _)) => Some(e),
            _ => None,
        }
    }

    /// Copy frames from the oldest unacknowledged one on into `out` (cleared first), up to
    /// `bytes_max` bytes (at least one frame), for the spill. Damaged frames are skipped
    /// (counted unless the sender already counted them). `None` when the ring is empty.
    pub fn collect_oldest(&mut self, out: &mut Vec<u8>, bytes_max: usize) -> Option<Collected> {
        out.clear();
        let mut pos = self.ack;
        let mut c: Option<Collected> = None;
        while pos < self.write {
            let len = match self.classify(pos, pos < self.replay_end) {
                Class::Event(len) => len,
                Class::Skip(n) => {
                    pos += n;
                    continue;
                }
                Class::Corrupt(len) => {
                    if pos >= self.read {
                        self.corrupt_skipped += 1;
                    }
                    pos = match len {
                        Some(len) => pos + len,
                        None => self.resync(pos + ALIGN_BYTES as u64),
                    };
                    continue;
                }
            };
            if c.is_some() && out.len() + len as usize > bytes_max {
                break;
            }
            let at = self.data_offset(pos);
            let bytes = &self.map[at..at + len as usize];
            let seq = get_u64(bytes, 8);
            out.extend_from_slice(bytes);
            pos += len;
            let e = c.get_or_insert(Collected {
                count: 0,
                first_seq: seq,
                last_seq: seq,
                ring_end: pos,
            });
            e.count += 1;
            e.last_seq = seq;
            e.ring_end = pos;
        }
        c
    }

    /// Free everything before `pos` because it is safe elsewhere (written to the spill):
    /// the acknowledged position moves there, and so does the read position if behind.
    pub fn release(&mut self, pos: u64) {
        let pos = pos.clamp(self.ack, self.write);
        self.read = self.read.max(pos);
        if pos != self.ack {
            self.ack = pos;
            set_u64(&mut self.map, ACK_AT, pos);
        }
    }

    /// Record that every event with a smaller sequence number is acknowledged (stored in
    /// the header page, for the spill's replay after a restart).
    pub fn set_acked_seq(&mut self, seq: u64) {
        set_u64(&mut self.map, ACKED_SEQ_AT, seq);
    }

    /// What [`Ring::set_acked_seq`] last stored.
    pub fn acked_seq(&self) -> u64 {
        get_u64(&self.map, ACKED_SEQ_AT)
    }

    /// The sequence number the next appended event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Mark everything before `end` as handed to the sender.
    pub fn advance_read(&mut self, end: u64) {
        debug_assert!(end <= self.write);
        self.read = end.min(self.write);
    }

    /// Free everything before `pos` (acknowledged by Kafka, or skipped as damaged).
    pub fn set_ack(&mut self, pos: u64) {
        let pos = pos.clamp(self.ack, self.read);
        if pos != self.ack {
            self.ack = pos;
            set_u64(&mut self.map, ACK_AT, pos);
        }
    }

    /// Write dirty pages to disk and wait (msync): what this covers survives a power loss.
    pub fn sync(&self) -> std::io::Result<()> {
        self.map.flush()
    }

    /// Bytes between the acknowledged and the write position.
    pub fn used_bytes(&self) -> u64 {
        self.write - self.ack
    }

    /// Data capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.cap
    }

    /// Read position: frames before it were handed to the sender (or skipped).
    pub fn read_pos(&self) -> u64 {
        self.read
    }

    /// Everything appended has been acknowledged.
    pub fn is_drained(&self) -> bool {
        self.ack == self.write
    }

    /// Damaged frames or regions the reader has skipped since open.
    pub fn corrupt_skipped(&self) -> u64 {
        self.corrupt_skipped
    }

    fn data_offset(&self, pos: u64) -> usize {
        HEADER_PAGE_BYTES + (pos % self.cap) as usize
    }

    /// What the bytes at `pos` (< write) are; crcs checked when `verify`.
    fn classify(&self, pos: u64, verify: bool) -> Class {
        let room = self.cap - pos % self.cap;
        if room < HEADER_BYTES as u64 {
            return Class::Skip(room);
        }
        let avail = room.min(self.write - pos) as usize;
        let at = self.data_offset(pos);
        match frame::decode_checked(&self.map[at..at + avail], verify) {
            Ok(Frame::Wrap) => Class::Skip(room),
            Ok(Frame::Event(_, len)) => Class::Event(len as u64),
            Err(FrameError::Payload { len }) => Class::Corrupt(Some(len as u64)),
            Err(FrameError::Header) => Class::Corrupt(None),
        }
    }

    /// The first position at or after `from` (8-aligned) holding a sound frame or wrap
    /// marker, else the write position.
    fn resync(&self, mut pos: u64) -> u64 {
        while pos < self.write {
            match self.classify(pos, true) {
                Class::Event(_) => return pos,
                Class::Skip(n) if n == self.cap - pos % self.cap => {
                    // Either a wrap marker or the tail too short for a header: both end at
                    // the boundary, where the next frame starts.
                    return pos;
                }
                _ => pos += ALIGN_BYTES as u64,
            }
        }
        self.write
    }
}

enum Class {
    /// A sound event frame of this length.
    Event(u64),
    /// Padding to the end of the data area.
    Skip(u64),
    /// Damaged; the length when the header could still be trusted.
    Corrupt(Option<u64>),
}

struct HeaderPage {
    cap: u64,
    write: u64,
    ack: u64,
}

impl HeaderPage {
    fn consistent(&self) -> bool {
        self.cap >= RING_BYTES_MIN
            && self.cap.is_multiple_of(ALIGN_BYTES as u64)
            && self.ack <= self.write
            && self.write - self.ack <= self.cap
    }
}

fn read_header(file: &File) -> std::io::Result<Option<HeaderPage>> {
    use std::os::unix::fs::FileExt;
    let mut page = [0u8; 40];
    if file.read_exact_at(&mut page, 0).is_err() {
        return Ok(None);
    }
    if &page[..8] != RING_MAGIC {
        return Ok(None);
    }
    Ok(Some(HeaderPage {
        cap: get_u64(&page, CAPACITY_AT),
        write: get_u64(&page, WRITE_AT),
        ack: get_u64(&page, ACK_AT),
    }))
}

/// Fault every page of the ring in, writable, now: otherwise each event on the ring's first
/// lap pays a page fault that zeroes (fresh, fallocated) or reads (restart) its page, which a
/// `perf record` of the peer benchmark put at 28% of the appliance's CPU. After one lap the
/// whole ring is resident anyway, so this moves that cost to start-up without adding memory.
/// Kernels before 5.14 lack MADV_POPULATE_WRITE: the ring then works as before (logged).
fn populate(map: &MmapMut, path: &Path) {
    let started = std::time::Instant::now();
    match map.advise(memmap2::Advice::PopulateWrite) {
        Ok(()) => tracing::debug!(
            ring = %path.display(),
            bytes = map.len(),
            ms = started.elapsed().as_millis() as u64,
            "ring pages populated"
        ),
        Err(e) => tracing::info!(
            ring = %path.display(),
            error = %e,
            "ring pages not populated at open (MADV_POPULATE_WRITE): first-lap page faults"
        ),
    }
}

fn open_locked(path: &Path) -> Result<File, RingError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(path))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(RingError::Locked {
            path: path.to_owned(),
        });
    }
    Ok(file)
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: i64) -> ReceiveMeta {
        ReceiveMeta {
            received_unix_micros: n,
            peer: Some("10.0.0.1:514".parse().unwrap()),
        }
    }

    fn msg(i: u64) -> Vec<u8> {
        format!("<13>message number {i} {}", "x".repeat((i % 50) as usize)).into_bytes()
    }

    /// Send and acknowledge everything unsent; returns the raw messages in order.
    fn drain(r: &mut Ring) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(u) = r.next_unsent() {
            out.push(u.event.raw.to_vec());
            let end = u.end;
            r.advance_read(end);
        }
        let read = r.read_pos();
        r.set_ack(read);
        out
    }

    #[test]
    fn wraps_many_times_keeping_order_and_refuses_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, rec) = Ring::open(&dir.path().join("s0.ring"), RING_BYTES_MIN).unwrap();
        assert_eq!(rec, Recovery::default());
        let mut next = 0u64;
        let mut expect = 0u64;
        for _round in 0..50 {
            // Fill until full.
            while let Ok(seq) = r.append(
                &meta(next as i64),
                Transport::Tcp,
                false,
                RecordKind::Syslog,
                &msg(next),
            ) {
                assert_eq!(seq, next);
                next += 1;
            }
            assert!(r.used_bytes() <= r.capacity_bytes());
            assert!(r.used_bytes() > r.capacity_bytes() - 200);
            for m in drain(&mut r) {
                assert_eq!(m, msg(expect));
                expect += 1;
            }
            assert!(r.is_drained());
        }
        assert_eq!(expect, next);
        assert_eq!(r.corrupt_skipped(), 0);
    }

    #[test]
    fn reopen_replays_unacknowledged_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s0.ring");
        {
            let (mut r, _) = Ring::open(&path, RING_BYTES_MIN).unwrap();
            for i in 0..100 {
                r.append(
                    &meta(i),
                    Transport::Udp,
                    i % 2 == 0,
                    RecordKind::Syslog,
                    &msg(i as u64),
                )
                .unwrap();
            }
            // Send 60, acknowledge 40.
            for _ in 0..60 {
                let end = r.next_unsent().unwrap().end;
                r.advance_read(end);
            }
            // Acknowledge up to the start of the 41st frame.
            let mut pos = 0;
            for _ in 0..40 {
                pos = frame_end(&r, pos);
            }
            r.set_ack(pos);
        }
        let (mut r, rec) = Ring::open(&path, RING_BYTES_MIN).unwrap();
        assert_eq!((rec.pending_events, rec.corrupt_frames), (60, 0));
        let first = r.next_unsent().unwrap();
        assert!(first.replayed);
        assert_eq!(first.event.seq, 40);
        assert_eq!(first.event.meta, meta(40));
        assert_eq!(
            (first.event.transport, first.event.truncated),
            (Transport::Udp, true)
        );
        let got = drain(&mut r);
        assert_eq!(got.len(), 60);
        assert_eq!(got[59], msg(99));
        // Sequence numbers go on from where they were.
        assert_eq!(
            r.append(&meta(0), Transport::Tcp, false, RecordKind::Syslog, b"x")
                .unwrap(),
            100
        );
    }

    fn frame_end(r: &Ring, pos: u64) -> u64 {
        match r.classify(pos, true) {
            Class::Event(len) => pos + len,
            _ => panic!("no frame at {pos}"),
        }
    }

    #[test]
    fn damaged_frames_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s0.ring");
        let mut starts = Vec::new();
        {
            let (mut r, _) = Ring::open(&path, RING_BYTES_MIN).unwrap();
            let mut pos = 0;
            for i in 0..20 {
                r.append(
                    &meta(i),
                    Transport::Tcp,
                    false,
                    RecordKind::Syslog,
                    &msg(i as u64),
                )
                .unwrap();
                starts.push(pos);
                pos = frame_end(&r, pos);
            }
        }
        // Flip a payload byte of frame 3 and a header byte (the length) of frame 10.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_PAGE_BYTES + starts[3] as usize + HEADER_BYTES + 40] ^= 0xff;
        bytes[HEADER_PAGE_BYTES + starts[10] as usize + 5] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let (mut r, rec) = Ring::open(&path, RING_BYTES_MIN).unwrap();
        assert_eq!((rec.pending_events, rec.corrupt_frames), (18, 2));
        let got = drain(&mut r);
        let want: Vec<_> = (0..20u64)
            .filter(|i| *i != 3 && *i != 10)
            .map(msg)
            .collect();
        assert_eq!(got, want);
        assert_eq!(r.corrupt_skipped(), 2);
        assert!(r.is_drained());
    }

    #[test]
    fn collect_oldest_and_release_hand_frames_to_the_spill() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, _) = Ring::open(&dir.path().join("s0.ring"), RING_BYTES_MIN).unwrap();
        for i in 0..100 {
            r.append(
                &meta(i),
                Transport::Tcp,
                false,
                RecordKind::Syslog,
                &msg(i as u64),
            )
            .unwrap();
        }
        // Ten are in flight; the spill takes the oldest frames, in flight or not.
        for _ in 0..10 {
            let end = r.next_unsent().unwrap().end;
            r.advance_read(end);
        }
        let mut out = Vec::new();
        let c = r.collect_oldest(&mut out, 2000).unwrap();
        assert_eq!((c.first_seq, c.last_seq), (0, u64::from(c.count) - 1));
        assert!(c.count > 10 && out.len() <= 2000, "{c:?}");
        let used = r.used_bytes();
        r.release(c.ring_end);
        assert_eq!(r.used_bytes(), used - out.len() as u64);
        // The sender goes on after what was released.
        assert_eq!(r.next_unsent().unwrap().event.seq, c.last_seq + 1);
        // A frame bigger than bytes_max is still taken alone.
        let c2 = r.collect_oldest(&mut out, 1).unwrap();
        assert_eq!((c2.count, c2.first_seq), (1, c.last_seq + 1));
        r.set_acked_seq(42);
        assert_eq!(r.acked_seq(), 42);
    }

    #[test]
    fn capacity_mismatch_and_second_opener_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s0.ring");
        let (r, _) = Ring::open(&path, RING_BYTES_MIN).unwrap();
        assert!(matches!(
            Ring::open(&path, RING_BYTES_MIN),
            Err(RingError::Locked { .. })
        ));
        drop(r);
        let e = Ring::open(&path, RING_BYTES_MIN * 2).err().unwrap();
        assert!(e.to_string().contains("ring_bytes_max"), "{e}");
    }

    #[test]
    fn damaged_header_page_moves_the_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s0.ring");
        drop(Ring::open(&path, RING_BYTES_MIN).unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] = b'X';
        std::fs::write(&path, &bytes).unwrap();
        let (r, rec) = Ring::open(&path, RING_BYTES_MIN).unwrap();
        assert!(rec.moved_aside);
        assert!(r.is_drained());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("damaged")
            })
            .count();
        assert_eq!(aside, 1);
    }

    #[test]
    fn fits_all_predicts_append_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, _) = Ring::open(&dir.path().join("r"), RING_BYTES_MIN).unwrap();
        let lens = [3000usize, 17, 9000, 1, 4096];
        let mut i = 0u64;
        loop {
            let batch: Vec<usize> = lens.iter().map(|l| l + (i as usize % 7)).collect();
            let fits = r.fits_all(batch.iter().copied());
            let before = r.next_seq();
            let mut ok = 0;
            for l in &batch {
                if r.append(
                    &meta(0),
                    Transport::Tcp,
                    false,
                    RecordKind::Cloudtrail,
                    &vec![b'x'; *l],
                )
                .is_ok()
                {
                    ok += 1;
                }
            }
            if fits {
                assert_eq!(ok, batch.len(), "fits_all said yes");
            } else {
                assert!(ok < batch.len(), "fits_all said no at seq {before}");
                break;
            }
            i += 1;
        }
    }
}
