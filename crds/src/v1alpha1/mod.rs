//! Version `v1alpha1` of the HyperFleet custom resources.

mod adapter;
mod common;
mod lookup;
mod maestro;
mod sentinel;

pub use adapter::*;
pub use common::*;
pub use lookup::*;
pub use maestro::*;
pub use sentinel::*;
