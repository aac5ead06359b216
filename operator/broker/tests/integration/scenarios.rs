//! One scenario suite, run against every backend: memory, a real RabbitMQ (`AMQP_URL`) and the
//! real Pub/Sub emulator (`PUBSUB_EMULATOR_HOST`), both started by `hack/test.sh`. A missing
//! service fails the test, never skips it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use hyperfleet_broker::{
    Broker, BrokerError, BrokerMetrics, Delivery, Event, Outcome, Routing, Subscription, memory::MemoryBroker,
};

fn event(n: usize) -> Event {
    EventBuilderV10::new()
        .id(format!("event-{n}"))
        .source("sentinel-operator/test")
        .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
        .subject(format!("cluster-{n}"))
        .data("application/json", serde_json::json!({"resourceId": format!("cluster-{n}"), "generation": 1}))
        .build()
        .unwrap()
}

/// A fresh topic and subscription name per test, so tests share one broker without interfering.
fn subscription(name: &str) -> Subscription {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    Subscription::new(format!("t{}", &unique[20..]), format!("{name}{}", &unique[24..]))
}

type Seen = Arc<Mutex<Vec<(String, u32)>>>;

/// A handler recording `(event id, attempt)` and answering with `decide(attempt)`.
fn recorder(decide: fn(u32) -> Outcome) -> (Seen, Arc<dyn hyperfleet_broker::Handler>) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let handler = move |delivery: Delivery| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((delivery.event.id().to_owned(), delivery.attempt));
            decide(delivery.attempt)
        }
    };
    (seen, Arc::new(handler))
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    hyperfleet_testing::wait_until(what, Duration::from_secs(10), || std::future::ready(done())).await;
}

/// Waits for dead letters to appear and returns them.
async fn dead_letters(broker: &dyn Broker, sub: &Subscription) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        let dead = broker.drain_dead_letters(sub, 10).await.unwrap();
        if !dead.is_empty() {
            return dead;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing was dead-lettered on {}", sub.name);
}

fn ids(seen: &Seen) -> Vec<String> {
    let mut ids: Vec<String> = seen.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    ids
}

pub async fn publish_then_consume(broker: Arc<dyn Broker>) {
    let sub = subscription("adapter");
    let (seen, handler) = recorder(|_| Outcome::Ack);
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    for n in 0..3 {
        broker.publish(&sub.topic, &event(n)).await.unwrap();
    }
    eventually("three events arrive", || seen.lock().unwrap().len() == 3).await;
    assert_eq!(*seen.lock().unwrap(), [("event-0".into(), 1), ("event-1".into(), 1), ("event-2".into(), 1)]);
    consumer.close().await;
}

pub async fn fan_out_reaches_every_subscription(broker: Arc<dyn Broker>) {
    let first = subscription("fan");
    let mut consumers = Vec::new();
    let mut logs = Vec::new();
    for i in 0..5 {
        let sub = Subscription { name: format!("{}-{i}", first.name), ..first.clone() };
        let (seen, handler) = recorder(|_| Outcome::Ack);
        consumers.push(broker.subscribe(sub, handler).await.unwrap());
        logs.push(seen);
    }
    for n in 0..4 {
        broker.publish(&first.topic, &event(n)).await.unwrap();
    }
    for seen in &logs {
        eventually("every subscription has every event", || seen.lock().unwrap().len() == 4).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        logs.iter().all(|seen| ids(seen) == ["event-0", "event-1", "event-2", "event-3"]),
        "exactly once each"
    );
    for consumer in consumers {
        consumer.close().await;
    }
}

pub async fn consumers_of_one_subscription_share_its_events(broker: Arc<dyn Broker>) {
    let sub = subscription("shared");
    let slow = |delivery: Delivery, log: Seen| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.lock().unwrap().push((delivery.event.id().to_owned(), delivery.attempt));
        Outcome::Ack
    };
    let (a, b): (Seen, Seen) = (Arc::default(), Arc::default());
    let (la, lb) = (a.clone(), b.clone());
    let first = broker.subscribe(sub.clone(), Arc::new(move |d| slow(d, la.clone()))).await.unwrap();
    let second = broker.subscribe(sub.clone(), Arc::new(move |d| slow(d, lb.clone()))).await.unwrap();
    // Streaming backends open their streams in the background: share only once both are up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..20 {
        broker.publish(&sub.topic, &event(n)).await.unwrap();
    }
    eventually("all events are handled", || a.lock().unwrap().len() + b.lock().unwrap().len() == 20).await;
    let (got_a, got_b) = (ids(&a), ids(&b));
    // The Pub/Sub emulator ignores streaming-pull flow control and may hand every message to one
    // stream (the real service balances); there only exactly-once sharing is checked.
    if broker.kind() != "gcp-pubsub" {
        assert!(!got_a.is_empty() && !got_b.is_empty(), "both consumers work: {got_a:?} / {got_b:?}");
    }
    let mut all = [got_a, got_b].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20, "no event is handled twice");
    first.close().await;
    second.close().await;
}

pub async fn retried_events_come_back_with_the_next_attempt(broker: Arc<dyn Broker>) {
    let sub = subscription("retry");
    let (seen, handler) = recorder(|attempt| if attempt < 2 { Outcome::Retry } else { Outcome::Ack });
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish(&sub.topic, &event(7)).await.unwrap();
    eventually("the retry arrives", || seen.lock().unwrap().len() == 2).await;
    assert_eq!(*seen.lock().unwrap(), [("event-7".into(), 1), ("event-7".into(), 2)]);
    consumer.close().await;
    assert!(broker.drain_dead_letters(&sub, 10).await.unwrap().is_empty());
}

pub async fn failing_events_are_dead_lettered_after_the_limit(broker: Arc<dyn Broker>) {
    let sub = subscription("poison").with_max_deliveries(3);
    let (seen, handler) = recorder(|_| Outcome::Retry);
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish(&sub.topic, &event(9)).await.unwrap();
    eventually("three attempts", || seen.lock().unwrap().len() == 3).await;
    let dead = dead_letters(broker.as_ref(), &sub).await;
    assert_eq!(hyperfleet_broker::event::decode(&dead[0]).unwrap().id(), "event-9");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts: Vec<u32> = seen.lock().unwrap().iter().map(|(_, a)| *a).collect();
    assert_eq!(attempts, [1, 2, 3], "never delivered again");
    consumer.close().await;
}

pub async fn malformed_messages_are_dead_lettered_and_consuming_goes_on(broker: Arc<dyn Broker>) {
    let sub = subscription("garbage");
    let (seen, handler) = recorder(|_| Outcome::Ack);
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish_raw(&sub.topic, b"{not a cloudevent").await.unwrap();
    // Valid JSON, but larger than any event: refused before it is parsed.
    let huge = format!("[{}0]", "0,".repeat(hyperfleet_broker::event::MAX_PAYLOAD / 2));
    broker.publish_raw(&sub.topic, huge.as_bytes()).await.unwrap();
    broker.publish(&sub.topic, &event(1)).await.unwrap();
    eventually("the valid event is handled", || seen.lock().unwrap().len() == 1).await;
    let mut dead = dead_letters(broker.as_ref(), &sub).await;
    if dead.len() < 2 {
        dead.extend(dead_letters(broker.as_ref(), &sub).await);
    }
    dead.sort_by_key(Vec::len);
    assert_eq!(dead, [b"{not a cloudevent".to_vec(), huge.into_bytes()]);
    assert!(consumer.is_running());
    consumer.close().await;
}

pub async fn close_waits_for_in_flight_handlers(broker: Arc<dyn Broker>) {
    let sub = subscription("drain");
    let state: Arc<Mutex<(bool, bool)>> = Arc::default(); // (started, finished)
    let shared = state.clone();
    let handler = move |_: Delivery| {
        let shared = shared.clone();
        async move {
            shared.lock().unwrap().0 = true;
            tokio::time::sleep(Duration::from_millis(500)).await;
            shared.lock().unwrap().1 = true;
            Outcome::Ack
        }
    };
    let consumer = broker.subscribe(sub.clone(), Arc::new(handler)).await.unwrap();
    broker.publish(&sub.topic, &event(1)).await.unwrap();
    eventually("the handler starts", || state.lock().unwrap().0).await;
    consumer.close().await;
    assert!(state.lock().unwrap().1, "close returned before the handler finished");
}

pub async fn events_published_before_the_first_consumer_are_kept(broker: Arc<dyn Broker>) {
    let sub = subscription("early");
    broker.declare(&sub).await.unwrap();
    broker.publish(&sub.topic, &event(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (seen, handler) = recorder(|_| Outcome::Ack);
    let consumer = broker.subscribe(sub, handler).await.unwrap();
    eventually("the early event arrives", || seen.lock().unwrap().len() == 1).await;
    consumer.close().await;
}

/// What an AdapterConfig deleted with `deletionPolicy: Delete` leaves: nothing. A subscription
/// declared again afterwards starts empty (no kept event, no dead letter), and removing what is
/// already gone is no error.
pub async fn a_removed_subscription_keeps_nothing(broker: Arc<dyn Broker>) {
    let sub = subscription("removed");
    let (seen, handler) = recorder(|_| Outcome::Reject);
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish(&sub.topic, &event(1)).await.unwrap();
    eventually("the poison event is handled", || seen.lock().unwrap().len() == 1).await;
    consumer.close().await;
    broker.publish(&sub.topic, &event(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    broker.remove(&sub).await.unwrap();
    broker.remove(&sub).await.unwrap();
    // Published while no subscription exists: it would reach nobody, and a broker that can tell
    // says so (Pub/Sub drops it silently).
    match broker.publish(&sub.topic, &event(3)).await {
        Err(BrokerError::Unroutable { topic }) => assert_eq!(topic, sub.topic),
        Ok(()) => assert_eq!(broker.kind(), "gcp-pubsub", "only Pub/Sub cannot tell"),
        Err(other) => panic!("unexpected {other}"),
    }
    let (seen, handler) = recorder(|_| Outcome::Ack);
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish(&sub.topic, &event(4)).await.unwrap();
    eventually("the new subscription's event", || seen.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ids(&seen), ["event-4"], "nothing of the removed subscription is delivered");
    assert!(broker.drain_dead_letters(&sub, 10).await.unwrap().is_empty(), "its dead letters went with it");
    consumer.close().await;
}

pub async fn subscriptions_are_scoped_to_their_topic(broker: Arc<dyn Broker>) {
    let one = subscription("scoped");
    let other = Subscription { topic: format!("{}x", one.topic), ..one.clone() };
    let (seen, handler) = recorder(|_| Outcome::Ack);
    let consumer = broker.subscribe(one.clone(), handler).await.unwrap();
    // Pub/Sub names subscriptions per project, so it refuses the clash; the others keep them apart.
    if broker.declare(&other).await.is_ok() {
        broker.publish(&other.topic, &event(2)).await.unwrap();
    }
    broker.publish(&one.topic, &event(1)).await.unwrap();
    eventually("the subscribed topic's event arrives", || seen.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ids(&seen), ["event-1"], "never another topic's events");
    consumer.close().await;
}

pub async fn a_panicking_handler_is_retried(broker: Arc<dyn Broker>) {
    let sub = subscription("panic");
    let (seen, handler) = recorder(|attempt| {
        assert!(attempt > 1, "first attempt panics");
        Outcome::Ack
    });
    let consumer = broker.subscribe(sub.clone(), handler).await.unwrap();
    broker.publish(&sub.topic, &event(3)).await.unwrap();
    eventually("the second attempt", || seen.lock().unwrap().len() == 2).await;
    assert!(consumer.is_running());
    consumer.close().await;
}

/// RabbitMQ's exchange and routing keys choose which subscriptions get a publish (the memory
/// broker routes the same way; Pub/Sub has no routing keys and is not run here).
pub async fn routing_keys_choose_the_subscriptions(broker: Arc<dyn Broker>) {
    let base = subscription("routed");
    let exchange = format!("{}-exchange", base.topic);
    let routing =
        |key: Option<&str>| Routing { exchange: Some(exchange.clone()), key: key.map(str::to_owned) };
    let named = |suffix: &str, routing: Routing| {
        Subscription { name: format!("{}-{suffix}", base.name), ..base.clone() }.with_routing(routing)
    };
    let bound = [
        named("clusters", routing(Some("clusters.*"))),
        named("nodepools", routing(Some("nodepools.#"))),
        named("all", routing(None)),
        // Bound to the topic's own exchange: nothing published through the other one reaches it.
        named("topic", Routing::default()),
    ];
    // The clusters queue existed before its routing was set: it must not keep the default binding.
    let before = Subscription { name: bound[0].name.clone(), ..base.clone() };
    broker.declare(&before).await.unwrap();
    let mut consumers = Vec::new();
    let mut logs = Vec::new();
    for sub in bound {
        let (seen, handler) = recorder(|_| Outcome::Ack);
        consumers.push(broker.subscribe(sub, handler).await.unwrap());
        logs.push(seen);
    }
    broker.publish_routed(&base.topic, &routing(Some("clusters.changed")), &event(0)).await.unwrap();
    broker.publish_routed(&base.topic, &routing(Some("nodepools.changed.eu")), &event(1)).await.unwrap();
    // Through the topic's own exchange: only the queue still bound there by default gets it.
    broker.publish(&base.topic, &event(2)).await.unwrap();
    eventually("the catch-all binding gets both", || logs[2].lock().unwrap().len() == 2).await;
    eventually("clusters.* gets its event", || !logs[0].lock().unwrap().is_empty()).await;
    eventually("nodepools.# gets its event", || !logs[1].lock().unwrap().is_empty()).await;
    eventually("the topic's exchange delivers its event", || !logs[3].lock().unwrap().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ids(&logs[0]), ["event-0"], "its old default binding is gone");
    assert_eq!(ids(&logs[1]), ["event-1"]);
    assert_eq!(ids(&logs[3]), ["event-2"], "another exchange's publishes do not reach it");
    for consumer in consumers {
        consumer.close().await;
    }
}

macro_rules! suite {
    ($backend:ident, $connect:expr) => {
        mod $backend {
            use super::*;

            suite!(@tests $connect; publish_then_consume, fan_out_reaches_every_subscription,
                consumers_of_one_subscription_share_its_events, retried_events_come_back_with_the_next_attempt,
                failing_events_are_dead_lettered_after_the_limit,
                malformed_messages_are_dead_lettered_and_consuming_goes_on, close_waits_for_in_flight_handlers,
                events_published_before_the_first_consumer_are_kept, a_panicking_handler_is_retried,
                a_removed_subscription_keeps_nothing,
                subscriptions_are_scoped_to_their_topic);
        }
    };
    (@tests $connect:expr; $($scenario:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario($connect).await;
            }
        )*
    };
}

fn memory() -> Arc<dyn Broker> {
    Arc::new(MemoryBroker::new(BrokerMetrics::default()))
}

async fn rabbitmq() -> Arc<dyn Broker> {
    let url = std::env::var("AMQP_URL").expect("AMQP_URL is not set: run the tests with hack/test.sh");
    let config = hyperfleet_broker::BrokerConfig::Rabbitmq { url, prefetch: None };
    hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap()
}

suite!(memory_backend, memory());
suite!(rabbitmq_backend, rabbitmq().await);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_keys_choose_the_subscriptions_in_memory() {
    routing_keys_choose_the_subscriptions(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_keys_choose_the_subscriptions_on_rabbitmq() {
    routing_keys_choose_the_subscriptions(rabbitmq().await).await;
}

async fn pubsub() -> Arc<dyn Broker> {
    let host = std::env::var("PUBSUB_EMULATOR_HOST")
        .expect("PUBSUB_EMULATOR_HOST is not set: run the tests with hack/test.sh");
    let config = hyperfleet_broker::BrokerConfig::GcpPubsub {
        project_id: "hyperfleet-test".into(),
        emulator_host: Some(host),
    };
    hyperfleet_broker::connect(&config, BrokerMetrics::default()).await.unwrap()
}

suite!(pubsub_backend, pubsub().await);
