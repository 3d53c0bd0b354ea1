//! The durable per-shard buffer between the parser's input and the Kafka producer: a ring
//! of received events in a memory-mapped file ([`ring`]), framed with crc32s ([`frame`]),
//! freed only as Kafka acknowledges them ([`acks`]).

pub mod acks;
pub mod frame;
pub mod ring;
