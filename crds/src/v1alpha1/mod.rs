//! Version `v1alpha1` of the HyperFleet custom resources.

mod adapter;
mod common;
mod sentinel;

pub use adapter::*;
pub use common::*;
pub use sentinel::*;
