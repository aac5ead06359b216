//! A simulated work agent: what a managed cluster's agent reports back for a stored work (the
//! Maestro double's agent, and the dry-run transport's simulation of a ManifestWork), in
//! the shapes of OCM's `work/v1` API (ManifestCondition: `resourceMeta`, `statusFeedback.values`
//! of `{name, fieldValue: {type, string|integer|boolean|jsonRaw}}`, `conditions`): every manifest
//! applied and available, and each feedback rule's value when the test has set one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Feedback values by (consumer, work name, feedback name).
pub type Feedback = BTreeMap<(String, String, String), Value>;

/// A JSON value as an OCM feedback `fieldValue`.
pub fn field_value(value: &Value) -> Value {
    match value {
        Value::String(text) => json!({"type": "String", "string": text}),
        Value::Bool(flag) => json!({"type": "Boolean", "boolean": flag}),
        Value::Number(n) if n.is_i64() => json!({"type": "Integer", "integer": n}),
        other => json!({"type": "JsonRaw", "jsonRaw": other.to_string()}),
    }
}

fn condition(type_: &str, status: bool, generation: i64, reason: &str) -> Value {
    json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "observedGeneration": generation,
        "reason": reason,
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    })
}

/// The feedback rule names `configs` declare for the manifest `meta` identifies.
fn feedback_names(configs: &[Value], meta: &Value) -> Vec<String> {
    let same = |id: &Value, key: &str| {
        id.get(key).and_then(Value::as_str).unwrap_or_default() == meta[key].as_str().unwrap_or_default()
    };
    configs
        .iter()
        .filter(|config| {
            let id = &config["resourceIdentifier"];
            ["group", "resource", "name", "namespace"].iter().all(|key| same(id, key))
        })
        .flat_map(|config| config["feedbackRules"].as_array().cloned().unwrap_or_default())
        .flat_map(|rule| rule["jsonPaths"].as_array().cloned().unwrap_or_default())
        .filter_map(|path| path["name"].as_str().map(str::to_owned))
        .collect()
}

/// The ManifestBundleStatus the agent reports for `bundle` (a stored resource bundle).
pub fn status(bundle: &Value, feedback: &Feedback) -> Value {
    // `bundle` is in Maestro's REST form; see [`crate::work::from_bundle`].
    let generation = bundle["version"].as_i64().unwrap_or(1);
    let consumer = bundle["consumer_name"].as_str().unwrap_or_default().to_owned();
    let work = bundle["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let configs = bundle["manifest_configs"].as_array().cloned().unwrap_or_default();
    let manifests = bundle["manifests"].as_array().cloned().unwrap_or_default();
    let resource_status: Vec<Value> = manifests
        .iter()
        .enumerate()
        .map(|(ordinal, manifest)| {
            let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let kind = manifest["kind"].as_str().unwrap_or_default();
            let meta = json!({
                "ordinal": ordinal, "group": group, "version": version, "kind": kind,
                "resource": format!("{}s", kind.to_lowercase()),
                "name": manifest["metadata"]["name"], "namespace": manifest["metadata"]["namespace"].as_str().unwrap_or_default(),
            });
            let names = feedback_names(&configs, &meta);
            let values: Vec<Value> = names
                .iter()
                .filter_map(|name| {
                    let value = feedback.get(&(consumer.clone(), work.clone(), name.clone()))?;
                    Some(json!({"name": name, "fieldValue": field_value(value)}))
                })
                .collect();
            let mut conditions = vec![
                condition("Applied", true, generation, "AppliedManifestComplete"),
                condition("Available", true, generation, "ResourceAvailable"),
            ];
            if !names.is_empty() {
                let synced = values.len() == names.len();
                conditions.push(condition("StatusFeedbackSynced", synced, generation, "StatusFeedbackSynced"));
            }
            json!({"resourceMeta": meta, "statusFeedback": {"values": values}, "conditions": conditions})
        })
        .collect();
    json!({
        "conditions": [
            condition("Applied", true, generation, "AppliedManifestWorkComplete"),
            condition("Available", true, generation, "ResourcesAvailable"),
        ],
        "resourceStatus": resource_status,
    })
}

/// A feedback rule's JSONPath (Kubernetes style, `.status.x`) as RFC 9535 (`$.status.x`).
fn rfc_path(path: &str) -> String {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    if path.starts_with('$') { path.to_owned() } else { format!("${path}") }
}

/// Why a feedback rule's path cannot be evaluated, if it cannot.
pub fn check_path(path: &str) -> Result<(), String> {
    use jsonpath_rust::JsonPath as _;
    Value::Null.query(&rfc_path(path)).map(drop).map_err(|err| err.to_string())
}

/// The value `path` finds in `object` (the first match), as an agent's feedback reads it.
pub fn read_path(object: &Value, path: &str) -> Option<Value> {
    use jsonpath_rust::JsonPath as _;
    object.query(&rfc_path(path)).ok()?.first().map(|value| (*value).clone())
}

/// The ManifestWork `work` as an agent reports it once applied: each manifest's feedback
/// values read from the object as `live` says it is now (`None`: no status yet).
pub fn applied(work: &Value, live: impl Fn(&Value) -> Option<Value>) -> Value {
    let (metadata, bundle) = crate::work::bundle_of(work);
    let generation = work.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let configs = bundle.get("manifestConfigs").cloned().unwrap_or_else(|| json!([]));
    let mut stored = json!({
        "consumer_name": metadata["namespace"], "version": generation, "metadata": metadata,
        "manifests": bundle["manifests"], "manifest_configs": configs,
        "delete_option": bundle.get("deleteOption").cloned().unwrap_or_else(|| json!({})),
    });
    let consumer = metadata["namespace"].as_str().unwrap_or_default().to_owned();
    let name = metadata["name"].as_str().unwrap_or_default().to_owned();
    let mut feedback = Feedback::new();
    for manifest in bundle["manifests"].as_array().into_iter().flatten() {
        let mut object = manifest.clone();
        if let Some(status) = live(manifest) {
            object["status"] = status;
        }
        let named = |config: &&Value| config["resourceIdentifier"]["name"] == manifest["metadata"]["name"];
        for config in configs.as_array().into_iter().flatten().filter(named) {
            let rules = config["feedbackRules"].as_array().into_iter().flatten();
            for path in rules.flat_map(|rule| rule["jsonPaths"].as_array().cloned().unwrap_or_default()) {
                let (Some(rule), Some(value)) =
                    (path["name"].as_str(), path["path"].as_str().and_then(|p| read_path(&object, p)))
                else {
                    continue;
                };
                feedback.insert((consumer.clone(), name.clone(), rule.to_owned()), value);
            }
        }
    }
    stored["status"] = status(&stored, &feedback);
    crate::work::from_bundle(&stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_style_paths_read_conditions_and_fields() {
        let object = json!({"status": {"replicas": 3, "conditions": [
            {"type": "Degraded", "status": "False"}, {"type": "Available", "status": "True", "message": "ok"},
        ]}});
        assert_eq!(
            read_path(&object, r#".status.conditions[?(@.type=="Available")].status"#),
            Some(json!("True"))
        );
        assert_eq!(read_path(&object, "{.status.replicas}"), Some(json!(3)));
        assert_eq!(read_path(&object, ".status.missing"), None);
        assert!(check_path(".status.conditions[?(@.type==").is_err());
    }
}
