//! HyperFleet's controller manager. Per SentinelConfig it runs a poll -> decide -> publish loop
//! ([`sentinel`]); per AdapterConfig, a broker consumer (the adapter runtime, to come); both as
//! supervised tasks in a [`tasks::TaskRegistry`]. So far this crate holds the Sentinel's pure
//! core (which resources a shard asks the API for, and the per-resource publish decision) and
//! the task registry; the controllers, the loops and the binary come next.

pub mod adapter;
pub mod admin;
pub mod authoring;
pub mod cel;
pub mod cli;
pub mod controller;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod resolve;
pub mod run;
pub mod sentinel;
pub mod tasks;
pub mod workloads;
