//! The catalog's adapters over the Kubernetes transport against the scripted API server (kube's
//! mock service): the requests each makes (discovery, the ownership read, the server-side apply,
//! lookups), the manifests it sends, and its reports over the status the real controllers write
//! (HyperShift's HostedCluster conditions), with Secret values never in a report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, sync::Arc};

use serde_json::{Value, json};

use hyperfleet_api_model::{
    ConditionStatus, ReconcileEventData, ReconcileReason, ResourceType, StatusReport,
};

use super::{
    Adapter, AdapterPlan, Handled, Transports,
    api::FixedApi,
    transport::{dry_run::DryRun, kubernetes::Kubernetes},
};
use crate::controller::fixtures::{ApiServer, client};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The catalog adapter `name` for the sample cluster (`tests/integration/catalog/cluster.json`),
/// its dependencies done, over the scripted API server.
fn adapter(name: &str) -> (Adapter, ApiServer, ReconcileEventData) {
    adapter_with(name, |_| {})
}

/// [`adapter`], its spec changed by `edit` first.
fn adapter_with(
    name: &str,
    edit: impl FnOnce(&mut hyperfleet_crds::v1alpha1::AdapterConfigSpec),
) -> (Adapter, ApiServer, ReconcileEventData) {
    let mut spec =
        crate::authoring::load_spec(&repo(&format!("adapters/{name}/adapterconfig.yaml"))).unwrap();
    edit(&mut spec);
    let plan = AdapterPlan::compile(&spec).unwrap();
    let resource = crate::authoring::load_resource(
        &repo("operator/tests/integration/catalog/cluster.json"),
        ResourceType::Clusters,
        false,
    )
    .unwrap();
    let statuses =
        crate::authoring::load_statuses(&repo("config/samples/api/statuses-dependencies-done.json")).unwrap();
    let event = ReconcileEventData::new(&resource, ResourceType::Clusters, ReconcileReason::New);
    let api = Arc::new(FixedApi { resource, statuses, reports: Default::default() });
    let (kube, server) = client();
    let dry_run =
        Arc::new(DryRun::new(std::time::Duration::ZERO, super::transport::dry_run::JobOutcome::Succeed));
    let transports = Transports { kubernetes: Arc::new(Kubernetes::new(kube)), dry_run, maestro: None };
    (Adapter::new(plan, api, transports, "http://api"), server, event)
}

fn resource_list(group_version: &str, kind: &str, plural: &str) -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
        {"name": plural, "singularName": kind.to_lowercase(), "namespaced": true, "kind": kind,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]})
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

fn report(handled: &Handled) -> &StatusReport {
    match handled {
        Handled::Reported { report, .. } => report,
        other => panic!("not reported: {other:?}"),
    }
}

fn state(report: &StatusReport, type_: &str) -> (ConditionStatus, String, String) {
    let c = report.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status, c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())
}

/// HyperShift's status of a HostedCluster coming up, and once its control plane is available.
fn hosted_cluster_status(available: bool) -> Value {
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
    };
    let mut conditions = vec![
        condition("ValidConfiguration", "True", "AsExpected", "Configuration passes validation"),
        condition("ReconciliationActive", "True", "AsExpected", "Reconciliation active on resource"),
        condition("Degraded", "False", "AsExpected", "The hosted cluster is not degraded"),
    ];
    conditions.push(if available {
        condition("Available", "True", "AsExpected", "The hosted control plane is available")
    } else {
        condition(
            "Available",
            "False",
            "WaitingForAvailable",
            "Waiting for hosted control plane to be healthy",
        )
    });
    json!({"conditions": conditions, "version": {"desired": {"image": "x"}, "history": []}})
}

#[tokio::test]
async fn hypershift_applies_its_hosted_cluster_and_reports_hypershifts_conditions() {
    let expected: Value =
        serde_saphyr::from_str(include_str!("../../tests/integration/catalog/hypershift.expected.yaml"))
            .unwrap();
    let (adapter, mut server, event) = adapter("hypershift");
    let path = "/apis/hypershift.openshift.io/v1beta1/namespaces/clusters/hostedclusters/prod-us-east-1";
    for (available, reason) in [(false, "HostedClusterProgressing"), (true, "HostedClusterAvailable")] {
        let handling = tokio::spawn({
            let (adapter, event) = (adapter.clone(), event.clone());
            async move { adapter.handle(&event).await }
        });
        if !available {
            let discovery =
                resource_list("hypershift.openshift.io/v1beta1", "HostedCluster", "hostedclusters");
            server.expect("GET", "/apis/hypershift.openshift.io/v1beta1", discovery).await;
            server.expect_answering("GET", path, 404, not_found()).await;
        } else {
            let mut existing = expected.clone();
            existing["status"] = hosted_cluster_status(false);
            server.expect("GET", path, existing).await;
        }
        let mut stored = expected.clone();
        stored["status"] = hosted_cluster_status(available);
        let (content_type, sent) = server.expect_typed("PATCH", path, |_| (200, stored)).await;
        assert_eq!(content_type, "application/apply-patch+yaml", "server-side apply");
        assert_eq!(sent, expected);
        let handled = handling.await.unwrap().unwrap();
        let (status, got_reason, message) = state(report(&handled), "Available");
        assert_eq!((status == ConditionStatus::True, got_reason.as_str()), (available, reason));
        let words = if available { "available" } else { "Waiting for hosted control plane" };
        assert!(message.contains(words), "{message}");
    }
}

#[tokio::test]
async fn pullsecret_reads_its_source_applies_the_copy_and_reports_no_secret_value() {
    // Even a status rule that writes the value into its message reports `[redacted]`.
    let (adapter, mut server, event) = adapter_with("pullsecret", |spec| {
        spec.status[0].message = Some("'copied ' + lookups.source.data['.dockerconfigjson']".into());
    });
    let handling = tokio::spawn(async move { adapter.handle(&event).await });
    let encoded = "eyJhdXRocyI6eyJxdWF5LmlvIjp7ImF1dGgiOiJjMlZqY21WME9uWmhiSFZsIn19fQ==";
    let source = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "hyperfleet-pull-secret", "namespace": "hyperfleet"},
        "data": {".dockerconfigjson": encoded}});
    server.expect("GET", "/api/v1", resource_list("v1", "Secret", "secrets")).await;
    server.expect("GET", "/api/v1/namespaces/hyperfleet/secrets/hyperfleet-pull-secret", source).await;
    let path = "/api/v1/namespaces/clusters/secrets/prod-us-east-1-pull-secret";
    server.expect_answering("GET", path, 404, not_found()).await;
    let sent = server.expect_echo("PATCH", path).await;
    assert_eq!(sent["data"][".dockerconfigjson"], encoded, "the copy carries the source's value");
    assert_eq!(sent["type"], "kubernetes.io/dockerconfigjson");
    let handled = handling.await.unwrap().unwrap();
    let report = report(&handled);
    assert_eq!(
        state(report, "Available"),
        (ConditionStatus::True, "PullSecretCopied".into(), "copied [redacted]".into())
    );
    let printed = serde_json::to_string(report).unwrap();
    // The value as stored, and decoded: {"auths":{"quay.io":{"auth":"c2VjcmV0OnZhbHVl"}}}.
    for secret in [encoded, "c2VjcmV0OnZhbHVl"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

#[tokio::test]
async fn a_lookup_the_operator_may_not_read_is_reported_not_retried() {
    let (adapter, mut server, event) = adapter("pullsecret");
    let handling = tokio::spawn(async move { adapter.handle(&event).await });
    server.expect("GET", "/api/v1", resource_list("v1", "Secret", "secrets")).await;
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "secrets \"hyperfleet-pull-secret\" is forbidden: User \"system:serviceaccount:hyperfleet:hyperfleet-operator\" cannot get resource \"secrets\""});
    server
        .expect_answering(
            "GET",
            "/api/v1/namespaces/hyperfleet/secrets/hyperfleet-pull-secret",
            403,
            forbidden,
        )
        .await;
    let handled = handling.await.unwrap().unwrap();
    let (status, reason, message) = state(report(&handled), "Health");
    assert_eq!((status, reason.as_str()), (ConditionStatus::False, "LookupFailed"));
    assert!(
        message.starts_with("lookups.source: get Secret hyperfleet/hyperfleet-pull-secret failed"),
        "{message}"
    );
    assert!(message.contains("forbidden"), "{message}");
}

#[tokio::test]
async fn dns_applies_its_dns_endpoint_and_waits_for_external_dns_to_publish_it() {
    let expected: Value =
        serde_saphyr::from_str(include_str!("../../tests/integration/catalog/dns.expected.yaml")).unwrap();
    let (adapter, mut server, event) = adapter("dns");
    let path = "/apis/externaldns.k8s.io/v1alpha1/namespaces/clusters/dnsendpoints/prod-us-east-1-dns";
    for (published, reason) in [(false, "WaitingForExternalDNS"), (true, "RecordsPublished")] {
        let handling = tokio::spawn({
            let (adapter, event) = (adapter.clone(), event.clone());
            async move { adapter.handle(&event).await }
        });
        if !published {
            let discovery = resource_list("externaldns.k8s.io/v1alpha1", "DNSEndpoint", "dnsendpoints");
            server.expect("GET", "/apis/externaldns.k8s.io/v1alpha1", discovery).await;
            server.expect_answering("GET", path, 404, not_found()).await;
        } else {
            server.expect("GET", path, expected.clone()).await;
        }
        // As the API server stores it: generation 2 after the records changed once; external-dns
        // writes the generation it has published.
        let mut stored = expected.clone();
        stored["metadata"]["generation"] = 2.into();
        stored["status"] =
            if published { json!({"observedGeneration": 2}) } else { json!({"observedGeneration": 1}) };
        let (_, sent) = server.expect_typed("PATCH", path, |_| (200, stored)).await;
        assert_eq!(sent, expected);
        let handled = handling.await.unwrap().unwrap();
        assert_eq!(state(report(&handled), "Available").1, reason);
    }
}
