//! Copies of one event for a busy resource (a Sentinel re-publishing while a Job runs, a queue
//! full of stale copies): one pass runs, one waits behind it, the rest are acknowledged as
//! coalesced instead of each costing a fetch, a Kubernetes round and a report.

use crate::common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::Utc;
use serde_json::Value;
use sqlx::PgPool;

use hyperfleet_api_model::{ReconcileEventData, ReconcileReason, ResourceType};
use hyperfleet_broker::{BrokerConfig, BrokerMetrics};
use hyperfleet_operator::{
    adapter::{
        Adapter, AdapterPlan, Transports,
        transport::{
            ObjectTransport, Target, TransportError,
            dry_run::{DryRun, JobOutcome},
        },
    },
    sentinel::event::reconcile_event,
};

/// The dry-run transport, with Job creation taking a while and counted: one create per pass.
#[derive(Debug)]
struct SlowJobs {
    inner: DryRun,
    creates: AtomicUsize,
}

#[async_trait::async_trait]
impl ObjectTransport for SlowJobs {
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.inner.create(manifest).await
    }

    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        self.inner.apply(manifest).await
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        self.inner.find(target).await
    }

    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        self.inner.list(target).await
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        self.inner.delete(target).await
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn twenty_copies_of_an_event_cost_two_passes(pool: PgPool) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let topic = format!("coalesce-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let yaml = common::dns_adapter_yaml(&topic, "concurrency: 8\n");
    let plan = AdapterPlan::compile(&serde_saphyr::from_str(&yaml).unwrap()).unwrap();
    let jobs = Arc::new(SlowJobs {
        inner: DryRun::new(Duration::from_secs(3600), JobOutcome::Succeed),
        creates: 0.into(),
    });
    let transports = Transports { kubernetes: jobs.clone(), dry_run: jobs.clone(), maestro: None };
    let adapter = Adapter::new(plan, Arc::new(client.clone()), transports, "http://api.test");
    let broker =
        hyperfleet_broker::connect(&BrokerConfig::Memory {}, BrokerMetrics::default()).await.unwrap();
    let (mut tasks, key) = common::run_adapter(adapter, broker.clone()).await;

    let cluster = common::create(&client, serde_json::json!({})).await;
    let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::NotReady);
    for _ in 0..20 {
        broker.publish(&topic, &reconcile_event(&data, "test", Utc::now()).unwrap()).await.unwrap();
    }
    hyperfleet_testing::wait_until("every copy handled", Duration::from_secs(10), async || {
        tasks.progress(&key).is_some_and(|p| p.processed == 20)
    })
    .await;
    let passes = jobs.creates.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&passes),
        "{passes} passes for 20 copies: one ran, one waited, the rest coalesced"
    );
    let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
    assert_eq!(statuses.len(), 1, "the dns report");
    tasks.shutdown_all().await;
}
