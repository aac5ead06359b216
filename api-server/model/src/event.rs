//! The reconcile event: what a Sentinel publishes and an adapter consumes. This is the one
//! definition of the CloudEvent's `type`, `source` and `data`; the Sentinel builds a
//! [`ReconcileEventData`], the broker carries it as structured-mode JSON, and the adapter reads it
//! back into the same type (anything else is a poison message).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::resource::{ObjectReference, Resource};

/// Which collection a resource lives in: what a Sentinel polls and an adapter acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// Clusters (`/clusters`).
    Clusters,
    /// Node pools (`/nodepools`).
    Nodepools,
}

impl ResourceType {
    /// The API collection name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Clusters => "clusters",
            ResourceType::Nodepools => "nodepools",
        }
    }

    /// The resource kind (`Cluster`, `NodePool`).
    pub fn kind(self) -> &'static str {
        match self {
            ResourceType::Clusters => "Cluster",
            ResourceType::Nodepools => "NodePool",
        }
    }

    /// The CloudEvent `type` of this type's reconcile events:
    /// `com.redhat.hyperfleet.<kind>.reconcile.v1`.
    pub fn event_type(self) -> String {
        format!("com.redhat.hyperfleet.{}.reconcile.v1", self.kind().to_ascii_lowercase())
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CloudEvent `source` of the events a Sentinel named `sentinel` publishes.
pub fn event_source(sentinel: &str) -> String {
    format!("sentinel-operator/{sentinel}")
}

/// Why a Sentinel published (the event's `reason`, and a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileReason {
    /// No adapter has reported yet and nothing was published for this generation.
    New,
    /// The generation moved and nothing was published for it yet.
    GenerationChanged,
    /// Still not reconciled after `backoffNotReady`.
    #[serde(rename = "not_ready_backoff")]
    NotReady,
    /// Reconciled, due for a re-check after `backoffReady`.
    #[serde(rename = "ready_recheck")]
    Recheck,
    /// The SentinelConfig's `messageDecision` said so.
    #[serde(rename = "custom_decision")]
    Custom,
    /// The API's change feed said the resource changed (an adapter's report, which may unblock
    /// the next adapter; a spec change) while it is not reconciled: published at once.
    ResourceChanged,
    /// Never published: the adapter's own Job finished or one of its objects changed, and the
    /// adapter handles the resource at once, in process, rather than waiting for the next event.
    WorkChanged,
    /// A reason this build does not know (a newer Sentinel): still a valid event.
    #[serde(other)]
    Other,
}

impl ReconcileReason {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileReason::New => "new",
            ReconcileReason::GenerationChanged => "generation_changed",
            ReconcileReason::NotReady => "not_ready_backoff",
            ReconcileReason::Recheck => "ready_recheck",
            ReconcileReason::Custom => "custom_decision",
            ReconcileReason::ResourceChanged => "resource_changed",
            ReconcileReason::WorkChanged => "work_changed",
            ReconcileReason::Other => "other",
        }
    }
}

/// The `data` of a reconcile event. Thin on purpose ("anemic"): adapters fetch the resource from
/// the API, so the event only says which resource, at which generation, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileEventData {
    /// The collection (`clusters`, `nodepools`).
    pub resource_type: ResourceType,
    /// The resource's id.
    pub resource_id: Uuid,
    /// The resource's kind (`Cluster`, `NodePool`).
    pub kind: String,
    /// The resource's path in the API.
    pub href: String,
    /// The generation the event was published for.
    pub generation: i64,
    /// Why it was published.
    pub reason: ReconcileReason,
    /// The owning resource (a node pool's cluster).
    #[serde(default, rename = "owner_references", skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<ObjectReference>,
    /// A SentinelConfig's `messageData` fields, side by side with the built-in ones (which they
    /// may not shadow: see [`ReconcileEventData::BUILT_IN_FIELDS`]).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ReconcileEventData {
    /// The field names the built-in payload uses.
    pub const BUILT_IN_FIELDS: [&'static str; 7] =
        ["resourceType", "resourceId", "kind", "href", "generation", "reason", "owner_references"];

    /// The event data for `resource` of `resource_type`, published for `reason`.
    pub fn new(resource: &Resource, resource_type: ResourceType, reason: ReconcileReason) -> Self {
        Self {
            resource_type,
            resource_id: resource.id,
            kind: resource.kind.clone(),
            href: resource.href.clone(),
            generation: resource.generation,
            reason,
            owner_references: resource.owner_references.clone(),
            extra: serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn data() -> ReconcileEventData {
        let cluster = Uuid::from_u128(1);
        ReconcileEventData {
            resource_type: ResourceType::Nodepools,
            resource_id: Uuid::from_u128(2),
            kind: "NodePool".into(),
            href: format!("/api/hyperfleet/v1/clusters/{cluster}/nodepools/{}", Uuid::from_u128(2)),
            generation: 3,
            reason: ReconcileReason::GenerationChanged,
            owner_references: Some(ObjectReference {
                id: cluster,
                kind: "Cluster".into(),
                href: format!("/api/hyperfleet/v1/clusters/{cluster}"),
            }),
            extra: serde_json::Map::from_iter([("priority".to_owned(), json!("high"))]),
        }
    }

    #[test]
    fn the_wire_shape_is_the_documented_one_and_reads_back() {
        let json = serde_json::to_value(data()).unwrap();
        assert_eq!(json["resourceType"], "nodepools");
        assert_eq!(json["resourceId"], Uuid::from_u128(2).to_string());
        assert_eq!(json["reason"], "generation_changed");
        assert_eq!(json["owner_references"]["kind"], "Cluster");
        assert_eq!(json["priority"], "high", "extras sit beside the built-in fields");
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        for field in ReconcileEventData::BUILT_IN_FIELDS {
            assert!(keys.contains(&field), "{field} in {keys:?}");
        }
        assert_eq!(serde_json::from_value::<ReconcileEventData>(json).unwrap(), data());
    }

    #[test]
    fn unknown_reasons_are_still_events_but_missing_fields_are_not() {
        let mut json = serde_json::to_value(data()).unwrap();
        json["reason"] = json!("dependency_ready");
        assert_eq!(
            serde_json::from_value::<ReconcileEventData>(json.clone()).unwrap().reason,
            ReconcileReason::Other
        );
        json.as_object_mut().unwrap().remove("resourceId");
        let err = serde_json::from_value::<ReconcileEventData>(json).unwrap_err().to_string();
        assert!(err.contains("resourceId"), "{err}");
    }

    #[test]
    fn event_types_and_sources() {
        assert_eq!(ResourceType::Nodepools.event_type(), "com.redhat.hyperfleet.nodepool.reconcile.v1");
        assert_eq!(ResourceType::Clusters.event_type(), "com.redhat.hyperfleet.cluster.reconcile.v1");
        assert_eq!(event_source("pools"), "sentinel-operator/pools");
    }
}
