//! Clusters and node pools: the resources users create, and the status the API aggregates on them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A cluster or a node pool as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resource {
    /// Server-assigned UUIDv7.
    pub id: Uuid,
    /// `Cluster` or `NodePool`.
    pub kind: String,
    /// DNS-label name, unique among the live resources of its kind (and parent).
    pub name: String,
    /// Path of this resource in the API.
    pub href: String,
    /// Starts at 1; +1 whenever `spec` or `labels` change, and on DELETE.
    pub generation: i64,
    /// The desired state, free-form (validated against a JSON schema when one is configured).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub spec: serde_json::Value,
    /// Kubernetes-style labels; Sentinel shards select on them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What the adapters reported, aggregated.
    pub status: ResourceStatus,
    /// Creation time.
    pub created_time: DateTime<Utc>,
    /// Last change of spec, labels or deletion state.
    pub updated_time: DateTime<Utc>,
    /// Identity that created the resource.
    pub created_by: String,
    /// Identity that last changed the resource.
    pub updated_by: String,
    /// Set when deletion was requested; the row stays until adapters finalize it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_time: Option<DateTime<Utc>>,
    /// Identity that requested deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    /// The parent (a node pool's cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<ObjectReference>,
}

/// A pointer to another resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectReference {
    /// The referenced resource's id.
    pub id: Uuid,
    /// The referenced resource's kind.
    pub kind: String,
    /// The referenced resource's path.
    pub href: String,
}

/// Aggregated status of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceStatus {
    /// A one-word summary for people.
    pub phase: Phase,
    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
    /// `Reconciled`, `LastKnownReconciled` and one `<Adapter>Successful` per required adapter.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// Summary of a resource's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Phase {
    /// No adapter has reported yet.
    Pending,
    /// Adapters are working on the current generation.
    Reconciling,
    /// Every required adapter is available at the current generation.
    Ready,
    /// An adapter reports itself unhealthy at the current generation.
    Failed,
    /// Deletion was requested; adapters are finalizing.
    Deleting,
}

impl Phase {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Reconciling => "Reconciling",
            Phase::Ready => "Ready",
            Phase::Failed => "Failed",
            Phase::Deleting => "Deleting",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Phase::Pending, Phase::Reconciling, Phase::Ready, Phase::Failed, Phase::Deleting]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    Unknown,
}

impl ConditionStatus {
    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One aggregated condition on a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Condition {
    /// PascalCase condition type, e.g. `Reconciled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// PascalCase reason for the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The resource generation this condition speaks about.
    pub observed_generation: i64,
    /// When this condition type first appeared.
    pub created_time: DateTime<Utc>,
    /// Since when the condition is known to be valid (oldest relevant adapter report).
    pub last_updated_time: DateTime<Utc>,
    /// When `status` last flipped.
    pub last_transition_time: DateTime<Utc>,
}

/// Body of `POST /clusters` and `POST /clusters/{id}/nodepools`. The read-only members of a
/// resource a reference client may send along (`id`, `href`, `generation`, `status`, the times
/// and identities, `owner_references`) are accepted and ignored; any other unknown member is
/// refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "CreateResourceWire")]
pub struct CreateResource {
    /// Optional; when given it must match the route (`Cluster` or `NodePool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// DNS label: lower-case alphanumerics and `-`, starting and ending alphanumeric.
    pub name: String,
    /// The desired state; must be a JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub spec: serde_json::Value,
    /// Kubernetes-style labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What a create body may hold on the wire: the members of [`CreateResource`] plus the
/// read-only ones, which are dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateResourceWire {
    #[serde(default)]
    kind: Option<String>,
    name: String,
    // Absent is `null` here, refused by the server's validation as a missing field (VAL-000,
    // as the reference answers), not as a malformed body.
    #[serde(default)]
    spec: serde_json::Value,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default, rename = "id")]
    _id: serde::de::IgnoredAny,
    #[serde(default, rename = "href")]
    _href: serde::de::IgnoredAny,
    #[serde(default, rename = "generation")]
    _generation: serde::de::IgnoredAny,
    #[serde(default, rename = "status")]
    _status: serde::de::IgnoredAny,
    #[serde(default, rename = "created_time")]
    _created_time: serde::de::IgnoredAny,
    #[serde(default, rename = "updated_time")]
    _updated_time: serde::de::IgnoredAny,
    #[serde(default, rename = "deleted_time")]
    _deleted_time: serde::de::IgnoredAny,
    #[serde(default, rename = "created_by")]
    _created_by: serde::de::IgnoredAny,
    #[serde(default, rename = "updated_by")]
    _updated_by: serde::de::IgnoredAny,
    #[serde(default, rename = "deleted_by")]
    _deleted_by: serde::de::IgnoredAny,
    #[serde(default, rename = "owner_references")]
    _owner_references: serde::de::IgnoredAny,
}

impl From<CreateResourceWire> for CreateResource {
    fn from(wire: CreateResourceWire) -> Self {
        Self { kind: wire.kind, name: wire.name, spec: wire.spec, labels: wire.labels }
    }
}

/// Body of `PATCH`: each present member replaces the stored one wholesale; unknown members are
/// rejected, and at least one member must be present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchResource {
    /// Replaces the whole spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub spec: Option<serde_json::Value>,
    /// Replaces the whole label map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::ConditionStatus;

    #[test]
    fn condition_status_text_is_its_wire_name() {
        for status in [ConditionStatus::True, ConditionStatus::False, ConditionStatus::Unknown] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
