//! Copies of one event for a busy resource (a Sentinel re-publishing while a Job runs, a queue
//! full of stale copies): one pass runs, one waits behind it, the rest are acknowledged as
//! coalesced instead of each costing a fetch, a Kubernetes round and a report. Copies that
//! queued up before a pass ran cost nothing, and a newer generation behind them is handled.

use crate::common;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;

use crate::common::counted::CountedJobs;
use hyperfleet_api_model::{
    PatchResource, ReconcileEventData, ReconcileReason, ResourceType, client::Client,
};
use hyperfleet_broker::Broker;
use hyperfleet_operator::{
    adapter::{Adapter, AdapterPlan, AdapterProgress},
    sentinel::event::reconcile_event,
    tasks::TaskRegistry,
};

/// The dns adapter (concurrency 8) consuming a fresh memory topic, its Jobs running for an hour
/// and each create taking `create_delay`.
struct Consuming {
    client: Client,
    topic: String,
    jobs: Arc<CountedJobs>,
    broker: Arc<dyn Broker>,
    tasks: TaskRegistry<String, AdapterProgress>,
    key: String,
}

async fn consuming(pool: PgPool, create_delay: Duration) -> Consuming {
    let client = common::api_requiring(pool, &["dns"]).await;
    let topic = format!("coalesce-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let yaml = common::dns_adapter_yaml(&topic, "concurrency: 8\n");
    let plan = AdapterPlan::compile(&serde_saphyr::from_str(&yaml).unwrap()).unwrap();
    let jobs = CountedJobs::new(Duration::from_secs(3600), create_delay);
    let adapter = Adapter::new(plan, Arc::new(client.clone()), jobs.transports(), "http://api.test");
    let broker = common::memory_broker().await;
    let (tasks, key) = common::run_adapter(adapter, broker.clone()).await;
    Consuming { client, topic, jobs, broker, tasks, key }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn twenty_copies_of_an_event_cost_two_passes(pool: PgPool) {
    let Consuming { client, topic, jobs, broker, mut tasks, key } =
        consuming(pool, Duration::from_millis(300)).await;

    let cluster = common::create(&client, serde_json::json!({})).await;
    let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::NotReady);
    for _ in 0..20 {
        broker.publish(&topic, &reconcile_event(&data, "test", Utc::now()).unwrap()).await.unwrap();
    }
    hyperfleet_testing::wait_until("every copy handled", Duration::from_secs(10), async || {
        tasks.progress(&key).is_some_and(|p| p.processed == 20)
    })
    .await;
    let passes = jobs.creates();
    assert!(
        (2..=3).contains(&passes),
        "{passes} passes for 20 copies: one ran, one waited, the rest coalesced"
    );
    let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
    assert_eq!(statuses.len(), 1, "the dns report");
    tasks.shutdown_all().await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_thousand_queued_copies_cost_no_pass_and_a_newer_generation_behind_them_is_handled(pool: PgPool) {
    let Consuming { client, topic, jobs, broker, mut tasks, key } = consuming(pool, Duration::ZERO).await;
    let processed = |tasks: &TaskRegistry<String, AdapterProgress>, n: u64| {
        tasks.progress(&key).is_some_and(|p| p.processed == n)
    };

    let cluster = common::create(&client, serde_json::json!({})).await;
    let first = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::New);
    broker.publish(&topic, &reconcile_event(&first, "test", Utc::now()).unwrap()).await.unwrap();
    hyperfleet_testing::wait_until("the first event handled", Duration::from_secs(10), async || {
        processed(&tasks, 1)
    })
    .await;
    // A backlog: copies the Sentinel published before that pass read the cluster, then the
    // spec changes and its event comes last.
    let earlier = Utc::now() - chrono::Duration::seconds(10);
    let copy = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::NotReady);
    for _ in 0..1000 {
        broker.publish(&topic, &reconcile_event(&copy, "test", earlier).unwrap()).await.unwrap();
    }
    let patch = PatchResource { spec: Some(serde_json::json!({"size": 2})), labels: None };
    let changed = client.patch_cluster(cluster.id, &patch).await.unwrap();
    let newer = ReconcileEventData::new(&changed, ResourceType::Clusters, ReconcileReason::GenerationChanged);
    broker.publish(&topic, &reconcile_event(&newer, "test", Utc::now()).unwrap()).await.unwrap();
    hyperfleet_testing::wait_until("every copy handled", Duration::from_secs(20), async || {
        processed(&tasks, 1002)
    })
    .await;

    assert_eq!(jobs.creates(), 2, "two passes acted: the first event's and the newer generation's");
    let created = jobs.created();
    assert_eq!(created.len(), 2, "one Job per generation, none for a copy: {created:?}");
    assert_ne!(created[0], created[1]);
    let status = client.list_statuses(&cluster.href).await.unwrap().items;
    assert_eq!(status[0].observed_generation, 2, "the newer generation was not lost behind the copies");
    tasks.shutdown_all().await;
}
