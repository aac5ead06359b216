//! AdapterConfig reconciler scenarios against the scripted API server.

use crate::tasks::TaskKey;
use std::{sync::Arc, time::Duration};

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::*;
use crate::controller::{driver::reconcile, fixtures::context};

fn adapter_json(name: &str, generation: i64, overrides: Value) -> Arc<GuardedAdapter> {
    let mut spec = json!({
        "adapterType": "dns",
        "resourceType": "clusters",
        "hyperfleetAPI": {"url": "http://127.0.0.1:9"},
        "broker": {"type": "memory", "topic": "clusters"},
        "criteria": {"preconditions": [{"name": "hasDomain", "expression": "has(cluster.spec.dns)"}]},
        "jobTemplate": {"namespace": "jobs", "image": "example/dns", "args": ["{{ cluster.name }}"]},
    });
    for (key, value) in overrides.as_object().into_iter().flatten() {
        spec[key] = value.clone();
    }
    let object = json!({
        "apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": "AdapterConfig",
        "metadata": {"name": name, "namespace": "fleet", "generation": generation, "uid": "u"},
        "spec": spec,
    });
    Arc::new(serde_json::from_value(object).unwrap())
}

fn ready(status: &Value) -> &Value {
    status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap()
}

#[tokio::test]
async fn a_new_adapterconfig_starts_its_consumer_and_reports_it() {
    let (context, mut server) = context();
    let reconciling =
        tokio::spawn(reconcile::<AdapterConfig>(adapter_json("dns", 1, json!({})), context.clone()));
    // deletionPolicy Delete (the default): the subscription is guarded by a finalizer.
    let finalizers = server.expect_adapter_finalizers("fleet", "dns").await;
    assert_eq!(finalizers, json!(["hyperfleet.redhat.com/broker-cleanup"]));
    let status = server.expect_status("adapterconfigs", "AdapterConfig", "fleet", "dns").await;
    assert_eq!(ready(&status)["reason"], "Starting");
    assert_eq!(status["consumers"], 0, "starting, not yet consuming");
    assert_eq!(status["eventsProcessed"], 0);
    server.expect_event("fleet").await;
    assert_eq!(reconciling.await.unwrap().unwrap(), Action::requeue(Duration::from_secs(30)));
    assert_eq!(context.workloads.adapter_keys().await, [TaskKey::new("fleet", "dns")]);
}

#[tokio::test]
async fn invalid_cel_or_templates_give_invalid_config_listing_every_problem_and_no_task() {
    let (context, mut server) = context();
    let broken = json!({
        "criteria": {"preconditions": [{"name": "hasDomain", "expression": "has(cluster.spec.dns"}]},
        "jobTemplate": {"namespace": "jobs", "image": "example/dns", "args": ["{{ cluster.name "]},
    });
    let reconciling =
        tokio::spawn(reconcile::<AdapterConfig>(adapter_json("dns", 1, broken), context.clone()));
    let status = server.expect_status("adapterconfigs", "AdapterConfig", "fleet", "dns").await;
    let ready = ready(&status);
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("InvalidConfig")));
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("criteria.preconditions.hasDomain: invalid CEL expression"), "{message}");
    assert!(message.contains("invalid template jobTemplate.args.0"), "{message}");
    server.expect_event("fleet").await;
    assert_eq!(reconciling.await.unwrap().unwrap(), Action::await_change());
    assert!(context.workloads.adapter_keys().await.is_empty());
}

/// An AdapterConfig being deleted, carrying `finalizers`.
fn deleting(finalizers: Value, overrides: Value) -> Arc<GuardedAdapter> {
    let mut object = serde_json::to_value(adapter_json("dns", 1, overrides).0.as_ref().unwrap()).unwrap();
    object["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    object["metadata"]["resourceVersion"] = json!("41");
    object["metadata"]["finalizers"] = finalizers;
    Arc::new(serde_json::from_value(object).unwrap())
}

#[tokio::test]
async fn deleting_stops_the_consumer_removes_the_subscription_then_its_finalizer_only() {
    let (context, mut server) = context();
    let spec = adapter_json("dns", 1, json!({})).0.as_ref().unwrap().spec.clone();
    context.workloads.apply_adapter("fleet", "dns", 1, &spec).await;
    let finalizers = json!(["example.com/keep-me", "hyperfleet.redhat.com/broker-cleanup"]);
    let reconciling =
        tokio::spawn(reconcile::<AdapterConfig>(deleting(finalizers, json!({})), context.clone()));
    let path = "/apis/hyperfleet.redhat.com/v1alpha1/namespaces/fleet/adapterconfigs/dns";
    let answer = json!({"apiVersion": "hyperfleet.redhat.com/v1alpha1", "kind": "AdapterConfig", "metadata": {"name": "dns"}});
    let patch = server.expect("PATCH", path, answer).await;
    assert_eq!(patch["metadata"]["finalizers"], json!(["example.com/keep-me"]), "others' finalizers stay");
    assert_eq!(patch["metadata"]["resourceVersion"], "41", "conditional on the version read");
    assert_eq!(reconciling.await.unwrap().unwrap(), Action::await_change());
    assert!(context.workloads.adapter_keys().await.is_empty(), "its consumer stopped");
    server.expect_nothing().await;
}

#[tokio::test]
async fn a_retained_subscription_needs_no_finalizer_and_deleting_touches_nothing() {
    let (context, mut server) = context();
    let object = deleting(json!(["example.com/keep-me"]), json!({"deletionPolicy": "Retain"}));
    let reconciling = tokio::spawn(reconcile::<AdapterConfig>(object, context.clone()));
    assert_eq!(reconciling.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing().await;
}

#[tokio::test]
async fn a_replica_not_holding_the_lease_consumes_but_writes_no_status() {
    let (mut context, mut server) = context();
    let leases = crate::leader::lease_double::LeaseServer::default();
    let (client, _link) = leases.client();
    let settings = crate::leader::ShareSettings {
        group: "hf".into(),
        namespace: "ops".into(),
        identity: "replica-b".into(),
        duration: Duration::from_secs(30),
    };
    // Another replica holds this AdapterConfig's Lease.
    let claim = crate::leader::ClaimKey {
        role: crate::leader::Role::AdapterConfig,
        key: TaskKey::new("fleet", "dns"),
    };
    let mut lease = settings.lease(settings.lease_name(&claim), "adapterconfig");
    lease.identity = "replica-a".into();
    let other = crate::leader::LeaseKeeper::new(client.clone(), lease);
    assert!(other.step(&mut crate::leader::KeepState::default(), &|| true).await);
    let shares = crate::leader::Shares::new(client, settings, context.workloads.clone());
    Arc::get_mut(&mut context).unwrap().shares = Some(shares);
    let action =
        reconcile::<AdapterConfig>(adapter_json("dns", 1, json!({})), context.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(context.workloads.adapter_keys().await, [TaskKey::new("fleet", "dns")], "it consumes");
    server.expect_nothing().await;
}
