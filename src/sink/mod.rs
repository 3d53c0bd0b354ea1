//! Outputs. [`kafka`]: one producer per shard, polled from the shard's own loop.

pub mod dead_letter;
pub mod kafka;
pub mod partitions;
pub mod payload_arenas;
