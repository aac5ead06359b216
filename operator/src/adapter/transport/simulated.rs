//! How the dry-run transport's objects of the catalog's kinds look while they come up and once
//! they are ready, as their controllers would write it: HyperShift's `HostedCluster` and
//! `NodePool` (`hypershift.openshift.io/v1beta1` conditions) and external-dns's `DNSEndpoint`
//! (`status.observedGeneration`), and OCM's `ManifestWork` as a work agent reports it once applied
//! (feedback values read from its objects' simulated status). `local` mode and `adapter test` drive the catalog's status
//! rules with these; objects of other kinds get no status, as a ConfigMap or Secret has none.

use serde_json::{Value, json};

/// The status `object` has `ready` (its simulated controller has finished) or not, if its kind
/// is simulated.
pub fn status(object: &Value, ready: bool) -> Option<Value> {
    let group = object["apiVersion"].as_str()?.split('/').next()?;
    let generation = object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    match (group, object["kind"].as_str()?) {
        ("hypershift.openshift.io", "HostedCluster") => Some(hosted_cluster(object, ready)),
        ("hypershift.openshift.io", "NodePool") => Some(node_pool(object, ready)),
        ("work.open-cluster-management.io", "ManifestWork") => {
            // The agent reads feedback from the delivered objects, simulated the same way.
            let live = |manifest: &Value| status(manifest, ready);
            Some(if ready {
                hyperfleet_maestro::agent::applied(object, live)["status"].take()
            } else {
                json!({})
            })
        }
        ("externaldns.k8s.io", "DNSEndpoint") => {
            Some(if ready { json!({"observedGeneration": generation}) } else { json!({}) })
        }
        _ => None,
    }
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Value {
    let status = if status { "True" } else { "False" };
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

fn hosted_cluster(object: &Value, ready: bool) -> Value {
    let image = object.pointer("/spec/release/image").and_then(Value::as_str).unwrap_or_default();
    if !ready {
        return json!({"conditions": [
            condition("Available", false, "WaitingForAvailable", "Waiting for hosted control plane to be healthy"),
            condition("Progressing", true, "AsExpected", "HostedCluster is deploying"),
            condition("Degraded", false, "AsExpected", ""),
        ]});
    }
    json!({
        "conditions": [
            condition("Available", true, "AsExpected", "The hosted control plane is available"),
            condition("Progressing", false, "AsExpected", "HostedCluster is at expected version"),
            condition("Degraded", false, "AsExpected", "The hosted cluster is not degraded"),
        ],
        "version": {"history": [{"state": "Completed", "image": image}]},
    })
}

fn node_pool(object: &Value, ready: bool) -> Value {
    let wanted = object
        .pointer("/spec/replicas")
        .or_else(|| object.pointer("/spec/autoScaling/min"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let (replicas, message) =
        if ready { (wanted, "") } else { (0, "Minimum availability requires replicas") };
    json!({
        "replicas": replicas,
        "conditions": [
            condition("Ready", ready, if ready { "AsExpected" } else { "WaitingForAvailableMachines" }, message),
            condition("AllMachinesReady", ready, "AsExpected", ""),
        ],
    })
}
