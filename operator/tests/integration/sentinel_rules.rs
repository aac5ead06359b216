//! A SentinelConfig's CEL overrides against the real API: `messageDecision` picks what is due
//! (still at most one event per generation and backoff), `messageData` shapes the event.

use crate::common;

use std::sync::{Arc, Mutex};

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_broker::{Delivery, Outcome, Subscription};
use hyperfleet_crds::v1alpha1::SentinelConfigSpec;
use hyperfleet_operator::{
    sentinel::{Sentinel, SentinelSettings},
    tasks::TaskKey,
};

const SPEC: &str = r#"
resourceType: clusters
shardSelector: {matchLabels: {region: us-east}}
hyperfleetAPI: {url: "http://unused"}
broker: {type: memory, topic: rules}
messageDecision: "has(resource.labels.priority) && resource.labels.priority == 'high'"
messageData:
  id: resource.id
  name: resource.name
  why: reason
  nextGeneration: resource.generation + 1
"#;

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn message_decision_selects_and_message_data_shapes_the_event(pool: PgPool) {
    let client = common::api(pool).await;
    let broker = common::memory_broker().await;
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let log = received.clone();
    let handler = move |delivery: Delivery| {
        let log = log.clone();
        async move {
            if let Some(cloudevents::Data::Json(json)) = delivery.event.data() {
                log.lock().unwrap().push(json.clone());
            }
            Outcome::Ack
        }
    };
    let consumer =
        broker.subscribe(Subscription::new("rules", "rules-test"), Arc::new(handler)).await.unwrap();
    let high = common::cluster(&client, "high", &[("region", "us-east"), ("priority", "high")]).await;
    common::cluster(&client, "low", &[("region", "us-east"), ("priority", "low")]).await;
    common::cluster(&client, "other-shard", &[("region", "eu-west"), ("priority", "high")]).await;

    let spec: SentinelConfigSpec = serde_saphyr::from_str(SPEC).unwrap();
    let settings = SentinelSettings::from_spec(&TaskKey::new("test", "rules"), &spec).unwrap();
    let mut sentinel = Sentinel::new(settings, client.clone(), broker.clone());
    let t0 = Utc::now();
    assert_eq!(sentinel.poll(t0).await.unwrap().published, 1, "only the high-priority cluster of the shard");
    assert_eq!(
        sentinel.poll(t0 + chrono::Duration::seconds(1)).await.unwrap().published,
        0,
        "once per backoff"
    );
    assert_eq!(
        sentinel.poll(t0 + chrono::Duration::seconds(11)).await.unwrap().published,
        1,
        "again after it"
    );

    for _ in 0..50 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let events = received.lock().unwrap().clone();
    // The built-in fields stay (adapters need them); messageData adds its own beside them.
    let expected = serde_json::json!({
        "resourceType": "clusters", "resourceId": high.id.to_string(), "kind": "Cluster",
        "href": high.href, "generation": 1, "reason": "custom_decision",
        "id": high.id.to_string(), "name": "high", "why": "custom_decision", "nextGeneration": 2
    });
    assert_eq!(events, vec![expected.clone(), expected]);
    consumer.close().await;
}
