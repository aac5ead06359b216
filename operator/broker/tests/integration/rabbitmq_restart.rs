//! RabbitMQ restarting in the middle of a stream: every publish the broker confirmed is delivered,
//! the consumer reconnects by itself, and the publisher recovers on the next call. Restarts the
//! test broker started by `hack/test.sh` (nextest runs this test alone; see .config/nextest.toml).

use std::{
    collections::HashSet,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use hyperfleet_broker::{BrokerConfig, BrokerMetrics, Delivery, Outcome, Subscription};

fn rabbitmqctl(args: &str) {
    let env = std::env::var("HYPERFLEET_TEST_RABBITMQ_ENV")
        .expect("HYPERFLEET_TEST_RABBITMQ_ENV is not set: run the tests with hack/test.sh");
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("source {env} && rabbitmqctl -q {args}"))
        .status()
        .unwrap();
    assert!(status.success(), "rabbitmqctl {args} failed");
}

fn render(registry: &prometheus_client::registry::Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_in_the_middle_of_a_stream_loses_nothing_confirmed() {
    let url = std::env::var("AMQP_URL").expect("AMQP_URL is not set: run the tests with hack/test.sh");
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = BrokerMetrics::register(&mut registry);
    let broker =
        hyperfleet_broker::connect(&BrokerConfig::Rabbitmq { url, prefetch: None }, metrics).await.unwrap();
    let sub = Subscription::new("restart-stream", format!("restart-{}", uuid::Uuid::now_v7().simple()));
    let received: Arc<Mutex<HashSet<String>>> = Arc::default();
    let log = received.clone();
    let handler = move |delivery: Delivery| {
        let log = log.clone();
        async move {
            log.lock().unwrap().insert(delivery.event.id().to_owned());
            Outcome::Ack
        }
    };
    let consumer = broker.subscribe(sub.clone(), Arc::new(handler)).await.unwrap();

    let restart = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::task::spawn_blocking(|| {
            rabbitmqctl("stop_app");
            std::thread::sleep(Duration::from_secs(1));
            rabbitmqctl("start_app");
        })
        .await
        .unwrap();
    });

    let mut confirmed = HashSet::new();
    let (mut failures, deadline) = (0, Instant::now() + Duration::from_secs(90));
    for n in 0..150 {
        let event = EventBuilderV10::new()
            .id(format!("stream-{n}"))
            .source("sentinel-operator/restart")
            .ty("com.redhat.hyperfleet.cluster.reconcile.v1")
            .build()
            .unwrap();
        // Like the Sentinel: an unconfirmed publish is retried, never assumed delivered.
        while let Err(err) = broker.publish(&sub.topic, &event).await {
            failures += 1;
            assert!(Instant::now() < deadline, "publishing never recovered: {err}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        confirmed.insert(format!("stream-{n}"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    restart.await.unwrap();
    assert!(failures > 0, "the restart happened while publishing");
    // Every failed publish is counted, whether the broker refused it or could not be reached.
    let exposition = render(&registry);
    let counted = exposition
        .lines()
        .find(|line| line.starts_with("hyperfleet_broker_errors_total{error_type=\"publish\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(counted >= f64::from(failures), "{counted} publish errors counted for {failures} failures");

    while Instant::now() < deadline && !confirmed.is_subset(&received.lock().unwrap()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<_> = confirmed.difference(&received.lock().unwrap()).cloned().collect();
    assert!(missing.is_empty(), "confirmed but never delivered: {missing:?}");
    consumer.close().await;
}
