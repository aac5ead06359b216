//! The Sentinel: every poll interval, list the shard's possibly-due resources from the API
//! ([`query`]), decide per resource whether it needs an event ([`decision`]), publish.

pub mod decision;
pub mod event;
pub mod query;
pub mod runner;
