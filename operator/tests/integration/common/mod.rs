//! The real API, in-process over the test's database, and helpers to shape a fleet in it.

pub mod counted;

use std::sync::Arc;

use sqlx::PgPool;

use hyperfleet_api_model::{
    ConditionStatus, CreateResource, ReconcileEventData, ReconcileReason, ReportedCondition, Resource,
    ResourceType, StatusReport, client::Client,
};
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics};
use hyperfleet_crds::v1alpha1::AdapterConfigSpec;
use hyperfleet_operator::{
    adapter::{
        Adapter, AdapterPlan, AdapterProgress, AdapterRunner, Handled, Transports, metrics::AdapterMetrics,
        transport::dry_run::DryRun,
    },
    tasks::{TaskHealth, TaskRegistry},
};

/// The test RabbitMQ (`AMQP_URL`, which `hack/test.sh` sets).
pub fn rabbitmq_config() -> BrokerConfig {
    let url = std::env::var("AMQP_URL").expect("AMQP_URL is not set: run the tests with hack/test.sh");
    BrokerConfig::Rabbitmq { url, prefetch: None }
}

/// A broker on the test RabbitMQ.
pub async fn rabbitmq_broker() -> Arc<dyn Broker> {
    hyperfleet_broker::connect(&rabbitmq_config(), BrokerMetrics::default()).await.unwrap()
}

/// An in-process memory broker.
pub async fn memory_broker() -> Arc<dyn Broker> {
    hyperfleet_broker::connect(&BrokerConfig::Memory {}, BrokerMetrics::default()).await.unwrap()
}

/// Serves the API with `dns` as the one required cluster adapter; returns a client for it.
pub async fn api(pool: PgPool) -> Client {
    api_requiring(pool, &["dns"]).await
}

/// Serves the API with `adapters` as the required cluster adapters.
pub async fn api_requiring(pool: PgPool, adapters: &[&str]) -> Client {
    hyperfleet_testing::api::serve_requiring(pool, adapters, &[]).await.unwrap().client
}

/// Creates a cluster with `labels`.
pub async fn cluster(client: &Client, name: &str, labels: &[(&str, &str)]) -> Resource {
    let body = CreateResource {
        kind: None,
        name: name.into(),
        spec: serde_json::json!({}),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    client.create_cluster(&body).await.unwrap()
}

/// Reports the `dns` adapter done at `generation`, which reconciles the cluster.
pub async fn reconcile(client: &Client, cluster: &Resource, generation: i64) {
    report_done(client, cluster, "dns", generation).await;
}

/// Reports `adapter` Applied, Available and Healthy at `generation`.
pub async fn report_done(client: &Client, cluster: &Resource, adapter: &str, generation: i64) {
    report(client, cluster, adapter, generation, ConditionStatus::True).await;
}

/// Reports `adapter` Applied and Healthy at `generation`, with `available` (False: work under way).
pub async fn report(
    client: &Client,
    cluster: &Resource,
    adapter: &str,
    generation: i64,
    available: ConditionStatus,
) {
    let condition = |type_: &str, status: ConditionStatus| ReportedCondition {
        type_: type_.into(),
        status,
        reason: None,
        message: None,
    };
    let report = StatusReport {
        adapter: adapter.into(),
        observed_generation: generation,
        observed_time: None,
        conditions: vec![
            condition("Applied", ConditionStatus::True),
            condition("Available", available),
            condition("Health", ConditionStatus::True),
        ],
        data: None,
        metadata: None,
    };
    client.put_status(&cluster.href, &report).await.unwrap().unwrap();
}

/// The adapter of the AdapterConfig spec `yaml` over the real API, every object on `dry_run`.
pub fn adapter(yaml: &str, client: &Client, dry_run: &Arc<DryRun>) -> Adapter {
    let spec: AdapterConfigSpec = serde_saphyr::from_str(yaml).unwrap();
    let plan = AdapterPlan::compile(&spec).unwrap();
    let transports =
        Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: Some(dry_run.clone()) };
    Adapter::new(plan, Arc::new(client.clone()), transports, "http://api.test")
}

/// The `dns` AdapterConfig spec consuming `topic` (the broker type is the runner's business:
/// tests hand it the broker), with `extra` YAML lines.
pub fn dns_adapter_yaml(topic: &str, extra: &str) -> String {
    format!(
        "adapterType: dns\nresourceType: clusters\nhyperfleetAPI: {{url: \"http://api.test\"}}\n\
         broker: {{type: memory, topic: {topic}}}\njobTemplate: {{namespace: jobs, image: \"example/dns:latest\"}}\n{extra}"
    )
}

/// Runs `adapter` as the task `test/dns` consuming from `broker`, once it consumes.
pub async fn run_adapter(
    adapter: Adapter,
    broker: Arc<dyn Broker>,
) -> (TaskRegistry<String, AdapterProgress>, String) {
    let runner = AdapterRunner::new(adapter, broker, AdapterMetrics::default());
    let mut tasks = TaskRegistry::new(std::time::Duration::from_secs(5));
    let key = "test/dns".to_owned();
    tasks.ensure(&key, 1, |context| runner.run(context)).await;
    // Up to 30 s: the Pub/Sub emulator can take seconds to create a subscription.
    hyperfleet_testing::wait_until("the adapter consumes", std::time::Duration::from_secs(30), async || {
        tasks.health(&key) == Some(TaskHealth::Running)
    })
    .await;
    (tasks, key)
}

/// Creates the cluster `prod` with `spec`.
pub async fn create(client: &Client, spec: serde_json::Value) -> Resource {
    let body = CreateResource { kind: None, name: "prod".into(), spec, labels: Default::default() };
    client.create_cluster(&body).await.unwrap()
}

/// The reconcile event of a cluster.
pub fn event(resource: &Resource) -> ReconcileEventData {
    ReconcileEventData::new(resource, ResourceType::Clusters, ReconcileReason::New)
}

/// The report of a handled event, which the API stored.
pub fn reported(handled: &Handled) -> &StatusReport {
    match handled {
        Handled::Reported { report, stored: true, .. } => report,
        other => panic!("expected a stored report, got {other:?}"),
    }
}

/// The condition `type_` of `report`.
pub fn condition<'a>(report: &'a StatusReport, type_: &str) -> &'a ReportedCondition {
    report.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_} in {report:?}"))
}
