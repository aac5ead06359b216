//! Wire types of the HyperFleet REST API (`/api/hyperfleet/v1`).
//!
//! This crate is a contract leaf: the API server serialises these types, and every client
//! (the operator's Sentinel and adapters, the e2e suite, the typed [`client`]) deserialises
//! them. It depends on serde only; OpenAPI schema derives sit behind the `openapi` feature
//! and the reqwest client behind the `client` feature.
#![warn(missing_docs)]

pub mod changes;
pub mod event;
pub mod list;
pub mod problem;
pub mod resource;
pub mod search;
pub mod status;

#[cfg(feature = "client")]
pub mod client;

pub use changes::{ChangeKind, ChangePage, ChangesParams, ResourceChange};
pub use event::{ReconcileEventData, ReconcileReason, ResourceType, event_source};
pub use list::{ListParams, Page, PageParams};
pub use problem::{FieldError, Problem};
pub use resource::{
    Condition, ConditionStatus, CreateResource, ObjectReference, PatchResource, Phase, Resource,
    ResourceStatus,
};

pub use status::{
    AdapterCondition, AdapterStatus, ForceDelete, GetParams, ReportedCondition, ResourceWithStatuses,
    StatusHistoryEntry, StatusPatch, StatusReport,
};

/// Base path every route of the API lives under.
pub const BASE_PATH: &str = "/api/hyperfleet/v1";

/// `GET /api/hyperfleet`: what this API is (the reference API's metadata document).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiMetadata {
    /// Always `hyperfleet`.
    pub id: String,
    /// Always `API`.
    pub kind: String,
    /// Always `/api/hyperfleet`.
    pub href: String,
    /// The server's version.
    pub version: String,
    /// When the server was built (RFC 3339), or `unknown`.
    pub build_time: String,
}
