//! ManifestWorks (`work.open-cluster-management.io/v1`) and Maestro's resource bundles, the form
//! its REST API returns them in (`/api/maestro/v1/resource-bundles`, openshift-online/maestro's
//! OpenAPI): `metadata` is the work's, `version` its generation, `manifests`, `delete_option`
//! and `manifest_configs` its spec, and `status` a ManifestBundleStatus (`conditions`,
//! `resourceStatus`), mapped the way Maestro's own source client maps them.

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// `apiVersion` of a ManifestWork.
pub const API_VERSION: &str = "work.open-cluster-management.io/v1";
/// `kind` of a ManifestWork.
pub const KIND: &str = "ManifestWork";

/// The Maestro resource id of the work `name` a source keeps on `consumer`: the same every time,
/// so a work is found again (and never created twice) without a listing.
pub fn work_id(source: &str, consumer: &str, name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{source}/{consumer}/{name}").as_bytes())
}

/// The consumer (namespace) and name of a ManifestWork.
pub fn address(work: &Value) -> Option<(&str, &str)> {
    let field = |name: &str| work.pointer(&format!("/metadata/{name}")).and_then(Value::as_str);
    Some((field("namespace")?, field("name")?))
}

/// What a source sends of a work: its metadata (name, namespace, labels, annotations) and its
/// ManifestBundle (`manifests`, `deleteOption`, `manifestConfigs`).
pub fn bundle_of(work: &Value) -> (Value, Value) {
    let metadata = work.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut kept = Map::new();
    for key in ["name", "namespace", "labels", "annotations"] {
        if let Some(value) = metadata.get(key) {
            kept.insert(key.to_owned(), value.clone());
        }
    }
    let spec = work.get("spec");
    let pick = |pointer: &str| spec.and_then(|spec| spec.pointer(pointer)).cloned();
    let mut bundle = Map::new();
    bundle.insert("manifests".into(), pick("/workload/manifests").unwrap_or_else(|| json!([])));
    // Absent and empty mean the same to Maestro (it stores `{}` / `[]`).
    let present = |value: &Value| match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        other => !other.is_null(),
    };
    if let Some(option) = pick("/deleteOption").filter(present) {
        bundle.insert("deleteOption".into(), option);
    }
    if let Some(configs) = pick("/manifestConfigs").filter(present) {
        bundle.insert("manifestConfigs".into(), configs);
    }
    (Value::Object(kept), Value::Object(bundle))
}

/// The ManifestWork a resource bundle stands for, status included.
pub fn from_bundle(bundle: &Value) -> Value {
    let field = |name: &str| bundle.get(name).cloned().filter(|v| !v.is_null());
    let mut metadata = field("metadata").unwrap_or_else(|| json!({}));
    if let Some(metadata) = metadata.as_object_mut() {
        if let Some(consumer) = field("consumer_name") {
            metadata.insert("namespace".into(), consumer);
        }
        if let Some(version) = field("version") {
            metadata.insert("generation".into(), version);
        }
        if let Some(id) = field("id") {
            metadata.insert("uid".into(), id);
        }
        if let Some(deleted) = field("deleted_at") {
            metadata.insert("deletionTimestamp".into(), deleted);
        }
    }
    let mut spec = Map::new();
    spec.insert("workload".into(), json!({"manifests": field("manifests").unwrap_or_else(|| json!([]))}));
    if let Some(option) = field("delete_option").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
        spec.insert("deleteOption".into(), option);
    }
    if let Some(configs) = field("manifest_configs") {
        spec.insert("manifestConfigs".into(), configs);
    }
    let status = field("status").unwrap_or_else(|| json!({}));
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": spec,
        "status": {
            "conditions": status.get("conditions").cloned().unwrap_or_else(|| json!([])),
            "resourceStatus": {
                "manifests": status.get("resourceStatus").cloned().unwrap_or_else(|| json!([])),
            },
        },
    })
}

/// Whether two works ask the same of their consumer (labels, annotations and spec), so the
/// second need not be sent.
pub fn same_request(sent: &Value, wanted: &Value) -> bool {
    let part = |work: &Value, pointer: &str| work.pointer(pointer).cloned().unwrap_or(Value::Null);
    let empty_as_null = |value: Value| match value {
        Value::Object(map) if map.is_empty() => Value::Null,
        other => other,
    };
    ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .all(|p| empty_as_null(part(sent, p)) == empty_as_null(part(wanted, p)))
        && bundle_of(sent).1 == bundle_of(wanted).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work() -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "w", "namespace": "mc-1", "labels": {"a": "b"}, "annotations": {"g": "1"}},
            "spec": {
                "workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
                "deleteOption": {"propagationPolicy": "Foreground"},
                "manifestConfigs": [{"resourceIdentifier": {"resource": "configmaps"}}],
            },
        })
    }

    #[test]
    fn a_work_survives_the_trip_through_a_resource_bundle() {
        let (metadata, bundle) = bundle_of(&work());
        let stored = json!({
            "id": work_id("s", "mc-1", "w"), "consumer_name": "mc-1", "version": 3,
            "metadata": metadata, "manifests": bundle["manifests"],
            "delete_option": bundle["deleteOption"], "manifest_configs": bundle["manifestConfigs"],
            "status": {"conditions": [{"type": "Applied", "status": "True"}], "resourceStatus": []},
        });
        let read = from_bundle(&stored);
        assert!(same_request(&read, &work()));
        assert_eq!(read["metadata"]["generation"], 3);
        assert_eq!(read["status"]["conditions"][0]["type"], "Applied");
        assert_eq!(address(&read), Some(("mc-1", "w")));
    }

    #[test]
    fn a_changed_annotation_or_manifest_is_a_new_request() {
        let mut changed = work();
        changed["metadata"]["annotations"]["g"] = json!("2");
        assert!(!same_request(&work(), &changed));
        let mut changed = work();
        changed["spec"]["workload"]["manifests"][0]["data"] = json!({"k": "v"});
        assert!(!same_request(&work(), &changed));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(work_id("s", "c", "w"), work_id("s", "c", "w"));
        assert_ne!(work_id("s", "c", "w"), work_id("s", "c2", "w"));
    }
}
