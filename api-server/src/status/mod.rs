//! The status model, as pure functions: deciding whether an adapter report is stored
//! ([`report`]) and aggregating stored reports into the resource's conditions and phase
//! ([`aggregate`]). The store calls both inside the report's transaction; nothing here touches
//! the database or the clock (callers pass `now`).

pub mod aggregate;
pub mod report;

pub use aggregate::{Aggregate, Subject, aggregate, successful_type};
pub use report::{Decision, decide, validate_shape};
