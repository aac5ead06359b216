//! The Sentinel against the real API (PostgreSQL) and real brokers: each shard publishes exactly
//! for its resources, new and changed resources get their event in the first poll, reconciled
//! ones are left alone, stuck ones are re-published once per backoff.

use crate::common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use cloudevents::AttributesReader;
use sqlx::PgPool;

use hyperfleet_api_model::{PatchResource, client::Client};
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics, Consumer, Delivery, Outcome, Subscription};
use hyperfleet_crds::v1alpha1::{ResourceType, ShardSelector};
use hyperfleet_operator::sentinel::{Sentinel, SentinelSettings, query::shard_search};

pub(crate) type Received = Arc<Mutex<Vec<(String, i64, String)>>>; // (resource id, generation, reason)

fn sentinel(name: &str, region: &str, topic: &str, client: &Client, broker: Arc<dyn Broker>) -> Sentinel {
    Sentinel::new(settings(name, region, topic), client.clone(), broker)
}

/// A shard of the clusters labelled `region`, polling every 100 ms, not following the feed.
pub(crate) fn settings(name: &str, region: &str, topic: &str) -> SentinelSettings {
    let selector = ShardSelector {
        match_labels: BTreeMap::from([("region".into(), region.into())]),
        ..Default::default()
    };
    SentinelSettings {
        shard: shard_search(&selector).unwrap(),
        poll_interval: Duration::from_millis(100),
        ..SentinelSettings::new("test", name, ResourceType::Clusters, topic)
    }
}

pub(crate) async fn listen(broker: &Arc<dyn Broker>, topic: &str) -> (Received, Consumer) {
    let received: Received = Arc::default();
    let log = received.clone();
    let handler = move |delivery: Delivery| {
        let log = log.clone();
        async move {
            let data: serde_json::Value = match delivery.event.data() {
                Some(cloudevents::Data::Json(json)) => json.clone(),
                other => panic!("unexpected data {other:?}"),
            };
            assert_eq!(delivery.event.ty(), "com.redhat.hyperfleet.cluster.reconcile.v1");
            let id = data["resourceId"].as_str().unwrap().to_owned();
            log.lock().unwrap().push((
                id,
                data["generation"].as_i64().unwrap(),
                data["reason"].as_str().unwrap().to_owned(),
            ));
            Outcome::Ack
        }
    };
    let consumer =
        broker.subscribe(Subscription::new(topic, format!("{topic}-test")), Arc::new(handler)).await.unwrap();
    (received, consumer)
}

pub(crate) async fn drain(received: &Received, expected: usize) -> Vec<(String, i64, String)> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut events = std::mem::take(&mut *received.lock().unwrap());
    events.sort();
    events
}

async fn shards_publish_for_their_own_resources(pool: PgPool, broker: Arc<dyn Broker>) {
    let client = common::api(pool).await;
    let topic = format!("clusters{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
    let (received, consumer) = listen(&broker, &topic).await;
    let a = common::cluster(&client, "east-a", &[("region", "us-east")]).await;
    let b = common::cluster(&client, "east-b", &[("region", "us-east")]).await;
    let west = common::cluster(&client, "west-a", &[("region", "eu-west")]).await;
    let mut east = sentinel("east", "us-east", &topic, &client, broker.clone());
    let mut eu = sentinel("west", "eu-west", &topic, &client, broker.clone());
    let t0 = Utc::now();

    let report = east.poll(t0).await.unwrap();
    assert_eq!((report.in_shard, report.published), (2, 2));
    let mut expected = vec![(a.id.to_string(), 1, "new".to_owned()), (b.id.to_string(), 1, "new".to_owned())];
    expected.sort();
    assert_eq!(drain(&received, 2).await, expected, "first poll publishes each new resource of the shard");
    assert_eq!(eu.poll(t0).await.unwrap().published, 1);
    assert_eq!(drain(&received, 1).await, [(west.id.to_string(), 1, "new".to_owned())]);

    assert_eq!(east.poll(t0 + chrono::Duration::seconds(1)).await.unwrap().published, 0, "not on every poll");

    common::reconcile(&client, &a, 1).await;
    let patch = PatchResource { spec: Some(serde_json::json!({"version": "4.18"})), labels: None };
    let b2 = client.patch_cluster(b.id, &patch).await.unwrap();
    let report = east.poll(t0 + chrono::Duration::seconds(2)).await.unwrap();
    assert_eq!((report.fetched, report.published), (1, 1), "a reconciled cluster is not even fetched");
    assert_eq!(drain(&received, 1).await, [(b.id.to_string(), 2, "generation_changed".to_owned())]);

    // Stuck at generation 2: one event per backoffNotReady (10 s, plus up to 10 % jitter).
    assert_eq!(east.poll(t0 + chrono::Duration::seconds(8)).await.unwrap().published, 0);
    assert_eq!(east.poll(t0 + chrono::Duration::seconds(14)).await.unwrap().published, 1);
    assert_eq!(
        drain(&received, 1).await,
        [(b.id.to_string(), b2.generation, "not_ready_backoff".to_owned())]
    );
    assert_eq!(east.poll(t0 + chrono::Duration::seconds(15)).await.unwrap().published, 0);

    // A reconciled cluster is re-checked once backoffReady has passed.
    let later = east.poll(t0 + chrono::Duration::minutes(34)).await.unwrap();
    assert!(
        drain(&received, 2)
            .await
            .iter()
            .any(|(id, _, reason)| *id == a.id.to_string() && reason == "ready_recheck")
    );
    assert_eq!(later.published, 2);
    consumer.close().await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn shards_publish_for_their_own_resources_over_memory(pool: PgPool) {
    let broker = common::memory_broker().await;
    shards_publish_for_their_own_resources(pool, broker).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn shards_publish_for_their_own_resources_over_rabbitmq(pool: PgPool) {
    let broker = common::rabbitmq_broker().await;
    shards_publish_for_their_own_resources(pool, broker).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn shards_publish_for_their_own_resources_over_pubsub(pool: PgPool) {
    let host = std::env::var("PUBSUB_EMULATOR_HOST")
        .expect("PUBSUB_EMULATOR_HOST is not set: run the tests with hack/test.sh");
    let config = BrokerConfig::GcpPubsub { project_id: "hyperfleet-test".into(), emulator_host: Some(host) };
    let broker = hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap();
    shards_publish_for_their_own_resources(pool, broker).await;
}

/// A broker whose publishes each wait until `together` of them are in flight at once.
#[derive(Debug)]
struct OverlapOnly {
    together: tokio::sync::Barrier,
}

#[async_trait::async_trait]
impl Broker for OverlapOnly {
    fn kind(&self) -> &'static str {
        "test"
    }

    async fn publish_raw_routed(
        &self,
        _topic: &str,
        _routing: &hyperfleet_broker::Routing,
        _payload: &[u8],
    ) -> Result<(), hyperfleet_broker::BrokerError> {
        self.together.wait().await;
        Ok(())
    }

    async fn declare(&self, _subscription: &Subscription) -> Result<(), hyperfleet_broker::BrokerError> {
        Ok(())
    }

    async fn subscribe(
        &self,
        _subscription: Subscription,
        _handler: Arc<dyn hyperfleet_broker::Handler>,
    ) -> Result<Consumer, hyperfleet_broker::BrokerError> {
        Err(hyperfleet_broker::BrokerError::unavailable("publishing only"))
    }

    async fn remove(&self, _subscription: &Subscription) -> Result<(), hyperfleet_broker::BrokerError> {
        Ok(())
    }

    async fn drain_dead_letters(
        &self,
        _subscription: &Subscription,
        _max: usize,
    ) -> Result<Vec<Vec<u8>>, hyperfleet_broker::BrokerError> {
        Ok(Vec::new())
    }

    async fn health(&self) -> Result<(), hyperfleet_broker::BrokerError> {
        Ok(())
    }

    async fn close(&self) {}
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_poll_publishes_its_events_without_waiting_for_each_confirmation(pool: PgPool) {
    let client = common::api(pool).await;
    for n in 0..3 {
        common::cluster(&client, &format!("overlap-{n}"), &[("region", "eu")]).await;
    }
    // Sequential publishes would each wait forever for the others.
    let broker = Arc::new(OverlapOnly { together: tokio::sync::Barrier::new(3) });
    let mut sentinel = sentinel("overlap", "eu", "overlap", &client, broker);
    let report = tokio::time::timeout(Duration::from_secs(10), sentinel.poll(Utc::now()))
        .await
        .expect("the three publishes were in flight together")
        .unwrap();
    assert_eq!((report.published, report.publish_errors), (3, 0));
}

/// An event no subscription takes yet (a first install: the Sentinel starts before the adapters
/// subscribe) is not counted as published, so the next poll publishes it again, instead of the
/// resource waiting for a not-ready repeat; over RabbitMQ, which returns such an event, and the
/// memory broker.
async fn an_event_nobody_takes_is_published_again_at_the_next_poll(pool: PgPool, broker: Arc<dyn Broker>) {
    let client = common::api(pool).await;
    let cluster = common::cluster(&client, "early", &[("region", "eu")]).await;
    let topic = format!("early-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let mut sentinel = sentinel("early", "eu", &topic, &client, broker.clone());
    let report = sentinel.poll(Utc::now()).await.unwrap();
    assert_eq!((report.published, report.publish_errors), (0, 1), "no adapter subscribed yet");
    let (received, _consumer) = listen(&broker, &topic).await;
    let report = sentinel.poll(Utc::now()).await.unwrap();
    assert_eq!((report.published, report.publish_errors), (1, 0));
    assert_eq!(drain(&received, 1).await, [(cluster.id.to_string(), 1, "new".to_owned())]);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_event_nobody_takes_is_published_again_at_the_next_poll_over_memory(pool: PgPool) {
    let broker = common::memory_broker().await;
    an_event_nobody_takes_is_published_again_at_the_next_poll(pool, broker).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_event_nobody_takes_is_published_again_at_the_next_poll_over_rabbitmq(pool: PgPool) {
    let broker = common::rabbitmq_broker().await;
    an_event_nobody_takes_is_published_again_at_the_next_poll(pool, broker).await;
}
