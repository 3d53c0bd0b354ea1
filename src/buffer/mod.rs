//! The durable per-shard buffer between the parser's input and the Kafka producer: a ring
//! of received events in a memory-mapped file ([`ring`]), framed with crc32s ([`frame`]),
//! freed only as Kafka acknowledges them ([`acks`]); above its high watermark the oldest
//! events move to compressed segment files ([`spill`], [`spill_block`]).

pub mod acks;
pub mod frame;
pub mod ring;
pub mod spill;
pub mod spill_block;

use crate::config::{BufferConfig, FsyncPolicy};
use ring::{Ring, RingError};
use spill::{Spill, SpillConfig, SpillError};

/// A shard's opened buffer: its ring and, when spilling is on, its spill.
pub struct ShardBuffer {
    pub ring: Ring,
    pub spill: Option<Spill>,
}

/// Why a shard's buffer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error(transparent)]
    Spill(#[from] SpillError),
}

/// Shard `shard`'s ring file under `data_dir`.
pub fn ring_path(data_dir: &std::path::Path, shard: usize) -> std::path::PathBuf {
    data_dir.join(format!("shard-{shard}.ring"))
}

/// Open shard `shard`'s ring (`data_dir/shard-N.ring`) and spill (`data_dir/shard-N.spill/`),
/// check both, and log what an earlier run left to replay and what was damaged.
pub fn open_shard(cfg: &BufferConfig, shard: usize) -> Result<ShardBuffer, OpenError> {
    let ring_path = ring_path(&cfg.data_dir, shard);
    let (mut ring, recovery) = Ring::open(&ring_path, cfg.ring_bytes_max)?;
    if recovery.pending_events > 0 || recovery.corrupt_frames > 0 {
        tracing::warn!(
            shard,
            ring = %ring_path.display(),
            events = recovery.pending_events,
            bytes = recovery.pending_bytes,
            damaged_frames = recovery.corrupt_frames,
            "replaying events an earlier run received but Kafka had not acknowledged \
             (at-least-once: some may be duplicates; damaged frames are skipped and counted)"
        );
    }
    let spill_dir = cfg.data_dir.join(format!("shard-{shard}.spill"));
    if !cfg.spill_enabled {
        if spill_dir.exists() {
            tracing::error!(shard, dir = %spill_dir.display(), "spill_enabled = false but spill segments exist: they are NOT replayed until spilling is enabled again");
        }
        return Ok(ShardBuffer { ring, spill: None });
    }
    let acked_seq = ring.acked_seq();
    let ring_oldest = ring
        .next_unsent()
        .map(|u| u.event.seq)
        .unwrap_or(ring.next_seq());
    let (spill, rec) = Spill::open(
        SpillConfig {
            dir: spill_dir.clone(),
            bytes_max: cfg.spill_bytes_max,
            segment_bytes_max: cfg.spill_segment_bytes_max,
            block_bytes_max: cfg.spill_block_bytes_max,
            zstd_level: cfg.spill_zstd_level,
            sync_each_block: cfg.fsync == FsyncPolicy::Always,
        },
        acked_seq,
        ring_oldest,
    )?;
    if rec.pending_events > 0 || rec.damaged_blocks > 0 || rec.lost_events > 0 {
        tracing::warn!(
            shard,
            spill = %spill_dir.display(),
            segments = rec.segments,
            events = rec.pending_events,
            damaged_blocks = rec.damaged_blocks,
            lost_events = rec.lost_events,
            "replaying spilled events an earlier run did not see acknowledged"
        );
    }
    Ok(ShardBuffer {
        ring,
        spill: Some(spill),
    })
}
