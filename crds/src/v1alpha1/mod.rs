//! Version `v1alpha1` of the HyperFleet custom resources.

mod adapter;
mod common;
mod lookup;
mod sentinel;

pub use adapter::*;
pub use common::*;
pub use lookup::*;
pub use sentinel::*;
