//! The broker's integration tests, one binary: every backend against the real RabbitMQ and
//! Pub/Sub emulator started by `hack/test.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod metrics;
mod rabbitmq_restart;
mod scenarios;
