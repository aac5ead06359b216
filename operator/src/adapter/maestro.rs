//! `transport: maestro` entries: the rendered manifest is wrapped in a ManifestWork for the
//! entry's consumer (named from the adapter, the HyperFleet resource and the entry; labelled
//! and generation-annotated like every managed object, the manifest too; server-side apply on
//! the managed cluster; the entry's feedback rules and delete propagation), and what Maestro
//! reports back is shown to CEL as the manifest with a `status` — the work agent's conditions
//! for it and its feedback values — so status rules read it like a Kubernetes object.

use serde_json::{Map, Value, json};

use hyperfleet_api_model::Resource;
use hyperfleet_crds::v1alpha1::FeedbackRule;

use super::plan::PlannedDelivery;

/// Longest Kubernetes object name.
const MAX_NAME: usize = 253;

/// The work's name: `<adapter>-<resource id>-<entry>`, as a DNS subdomain.
pub fn work_name(adapter: &str, resource: &Resource, entry: &str) -> String {
    let name = format!("{adapter}-{}-{entry}", resource.id).to_lowercase().replace('_', "-");
    name.chars().take(MAX_NAME).collect::<String>().trim_end_matches('-').to_owned()
}

/// The ManifestWork delivering `manifest` to `consumer`.
pub fn work_for(
    manifest: Value,
    delivery: &PlannedDelivery,
    consumer: &str,
    name: &str,
    adapter: &str,
) -> Value {
    let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let resource = kube::api::ApiResource::from_gvk(&gvk).plural;
    let mut config = json!({
        "resourceIdentifier": {
            "group": group, "resource": resource, "name": manifest["metadata"]["name"],
            "namespace": manifest["metadata"]["namespace"].as_str().unwrap_or_default(),
        },
        "updateStrategy": {
            "type": "ServerSideApply",
            "serverSideApply": {"fieldManager": format!("hyperfleet-{adapter}"), "force": false},
        },
    });
    if !delivery.feedback.is_empty() {
        config["feedbackRules"] = json!([{"type": "JSONPaths", "jsonPaths": json_paths(&delivery.feedback)}]);
    }
    let propagation: &str = match delivery.delete_propagation {
        hyperfleet_crds::v1alpha1::DeletePropagation::Foreground => "Foreground",
        hyperfleet_crds::v1alpha1::DeletePropagation::Background => "Background",
        hyperfleet_crds::v1alpha1::DeletePropagation::Orphan => "Orphan",
    };
    json!({
        "apiVersion": hyperfleet_maestro::work::API_VERSION,
        "kind": hyperfleet_maestro::work::KIND,
        "metadata": {"name": name, "namespace": consumer},
        "spec": {
            "workload": {"manifests": [manifest]},
            "deleteOption": {"propagationPolicy": propagation},
            "manifestConfigs": [config],
        },
    })
}

fn json_paths(rules: &[FeedbackRule]) -> Vec<Value> {
    rules.iter().map(|rule| json!({"name": rule.name, "path": rule.path})).collect()
}

/// An OCM feedback `fieldValue` as plain JSON.
fn feedback_value(field: &Value) -> Value {
    match field["type"].as_str() {
        Some("String") => field["string"].clone(),
        Some("Integer") => field["integer"].clone(),
        Some("Boolean") => field["boolean"].clone(),
        Some("JsonRaw") => {
            field["jsonRaw"].as_str().and_then(|raw| serde_json::from_str(raw).ok()).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// What CEL sees of a delivered work (`resources.<entry>`): the manifest as sent, its `status`
/// (`conditions` the agent reports for it, `feedback.<name>` values), and `work` (name,
/// consumer, generation, the work's own conditions, whether it is being deleted).
pub fn view(work: &Value) -> Value {
    let mut object = work.pointer("/spec/workload/manifests/0").cloned().unwrap_or_else(|| json!({}));
    let manifest_status = work.pointer("/status/resourceStatus/manifests/0");
    let pick = |pointer: &str| manifest_status.and_then(|s| s.pointer(pointer)).cloned();
    let feedback: Map<String, Value> = pick("/statusFeedback/values")
        .and_then(|values| values.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|value| Some((value["name"].as_str()?.to_owned(), feedback_value(&value["fieldValue"]))))
        .collect();
    object["status"] = json!({
        "conditions": pick("/conditions").unwrap_or_else(|| json!([])),
        "feedback": feedback,
    });
    object["work"] = json!({
        "name": work["metadata"]["name"],
        "consumer": work["metadata"]["namespace"],
        "generation": work["metadata"]["generation"],
        "conditions": work.pointer("/status/conditions").cloned().unwrap_or_else(|| json!([])),
        "deleting": work.pointer("/metadata/deletionTimestamp").is_some(),
    });
    object
}
