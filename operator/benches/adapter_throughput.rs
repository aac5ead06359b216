//! Benchmark: what one adapter handles per replica, over RabbitMQ (`AMQP_URL`) against the real
//! API in-process (over the PostgreSQL at `DATABASE_URL`), with the dry-run transport (Jobs done
//! at once), for sizing. Each run queues one reconcile event per cluster, then starts one or two
//! replicas' consumers (each its own connection, one subscription) and times them until every
//! event is handled: a full pass each (the resource and its statuses in one GET, the Job, the
//! report PUT). In the same run, raw `lapin` consumes and acks as many messages from a queue
//! (the broker's own limit), and the ratio is printed.
//!
//! Run with `hack/bench.sh -p hyperfleet-operator --bench adapter_throughput`;
//! `HYPERFLEET_BENCH_EVENTS` (default 2 000) and `HYPERFLEET_BENCH_CONCURRENCY` (default 4, the
//! AdapterConfig default) tune it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;

use hyperfleet_api_model::{
    ListParams, ReconcileEventData, ReconcileReason, Resource, ResourceType, client::Client,
};
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics, Subscription};
use hyperfleet_operator::{
    adapter::{
        Adapter, AdapterPlan, AdapterRunner, Transports,
        metrics::AdapterMetrics,
        transport::dry_run::{DryRun, JobOutcome},
    },
    sentinel::event::reconcile_event,
    tasks::TaskRegistry,
};

fn number(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |n| n.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// `count` clusters, created through the API.
async fn clusters(client: &Client, count: usize) -> Vec<Resource> {
    let seed = unique("c");
    for n in 0..count {
        let body = hyperfleet_api_model::CreateResource {
            kind: None,
            name: format!("{seed}-{n}"),
            spec: serde_json::json!({}),
            labels: [("batch".to_owned(), seed.clone())].into(),
        };
        client.create_cluster(&body).await.expect("cannot create a cluster");
    }
    let mut found = Vec::new();
    let mut params = ListParams { size: Some(1000), ..ListParams::default() };
    params.search = Some(format!("labels.batch = '{seed}'"));
    for page in 1.. {
        params.page = Some(page);
        let items = client.list_clusters(&params).await.expect("cannot list the clusters").items;
        if items.is_empty() {
            break;
        }
        found.extend(items);
    }
    found
}

/// Events handled per second by `replicas` consumers of one subscription.
async fn adapters(
    client: &Client,
    config: &BrokerConfig,
    replicas: usize,
    events: usize,
    concurrency: usize,
) -> f64 {
    let topic = unique("bench-adapter");
    let yaml = format!(
        "adapterType: dns\nresourceType: clusters\nhyperfleetAPI: {{url: \"http://api.bench\"}}\n\
         broker: {{type: memory, topic: {topic}}}\nconcurrency: {concurrency}\n\
         jobTemplate: {{namespace: jobs, image: \"example/dns:latest\"}}\n"
    );
    let plan = AdapterPlan::compile(&serde_saphyr::from_str(&yaml).unwrap()).unwrap();
    let publisher =
        hyperfleet_broker::connect(config, BrokerMetrics::default()).await.expect("cannot connect");
    publisher.declare(&Subscription::new(&topic, "dns")).await.expect("cannot declare the subscription");
    for cluster in clusters(client, events).await {
        let data = ReconcileEventData::new(&cluster, ResourceType::Clusters, ReconcileReason::New);
        publisher
            .publish(&topic, &reconcile_event(&data, "bench", Utc::now()).unwrap())
            .await
            .expect("publish failed");
    }
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let transports = Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: None };
    let mut tasks = TaskRegistry::new(Duration::from_secs(10));
    let started = Instant::now();
    for replica in 0..replicas {
        let adapter =
            Adapter::new(plan.clone(), Arc::new(client.clone()), transports.clone(), "http://api.bench");
        let broker: Arc<dyn Broker> =
            hyperfleet_broker::connect(config, BrokerMetrics::default()).await.expect("cannot connect");
        let runner = AdapterRunner::new(adapter, broker, AdapterMetrics::default());
        tasks.ensure(&replica, 1, |context| runner.run(context)).await;
    }
    let handled = || (0..replicas).map(|r| tasks.progress(&r).map_or(0, |p| p.processed)).sum::<u64>();
    while handled() < events as u64 {
        assert!(started.elapsed() < Duration::from_secs(600), "the adapters stalled at {} events", handled());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    tasks.shutdown_all().await;
    publisher.close().await;
    rate
}

/// Raw `lapin`: `count` messages queued, then consumed and acked with `prefetch` unacked at once.
async fn raw_lapin(url: &str, count: usize, prefetch: u16) -> Result<f64, Box<dyn std::error::Error>> {
    use futures::StreamExt as _;
    use lapin::{
        BasicProperties, Connection, ConnectionProperties,
        options::{
            BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
        },
        types::FieldTable,
    };
    let queue = unique("bench-raw");
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions { auto_delete: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.as_str().into(), options, FieldTable::default()).await?;
    let payload = vec![b'x'; 400];
    for _ in 0..count {
        let options = BasicPublishOptions::default();
        channel
            .basic_publish("".into(), queue.as_str().into(), options, &payload, BasicProperties::default())
            .await?;
    }
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let started = Instant::now();
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for _ in 0..count {
        let delivery = consumer.next().await.ok_or("the raw consumer ended")??;
        delivery.ack(BasicAckOptions::default()).await?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    connection.close(200, "done".into()).await?;
    Ok(rate)
}

#[tokio::main]
async fn main() {
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL must point at PostgreSQL (use hack/bench.sh)");
    let amqp = std::env::var("AMQP_URL").expect("AMQP_URL must point at RabbitMQ (use hack/bench.sh)");
    let events = number("HYPERFLEET_BENCH_EVENTS", 2_000);
    let concurrency = number("HYPERFLEET_BENCH_CONCURRENCY", 4);
    let pool = hyperfleet_testing::api::fresh_database(&url, "hyperfleet_adapter_bench", 16)
        .await
        .unwrap_or_else(|err| panic!("cannot prepare the benchmark database: {err}"));
    let client = hyperfleet_testing::api::serve_requiring(pool, &["dns"], &[])
        .await
        .expect("cannot serve the API")
        .client;
    let config = BrokerConfig::Rabbitmq { url: amqp.clone(), prefetch: None };
    let raw = raw_lapin(&amqp, events, u16::try_from(concurrency).unwrap_or(u16::MAX))
        .await
        .unwrap_or_else(|err| panic!("the raw lapin run failed: {err}"));
    println!(
        "{events} events over RabbitMQ, concurrency {concurrency}, Jobs done at once; the API, PostgreSQL and both replicas share this machine"
    );
    let one = adapters(&client, &config, 1, events, concurrency).await;
    println!(
        "1 replica : {one:>7.0} events/s | raw lapin consume+ack: {raw:>7.0} messages/s | ratio {:.3}x",
        one / raw
    );
    let two = adapters(&client, &config, 2, events, concurrency).await;
    println!("2 replicas: {two:>7.0} events/s ({:.2}x one replica)", two / one);
}
