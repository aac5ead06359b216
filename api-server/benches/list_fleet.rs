//! Benchmark: list latency over a large fleet. Loads N clusters (default 100 000, override with
//! `HYPERFLEET_BENCH_CLUSTERS`) into a fresh database next to `DATABASE_URL`, serves the real
//! router on loopback, and times typical list calls through the typed client.
//!
//! Run with `hack/bench.sh` (starts PostgreSQL) or `cargo bench -p hyperfleet-api --bench list_fleet`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use sqlx::PgPool;
use uuid::Uuid;

use hyperfleet_api_model::ListParams;

const REGIONS: [&str; 10] = [
    "us-east",
    "us-west",
    "eu-west",
    "eu-central",
    "ap-south",
    "ap-east",
    "sa-east",
    "ca-central",
    "me-south",
    "af-south",
];
const TIERS: [&str; 5] = ["gold", "silver", "bronze", "free", "test"];
const ROUNDS: usize = 200;

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server");
    let clusters: usize = std::env::var("HYPERFLEET_BENCH_CLUSTERS")
        .map_or(100_000, |n| n.parse().expect("HYPERFLEET_BENCH_CLUSTERS is a number of clusters"));
    let pool = hyperfleet_testing::api::fresh_database(&url, "hyperfleet_bench", 10)
        .await
        .unwrap_or_else(|err| panic!("cannot prepare the benchmark database: {err}"));
    let load = Instant::now();
    load_fleet(&pool, clusters).await;
    println!("loaded {clusters} clusters in {:.1?}", load.elapsed());

    let client = hyperfleet_testing::api::serve_kinds(pool.clone(), Default::default())
        .await
        .expect("cannot serve the API")
        .client;

    let cases = [
        ("first page, no filter", ListParams::default()),
        ("label filter, 10% of fleet", ListParams::search("labels.region='eu-west'")),
        ("two labels, 2% of fleet", ListParams::search("labels.region='eu-west' and labels.tier='gold'")),
        (
            "label filter, page 50",
            ListParams { page: Some(50), ..ListParams::search("labels.region='eu-west'") },
        ),
        (
            "label filter, size 1000",
            ListParams { size: Some(1000), ..ListParams::search("labels.region='us-east'") },
        ),
        ("rare label (1 match)", ListParams::search("labels.canary='true'")),
    ];
    println!("{:<32} {:>8} {:>9} {:>9} {:>9}", "query", "total", "p50", "p95", "p99");
    for (name, params) in cases {
        let mut samples = Vec::with_capacity(ROUNDS);
        let mut total = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            total = client.list_clusters(&params).await.expect("a benchmark list failed").total;
            samples.push(started.elapsed());
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
        println!("{name:<32} {total:>8} {:>9.2?} {:>9.2?} {:>9.2?}", at(0.5), at(0.95), at(0.99));
    }
}

async fn load_fleet(pool: &PgPool, clusters: usize) {
    for chunk_start in (0..clusters).step_by(10_000) {
        let chunk: Vec<usize> = (chunk_start..clusters.min(chunk_start + 10_000)).collect();
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let names: Vec<String> = chunk.iter().map(|i| format!("cluster-{i:06}")).collect();
        let labels: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                let mut labels = serde_json::json!({"region": REGIONS[i % 10], "tier": TIERS[(i / 10) % 5]});
                if *i == clusters / 2 {
                    labels["canary"] = "true".into();
                }
                labels
            })
            .collect();
        sqlx::query(
            "insert into resources (id, kind, name, spec, labels, created_time, updated_time, created_by, updated_by) \
             select id, 'Cluster', name, '{\"version\": \"4.17\"}', labels, now(), now(), 'bench', 'bench' \
             from unnest($1::uuid[], $2::text[], $3::jsonb[]) as t(id, name, labels)",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&labels)
        .execute(pool)
        .await
        .expect("cannot seed the clusters");
    }
    sqlx::query("analyze resources").execute(pool).await.expect("analyze failed");
}
