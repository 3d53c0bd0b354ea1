//! `linerate store`: normalized events from Kafka into PostgreSQL, exactly once.
//!
//! [`config`] (TOML) → [`loader`] (the consumer-group member and its batches) → [`writer`]
//! (one transaction per batch: offsets, [`row`]s through [`copy_binary`], dead letters) into
//! the tables [`schema`] creates and migrates. [`metrics`] and [`http`] expose what it does.
//! The tiers the rows then age through are [`crate::retention`]'s.

pub mod config;
pub mod copy_binary;
pub mod http;
pub mod loader;
pub mod metrics;
pub mod row;
pub mod schema;
pub mod writer;
