//! The broker's Prometheus series carry the names dashboards and alerts use.

use std::{sync::Arc, time::Duration};

use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use hyperfleet_broker::{Broker, BrokerMetrics, Delivery, Outcome, Subscription, memory::MemoryBroker};
use prometheus_client::{encoding::text::encode, registry::Registry};

#[tokio::test]
async fn publishes_deliveries_errors_and_dead_letters_are_counted() {
    let mut registry = Registry::default();
    let broker = MemoryBroker::new(BrokerMetrics::register(&mut registry));
    let sub = Subscription::new("metered", "adapter").with_max_deliveries(1);
    let handler = |delivery: Delivery| async move {
        if delivery.event.id() == "good" { Outcome::Ack } else { Outcome::Retry }
    };
    let consumer = broker.subscribe(sub.clone(), Arc::new(handler)).await.unwrap();
    for id in ["good", "bad"] {
        let event = EventBuilderV10::new().id(id).source("s").ty("t").build().unwrap();
        broker.publish("metered", &event).await.unwrap();
    }
    broker.publish_raw("metered", b"garbage").await.unwrap();
    assert!(broker.publish_raw("", b"x").await.is_err(), "an empty topic is refused");
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.close().await;

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    for series in [
        "hyperfleet_broker_messages_published_total{topic=\"metered\"} 3",
        "hyperfleet_broker_messages_consumed_total{subscription=\"adapter\",outcome=\"ack\"} 1",
        "hyperfleet_broker_messages_consumed_total{subscription=\"adapter\",outcome=\"retry\"} 1",
        // The garbage message: consumed (dead-lettered), though no handler saw it.
        "hyperfleet_broker_messages_consumed_total{subscription=\"adapter\",outcome=\"reject\"} 1",
        "hyperfleet_broker_errors_total{error_type=\"decode\"} 1",
        "hyperfleet_broker_dead_lettered_total{subscription=\"adapter\"} 2",
        "hyperfleet_broker_message_duration_seconds_count{subscription=\"adapter\"} 2",
    ] {
        assert!(text.lines().any(|l| l == series), "missing `{series}` in:\n{text}");
    }
}
