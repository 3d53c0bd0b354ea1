//! linerate: a thread-per-core log ingestion appliance.
//!
//! The modules follow the data flow: [`ingest`] (sockets, framing) → [`parse`] → [`normalize`]
//! → [`sink`] (Kafka), with [`shard`] wiring them per core and [`control`] (HTTP, metrics) beside.
//! [`http_server`] is the HTTP stack of both the HTTP input and the control API; [`nesting`]
//! bounds the depth of outside JSON and XML before any parser sees it.
//! [`doctor`] checks a host against a tuning profile and a config; [`top`] watches a fleet.
//! [`store`] loads the normalized topic into PostgreSQL; [`retention`] ages it through tiers.
//! Windows and cloud log files take [`import`] → [`normalize`] → stdout or Kafka.

pub mod buffer;
pub mod cli_import;
pub mod cli_parse;
pub mod cli_store;
pub mod config;
pub mod control;
pub mod doctor;
pub mod event;
pub mod http_server;
pub mod import;
pub mod ingest;
pub mod latency;
pub mod loadgen;
pub mod logging;
pub mod nesting;
pub mod normalize;
pub mod parse;
pub mod poll_on_wake;
pub mod report;
pub mod retention;
pub mod rlimit;
pub mod shard;
pub mod sink;
pub mod stats;
pub mod store;
pub mod tls;
pub mod top;
