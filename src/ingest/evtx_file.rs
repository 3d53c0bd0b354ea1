//! One EVTX file read the way a directory poll needs it: a file Windows may still be writing,
//! looked at chunk by chunk. A chunk's header says which record IDs it holds, so only the
//! chunks with records past a position are parsed (by the `evtx` crate, with the settings
//! `linerate import` uses, so each record renders to the same XML).
//!
//! Only whole chunks are read: a chunk still being copied in is not there yet.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use evtx::{EvtxChunkData, ParserSettings};

/// Bytes of an EVTX file header (chunks start after it).
pub const FILE_HEADER_BYTES: u64 = 4096;
/// Bytes of one EVTX chunk.
pub const CHUNK_BYTES: u64 = 65536;
/// Bytes of a chunk header this module reads: magic and the record numbers and IDs.
const CHUNK_HEAD_BYTES: usize = 40;

const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";
const CHUNK_MAGIC: &[u8; 8] = b"ElfChnk\0";

/// What a file is now: its identity and how far it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i64,
}

impl FileStat {
    /// The stat of an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let m = file.metadata()?;
        Ok(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }

    /// Whole chunks the file holds.
    pub fn chunks(&self) -> u64 {
        self.len.saturating_sub(FILE_HEADER_BYTES) / CHUNK_BYTES
    }
}

/// What the header of one chunk says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkHead {
    /// All zero: not written yet (Windows preallocates chunks).
    Empty,
    /// Not a chunk header (bad magic) but not empty, and records inside: a damaged chunk
    /// the crate cannot read.
    Corrupt,
    /// Neither a chunk header nor any record, but not all zero: space the log never wrote
    /// a chunk into, with leftover bytes (see [`crate::import::evtx::is_unused_chunk_slot`]).
    /// The crate reports it as a chunk error too; nothing is lost, so it is not counted.
    Unused,
    /// A chunk of the records `first_id..=last_id`.
    Records { first_id: u64, last_id: u64 },
}

/// Whether `file` starts with an EVTX file header.
pub fn is_evtx(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    match file.read_exact_at(&mut magic, 0) {
        Ok(()) => Ok(&magic == FILE_MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The header of chunk `index` (which must be whole). Reads the whole chunk only when its
/// magic is missing, to tell an empty chunk from a damaged one as the `evtx` crate does.
pub fn chunk_head(file: &File, index: u64) -> io::Result<ChunkHead> {
    let offset = FILE_HEADER_BYTES + index * CHUNK_BYTES;
    let mut head = [0u8; CHUNK_HEAD_BYTES];
    file.read_exact_at(&mut head, offset)?;
    if &head[..8] == CHUNK_MAGIC {
        let id = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(b)
        };
        return Ok(ChunkHead::Records {
            first_id: id(24),
            last_id: id(32),
        });
    }
    let data = read_chunk(file, index)?;
    Ok(if data.iter().all(|&b| b == 0) {
        ChunkHead::Empty
    } else if crate::import::evtx::is_unused_chunk_slot(&data) {
        ChunkHead::Unused
    } else {
        ChunkHead::Corrupt
    })
}

/// The bytes of chunk `index`.
pub fn read_chunk(file: &File, index: u64) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; CHUNK_BYTES as usize];
    file.read_exact_at(&mut data, FILE_HEADER_BYTES + index * CHUNK_BYTES)?;
    Ok(data)
}

/// The crate's settings for rendering records: those of `EvtxParser`'s default, as
/// `linerate import evtx` uses.
pub fn parser_settings() -> Arc<ParserSettings> {
    Arc::new(ParserSettings::default())
}

/// Check a chunk's bytes as the crate does before parsing (magic, header).
pub fn chunk_data(data: Vec<u8>) -> Result<EvtxChunkData, String> {
    EvtxChunkData::new(data, false).map_err(|e| crate::import::evtx::error_chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> File {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/samples/evtx")
            .join(name);
        File::open(p).unwrap()
    }

    #[test]
    fn chunk_heads_of_a_damaged_file() {
        let f = testdata("sample_with_a_bad_chunk_magic.evtx");
        assert!(is_evtx(&f).unwrap());
        let stat = FileStat::of(&f).unwrap();
        assert_eq!(stat.chunks(), 16);
        let heads: Vec<ChunkHead> = (0..16).map(|i| chunk_head(&f, i).unwrap()).collect();
        assert_eq!(
            heads[0],
            ChunkHead::Records {
                first_id: 46728,
                last_id: 46857
            }
        );
        assert_eq!(heads[1], ChunkHead::Empty);
        assert_eq!(heads[6], ChunkHead::Corrupt);
        assert_eq!(heads[10], ChunkHead::Corrupt);
        let corrupt = heads.iter().filter(|h| **h == ChunkHead::Corrupt).count();
        assert_eq!(corrupt, 2);
        assert!(chunk_data(read_chunk(&f, 6).unwrap()).is_err());
        assert!(chunk_data(read_chunk(&f, 0).unwrap()).is_ok());
    }

    #[test]
    fn chunk_slots_past_a_dirty_header_with_leftover_bytes_are_unused_not_corrupt() {
        // sysmon.evtx: the header (dirty) counts 1 chunk; chunks 0-8 hold records 1742-2099;
        // slots 9-16 hold leftover bytes, no chunk header and no record. The crate reports
        // each of those 8 as a chunk error; they lose nothing.
        let f = testdata("sysmon.evtx");
        let stat = FileStat::of(&f).unwrap();
        assert_eq!(stat.chunks(), 17);
        let heads: Vec<ChunkHead> = (0..17).map(|i| chunk_head(&f, i).unwrap()).collect();
        assert!(heads[..9]
            .iter()
            .all(|h| matches!(h, ChunkHead::Records { .. })));
        assert_eq!(
            heads[8],
            ChunkHead::Records {
                first_id: 2078,
                last_id: 2099
            }
        );
        assert!(
            heads[9..].iter().all(|h| *h == ChunkHead::Unused),
            "{heads:?}"
        );
        for i in 9..17 {
            let data = read_chunk(&f, i).unwrap();
            assert!(data.iter().any(|&b| b != 0), "slot {i} is not empty");
            assert!(chunk_data(data).is_err(), "the crate refuses slot {i}");
        }
        // A damaged chunk still holds records: counted as corrupt.
        let damaged = testdata("sample_with_a_bad_chunk_magic.evtx");
        let data = read_chunk(&damaged, 6).unwrap();
        assert!(!crate::import::evtx::is_unused_chunk_slot(&data));
    }

    #[test]
    fn a_file_that_is_not_evtx() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.evtx");
        std::fs::write(&p, b"ElfF").unwrap();
        let f = File::open(&p).unwrap();
        assert!(!is_evtx(&f).unwrap());
        assert_eq!(FileStat::of(&f).unwrap().chunks(), 0);
    }
}
