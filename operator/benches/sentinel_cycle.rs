//! Benchmark: Sentinel poll cycles over 10k and 100k clusters in one shard, against the real API
//! (in-process, over the PostgreSQL at `DATABASE_URL`) and the memory broker. Reports the cold
//! cycle (every cluster new: fetched, decided, published; also over RabbitMQ with publisher
//! confirms when `AMQP_URL` is set), the steady cycle (every cluster
//! reconciled: the possibly-due search fetches nothing) and the process's resident memory.
//! Run with `hack/bench.sh --bench sentinel_cycle`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_api::kinds::Kinds;
use hyperfleet_api_model::{
    client::Client,
    search::{Expr, Field},
};
use hyperfleet_broker::{BrokerConfig, BrokerMetrics, Subscription};
use hyperfleet_crds::v1alpha1::ResourceType;
use hyperfleet_operator::sentinel::{Sentinel, SentinelSettings};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn database(url: &str, clusters: i64) -> PgPool {
    let pool = hyperfleet_testing::api::fresh_database(url, "hyperfleet_sentinel_bench", 10)
        .await
        .unwrap_or_else(|err| panic!("cannot prepare the benchmark database: {err}"));
    sqlx::query(
        "insert into resources (id, kind, name, spec, labels, created_time, updated_time, created_by, updated_by) \
         select gen_random_uuid(), 'Cluster', 'cluster-' || i, '{}', '{\"region\": \"us-east\"}', now(), now(), 'b', 'b' \
         from generate_series(1, $1) as i",
    )
    .bind(clusters)
    .execute(&pool)
    .await
    .expect("cannot seed the clusters");
    sqlx::query("vacuum analyze resources").execute(&pool).await.expect("vacuum analyze failed");
    pool
}

async fn reconcile_all(pool: &PgPool) {
    sqlx::query(
        "insert into resource_conditions (resource_id, type, status, observed_generation, created_time, \
         last_updated_time, last_transition_time) select id, 'Reconciled', 'True', 1, now(), now(), now() from resources",
    )
    .execute(pool)
    .await
    .expect("cannot mark the clusters reconciled");
    // As the API's aggregation does: Reconciled is mirrored on the resource row.
    sqlx::query("update resources set reconciled_status = 'True', reconciled_time = now()")
        .execute(pool)
        .await
        .expect("cannot mirror Reconciled on the clusters");
    sqlx::query("vacuum analyze resources").execute(pool).await.expect("vacuum analyze failed");
    sqlx::query("analyze resource_conditions").execute(pool).await.expect("analyze failed");
}

async fn run(url: &str, clusters: i64, config: &BrokerConfig) {
    let pool = database(url, clusters).await;
    let base = hyperfleet_testing::api::serve_kinds(pool.clone(), Kinds::default())
        .await
        .expect("cannot serve the API")
        .base;
    let broker = hyperfleet_broker::connect(config, BrokerMetrics::default())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the broker: {err}"));
    // A fresh topic per run: a RabbitMQ queue outlives the process.
    let topic = format!("bench-clusters-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    broker.declare(&Subscription::new(&topic, "bench")).await.expect("cannot declare the bench queue");
    let settings = SentinelSettings {
        shard: Some(Expr::eq(Field::label("region"), "us-east")),
        ..SentinelSettings::new("test", "bench", ResourceType::Clusters, &topic)
    };
    let mut sentinel =
        Sentinel::new(settings, Client::new(&base).expect("cannot build the API client"), broker);
    let before = rss_mib();

    let started = Instant::now();
    let cold = sentinel.poll(Utc::now()).await.expect("the cold poll failed");
    let cold_time = started.elapsed();
    reconcile_all(&pool).await;
    let started = Instant::now();
    let repeat = sentinel.poll(Utc::now()).await.expect("the repeat poll failed");
    let repeat_time = started.elapsed();
    let mut steady = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let report = sentinel.poll(Utc::now()).await.expect("a steady poll failed");
        assert_eq!(report.fetched, 0);
        steady.push(started.elapsed());
    }
    steady.sort();
    println!(
        "{clusters:>7} clusters | cold cycle {cold_time:>9.2?} ({} published) | next cycle {repeat_time:>8.2?} ({} fetched) | \
         steady cycle median {:>8.2?} | RSS {:.0} MiB -> {:.0} MiB",
        cold.published,
        repeat.fetched,
        steady[2],
        before,
        rss_mib()
    );
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL must point at PostgreSQL (use hack/bench.sh)");
    println!("memory broker");
    for clusters in [10_000, 100_000] {
        run(&url, clusters, &BrokerConfig::Memory {}).await;
    }
    // Over RabbitMQ (publisher confirms) when hack/bench.sh started one.
    if let Ok(url_amqp) = std::env::var("AMQP_URL") {
        println!("RabbitMQ");
        run(&url, 10_000, &BrokerConfig::Rabbitmq { url: url_amqp, prefetch: None }).await;
    }
}
