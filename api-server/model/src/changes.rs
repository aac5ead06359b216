//! The change feed (`GET /changes`): what changed, in order, from a cursor. A client reads a
//! page after its last cursor, handles it, and asks again with the page's `cursor`; with `wait`
//! the server holds an empty answer until something changes (long polling), so a reader learns
//! of a change within milliseconds without polling the whole fleet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// Its spec or labels changed (a new generation).
    Updated,
    /// Its deletion started.
    Deleting,
    /// It is gone (deletion finalized, or force-deleted).
    Deleted,
    /// An adapter's report changed a condition's status or reason, or reported a new generation.
    Reported,
}

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceChange {
    /// Position in the feed (opaque; pass it as `after` to continue after this change).
    pub cursor: String,
    /// The resource.
    pub resource_id: Uuid,
    /// `Cluster` or `NodePool`.
    pub kind: String,
    /// A node pool's cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Uuid>,
    /// The resource's generation when it changed.
    pub generation: i64,
    /// What happened.
    pub change: ChangeKind,
    /// The reporting adapter, for `reported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePage {
    /// The changes after the cursor asked for, oldest first.
    pub items: Vec<ResourceChange>,
    /// Where to continue from (`after` of the next request): the last item's cursor, or the
    /// cursor asked for when nothing changed (the feed's end when none was given).
    pub cursor: String,
}

/// Query parameters of `GET /changes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ChangesParams {
    /// Only changes after this cursor; absent: from now on (the answer's `cursor` is the feed's
    /// end). A cursor older than the retention is answered 410: list again, then follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Only this kind (`Cluster` or `NodePool`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only resources matching this search (the list routes' language); deletions always pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Most changes per page (1..=1000, default 500).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Seconds to hold an empty answer waiting for a change (0..=25, default 0).
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 25))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
}
