//! Reconciler scenarios against the scripted API server.

use crate::tasks::TaskKey;
use std::{sync::Arc, time::Duration};

use futures::stream;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::controller::driver::{drive, reconcile};
use crate::controller::fixtures::{context, sentinel_json};
use kube::runtime::controller::Action;

fn guarded(value: Value) -> Arc<GuardedSentinel> {
    Arc::new(serde_json::from_value(value).unwrap())
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap()
}

#[tokio::test]
async fn a_new_sentinelconfig_starts_its_task_and_gets_a_status_and_an_event() {
    let (context, mut server) = context();
    let object = guarded(sentinel_json("fleet", "eu", 1, json!({})));
    let reconciling = tokio::spawn(reconcile::<SentinelConfig>(object, context.clone()));

    let status = server.expect_sentinel_status("fleet", "eu").await;
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(condition(&status, "Ready")["reason"], "Starting");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["shard"], "labels.region = 'eu-west'");
    let event = server.expect_event("fleet").await;
    assert_eq!(
        (event["reason"].as_str(), event["type"].as_str()),
        (Some("Starting"), Some("Normal")),
        "a task starting is no trouble"
    );
    assert_eq!(event["regarding"]["name"], "eu");

    let action = reconciling.await.unwrap().unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
    assert_eq!(context.workloads.sentinel_keys().await, [TaskKey::new("fleet", "eu")]);
}

#[tokio::test]
async fn a_spec_change_restarts_the_task_at_the_new_generation() {
    let (context, mut server) = context();
    let first = tokio::spawn(reconcile::<SentinelConfig>(
        guarded(sentinel_json("fleet", "eu", 1, json!({}))),
        context.clone(),
    ));
    let status = server.expect_sentinel_status("fleet", "eu").await;
    server.expect_event("fleet").await;
    first.await.unwrap().unwrap();

    // The API server now holds that status; the spec changes to generation 2.
    let mut changed = sentinel_json("fleet", "eu", 2, json!({"pollInterval": "2h", "backoffNotReady": "2h"}));
    changed["status"] = status;
    let second = tokio::spawn(reconcile::<SentinelConfig>(guarded(changed), context.clone()));
    let status = server.expect_sentinel_status("fleet", "eu").await;
    assert_eq!(status["observedGeneration"], 2);
    server.expect_nothing().await; // still Starting: no transition, no Event
    second.await.unwrap().unwrap();
    assert_eq!(context.workloads.sentinel_generation("fleet", "eu").await, Some(2));
}

#[tokio::test]
async fn invalid_cel_gives_invalid_config_and_no_task() {
    // A syntax error, and what once overflowed the stack of every replica: deep nesting, a
    // long member chain.
    let nested = format!("{}true{}", "(".repeat(200), ")".repeat(200));
    let chain = format!("has(resource{})", ".a".repeat(1500));
    for source in ["resource.generation >", &nested, &chain] {
        let (context, mut server) = context();
        let object = sentinel_json("fleet", "bad", 1, json!({"messageDecision": source}));
        let reconciling = tokio::spawn(reconcile::<SentinelConfig>(guarded(object), context.clone()));

        let status = server.expect_sentinel_status("fleet", "bad").await;
        let ready = condition(&status, "Ready");
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str()),
            (Some("False"), Some("InvalidConfig"))
        );
        assert!(
            ready["message"].as_str().unwrap().contains("messageDecision: invalid CEL expression"),
            "{ready}"
        );
        assert_eq!(condition(&status, "Degraded")["status"], "True");
        let event = server.expect_event("fleet").await;
        assert_eq!(
            (event["reason"].as_str(), event["type"].as_str()),
            (Some("InvalidConfig"), Some("Warning"))
        );

        assert_eq!(reconciling.await.unwrap().unwrap(), Action::await_change());
        assert!(context.workloads.sentinel_keys().await.is_empty());
    }
}

#[tokio::test]
async fn an_object_that_does_not_match_the_schema_gets_invalid_config_without_stopping_anything() {
    let (context, mut server) = context();
    let mut object = sentinel_json("fleet", "garbled", 1, json!({}));
    object["spec"]["resourceType"] = json!(42);
    let reconciling = tokio::spawn(reconcile::<SentinelConfig>(guarded(object), context.clone()));
    let (content_type, status) =
        server.expect_status_of_undecodable("sentinelconfigs", "SentinelConfig", "fleet", "garbled").await;
    assert!(content_type.starts_with("application/merge-patch+json"), "{content_type}");
    let ready = condition(&status, "Ready");
    assert_eq!(ready["reason"], "InvalidConfig");
    assert!(
        ready["message"].as_str().unwrap().contains("does not match the SentinelConfig schema"),
        "{ready}"
    );
    server.expect_event("fleet").await;
    assert_eq!(reconciling.await.unwrap().unwrap(), Action::await_change());
}

#[tokio::test]
async fn a_deleted_sentinelconfig_has_its_task_stopped() {
    let (context, mut server) = context();
    let (store, mut writer) = reflector::store::<GuardedSentinel>();
    let object: GuardedSentinel = serde_json::from_value(sentinel_json("fleet", "eu", 1, json!({}))).unwrap();
    let (events_tx, events_rx) =
        futures::channel::mpsc::unbounded::<Result<GuardedSentinel, watcher::Error>>();
    let shutdown = CancellationToken::new();
    let controller = tokio::spawn(drive::<SentinelConfig>(
        context.clone(),
        events_rx,
        store,
        stream::pending(),
        shutdown.clone(),
    ));

    // The initial list, as the watcher delivers it (the controller waits for the store to be ready).
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    events_tx.unbounded_send(Ok(object.clone())).unwrap();
    server.expect_sentinel_status("fleet", "eu").await;
    server.expect_event("fleet").await;
    wait_until(|| async { context.workloads.sentinel_keys().await.len() == 1 }).await;

    writer.apply_watcher_event(&watcher::Event::Delete(object.clone()));
    events_tx.unbounded_send(Ok(object)).unwrap();
    wait_until(|| async { context.workloads.sentinel_keys().await.is_empty() }).await;
    server.expect_nothing().await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), controller).await.unwrap().unwrap();
}

async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    hyperfleet_testing::wait_until("the condition", Duration::from_secs(1), condition).await;
}

#[test]
fn the_status_carries_the_figures_kubectl_shows_and_keeps_transition_times() {
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    use crate::{sentinel::SentinelProgress, tasks::TaskHealth};

    let at = |s: i64| Time(Timestamp::from_second(s).unwrap());
    let progress = SentinelProgress {
        last_poll: Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        in_shard: 120,
        pending: 7,
        published: 42,
        publish_errors: 0,
        last_error: None,
    };
    let running = Applied::Running {
        health: TaskHealth::Running,
        progress,
        shard: Some("labels.region = 'eu'".into()),
    };
    let first =
        sentinel_status(&running, Some(3), &SentinelConfigStatus::default(), &at(100), &Default::default());
    assert_eq!(
        (first.resources_in_shard, first.resources_pending, first.events_published),
        (Some(120), Some(7), Some(42))
    );
    assert_eq!(first.last_poll_time, Some(at(1_800_000_000)));
    assert_eq!(first.shard.as_deref(), Some("labels.region = 'eu'"));
    assert_eq!(first.observed_generation, Some(3));
    let ready = first.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.last_transition_time.clone()), ("True", at(100)));

    let later = sentinel_status(&running, Some(3), &first, &at(200), &Default::default());
    assert_eq!(later, first, "nothing changed: the same status, so no write");
}
