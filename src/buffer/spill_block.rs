//! The on-disk block of a spill segment: ring frames moved out of the ring together,
//! zstd-compressed, checksummed, padded to the O_DIRECT alignment.
//!
//! ```text
//! header (48 bytes, little-endian), at a multiple of BLOCK_ALIGN_BYTES in its segment:
//!   0  magic       u32   BLOCK_MAGIC ("LRSB")
//!   4  count       u32   events in the block
//!   8  first_seq   u64   sequence number of the first event
//!   16 last_seq    u64   of the last one
//!   24 raw_len     u32   bytes of the frames before compression
//!   28 zlen        u32   bytes of the compressed payload after the header
//!   32 payload_crc u32   crc32 of the compressed payload
//!   36 reserved    u32   0
//!   40 header_crc  u32   crc32 of bytes 0..40
//! payload: zstd frame of the ring frames exactly as the ring held them (each with its own
//! crc32), then zeros up to the next multiple of BLOCK_ALIGN_BYTES.
//! ```
//!
//! Two levels of checks: the block crc says whether the block is intact; when it is not, the
//! payload is still decompressed if zstd can, and the frames whose own crcs hold are kept,
//! so one flipped byte costs the events it touched, not necessarily the whole block.

use super::frame::{self, u32_at, u64_at, Event, Frame, FrameError, ALIGN_BYTES};

/// Blocks start (and end) at multiples of this: the O_DIRECT alignment of common disks.
pub const BLOCK_ALIGN_BYTES: usize = 4096;
/// Bytes of a block header.
pub const BLOCK_HEADER_BYTES: usize = 48;
/// Block magic ("LRSB").
const BLOCK_MAGIC: u32 = 0x4253_524c;

/// The header of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub count: u32,
    pub first_seq: u64,
    pub last_seq: u64,
    pub raw_len: u32,
    pub zlen: u32,
    pub payload_crc: u32,
}

impl BlockHeader {
    /// Bytes the block takes in its segment (header, payload, padding).
    pub fn disk_bytes(&self) -> u64 {
        (BLOCK_HEADER_BYTES + self.zlen as usize).next_multiple_of(BLOCK_ALIGN_BYTES) as u64
    }

    /// Parse a header; `None` when the magic or its crc is wrong (the header cannot be trusted).
    pub fn parse(b: &[u8]) -> Option<BlockHeader> {
        let h = b.get(..BLOCK_HEADER_BYTES)?;
        if u32_at(h, 0) != BLOCK_MAGIC || crc32fast::hash(&h[..40]) != u32_at(h, 40) {
            return None;
        }
        let hdr = BlockHeader {
            count: u32_at(h, 4),
            first_seq: u64_at(h, 8),
            last_seq: u64_at(h, 16),
            raw_len: u32_at(h, 24),
            zlen: u32_at(h, 28),
            payload_crc: u32_at(h, 32),
        };
        (hdr.count > 0 && hdr.first_seq <= hdr.last_seq).then_some(hdr)
    }

    fn write(&self, h: &mut [u8]) {
        h[..BLOCK_HEADER_BYTES].fill(0);
        h[0..4].copy_from_slice(&BLOCK_MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&self.count.to_le_bytes());
        h[8..16].copy_from_slice(&self.first_seq.to_le_bytes());
        h[16..24].copy_from_slice(&self.last_seq.to_le_bytes());
        h[24..28].copy_from_slice(&self.raw_len.to_le_bytes());
        h[28..32].copy_from_slice(&self.zlen.to_le_bytes());
        h[32..36].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..40]);
        h[40..44].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Bytes a block of `raw_len` bytes of frames may take at most (the buffer to encode into).
pub fn encoded_bytes_max(raw_len: usize) -> usize {
    (BLOCK_HEADER_BYTES + zstd::zstd_safe::compress_bound(raw_len))
        .next_multiple_of(BLOCK_ALIGN_BYTES)
}

/// Why a block could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("zstd compression failed: {0}")]
pub struct EncodeError(#[from] std::io::Error);

/// Compress `frames` (`count` ring frames, sequence numbers `first_seq..=last_seq`) into
/// `out` (at least [`encoded_bytes_max`] bytes) as one block; returns its header (its
/// length on disk is [`BlockHeader::disk_bytes`]). The padding is zeroed.
pub fn encode(
    frames: &[u8],
    count: u32,
    first_seq: u64,
    last_seq: u64,
    compressor: &mut zstd::bulk::Compressor<'_>,
    out: &mut [u8],
) -> Result<BlockHeader, EncodeError> {
    let (head, body) = out.split_at_mut(BLOCK_HEADER_BYTES);
    let zlen = compressor.compress_to_buffer(frames, body)?;
    let hdr = BlockHeader {
        count,
        first_seq,
        last_seq,
        raw_len: frames.len() as u32,
        zlen: zlen as u32,
        payload_crc: crc32fast::hash(&body[..zlen]),
    };
    hdr.write(head);
    let end = hdr.disk_bytes() as usize;
    out[BLOCK_HEADER_BYTES + zlen..end].fill(0);
    Ok(hdr)
}

/// What reading a block's payload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The block crc holds: `out` has every frame.
    Intact,
    /// The block crc failed; `out` holds what zstd could still decompress (maybe nothing),
    /// to be filtered by the frames' own crcs.
    Damaged,
}

/// Decompress the payload `z` of the block `hdr` into `out` (cleared first).
pub fn decode_payload(
    hdr: &BlockHeader,
    z: &[u8],
    decompressor: &mut zstd::bulk::Decompressor<'_>,
    out: &mut Vec<u8>,
) -> Payload {
    out.clear();
    let z = &z[..(hdr.zlen as usize).min(z.len())];
    let intact = z.len() == hdr.zlen as usize && crc32fast::hash(z) == hdr.payload_crc;
    out.reserve(hdr.raw_len as usize);
    let ok = decompressor
        .decompress_to_buffer(z, out)
        .is_ok_and(|n| n == hdr.raw_len as usize);
    match (intact, ok) {
        (true, true) => Payload::Intact,
        (true, false) => {
            out.clear();
            Payload::Damaged
        }
        (false, _) => Payload::Damaged,
    }
}

/// The next sound frame at or after `pos` in decompressed block bytes, skipping damaged
/// ones: `(event, its end)`, plus how many damaged frames were skipped on the way.
/// Frames are verified only when `verify` (a block whose crc failed).
pub fn next_frame(raw: &[u8], mut pos: usize, verify: bool) -> (Option<(Event<'_>, usize)>, u64) {
    let mut damaged = 0;
    while pos < raw.len() {
        match frame::decode_checked(&raw[pos..], verify) {
            Ok(Frame::Event(e, len)) => return (Some((e, pos + len)), damaged),
            Ok(Frame::Wrap) => pos += frame::HEADER_BYTES.next_multiple_of(ALIGN_BYTES),
            Err(FrameError::Payload { len }) => {
                damaged += 1;
                pos += len;
            }
            Err(FrameError::Header) => {
                // Resynchronise on the next 8-aligned sound header; the damaged run counts once.
                damaged += 1;
                pos += ALIGN_BYTES;
                while pos < raw.len()
                    && !matches!(
                        frame::decode_checked(&raw[pos..], true),
                        Ok(Frame::Event(..)) | Err(FrameError::Payload { .. })
                    )
                {
                    pos += ALIGN_BYTES;
                }
            }
        }
    }
    (None, damaged)
}

#[cfg(test)]
pub(crate) fn test_frames(first: u64, n: u64) -> Vec<u8> {
    use crate::event::ReceiveMeta;
    use crate::event::Transport;
    let mut out = Vec::new();
    for seq in first..first + n {
        let raw = format!(
            "<13>Jan  8 10:00:00 host app: event {seq} {}",
            "y".repeat(40)
        );
        let len = frame::frame_len(raw.len());
        let at = out.len();
        out.resize(at + len, 0);
        let meta = ReceiveMeta {
            received_unix_micros: seq as i64,
            peer: None,
        };
        frame::write_event(
            &mut out[at..],
            seq,
            &meta,
            Transport::Tcp,
            false,
            crate::event::RecordKind::Syslog,
            raw.as_bytes(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(first: u64, n: u64) -> Vec<u8> {
        test_frames(first, n)
    }

    fn seqs(raw: &[u8], verify: bool) -> (Vec<u64>, u64) {
        let (mut pos, mut got, mut bad) = (0, Vec::new(), 0);
        loop {
            let (f, d) = next_frame(raw, pos, verify);
            bad += d;
            match f {
                Some((e, end)) => {
                    got.push(e.seq);
                    pos = end;
                }
                None => return (got, bad),
            }
        }
    }

    #[test]
    fn round_trip_is_aligned_and_intact() {
        let f = frames(100, 50);
        let mut out = vec![0xAAu8; encoded_bytes_max(f.len())];
        let mut c = zstd::bulk::Compressor::new(1).unwrap();
        let h = encode(&f, 50, 100, 149, &mut c, &mut out).unwrap();
        assert_eq!(h.disk_bytes() % BLOCK_ALIGN_BYTES as u64, 0);
        assert!(
            h.zlen < f.len() as u32 / 2,
            "compresses: {} of {}",
            h.zlen,
            f.len()
        );
        assert!(
            out[BLOCK_HEADER_BYTES + h.zlen as usize..h.disk_bytes() as usize]
                .iter()
                .all(|b| *b == 0)
        );
        assert_eq!(BlockHeader::parse(&out), Some(h));
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        let mut raw = Vec::new();
        assert_eq!(
            decode_payload(&h, &out[BLOCK_HEADER_BYTES..], &mut d, &mut raw),
            Payload::Intact
        );
        assert_eq!(raw, f);
        assert_eq!(seqs(&raw, false), ((100..150).collect(), 0));
    }

    #[test]
    fn damage_is_detected_and_sound_frames_are_kept() {
        let f = frames(0, 200);
        let mut out = vec![0u8; encoded_bytes_max(f.len())];
        let mut c = zstd::bulk::Compressor::new(1).unwrap();
        let h = encode(&f, 200, 0, 199, &mut c, &mut out).unwrap();
        // A damaged header is never trusted.
        let mut bad = out.clone();
        bad[9] ^= 1;
        assert_eq!(BlockHeader::parse(&bad), None);
        // Every flipped payload byte is detected; what is kept passes the frames' crcs.
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        for at in (0..h.zlen as usize).step_by(97) {
            let mut bad = out.clone();
            bad[BLOCK_HEADER_BYTES + at] ^= 0x10;
            let mut raw = Vec::new();
            let p = decode_payload(&h, &bad[BLOCK_HEADER_BYTES..], &mut d, &mut raw);
            assert_eq!(p, Payload::Damaged, "flip at {at}");
            let (got, _) = seqs(&raw, true);
            assert!(got.windows(2).all(|w| w[0] < w[1]));
            assert!(got.iter().all(|s| *s < 200));
        }
    }
}
