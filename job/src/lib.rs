//! `hyperfleet-job`: the program the catalog's Jobs run. An adapter creates the Job with the
//! resource's coordinates in its environment (`HYPERFLEET_API_URL`, `HYPERFLEET_RESOURCE_HREF`);
//! the program reads the resource from the API, does its check, writes the result to the
//! container's termination message (which the adapter reads back from the pod and reports as
//! the condition's message) and exits 0 (done) or non-zero (failed).
#![warn(missing_docs)]

pub mod checks;
pub mod cli;
pub mod network;
pub mod termination;
pub mod validate;
