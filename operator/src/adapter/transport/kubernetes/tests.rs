//! The Kubernetes transport against the scripted API server: discovery, create, AlreadyExists
//! (a re-delivered event) read back with its status, label discovery, delete, and the watch of
//! the selected Jobs (changes after the listing).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::controller::fixtures::client;

fn batch_v1() -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "batch/v1",
        "resources": [
            {"name": "jobs", "singularName": "job", "namespaced": true, "kind": "Job",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
            {"name": "jobs/status", "singularName": "", "namespaced": true, "kind": "Job", "verbs": ["get", "patch", "update"]}
        ]
    })
}

fn job(status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "dns-abc-1", "namespace": "jobs", "labels": {"hyperfleet.io/generation": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "adapter", "image": "x"}], "restartPolicy": "Never"}}},
        "status": status
    })
}

#[tokio::test]
async fn jobs_are_created_once_and_read_back_when_they_exist() {
    let (client, mut server) = client();
    let transport = Kubernetes::new(client);
    let first = tokio::spawn({
        let transport = transport.clone();
        async move { transport.create(&job(json!(null))).await }
    });
    server.expect("GET", "/apis/batch/v1", batch_v1()).await;
    let sent = server
        .expect_answering("POST", "/apis/batch/v1/namespaces/jobs/jobs", 201, job(json!({"active": 1})))
        .await;
    assert_eq!(sent["metadata"]["name"], "dns-abc-1");
    let (created, new) = first.await.unwrap().unwrap();
    assert!(new);
    assert_eq!(created["status"]["active"], 1);

    // A re-delivered event: the Job exists; no second one, the existing one is read back.
    let second = tokio::spawn({
        let transport = transport.clone();
        async move { transport.create(&job(json!(null))).await }
    });
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists",
                          "message": "jobs.batch \"dns-abc-1\" already exists", "code": 409});
    server.expect_answering("POST", "/apis/batch/v1/namespaces/jobs/jobs", 409, conflict).await;
    let done = job(json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}));
    server.expect("GET", "/apis/batch/v1/namespaces/jobs/jobs/dns-abc-1", done).await;
    let (existing, new) = second.await.unwrap().unwrap();
    assert!(!new, "discovery is cached and nothing is created twice");
    assert_eq!(crate::adapter::job::job_state(Some(&existing)), crate::adapter::job::JobState::Succeeded);
}

#[tokio::test]
async fn label_discovery_picks_the_newest_generation_and_errors_are_classified() {
    let (client, mut server) = client();
    let transport = Kubernetes::new(client);
    let target = Target {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: Some("jobs".into()),
        select: Select::Labels(BTreeMap::from([("hyperfleet.io/adapter".to_owned(), "dns".to_owned())])),
    };
    let find = tokio::spawn({
        let (transport, target) = (transport.clone(), target.clone());
        async move { transport.find(&target).await }
    });
    server.expect("GET", "/apis/batch/v1", batch_v1()).await;
    let mut newer = job(json!({}));
    newer["metadata"]["name"] = "dns-abc-2".into();
    newer["metadata"]["labels"]["hyperfleet.io/generation"] = "2".into();
    let list = json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": [job(json!({})), newer]});
    server.expect("GET", "/apis/batch/v1/namespaces/jobs/jobs", list).await;
    let found = find.await.unwrap().unwrap().unwrap();
    assert_eq!(found["metadata"]["name"], "dns-abc-2");

    let refused = tokio::spawn(async move { transport.create(&job(json!(null))).await });
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                           "message": "jobs.batch is forbidden", "code": 403});
    server.expect_answering("POST", "/apis/batch/v1/namespaces/jobs/jobs", 403, forbidden).await;
    let refused = refused.await.unwrap();
    assert!(refused.as_ref().is_err_and(|err| !err.is_transient()), "forbidden is not retried: {refused:?}");
}

#[tokio::test]
async fn a_finished_jobs_result_is_its_newest_pods_termination_message() {
    let (client, mut server) = client();
    let transport = Kubernetes::new(client);
    let target = Target::of(&job(json!(null))).unwrap();
    let message = tokio::spawn(async move { transport.termination_message(&target).await });
    let pod = |name: &str, at: &str, state: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "jobs", "creationTimestamp": at, "labels": {"job-name": "dns-abc-1"}},
               "status": {"containerStatuses": [{"name": "adapter", "image": "i", "imageID": "", "ready": false,
                          "restartCount": 0, "state": state}]}})
    };
    let terminated = |message: &str| json!({"terminated": {"exitCode": 1, "message": message}});
    let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        pod("dns-abc-1-b", "2026-01-01T00:00:02Z", terminated("2 problems: name: ...; spec.release.version: required\n")),
        pod("dns-abc-1-a", "2026-01-01T00:00:01Z", terminated("an older attempt")),
        pod("dns-abc-1-c", "2026-01-01T00:00:03Z", json!({"running": {}})),
    ]});
    let query = server.expect_query("GET", "/api/v1/namespaces/jobs/pods", list).await;
    assert!(query.contains("labelSelector=job-name%3Ddns-abc-1"), "{query}");
    let message = message.await.unwrap().unwrap();
    assert_eq!(message.as_deref(), Some("2 problems: name: ...; spec.release.version: required"));
}

#[tokio::test]
async fn a_jobs_failed_create_warnings_say_why_it_cannot_start() {
    let (client, mut server) = client();
    let transport = Kubernetes::new(client);
    let target = Target::of(&job(json!(null))).unwrap();
    let warnings = tokio::spawn(async move { transport.warnings(&target).await });
    let event = |reason: &str, message: &str, at: &str| {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": format!("e-{at}"), "namespace": "jobs"},
               "involvedObject": {"kind": "Job", "name": "dns-abc-1", "namespace": "jobs"},
               "reason": reason, "message": message, "type": "Warning", "lastTimestamp": at})
    };
    let list = json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [
        event("FailedCreate", "pods \"dns-abc-1-x\" is forbidden: violates PodSecurity \"restricted:latest\"", "2026-01-01T00:00:02Z"),
        event("BackoffLimitExceeded", "not about starting", "2026-01-01T00:00:03Z"),
        event("FailedCreate", "an older refusal", "2026-01-01T00:00:01Z"),
    ]});
    server.expect("GET", "/api/v1/namespaces/jobs/events", list).await;
    let warnings = warnings.await.unwrap().unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[1].contains("violates PodSecurity"), "newest last: {warnings:?}");
}

#[tokio::test]
async fn a_label_lookup_lists_with_the_selector_and_sorts_by_name() {
    let (client, mut server) = client();
    let transport = Kubernetes::new(client);
    let target = Target {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("hyperfleet".into()),
        select: Select::Labels(BTreeMap::from([(
            "hyperfleet.io/management-cluster".to_owned(),
            "true".to_owned(),
        )])),
    };
    let list = tokio::spawn(async move { transport.list(&target).await });
    let core = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]});
    server.expect("GET", "/api/v1", core).await;
    let configmap = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "hyperfleet"}, "data": {"region": "us-east1"}})
    };
    let answer = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {},
                        "items": [configmap("mgmt-b"), configmap("mgmt-a")]});
    let query = server.expect_query("GET", "/api/v1/namespaces/hyperfleet/configmaps", answer).await;
    assert!(query.contains("labelSelector=hyperfleet.io%2Fmanagement-cluster%3Dtrue"), "{query}");
    let names: Vec<Value> =
        list.await.unwrap().unwrap().iter().map(|o| o["metadata"]["name"].clone()).collect();
    assert_eq!(names, [json!("mgmt-a"), json!("mgmt-b")]);
}

#[tokio::test]
async fn a_watch_gives_the_changes_after_the_listing_of_the_selected_jobs() {
    use futures::StreamExt as _;
    let (client, mut server) = client();
    let transport = std::sync::Arc::new(Kubernetes::new(client));
    let target = Target {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: Some("jobs".into()),
        select: Select::Labels(BTreeMap::from([("hyperfleet.io/adapter".into(), "dns".into())])),
    };
    let watching =
        tokio::spawn(async move { transport.changes(target).await.unwrap().unwrap().next().await });
    server.expect("GET", "/apis/batch/v1", batch_v1()).await;
    let list = json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "5"},
                      "items": [job(json!({"active": 1}))]});
    let query = server.expect_query("GET", "/apis/batch/v1/namespaces/jobs/jobs", list).await;
    assert!(query.contains("labelSelector=hyperfleet.io%2Fadapter%3Ddns"), "{query}");
    let mut finished = job(json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}));
    finished["metadata"]["resourceVersion"] = "6".into();
    let query = server
        .expect_query(
            "GET",
            "/apis/batch/v1/namespaces/jobs/jobs",
            json!({"type": "MODIFIED", "object": finished}),
        )
        .await;
    assert!(query.contains("watch=true") && query.contains("resourceVersion=5"), "{query}");
    let changed = tokio::time::timeout(std::time::Duration::from_secs(5), watching)
        .await
        .expect("the watch yields the change")
        .unwrap()
        .expect("the change");
    assert_eq!(crate::adapter::job::job_state(Some(&changed)), crate::adapter::job::JobState::Succeeded);
}
