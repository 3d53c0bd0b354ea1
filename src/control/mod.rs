//! The control plane, beside the data path: the stats aggregator, Prometheus metrics, health,
//! and the HTTP server that serves them. Nothing here runs on a shard.

pub mod aggregator;
pub mod http;
pub mod latency;
pub mod metrics;
