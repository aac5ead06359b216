//! The adapter runtime: one broker consumer per AdapterConfig. For each event it fetches the
//! resource and its statuses from the API, drops events for an older generation, evaluates
//! `params`, the preconditions and dependencies, creates the Job and applies the resources
//! (through a [`transport`]), and reports the resulting conditions to the API.

pub mod api;
pub mod coalesce;
pub mod failures;
pub mod handle_error;
pub mod job;
pub mod lookups;
pub mod maestro;
pub mod metrics;
pub mod ownership;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod redact;
pub mod report;
pub mod runner;
pub mod template;
pub mod transport;
pub mod variables;

pub use pipeline::{Adapter, HandleError, Handled, Transports};
pub use plan::AdapterPlan;
pub use runner::{AdapterProgress, AdapterRunner};
#[cfg(test)]
mod catalog_tests;
