//! Two operator replicas consuming one adapter's subscription on a real broker (competing
//! consumers, each with its own connection, one cluster between them): copies of every event,
//! and a newer generation published while the older one is still being handled, never create
//! an object twice, and the report left is the newest generation's. And what deleting an
//! AdapterConfig (`deletionPolicy: Delete`) removes from the broker: its subscription and
//! whatever waited in it.

use crate::common::{self, counted::CountedJobs};

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;

use cloudevents::{AttributesReader as _, EventBuilder as _, EventBuilderV10};
use hyperfleet_api_model::{
    ConditionStatus, PatchResource, ReconcileEventData, ReconcileReason, ResourceType,
};
use hyperfleet_broker::{BrokerConfig, BrokerMetrics, Outcome};
use hyperfleet_crds::v1alpha1::AdapterConfigSpec;
use hyperfleet_operator::{
    adapter::{Adapter, AdapterPlan},
    metrics::OperatorMetrics,
    resolve::{ResolveError, SecretSource},
    sentinel::event::reconcile_event,
    workloads::{Applied, Resources, Workloads},
};

const CLUSTERS: usize = 4;
const COPIES: usize = 10;

/// A project of its own (subscription names are per project: the adapter's, `dns`, must not
/// meet another test's on another topic).
fn pubsub(project: &str) -> BrokerConfig {
    let host = std::env::var("PUBSUB_EMULATOR_HOST")
        .expect("PUBSUB_EMULATOR_HOST is not set: run the tests with hack/test.sh");
    BrokerConfig::GcpPubsub { project_id: project.into(), emulator_host: Some(host) }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

async fn two_replicas_share_one_subscription(pool: PgPool, config: BrokerConfig) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let topic = unique("replicas");
    let yaml = common::dns_adapter_yaml(&topic, "concurrency: 4\n");
    // One cluster both replicas create Jobs in; creates slowed so handlings overlap.
    let jobs = CountedJobs::new(Duration::ZERO, Duration::from_millis(50));
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let plan = AdapterPlan::compile(&serde_saphyr::from_str(&yaml).unwrap()).unwrap();
        let adapter = Adapter::new(plan, Arc::new(client.clone()), jobs.transports(), "http://api.test");
        let broker = hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap();
        replicas.push((common::run_adapter(adapter, broker.clone()).await, broker));
    }
    let publisher = replicas[0].1.clone();
    let mut clusters = Vec::new();
    for n in 0..CLUSTERS {
        clusters.push(common::cluster(&client, &format!("cluster-{n}"), &[]).await);
    }
    // Generation 1 copies, then a spec change (generation 2) while they are being handled.
    for generation in 1..=2 {
        for cluster in &mut clusters {
            if generation == 2 {
                let body =
                    PatchResource { spec: Some(serde_json::json!({"size": 2})), ..PatchResource::default() };
                *cluster = client.patch_cluster(cluster.id, &body).await.unwrap();
            }
            let data =
                ReconcileEventData::new(cluster, ResourceType::Clusters, ReconcileReason::GenerationChanged);
            for _ in 0..COPIES {
                publisher
                    .publish(&topic, &reconcile_event(&data, "test", Utc::now()).unwrap())
                    .await
                    .unwrap();
            }
        }
    }
    hyperfleet_testing::wait_until("every cluster's newest report", Duration::from_secs(30), async || {
        let mut done = 0;
        for cluster in &clusters {
            let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
            done += usize::from(statuses.iter().any(|s| {
                s.observed_generation == 2
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Available" && c.status == ConditionStatus::True)
            }));
        }
        done == CLUSTERS
    })
    .await;
    let total = 2 * CLUSTERS * COPIES;
    hyperfleet_testing::wait_until("every copy handled", Duration::from_secs(30), async || {
        let handled: u64 =
            replicas.iter().map(|((tasks, key), _)| tasks.progress(key).unwrap().processed).sum();
        handled == total as u64
    })
    .await;
    let mut created = jobs.created();
    let count = created.len();
    created.sort();
    created.dedup();
    assert_eq!(count, created.len(), "an object was created twice: {created:?}");
    assert!(created.len() <= 2 * CLUSTERS, "one Job per cluster and generation at most: {created:?}");
    for cluster in &clusters {
        let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
        assert_eq!(statuses[0].observed_generation, 2, "an older report overwrote the newer one");
    }
    let shares: Vec<u64> =
        replicas.iter().map(|((tasks, key), _)| tasks.progress(key).unwrap().processed).collect();
    if matches!(config, BrokerConfig::Rabbitmq { .. }) {
        assert!(shares.iter().all(|&n| n > 0), "both replicas consume: {shares:?}");
    }
    for ((mut tasks, _), _) in replicas {
        tasks.shutdown_all().await;
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn two_replicas_share_one_subscription_on_rabbitmq(pool: PgPool) {
    two_replicas_share_one_subscription(pool, common::rabbitmq_config()).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn two_replicas_share_one_subscription_on_pubsub(pool: PgPool) {
    two_replicas_share_one_subscription(pool, pubsub(&unique("replicas"))).await;
}

/// The broker URL as the Secret an AdapterConfig names would give it.
#[derive(Debug)]
struct UrlSecret(String);

#[async_trait::async_trait]
impl SecretSource for UrlSecret {
    async fn get(
        &self,
        _namespace: &str,
        _reference: &hyperfleet_crds::v1alpha1::SecretKeyRef,
    ) -> Result<String, ResolveError> {
        Ok(self.0.clone())
    }
}

async fn deleting_an_adapterconfig_removes_its_subscription(
    broker_yaml: String,
    secret: String,
    config: BrokerConfig,
) {
    let topic = unique("cleanup");
    let subscription = unique("cleanup-dns");
    let yaml = format!(
        "adapterType: dns\nresourceType: clusters\nhyperfleetAPI: {{url: \"http://127.0.0.1:9\"}}\n\
         broker: {{{broker_yaml}, topic: {topic}, subscription: {subscription}}}\n\
         jobTemplate: {{namespace: jobs, image: \"example/dns:latest\"}}\n"
    );
    let spec: AdapterConfigSpec = serde_saphyr::from_str(&yaml).unwrap();
    let metrics = OperatorMetrics::new();
    let transports = CountedJobs::new(Duration::ZERO, Duration::ZERO).transports();
    let (workloads, _changes) =
        Workloads::new(Resources::new(&metrics, Arc::new(UrlSecret(secret)), transports));
    // The adapter consumed (its subscription exists), then stopped: an event waits in it.
    let applied = workloads.apply_adapter("fleet", "dns", 1, &spec).await;
    assert!(matches!(applied, Applied::Running { .. }), "{applied:?}");
    workloads.remove_adapter("fleet", "dns").await;
    let broker = hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap();
    broker.publish_raw(&topic, b"{\"left\": \"behind\"}").await.unwrap();

    workloads.remove_subscription("fleet", &spec).await.unwrap();

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler = move |delivery: hyperfleet_broker::Delivery| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(delivery.event.id().to_owned());
            Outcome::Ack
        }
    };
    let again = hyperfleet_operator::resolve::subscription(&spec);
    let consumer = broker.subscribe(again, Arc::new(handler)).await.unwrap();
    let data = serde_json::json!({"resourceType": "clusters", "resourceId": "x", "kind": "Cluster",
                                  "href": "/x", "generation": 1, "reason": "new"});
    let event = EventBuilderV10::new()
        .id("after")
        .source("test")
        .ty("t")
        .data("application/json", data)
        .build()
        .unwrap();
    broker.publish(&topic, &event).await.unwrap();
    hyperfleet_testing::wait_until("the new subscription's event", Duration::from_secs(30), async || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), ["after"], "what waited in the removed subscription is gone");
    assert!(
        broker
            .drain_dead_letters(&hyperfleet_operator::resolve::subscription(&spec), 10)
            .await
            .unwrap()
            .is_empty()
    );
    consumer.close().await;
    workloads.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_adapterconfig_removes_its_rabbitmq_queues() {
    let BrokerConfig::Rabbitmq { url, .. } = common::rabbitmq_config() else { unreachable!() };
    let yaml = "type: rabbitmq, urlSecretRef: {name: rabbitmq, key: url}".to_owned();
    deleting_an_adapterconfig_removes_its_subscription(yaml, url, common::rabbitmq_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_adapterconfig_removes_its_pubsub_subscriptions() {
    // The emulator's address comes from PUBSUB_EMULATOR_HOST, as in the operator.
    let project = unique("cleanup");
    let yaml = format!("type: gcp-pubsub, projectID: {project}");
    deleting_an_adapterconfig_removes_its_subscription(yaml, String::new(), pubsub(&project)).await;
}
