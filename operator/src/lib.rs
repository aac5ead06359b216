//! HyperFleet's controller manager. Per SentinelConfig it runs a poll -> decide -> publish loop
//! ([`sentinel`]); per AdapterConfig, a broker consumer (the adapter runtime, to come). This
//! crate so far holds the Sentinel's pure core: which resources a shard asks the API for, and
//! the per-resource publish decision.

pub mod sentinel;
