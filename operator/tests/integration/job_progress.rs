//! An adapter learns of its own work's progress: with one event and no Sentinel, a Job's finish
//! alone brings the report from "running" to Available, and so does an object's controller
//! writing its status (the dry-run cluster tells the watch, as a Kubernetes watch would); the
//! Job is not run twice.

use crate::common;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_api_model::{
    ConditionStatus, ReconcileEventData, ReconcileReason, ResourceType, client::Client,
};
use hyperfleet_operator::{
    adapter::transport::dry_run::{DryRun, JobOutcome},
    sentinel::event::reconcile_event,
};

async fn available(client: &Client, href: &str) -> Option<ConditionStatus> {
    let statuses = client.list_statuses(href).await.unwrap().items;
    let dns = statuses.into_iter().find(|s| s.adapter == "dns")?;
    dns.conditions.into_iter().find(|c| c.type_ == "Available").map(|c| c.status)
}

/// The `dns` adapter of `yaml` (a spec naming `topic`), handed one event for a new cluster,
/// with simulated work taking 300 ms; waits until it reported that work unfinished, then for
/// it to report it done.
async fn one_event_then_the_work_alone(pool: PgPool, yaml: impl Fn(&str) -> String) -> Arc<DryRun> {
    let client = common::api_requiring(pool, &["dns"]).await;
    let broker = common::memory_broker().await;
    let topic = format!("progress-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let dry_run = Arc::new(DryRun::new(Duration::from_millis(300), JobOutcome::Succeed));
    let adapter = common::adapter(&yaml(&topic), &client, &dry_run);
    let (mut tasks, _) = common::run_adapter(adapter, broker.clone()).await;

    let cluster = common::create(&client, serde_json::json!({})).await;
    let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::New);
    broker.publish(&topic, &reconcile_event(&data, "test", Utc::now()).unwrap()).await.unwrap();
    let what = "the report of the unfinished work";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), async || {
        available(&client, &cluster.href).await == Some(ConditionStatus::False)
    })
    .await;
    // The one event was consumed; only the work's progress can move the report now.
    let what = "the report of the finished work";
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), async || {
        available(&client, &cluster.href).await == Some(ConditionStatus::True)
    })
    .await;
    tasks.shutdown_all().await;
    dry_run
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_finished_job_is_reported_without_waiting_for_another_event(pool: PgPool) {
    let dry_run = one_event_then_the_work_alone(pool, |topic| common::dns_adapter_yaml(topic, "")).await;
    let jobs = dry_run.recorded().into_iter().filter(|object| object["kind"] == "Job").count();
    assert_eq!(jobs, 1, "the Job's pass reads the Job, it does not run it again");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_object_whose_controller_writes_its_status_is_reported_at_once(pool: PgPool) {
    let yaml = |topic: &str| {
        format!(
            r#"adapterType: dns
resourceType: clusters
hyperfleetAPI: {{url: "http://api.test"}}
broker: {{type: memory, topic: {topic}}}
resources:
  - name: record
    manifest: |
      apiVersion: externaldns.k8s.io/v1alpha1
      kind: DNSEndpoint
      metadata: {{name: "api-{{{{ cluster.id }}}}", namespace: clusters}}
      spec: {{endpoints: []}}
status:
  - type: Available
    status: "resources.?record.?status.?observedGeneration.orValue(0) > 0"
"#
        )
    };
    one_event_then_the_work_alone(pool, yaml).await;
}
