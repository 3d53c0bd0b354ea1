//! The control plane, beside the data path: the stats aggregator, Prometheus metrics, health,
//! the REST control API and its input registry, and the HTTP server that serves them. Nothing
//! here runs on a shard; the shards only read the inputs' pause flags.

pub mod aggregator;
pub mod api;
pub mod http;
pub mod inputs;
pub mod latency;
pub mod metrics;
