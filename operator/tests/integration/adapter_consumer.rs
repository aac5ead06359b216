//! An adapter as a task consuming from real brokers: a published reconcile event becomes a
//! status report in the API; an event the adapter cannot understand is dead-lettered at once;
//! the task reports its progress.

use crate::common;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use cloudevents::{EventBuilder, EventBuilderV10};
use sqlx::PgPool;

use hyperfleet_api_model::{
    ConditionStatus, CreateResource, ReconcileEventData, ReconcileReason, ResourceType,
};
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics, Subscription};
use hyperfleet_crds::v1alpha1::AdapterConfigSpec;
use hyperfleet_operator::{
    adapter::{
        Adapter, AdapterPlan, AdapterProgress, AdapterRunner, Transports,
        metrics::AdapterMetrics,
        transport::{
            ObjectTransport, Target, TransportError,
            dry_run::{DryRun, JobOutcome},
        },
    },
    sentinel::event::reconcile_event,
    tasks::{TaskHealth, TaskRegistry},
};

fn spec(topic: &str) -> String {
    common::dns_adapter_yaml(topic, "maxDeliveries: 3\n")
}

/// Waits up to 30 s: the Pub/Sub emulator can take seconds to create a subscription when the
/// whole suite runs at once.
async fn eventually<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, check: F) {
    hyperfleet_testing::wait_until(what, Duration::from_secs(30), check).await;
}

async fn events_become_reports_and_poison_is_dead_lettered(pool: PgPool, broker: Arc<dyn Broker>) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let topic = format!("adapter-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let adapter = common::adapter(&spec(&topic), &client, &dry_run);
    let (mut tasks, key) = common::run_adapter(adapter, broker.clone()).await;

    let body = CreateResource {
        kind: None,
        name: "prod".into(),
        spec: serde_json::json!({}),
        labels: Default::default(),
    };
    let cluster = client.create_cluster(&body).await.unwrap();
    let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::New);
    let event = reconcile_event(&data, "test", Utc::now()).unwrap();
    broker.publish(&topic, &event).await.unwrap();
    eventually("the dns report", async || {
        let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
        statuses.iter().any(|s| {
            s.adapter == "dns"
                && s.conditions.iter().any(|c| c.type_ == "Available" && c.status == ConditionStatus::True)
        })
    })
    .await;

    let poison = EventBuilderV10::new()
        .id("poison-1")
        .source("test")
        .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
        .data("application/json", serde_json::json!({"unexpected": true}))
        .build()
        .unwrap();
    broker.publish(&topic, &poison).await.unwrap();
    let subscription = Subscription::new(&topic, "dns");
    let dead = std::sync::Mutex::new(Vec::new());
    eventually("the poison event in the dead-letter queue", async || {
        let drained = broker.drain_dead_letters(&subscription, 10).await.unwrap();
        let mut dead = dead.lock().unwrap();
        dead.extend(drained);
        !dead.is_empty()
    })
    .await;
    let dead = dead.into_inner().unwrap();
    assert!(String::from_utf8_lossy(&dead[0]).contains("poison-1"));

    let progress = tasks.progress(&key).unwrap();
    assert_eq!(progress.processed, 2);
    assert!(
        progress.last_error.as_deref().unwrap().contains("not a reconcile event: missing field"),
        "{progress:?}"
    );
    tasks.shutdown_all().await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn events_become_reports_and_poison_is_dead_lettered_over_memory(pool: PgPool) {
    let broker = common::memory_broker().await;
    events_become_reports_and_poison_is_dead_lettered(pool, broker).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn events_become_reports_and_poison_is_dead_lettered_over_rabbitmq(pool: PgPool) {
    let broker = common::rabbitmq_broker().await;
    events_become_reports_and_poison_is_dead_lettered(pool, broker).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn events_become_reports_and_poison_is_dead_lettered_over_pubsub(pool: PgPool) {
    let host = std::env::var("PUBSUB_EMULATOR_HOST")
        .expect("PUBSUB_EMULATOR_HOST is not set: run the tests with hack/test.sh");
    // A project of its own: subscription names (here the adapter's, `dns`) are per project.
    let project = format!("consumer-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let config = BrokerConfig::GcpPubsub { project_id: project, emulator_host: Some(host) };
    let broker = hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap();
    events_become_reports_and_poison_is_dead_lettered(pool, broker).await;
}

/// The dry-run transport, except that the API server refuses every Job (as a namespace the
/// operator may not write answers).
#[derive(Debug)]
struct ForbiddenJobs(DryRun);

#[async_trait::async_trait]
impl ObjectTransport for ForbiddenJobs {
    async fn create(
        &self,
        manifest: &serde_json::Value,
    ) -> Result<(serde_json::Value, bool), TransportError> {
        let status =
            kube::core::Status::failure("jobs.batch is forbidden: cannot create jobs in jobs", "Forbidden")
                .with_code(403);
        let target = Target::of(manifest)?.to_string();
        Err(TransportError::Kube { operation: "create", target, source: kube::Error::Api(status.boxed()) })
    }

    async fn apply(&self, manifest: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        self.0.apply(manifest).await
    }

    async fn find(&self, target: &Target) -> Result<Option<serde_json::Value>, TransportError> {
        self.0.find(target).await
    }

    async fn list(&self, target: &Target) -> Result<Vec<serde_json::Value>, TransportError> {
        self.0.list(target).await
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        self.0.delete(target).await
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn events_that_fail_as_reports_degrade_the_adapter_with_the_error_and_its_count(pool: PgPool) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let broker = common::memory_broker().await;
    let topic = "forbidden-jobs";
    let parsed: AdapterConfigSpec = serde_saphyr::from_str(&spec(topic)).unwrap();
    let plan = AdapterPlan::compile(&parsed).unwrap();
    let refusing: Arc<dyn ObjectTransport> =
        Arc::new(ForbiddenJobs(DryRun::new(Duration::ZERO, JobOutcome::Succeed)));
    let transports = Transports { kubernetes: refusing.clone(), dry_run: refusing, maestro: None };
    let adapter = Adapter::new(plan, Arc::new(client.clone()), transports, "http://api.test");
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AdapterMetrics::register(&mut registry);
    let mut tasks: TaskRegistry<String, AdapterProgress> = TaskRegistry::new(Duration::from_secs(5));
    let key = "test/dns".to_owned();
    let runner = AdapterRunner::new(adapter, broker.clone(), metrics);
    tasks.ensure(&key, 1, |context| runner.run(context)).await;
    eventually("the subscription", async || tasks.health(&key) == Some(TaskHealth::Running)).await;

    for name in ["one", "two", "three"] {
        let body = CreateResource {
            kind: None,
            name: name.into(),
            spec: serde_json::json!({}),
            labels: Default::default(),
        };
        let cluster = client.create_cluster(&body).await.unwrap();
        let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::New);
        broker.publish(topic, &reconcile_event(&data, "test", Utc::now()).unwrap()).await.unwrap();
    }
    eventually("three failed events", async || tasks.progress(&key).unwrap().failed == 3).await;
    let progress = tasks.progress(&key).unwrap();
    assert!(progress.last_error.as_deref().unwrap().contains("jobs.batch is forbidden"), "{progress:?}");
    let Some(TaskHealth::Degraded(message)) = tasks.health(&key) else { panic!("{:?}", tasks.health(&key)) };
    assert!(message.starts_with("3 of the last 3 events failed"), "{message}");
    let exposition = hyperfleet_telemetry::render_metrics(&registry).unwrap();
    assert!(exposition.contains(r#"category="ExecutionFailed""#), "{exposition}");
    tasks.shutdown_all().await;
}
