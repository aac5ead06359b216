//! Long-running per-CR work (a Sentinel loop per SentinelConfig, a consumer per AdapterConfig),
//! supervised by a [`TaskRegistry`]: started on create, restarted when the spec generation
//! changes, stopped on delete, all stopped on shutdown, never fire-and-forget.

mod key;
mod registry;

pub use key::TaskKey;

pub use registry::{Ensured, Stopping, TaskContext, TaskHealth, TaskRegistry};
