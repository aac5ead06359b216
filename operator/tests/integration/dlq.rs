//! `hyperfleet-operator dlq`: dead-lettered events are dumped to a file and replayed onto the
//! topic without losing or doubling any, over the memory broker and a real RabbitMQ.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};

use crate::common;

use hyperfleet_broker::{Broker, Delivery, Outcome, Subscription};
use hyperfleet_operator::{
    cli::{DlqDumpArgs, DlqReplayArgs},
    dlq,
};
use hyperfleet_testing::wait_until;

fn event(n: usize) -> cloudevents::Event {
    EventBuilderV10::new()
        .id(format!("event-{n}"))
        .source("sentinel-operator/test")
        .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
        .data("application/json", serde_json::json!({"resourceId": format!("cluster-{n}"), "generation": 1}))
        .build()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hyperfleet-dlq-{}-{name}", uuid::Uuid::new_v4()))
}

/// Ids of the events a consumer of `subscription` receives (acked).
async fn watch(
    broker: &Arc<dyn Broker>,
    subscription: Subscription,
) -> (Arc<Mutex<Vec<String>>>, hyperfleet_broker::Consumer) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let handler = move |delivery: Delivery| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(delivery.event.id().to_owned());
            Outcome::Ack
        }
    };
    (seen, broker.subscribe(subscription, Arc::new(handler)).await.unwrap())
}

/// Runs `step` (given how many are still wanted; it answers how many it moved) until `want`
/// dead letters have moved: rejected events reach the DLQ asynchronously.
async fn move_all(want: usize, mut step: impl AsyncFnMut(usize) -> usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut moved = 0;
    while moved < want {
        assert!(tokio::time::Instant::now() < deadline, "only {moved} of {want} dead letters moved");
        moved += step(want - moved).await;
        if moved < want {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(moved, want, "no more than asked");
}

async fn dead_letters_are_dumped_then_replayed(broker: Arc<dyn Broker>) {
    let topic = format!("dlq-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let adapter = Subscription::new(&topic, format!("{topic}-dns")).with_max_deliveries(1);
    let rejecting =
        broker.subscribe(adapter.clone(), Arc::new(|_: Delivery| async { Outcome::Reject })).await.unwrap();
    for n in 0..5 {
        broker.publish(&topic, &event(n)).await.unwrap();
    }
    broker.publish_raw(&topic, b"not an event").await.unwrap();
    let out = scratch("dump.jsonl");
    // The rejected events reach the DLQ asynchronously: dump until all six are out.
    move_all(6, async |left| {
        let args = DlqDumpArgs { file: PathBuf::new(), out: out.clone(), max: left };
        dlq::dump(broker.as_ref(), &adapter, &args).await.unwrap().count
    })
    .await;
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 6);
    rejecting.close().await;
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().any(|l| l == r#""not an event""#), "poison is kept, as a JSON string: {text}");
    assert!(broker.drain_dead_letters(&adapter, 10).await.unwrap().is_empty(), "the DLQ was emptied");

    // Replayed from the dump: every real event reaches the topic's subscriptions once.
    let (seen, consumer) = watch(&broker, adapter.clone()).await;
    let replay = DlqReplayArgs { file: PathBuf::new(), from: Some(out.clone()), max: 100, journal: None };
    let moved = dlq::replay(broker.as_ref(), &adapter, &replay).await.unwrap();
    assert_eq!(moved.count, 6, "{moved}");
    wait_until("the five events arrive again", Duration::from_secs(20), || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().len() == 5 }
    })
    .await;
    let mut ids = seen.lock().unwrap().clone();
    ids.sort();
    assert_eq!(ids, (0..5).map(|n| format!("event-{n}")).collect::<Vec<_>>());
    consumer.close().await;
    std::fs::remove_file(&out).ok();
}

async fn replay_from_the_queue_leaves_no_journal(broker: Arc<dyn Broker>) {
    let topic = format!("dlqq-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let adapter = Subscription::new(&topic, format!("{topic}-dns")).with_max_deliveries(1);
    let rejecting =
        broker.subscribe(adapter.clone(), Arc::new(|_: Delivery| async { Outcome::Reject })).await.unwrap();
    let observer = Subscription::new(&topic, format!("{topic}-observer"));
    let (seen, consumer) = watch(&broker, observer).await;
    for n in 0..3 {
        broker.publish(&topic, &event(n)).await.unwrap();
    }
    wait_until("the observer sees the originals", Duration::from_secs(20), || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().len() == 3 }
    })
    .await;
    let journal = scratch("journal.jsonl");
    move_all(3, async |left| {
        let args =
            DlqReplayArgs { file: PathBuf::new(), from: None, max: left, journal: Some(journal.clone()) };
        dlq::replay(broker.as_ref(), &adapter, &args).await.unwrap().count
    })
    .await;
    rejecting.close().await;
    // The replays reach the topic: the observer gets each event a second time.
    wait_until("the observer sees the replays", Duration::from_secs(20), || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().len() >= 6 }
    })
    .await;
    assert!(!journal.exists(), "the journal is removed once everything is published");
    consumer.close().await;
}

#[tokio::test]
async fn dead_letters_are_dumped_then_replayed_with_the_memory_broker() {
    let broker = common::memory_broker().await;
    dead_letters_are_dumped_then_replayed(broker.clone()).await;
    replay_from_the_queue_leaves_no_journal(broker).await;
}

#[tokio::test]
async fn dead_letters_are_dumped_then_replayed_over_rabbitmq() {
    let broker = common::rabbitmq_broker().await;
    dead_letters_are_dumped_then_replayed(broker.clone()).await;
    replay_from_the_queue_leaves_no_journal(broker).await;
}
