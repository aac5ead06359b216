//! The Sentinel: every poll interval, list the shard's possibly-due resources from the API
//! ([`query`]), decide per resource whether it needs an event ([`decision`], or the config's CEL
//! [`rules`]), publish ([`event`], [`publish`]); between polls, follow the API's change feed ([`follow`]) and
//! publish at once for a changed resource that is not reconciled; while the feed is followed,
//! the polls between full ones read only the resources due by then ([`due`]); the loop is
//! [`runner`], its inputs [`settings`], its series [`metrics`].

pub mod decision;
pub mod due;
pub mod event;
pub mod follow;
pub mod metrics;
pub mod publish;
pub mod query;
pub mod rules;
pub mod runner;
pub mod settings;

pub use runner::{PollReport, Read, Sentinel, SentinelError};
pub use settings::{SentinelProgress, SentinelSettings};
