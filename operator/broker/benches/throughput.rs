//! Benchmark: publish (with broker confirms) and consume rates over RabbitMQ (`AMQP_URL`) and the
//! memory broker, and — the raw limit, in the same run — plain `lapin` publishing the same
//! messages on one confirm-mode channel with every confirm awaited together, against the
//! broker with as many publishes in flight as one Sentinel keeps (64). Run with
//! `hack/bench.sh --bench throughput`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cloudevents::{EventBuilder, EventBuilderV10};
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics, Delivery, Event, Outcome, Subscription};

const EVENTS: usize = 5_000;

fn event(n: usize) -> Event {
    EventBuilderV10::new()
        .id(format!("bench-{n}"))
        .source("sentinel-operator/bench")
        .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
        .subject(format!("cluster-{n}"))
        .data(
            "application/json",
            serde_json::json!({"resourceId": format!("cluster-{n}"), "generation": 1, "reason": "bench"}),
        )
        .build()
        .unwrap()
}

async fn publish(broker: &Arc<dyn Broker>, topic: &str, publishers: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..publishers)
        .map(|p| {
            let (broker, topic) = (broker.clone(), topic.to_owned());
            tokio::spawn(async move {
                for n in (p..EVENTS).step_by(publishers) {
                    broker.publish(&topic, &event(n)).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

async fn consume(broker: &Arc<dyn Broker>, sub: Subscription) -> f64 {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let started = Instant::now();
    let handler = move |_: Delivery| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            Outcome::Ack
        }
    };
    let consumer = broker.subscribe(sub, Arc::new(handler)).await.unwrap();
    while count.load(Ordering::Relaxed) < EVENTS {
        assert!(started.elapsed() < Duration::from_secs(300), "consuming stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    consumer.close().await;
    rate
}

async fn run(name: &str, broker: Arc<dyn Broker>) {
    for (publishers, concurrency) in [(1, 1), (8, 8)] {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let sub =
            Subscription::new(format!("bench-{tag}"), format!("bench-{tag}")).with_concurrency(concurrency);
        broker.declare(&sub).await.unwrap();
        let published = publish(&broker, &sub.topic, publishers).await;
        let consumed = consume(&broker, sub).await;
        println!(
            "{name:<9} {publishers} publisher(s): {published:>8.0} events/s confirmed | consumer concurrency {concurrency}: {consumed:>8.0} events/s"
        );
    }
}

/// What one Sentinel does: `SENTINEL_IN_FLIGHT` publishes at once on the broker's one channel.
const SENTINEL_IN_FLIGHT: usize = 64;

/// Raw `lapin`: every message published, then every confirm awaited (the most a confirm-mode
/// channel can do).
async fn raw_lapin(url: &str, topic: &str) -> Result<f64, Box<dyn std::error::Error>> {
    use lapin::{
        BasicProperties, Connection, ConnectionProperties, ExchangeKind,
        options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions},
        types::FieldTable,
    };
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(topic.into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
    let payloads = (0..EVENTS).map(|n| serde_json::to_vec(&event(n))).collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let mut confirms = Vec::with_capacity(EVENTS);
    for payload in &payloads {
        let properties = BasicProperties::default()
            .with_content_type("application/cloudevents+json".into())
            .with_delivery_mode(2);
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        confirms.push(channel.basic_publish(topic.into(), "".into(), options, payload, properties).await?);
    }
    for confirm in futures::future::join_all(confirms).await {
        confirm?;
    }
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(rate)
}

/// One Sentinel's publishing against the raw limit, same run, as a ratio.
async fn sentinel_against_raw(url: &str, broker: &Arc<dyn Broker>) -> Result<(), Box<dyn std::error::Error>> {
    let declared = |name: &str| {
        let tag = format!("{name}-{}", uuid::Uuid::now_v7().simple());
        Subscription::new(tag.clone(), tag)
    };
    let (raw, ours) = (declared("bench-raw"), declared("bench-sentinel"));
    broker.declare(&raw).await?;
    broker.declare(&ours).await?;
    let limit = raw_lapin(url, &raw.topic).await?;
    let sentinel = publish(broker, &ours.topic, SENTINEL_IN_FLIGHT).await;
    println!(
        "rabbitmq  {SENTINEL_IN_FLIGHT} in flight (one Sentinel): {sentinel:>8.0} events/s confirmed | raw lapin, one channel, confirms together: {limit:>8.0} events/s | ratio {:.2}x",
        sentinel / limit
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    println!("{EVENTS} events per run");
    let memory =
        hyperfleet_broker::connect(&BrokerConfig::Memory {}, BrokerMetrics::default()).await.unwrap();
    run("memory", memory).await;
    let url = std::env::var("AMQP_URL").expect("AMQP_URL must point at RabbitMQ (use hack/bench.sh)");
    let rabbit = hyperfleet_broker::connect(
        &BrokerConfig::Rabbitmq { url: url.clone(), prefetch: None },
        BrokerMetrics::default(),
    )
    .await
    .unwrap();
    run("rabbitmq", rabbit.clone()).await;
    if let Err(err) = sentinel_against_raw(&url, &rabbit).await {
        eprintln!("the raw lapin comparison failed: {err}");
        std::process::exit(1);
    }
}
