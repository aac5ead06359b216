//! The operator's integration tests, one binary: Sentinels, adapters, consumers and the DLQ tool
//! against the real API over PostgreSQL and the real brokers started by `hack/test.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod adapter_consumer;
mod adapter_events;
mod adapter_ownership;
mod adapter_pipeline;
mod authoring;
mod catalog;
mod coalescing;
mod common;
mod crd_rules;
mod dlq;
mod job_progress;
mod maestro_adapter;
mod maestro_client;
mod replicas;
mod sentinel;
mod sentinel_feed;
mod sentinel_rules;
mod shard_queries;
mod traces;
