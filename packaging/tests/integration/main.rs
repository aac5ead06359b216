//! The packaging tests, one binary: the Helm chart, the OLM bundle and the alerts, checked by
//! Helm's and Prometheus' own tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod alerts;
mod bundle;
mod chart;
