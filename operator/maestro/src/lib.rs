//! Maestro, as HyperFleet's adapters use it: a ManifestWork travels to a consumer (a managed
//! cluster's work agent) as a CloudEvent published over gRPC ([`client`], [`event`]); its status
//! is read back from Maestro's REST API as a resource bundle and shown as the ManifestWork it
//! stands for ([`work`]). Nothing watches: the adapter reads on each event, as the Maestro spike
//! chose. [`double`] is an in-process Maestro for tests.

pub mod agent;
pub mod client;
#[cfg(feature = "double")]
pub mod double;
pub mod event;
pub mod work;

/// The generated protobuf messages and gRPC stubs of `proto/cloudevent.proto`.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod proto {
    tonic::include_proto!("io.cloudevents.v1");
}

pub use client::{MaestroClient, MaestroConnection, MaestroError, MaestroTls};
