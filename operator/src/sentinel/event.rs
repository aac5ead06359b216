//! The CloudEvent a Sentinel publishes for one decision: thin on purpose ("anemic"): adapters
//! fetch the resource from the API, so the event only says which resource, at which generation,
//! and why.

use chrono::{DateTime, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde_json::json;

use hyperfleet_api_model::Resource;

use super::decision::Reason;

/// `com.redhat.hyperfleet.<kind>.reconcile.v1`.
pub fn event_type(kind: &str) -> String {
    format!("com.redhat.hyperfleet.{}.reconcile.v1", kind.to_ascii_lowercase())
}

/// The built-in event data: which resource, at which generation, and why.
pub fn builtin_data(resource: &Resource, resource_type: &str, reason: Reason) -> serde_json::Value {
    let mut data = json!({
        "resourceType": resource_type,
        "resourceId": resource.id,
        "kind": resource.kind,
        "href": resource.href,
        "generation": resource.generation,
        "reason": reason.as_str(),
    });
    if let Some(owner) = &resource.owner_references {
        data["owner_references"] = json!({"id": owner.id, "kind": owner.kind, "href": owner.href});
    }
    data
}

/// The event for `resource` carrying `data`, published by the Sentinel named `sentinel` at `now`.
pub fn reconcile_event(
    resource: &Resource,
    data: serde_json::Value,
    sentinel: &str,
    now: DateTime<Utc>,
) -> Result<Event, cloudevents::event::EventBuilderError> {
    EventBuilderV10::new()
        .id(uuid::Uuid::now_v7().to_string())
        .source(format!("sentinel-operator/{sentinel}"))
        .ty(event_type(&resource.kind))
        .subject(resource.id.to_string())
        .time(now)
        .data("application/json", data)
        .build()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cloudevents::AttributesReader;
    use hyperfleet_api_model::{ObjectReference, Phase, ResourceStatus};
    use uuid::Uuid;

    use super::*;

    fn nodepool() -> Resource {
        let cluster = Uuid::from_u128(1);
        Resource {
            id: Uuid::from_u128(2),
            kind: "NodePool".into(),
            name: "workers".into(),
            href: format!("/api/hyperfleet/v1/clusters/{cluster}/nodepools/{}", Uuid::from_u128(2)),
            generation: 3,
            spec: json!({}),
            labels: Default::default(),
            status: ResourceStatus {
                phase: Phase::Reconciling,
                last_transition_time: None,
                conditions: vec![],
            },
            created_time: Utc::now(),
            updated_time: Utc::now(),
            created_by: "u".into(),
            updated_by: "u".into(),
            deleted_time: None,
            deleted_by: None,
            owner_references: Some(ObjectReference {
                id: cluster,
                kind: "Cluster".into(),
                href: format!("/api/hyperfleet/v1/clusters/{cluster}"),
            }),
        }
    }

    #[test]
    fn events_name_the_resource_generation_reason_and_owner() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let resource = nodepool();
        let data = builtin_data(&resource, "nodepools", Reason::GenerationChanged);
        let event = reconcile_event(&resource, data, "pools", now).unwrap();
        assert_eq!(event.ty(), "com.redhat.hyperfleet.nodepool.reconcile.v1");
        assert_eq!(event.source().to_string(), "sentinel-operator/pools");
        assert_eq!(event.subject(), Some(resource.id.to_string().as_str()));
        assert_eq!(event.time(), Some(&now));
        assert_eq!(Uuid::parse_str(event.id()).unwrap().get_version_num(), 7);
        let Some(cloudevents::Data::Json(data)) = event.data() else { panic!("JSON data expected") };
        assert_eq!(data["resourceId"], resource.id.to_string());
        assert_eq!(
            (data["generation"].as_i64(), data["reason"].as_str()),
            (Some(3), Some("generation_changed"))
        );
        assert_eq!(data["owner_references"]["kind"], "Cluster");
        assert_eq!(data["resourceType"], "nodepools");
    }
}
