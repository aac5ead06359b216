//! The API's integration tests, one binary: the real router, middleware and store, served on a
//! loopback port over a fresh PostgreSQL database per test (`#[sqlx::test]`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod auth;
mod bad_reports;
mod changes;
mod clusters;
mod common;
mod concurrency;
mod connections;
mod generated;
mod http_limits;
mod lists;
mod nodepools;
mod operations;
mod statuses;
